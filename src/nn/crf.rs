//! Linear-chain CRF over per-token emission scores: the negative log-likelihood by the
//! forward algorithm in log space, its gradient by forward-backward marginals, and Viterbi
//! decoding with optional forbidden transitions. Spec: `reference/crf.py` (`crf_forward`,
//! `crf_score`, `crf_nll_and_grads`, `viterbi`, `Constraints`).
//!
//! Scores are time-major `(T*B, K)` (row `t*B + b`), as the tagger produces them; row b's
//! first lengths[b] steps are real. `transitions (K, K)` scores tag i followed by tag j at
//! `[i*K + j]`; `start (K)` and `end (K)` score the first and the last tag. Rows are
//! independent: the batch loop runs rows in parallel and sums the transition gradients in
//! row order (deterministic).

use rayon::prelude::*;

use crate::error::{CoreError, Result};

/// The CRF's parameters.
#[derive(Clone, Copy)]
pub struct CrfWeights<'a> {
    pub transitions: &'a [f32],
    pub start: &'a [f32],
    pub end: &'a [f32],
}

/// Which transitions decoding may use (spec: `Constraints`).
#[derive(Clone, Debug, PartialEq)]
pub struct Constraints {
    /// (K, K): tag i may be followed by tag j at `[i*K + j]`.
    pub allowed: Vec<bool>,
    /// (K): a sentence may start with tag j.
    pub allowed_start: Vec<bool>,
    /// (K): a sentence may end with tag i.
    pub allowed_end: Vec<bool>,
}

impl Constraints {
    /// Check the shapes against `k` tags.
    pub fn check(&self, k: usize) -> Result<()> {
        if self.allowed.len() != k * k
            || self.allowed_start.len() != k
            || self.allowed_end.len() != k
        {
            return Err(CoreError::invalid(
                "constraints",
                format!("expected (allowed ({k}, {k}), allowed_start ({k},), allowed_end ({k},))"),
            ));
        }
        Ok(())
    }
}

/// The gradients of the CRF's parameters, (K*K), (K), (K).
pub struct CrfGrads<'a> {
    pub transitions: &'a mut [f32],
    pub start: &'a mut [f32],
    pub end: &'a mut [f32],
}

fn logsumexp(v: impl Iterator<Item = f32> + Clone) -> f32 {
    let m = v.clone().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return m;
    }
    m + v.map(|x| (x - m).exp()).sum::<f32>().ln()
}

/// The emissions of row `b` at step `t`: `scores[(t*B + b)*K ..][..K]`.
fn emis(scores: &[f32], b_all: usize, k: usize, t: usize, b: usize) -> &[f32] {
    &scores[(t * b_all + b) * k..(t * b_all + b + 1) * k]
}

/// The forward algorithm of one row of length `n`: alpha (n*K) and log Z.
fn forward_row(
    scores: &[f32],
    b_all: usize,
    k: usize,
    b: usize,
    n: usize,
    w: CrfWeights<'_>,
    alpha: &mut [f32],
) -> f32 {
    let e0 = emis(scores, b_all, k, 0, b);
    for j in 0..k {
        alpha[j] = w.start[j] + e0[j];
    }
    for t in 1..n {
        let (prev, cur) = alpha[(t - 1) * k..(t + 1) * k].split_at_mut(k);
        let e = emis(scores, b_all, k, t, b);
        for j in 0..k {
            let prev = &*prev;
            cur[j] = logsumexp((0..k).map(|i| prev[i] + w.transitions[i * k + j])) + e[j];
        }
    }
    let last = &alpha[(n - 1) * k..n * k];
    logsumexp((0..k).map(|j| last[j] + w.end[j]))
}

/// The score of the gold path `tags` (time-major (T*B)) of row `b`.
fn gold_score(
    scores: &[f32],
    b_all: usize,
    k: usize,
    b: usize,
    n: usize,
    tags: &[u32],
    w: CrfWeights<'_>,
) -> f32 {
    let tag = |t: usize| tags[t * b_all + b] as usize;
    let mut s = w.start[tag(0)] + emis(scores, b_all, k, 0, b)[tag(0)];
    for t in 1..n {
        s += w.transitions[tag(t - 1) * k + tag(t)] + emis(scores, b_all, k, t, b)[tag(t)];
    }
    s + w.end[tag(n - 1)]
}

/// What one row contributes: its nll, d(nll)/d(emissions) (n*K), and its transition, start
/// and end gradients.
struct RowGrads {
    nll: f64,
    d_emis: Vec<f32>,
    d_trans: Vec<f32>,
    d_start: Vec<f32>,
    d_end: Vec<f32>,
}

