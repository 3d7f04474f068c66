//! The class-factored softmax output layer: P(w|h) = P(c(w)|h) * P(w|c(w), h), exactly
//! normalised. The class part is a plain linear layer + softmax over K classes (the
//! [`decoder`] kernels on (N, K)); the word part scores only the words of the target's class.
//! Spec: `reference/class_softmax.py`.
//!
//! Layout: the word weight (V, H) and bias (V) stay in vocabulary order; the [`ClassMap`]
//! lists each class's words. A chunk's rows are grouped by target class (a counting sort),
//! so each class is one small product: its m rows against its n words, each word row read
//! once per chunk, the (m, n) word logits of a class contiguous. Classes run in parallel; the
//! weight gradient runs in parallel over vocabulary rows (each row belongs to one class, so
//! no two threads write the same row). Cost per token: O(H * (K + |class|)).

use rayon::prelude::*;

use super::decoder;
use super::grow;
use crate::error::{CoreError, Result};
use crate::runtime::simd::{exp, max_lanes, multiversion};

/// The class of every word and the words of every class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassMap {
    /// (V) the class of each word id.
    class_of: Vec<u32>,
    /// (V) the word ids grouped by class, ascending within a class.
    members: Vec<u32>,
    /// (K + 1) class c's words are `members[starts[c]..starts[c + 1]]`.
    starts: Vec<usize>,
    /// (V) the index of each word within its class.
    position: Vec<u32>,
}

impl ClassMap {
    /// The map of `classes` (the class of each of the `vocab` word ids): dense ids 0..K-1,
    /// every class used.
    pub fn new(classes: &[u32], vocab: usize) -> Result<Self> {
        if classes.len() != vocab {
            return Err(CoreError::invalid(
                "classes",
                format!(
                    "expected {vocab} class ids (one per word), got {}",
                    classes.len()
                ),
            ));
        }
        let k = classes.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
        let mut starts = vec![0usize; k + 1];
        for &c in classes {
            starts[c as usize + 1] += 1;
        }
        if let Some(c) = (0..k).find(|&c| starts[c + 1] == 0) {
            return Err(CoreError::invalid(
                "classes",
                format!("expected dense class ids 0..{k}, class {c} has no word"),
            ));
        }
        for c in 0..k {
            starts[c + 1] += starts[c];
        }
        let mut fill = starts[..k].to_vec();
        let mut members = vec![0u32; vocab];
        let mut position = vec![0u32; vocab];
        for (w, &c) in classes.iter().enumerate() {
            let c = c as usize;
            members[fill[c]] = w as u32;
            position[w] = (fill[c] - starts[c]) as u32;
            fill[c] += 1;
        }
        Ok(ClassMap {
            class_of: classes.to_vec(),
            members,
            starts,
            position,
        })
    }

    pub fn num_classes(&self) -> usize {
        self.starts.len() - 1
    }

    /// The class of every word id (V).
    pub fn classes(&self) -> &[u32] {
        &self.class_of
    }

    /// The word ids of class `c`, ascending.
    pub fn members(&self, c: usize) -> &[u32] {
        &self.members[self.starts[c]..self.starts[c + 1]]
    }
}

/// The output layer's tensors: word weight (V, H), word bias (V), class weight (K, H), class
/// bias (K).
#[derive(Clone, Copy)]
pub struct ClassWeights<'a> {
    pub w: &'a [f32],
    pub b: &'a [f32],
    pub wc: &'a [f32],
    pub bc: &'a [f32],
}

/// Gradient buffers of [`ClassWeights`] (added into).
pub struct ClassGrads<'a> {
    pub w: &'a mut [f32],
    pub b: &'a mut [f32],
    pub wc: &'a mut [f32],
    pub bc: &'a mut [f32],
}

/// Buffers of one chunk, reused from call to call.
#[derive(Default)]
pub struct ClassWorkspace {
    /// (N, K) class logits; their gradient after a loss with gradients.
    class_logits: Vec<f32>,
    /// (N) target classes.
    target_class: Vec<u32>,
    /// Row indices sorted by target class; rows of class c are
    /// `order[row_starts[c]..row_starts[c + 1]]`; `slot[r]` is row r's index in `order`.
    order: Vec<u32>,
    row_starts: Vec<usize>,
    slot: Vec<u32>,
    /// Per class, its (m, n) word logits (their gradient after a loss with gradients) at
    /// `word_starts[c]`.
    words: Vec<f32>,
    word_starts: Vec<usize>,
    /// (N) row losses; (N, H) the word part of dL/dh in `order`.
    row_loss: Vec<f64>,
    dh_sorted: Vec<f32>,
}

