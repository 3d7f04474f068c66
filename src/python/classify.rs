//! `ClassifierEngine`: the classifier engine contract on the Rust classifier (src/classify/),
//! built by `backends/engines.py::classifier_engine`. Arrays are checked here (dtype,
//! contiguity, shapes; ids, lengths and labels by the core too) and every numeric call runs
//! through [`detached`].

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::call::{detached, guarded};
use super::convert::{array, shape_str, slice, value_err};
use super::engine::{clip, learning_rates, Trainable};
use crate::classify::{train_steps, Batch, Classifier, ClassifierConfig, Labeled};
use crate::nn::pooling::Pooling;
use crate::nn::CellKind;

/// What `train_steps` returns: losses and gradient norms before clipping.
type StepsOut<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// A checked batch: ids (B, T), lengths and labels (B) converted for the core.
struct OwnedBatch<'py> {
    ids: PyReadonlyArrayDyn<'py, u32>,
    b: usize,
    t: usize,
    lengths: Vec<usize>,
    labels: Vec<u32>,
}

impl OwnedBatch<'_> {
    fn batch(&self) -> PyResult<Batch<'_>> {
        Ok(Batch {
            ids: slice(&self.ids, "ids")?,
            lengths: &self.lengths,
            time: self.t,
        })
    }

    fn labeled(&self) -> PyResult<Labeled<'_>> {
        Ok(Labeled {
            batch: self.batch()?,
            labels: &self.labels,
        })
    }
}

/// An int64 (B,) array of values >= 0 (range checks are the core's) named `name`.
pub(super) fn int_vector(obj: &Bound<'_, PyAny>, name: &str, b: usize) -> PyResult<Vec<i64>> {
    let a = array::<i64>(obj, name, "int64", 1)?;
    if a.shape() != [b] {
        return Err(value_err(format!(
            "{name}: expected shape ({b},), got {}",
            shape_str(a.shape())
        )));
    }
    let v = slice(&a, name)?.to_vec();
    if let Some(x) = v.iter().find(|&&x| x < 0) {
        return Err(value_err(format!("{name}: expected values >= 0, got {x}")));
    }
    Ok(v)
}

/// `ids` uint32 (B, T), `lengths` int64 (B,), `labels` int64 (B,) or None.
fn load_batch<'py>(
    ids: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
    labels: Option<&Bound<'py, PyAny>>,
    labels_name: &str,
) -> PyResult<OwnedBatch<'py>> {
    let ids = array::<u32>(ids, "ids", "uint32 token ids", 2)?;
    let (b, t) = (ids.shape()[0], ids.shape()[1]);
    if b == 0 || t == 0 {
        return Err(value_err(format!(
            "ids: expected at least one row and one step, got shape {}",
            shape_str(ids.shape())
        )));
    }
    let lengths = int_vector(lengths, "lengths", b)?
        .into_iter()
        .map(|x| x as usize)
        .collect();
    let labels = match labels {
        Some(l) => int_vector(l, labels_name, b)?
            .into_iter()
            .map(|x| u32::try_from(x).unwrap_or(u32::MAX))
            .collect(),
        None => Vec::new(),
    };
    Ok(OwnedBatch {
        ids,
        b,
        t,
        lengths,
        labels,
    })
}

/// A list of `(ids, lengths, labels)` tuples.
fn load_batches<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<OwnedBatch<'py>>> {
    let list = obj.cast::<PyList>().map_err(|_| {
        PyTypeError::new_err("batches: expected a list of (ids, lengths, labels) tuples")
    })?;
    list.iter()
        .enumerate()
        .map(|(k, item)| {
            let tuple = item.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "batches[{k}]: expected an (ids, lengths, labels) tuple"
                ))
            })?;
            if tuple.len() != 3 {
                return Err(value_err(format!(
                    "batches[{k}]: expected 3 items (ids, lengths, labels), got {}",
                    tuple.len()
                )));
            }
            let (ids, lengths, labels) =
                (tuple.get_item(0)?, tuple.get_item(1)?, tuple.get_item(2)?);
            load_batch(&ids, &lengths, Some(&labels), "labels")
        })
        .collect()
}

/// The Rust backend's classifier engine: embedding -> (bi)RNN/LSTM/GRU over padded batches
/// -> pooling -> dropout -> linear, with its parameters, gradients, optimizer and dropout
/// generator.
#[pyclass(module = "rnnrs._core")]
pub struct ClassifierEngine {
    core: Trainable<Classifier>,
}

impl ClassifierEngine {
    fn logits_array<'py>(&self, py: Python<'py>, v: Vec<f32>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.core.model.config().num_classes;
        let rows = v.len() / c;
        Ok(PyArray1::from_vec(py, v).reshape([rows, c])?.into_any())
    }
}

