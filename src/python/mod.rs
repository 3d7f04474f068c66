//! PyO3 bindings: the extension module `rnnrs._core`. Argument checking, numpy in and out,
//! the GIL released around long calls, errors mapped. No numerics live here.

mod errors;
mod layers;
mod ngram;
mod nn;
mod text;

use pyo3::prelude::*;

/// The compiled core of rnnrs. Import `rnnrs`, not this module.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::import_classes(m.py())?;
    layers::register(m)?;
    ngram::register(m)?;
    nn::register(m)?;
    text::register(m)?;
    Ok(())
}
