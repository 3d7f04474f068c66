//! Engine plumbing shared by every model engine (`RustEngine`, `ClassifierEngine`): the model
//! and its optimizer ([`Trainable`]), the parameter dict, optimizer config and state, the
//! dropout generator's state, and the `train_steps` arguments every engine takes alike.

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::convert::{
    array, dict_with_keys, flat_from_dict, item, set_params_from_py, slice, tensors_to_py,
    value_err,
};
use crate::classify::Classifier;
use crate::error::Result;
use crate::lm::Model;
use crate::nn::{Layout, Params};
use crate::seq2seq::Seq2Seq;
use crate::tag::Tagger;
use crate::train::{Clip, Optimizer, OptimizerSpec};

/// What an engine needs of its model: the parameter buffer and the dropout generator.
pub(super) trait EngineModel {
    fn params(&self) -> &Params;
    fn params_mut(&mut self) -> &mut Params;
    fn rng_state(&self) -> [u64; 4];
    fn set_rng_state(&mut self, s: [u64; 4]) -> Result<()>;
}

/// Both models own these under the same names: the trait forwards to them.
macro_rules! engine_model {
    ($($model:ty),*) => {$(
        impl EngineModel for $model {
            fn params(&self) -> &Params {
                <$model>::params(self)
            }
            fn params_mut(&mut self) -> &mut Params {
                <$model>::params_mut(self)
            }
            fn rng_state(&self) -> [u64; 4] {
                <$model>::rng_state(self)
            }
            fn set_rng_state(&mut self, s: [u64; 4]) -> Result<()> {
                <$model>::set_rng_state(self, s)
            }
        }
    )*};
}

engine_model!(Model, Classifier, Seq2Seq, Tagger);

/// A model with its optimizer (None until `configure_optimizer`): what every engine holds.
pub(super) struct Trainable<M> {
    pub(super) model: M,
    opt: Option<Optimizer>,
}

impl<M: EngineModel> Trainable<M> {
    pub(super) fn new(model: M) -> Self {
        Trainable { model, opt: None }
    }

    /// The model and its optimizer, borrowed apart (a ValueError before
    /// `configure_optimizer`).
    pub(super) fn parts(&mut self) -> PyResult<(&mut M, &mut Optimizer)> {
        let Trainable { model, opt } = self;
        let opt = opt
            .as_mut()
            .ok_or_else(|| value_err("optimizer: call configure_optimizer(...) first".into()))?;
        Ok((model, opt))
    }

    pub(super) fn param_names(&self) -> Vec<String> {
        self.model
            .params()
            .layout()
            .entries()
            .iter()
            .map(|e| e.name.clone())
            .collect()
    }