#[pymethods]
impl ClassifierEngine {
    /// The model of a normalized `rnnrs.SequenceClassifier` config (every key,
    /// keyword-only), with every weight zero: `set_parameters` follows.
    #[new]
    #[pyo3(signature = (
        *, vocab_size, num_classes, cell, embed_size, hidden_size, num_layers, bidirectional,
        pooling, attention_size, dropout, seed, embedding_dropout = 0.0
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        vocab_size: usize,
        num_classes: usize,
        cell: &str,
        embed_size: usize,
        hidden_size: usize,
        num_layers: usize,
        bidirectional: bool,
        pooling: &str,
        attention_size: usize,
        dropout: f32,
        seed: u64,
        embedding_dropout: f32,
    ) -> PyResult<Self> {
        let cfg = ClassifierConfig {
            vocab_size,
            num_classes,
            cell: CellKind::parse(cell)?,
            embed_size,
            hidden_size,
            num_layers,
            bidirectional,
            pooling: Pooling::parse(pooling)?,
            attention_size,
            dropout,
            embedding_dropout,
            seed,
        };
        let model = detached(py, |_| Classifier::new(cfg))??;
        Ok(ClassifierEngine {
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

    fn logits<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        lengths: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = load_batch(ids, lengths, None, "labels")?;
        let view = batch.batch()?;
        let model = &mut self.core.model;
        let out = detached(py, |_| model.logits(view))??;
        self.logits_array(py, out)
    }

    fn loss_and_grads<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        lengths: &Bound<'py, PyAny>,
        labels: &Bound<'py, PyAny>,
        train: bool,
    ) -> PyResult<(f64, Bound<'py, PyDict>)> {
        let batch = load_batch(ids, lengths, Some(labels), "labels")?;
        let view = batch.labeled()?;
        let model = &mut self.core.model;
        let loss = detached(py, |_| model.loss_and_grads(view, train))??;
        Ok((loss, self.core.grads(py)?))
    }

    fn evaluate<'py>(
        &mut self,
        py: Python<'py>,
        batches: &Bound<'py, PyAny>,
    ) -> PyResult<(f64, usize, Bound<'py, PyAny>)> {
        let owned = load_batches(batches)?;
        let views = owned
            .iter()
            .map(OwnedBatch::labeled)
            .collect::<PyResult<Vec<_>>>()?;
        let model = &mut self.core.model;
        let (total, n, logits) = detached(py, |_| model.evaluate(&views))??;
        Ok((total, n, self.logits_array(py, logits)?))
    }

    /// Set the optimizer (its state reset), as `RustEngine.configure_optimizer`.
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

    fn train_steps<'py>(
        &mut self,
        py: Python<'py>,
        batches: &Bound<'py, PyAny>,
        lrs: &Bound<'py, PyAny>,
        clip_norm: Option<f64>,
        clip_value: Option<f64>,
    ) -> PyResult<StepsOut<'py>> {
        self.core.parts()?;
        let owned = load_batches(batches)?;
        let views = owned
            .iter()
            .map(OwnedBatch::labeled)
            .collect::<PyResult<Vec<_>>>()?;
        let lrs = learning_rates(lrs)?;
        let clip = clip(clip_norm, clip_value);
        let (model, opt) = self.core.parts()?;
        let (losses, norms) = detached(py, |signals| {
            let mut between = |_k: usize| signals.check();
            train_steps(model, opt, &views, &lrs, clip, &mut between)
        })??;
        Ok((
            PyArray1::from_vec(py, losses),
            PyArray1::from_vec(py, norms),
        ))
    }

    #[pyo3(signature = (ids, lengths, target=None))]
    fn saliency<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        lengths: &Bound<'py, PyAny>,
        target: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let target = target.filter(|t| !t.is_none());
        let batch = load_batch(ids, lengths, target, "target")?;
        let view = batch.batch()?;
        let labels = target.map(|_| batch.labels.as_slice());
        let model = &mut self.core.model;
        let s = detached(py, |_| model.saliency(view, labels))??;
        let (b, t) = (batch.b, batch.t);
        let (e, f) = (
            self.core.model.config().embed_size,
            self.core.model.config().features(),
        );
        let d = PyDict::new(py);
        let target: Vec<i64> = s.target.iter().map(|&k| k as i64).collect();
        d.set_item("target", PyArray1::from_vec(py, target))?;
        d.set_item("logits", self.logits_array(py, s.logits)?)?;
        d.set_item("grad", PyArray1::from_vec(py, s.grad).reshape([t, b, e])?)?;
        d.set_item(
            "saliency",
            PyArray1::from_vec(py, s.saliency).reshape([t, b])?,
        )?;
        d.set_item(
            "grad_x_input",
            PyArray1::from_vec(py, s.grad_x_input).reshape([t, b])?,
        )?;
        d.set_item(
            "activations",
            PyArray1::from_vec(py, s.activations).reshape([t, b, f])?,
        )?;
        Ok(d)
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
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ClassifierEngine>()
}
