//! `RustEngine`: the engine contract of docs/backends.md on the Rust neural core, plus the
//! thread-count functions. Arguments are checked here (dtype, contiguity, shapes) and every
//! numeric call runs with the GIL released.

use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::error::CoreError;
use crate::lm::sampler::Sampling;
use crate::lm::stepper::{self, GenerateOptions};
use crate::lm::{Model, ModelConfig, State, Tokens};
use crate::nn::CellKind;
use crate::nn::Layout;
use crate::runtime::threads;
use crate::train::{train_steps, Clip, Optimizer, OptimizerSpec, Schedule};

pub(super) fn value_err(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}

pub(super) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_string(), |n| n.to_string())
}

/// A C-contiguous numpy array of element type T, else TypeError / ValueError naming `name`.
pub(super) fn array<'py, T: numpy::Element>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    what: &str,
    ndim: usize,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let py = obj.py();
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: expected a numpy array of {what}, got {}",
            type_name(obj)
        ))
    })?;
    if !arr.dtype().is_equiv_to(&numpy::dtype::<T>(py)) {
        return Err(PyTypeError::new_err(format!(
            "{name}: expected a numpy array of {what}, got dtype {}",
            arr.dtype()
        )));
    }
    if arr.ndim() != ndim {
        return Err(value_err(format!(
            "{name}: expected a {ndim}-D array, got shape {}",
            shape_str(arr.shape())
        )));
    }
    if !arr.is_c_contiguous() {
        return Err(value_err(format!(
            "{name}: expected a C-contiguous array (use numpy.ascontiguousarray)"
        )));
    }
    let typed = arr.cast::<PyArrayDyn<T>>()?;
    typed
        .try_readonly()
        .map_err(|e| value_err(format!("{name}: {e}")))
}

pub(super) fn slice<'a, T: numpy::Element>(
    a: &'a PyReadonlyArrayDyn<'_, T>,
    name: &str,
) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|e| value_err(format!("{name}: {e}")))
}

/// A shape as Python prints it: (3, 4) or (5,).
pub(super) fn shape_str(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn dict_get<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(d.get_item(key)?.filter(|v| !v.is_none()))
}

pub(super) fn positive_int(v: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{name}: expected a positive int, got bool"
        )));
    }
    let n: i64 = v.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: expected a positive int, got {}",
            type_name(v)
        ))
    })?;
    if n <= 0 {
        return Err(value_err(format!(
            "{name}: expected a positive int, got {n}"
        )));
    }
    Ok(n as usize)
}

const CONFIG_KEYS: [&str; 8] = [
    "vocab_size",
    "cell",
    "hidden_size",
    "num_layers",
    "embed_size",
    "dropout",
    "tie_weights",
    "seed",
];

