//! Text processing in the core: GPT-2-style pre-tokenization and byte-level BPE.
//!
//! Spec: python/rnnrs/reference/bpe.py, the pure-Python specification of both modules.

pub mod bpe;
pub mod pretokenize;

pub use bpe::{BpeModel, BpeTrainer, BYTE_VOCAB};
pub use pretokenize::pretokenize;
