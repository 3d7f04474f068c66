//! `TaggerEngine`: the tagger engine contract on the Rust tagger (src/tag/), built by
//! `backends/engines.py::tagger_engine`. Arrays are checked here (dtype, contiguity, shapes;
//! ids, lengths, tags and characters by the core too) and every numeric call runs through
//! [`detached`].

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::call::detached;
use super::convert::{array, shape_str, slice, value_err};
use super::engine::{clip, learning_rates, Trainable};
use crate::nn::char_encoder::{CharConfig, CharKind};
use crate::nn::crf::Constraints;
use crate::nn::CellKind;
use crate::tag::{train_steps, Batch, Chars, Output, Tagged, Tagger, TaggerConfig};

/// What `train_steps` returns: losses and gradient norms before clipping.
type StepsOut<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

/// A checked batch converted for the core.
struct OwnedBatch<'py> {
    ids: PyReadonlyArrayDyn<'py, u32>,
    t: usize,
    lengths: Vec<usize>,
    tags: Vec<u32>,
    chars: Option<(PyReadonlyArrayDyn<'py, u32>, Vec<usize>, usize)>,
}

impl OwnedBatch<'_> {
    fn batch(&self) -> PyResult<Batch<'_>> {
        let chars = match &self.chars {
            Some((ids, lengths, width)) => Some(Chars {
                ids: slice(ids, "chars")?,
                lengths,
                width: *width,
            }),
            None => None,
        };
        Ok(Batch {
            ids: slice(&self.ids, "ids")?,
            lengths: &self.lengths,
            time: self.t,
            chars,
        })
    }

    fn tagged(&self) -> PyResult<Tagged<'_>> {
        Ok(Tagged {
            batch: self.batch()?,
            tags: &self.tags,
        })
    }
}

/// An int64 array of `shape` with values >= 0 (range checks are the core's) named `name`.
fn int_array(obj: &Bound<'_, PyAny>, name: &str, shape: &[usize]) -> PyResult<Vec<i64>> {
    let a = array::<i64>(obj, name, "int64", shape.len())?;
    if a.shape() != shape {
        return Err(value_err(format!(
            "{name}: expected shape {}, got {}",
            shape_str(shape),
            shape_str(a.shape())
        )));
    }
    let v = slice(&a, name)?.to_vec();
    if let Some(x) = v.iter().find(|&&x| x < 0) {
        return Err(value_err(format!("{name}: expected values >= 0, got {x}")));
    }
    Ok(v)
}

fn present<'a, 'py>(obj: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    obj.filter(|o| !o.is_none())
}

/// `ids` uint32 (B, T), `lengths` int64 (B,), `tags` int64 (B, T) or None, `chars` uint32
/// (B, T, W) and `char_lengths` int64 (B, T), or None.
fn load_batch<'py>(
    ids: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
    tags: Option<&Bound<'py, PyAny>>,
    chars: Option<&Bound<'py, PyAny>>,
    char_lengths: Option<&Bound<'py, PyAny>>,
) -> PyResult<OwnedBatch<'py>> {
    let ids = array::<u32>(ids, "ids", "uint32 token ids", 2)?;
    let (b, t) = (ids.shape()[0], ids.shape()[1]);
    if b == 0 || t == 0 {
        return Err(value_err(format!(
            "ids: expected at least one row and one step, got shape {}",
            shape_str(ids.shape())
        )));
    }
    let lengths = int_array(lengths, "lengths", &[b])?
        .into_iter()
        .map(|x| x as usize)
        .collect();
    let tags = match present(tags) {
        Some(l) => int_array(l, "tags", &[b, t])?
            .into_iter()
            .map(|x| u32::try_from(x).unwrap_or(u32::MAX))
            .collect(),
        None => Vec::new(),
    };
    let chars = match (present(chars), present(char_lengths)) {
        (Some(c), Some(cl)) => {
            let c = array::<u32>(c, "chars", "uint32 character ids", 3)?;
            if c.shape()[..2] != [b, t] {
                return Err(value_err(format!(
                    "chars: expected shape ({b}, {t}, W) like ids, got {}",
                    shape_str(c.shape())
                )));
            }
            let w = c.shape()[2];
            let cl = int_array(cl, "char_lengths", &[b, t])?
                .into_iter()
                .map(|x| x as usize)
                .collect();
            Some((c, cl, w))
        }
        (None, None) => None,
        _ => {
            return Err(value_err(
                "chars, char_lengths: expected both or neither".to_string(),
            ))
        }
    };
    Ok(OwnedBatch {
        ids,
        t,
        lengths,
        tags,
        chars,
    })
}

