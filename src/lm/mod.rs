//! The recurrent language model ([`Model`]) and native generation: the one-row step
//! ([`stepper`]) and the sampling rules ([`sampler`]).

#[cfg(test)]
mod gradcheck;
pub mod model;
pub mod sampler;
pub mod stepper;

pub use crate::nn::State;
pub use model::{Model, ModelConfig, Softmax, Tokens};
