//! Text processing in the core: GPT-2-style pre-tokenization and byte-level BPE.

pub mod bpe;
pub mod pretokenize;

pub use bpe::{BpeModel, BpeTrainer, BYTE_VOCAB};
pub use pretokenize::pretokenize;