multiversion! {
    /// `z (m, n) = h[rows] · w[words]^T + b[words]`: each word row read once.
    fn class_logits_block(h: &[f32], hid: usize, rows: &[u32], w: &[f32], b: &[f32],
                          words: &[u32], z: &mut [f32]) {
        let n = words.len();
        for (j, &word) in words.iter().enumerate() {
            let wr = &w[word as usize * hid..(word as usize + 1) * hid];
            for (i, &r) in rows.iter().enumerate() {
                let hr = &h[r as usize * hid..(r as usize + 1) * hid];
                z[i * n + j] = b[word as usize] + dot(hr, wr);
            }
        }
    }
}

multiversion! {
    /// `dh (m, H) = dz (m, n) · w[words]`: each word row read once.
    fn class_input_grad_block(dz: &[f32], w: &[f32], hid: usize, words: &[u32], dh: &mut [f32]) {
        let n = words.len();
        dh.fill(0.0);
        for (j, &word) in words.iter().enumerate() {
            let wr = &w[word as usize * hid..(word as usize + 1) * hid];
            for (i, dhr) in dh.chunks_exact_mut(hid).enumerate() {
                let g = dz[i * n + j];
                for (d, &x) in dhr.iter_mut().zip(wr) {
                    *d += g * x;
                }
            }
        }
    }
}

multiversion! {
    /// One word's gradient: `dw (H) += sum_i dz[i, j] h[rows[i]]`, returns `sum_i dz[i, j]`.
    fn word_weight_grad(dz: &[f32], n: usize, j: usize, h: &[f32], hid: usize, rows: &[u32],
                        dw: &mut [f32]) -> f32 {
        let mut db = 0.0f32;
        for (i, &r) in rows.iter().enumerate() {
            let g = dz[i * n + j];
            db += g;
            let hr = &h[r as usize * hid..(r as usize + 1) * hid];
            for (d, &x) in dw.iter_mut().zip(hr) {
                *d += g * x;
            }
        }
        db
    }
}

multiversion! {
    /// Turn a row's class logits (K) and word logits (V) into log P(w|h) in `words`:
    /// the class's log softmax plus the word's log softmax within its class.
    fn log_probs_row(map: &ClassMap, class_row: &mut [f32], words: &mut [f32]) {
        log_softmax_in_place(class_row, exp);
        for (c, &class_logp) in class_row.iter().enumerate() {
            let ids = map.members(c);
            let mut m = f32::NEG_INFINITY;
            for &w in ids {
                let z = words[w as usize];
                m = if z > m { z } else { m };
            }
            let mut s = 0.0f32;
            for &w in ids {
                s += exp(words[w as usize] - m);
            }
            let shift = class_logp - m - s.ln();
            for &w in ids {
                words[w as usize] += shift;
            }
        }
    }
}

/// Dot product with 16 independent lanes (vectorizes under the caller's target features).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = 0.0f32;
    for (x, y) in ta.iter().zip(tb) {
        s += x * y;
    }
    s + acc.iter().sum::<f32>()
}

/// `row -= logsumexp(row)`. `exp` is the caller's (see `simd::multiversion!`).
#[inline(always)]
fn log_softmax_in_place(row: &mut [f32], exp: impl Fn(f32) -> f32) {
    let m = max_lanes(row);
    let s: f32 = row.iter().map(|&x| exp(x - m)).sum();
    let lse = m + s.ln();
    for x in row.iter_mut() {
        *x -= lse;
    }
}

/// Split `buf` into the consecutive pieces `bounds[c]..bounds[c + 1]`.
fn segments<'a>(mut buf: &'a mut [f32], bounds: &[usize]) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(bounds.len().saturating_sub(1));
    for pair in bounds.windows(2) {
        let (head, tail) = std::mem::take(&mut buf).split_at_mut(pair[1] - pair[0]);
        out.push(head);
        buf = tail;
    }
    out
}

