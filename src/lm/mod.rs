//! The recurrent language model ([`Model`]) and native generation ([`stepper`]).

#[cfg(test)]
mod gradcheck;
pub mod model;
pub mod stepper;

pub use model::{Model, ModelConfig, State, Tokens};