/// The RNNLM config dict (docs/backends.md), with the defaults of `rnnrs.RNNLM`.
fn parse_config(d: &Bound<'_, PyDict>) -> PyResult<ModelConfig> {
    for key in d.keys() {
        let k: String = key.extract()?;
        if !CONFIG_KEYS.contains(&k.as_str()) {
            return Err(value_err(format!(
                "config: unknown key {k:?}; expected {CONFIG_KEYS:?}"
            )));
        }
    }
    let vocab = dict_get(d, "vocab_size")?
        .ok_or_else(|| value_err("config: 'vocab_size' is required".into()))?;
    let vocab = positive_int(&vocab, "vocab_size")?;
    let cell = match dict_get(d, "cell")? {
        None => CellKind::Lstm,
        Some(c) => {
            let name: String = c
                .extract()
                .map_err(|_| PyTypeError::new_err("cell: expected a string"))?;
            let name = name.to_lowercase();
            let canonical = match name.as_str() {
                "rnn" | "tanh" => "rnn_tanh",
                "relu" => "rnn_relu",
                other => other,
            };
            CellKind::parse(canonical)?
        }
    };
    let hidden = match dict_get(d, "hidden_size")? {
        None => 256,
        Some(v) => positive_int(&v, "hidden_size")?,
    };
    let embed = match dict_get(d, "embed_size")? {
        None => hidden,
        Some(v) => positive_int(&v, "embed_size")?,
    };
    let layers = match dict_get(d, "num_layers")? {
        None => 1,
        Some(v) => positive_int(&v, "num_layers")?,
    };
    let mut cfg = ModelConfig::new(vocab, cell, embed, hidden, layers);
    if let Some(v) = dict_get(d, "dropout")? {
        cfg.dropout = v
            .extract::<f64>()
            .map_err(|_| PyTypeError::new_err("dropout: expected a float in [0, 1)"))?
            as f32;
    }
    if let Some(v) = dict_get(d, "tie_weights")? {
        cfg.tie_weights = v
            .extract::<bool>()
            .map_err(|_| PyTypeError::new_err("tie_weights: expected a bool"))?;
    }
    if let Some(v) = dict_get(d, "seed")? {
        cfg.seed = v
            .extract::<u64>()
            .map_err(|_| value_err(format!("seed: expected a non-negative int, got {v}")))?;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn parse_optimizer(d: &Bound<'_, PyDict>) -> PyResult<OptimizerSpec> {
    let name: String = dict_get(d, "name")?
        .ok_or_else(|| PyTypeError::new_err("spec: expected a dict with a 'name' key"))?
        .extract()
        .map_err(|_| PyTypeError::new_err("spec['name']: expected a string"))?;
    let float = |key: &str, default: f32| -> PyResult<f32> {
        match dict_get(d, key)? {
            None => Ok(default),
            Some(v) => Ok(v
                .extract::<f64>()
                .map_err(|_| PyTypeError::new_err(format!("spec[{key:?}]: expected a float")))?
                as f32),
        }
    };
    let weight_decay = float("weight_decay", 0.0)?;
    match name.as_str() {
        "sgd" => {
            let nesterov = match dict_get(d, "nesterov")? {
                None => false,
                Some(v) => v
                    .extract::<bool>()
                    .map_err(|_| PyTypeError::new_err("spec['nesterov']: expected a bool"))?,
            };
            Ok(OptimizerSpec::Sgd {
                momentum: float("momentum", 0.0)?,
                nesterov,
                weight_decay,
            })
        }
        "adam" | "adamw" => {
            let betas = match dict_get(d, "betas")? {
                None => (0.9, 0.999),
                Some(v) => {
                    let (a, b): (f64, f64) = v.extract().map_err(|_| {
                        PyTypeError::new_err("spec['betas']: expected two floats (beta1, beta2)")
                    })?;
                    (a as f32, b as f32)
                }
            };
            let eps = float("eps", 1e-8)?;
            Ok(if name == "adam" {
                OptimizerSpec::Adam {
                    betas,
                    eps,
                    weight_decay,
                }
            } else {
                OptimizerSpec::AdamW {
                    betas,
                    eps,
                    weight_decay,
                }
            })
        }
        other => Err(value_err(format!(
            "spec['name']: expected 'sgd', 'adam' or 'adamw', got {other:?}"
        ))),
    }
}

/// `(h,)` or `(h, c)` of float32 (num_layers, batch, hidden) arrays -> State.
fn parse_state(cfg: &ModelConfig, obj: &Bound<'_, PyAny>, batch: usize) -> PyResult<Option<State>> {
    let shape = [cfg.num_layers, batch, cfg.hidden_size];
    state_from_py(obj, "state", cfg.cell.has_cell_state(), shape)
}

/// None, or `(h,)` / `(h, c)` (`has_c`) of C-contiguous float32 arrays of `shape`
/// (layers, batch, hidden) -> State; errors name `name`.
pub(super) fn state_from_py(
    obj: &Bound<'_, PyAny>,
    name: &str,
    has_c: bool,
    shape: [usize; 3],
) -> PyResult<Option<State>> {
    if obj.is_none() {
        return Ok(None);
    }
    let n = if has_c { 2 } else { 1 };
    let what = format!(
        "None or a tuple of {n} float32 arrays of shape {}",
        shape_str(&shape)
    );
    let tuple = obj.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err(format!("{name}: expected {what}, got {}", type_name(obj)))
    })?;
    if tuple.len() != n {
        return Err(value_err(format!(
            "{name}: expected {what}, got {} arrays",
            tuple.len()
        )));
    }
    let mut parts = Vec::with_capacity(n);
    for (k, item) in tuple.iter().enumerate() {
        let name = format!("{name}[{k}]");
        let a = array::<f32>(&item, &name, "float32", 3)?;
        if a.shape() != shape {
            return Err(value_err(format!(
                "{name}: expected shape {}, got {}",
                shape_str(&shape),
                shape_str(a.shape())
            )));
        }
        parts.push(slice(&a, &name)?.to_vec());
    }
    let c = if n == 2 { parts.pop() } else { None };
    let h = parts.pop().unwrap_or_default();
    Ok(Some(State {
        batch: shape[1],
        h,
        c,
    }))
}