impl ClassWorkspace {
    /// Group the rows of `targets` by class (counting sort, rows ascending within a class).
    fn group(&mut self, map: &ClassMap, targets: &[u32]) {
        let (n, k) = (targets.len(), map.num_classes());
        self.target_class.clear();
        self.target_class
            .extend(targets.iter().map(|&t| map.class_of[t as usize]));
        self.row_starts.clear();
        self.row_starts.resize(k + 1, 0);
        for &c in &self.target_class {
            self.row_starts[c as usize + 1] += 1;
        }
        for c in 0..k {
            self.row_starts[c + 1] += self.row_starts[c];
        }
        grow(&mut self.order, n);
        grow(&mut self.slot, n);
        let mut fill = self.row_starts[..k].to_vec();
        for (r, &c) in self.target_class.iter().enumerate() {
            let at = &mut fill[c as usize];
            self.order[*at] = r as u32;
            self.slot[r] = *at as u32;
            *at += 1;
        }
        self.word_starts.clear();
        self.word_starts.push(0);
        for c in 0..k {
            let m = self.row_starts[c + 1] - self.row_starts[c];
            let size = m * map.members(c).len();
            self.word_starts.push(self.word_starts[c] + size);
        }
    }
}

/// Summed -log P(target|h) (nats) over the N rows of `h (N, H)`. With `grad_scale` the
/// workspace keeps `grad_scale *` dL/dlogits of both parts for [`backward`].
pub fn loss(
    map: &ClassMap,
    wts: ClassWeights<'_>,
    h: &[f32],
    hid: usize,
    targets: &[u32],
    ws: &mut ClassWorkspace,
    grad_scale: Option<f32>,
) -> f64 {
    let (n, k) = (targets.len(), map.num_classes());
    ws.group(map, targets);
    grow(&mut ws.class_logits, n * k);
    grow(&mut ws.row_loss, n);
    decoder::logits(h, n, hid, wts.wc, wts.bc, &mut ws.class_logits);
    decoder::cross_entropy(
        &mut ws.class_logits,
        k,
        &ws.target_class,
        &mut ws.row_loss,
        grad_scale,
    );
    let class_loss: f64 = ws.row_loss[..n].iter().sum();
    grow(&mut ws.words, ws.word_starts[k]);
    let ClassWorkspace {
        order,
        row_starts,
        words,
        word_starts,
        ..
    } = ws;
    let word_loss: f64 = segments(&mut words[..word_starts[k]], word_starts)
        .into_par_iter()
        .enumerate()
        .map(|(c, z)| {
            let rows = &order[row_starts[c]..row_starts[c + 1]];
            let ids = map.members(c);
            if rows.is_empty() {
                return 0.0;
            }
            class_logits_block(h, hid, rows, wts.w, wts.b, ids, z);
            z.chunks_exact_mut(ids.len())
                .zip(rows)
                .map(|(row, &r)| {
                    let pos = map.position[targets[r as usize] as usize] as usize;
                    decoder::xent_row(row, pos, grad_scale)
                })
                .sum::<f64>()
        })
        .sum();
    class_loss + word_loss
}

/// Backward of [`loss`] with gradients (same `h`, `targets` and workspace): adds into the
/// weight gradients and overwrites `dh (N, H)`.
pub fn backward(
    map: &ClassMap,
    wts: ClassWeights<'_>,
    h: &[f32],
    hid: usize,
    ws: &mut ClassWorkspace,
    grads: ClassGrads<'_>,
    dh: &mut [f32],
) {
    let (n, k) = (ws.target_class.len(), map.num_classes());
    decoder::backward_weights(&ws.class_logits, n, k, h, hid, grads.wc, grads.bc);
    decoder::backward_input(&ws.class_logits, n, k, wts.wc, hid, dh);
    grow(&mut ws.dh_sorted, n * hid);
    let ClassWorkspace {
        order,
        row_starts,
        slot,
        words,
        word_starts,
        dh_sorted,
        ..
    } = ws;
    let (order, row_starts, words, word_starts) = (&*order, &*row_starts, &*words, &*word_starts);
    let dh_bounds: Vec<usize> = row_starts.iter().map(|&r| r * hid).collect();
    segments(&mut dh_sorted[..n * hid], &dh_bounds)
        .into_par_iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .for_each(|(c, d)| {
            let dz = &words[word_starts[c]..word_starts[c + 1]];
            class_input_grad_block(dz, wts.w, hid, map.members(c), d);
        });
    dh[..n * hid]
        .par_chunks_mut(hid)
        .zip(slot[..n].par_iter())
        .for_each(|(d, &s)| {
            let from = &dh_sorted[s as usize * hid..(s as usize + 1) * hid];
            for (a, &b) in d.iter_mut().zip(from) {
                *a += b;
            }
        });
    grads
        .w
        .par_chunks_mut(hid)
        .zip(grads.b.par_iter_mut())
        .enumerate()
        .with_min_len(64)
        .for_each(|(word, (dw, db))| {
            let c = map.class_of[word] as usize;
            let rows = &order[row_starts[c]..row_starts[c + 1]];
            if rows.is_empty() {
                return;
            }
            let dz = &words[word_starts[c]..word_starts[c + 1]];
            let (nc, j) = (map.members(c).len(), map.position[word] as usize);
            *db += word_weight_grad(dz, nc, j, h, hid, rows, dw);
        });
}

