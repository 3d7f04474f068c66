//! Training: gradient clipping, optimizers over flat buffers, and the many-steps-per-call
//! truncated-BPTT loop.

pub mod clip;
pub mod optim;
pub mod steps;

pub use optim::{Optimizer, OptimizerSpec};
pub use steps::{train_steps, Clip, Report, Schedule};
