//! ARPA text files, compatible with KenLM and SRILM: `\data\`, `ngram k=N` counts,
//! `\k-grams:` sections of `log10 prob <tab> words [<tab> log10 backoff]`, `\end\`.
//! log10(0) is written as -99 (SRILM's convention) and read back as -inf.
//!
//! Reading ([`read_arpa`]) builds a model's probing tables; writing ([`write_arpa`]) renders
//! an estimated model's sorted n-grams (or a read model's tables, ranked first) as text.
//!
//! NumPy counterpart: python/rnnrs/backends/arpa.py (`read_arpa`, `write_arpa`).

mod number;
mod read;
mod write;

pub(crate) use number::push_number;
pub use read::read_arpa;
pub use write::{write_arpa, write_atomically};

/// log10 probability written for an impossible event.
pub const LOG10_ZERO_ARPA: f64 = -99.0;
/// Probability given to `<unk>` when an ARPA file lacks it (KenLM's convention).
pub const MISSING_UNK_LOG10: f64 = -100.0;