fn row_grads(
    scores: &[f32],
    b_all: usize,
    k: usize,
    b: usize,
    n: usize,
    tags: &[u32],
    w: CrfWeights<'_>,
) -> RowGrads {
    let mut alpha = vec![0.0f32; n * k];
    let log_z = forward_row(scores, b_all, k, b, n, w, &mut alpha);
    let nll = (log_z - gold_score(scores, b_all, k, b, n, tags, w)) as f64;
    let mut beta = vec![0.0f32; n * k];
    beta[(n - 1) * k..].copy_from_slice(w.end);
    for t in (0..n - 1).rev() {
        let (cur, next) = beta[t * k..(t + 2) * k].split_at_mut(k);
        let e = emis(scores, b_all, k, t + 1, b);
        let next = &*next;
        for (i, c) in cur.iter_mut().enumerate() {
            *c = logsumexp((0..k).map(|j| w.transitions[i * k + j] + e[j] + next[j]));
        }
    }
    let mut d_emis: Vec<f32> = alpha
        .iter()
        .zip(&beta)
        .map(|(a, bt)| (a + bt - log_z).exp())
        .collect();
    let mut d_trans = vec![0.0f32; k * k];
    for t in 1..n {
        let e = emis(scores, b_all, k, t, b);
        for i in 0..k {
            let a = alpha[(t - 1) * k + i] - log_z;
            for j in 0..k {
                d_trans[i * k + j] += (a + w.transitions[i * k + j] + e[j] + beta[t * k + j]).exp();
            }
        }
    }
    let mut d_start = d_emis[..k].to_vec();
    let mut d_end = d_emis[(n - 1) * k..].to_vec();
    let tag = |t: usize| tags[t * b_all + b] as usize;
    for t in 0..n {
        d_emis[t * k + tag(t)] -= 1.0;
        if t > 0 {
            d_trans[tag(t - 1) * k + tag(t)] -= 1.0;
        }
    }
    d_start[tag(0)] -= 1.0;
    d_end[tag(n - 1)] -= 1.0;
    RowGrads {
        nll,
        d_emis,
        d_trans,
        d_start,
        d_end,
    }
}

/// The summed negative log-likelihood (f64) of the rows of `scores (T*B, K)` against their
/// `tags (T*B)` (checked by the caller; padding never read). Writes `scale` * d(sum nll)/d
/// scores into `d_scores (T*B, K)` (0 at padded steps) and adds `scale` * the parameter
/// gradients into `grads`.
#[allow(clippy::too_many_arguments)]
pub fn nll_and_grads(
    scores: &[f32],
    k: usize,
    lengths: &[usize],
    tags: &[u32],
    w: CrfWeights<'_>,
    scale: f32,
    d_scores: &mut [f32],
    grads: CrfGrads<'_>,
) -> f64 {
    let b_all = lengths.len();
    let rows: Vec<RowGrads> = lengths
        .par_iter()
        .enumerate()
        .map(|(b, &n)| row_grads(scores, b_all, k, b, n, tags, w))
        .collect();
    let t_all = scores.len() / (b_all * k).max(1);
    d_scores[..t_all * b_all * k].fill(0.0);
    let mut total = 0.0f64;
    for (b, row) in rows.iter().enumerate() {
        total += row.nll;
        for (t, src) in row.d_emis.chunks_exact(k).enumerate() {
            let dst = &mut d_scores[(t * b_all + b) * k..(t * b_all + b + 1) * k];
            for (d, s) in dst.iter_mut().zip(src) {
                *d = s * scale;
            }
        }
        for (g, d) in grads.transitions.iter_mut().zip(&row.d_trans) {
            *g += d * scale;
        }
        for (g, d) in grads.start.iter_mut().zip(&row.d_start) {
            *g += d * scale;
        }
        for (g, d) in grads.end.iter_mut().zip(&row.d_end) {
            *g += d * scale;
        }
    }
    total
}

