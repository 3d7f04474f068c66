//! Sequence classification: the classifier model over padded batches of token ids
//! ([`model::Classifier`]) and its training loop ([`model::train_steps`]).

pub mod model;

pub use model::{train_steps, Batch, Classifier, ClassifierConfig, Labeled, Saliency};
