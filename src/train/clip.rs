//! Gradient clipping over the flat gradient buffer: by global L2 norm (as
//! torch.nn.utils.clip_grad_norm_) and by value (clip_grad_value_). Spec:
//! `reference/clip.py::global_norm`, `clip_grad_norm` and `clip_grad_value`.

use rayon::prelude::*;

use crate::runtime::simd::multiversion;

/// Elements per partial sum: fixed, so the norm is the same whatever the thread count.
const CHUNK: usize = 32_768;

/// The L2 norm of all gradients, partial sums in f64 over fixed chunks added in order.
pub fn global_norm(grads: &[f32]) -> f64 {
    let partial: Vec<f64> = grads.par_chunks(CHUNK).map(sum_squares).collect();
    partial.iter().sum::<f64>().sqrt()
}

/// Lanes of [`sum_squares`]: independent accumulators, so the sum vectorizes instead of
/// waiting on one chain of additions.
const LANES: usize = 8;

multiversion! {
    /// Σ g², in f64, over `LANES` interleaved partial sums added in a fixed order.
    fn sum_squares(gs: &[f32]) -> f64 {
        let mut acc = [0.0f64; LANES];
        let chunks = gs.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for (a, &g) in acc.iter_mut().zip(c) {
                *a += (g as f64) * (g as f64);
            }
        }
        let mut s = 0.0f64;
        for a in acc {
            s += a;
        }
        for &g in tail {
            s += (g as f64) * (g as f64);
        }
        s
    }
}

/// Scale all gradients by max_norm / (norm + 1e-6) when that is below 1, where `norm` is
/// [`global_norm`]; returns the factor applied.
pub fn clip_by_norm(grads: &mut [f32], max_norm: f64, norm: f64) -> f64 {
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = coef as f32;
        grads
            .par_chunks_mut(CHUNK)
            .for_each(|ch| ch.iter_mut().for_each(|g| *g *= c));
        coef
    } else {
        1.0
    }
}

/// Clamp every gradient to [-clip, clip].
pub fn clip_by_value(grads: &mut [f32], clip: f32) {
    grads
        .par_chunks_mut(CHUNK)
        .for_each(|ch| ch.iter_mut().for_each(|g| *g = g.clamp(-clip, clip)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_and_clips() {
        let mut g = vec![3.0f32, -4.0];
        let n = global_norm(&g);
        assert!((n - 5.0).abs() < 1e-12);
        assert_eq!(clip_by_norm(&mut g, 10.0, n), 1.0);
        assert_eq!(g, [3.0, -4.0]);
        clip_by_norm(&mut g, 1.0, n);
        assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] + 0.8).abs() < 1e-6);
        let mut g = vec![0.5f32, -2.0, 3.0];
        clip_by_value(&mut g, 1.0);
        assert_eq!(g, [0.5, -1.0, 1.0]);
    }

    #[test]
    fn norm_over_many_chunks_matches_f64() {
        let g: Vec<f32> = (0..100_000)
            .map(|i| ((i % 7) as f32 - 3.0) * 0.01)
            .collect();
        let want: f64 = g.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        assert!((global_norm(&g) - want).abs() < 1e-9);
    }
}
