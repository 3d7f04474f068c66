//! Bindings of the n-gram engine: `NGramCounts` and `NGramModel`. The GIL is released for
//! counting, estimation, file I/O and batch scoring.

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::call;
use super::convert::ids_array;
use crate::ngram::spill::{self, Budget};
use crate::ngram::{arpa, binary, counts_file, estimate, external};
use crate::ngram::{Method, Model, NGramCounts, Smoothing, EOS};
use crate::runtime::threads;
use crate::CoreError;

/// Below this much work (tokens, or n-grams) a call runs on one thread.
const SERIAL_BELOW: usize = 1 << 18;
/// Bytes of text (or of an ARPA file) counted as one unit of work.
const BYTES_PER_TOKEN: u64 = 8;

/// Run `f` through [`call::detached`] inside the rnnrs thread pool (`rnnrs.set_num_threads`),
/// or on one thread when `work` is small. The call is handed to the pool once, not once per
/// parallel step: each hand-over waits for a worker to wake, which dominates small inputs.
fn detached<R: Send>(
    py: Python<'_>,
    work: usize,
    f: impl FnOnce() -> crate::Result<R> + Send,
) -> PyResult<R> {
    Ok(call::detached(py, |_| {
        if work < SERIAL_BELOW {
            threads::install_serial(f)?
        } else {
            threads::install(f)?
        }
    })??)
}

/// The work of reading a text file of this path (its size; 0 if unknown, an error follows).
fn file_work(path: &std::path::Path) -> usize {
    std::fs::metadata(path).map_or(0, |m| (m.len() / BYTES_PER_TOKEN) as usize)
}

fn model_work(model: &Model) -> usize {
    model.num_ngrams().iter().sum::<u64>() as usize
}

/// Raw n-gram counts of orders 1..order (see rnnrs.NGramCounts).
#[pyclass(module = "rnnrs._core", name = "NGramCounts")]
pub struct PyNGramCounts {
    inner: NGramCounts,
}

#[pymethods]
impl PyNGramCounts {
    #[new]
    fn new(py: Python<'_>, order: usize) -> PyResult<Self> {
        call::guarded(py, || {
            Ok(PyNGramCounts {
                inner: NGramCounts::new(order)?,
            })
        })
    }

    #[getter]
    fn order(&self) -> usize {
        self.inner.order()
    }

    #[getter]
    fn tokens(&self) -> u64 {
        self.inner.tokens()
    }

    #[getter]
    fn sentences(&self) -> u64 {
        self.inner.sentences()
    }

    /// Count lines of whitespace-separated tokens (one sentence per line).
    fn add_lines(&mut self, py: Python<'_>, lines: Vec<String>) -> PyResult<()> {
        let inner = &mut self.inner;
        let work = lines.iter().map(String::len).sum::<usize>() / BYTES_PER_TOKEN as usize;
        detached(py, work, || {
            inner.add_lines(lines.iter().map(String::as_str))
        })?;
        Ok(())
    }

    /// Count the lines of a UTF-8 text file.
    fn add_file(&mut self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let inner = &mut self.inner;
        detached(py, file_work(&path), || inner.add_file(&path))?;
        Ok(())
    }

    /// Count a stream of ids of this vocabulary, sentences ended by </s> (id 2).
    fn add_ids(&mut self, py: Python<'_>, ids: PyReadonlyArray1<'_, u32>) -> PyResult<()> {
        let ids = ids_array(&ids, "ids")?;
        let inner = &mut self.inner;
        detached(py, ids.len(), || inner.add_ids(ids))?;
        Ok(())
    }

    /// Add the counts of `other` (any vocabulary, same order).
    fn merge(&mut self, py: Python<'_>, other: PyRef<'_, PyNGramCounts>) -> PyResult<()> {
        let other = other.inner.clone();
        let inner = &mut self.inner;
        let work = other.tokens() as usize;
        detached(py, work, || inner.merge(&other))?;
        Ok(())
    }

    /// The raw count of an n-gram given as words.
    fn count(&self, py: Python<'_>, words: Vec<String>) -> PyResult<u64> {
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        call::guarded(py, || Ok(self.inner.count(&refs)))
    }

    fn num_ngrams(&self) -> Vec<u64> {
        self.inner.num_ngrams()
    }