fn state_to_py<'py>(py: Python<'py>, cfg: &ModelConfig, s: State) -> PyResult<Bound<'py, PyTuple>> {
    let shape = [cfg.num_layers, s.batch, cfg.hidden_size];
    state_into_py(py, s, shape)
}

/// State -> `(h,)` or `(h, c)` of new float32 arrays of `shape`.
pub(super) fn state_into_py(
    py: Python<'_>,
    s: State,
    shape: [usize; 3],
) -> PyResult<Bound<'_, PyTuple>> {
    let h = PyArray1::from_vec(py, s.h).reshape(shape)?;
    match s.c {
        Some(c) => PyTuple::new(py, [h, PyArray1::from_vec(py, c).reshape(shape)?]),
        None => PyTuple::new(py, [h]),
    }
}

/// The tensors of a flat buffer as a dict of new float32 arrays, by name, in layout order.
pub(super) fn tensors_to_py<'py>(
    py: Python<'py>,
    layout: &Layout,
    flat: &[f32],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for e in layout.entries() {
        let a = PyArray1::from_slice(py, &flat[e.range()]).reshape(e.shape.clone())?;
        d.set_item(&e.name, a)?;
    }
    Ok(d)
}

/// A dict holding every tensor of `layout` (no other name), each a numeric array of its
/// shape -> the values as float32, in layout order.
pub(super) fn tensors_from_py(
    params: &Bound<'_, PyAny>,
    layout: &Layout,
) -> PyResult<Vec<Vec<f32>>> {
    let py = params.py();
    let d = params.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "params: expected a dict of arrays, got {}",
            type_name(params)
        ))
    })?;
    let entries = layout.entries();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !d.contains(*n).unwrap_or(false))
        .collect();
    let mut extra = Vec::new();
    for k in d.keys() {
        let k: String = k.extract()?;
        if !names.contains(&k.as_str()) {
            extra.push(k);
        }
    }
    if !missing.is_empty() || !extra.is_empty() {
        return Err(value_err(format!(
            "params: missing tensors {missing:?}, unexpected tensors {extra:?}"
        )));
    }
    let np = py.import("numpy")?;
    let mut values = Vec::with_capacity(entries.len());
    for e in entries {
        let v = dict_get(d, &e.name)?
            .ok_or_else(|| value_err(format!("params[{:?}]: is None", e.name)))?;
        let a = np.call_method1("asarray", (v,))?;
        let a = a.cast::<PyUntypedArray>().map_err(|_| {
            PyTypeError::new_err(format!("params[{:?}]: expected an array", e.name))
        })?;
        if a.shape() != e.shape.as_slice() {
            return Err(value_err(format!(
                "params[{:?}]: expected shape {}, got {}",
                e.name,
                shape_str(&e.shape),
                shape_str(a.shape())
            )));
        }
        let kind = a.dtype().kind();
        if kind != b'f' && kind != b'i' && kind != b'u' {
            return Err(PyTypeError::new_err(format!(
                "params[{:?}]: expected a float array, got dtype {}",
                e.name,
                a.dtype()
            )));
        }
        let f = np.call_method1("ascontiguousarray", (a, "float32"))?;
        let ro = array::<f32>(&f, &e.name, "float32", e.shape.len())?;
        values.push(slice(&ro, &e.name)?.to_vec());
    }
    Ok(values)
}

