//! Sequence to sequence: the encoder-decoder with attention ([`model::Seq2Seq`]), its
//! attention kernels ([`attention`]), the decoder's one-step cells ([`decoder`]) and the
//! decoding loops ([`decode`]: greedy, sampling, batched beam search).

pub mod attention;
pub mod decode;
pub mod decoder;
pub mod model;

pub use model::{train_steps, Pairs, Seq2Seq, Seq2SeqConfig, Sources};

pub(crate) use crate::nn::grow;
