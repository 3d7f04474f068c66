//! CoreError -> Python exception, by variant. The rnnrs-specific classes live in
//! `rnnrs.errors` (pure Python, so the NumPy backend raises the very same classes); they are
//! imported once, when `rnnrs._core` loads ([`import_classes`]), so a failing import shows
//! at import time and an error path never has to fall back to another class.
//!
//! | CoreError                      | Python                                   |
//! |--------------------------------|------------------------------------------|
//! | `InvalidArgument`              | `ValueError`                             |
//! | `Io` (not found / permission)  | `FileNotFoundError` / `PermissionError`  |
//! | `Io` (other)                   | `OSError`                                |
//! | `Format { kind: Arpa }`        | `rnnrs.ArpaError` (a `FormatError`)      |
//! | `Format { kind: NgramBinary }` | `rnnrs.FormatError` (a `ValueError`)     |
//! | `Format { kind: Counts }`      | `rnnrs.FormatError`                      |
//! | `Format { kind: Text }`        | `rnnrs.FormatError`                      |
//! | `NonFinite { step }`           | `rnnrs.TrainingDivergedError(.step)`     |
//! | `Interrupted`                  | `KeyboardInterrupt`                      |
//! | `OutOfMemory`                  | `MemoryError`                            |
//! | (a panic, see `call.rs`)       | `rnnrs.RnnrsError`                       |

use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyboardInterrupt, PyMemoryError, PyOSError, PyPermissionError,
    PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

use crate::error::{CoreError, FormatKind};

/// The classes of `rnnrs.errors` that core errors become.
struct Classes {
    base: Py<PyType>,
    format: Py<PyType>,
    arpa: Py<PyType>,
    diverged: Py<PyType>,
}

impl Classes {
    /// The class raised for a malformed file of this kind.
    fn format_error(&self, kind: FormatKind) -> &Py<PyType> {
        match kind {
            FormatKind::Arpa => &self.arpa,
            FormatKind::NgramBinary | FormatKind::Counts | FormatKind::Text => &self.format,
        }
    }
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// Import the classes of `rnnrs.errors` (once; later calls return them).
pub fn import_classes(py: Python<'_>) -> PyResult<()> {
    classes(py).map(|_| ())
}

fn classes(py: Python<'_>) -> PyResult<&'static Classes> {
    CLASSES.get_or_try_init(py, || {
        let module = py.import("rnnrs.errors")?;
        let class = |name: &str| -> PyResult<Py<PyType>> {
            Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok(Classes {
            base: class("RnnrsError")?,
            format: class("FormatError")?,
            arpa: class("ArpaError")?,
            diverged: class("TrainingDivergedError")?,
        })
    })
}

/// An instance of an `rnnrs.errors` class; an error building it (which would be a bug in
/// `rnnrs.errors`) is raised in its place.
fn rnnrs_error(
    py: Python<'_>,
    class: impl FnOnce(&Classes) -> &Py<PyType>,
    message: String,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyErr {
    let made = classes(py).and_then(|c| class(c).bind(py).call((message,), kwargs));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

/// `rnnrs.errors.RnnrsError` for a fault inside the core itself (a Rust panic stopped at
/// the binding boundary, see `call.rs`).
pub(super) fn internal_error(py: Python<'_>, message: String) -> PyErr {
    rnnrs_error(py, |c| &c.base, message, None)
}

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        let message = err.to_string();
        match err {
            CoreError::InvalidArgument { .. } => PyValueError::new_err(message),
            CoreError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
                _ => PyOSError::new_err(message),
            },
            CoreError::Format { kind, .. } => {
                Python::attach(|py| rnnrs_error(py, |c| c.format_error(kind), message, None))
            }
            CoreError::NonFinite { step, .. } => Python::attach(|py| {
                let kwargs = PyDict::new(py);
                match kwargs.set_item("step", step) {
                    Ok(()) => rnnrs_error(py, |c| &c.diverged, message, Some(&kwargs)),
                    Err(e) => e,
                }
            }),
            CoreError::Interrupted => PyKeyboardInterrupt::new_err(message),
            CoreError::OutOfMemory { .. } => PyMemoryError::new_err(message),
        }
    }
}