/// Token ids (B, T) as a Tokens view (dtype, contiguity and shape checked here; ids by core).
fn tokens2<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadonlyArrayDyn<'py, u32>> {
    let a = array::<u32>(obj, name, "uint32 token ids", 2)?;
    if a.shape().contains(&0) {
        return Err(value_err(format!(
            "{name}: expected at least one token, got shape {}",
            shape_str(a.shape())
        )));
    }
    Ok(a)
}

/// What `train_steps` returns: losses, gradient norms, final state.
type StepsOut<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyTuple>,
);

/// The Rust backend's engine (see docs/backends.md): an RNN/LSTM/GRU language model with
/// its parameters, gradients, optimizer and dropout generator.
#[pyclass(module = "rnnrs._core")]
pub struct RustEngine {
    model: Model,
    opt: Option<Optimizer>,
}

impl RustEngine {
    fn grads_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let params = self.model.params();
        tensors_to_py(py, params.layout(), params.grads())
    }

    fn optimizer(&mut self) -> PyResult<&mut Optimizer> {
        self.opt
            .as_mut()
            .ok_or_else(|| value_err("optimizer: call configure_optimizer(spec) first".into()))
    }

    /// The logits of the (b, t) ids `xs` from `state` (GIL released), as an array of `shape`
    /// (b * t * vocab elements), and the final state.
    fn logits_from<'py>(
        &mut self,
        py: Python<'py>,
        xs: &[u32],
        b: usize,
        t: usize,
        state: &Bound<'py, PyAny>,
        shape: &[usize],
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let s0 = parse_state(self.model.config(), state, b)?;
        let model = &mut self.model;
        let (out, s) = py.detach(|| model.logits(Tokens::new(xs, b, t)?, s0.as_ref()))?;
        let arr = PyArray1::from_vec(py, out).reshape(shape)?.into_any();
        Ok((arr, state_to_py(py, self.model.config(), s)?))
    }
}

