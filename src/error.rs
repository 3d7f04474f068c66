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
    /// A file's content is malformed; `kind` says which format was expected (the Python
    /// class raised follows from it). `line` is 1-based where the format has lines, 0 where
    /// it has none.
    Format {
        kind: FormatKind,
        path: Option<PathBuf>,
        line: usize,
        message: String,
    },
    /// Training produced a non-finite loss or gradient at `step` (counted from 0 within the
    /// call that failed).
    NonFinite { step: u64, message: String },
    /// The user interrupted a long call (Ctrl-C seen between steps).
    Interrupted,
    /// A model (or buffer) asked for more memory than can be allocated: `what` names it,
    /// `bytes` is the size asked for (None when it does not even fit in 64 bits). Checked
    /// before allocating, since a failed allocation aborts the process.
    OutOfMemory { what: String, bytes: Option<u128> },
}

/// The file formats the core reads, named in [`CoreError::Format`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatKind {
    /// An ARPA n-gram model (src/ngram/arpa/).
    Arpa,
    /// rnnrs's binary n-gram model (src/ngram/binary.rs).
    NgramBinary,
    /// n-gram counts saved by rnnrs (src/ngram/counts_file.rs).
    Counts,
    /// A text corpus, which must be UTF-8.
    Text,
}

impl FormatKind {
    /// How messages name a file of this kind.
    pub fn name(self) -> &'static str {
        match self {
            FormatKind::Arpa => "ARPA file",
            FormatKind::NgramBinary => "rnnrs binary n-gram model",
            FormatKind::Counts => "rnnrs n-gram counts",
            FormatKind::Text => "text file",
        }
    }
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
                kind,
                path,
                line,
                message,
            } => {
                write!(f, "malformed {}", kind.name())?;
                if let Some(p) = path {
                    write!(f, " {}", p.display())?;
                }
                if *line > 0 {
                    write!(f, " at line {line}")?;
                }
                write!(f, ": {message}")
            }
            CoreError::NonFinite { step, message } => {
                write!(
                    f,
                    "training diverged at step {step} of this call: {message}"
                )
            }
            CoreError::Interrupted => write!(f, "interrupted"),
            CoreError::OutOfMemory { what, bytes } => match bytes {
                Some(b) => write!(
                    f,
                    "{what}: needs {b} bytes ({:.3e}), more than can be allocated",
                    *b as f64
                ),
                None => write!(f, "{what}: needs more than 2^64 bytes"),
            },
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
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = CoreError::io("corpus.txt", missing);
        assert!(e.to_string().starts_with("corpus.txt: "));
        assert!(std::error::Error::source(&e).is_some());
        let e = CoreError::NonFinite {
            step: 3,
            message: "loss NaN".into(),
        };
        assert_eq!(
            e.to_string(),
            "training diverged at step 3 of this call: loss NaN"
        );
        assert_eq!(CoreError::Interrupted.to_string(), "interrupted");
        let e = CoreError::OutOfMemory {
            what: "RNNLM parameters".into(),
            bytes: Some(8_000_000_000_000),
        };
        assert_eq!(
            e.to_string(),
            "RNNLM parameters: needs 8000000000000 bytes (8.000e12), more than can be allocated"
        );
    }

    #[test]
    fn format_errors_name_their_kind_path_and_line() {
        let e = CoreError::Format {
            kind: FormatKind::Arpa,
            path: Some("m.arpa".into()),
            line: 7,
            message: "bad number".into(),
        };
        assert_eq!(
            e.to_string(),
            "malformed ARPA file m.arpa at line 7: bad number"
        );
        // No line in a binary format, no path for data that came from memory.
        let e = CoreError::Format {
            kind: FormatKind::NgramBinary,
            path: None,
            line: 0,
            message: "the file is truncated".into(),
        };
        assert_eq!(
            e.to_string(),
            "malformed rnnrs binary n-gram model: the file is truncated"
        );
        let e = CoreError::Format {
            kind: FormatKind::Text,
            path: Some("c.txt".into()),
            line: 2,
            message: "not UTF-8 (byte 9)".into(),
        };
        assert_eq!(
            e.to_string(),
            "malformed text file c.txt at line 2: not UTF-8 (byte 9)"
        );
    }
}