/// The best path of row `b` (length `n`) with forbidden transitions at -inf (spec:
/// `viterbi`; the lowest index on ties).
fn viterbi_row(
    scores: &[f32],
    b_all: usize,
    k: usize,
    b: usize,
    n: usize,
    w: CrfWeights<'_>,
    constraints: Option<&Constraints>,
) -> Vec<u32> {
    let ninf = f32::NEG_INFINITY;
    let trans = |i: usize, j: usize| match constraints {
        Some(c) if !c.allowed[i * k + j] => ninf,
        _ => w.transitions[i * k + j],
    };
    let e0 = emis(scores, b_all, k, 0, b);
    let mut score: Vec<f32> = (0..k)
        .map(|j| match constraints {
            Some(c) if !c.allowed_start[j] => ninf,
            _ => w.start[j] + e0[j],
        })
        .collect();
    let mut next = vec![0.0f32; k];
    let mut back = vec![0u32; n * k];
    for t in 1..n {
        let e = emis(scores, b_all, k, t, b);
        for j in 0..k {
            let (mut best, mut arg) = (score[0] + trans(0, j), 0);
            for (i, &s) in score.iter().enumerate().skip(1) {
                let v = s + trans(i, j);
                if v > best {
                    best = v;
                    arg = i;
                }
            }
            back[t * k + j] = arg as u32;
            next[j] = best + e[j];
        }
        std::mem::swap(&mut score, &mut next);
    }
    let end = |j: usize| match constraints {
        Some(c) if !c.allowed_end[j] => ninf,
        _ => w.end[j],
    };
    let (mut best, mut arg) = (score[0] + end(0), 0);
    for (j, &s) in score.iter().enumerate().skip(1) {
        if s + end(j) > best {
            best = s + end(j);
            arg = j;
        }
    }
    let mut path = vec![0u32; n];
    path[n - 1] = arg as u32;
    for t in (1..n).rev() {
        path[t - 1] = back[t * k + path[t] as usize];
    }
    path
}

/// The Viterbi path of every row of `scores (T*B, K)`, each of its own length.
pub fn viterbi(
    scores: &[f32],
    k: usize,
    lengths: &[usize],
    w: CrfWeights<'_>,
    constraints: Option<&Constraints>,
) -> Vec<Vec<u32>> {
    let b_all = lengths.len();
    lengths
        .par_iter()
        .enumerate()
        .map(|(b, &n)| viterbi_row(scores, b_all, k, b, n, w, constraints))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All K^n paths of a one-row batch: log Z and the best path by enumeration.
    fn enumerate(scores: &[f32], k: usize, n: usize, w: CrfWeights<'_>) -> (f64, Vec<u32>) {
        let mut scores_all = Vec::new();
        let mut best = (f32::NEG_INFINITY, vec![]);
        for code in 0..k.pow(n as u32) {
            let path: Vec<u32> = (0..n)
                .map(|t| ((code / k.pow(t as u32)) % k) as u32)
                .collect();
            let s = gold_score(scores, 1, k, 0, n, &path, w);
            scores_all.push(s as f64);
            if s > best.0 {
                best = (s, path);
            }
        }
        let m = scores_all.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z = m + scores_all.iter().map(|s| (s - m).exp()).sum::<f64>().ln();
        (z, best.1)
    }

    #[test]
    fn log_partition_and_viterbi_match_enumeration() {
        let k = 3;
        let n = 4;
        let scores: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7 % 5) as f32) * 0.3 - 0.6)
            .collect();
        let trans: Vec<f32> = (0..k * k)
            .map(|i| ((i * 3 % 4) as f32) * 0.25 - 0.4)
            .collect();
        let start = [0.1, -0.2, 0.3];
        let end = [-0.1, 0.4, 0.0];
        let w = CrfWeights {
            transitions: &trans,
            start: &start,
            end: &end,
        };
        let (z, best) = enumerate(&scores, k, n, w);
        let mut alpha = vec![0.0; n * k];
        let log_z = forward_row(&scores, 1, k, 0, n, w, &mut alpha);
        assert!((log_z as f64 - z).abs() < 1e-5, "{log_z} vs {z}");
        assert_eq!(viterbi(&scores, k, &[n], w, None), vec![best]);
    }

    #[test]
    fn constraints_forbid_transitions() {
        // Tag 2 ("I-X") scores highest everywhere but may not start a sentence or follow 0.
        let k = 3;
        let scores = [0.0, 0.0, 5.0, 0.0, 0.0, 5.0];
        let zeros = [0.0; 9];
        let w = CrfWeights {
            transitions: &zeros,
            start: &zeros[..3],
            end: &zeros[..3],
        };
        let c = Constraints {
            allowed: vec![true, true, false, true, true, true, true, true, true],
            allowed_start: vec![true, true, false],
            allowed_end: vec![true; 3],
        };
        assert_eq!(viterbi(&scores, k, &[2], w, None), vec![vec![2, 2]]);
        assert_eq!(viterbi(&scores, k, &[2], w, Some(&c)), vec![vec![1, 2]]);
    }
}