/// log P(w|h) for every word: `out (N, V)`, each row's exponentials summing to 1 (the full
/// product N x V x H: for evaluation, scoring and generation).
pub fn log_probs(
    map: &ClassMap,
    wts: ClassWeights<'_>,
    h: &[f32],
    n: usize,
    hid: usize,
    ws: &mut ClassWorkspace,
    out: &mut [f32],
) {
    let (k, v) = (map.num_classes(), wts.b.len());
    grow(&mut ws.class_logits, n * k);
    decoder::logits(h, n, hid, wts.wc, wts.bc, &mut ws.class_logits);
    decoder::logits(h, n, hid, wts.w, wts.b, out);
    out[..n * v]
        .par_chunks_mut(v)
        .zip(ws.class_logits[..n * k].par_chunks_mut(k))
        .for_each(|(row, class_row)| log_probs_row(map, class_row, row));
}

/// One row of [`log_probs`] from its class logits (K, overwritten) and word logits (V,
/// turned into log-probabilities in place): the generation step's tail.
pub fn log_probs_in_place(map: &ClassMap, class_row: &mut [f32], words: &mut [f32]) {
    log_probs_row(map, class_row, words);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_groups_words_and_rejects_gaps() {
        let map = ClassMap::new(&[1, 0, 1, 0, 2], 5).expect("dense");
        assert_eq!(map.num_classes(), 3);
        assert_eq!((map.members(0), map.members(1)), (&[1, 3][..], &[0, 2][..]));
        assert_eq!(map.position, vec![0, 0, 1, 1, 0]);
        assert!(ClassMap::new(&[0, 2, 2], 3).is_err());
        assert!(ClassMap::new(&[0, 0], 3).is_err());
    }

    #[test]
    fn loss_matches_the_log_probs_and_rows_sum_to_one() {
        let (v, hid, n) = (7, 5, 6);
        let map = ClassMap::new(&[0, 1, 2, 0, 1, 2, 2], v).expect("dense");
        let vals = |len: usize, s: usize| -> Vec<f32> {
            (0..len)
                .map(|i| (((i * 31 + s * 17) % 23) as f32 / 23.0 - 0.5) * 0.8)
                .collect()
        };
        let (w, b, wc, bc, h) = (
            vals(v * hid, 1),
            vals(v, 2),
            vals(3 * hid, 3),
            vals(3, 4),
            vals(n * hid, 5),
        );
        let wts = ClassWeights {
            w: &w,
            b: &b,
            wc: &wc,
            bc: &bc,
        };
        let targets = [0u32, 6, 3, 2, 2, 5];
        let mut ws = ClassWorkspace::default();
        let total = loss(&map, wts, &h, hid, &targets, &mut ws, None);
        let mut lp = vec![0.0f32; n * v];
        log_probs(&map, wts, &h, n, hid, &mut ws, &mut lp);
        let mut want = 0.0f64;
        for (r, row) in lp.chunks_exact(v).enumerate() {
            let s: f64 = row.iter().map(|&x| (x as f64).exp()).sum();
            assert!((s - 1.0).abs() < 1e-5, "row {r} sums to {s}");
            want -= row[targets[r] as usize] as f64;
        }
        assert!((total - want).abs() < 1e-4, "{total} vs {want}");
    }
}
