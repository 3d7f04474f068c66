//! Decoding a [`Seq2Seq`]: greedy, sampled and batched beam search, each row stopping at eos
//! (not part of the output) or after its `max_lengths[b]` tokens; bos is never produced.
//! The whole batch steps together in one decoder call per step. Spec:
//! `reference/seq2seq_decode.py` (`greedy_decode`, `beam_search`); sampling follows
//! `rnnrs.generation.sample_token`'s rules with the core's own random numbers.

use std::cmp::Ordering;

use super::model::{argmax, Seq2Seq, Sources};
use crate::error::{CoreError, Result};
use crate::lm::sampler::{Sampler, Sampling};
use crate::nn::dropout::Rng;
use crate::runtime::threads;

fn check_limits(max_lengths: &[usize], b: usize) -> Result<usize> {
    if max_lengths.len() != b {
        return Err(CoreError::invalid(
            "max_lengths",
            format!(
                "expected one per source row ({b}), got {}",
                max_lengths.len()
            ),
        ));
    }
    if max_lengths.contains(&0) {
        return Err(CoreError::invalid(
            "max_lengths",
            "expected lengths >= 1, got 0",
        ));
    }
    Ok(max_lengths.iter().copied().max().unwrap_or(0))
}

/// The likeliest token at each step (the first on ties).
pub fn greedy(
    model: &mut Seq2Seq,
    src: Sources<'_>,
    max_lengths: &[usize],
) -> Result<Vec<Vec<u32>>> {
    let mut pick = |row: &mut [f32]| Ok(argmax(row, None));
    run(model, src, max_lengths, &mut pick)
}

/// Tokens drawn with temperature / top-k / top-p from `seed` (`sampling.greedy` false).
pub fn sample(
    model: &mut Seq2Seq,
    src: Sources<'_>,
    max_lengths: &[usize],
    sampling: &Sampling,
    seed: u64,
) -> Result<Vec<Vec<u32>>> {
    sampling.validate()?;
    let mut sampler = Sampler::new(model.config().target_vocab, sampling);
    let mut rng = Rng::new(seed);
    let mut pick = |row: &mut [f32]| {
        sampler
            .pick(row, &mut rng)
            .ok_or_else(|| CoreError::invalid("logits", "not finite: the model diverged"))
    };
    run(model, src, max_lengths, &mut pick)
}

