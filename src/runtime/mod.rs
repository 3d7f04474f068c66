//! What every numeric part of the core runs on: the rayon thread pool ([`threads`]) and the
//! run-time SIMD dispatch with the vectorizable elementwise math ([`simd`]). Shared by
//! `linalg`, `nn`, `lm`, `train` and the bindings.

pub mod simd;
pub mod threads;
