//! PyO3 bindings: the extension module `rnnrs._core`. Typed arguments, numpy in and out
//! ([`convert`]), the GIL released around every long call ([`call`]), errors mapped; what
//! every model engine shares (parameters, optimizer, dropout generator) in [`engine`]. No
//! numerics live here.

mod call;
mod classify;
mod convert;
mod engine;
mod errors;
mod layers;
mod ngram;
mod nn;
mod seq2seq;
mod tag;
mod text;

use pyo3::prelude::*;

/// The compiled core of rnnrs. Import `rnnrs`, not this module.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::import_classes(m.py())?;
    classify::register(m)?;
    layers::register(m)?;
    ngram::register(m)?;
    nn::register(m)?;
    seq2seq::register(m)?;
    tag::register(m)?;
    text::register(m)?;
    Ok(())
}
