//! rnnrs: language models on the CPU.
//!
//! The crate is usable from Rust without Python (the `rlib`); with the default `python`
//! feature it also builds the extension module `rnnrs._core` (the `cdylib`). Neural entry
//! points: [`nn::Model`] (the language model), [`nn::Stack`] (stacked, optionally
//! bidirectional encoder layers) and [`train::train_steps`].
//! This file only wires the modules together.

pub mod error;
pub mod ngram;
pub mod nn;
pub mod text;
pub mod train;

#[cfg(feature = "python")]
mod python;

pub use error::{CoreError, FormatKind, Result};
