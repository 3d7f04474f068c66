//! The sampling rules of generation, fused: temperature, top-k, top-p, the softmax and the
//! draw. The semantics are those of `rnnrs.generation.sample_token` (python/rnnrs/generation.py):
//! logits / temperature -> keep the `top_k` likeliest -> keep the smallest prefix whose
//! probability reaches `top_p` -> renormalise -> one inverse-CDF draw; `greedy` takes the
//! likeliest token (the first one on ties). Spec: `rnnrs.generation.sample_token`.

use std::cmp::Ordering;

use crate::error::{CoreError, Result};
use crate::nn::dropout::Rng;
use crate::runtime::simd::{exp, max_lanes, multiversion, sum_lanes};

/// How the next token is chosen from the logits.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    /// Divides the logits (> 0; ignored when `greedy`).
    pub temperature: f64,
    /// Keep only the `top_k` likeliest tokens (>= 1).
    pub top_k: Option<usize>,
    /// Keep the smallest set of likeliest tokens whose probability reaches `top_p`, in (0, 1].
    pub top_p: Option<f64>,
    /// Take the likeliest token (no randomness).
    pub greedy: bool,
}

impl Default for Sampling {
    /// Plain sampling at temperature 1.
    fn default() -> Self {
        Sampling {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            greedy: false,
        }
    }
}

impl Sampling {
    /// Check every field; the error names the field (as `rnnrs.generation.check_sampling_args`).
    pub fn validate(&self) -> Result<()> {
        // NaN fails the comparison; infinity (a uniform draw in disguise) is refused too.
        if !(self.greedy || self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(CoreError::invalid(
                "temperature",
                format!(
                    "must be a finite number > 0 when sampling, got {} (use greedy=True for \
                     the most likely tokens)",
                    self.temperature
                ),
            ));
        }
        if self.top_k == Some(0) {
            return Err(CoreError::invalid(
                "top_k",
                "must be a positive integer or None, got 0",
            ));
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(CoreError::invalid(
                    "top_p",
                    format!("must be in (0, 1] or None, got {p}"),
                ));
            }
        }
        Ok(())
    }
}

/// Draws token ids from logits with the rules of [`Sampling`]; owns its scratch buffers.
pub struct Sampler {
    sampling: Sampling,
    temperature: f32,
    /// Candidate ids, sorted by decreasing logit when top-k or top-p needs an order.
    order: Vec<u32>,
    weights: Vec<f64>,
}

/// Decreasing logit, then increasing id (a stable order, as `numpy.argsort(kind="stable")`).
fn by_logit(logits: &[f32]) -> impl Fn(&u32, &u32) -> Ordering + '_ {
    move |&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    }
}

impl Sampler {
    /// A sampler for `vocab` logits (`sampling` must be valid, see [`Sampling::validate`]).
    pub fn new(vocab: usize, sampling: &Sampling) -> Self {
        let ordered =
            sampling.top_k.is_some_and(|k| k < vocab) || sampling.top_p.is_some_and(|p| p < 1.0);
        Sampler {
            // Dividing (x - max) by a tiny temperature gives -inf, never NaN.
            temperature: (sampling.temperature as f32).max(f32::MIN_POSITIVE),
            sampling: sampling.clone(),
            order: Vec::with_capacity(if ordered { vocab } else { 0 }),
            weights: Vec::with_capacity(if ordered { vocab } else { 0 }),
        }
    }

    /// One token id; `logits` is overwritten (scratch). None when a logit is NaN or +inf.
    pub fn pick(&mut self, logits: &mut [f32], rng: &mut Rng) -> Option<u32> {
        let max = max_lanes(logits);
        if !max.is_finite() {
            return None;
        }
        if self.sampling.greedy {
            return logits.iter().position(|&x| x == max).map(|i| i as u32);
        }
        let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let vocab = logits.len();
        let k = self.sampling.top_k.unwrap_or(vocab).min(vocab);
        let p = self.sampling.top_p.unwrap_or(1.0);
        if k == vocab && p >= 1.0 {
            let total = softmax_weights(logits, max, self.temperature) as f64;
            return Some(draw_in_place(logits, u * total));
        }
        // Candidates: the k likeliest in decreasing order.
        self.order.clear();
        self.order.extend(0..vocab as u32);
        let cmp = by_logit(logits);
        if k < vocab {
            self.order.select_nth_unstable_by(k - 1, &cmp);
            self.order.truncate(k);
        }
        self.order.sort_unstable_by(&cmp);
        self.weights.clear();
        let t = self.temperature;
        let mut total = 0.0f64;
        for &id in &self.order {
            let w = exp((logits[id as usize] - max) / t) as f64;
            total += w;
            self.weights.push(w);
        }
        let mut keep = self.order.len();
        if p < 1.0 {
            // The smallest prefix whose probability reaches p (rnnrs.generation's rule).
            let threshold = p * (1.0 - 1e-12) * total;
            let mut cumulative = 0.0;
            for (i, &w) in self.weights.iter().enumerate() {
                cumulative += w;
                if cumulative >= threshold {
                    keep = i + 1;
                    break;
                }
            }
        }
        let kept = &self.weights[..keep];
        let target = u * kept.iter().sum::<f64>();
        let mut cumulative = 0.0;
        for (i, &w) in kept.iter().enumerate() {
            cumulative += w;
            if cumulative > target {
                return Some(self.order[i]);
            }
        }
        let last = kept.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        Some(self.order[last])
    }
}

