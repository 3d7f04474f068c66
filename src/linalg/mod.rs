//! Dense linear algebra on flat row-major `f32` buffers: the GEMM wrapper ([`gemm`]), the
//! packed micro-kernels for the per-step recurrent products ([`kernels`]), the one-row
//! matrix-vector product of generation ([`gemv`]), row-wise bias fills and column sums
//! ([`colsum`]).

pub mod colsum;
pub mod gemm;
pub mod gemv;
pub mod kernels;
