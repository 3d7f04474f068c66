//! The n-gram engine: counting tables, smoothing, ARPA and binary files, scoring.
//!
//! The spec is the pure-Python reference, python/rnnrs/reference/ngram.py (the NumPy
//! backend's engine over it: python/rnnrs/backends/numpy_ngram.py); each module's header names its
//! counterpart there. Conventions shared with it:
//! word ids 0, 1, 2 are `<unk>`, `<s>`, `</s>`; a sentence is counted as `<s> w.. </s>`;
//! `<s>` is a context only, never predicted; `|V|` counts every word but `<s>`.

pub mod arpa;
pub mod binary;
pub mod counts;
pub mod counts_file;
mod crc32;
pub mod estimate;
pub mod external;
mod id_table;
pub mod model;
mod sort;
mod sorted;
pub mod spill;
pub mod store;
pub mod vocab;

pub use counts::NGramCounts;
pub use estimate::{Method, Smoothing};
pub use model::{Model, State};
pub use vocab::{Vocab, BOS, EOS, UNK};

/// The highest order supported (contexts are kept in fixed-size arrays).
pub const MAX_ORDER: usize = 16;

/// Check an n-gram order argument.
pub fn check_order(order: usize) -> crate::Result<()> {
    if order == 0 || order > MAX_ORDER {
        return Err(crate::CoreError::invalid(
            "order",
            format!("must be between 1 and {MAX_ORDER}, got {order}"),
        ));
    }
    Ok(())
}
