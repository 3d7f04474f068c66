//! Bindings for byte-level BPE (src/text/): `BpeTrainer`, `BpeEncoder`, `bpe_pretokenize`.
//! Counting, training and encoding run through [`call::detached`] (the GIL released).

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;

use super::call;
use crate::text::{pretokenize, BpeModel, BpeTrainer};

/// Counts pre-tokens of the texts fed to it, then learns BPE merges.
#[pyclass(name = "BpeTrainer", module = "rnnrs._core")]
struct PyBpeTrainer {
    inner: BpeTrainer,
}

#[pymethods]
impl PyBpeTrainer {
    #[new]
    fn new() -> Self {
        Self {
            inner: BpeTrainer::new(),
        }
    }

    /// Count the pre-tokens of `texts`.
    fn feed(&mut self, py: Python<'_>, texts: Vec<String>) -> PyResult<()> {
        let inner = &mut self.inner;
        Ok(call::detached(py, |_| {
            inner.feed(&texts);
            Ok(())
        })??)
    }

    /// Number of distinct pre-tokens counted so far.
    #[getter]
    fn num_words(&self) -> usize {
        self.inner.num_words()
    }

    /// Learn merges: a list of `(left_id, right_id)` in rank order.
    #[pyo3(signature = (vocab_size, /, *, min_frequency = 2))]
    fn train(
        &self,
        py: Python<'_>,
        vocab_size: usize,
        min_frequency: u64,
    ) -> PyResult<Vec<(u32, u32)>> {
        let inner = &self.inner;
        Ok(call::detached(py, |_| {
            inner.train(vocab_size, min_frequency)
        })??)
    }
}

/// Encodes text with a fixed list of merges.
#[pyclass(name = "BpeEncoder", module = "rnnrs._core", frozen)]
struct PyBpeEncoder {
    inner: BpeModel,
}

#[pymethods]
impl PyBpeEncoder {
    #[new]
    fn new(py: Python<'_>, merges: Vec<(u32, u32)>) -> PyResult<Self> {
        let inner = call::detached(py, |_| BpeModel::new(merges))??;
        Ok(Self { inner })
    }

    /// Number of ids: 256 bytes + merges.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    /// The ids of `text` as a uint32 array.
    fn encode<'py>(&self, py: Python<'py>, text: String) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let inner = &self.inner;
        let ids = call::detached(py, |_| Ok(inner.encode(&text)))??;
        Ok(ids.into_pyarray(py))
    }

    /// The ids of each text, encoded in parallel.
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> PyResult<Vec<Bound<'py, PyArray1<u32>>>> {
        let inner = &self.inner;
        let batch = call::detached(py, |_| Ok(inner.encode_batch(&texts)))??;
        Ok(batch.into_iter().map(|ids| ids.into_pyarray(py)).collect())
    }
}

/// The pre-tokens of `text` (see docs/tokenizers.md).
#[pyfunction]
fn bpe_pretokenize(text: &str) -> Vec<String> {
    pretokenize(text).map(str::to_owned).collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBpeTrainer>()?;
    m.add_class::<PyBpeEncoder>()?;
    m.add_function(wrap_pyfunction!(bpe_pretokenize, m)?)?;
    Ok(())
}
