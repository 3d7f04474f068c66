//! Sequence tagging: the tagger model over padded batches of token ids, with a character
//! encoder and a softmax or CRF output ([`model::Tagger`]), and its training loop
//! ([`model::train_steps`]).

pub mod model;

pub use model::{train_steps, Batch, Chars, Output, Tagged, Tagger, TaggerConfig};