    /// Counts-of-counts [t1, t2, t3, t4] of order n (raw counts).
    fn counts_of_counts(&self, py: Python<'_>, n: usize) -> PyResult<Vec<u64>> {
        call::guarded(py, || {
            if n == 0 || n > self.inner.order() {
                return Err(CoreError::invalid(
                    "n",
                    format!("must be in 1..={}, got {n}", self.inner.order()),
                )
                .into());
            }
            let mut counts = self.inner.raw_counts(n).to_vec();
            if n == 1 {
                counts[crate::ngram::BOS as usize] = 0;
            }
            Ok(estimate::counts_of_counts(&counts)[1..].to_vec())
        })
    }

    fn vocab(&self) -> Vec<String> {
        self.inner.vocab().words().to_vec()
    }

    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    /// The counts in the counts format (see docs/ngram.md).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let inner = &self.inner;
        let bytes = detached(py, 0, || Ok(counts_file::to_bytes(inner)))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Counts from bytes of the counts format.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let inner = detached(py, 0, || counts_file::from_bytes(data, None))?;
        Ok(PyNGramCounts { inner })
    }

    /// Save in the counts format (atomically).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let inner = &self.inner;
        detached(py, 0, || counts_file::save(inner, &path))?;
        Ok(())
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = detached(py, 0, || counts_file::load(&path))?;
        Ok(PyNGramCounts { inner })
    }

    /// Count text files within a memory budget, spilling sorted runs to `temp_dir`.
    #[staticmethod]
    fn count_files_bounded(
        py: Python<'_>,
        order: usize,
        paths: Vec<PathBuf>,
        memory: u64,
        temp_dir: PathBuf,
    ) -> PyResult<Self> {
        let budget = Budget {
            bytes: memory,
            temp_dir,
        };
        let inner = call::interruptible(py, |check| {
            spill::count_files(order, &paths, &budget, check)
        })?;
        Ok(PyNGramCounts { inner })
    }
}

/// A backoff n-gram model (see rnnrs.NGramLM).
#[pyclass(module = "rnnrs._core", name = "NGramModel", frozen)]
pub struct PyNGramModel {
    inner: Model,
}

#[pymethods]
impl PyNGramModel {
    /// Estimate a model from counts.
    #[staticmethod]
    #[pyo3(signature = (counts, method, *, k=1.0, discount=None, alpha=0.4, discount_fallback=false, min_counts=Vec::new(), consume=false))]
    #[allow(clippy::too_many_arguments)]
    fn estimate(
        py: Python<'_>,
        mut counts: PyRefMut<'_, PyNGramCounts>,
        method: &str,
        k: f64,
        discount: Option<f64>,
        alpha: f64,
        discount_fallback: bool,
        min_counts: Vec<u64>,
        consume: bool,
    ) -> PyResult<Self> {
        let smoothing = Smoothing {
            method: Method::parse(method)?,
            k,
            discount,
            alpha,
            discount_fallback,
            min_counts,
        };
        let work = counts.inner.tokens() as usize;
        let inner = if consume {
            // The counts are emptied: their tables are freed as soon as they are read.
            let empty = NGramCounts::new(counts.inner.order())?;
            let owned = std::mem::replace(&mut counts.inner, empty);
            detached(py, work, || estimate::estimate_consuming(owned, &smoothing))?
        } else {
            let counts = &counts.inner;
            detached(py, work, || estimate::estimate(counts, &smoothing))?
        };
        Ok(PyNGramModel { inner })
    }

