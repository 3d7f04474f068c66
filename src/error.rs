//! The one error type of the Rust core. Bindings map each variant to a Python exception
//! (src/python/errors.rs); Rust users match on it directly.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in the core, by what the caller would do about it.
#[derive(Debug)]
pub enum CoreError {
    /// A caller passed a bad value: `name` is the argument, `message` says what was expected.
    InvalidArgument { name: String, message: String },
    /// A file could not be read or written.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file's content is malformed (ARPA, binary model, checkpoint, tokenizer JSON).
    /// `line` is 1-based where the format has lines, 0 where it has none.
    Format {
        what: &'static str,
        path: Option<PathBuf>,
        line: usize,
        message: String,
    },
    /// Training produced a non-finite loss or gradient.
    NonFinite { step: u64, message: String },
    /// The user interrupted a long call (Ctrl-C seen between steps).
    Interrupted,
}

/// Result alias used throughout the core.
pub type Result<T> = std::result::Result<T, CoreError>;

impl CoreError {
    /// Shorthand for [`CoreError::InvalidArgument`].
    pub fn invalid(name: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::InvalidArgument {
            name: name.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`CoreError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::InvalidArgument { name, message } => write!(f, "{name}: {message}"),
            CoreError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            CoreError::Format {
                what,
                path,
                line,
                message,
            } => {
                write!(f, "malformed {what}")?;
                if let Some(p) = path {
                    write!(f, " {}", p.display())?;
                }
                if *line > 0 {
                    write!(f, " at line {line}")?;
                }
                write!(f, ": {message}")
            }
            CoreError::NonFinite { step, message } => {
                write!(f, "non-finite value at step {step}: {message}")
            }
            CoreError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for CoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        let e = CoreError::invalid("order", "must be >= 1, got 0");
        assert_eq!(e.to_string(), "order: must be >= 1, got 0");
        let e = CoreError::Format {
            what: "ARPA file",
            path: Some("m.arpa".into()),
            line: 7,
            message: "bad number".into(),
        };
        assert_eq!(
            e.to_string(),
            "malformed ARPA file m.arpa at line 7: bad number"
        );
    }
}
