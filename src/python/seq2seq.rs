//! `Seq2SeqEngine`: the encoder-decoder engine (src/seq2seq/) with the methods of
//! `backends/numpy_seq2seq.py::NumpySeq2SeqEngine`, built by
//! `backends/engines.py::seq2seq_engine`. Arrays are checked here (dtype, contiguity,
//! shapes; ids and lengths by the core too) and every numeric call runs through [`detached`].

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::call::detached;
use super::classify::int_vector;
use super::convert::{array, shape_str, slice, value_err};
use super::engine::{clip, learning_rates, Trainable};
use crate::lm::sampler::Sampling;
use crate::nn::CellKind;
use crate::seq2seq::attention::Kind;
use crate::seq2seq::{decode, train_steps, Pairs, Seq2Seq, Seq2SeqConfig, Sources};

/// What `train_steps` returns: losses, gradient norms before clipping, target tokens.
type StepsOut<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>, usize);

/// Checked ids (B, T) uint32 and their lengths.
struct OwnedIds<'py> {
    ids: PyReadonlyArrayDyn<'py, u32>,
    t: usize,
    lengths: Vec<usize>,
}

impl OwnedIds<'_> {
    fn sources(&self) -> PyResult<Sources<'_>> {
        Ok(Sources {
            ids: slice(&self.ids, "source")?,
            lengths: &self.lengths,
            time: self.t,
        })
    }
}

fn load_ids<'py>(
    ids: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<OwnedIds<'py>> {
    let ids = array::<u32>(ids, name, "uint32 token ids", 2)?;
    let (b, t) = (ids.shape()[0], ids.shape()[1]);
    if b == 0 || t == 0 {
        return Err(value_err(format!(
            "{name}: expected at least one row and one step, got shape {}",
            shape_str(ids.shape())
        )));
    }
    let lengths = int_vector(lengths, &format!("{name} lengths"), b)?
        .into_iter()
        .map(|x| x as usize)
        .collect();
    Ok(OwnedIds { ids, t, lengths })
}

/// A checked (source, source lengths, target, target lengths) batch.
struct OwnedPairs<'py> {
    src: OwnedIds<'py>,
    tgt: OwnedIds<'py>,
}

impl OwnedPairs<'_> {
    fn pairs(&self) -> PyResult<Pairs<'_>> {
        Ok(Pairs {
            src: self.src.sources()?,
            tgt: slice(&self.tgt.ids, "target")?,
            tgt_lengths: &self.tgt.lengths,
            tgt_time: self.tgt.t,
        })
    }
}

fn load_pairs<'py>(batch: &Bound<'py, PyAny>, name: &str) -> PyResult<OwnedPairs<'py>> {
    let tuple = batch.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: expected a (source, source_lengths, target, target_lengths) tuple"
        ))
    })?;
    if tuple.len() != 4 {
        return Err(value_err(format!(
            "{name}: expected 4 items (source, source_lengths, target, target_lengths), got {}",
            tuple.len()
        )));
    }
    let src = load_ids(&tuple.get_item(0)?, &tuple.get_item(1)?, "source")?;
    let tgt = load_ids(&tuple.get_item(2)?, &tuple.get_item(3)?, "target")?;
    Ok(OwnedPairs { src, tgt })
}

fn load_batches<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<OwnedPairs<'py>>> {
    let list = obj
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err("batches: expected a list of batch tuples"))?;
    list.iter()
        .enumerate()
        .map(|(k, item)| load_pairs(&item, &format!("batches[{k}]")))
        .collect()
}

fn max_lengths(obj: &Bound<'_, PyAny>, b: usize) -> PyResult<Vec<usize>> {
    Ok(int_vector(obj, "max_lengths", b)?
        .into_iter()
        .map(|x| x as usize)
        .collect())
}