    /// Count text files and write the model as ARPA within a memory budget (interpolated
    /// methods); returns the n-grams written per order.
    #[staticmethod]
    #[pyo3(signature = (order, paths, output, method, memory, temp_dir, *, k=1.0, discount=None, alpha=0.4, discount_fallback=false, min_counts=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn build_arpa_bounded(
        py: Python<'_>,
        order: usize,
        paths: Vec<PathBuf>,
        output: PathBuf,
        method: &str,
        memory: u64,
        temp_dir: PathBuf,
        k: f64,
        discount: Option<f64>,
        alpha: f64,
        discount_fallback: bool,
        min_counts: Vec<u64>,
    ) -> PyResult<Vec<u64>> {
        let smoothing = Smoothing {
            method: Method::parse(method)?,
            k,
            discount,
            alpha,
            discount_fallback,
            min_counts,
        };
        let budget = Budget {
            bytes: memory,
            temp_dir,
        };
        call::interruptible(py, |check| {
            external::estimate_to_arpa(order, &paths, &smoothing, &budget, &output, check)
        })
    }

    #[staticmethod]
    fn from_arpa(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = detached(py, file_work(&path) / 4, || arpa::read_arpa(&path))?;
        Ok(PyNGramModel { inner })
    }

    /// The binary form, its checksum and values verified unless `verify` is false.
    #[staticmethod]
    #[pyo3(signature = (path, *, verify=true))]
    fn load(py: Python<'_>, path: PathBuf, verify: bool) -> PyResult<Self> {
        let inner = detached(py, 0, || binary::load(&path, verify))?;
        Ok(PyNGramModel { inner })
    }

    fn to_arpa(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let work = model_work(&self.inner);
        detached(py, work, || arpa::write_arpa(&self.inner, &path))?;
        Ok(())
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let work = model_work(&self.inner);
        detached(py, work, || binary::save(&self.inner, &path))?;
        Ok(())
    }

    #[getter]
    fn order(&self) -> usize {
        self.inner.order()
    }

    #[getter]
    fn method(&self) -> String {
        self.inner.method().to_owned()
    }

    #[getter]
    fn stupid_alpha(&self) -> Option<f64> {
        self.inner.stupid_alpha()
    }

    fn vocab(&self) -> Vec<String> {
        self.inner.vocab().words().to_vec()
    }

    fn num_ngrams(&self) -> Vec<u64> {
        self.inner.num_ngrams()
    }

    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    /// Ids of words (unknown words: 0, <unk>).
    fn word_ids<'py>(
        &self,
        py: Python<'py>,
        words: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let v = self.inner.vocab();
        let ids: Vec<u32> =
            call::guarded(py, || Ok(words.iter().map(|w| v.id_or_unk(w)).collect()))?;
        Ok(ids.into_pyarray(py))
    }

    /// Whitespace-split lines as one id stream, each sentence ended by </s>; empty lines
    /// are skipped; unknown words map to <unk>.
    fn encode_lines<'py>(
        &self,
        py: Python<'py>,
        lines: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let v = self.inner.vocab();
        let ids = call::detached(py, |_| {
            let mut ids = Vec::new();
            for line in &lines {
                let before = ids.len();
                ids.extend(line.split_whitespace().map(|t| v.id_or_unk(t)));
                if ids.len() > before {
                    ids.push(EOS);
                }
            }
            Ok(ids)
        })??;
        Ok(ids.into_pyarray(py))
    }

    /// log10 p of every token of a stream of sentences ended by </s>.
    fn score_ids<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, u32>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let ids = ids_array(&ids, "ids")?;
        let mut out = vec![0.0f64; ids.len()];
        detached(py, ids.len(), || self.inner.score_stream(ids, &mut out))?;
        Ok(out.into_pyarray(py))
    }

    /// Sum of log10 p over a stream of sentences ended by </s>.
    fn total_ids(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u32>) -> PyResult<f64> {
        let ids = ids_array(&ids, "ids")?;
        let mut out = vec![0.0f64; ids.len()];
        detached(py, ids.len(), || self.inner.score_stream(ids, &mut out))?;
        Ok(out.iter().sum())
    }

    /// For each token of a stream of sentences, the length of the longest n-gram that
    /// scored it.
    fn ngram_lengths<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, u32>,
    ) -> PyResult<Bound<'py, PyArray1<u8>>> {
        let ids = ids_array(&ids, "ids")?;
        let out = detached(py, ids.len(), || self.inner.ngram_lengths(ids))?;
        Ok(out.into_pyarray(py))
    }

    /// log10 p(word | context), the context following <s> when bos.
    fn logprob(&self, py: Python<'_>, context: Vec<u32>, word: u32, bos: bool) -> PyResult<f64> {
        call::guarded(py, || Ok(self.inner.logprob(&context, word, bos)?))
    }

    /// log10 p(w | context) for every word id (<s>: -inf).
    fn distribution<'py>(
        &self,
        py: Python<'py>,
        context: Vec<u32>,
        bos: bool,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let state = call::guarded(py, || Ok(self.inner.state_for(&context, bos)?))?;
        let work = self.inner.vocab().len();
        let out = detached(py, work, || Ok(self.inner.distribution(&state)))?;
        Ok(PyArray1::from_vec(py, out))
    }
}

/// Add the n-gram classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyNGramCounts>()?;
    m.add_class::<PyNGramModel>()?;
    Ok(())
}
