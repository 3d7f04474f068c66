//! `RustEngine`: the engine contract of docs/backends.md on the Rust language model
//! (src/lm/), plus the thread-count functions. Arguments arrive typed (Python normalizes the
//! config once; the core's `validate` is the last guard); arrays are checked here (dtype,
//! contiguity, shapes) and every numeric call runs through [`detached`].

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::call::{detached, guarded};
use super::classify::int_vector;
use super::convert::{
    array, non_negative_int, positive_int, shape_str, slice, state_from_py, state_into_py,
    value_err,
};
use super::engine::{clip, learning_rates, Trainable};
use crate::lm::sampler::Sampling;
use crate::lm::stepper::{self, GenerateOptions};
use crate::lm::{Model, ModelConfig, Softmax, State, Tokens};
use crate::nn::CellKind;
use crate::runtime::threads;
use crate::train::{train_steps, Schedule};

/// `(h,)` or `(h, c)` of float32 (num_layers, batch, hidden) arrays -> State.
fn parse_state(cfg: &ModelConfig, obj: &Bound<'_, PyAny>, batch: usize) -> PyResult<Option<State>> {
    let shape = [cfg.num_layers, batch, cfg.hidden_size];
    state_from_py(obj, "state", cfg.cell.has_cell_state(), shape)
}

fn state_to_py<'py>(py: Python<'py>, cfg: &ModelConfig, s: State) -> PyResult<Bound<'py, PyTuple>> {
    let shape = [cfg.num_layers, s.batch, cfg.hidden_size];
    state_into_py(py, s, shape)
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
    core: Trainable<Model>,
}

impl RustEngine {
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
        let s0 = parse_state(self.core.model.config(), state, b)?;
        let model = &mut self.core.model;
        let (out, s) = detached(py, |_| model.logits(Tokens::new(xs, b, t)?, s0.as_ref()))??;
        let arr = PyArray1::from_vec(py, out).reshape(shape)?.into_any();
        Ok((arr, state_to_py(py, self.core.model.config(), s)?))
    }
}

