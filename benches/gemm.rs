//! GEMM candidates on the shapes rnnrs multiplies: `cargo bench --bench gemm [-- --quick]`.
//! Prints one JSON object per line: shape, candidate, threads, GFLOP/s (best of the repeats).
//!
//! Candidates: the `gemm` crate through rnnrs's wrapper, `matrixmultiply::sgemm` (what
//! ndarray's `dot` calls), and rnnrs's packed micro-kernel (`rnnrs::linalg::kernels`, timed
//! without the packing, which happens once per call for the T steps that reuse it). All
//! dispatch SIMD at run time.

use std::time::Instant;

use rnnrs::linalg::gemm::{matmul, MatRef};
use rnnrs::linalg::kernels::{matmul_packed, PackedB};
use rnnrs::runtime::threads;

struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    /// B is given transposed (as the (n, k) weight matrix of a PyTorch layer).
    b_t: bool,
}

fn fill(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 % 1000) as f32) / 1000.0 - 0.5)
        .collect()
}

fn time_best(reps: usize, flops: f64, mut f: impl FnMut()) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        f();
        best = best.min(t0.elapsed().as_secs_f64());
    }
    flops / best / 1e9
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let shapes = [
        Shape {
            name: "C2 recurrent step h.W_hh^T",
            m: 64,
            k: 512,
            n: 2048,
            b_t: true,
        },
        Shape {
            name: "C2 recurrent step, W_hh^T pre-transposed",
            m: 64,
            k: 512,
            n: 2048,
            b_t: false,
        },
        Shape {
            name: "C2 backward step dG.W_hh",
            m: 64,
            k: 2048,
            n: 512,
            b_t: false,
        },
        Shape {
            name: "C1 recurrent step h.W_hh^T",
            m: 32,
            k: 256,
            n: 1024,
            b_t: true,
        },
        Shape {
            name: "W1 recurrent step h.W_hh^T",
            m: 20,
            k: 200,
            n: 800,
            b_t: true,
        },
        Shape {
            name: "C2 input projection X.W_ih^T (layer 2)",
            m: 8192,
            k: 512,
            n: 2048,
            b_t: true,
        },
        Shape {
            name: "W1 decoder H.W_out^T",
            m: 700,
            k: 200,
            n: 6022,
            b_t: true,
        },
        Shape {
            name: "square 1024 (peak)",
            m: 1024,
            k: 1024,
            n: 1024,
            b_t: false,
        },
    ];
    let reps = if quick { 3 } else { 10 };
    for threads_n in [1usize, 2] {
        if threads::set_num_threads(threads_n).is_err() {
            continue;
        }
        for s in &shapes {
            let a = fill(s.m * s.k);
            let b = fill(s.k * s.n);
            let mut c = vec![0.0f32; s.m * s.n];
            let flops = 2.0 * (s.m * s.k * s.n) as f64;
            let bv = if s.b_t {
                MatRef::new(&b, s.n, s.k).t()
            } else {
                MatRef::new(&b, s.k, s.n)
            };
            let av = MatRef::new(&a, s.m, s.k);
            let gf =
                threads::install(|| time_best(reps, flops, || matmul(&mut c, s.n, av, bv, false)))
                    .unwrap_or(f64::NAN);
            println!(
                "{{\"bench\": \"gemm\", \"shape\": \"{}\", \"m\": {}, \"k\": {}, \"n\": {}, \"candidate\": \"gemm-crate\", \"threads\": {threads_n}, \"gflops\": {gf:.1}}}",
                s.name, s.m, s.k, s.n
            );
            if threads_n == 1 {
                let mut packed = PackedB::default();
                if s.b_t {
                    packed.pack_transposed(&b, s.n, s.k);
                } else {
                    packed.pack(bv);
                }
                let gf = time_best(reps, flops, || {
                    matmul_packed(&mut c, s.n, &a, s.k, s.m, &packed, false)
                });
                println!(
                    "{{\"bench\": \"gemm\", \"shape\": \"{}\", \"m\": {}, \"k\": {}, \"n\": {}, \"candidate\": \"rnnrs-packed\", \"threads\": 1, \"gflops\": {gf:.1}}}",
                    s.name, s.m, s.k, s.n
                );
                let (rsb, csb) = if s.b_t {
                    (1, s.k as isize)
                } else {
                    (s.n as isize, 1)
                };
                let gf = time_best(reps, flops, || unsafe {
                    // SAFETY: the strides describe buffers of exactly these sizes.
                    matrixmultiply::sgemm(
                        s.m,
                        s.k,
                        s.n,
                        1.0,
                        a.as_ptr(),
                        s.k as isize,
                        1,
                        b.as_ptr(),
                        rsb,
                        csb,
                        0.0,
                        c.as_mut_ptr(),
                        s.n as isize,
                        1,
                    )
                });
                println!(
                    "{{\"bench\": \"gemm\", \"shape\": \"{}\", \"m\": {}, \"k\": {}, \"n\": {}, \"candidate\": \"matrixmultiply\", \"threads\": 1, \"gflops\": {gf:.1}}}",
                    s.name, s.m, s.k, s.n
                );
            }
        }
    }
}