multiversion! {
    /// `logits[i] = exp((logits[i] - max) / t)`; returns their sum.
    fn softmax_weights(logits: &mut [f32], max: f32, t: f32) -> f32 {
        for x in logits.iter_mut() {
            *x = exp((*x - max) / t);
        }
        sum_lanes(logits)
    }
}

/// The first index whose running sum of `weights` exceeds `target` (the last positive weight
/// when rounding leaves the running sum short of it).
fn draw_in_place(weights: &[f32], target: f64) -> u32 {
    let mut cumulative = 0.0f64;
    for (i, &w) in weights.iter().enumerate() {
        cumulative += w as f64;
        if cumulative > target {
            return i as u32;
        }
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frequencies(logits: &[f32], sampling: Sampling, n: usize) -> Vec<f64> {
        let mut sampler = Sampler::new(logits.len(), &sampling);
        let mut rng = Rng::new(11);
        let mut counts = vec![0usize; logits.len()];
        let mut scratch = logits.to_vec();
        for _ in 0..n {
            scratch.copy_from_slice(logits);
            counts[sampler.pick(&mut scratch, &mut rng).unwrap() as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    fn logits_of(p: &[f64]) -> Vec<f32> {
        p.iter().map(|&x| x.ln() as f32 + 3.0).collect()
    }

    #[test]
    fn plain_and_tempered_sampling_follow_the_distribution() {
        let p = [0.5, 0.3, 0.15, 0.05];
        for t in [1.0, 0.5, 2.0] {
            let q: Vec<f64> = p.iter().map(|x: &f64| x.powf(1.0 / t)).collect();
            let z: f64 = q.iter().sum();
            let s = Sampling {
                temperature: t,
                ..Sampling::default()
            };
            let f = frequencies(&logits_of(&p), s, 40_000);
            for (a, b) in f.iter().zip(&q) {
                assert!((a - b / z).abs() < 0.01, "t={t}: {f:?}");
            }
        }
    }

    #[test]
    fn top_k_and_top_p_truncate_as_the_python_sampler() {
        let p = [0.05, 0.5, 0.15, 0.3];
        let k2 = Sampling {
            top_k: Some(2),
            ..Sampling::default()
        };
        let f = frequencies(&logits_of(&p), k2, 20_000);
        assert_eq!((f[0], f[2]), (0.0, 0.0));
        assert!((f[1] - 0.5 / 0.8).abs() < 0.015);
        let nucleus = |top_p: f64| Sampling {
            top_p: Some(top_p),
            ..Sampling::default()
        };
        // 0.5 + 0.3 reaches 0.8 exactly: inclusive, so {1, 3}; 0.81 needs id 2 as well.
        let f = frequencies(&logits_of(&p), nucleus(0.8), 5_000);
        assert!(f[0] == 0.0 && f[2] == 0.0 && f[1] > 0.5);
        let f = frequencies(&logits_of(&p), nucleus(0.81), 5_000);
        assert!(f[0] == 0.0 && f[2] > 0.1);
        let both = Sampling {
            top_k: Some(3),
            top_p: Some(0.6),
            ..Sampling::default()
        };
        let f = frequencies(&logits_of(&p), both, 5_000);
        assert!(f[0] == 0.0 && f[2] == 0.0 && f[1] > 0.55);
    }

    #[test]
    fn greedy_and_cold_sampling_take_the_first_maximum() {
        let logits = [0.1f32, 2.0, -1.0, 2.0];
        let greedy = Sampling {
            greedy: true,
            ..Sampling::default()
        };
        assert_eq!(frequencies(&logits, greedy, 10)[1], 1.0);
        let cold = Sampling {
            temperature: 1e-30,
            ..Sampling::default()
        };
        let f = frequencies(&[0.1f32, 2.0, -1.0, 1.9], cold, 1000);
        assert_eq!(f[1], 1.0);
        let mut nan = [0.0f32, f32::NAN];
        assert!(Sampler::new(2, &Sampling::default())
            .pick(&mut nan, &mut Rng::new(1))
            .is_none());
    }
}