#[pymethods]
impl RustEngine {
    #[new]
    fn new(config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let d = config.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "config: expected a dict, got {}",
                type_name(config)
            ))
        })?;
        let cfg = parse_config(d)?;
        Ok(RustEngine {
            model: Model::new(cfg)?,
            opt: None,
        })
    }

    /// The validated config as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.model.config();
        let d = PyDict::new(py);
        d.set_item("vocab_size", c.vocab_size)?;
        d.set_item("cell", c.cell.name())?;
        d.set_item("hidden_size", c.hidden_size)?;
        d.set_item("num_layers", c.num_layers)?;
        d.set_item("embed_size", c.embed_size)?;
        d.set_item("dropout", c.dropout as f64)?;
        d.set_item("tie_weights", c.tie_weights)?;
        d.set_item("seed", c.seed)?;
        Ok(d)
    }

    fn param_names(&self) -> Vec<String> {
        self.model
            .params()
            .layout()
            .entries()
            .iter()
            .map(|e| e.name.clone())
            .collect()
    }

    fn get_parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let params = self.model.params();
        tensors_to_py(py, params.layout(), params.values())
    }

    fn set_parameters(&mut self, params: &Bound<'_, PyAny>) -> PyResult<()> {
        let values = tensors_from_py(params, self.model.params().layout())?;
        let entries = self.model.params().layout().entries().to_vec();
        for (e, v) in entries.iter().zip(values) {
            self.model.params_mut().set(&e.name, &v)?;
        }
        Ok(())
    }

    fn loss_and_grads<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
        train: bool,
    ) -> PyResult<(f64, Bound<'py, PyDict>, Bound<'py, PyTuple>)> {
        let xa = tokens2(x, "x")?;
        let ya = tokens2(y, "y")?;
        let (b, t) = (xa.shape()[0], xa.shape()[1]);
        let s0 = parse_state(self.model.config(), state, b)?;
        let (xs, ys) = (slice(&xa, "x")?, slice(&ya, "y")?);
        let (yb, yt) = (ya.shape()[0], ya.shape()[1]);
        let model = &mut self.model;
        let (loss, s) = py.detach(|| {
            model.loss_and_grads(
                Tokens::new(xs, b, t)?,
                Tokens::new(ys, yb, yt)?,
                s0.as_ref(),
                train,
            )
        })?;
        let grads = self.grads_dict(py)?;
        Ok((loss, grads, state_to_py(py, self.model.config(), s)?))
    }

    fn loss<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<(f64, Bound<'py, PyTuple>)> {
        let xa = tokens2(x, "x")?;
        let ya = tokens2(y, "y")?;
        let (b, t) = (xa.shape()[0], xa.shape()[1]);
        let (yb, yt) = (ya.shape()[0], ya.shape()[1]);
        let s0 = parse_state(self.model.config(), state, b)?;
        let (xs, ys) = (slice(&xa, "x")?, slice(&ya, "y")?);
        let model = &mut self.model;
        let (loss, s) = py.detach(|| {
            model.loss(
                Tokens::new(xs, b, t)?,
                Tokens::new(ys, yb, yt)?,
                s0.as_ref(),
            )
        })?;
        Ok((loss, state_to_py(py, self.model.config(), s)?))
    }

    fn logits<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let xa = tokens2(x, "x")?;
        let (b, t) = (xa.shape()[0], xa.shape()[1]);
        let v = self.model.config().vocab_size;
        self.logits_from(py, slice(&xa, "x")?, b, t, state, &[b, t, v])
    }

    fn step_logits<'py>(
        &mut self,
        py: Python<'py>,
        tokens: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let ta = array::<u32>(tokens, "tokens", "uint32 token ids", 1)?;
        let b = ta.shape()[0];
        if b == 0 {
            return Err(value_err("tokens: expected at least one token".into()));
        }
        let v = self.model.config().vocab_size;
        self.logits_from(py, slice(&ta, "tokens")?, b, 1, state, &[b, v])
    }

    fn evaluate(
        &mut self,
        py: Python<'_>,
        stream: &Bound<'_, PyAny>,
        bptt: &Bound<'_, PyAny>,
    ) -> PyResult<(f64, usize)> {
        let sa = tokens2(stream, "stream")?;
        let (b, n) = (sa.shape()[0], sa.shape()[1]);
        if n < 2 {
            return Err(value_err(format!(
                "stream: expected at least 2 tokens per row, got shape ({b}, {n})"
            )));
        }
        let bptt = positive_int(bptt, "bptt")?;
        let ss = slice(&sa, "stream")?;
        let model = &mut self.model;
        Ok(py.detach(|| model.evaluate(ss, b, n, bptt))?)
    }

    fn configure_optimizer(&mut self, spec: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = spec
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("spec: expected a dict with a 'name' key"))?;
        let spec = parse_optimizer(d)?;
        self.opt = Some(Optimizer::new(spec, self.model.params().len())?);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn train_steps<'py>(
        &mut self,
        py: Python<'py>,
        stream: &Bound<'py, PyAny>,
        starts: &Bound<'py, PyAny>,
        bptt: &Bound<'py, PyAny>,
        lrs: &Bound<'py, PyAny>,
        reset: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
        clip_norm: Option<f64>,
        clip_value: Option<f64>,
    ) -> PyResult<StepsOut<'py>> {
        self.optimizer()?;
        let sa = tokens2(stream, "stream")?;
        let (b, n) = (sa.shape()[0], sa.shape()[1]);
        if n < 2 {
            return Err(value_err(format!(
                "stream: expected at least 2 tokens per row, got shape ({b}, {n})"
            )));
        }
        let bptt = positive_int(bptt, "bptt")?;
        let starts: Vec<i64> = starts
            .extract()
            .map_err(|_| PyTypeError::new_err("starts: expected a 1-D sequence of integers"))?;
        let starts: Vec<usize> = starts
            .into_iter()
            .map(|s| {
                usize::try_from(s)
                    .map_err(|_| value_err(format!("starts: expected values >= 0, got {s}")))
            })
            .collect::<PyResult<_>>()?;
        let lrs: Vec<f64> = lrs
            .extract()
            .map_err(|_| PyTypeError::new_err("lrs: expected a 1-D sequence of floats"))?;
        let lrs: Vec<f32> = lrs.into_iter().map(|v| v as f32).collect();
        let reset: Vec<bool> = reset
            .extract()
            .map_err(|_| PyTypeError::new_err("reset: expected a 1-D sequence of bools"))?;
        let s0 = parse_state(self.model.config(), state, b)?;
        let ss = slice(&sa, "stream")?;
        let schedule = Schedule {
            starts: &starts,
            lrs: &lrs,
            reset: &reset,
            bptt,
            clip: Clip {
                norm: clip_norm,
                value: clip_value.map(|v| v as f32),
            },
        };
        let RustEngine { model, opt } = self;
        let opt = opt
            .as_mut()
            .ok_or_else(|| value_err("optimizer: call configure_optimizer(spec) first".into()))?;
        let mut signal: Option<PyErr> = None;
        let result = py.detach(|| {
            let mut between = |_k: usize| -> crate::Result<()> {
                match Python::attach(|py| py.check_signals()) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        signal = Some(e);
                        Err(CoreError::Interrupted)
                    }
                }
            };
            train_steps(model, opt, ss, b, n, schedule, s0, &mut between)
        });
        if let Some(e) = signal {
            return Err(e);
        }
        let report = result.map_err(|e| match e {
            CoreError::NonFinite { step, .. } => diverged(py, e.to_string(), step),
            other => other.into(),
        })?;
        Ok((
            PyArray1::from_vec(py, report.losses),
            PyArray1::from_vec(py, report.grad_norms),
            state_to_py(py, self.model.config(), report.state)?,
        ))
    }

    fn optimizer_state<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let entries = self.model.params().layout().entries().to_vec();
        let opt = self.optimizer()?;
        let d = PyDict::new(py);
        let np = py.import("numpy")?;
        d.set_item(
            "step",
            np.call_method1("asarray", (opt.step_count(), "int64"))?,
        )?;
        for (buf, data) in opt.buffers() {
            for e in &entries {
                let a = PyArray1::from_slice(py, &data[e.range()]).reshape(e.shape.clone())?;
                d.set_item(format!("{buf}.{}", e.name), a)?;
            }
        }
        Ok(d)
    }

    fn load_optimizer_state(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = state.py();
        let d = state
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("state: expected a dict of arrays"))?;
        let entries = self.model.params().layout().entries().to_vec();
        let total = self.model.params().len();
        let opt = self.optimizer()?;
        let bufs: Vec<&'static str> = opt.buffers().iter().map(|(k, _)| *k).collect();
        let mut expected = vec!["step".to_string()];
        for buf in &bufs {
            for e in &entries {
                expected.push(format!("{buf}.{}", e.name));
            }
        }
        let mut extra = Vec::new();
        for k in d.keys() {
            let k: String = k.extract()?;
            if !expected.contains(&k) {
                extra.push(k);
            }
        }
        let missing: Vec<&String> = expected
            .iter()
            .filter(|k| !d.contains(k.as_str()).unwrap_or(false))
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            return Err(value_err(format!(
                "state: missing tensors {missing:?}, unexpected tensors {extra:?}"
            )));
        }
        let np = py.import("numpy")?;
        let step_obj =
            dict_get(d, "step")?.ok_or_else(|| value_err("state['step']: is None".into()))?;
        let step_arr = np.call_method1("asarray", (step_obj,))?;
        let kind = step_arr
            .getattr("dtype")?
            .getattr("kind")?
            .extract::<String>()?;
        let step: i64 = if kind == "i" || kind == "u" {
            step_arr.call_method0("item")?.extract()?
        } else {
            -1
        };
        if step < 0 {
            return Err(value_err(format!(
                "state['step']: expected a non-negative integer, got {step_arr}"
            )));
        }
        let mut flat: Vec<(&'static str, Vec<f32>)> = Vec::new();
        for buf in &bufs {
            let mut v = vec![0.0f32; total];
            for e in &entries {
                let key = format!("{buf}.{}", e.name);
                let obj = dict_get(d, &key)?
                    .ok_or_else(|| value_err(format!("state[{key:?}]: is None")))?;
                let f = np.call_method1("ascontiguousarray", (obj, "float32"))?;
                let a = array::<f32>(&f, &key, "float32", e.shape.len())?;
                if a.shape() != e.shape.as_slice() {
                    return Err(value_err(format!(
                        "state[{key:?}]: expected shape {}, got {}",
                        shape_str(&e.shape),
                        shape_str(a.shape())
                    )));
                }
                v[e.range()].copy_from_slice(slice(&a, &key)?);
            }
            flat.push((buf, v));
        }
        let views: Vec<(&str, &[f32])> = flat.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        opt.load(step as u64, &views)?;
        Ok(())
    }

    fn rng_state<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        PyArray1::from_slice(py, &self.model.rng_state())
    }

    fn set_rng_state(&mut self, a: &Bound<'_, PyAny>) -> PyResult<()> {
        let arr = array::<u64>(a, "a", "uint64", 1)?;
        let words = slice(&arr, "a")?;
        let s: [u64; 4] = words.try_into().map_err(|_| {
            value_err(format!(
                "a: expected a uint64 array of shape (4,), got ({},)",
                words.len()
            ))
        })?;
        Ok(self.model.set_rng_state(s)?)
    }

    /// Sample up to `max_new_tokens` ids after `prompt_ids` (the whole loop in Rust, GIL
    /// released, Ctrl-C checked every ~50 ms); the new ids, without a final end id.
    #[pyo3(signature = (
        prompt_ids, max_new_tokens, /, *, temperature=1.0, top_k=None, top_p=None,
        greedy=false, seed=0, end_ids=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn generate<'py>(
        &self,
        py: Python<'py>,
        prompt_ids: &Bound<'py, PyAny>,
        max_new_tokens: i64,
        temperature: f64,
        top_k: Option<i64>,
        top_p: Option<f64>,
        greedy: bool,
        seed: u64,
        end_ids: Option<Vec<u32>>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let pa = array::<u32>(prompt_ids, "prompt_ids", "uint32 token ids", 1)?;
        let prompt = slice(&pa, "prompt_ids")?;
        let max_new_tokens = usize::try_from(max_new_tokens).map_err(|_| {
            value_err(format!(
                "max_new_tokens: must be a non-negative integer, got {max_new_tokens}"
            ))
        })?;
        let top_k = top_k
            .map(|k| {
                usize::try_from(k).map_err(|_| {
                    value_err(format!(
                        "top_k: must be a positive integer or None, got {k}"
                    ))
                })
            })
            .transpose()?;
        let opts = GenerateOptions {
            max_new_tokens,
            sampling: Sampling {
                temperature,
                top_k,
                top_p,
                greedy,
            },
            seed,
            end_ids: end_ids.unwrap_or_default(),
        };
        let model = &self.model;
        let mut signal: Option<PyErr> = None;
        let result = py.detach(|| {
            let mut check = || -> crate::Result<()> {
                Python::attach(|py| py.check_signals()).map_err(|e| {
                    signal = Some(e);
                    CoreError::Interrupted
                })
            };
            stepper::generate(model, prompt, &opts, &mut check)
        });
        if let Some(e) = signal {
            return Err(e);
        }
        Ok(PyArray1::from_vec(py, result?))
    }
}

/// `rnnrs.errors.TrainingDivergedError(message, step=step)`.
fn diverged(py: Python<'_>, message: String, step: u64) -> PyErr {
    let made = py
        .import("rnnrs.errors")
        .and_then(|m| m.getattr("TrainingDivergedError"))
        .and_then(|cls| {
            let kwargs = PyDict::new(py);
            kwargs.set_item("step", step)?;
            cls.call((message.clone(),), Some(&kwargs))
                .or_else(|_| cls.call1((message.clone(),)))
        });
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(_) => CoreError::NonFinite { step, message }.into(),
    }
}

/// Set the number of threads of the Rust core (n >= 1).
#[pyfunction]
fn set_num_threads(n: &Bound<'_, PyAny>) -> PyResult<()> {
    let n = positive_int(n, "n")?;
    Ok(threads::set_num_threads(n)?)
}

/// The number of threads the Rust core uses.
#[pyfunction]
fn get_num_threads() -> PyResult<usize> {
    Ok(threads::get_num_threads()?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RustEngine>()?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    Ok(())
}
