//! Neural building blocks: cells, recurrent layers and the encoder layer stack, embedding,
//! decoder, dropout, the poolings over padded sequences, and the flat parameter buffers.
//!
//! Forward/backward pairs are free functions over flat `f32` slices with their shapes in the
//! doc comments; backward passes add into gradient buffers. All parameters of a model live in
//! one flat buffer ([`params::Layout`] names the views).

pub mod cell;
pub mod char_encoder;
pub mod checks;
pub mod class_decoder;
pub mod crf;
pub mod decoder;
pub mod dropout;
pub mod embedding;
pub mod params;
pub mod pooling;
pub mod projected_embedding;
pub mod recurrent;
pub mod stack;

pub use cell::CellKind;
pub use params::{Layout, Params};
pub use stack::{InputGrads, RecurrentStack, Stack, StackConfig, StackInput, State};
#[cfg(test)]
mod gradcheck;

/// Grow `v` to at least `n` elements (default-filled); never shrinks, so workspaces reused
/// from call to call allocate only when a call is bigger than every one before.
pub(crate) fn grow<T: Clone + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}