/// Step every row with the token `pick` chooses from its logits until eos or its limit.
fn run(
    model: &mut Seq2Seq,
    src: Sources<'_>,
    max_lengths: &[usize],
    pick: &mut (dyn FnMut(&mut [f32]) -> Result<u32> + Send),
) -> Result<Vec<Vec<u32>>> {
    let limit = check_limits(max_lengths, src.lengths.len())?;
    let (bos, eos, v) = {
        let c = model.config();
        (c.bos_id, c.eos_id, c.target_vocab)
    };
    threads::install(|| {
        let (b, s) = model.start_decoding(src, 1)?;
        let mut prev = vec![bos; b];
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
        let mut done = vec![false; b];
        for _ in 0..limit {
            let logits = model.decode_step(b, s, &prev);
            for (bb, row) in logits.chunks_exact_mut(v).enumerate() {
                prev[bb] = pick(row)?;
                if done[bb] {
                    continue;
                }
                if prev[bb] == eos {
                    done[bb] = true;
                } else {
                    out[bb].push(prev[bb]);
                    done[bb] = out[bb].len() >= max_lengths[bb];
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    })?
}

/// log softmax of one row, in f64 from f32 (as the spec's float32 log_softmax then float64).
fn log_softmax(row: &[f32], out: &mut [f64]) {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = row.iter().map(|&x| (x - m).exp()).sum();
    let log_z = total.ln();
    for (o, &x) in out.iter_mut().zip(row) {
        *o = ((x - m) - log_z) as f64;
    }
}

/// The best hypothesis of each row by batched beam search of `width` (ranked by total
/// log-probability / len ** `length_penalty`; the module docs of the spec give the rule).
pub fn beam_search(
    model: &mut Seq2Seq,
    src: Sources<'_>,
    max_lengths: &[usize],
    width: usize,
    length_penalty: f64,
) -> Result<Vec<Vec<u32>>> {
    if width == 0 {
        return Err(CoreError::invalid(
            "width",
            "the beam width must be >= 1, got 0",
        ));
    }
    if !length_penalty.is_finite() {
        return Err(CoreError::invalid(
            "length_penalty",
            "expected a finite number",
        ));
    }
    let b = src.lengths.len();
    let limit = check_limits(max_lengths, b)?;
    let k = width;
    let (bos, eos, v) = {
        let c = model.config();
        (c.bos_id, c.eos_id, c.target_vocab)
    };
    let rank = |total: f64, len: usize| total / (len.max(1) as f64).powf(length_penalty);
    threads::install(|| {
        let (bk, s) = model.start_decoding(src, k)?;
        let mut scores = vec![f64::NEG_INFINITY; bk];
        for bb in 0..b {
            scores[bb * k] = 0.0;
        }
        let mut hyps: Vec<Vec<u32>> = vec![Vec::new(); bk];
        let mut finished: Vec<Vec<(f64, Vec<u32>)>> = vec![Vec::new(); b];
        let mut done = vec![false; b];
        let mut prev = vec![bos; bk];
        let mut logp = vec![0.0f64; bk * v];
        let mut cand: Vec<(f64, usize)> = Vec::with_capacity(k * v);
        for step in 0..limit {
            let logits = model.decode_step(bk, s, &prev);
            for (row, out) in logits.chunks_exact(v).zip(logp.chunks_exact_mut(v)) {
                log_softmax(row, out);
            }
            let mut parent: Vec<usize> = (0..bk).collect();
            for bb in 0..b {
                if done[bb] {
                    continue;
                }
                cand.clear();
                for j in 0..k {
                    let base = scores[bb * k + j];
                    let lp = &logp[(bb * k + j) * v..(bb * k + j + 1) * v];
                    cand.extend(
                        lp.iter()
                            .enumerate()
                            .map(|(tok, &x)| (base + x, j * v + tok)),
                    );
                }
                let order = |x: &(f64, usize), y: &(f64, usize)| -> Ordering {
                    y.0.total_cmp(&x.0).then(x.1.cmp(&y.1))
                };
                let keep = (2 * k).min(cand.len());
                if keep < cand.len() {
                    cand.select_nth_unstable_by(keep - 1, order);
                    cand.truncate(keep);
                }
                cand.sort_unstable_by(order);
                let mut new_scores: Vec<f64> = Vec::with_capacity(k);
                let mut new_hyps: Vec<Vec<u32>> = Vec::with_capacity(k);
                for &(total, flat) in &cand {
                    if total == f64::NEG_INFINITY {
                        break;
                    }
                    let (j, token) = (flat / v, (flat % v) as u32);
                    let from = &hyps[bb * k + j];
                    if token == eos {
                        finished[bb].push((rank(total, from.len() + 1), from.clone()));
                    } else {
                        parent[bb * k + new_hyps.len()] = bb * k + j;
                        let mut h = from.clone();
                        h.push(token);
                        new_scores.push(total);
                        new_hyps.push(h);
                    }
                    if new_hyps.len() == k {
                        break;
                    }
                }
                let best_live = new_hyps
                    .first()
                    .map_or(f64::NEG_INFINITY, |h| rank(new_scores[0], h.len()));
                let mut ranks: Vec<f64> = finished[bb].iter().map(|f| f.0).collect();
                ranks.sort_by(|x, y| y.total_cmp(x));
                if new_hyps.is_empty() || (ranks.len() >= k && ranks[k - 1] >= best_live) {
                    done[bb] = true;
                } else if step + 1 >= max_lengths[bb] {
                    for (sc, h) in new_scores.iter().zip(&new_hyps) {
                        finished[bb].push((rank(*sc, h.len()), h.clone()));
                    }
                    done[bb] = true;
                }
                for j in 0..k {
                    scores[bb * k + j] = new_scores.get(j).copied().unwrap_or(f64::NEG_INFINITY);
                    if let Some(&last) = new_hyps.get(j).and_then(|h| h.last()) {
                        prev[bb * k + j] = last;
                    }
                }
                for (j, h) in new_hyps.into_iter().enumerate() {
                    hyps[bb * k + j] = h;
                }
                for j in new_scores.len()..k {
                    hyps[bb * k + j].clear();
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
            model.reorder(bk, &parent);
        }
        Ok(finished
            .into_iter()
            .map(|f| {
                let mut best: Option<(f64, Vec<u32>)> = None;
                for (r, h) in f {
                    if best.as_ref().is_none_or(|(br, _)| r > *br) {
                        best = Some((r, h));
                    }
                }
                best.map(|(_, h)| h).unwrap_or_default()
            })
            .collect())
    })?
}
