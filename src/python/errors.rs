//! CoreError -> Python exception. The exception classes live in `rnnrs.errors` (pure Python)
//! so the NumPy backend raises the very same classes without the extension.

use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;

use crate::error::CoreError;

/// Build an instance of `rnnrs.errors.<class_name>` with `message`, falling back to
/// ValueError if the Python package cannot be imported (it always can when the module
/// is loaded through `rnnrs`).
fn rnnrs_error(class_name: &str, message: String) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("rnnrs.errors")
            .and_then(|module| module.getattr(class_name));
        match class.and_then(|cls| cls.call1((message.clone(),))) {
            Ok(instance) => PyErr::from_value(instance),
            Err(_) => PyValueError::new_err(message),
        }
    })
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
            CoreError::Format { what, .. } if what.starts_with("ARPA") => {
                rnnrs_error("ArpaError", message)
            }
            CoreError::Format { .. } => rnnrs_error("FormatError", message),
            CoreError::NonFinite { .. } => rnnrs_error("TrainingDivergedError", message),
            CoreError::Interrupted => PyKeyboardInterrupt::new_err(message),
        }
    }
}