#[pymethods]
impl RustEngine {
    /// The model of a normalized `rnnrs.RNNLM` config (every key, keyword-only; `softmax`
    /// and `classes` only for the class softmax), with every weight zero: `set_parameters`
    /// follows.
    #[new]
    #[pyo3(signature = (
        *, vocab_size, cell, embed_size, hidden_size, num_layers, dropout, tie_weights, seed,
        softmax="full", classes=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        vocab_size: usize,
        cell: &str,
        embed_size: usize,
        hidden_size: usize,
        num_layers: usize,
        dropout: f32,
        tie_weights: bool,
        seed: u64,
        softmax: &str,
        classes: Option<Vec<u32>>,
    ) -> PyResult<Self> {
        let softmax = match (softmax, classes) {
            ("full", None) => Softmax::Full,
            ("class", Some(classes)) => Softmax::Class { classes },
            (other, _) => {
                return Err(value_err(format!(
                    "softmax: expected 'full' (without classes) or 'class' with classes, got \
                     {other:?}"
                )))
            }
        };
        let cfg = ModelConfig {
            vocab_size,
            cell: CellKind::parse(cell)?,
            embed_size,
            hidden_size,
            num_layers,
            dropout,
            tie_weights,
            seed,
            softmax,
        };
        let model = detached(py, |_| Model::new(cfg))??;
        Ok(RustEngine {
            core: Trainable::new(model),
        })
    }

    fn param_names(&self) -> Vec<String> {
        self.core.param_names()
    }

    fn get_parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.core.get_parameters(py)
    }

    fn set_parameters(&mut self, params: &Bound<'_, PyAny>) -> PyResult<()> {
        guarded(params.py(), || self.core.set_parameters(params))
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
        let s0 = parse_state(self.core.model.config(), state, b)?;
        let (xs, ys) = (slice(&xa, "x")?, slice(&ya, "y")?);
        let (yb, yt) = (ya.shape()[0], ya.shape()[1]);
        let model = &mut self.core.model;
        let (loss, s) = detached(py, |_| {
            model.loss_and_grads(
                Tokens::new(xs, b, t)?,
                Tokens::new(ys, yb, yt)?,
                s0.as_ref(),
                train,
            )
        })??;
        let grads = self.core.grads(py)?;
        Ok((loss, grads, state_to_py(py, self.core.model.config(), s)?))
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
        let s0 = parse_state(self.core.model.config(), state, b)?;
        let (xs, ys) = (slice(&xa, "x")?, slice(&ya, "y")?);
        let model = &mut self.core.model;
        let (loss, s) = detached(py, |_| {
            model.loss(
                Tokens::new(xs, b, t)?,
                Tokens::new(ys, yb, yt)?,
                s0.as_ref(),
            )
        })??;
        Ok((loss, state_to_py(py, self.core.model.config(), s)?))
    }

    /// The negative log-likelihood (float64, nats) of every target of `y` (b, t) given `x`
    /// (b, t) from `state`, without dropout, and the final state (GIL released). With
    /// `lengths` int64 (b,), targets past a row's length are padding: not scored, 0.
    #[pyo3(signature = (x, y, state, lengths=None))]
    fn token_nll<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
        lengths: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let xa = tokens2(x, "x")?;
        let ya = tokens2(y, "y")?;
        let (b, t) = (xa.shape()[0], xa.shape()[1]);
        let lens: Option<Vec<usize>> = match lengths {
            Some(l) => Some(
                int_vector(l, "lengths", b)?
                    .into_iter()
                    .map(|x| x as usize)
                    .collect(),
            ),
            None => None,
        };
        let s0 = parse_state(self.core.model.config(), state, b)?;
        let (xs, ys) = (slice(&xa, "x")?, slice(&ya, "y")?);
        let (yb, yt) = (ya.shape()[0], ya.shape()[1]);
        let model = &mut self.core.model;
        let (out, s) = detached(py, |_| {
            model.token_nll(
                Tokens::new(xs, b, t)?,
                Tokens::new(ys, yb, yt)?,
                s0.as_ref(),
                lens.as_deref(),
            )
        })??;
        let arr = PyArray1::from_vec(py, out).reshape([b, t])?.into_any();
        Ok((arr, state_to_py(py, self.core.model.config(), s)?))
    }

    fn logits<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let xa = tokens2(x, "x")?;
        let (b, t) = (xa.shape()[0], xa.shape()[1]);
        let v = self.core.model.config().vocab_size;
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
        let v = self.core.model.config().vocab_size;
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
        let model = &mut self.core.model;
        Ok(detached(py, |_| model.evaluate(ss, b, n, bptt))??)
    }

    /// Set the optimizer (its state reset): `name` "sgd" with `momentum`, `nesterov`, or
    /// "adam" / "adamw" with `betas`, `eps`; `weight_decay` for all (torch.optim's defaults).
    #[pyo3(signature = (
        *, name, momentum=None, nesterov=None, betas=None, eps=None, weight_decay=0.0,
        frozen=Vec::new()
    ))]
    #[allow(clippy::too_many_arguments)]
    fn configure_optimizer(
        &mut self,
        py: Python<'_>,
        name: &str,
        momentum: Option<f32>,
        nesterov: Option<bool>,
        betas: Option<(f32, f32)>,
        eps: Option<f32>,
        weight_decay: f32,
        frozen: Vec<String>,
    ) -> PyResult<()> {
        guarded(py, || {
            self.core.configure_optimizer(
                name,
                momentum,
                nesterov,
                betas,
                eps,
                weight_decay,
                frozen,
            )
        })
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
        self.core.parts()?;
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
        let lrs = learning_rates(lrs)?;
        let reset: Vec<bool> = reset
            .extract()
            .map_err(|_| PyTypeError::new_err("reset: expected a 1-D sequence of bools"))?;
        let s0 = parse_state(self.core.model.config(), state, b)?;
        let ss = slice(&sa, "stream")?;
        let schedule = Schedule {
            starts: &starts,
            lrs: &lrs,
            reset: &reset,
            bptt,
            clip: clip(clip_norm, clip_value),
        };
        let (model, opt) = self.core.parts()?;
        let result = detached(py, |signals| {
            let mut between = |_k: usize| signals.check();
            train_steps(model, opt, ss, b, n, schedule, s0, &mut between)
        })?;
        let report = result?;
        Ok((
            PyArray1::from_vec(py, report.losses),
            PyArray1::from_vec(py, report.grad_norms),
            state_to_py(py, self.core.model.config(), report.state)?,
        ))
    }

    fn optimizer_state<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.core.optimizer_state(py)
    }

    fn load_optimizer_state(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        guarded(state.py(), || self.core.load_optimizer_state(state))
    }

    fn rng_state<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.core.rng_state(py)
    }

    fn set_rng_state(&mut self, a: &Bound<'_, PyAny>) -> PyResult<()> {
        guarded(a.py(), || self.core.set_rng_state(a))
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
        max_new_tokens: &Bound<'py, PyAny>,
        temperature: f64,
        top_k: Option<&Bound<'py, PyAny>>,
        top_p: Option<f64>,
        greedy: bool,
        seed: u64,
        end_ids: Option<Vec<u32>>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let pa = array::<u32>(prompt_ids, "prompt_ids", "uint32 token ids", 1)?;
        let prompt = slice(&pa, "prompt_ids")?;
        let max_new_tokens = non_negative_int(max_new_tokens, "max_new_tokens")?;
        let top_k = top_k.map(|k| positive_int(k, "top_k")).transpose()?;
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
        let model = &self.core.model;
        let ids = detached(py, |signals| {
            stepper::generate(model, prompt, &opts, &mut || signals.check())
        })??;
        Ok(PyArray1::from_vec(py, ids))
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