/// A list of `(ids, lengths, tags, chars, char_lengths)` tuples.
fn load_batches<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<OwnedBatch<'py>>> {
    let what = "(ids, lengths, tags, chars, char_lengths)";
    let list = obj
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err(format!("batches: expected a list of {what} tuples")))?;
    list.iter()
        .enumerate()
        .map(|(k, item)| {
            let tuple = item.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err(format!("batches[{k}]: expected an {what} tuple"))
            })?;
            if tuple.len() != 5 {
                return Err(value_err(format!(
                    "batches[{k}]: expected 5 items {what}, got {}",
                    tuple.len()
                )));
            }
            let item = |i| tuple.get_item(i);
            let (ids, lengths, tags, chars, cl) =
                (item(0)?, item(1)?, item(2)?, item(3)?, item(4)?);
            if tags.is_none() {
                return Err(value_err(format!("batches[{k}]: expected tags, got None")));
            }
            load_batch(&ids, &lengths, Some(&tags), Some(&chars), Some(&cl))
        })
        .collect()
}

/// `(allowed bool (K, K), allowed_start bool (K,), allowed_end bool (K,))` or None.
fn load_constraints(obj: Option<&Bound<'_, PyAny>>, k: usize) -> PyResult<Option<Constraints>> {
    let Some(obj) = present(obj) else {
        return Ok(None);
    };
    let tuple = obj.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err("constraints: expected (allowed, allowed_start, allowed_end)")
    })?;
    if tuple.len() != 3 {
        return Err(value_err(format!(
            "constraints: expected 3 arrays, got {}",
            tuple.len()
        )));
    }
    let get = |i: usize, name: &str, shape: &[usize]| -> PyResult<Vec<bool>> {
        let item = tuple.get_item(i)?;
        let a = array::<bool>(&item, name, "bool", shape.len())?;
        if a.shape() != shape {
            return Err(value_err(format!(
                "{name}: expected shape {}, got {}",
                shape_str(shape),
                shape_str(a.shape())
            )));
        }
        Ok(slice(&a, name)?.to_vec())
    };
    Ok(Some(Constraints {
        allowed: get(0, "allowed", &[k, k])?,
        allowed_start: get(1, "allowed_start", &[k])?,
        allowed_end: get(2, "allowed_end", &[k])?,
    }))
}

/// The Rust backend's tagger engine: word embedding [+ character encoder] -> (bi)RNN/LSTM/GRU
/// over padded batches -> linear emission scores -> softmax or CRF, with its parameters,
/// gradients, optimizer and dropout generator.
#[pyclass(module = "rnnrs._core")]
pub struct TaggerEngine {
    core: Trainable<Tagger>,
}

