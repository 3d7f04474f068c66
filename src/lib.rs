//! rnnrs: language models on the CPU.
//!
//! The crate is usable from Rust without Python (the `rlib`); with the default `python`
//! feature it also builds the extension module `rnnrs._core` (the `cdylib`). Neural entry
//! points: [`lm::Model`] (the language model), [`classify::Classifier`] (the sequence
//! classifier), [`nn::Stack`] (stacked, optionally bidirectional encoder layers, over padded
//! batches too) and [`train::train_steps`].
//!
//! Layers, each using only those above it: [`runtime`] (thread pool, SIMD dispatch),
//! [`linalg`] (GEMM, micro-kernels), [`nn`] (cells, recurrent layers, embedding, decoder),
//! [`lm`] (the language model and its generation), [`classify`] (the classifier), [`train`] (clipping, optimizers, the
//! training loop); [`ngram`] and [`text`] beside them; `python` (the bindings) on top.
//! This file only wires the modules together.

pub mod classify;
pub mod error;
pub mod linalg;
pub mod lm;
pub mod ngram;
pub mod nn;
pub mod runtime;
pub mod seq2seq;
pub mod tag;
pub mod text;
pub mod train;

#[cfg(feature = "python")]
mod python;

pub use error::{CoreError, FormatKind, Result};