    pub(super) fn get_parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let params = self.model.params();
        tensors_to_py(py, params.layout(), params.values())
    }

    /// The gradients of the last backward, as a dict like `get_parameters`.
    pub(super) fn grads<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let params = self.model.params();
        tensors_to_py(py, params.layout(), params.grads())
    }

    pub(super) fn set_parameters(&mut self, params: &Bound<'_, PyAny>) -> PyResult<()> {
        set_params_from_py(params, self.model.params_mut())
    }

    /// Set the optimizer (its state reset); see [`optimizer_spec`]. The tensors named in
    /// `frozen` are not trained (their gradients ignored, their values kept).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn configure_optimizer(
        &mut self,
        name: &str,
        momentum: Option<f32>,
        nesterov: Option<bool>,
        betas: Option<(f32, f32)>,
        eps: Option<f32>,
        weight_decay: f32,
        frozen: Vec<String>,
    ) -> PyResult<()> {
        let spec = optimizer_spec(name, momentum, nesterov, betas, eps, weight_decay)?;
        let layout = self.model.params().layout();
        let ranges = frozen
            .iter()
            .map(|n| {
                layout
                    .get(n)
                    .map(|e| e.range())
                    .ok_or_else(|| value_err(format!("frozen: no parameter named {n:?}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let mut opt = Optimizer::new(spec, self.model.params().len())?;
        opt.freeze(ranges, self.model.params().len())?;
        self.opt = Some(opt);
        Ok(())
    }

    pub(super) fn optimizer_state<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (model, opt) = self.parts()?;
        optimizer_state_to_py(py, model.params().layout(), opt)
    }

    pub(super) fn load_optimizer_state(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        let (model, opt) = self.parts()?;
        load_optimizer_state_from_py(state, model.params().layout(), opt)
    }

    pub(super) fn rng_state<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        PyArray1::from_slice(py, &self.model.rng_state())
    }

    pub(super) fn set_rng_state(&mut self, a: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.model.set_rng_state(rng_words(a)?)?)
    }
}

/// `train_steps`' learning rates: a 1-D sequence of floats, as f32.
pub(super) fn learning_rates(lrs: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    let lrs: Vec<f64> = lrs
        .extract()
        .map_err(|_| PyTypeError::new_err("lrs: expected a 1-D sequence of floats"))?;
    Ok(lrs.into_iter().map(|v| v as f32).collect())
}

/// `train_steps`' clipping: by global norm and / or by value.
pub(super) fn clip(clip_norm: Option<f64>, clip_value: Option<f64>) -> Clip {
    Clip {
        norm: clip_norm,
        value: clip_value.map(|v| v as f32),
    }
}

/// The optimizer named `name` with its hyper-parameters; one named for another optimizer is
/// a ValueError (Python's `optimizer.spec()` passes only its own).
fn optimizer_spec(
    name: &str,
    momentum: Option<f32>,
    nesterov: Option<bool>,
    betas: Option<(f32, f32)>,
    eps: Option<f32>,
    weight_decay: f32,
) -> PyResult<OptimizerSpec> {
    let foreign = |arg: &str| value_err(format!("{arg}: not a hyper-parameter of {name:?}"));
    match name {
        "sgd" => {
            if betas.is_some() {
                return Err(foreign("betas"));
            }
            if eps.is_some() {
                return Err(foreign("eps"));
            }
            Ok(OptimizerSpec::Sgd {
                momentum: momentum.unwrap_or(0.0),
                nesterov: nesterov.unwrap_or(false),
                weight_decay,
            })
        }
        "adam" | "adamw" => {
            if momentum.is_some() {
                return Err(foreign("momentum"));
            }
            if nesterov.is_some() {
                return Err(foreign("nesterov"));
            }
            let (betas, eps) = (betas.unwrap_or((0.9, 0.999)), eps.unwrap_or(1e-8));
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
            "name: expected 'sgd', 'adam' or 'adamw', got {other:?}"
        ))),
    }
}

/// An optimizer's state as a dict: `step` (int64) and `{buffer}.{tensor}` arrays for every
/// tensor of `layout` (what `optimizer_state` of every engine returns).
fn optimizer_state_to_py<'py>(
    py: Python<'py>,
    layout: &Layout,
    opt: &Optimizer,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let np = py.import("numpy")?;
    d.set_item(
        "step",
        np.call_method1("asarray", (opt.step_count(), "int64"))?,
    )?;
    for (buf, data) in opt.buffers() {
        for e in layout.entries() {
            let a = PyArray1::from_slice(py, &data[e.range()]).reshape(e.shape.clone())?;
            d.set_item(format!("{buf}.{}", e.name), a)?;
        }
    }
    Ok(d)
}

/// Load a dict of [`optimizer_state_to_py`]'s form into `opt` (every key checked).
fn load_optimizer_state_from_py(
    state: &Bound<'_, PyAny>,
    layout: &Layout,
    opt: &mut Optimizer,
) -> PyResult<()> {
    let py = state.py();
    let bufs: Vec<&'static str> = opt.buffers().iter().map(|(k, _)| *k).collect();
    let mut expected = vec!["step".to_string()];
    for buf in &bufs {
        for e in layout.entries() {
            expected.push(format!("{buf}.{}", e.name));
        }
    }
    let d = dict_with_keys(state, "state", &expected)?;
    let step_arr = py
        .import("numpy")?
        .call_method1("asarray", (item(&d, "state", "step")?,))?;
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
    let mut flat: Vec<(&'static str, Vec<f32>)> = Vec::with_capacity(bufs.len());
    for buf in bufs {
        flat.push((
            buf,
            flat_from_dict(&d, "state", layout, &format!("{buf}."))?,
        ));
    }
    let views: Vec<(&str, &[f32])> = flat.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    opt.load(step as u64, &views)?;
    Ok(())
}

/// The four words of a dropout generator's state from a uint64 (4,) array named `a`.
fn rng_words(a: &Bound<'_, PyAny>) -> PyResult<[u64; 4]> {
    let arr = array::<u64>(a, "a", "uint64", 1)?;
    let words = slice(&arr, "a")?;
    words.try_into().map_err(|_| {
        value_err(format!(
            "a: expected a uint64 array of shape (4,), got ({},)",
            words.len()
        ))
    })
}
