//! The recurrent language model ([`Model`]) and native generation: the one-row step
//! ([`stepper`]) and the sampling rules ([`sampler`]).

#[cfg(test)]
mod gradcheck;
pub mod model;
pub mod sampler;
pub mod stepper;

pub use model::{Model, ModelConfig, State, Tokens};