#[pymethods]
impl TaggerEngine {
    /// The model of a normalized `rnnrs.SequenceTagger` config (every key, keyword-only),
    /// with every weight zero: `set_parameters` follows.
    #[new]
    #[pyo3(signature = (
        *, vocab_size, num_tags, cell, embed_size, hidden_size, num_layers, bidirectional,
        char_encoder, char_vocab_size, char_embed_size, char_hidden_size, output, dropout, seed
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        vocab_size: usize,
        num_tags: usize,
        cell: &str,
        embed_size: usize,
        hidden_size: usize,
        num_layers: usize,
        bidirectional: bool,
        char_encoder: Option<&str>,
        char_vocab_size: usize,
        char_embed_size: usize,
        char_hidden_size: usize,
        output: &str,
        dropout: f32,
        seed: u64,
    ) -> PyResult<Self> {
        let chars = match char_encoder {
            Some(kind) => Some(CharConfig {
                kind: CharKind::parse(kind)?,
                vocab_size: char_vocab_size,
                embed_size: char_embed_size,
                hidden_size: char_hidden_size,
            }),
            None => None,
        };
        let cfg = TaggerConfig {
            vocab_size,
            num_tags,
            cell: CellKind::parse(cell)?,
            embed_size,
            hidden_size,
            num_layers,
            bidirectional,
            chars,
            output: Output::parse(output)?,
            dropout,
            seed,
        };
        let model = detached(py, |_| Tagger::new(cfg))??;
        Ok(TaggerEngine {
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
        self.core.set_parameters(params)
    }

    /// Emission scores float32 (T, B, K), time-major, without dropout.
    #[pyo3(signature = (ids, lengths, chars=None, char_lengths=None))]
    fn emissions<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        lengths: &Bound<'py, PyAny>,
        chars: Option<&Bound<'py, PyAny>>,
        char_lengths: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = load_batch(ids, lengths, None, chars, char_lengths)?;
        let view = batch.batch()?;
        let model = &mut self.core.model;
        let out = detached(py, |_| model.emissions(view))??;
        let (b, t, k) = (batch.lengths.len(), batch.t, model.config().num_tags);
        Ok(PyArray1::from_vec(py, out).reshape([t, b, k])?.into_any())
    }

    #[pyo3(signature = (ids, lengths, tags, chars=None, char_lengths=None, *, train))]
    #[allow(clippy::too_many_arguments)]
    fn loss_and_grads<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        lengths: &Bound<'py, PyAny>,
        tags: &Bound<'py, PyAny>,
        chars: Option<&Bound<'py, PyAny>>,
        char_lengths: Option<&Bound<'py, PyAny>>,
        train: bool,
    ) -> PyResult<(f64, Bound<'py, PyDict>)> {
        if tags.is_none() {
            return Err(value_err(
                "tags: expected int64 (B, T), got None".to_string(),
            ));
        }
        let batch = load_batch(ids, lengths, Some(tags), chars, char_lengths)?;
        let view = batch.tagged()?;
        let model = &mut self.core.model;
        let loss = detached(py, |_| model.loss_and_grads(view, train))??;
        Ok((loss, self.core.grads(py)?))
    }

    /// (summed loss over every real token (f64), number of tokens), without dropout.
    fn evaluate<'py>(
        &mut self,
        py: Python<'py>,
        batches: &Bound<'py, PyAny>,
    ) -> PyResult<(f64, usize)> {
        let owned = load_batches(batches)?;
        let views = owned
            .iter()
            .map(OwnedBatch::tagged)
            .collect::<PyResult<Vec<_>>>()?;
        let model = &mut self.core.model;
        Ok(detached(py, |_| model.evaluate(&views))??)
    }

    /// The predicted tags int64 (B, T), -1 past each row's length.
    #[pyo3(signature = (ids, lengths, chars=None, char_lengths=None, *, constraints=None))]
    fn decode<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        lengths: &Bound<'py, PyAny>,
        chars: Option<&Bound<'py, PyAny>>,
        char_lengths: Option<&Bound<'py, PyAny>>,
        constraints: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = self.core.model.config().num_tags;
        let constraints = load_constraints(constraints, k)?;
        let batch = load_batch(ids, lengths, None, chars, char_lengths)?;
        let view = batch.batch()?;
        let model = &mut self.core.model;
        let paths = detached(py, |_| model.decode(view, constraints.as_ref()))??;
        let (b, t) = (batch.lengths.len(), batch.t);
        let mut out = vec![-1i64; b * t];
        for (row, path) in out.chunks_exact_mut(t).zip(&paths) {
            for (o, &p) in row.iter_mut().zip(path) {
                *o = p as i64;
            }
        }
        Ok(PyArray1::from_vec(py, out).reshape([b, t])?.into_any())
    }

    /// Set the optimizer (its state reset), as `RustEngine.configure_optimizer`.
    #[pyo3(signature = (
        *, name, momentum=None, nesterov=None, betas=None, eps=None, weight_decay=0.0,
        frozen=Vec::new()
    ))]
    #[allow(clippy::too_many_arguments)]
    fn configure_optimizer(
        &mut self,
        name: &str,
        momentum: Option<f32>,
        nesterov: Option<bool>,
        betas: Option<(f32, f32)>,
        eps: Option<f32>,
        weight_decay: f32,
        frozen: Vec<String>,
    ) -> PyResult<()> {
        self.core
            .configure_optimizer(name, momentum, nesterov, betas, eps, weight_decay, frozen)
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
            .map(OwnedBatch::tagged)
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

    fn optimizer_state<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.core.optimizer_state(py)
    }

    fn load_optimizer_state(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        self.core.load_optimizer_state(state)
    }

    fn rng_state<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.core.rng_state(py)
    }

    fn set_rng_state(&mut self, a: &Bound<'_, PyAny>) -> PyResult<()> {
        self.core.set_rng_state(a)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TaggerEngine>()
}