fn to_lists(py: Python<'_>, rows: Vec<Vec<u32>>) -> PyResult<Bound<'_, PyList>> {
    PyList::new(py, rows)
}

/// The Rust backend's encoder-decoder engine with its parameters, gradients, optimizer and
/// generator.
#[pyclass(module = "rnnrs._core")]
pub struct Seq2SeqEngine {
    core: Trainable<Seq2Seq>,
}

#[pymethods]
impl Seq2SeqEngine {
    /// The model of a config checked by `rnnrs.Seq2Seq` (keyword-only), every weight zero:
    /// `set_parameters` follows.
    #[new]
    #[pyo3(signature = (
        *, source_vocab, target_vocab, cell, embed_size, hidden_size, encoder_layers,
        decoder_layers, bidirectional, attention, attention_size, input_feeding,
        tie_target_embeddings, label_smoothing, teacher_forcing, dropout, bos_id, eos_id, seed
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        source_vocab: usize,
        target_vocab: usize,
        cell: &str,
        embed_size: usize,
        hidden_size: usize,
        encoder_layers: usize,
        decoder_layers: usize,
        bidirectional: bool,
        attention: Option<&str>,
        attention_size: usize,
        input_feeding: bool,
        tie_target_embeddings: bool,
        label_smoothing: f32,
        teacher_forcing: f32,
        dropout: f32,
        bos_id: u32,
        eos_id: u32,
        seed: u64,
    ) -> PyResult<Self> {
        let cfg = Seq2SeqConfig {
            source_vocab,
            target_vocab,
            cell: CellKind::parse(cell)?,
            embed_size,
            hidden_size,
            encoder_layers,
            decoder_layers,
            bidirectional,
            attention: attention.map(Kind::parse).transpose()?,
            attention_size,
            input_feeding,
            tie_target_embeddings,
            label_smoothing,
            teacher_forcing,
            dropout,
            bos_id,
            eos_id,
            seed,
        };
        let model = detached(py, |_| Seq2Seq::new(cfg))??;
        Ok(Seq2SeqEngine {
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

    /// Teacher-forced logits (T, B, V) and attention weights (T, S, B), no dropout.
    fn forward<'py>(
        &mut self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let owned = load_pairs(batch, "batch")?;
        let view = owned.pairs()?;
        let model = &mut self.core.model;
        let (logits, weights) = detached(py, |_| model.forward(view))??;
        let (b, s, t) = (owned.src.lengths.len(), owned.src.t, owned.tgt.t);
        let v = self.core.model.config().target_vocab;
        Ok((
            PyArray1::from_vec(py, logits)
                .reshape([t, b, v])?
                .into_any(),
            PyArray1::from_vec(py, weights)
                .reshape([t, s, b])?
                .into_any(),
        ))
    }

    /// (mean loss per target token, grads by name); dropout and teacher forcing when train.
    fn loss_and_grads<'py>(
        &mut self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        train: bool,
    ) -> PyResult<(f64, Bound<'py, PyDict>)> {
        let owned = load_pairs(batch, "batch")?;
        let view = owned.pairs()?;
        let model = &mut self.core.model;
        let (loss, _) = detached(py, |_| model.loss_and_grads(view, train))??;
        Ok((loss, self.core.grads(py)?))
    }

    /// (loss summed over target tokens, token count), no smoothing or dropout.
    fn evaluate(&mut self, py: Python<'_>, batches: &Bound<'_, PyAny>) -> PyResult<(f64, usize)> {
        let owned = load_batches(batches)?;
        let views = owned
            .iter()
            .map(OwnedPairs::pairs)
            .collect::<PyResult<Vec<_>>>()?;
        let model = &mut self.core.model;
        Ok(detached(py, |_| model.evaluate(&views))??)
    }

    fn greedy<'py>(
        &mut self,
        py: Python<'py>,
        src: &Bound<'py, PyAny>,
        src_len: &Bound<'py, PyAny>,
        max_lengths: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let owned = load_ids(src, src_len, "source")?;
        let limits = self::max_lengths(max_lengths, owned.lengths.len())?;
        let view = owned.sources()?;
        let model = &mut self.core.model;
        let rows = detached(py, |_| decode::greedy(model, view, &limits))??;
        to_lists(py, rows)
    }

    #[allow(clippy::too_many_arguments)]
    fn beam<'py>(
        &mut self,
        py: Python<'py>,
        src: &Bound<'py, PyAny>,
        src_len: &Bound<'py, PyAny>,
        max_lengths: &Bound<'py, PyAny>,
        width: usize,
        length_penalty: f64,
    ) -> PyResult<Bound<'py, PyList>> {
        let owned = load_ids(src, src_len, "source")?;
        let limits = self::max_lengths(max_lengths, owned.lengths.len())?;
        let view = owned.sources()?;
        let model = &mut self.core.model;
        let rows = detached(py, |_| {
            decode::beam_search(model, view, &limits, width, length_penalty)
        })??;
        to_lists(py, rows)
    }

    #[allow(clippy::too_many_arguments)]
    fn sample<'py>(
        &mut self,
        py: Python<'py>,
        src: &Bound<'py, PyAny>,
        src_len: &Bound<'py, PyAny>,
        max_lengths: &Bound<'py, PyAny>,
        temperature: f64,
        top_k: Option<usize>,
        top_p: Option<f64>,
        seed: u64,
    ) -> PyResult<Bound<'py, PyList>> {
        let owned = load_ids(src, src_len, "source")?;
        let limits = self::max_lengths(max_lengths, owned.lengths.len())?;
        let view = owned.sources()?;
        let sampling = Sampling {
            temperature,
            top_k,
            top_p,
            greedy: false,
        };
        let model = &mut self.core.model;
        let rows = detached(py, |_| {
            decode::sample(model, view, &limits, &sampling, seed)
        })??;
        to_lists(py, rows)
    }

    /// Set the optimizer (its state reset), as `RustEngine.configure_optimizer`; the tensors
    /// named in `frozen` are not trained.
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

    /// One optimizer step per batch; (losses, gradient norms before clipping, target tokens).
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
            .map(OwnedPairs::pairs)
            .collect::<PyResult<Vec<_>>>()?;
        let lrs = learning_rates(lrs)?;
        let clip = clip(clip_norm, clip_value);
        let (model, opt) = self.core.parts()?;
        let (losses, norms, tokens) = detached(py, |signals| {
            let mut between = |_k: usize| signals.check();
            train_steps(model, opt, &views, &lrs, clip, &mut between)
        })??;
        Ok((
            PyArray1::from_vec(py, losses),
            PyArray1::from_vec(py, norms),
            tokens,
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
    m.add_class::<Seq2SeqEngine>()
}
