//! Smoothing: from raw counts to a backoff model, for every method (formulas in
//! docs/ngram.md).
//!
//! Spec: python/rnnrs/reference/ngram.py::estimate, matched to 1e-9 (the stages here:
//! `EstimationCounts` is its `adjusted_counts`, `discounts` its `mkn_discounts` and
//! `single_discount`, `OrderInputs` its per-order loop).

use std::ops::Range;

use rayon::prelude::*;

use super::counts::{pack, unpack, word_bits, NGramCounts};
use super::model::{Levels, Model};
use super::sort::{cut_between, sort_pairs, Pair, WriteByVal};
use super::sorted::SortedLevel;
use super::store::{prefetch, ProbBow, Store, BLANK};
use super::vocab::{Vocab, BOS};
use crate::{CoreError, Result};

/// A smoothing method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Mle,
    AddK,
    WittenBell,
    Absolute,
    KneserNey,
    ModifiedKneserNey,
    StupidBackoff,
}

/// Method names, as the Python API spells them.
pub const METHOD_NAMES: [&str; 7] = [
    "mle",
    "add_k",
    "witten_bell",
    "absolute",
    "kneser_ney",
    "modified_kneser_ney",
    "stupid_backoff",
];

/// KenLM's `--discount_fallback` discounts for modified Kneser-Ney (counts 1, 2, 3+).
pub const FALLBACK_MKN: [f64; 3] = [0.5, 1.0, 1.5];
/// The fallback of the single-discount methods.
pub const FALLBACK_SINGLE: f64 = 0.75;

impl Method {
    /// Parse a method name (`laplace` is `add_k`).
    pub fn parse(name: &str) -> Result<Method> {
        Ok(match name {
            "mle" => Method::Mle,
            "add_k" | "laplace" => Method::AddK,
            "witten_bell" => Method::WittenBell,
            "absolute" => Method::Absolute,
            "kneser_ney" => Method::KneserNey,
            "modified_kneser_ney" => Method::ModifiedKneserNey,
            "stupid_backoff" => Method::StupidBackoff,
            _ => {
                return Err(CoreError::invalid(
                    "smoothing",
                    format!("expected one of {}, got {name:?}", METHOD_NAMES.join(", ")),
                ))
            }
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        METHOD_NAMES[self as usize]
    }

    pub(crate) fn interpolated(self) -> bool {
        matches!(
            self,
            Method::WittenBell | Method::Absolute | Method::KneserNey | Method::ModifiedKneserNey
        )
    }

    pub(crate) fn adjusted(self) -> bool {
        matches!(self, Method::KneserNey | Method::ModifiedKneserNey)
    }
}

/// A method and its knobs.
#[derive(Clone, Debug)]
pub struct Smoothing {
    pub method: Method,
    /// add_k: the pseudo-count.
    pub k: f64,
    /// absolute, kneser_ney: a fixed discount (None: estimated per order).
    pub discount: Option<f64>,
    /// stupid_backoff: the penalty per backoff step.
    pub alpha: f64,
    /// Use the FALLBACK_* discounts where an estimate is invalid instead of failing.
    pub discount_fallback: bool,
    /// Per order (index n-1): n-grams of order >= 2 with a raw count below it are pruned.
    pub min_counts: Vec<u64>,
}

impl Smoothing {
    /// The default knobs for `method`.
    pub fn new(method: Method) -> Smoothing {
        Smoothing {
            method,
            k: 1.0,
            discount: None,
            alpha: 0.4,
            discount_fallback: false,
            min_counts: Vec::new(),
        }
    }

    /// Check every knob against the model order.
    pub fn validate(&self, order: usize) -> Result<()> {
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(CoreError::invalid(
                "k",
                format!("must be > 0, got {}", self.k),
            ));
        }
        if let Some(d) = self.discount {
            if !(d > 0.0 && d <= 1.0) {
                return Err(CoreError::invalid(
                    "discount",
                    format!("must be in (0, 1], got {d}"),
                ));
            }
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(CoreError::invalid(
                "alpha",
                format!("must be in (0, 1], got {}", self.alpha),
            ));
        }
        let m = &self.min_counts;
        if !m.is_empty() {
            if m.len() != order {
                return Err(CoreError::invalid(
                    "min_counts",
                    format!(
                        "expected one threshold per order ({order}), got {}",
                        m.len()
                    ),
                ));
            }
            if m[0] > 1 {
                return Err(CoreError::invalid(
                    "min_counts",
                    "unigrams are never pruned: the first threshold must be 0 or 1",
                ));
            }
            if m[1..].windows(2).any(|w| w[1] < w[0]) {
                return Err(CoreError::invalid(
                    "min_counts",
                    format!("thresholds must not decrease with the order, got {m:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// Counts-of-counts `[t0, t1, t2, t3, t4]` of the given counts (zeros ignored).
pub fn counts_of_counts(counts: &[u64]) -> [u64; 5] {
    let mut t = [0u64; 5];
    for &c in counts {
        if (1..=4).contains(&c) {
            t[c as usize] += 1;
        }
    }
    t
}

/// Modified Kneser-Ney's discounts of one order (Chen & Goodman eq. 26, as lmplz).
pub fn mkn_discounts(t: &[u64; 5], order: usize, fallback: bool) -> Result<[f64; 3]> {
    let problem = if let Some(k) = (1..=3).find(|&k| t[k] == 0) {
        format!("no {order}-grams with adjusted count {k}")
    } else {
        let y = t[1] as f64 / (t[1] as f64 + 2.0 * t[2] as f64);
        let d: [f64; 3] = std::array::from_fn(|i| {
            let k = i + 1;
            k as f64 - (k + 1) as f64 * y * t[k + 1] as f64 / t[k] as f64
        });
        match (1..=3).find(|&k| !(0.0..=k as f64).contains(&d[k - 1])) {
            None => return Ok(d),
            Some(k) => format!(
                "{order}-gram discount D({k}) = {:.4} out of [0, {k}]",
                d[k - 1]
            ),
        }
    };
    if fallback {
        return Ok(FALLBACK_MKN);
    }
    Err(CoreError::invalid(
        "smoothing",
        format!(
            "cannot estimate modified Kneser-Ney discounts: {problem} (counts-of-counts {:?}); \
             is the corpus tiny or artificial? Pass discount_fallback=True to use {:?}, or \
             choose another smoothing",
            &t[1..],
            FALLBACK_MKN
        ),
    ))
}

/// The single discount of an order, `t1 / (t1 + 2 t2)`.
pub fn single_discount(t: &[u64; 5], order: usize, fallback: bool) -> Result<f64> {
    if t[1] > 0 {
        return Ok(t[1] as f64 / (t[1] as f64 + 2.0 * t[2] as f64));
    }
    if fallback {
        return Ok(FALLBACK_SINGLE);
    }
    Err(CoreError::invalid(
        "smoothing",
        format!(
            "cannot estimate the discount of order {order}: no {order}-grams seen once; pass \
             discount= or discount_fallback=True (uses {FALLBACK_SINGLE})"
        ),
    ))
}

pub(crate) fn log10(x: f64) -> f64 {
    if x > 0.0 {
        x.log10()
    } else {
        f64::NEG_INFINITY
    }
}

/// What estimation reads beside the raw counts, order by order: the index of each
/// n-gram's suffix (its words but the first) at the order below, and the continuation
/// counts (distinct left extensions) of every order below the highest.
struct Suffixes {
    /// `suffix[n][g]` for n >= 2 (bigrams: the word).
    suffix: Vec<Vec<u32>>,
    /// `cont[n][g]` for n < order.
    cont: Vec<Vec<u64>>,
}

/// The suffix of `(parent, w)` is `(suffix of parent, w)` one order down. The keys of all
/// suffixes of an order are radix-sorted and joined with the sorted keys of the order below
/// in one ordered pass; the run lengths are the continuation counts.
fn suffixes(c: &NGramCounts) -> Result<Suffixes> {
    let order = c.order();
    let wb = word_bits(c.vocab.len());
    let mut suffix: Vec<Vec<u32>> = vec![Vec::new(); order + 1];
    let mut cont: Vec<Vec<u64>> = vec![Vec::new(); order + 1];
    if order >= 2 {
        let words: Vec<u32> = c.levels[0].keys.iter().map(|&k| unpack(k).1).collect();
        let mut a = vec![0u64; c.vocab.len()];
        for &w in &words {
            a[w as usize] += 1;
        }
        suffix[2] = words;
        cont[1] = a;
    }
    let (mut pairs, mut scratch) = (Vec::new(), Vec::new());
    for n in 3..=order {
        let keys = &c.levels[n - 2].keys;
        let below = &c.levels[n - 3].keys;
        let up = &suffix[n - 1];
        pairs.clear();
        pairs.par_extend(keys.par_iter().enumerate().map(|(g, &key)| {
            let (p, w) = unpack(key);
            Pair {
                key: ((up[p as usize] as u64) << wb) | w as u64,
                val: g as u32,
            }
        }));
        sort_pairs(&mut pairs, &mut scratch);
        let mut s = vec![0u32; keys.len()];
        let mut a = vec![0u64; below.len()];
        join_suffixes(&pairs, below, wb, &mut s, &mut a)?;
        suffix[n] = s;
        cont[n - 1] = a;
    }
    Ok(Suffixes { suffix, cont })
}

/// Find each suffix (sorted `pairs` of keys `(suffix of the parent << wb) | word` and the
/// n-gram's index) among the sorted keys `below` of the order down: `s[n-gram]` becomes its
/// index there, and `a[index]` counts the n-grams sharing it (the continuation counts). In
/// parallel over parts of the pairs cut between keys, so each part owns its range of `a`.
fn join_suffixes(
    pairs: &[Pair],
    below: &[u64],
    wb: u32,
    s: &mut [u32],
    a: &mut [u64],
) -> Result<()> {
    let mask = (1u64 << wb) - 1;
    let want = |p: &Pair| pack((p.key >> wb) as u32, (p.key & mask) as u32);
    let cuts = cut_between(pairs.len(), |i| pairs[i].key == pairs[i - 1].key);
    // Each part: its pairs, where its range of `below` starts, and that range of `a`.
    let mut tasks = Vec::with_capacity(cuts.len());
    let mut rest = a;
    let mut at = 0;
    for w in cuts.windows(2) {
        let end = match pairs.get(w[1]) {
            Some(next) => below.partition_point(|&k| k < want(next)),
            None => below.len(),
        }
        .max(at);
        let (mine, tail) = std::mem::take(&mut rest).split_at_mut(end - at);
        tasks.push((&pairs[w[0]..w[1]], at, mine));
        (rest, at) = (tail, end);
    }
    let out = WriteByVal::new(s);
    tasks.into_par_iter().try_for_each(|(part, first, a)| {
        let mut j = first;
        for p in part {
            let want = want(p);
            while below.get(j).is_some_and(|&k| k < want) {
                j += 1;
            }
            if below.get(j) != Some(&want) || j - first >= a.len() {
                return Err(CoreError::invalid(
                    "counts",
                    "inconsistent tables: a suffix is missing",
                ));
            }
            // SAFETY: the pairs' `val`s are distinct n-gram indices.
            unsafe { out.write(p.val as usize, j as u32) };
            a[j - first] += 1;
        }
        Ok(())
    })
}

/// The n-grams of order n starting with `<s>`: one range of indices (keys are sorted).
fn bos_range(c: &NGramCounts, n: usize) -> (usize, usize) {
    if n == 1 {
        return (BOS as usize, BOS as usize + 1);
    }
    let (lo, hi) = bos_range(c, n - 1);
    let keys = &c.levels[n - 2].keys;
    let at = |p: usize| keys.partition_point(|&k| k < pack(p as u32, 0));
    (at(lo), at(hi))
}

/// The parent (context) index of n-gram g of order n (unigrams: the one empty context).
#[inline(always)]
fn parent(c: &NGramCounts, n: usize, g: usize) -> usize {
    if n == 1 {
        0
    } else {
        unpack(c.levels[n - 2].keys[g]).0 as usize
    }
}

/// Estimate a model from counts with a smoothing method.
pub fn estimate(counts: &NGramCounts, smoothing: &Smoothing) -> Result<Model> {
    check(counts, smoothing)?;
    let (lin, bows) = probabilities(counts, smoothing)?;
    let keys = counts.levels.iter().map(|l| l.keys.clone()).collect();
    build(
        counts.vocab.clone(),
        counts.order(),
        keys,
        lin,
        bows,
        smoothing,
    )
}

/// [`estimate`], freeing the counts as soon as they are read (less peak memory).
pub fn estimate_consuming(mut counts: NGramCounts, smoothing: &Smoothing) -> Result<Model> {
    check(&counts, smoothing)?;
    let (lin, bows) = probabilities(&counts, smoothing)?;
    // Only the words of each n-gram are needed from here on.
    let keys = std::mem::take(&mut counts.levels)
        .into_iter()
        .map(|l| l.keys)
        .collect();
    let vocab = std::mem::take(&mut counts.vocab);
    let order = counts.order();
    drop(counts);
    build(vocab, order, keys, lin, bows, smoothing)
}

fn check(counts: &NGramCounts, smoothing: &Smoothing) -> Result<()> {
    smoothing.validate(counts.order())?;
    if counts.tokens() == 0 {
        return Err(CoreError::invalid(
            "corpus",
            "is empty: no sentence has a token",
        ));
    }
    Ok(())
}

/// Per context: the sum of its n-grams' counts and how many of them have each count class
/// 1, 2 and 3+ (the discounts' multiplicities; together, how many there are). All
/// integers, so a context's sums do not depend on the order its words are numbered in:
/// counts merged from shards in any order estimate the same model. 24 bytes, as one
/// context's sums took before the classes were kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub(crate) total: u64,
    pub(crate) classes: [u32; 3],
}

impl Sums {
    pub(crate) fn add(&mut self, x: u64) {
        self.total += x;
        self.classes[(x.min(3) - 1) as usize] += 1;
    }

    /// How many n-grams the context has.
    #[inline(always)]
    pub(crate) fn items(&self) -> u64 {
        self.classes.iter().map(|&c| c as u64).sum()
    }

    /// `Σ D(a)` over the context's n-grams, as KenLM computes it: `D1 n1 + D2 n2 + D3 n3+`.
    pub(crate) fn discount_mass(&self, d: &[f64; 3]) -> f64 {
        d[0] * self.classes[0] as f64
            + d[1] * self.classes[1] as f64
            + d[2] * self.classes[2] as f64
    }
}

/// The method's own part of p(w|c), `α(c, w)`, for a count `x` in a context whose sums are
/// `sums`; `d` the order's discounts, `v` = |V|. One function for the in-memory and the
/// streaming estimators (src/ngram/external.rs), so both compute the same bits.
#[inline(always)]
pub(crate) fn alpha(smoothing: &Smoothing, d: &[f64; 3], v: f64, x: u64, sums: &Sums) -> f64 {
    let x = x as f64;
    let total = sums.total as f64;
    let k = smoothing.k;
    match smoothing.method {
        Method::ModifiedKneserNey | Method::KneserNey | Method::Absolute => {
            (x - d[(x.min(3.0) as usize) - 1]) / total
        }
        Method::WittenBell => x / (total + sums.items() as f64),
        Method::AddK => (x + k) / (total + k * v),
        Method::Mle | Method::StupidBackoff => x / total,
    }
}

/// `Σ α(c, w)` over the n-grams `pruned` sums up in a context whose sums are `sums`, in
/// closed form (the same whatever the order of the words).
pub(crate) fn pruned_mass(
    smoothing: &Smoothing,
    d: &[f64; 3],
    v: f64,
    pruned: &Sums,
    sums: &Sums,
) -> f64 {
    let x = pruned.total as f64;
    let total = sums.total as f64;
    let k = smoothing.k;
    match smoothing.method {
        Method::ModifiedKneserNey | Method::KneserNey | Method::Absolute => {
            (x - pruned.discount_mass(d)) / total
        }
        Method::WittenBell => x / (total + sums.items() as f64),
        Method::AddK => (x + k * pruned.items() as f64) / (total + k * v),
        Method::Mle | Method::StupidBackoff => x / total,
    }
}

/// An interpolated method's `γ(c)` from the context's sums (and those of its pruned
/// n-grams).
pub(crate) fn gamma(smoothing: &Smoothing, d: &[f64; 3], v: f64, s: &Sums, pruned: &Sums) -> f64 {
    let mut g = match smoothing.method {
        Method::WittenBell => s.items() as f64 / (s.total + s.items()) as f64,
        _ => s.discount_mass(d) / s.total as f64,
    };
    if pruned.items() > 0 {
        g += pruned_mass(smoothing, d, v, pruned, s);
    }
    g
}

/// Where to cut the `len` n-grams of order n into about `parts` parallel tasks without
/// splitting a context: `(first n-gram, first context)` of each task, then `(len, nctx)`.
/// Each context's n-grams stay in one task, summed in order, so results do not depend on
/// the number of threads.
fn context_cuts(c: &NGramCounts, n: usize, len: usize, nctx: usize) -> Vec<(usize, usize)> {
    let parts = 4 * rayon::current_num_threads();
    let mut cuts = vec![(0, 0)];
    if n > 1 {
        let step = len.div_ceil(parts).max(1 << 12);
        let mut g = step;
        while g < len {
            let ctx = parent(c, n, g);
            // Back to the context's first n-gram.
            let keys = &c.levels[n - 2].keys;
            let first = keys[..g].partition_point(|&k| (unpack(k).0 as usize) < ctx);
            if first > cuts[cuts.len() - 1].0 {
                cuts.push((first, ctx));
            }
            g = first.max(g) + step;
        }
    }
    cuts.push((len, nctx));
    cuts
}

/// Run `f(n-grams, first context, per-context slice)` over the tasks of `cuts` in parallel,
/// each with the part of `per_ctx` that belongs to its contexts.
fn for_contexts<T: Send>(
    cuts: &[(usize, usize)],
    per_ctx: &mut [T],
    f: impl Fn(Range<usize>, usize, &mut [T]) + Sync,
) {
    let mut tasks = Vec::with_capacity(cuts.len());
    let mut rest = per_ctx;
    for w in cuts.windows(2) {
        let (mine, tail) = std::mem::take(&mut rest).split_at_mut(w[1].1 - w[0].1);
        tasks.push((w[0].0..w[1].0, w[0].1, mine));
        rest = tail;
    }
    tasks
        .into_par_iter()
        .for_each(|(grams, first, mine)| f(grams, first, mine));
}

/// N-grams per parallel task when their probabilities are computed.
const PROB_CHUNK: usize = 1 << 14;
/// How many n-grams ahead the probability of the suffix is prefetched.
const LOWER_AHEAD: usize = 16;

/// Per order: the probability of every n-gram (NaN: pruned) and the log10 backoff of
/// every n-gram as a context.
type Estimates = (Vec<Vec<f64>>, Vec<Vec<f64>>);

/// Every order's probabilities and backoffs, from the unigrams up: each order reads the
/// probabilities of the order below. Per order: the discounts from its counts-of-counts,
/// the per-context sums, then one of three ways to probabilities (see [`OrderInputs`]).
fn probabilities(counts: &NGramCounts, smoothing: &Smoothing) -> Result<Estimates> {
    let order = counts.order();
    let Suffixes { suffix, cont } = suffixes(counts)?;
    let est = EstimationCounts::new(counts, smoothing.method, cont);
    let mut lin: Vec<Vec<f64>> = vec![Vec::new(); order + 1];
    // Per-context buffers, reused from order to order (fresh memory costs a page fault
    // per 4 kB).
    let mut sums: Vec<Sums> = Vec::new();
    let mut gamma: Vec<f64> = Vec::new();
    let mut bows: Vec<Vec<f64>> = (0..=order)
        .map(|n| vec![0.0; counts.raw_counts(n.max(1)).len()])
        .collect();
    for n in 1..=order {
        let a = est.of(n);
        let d = discounts(smoothing, &counts_of_counts(a), n)?;
        let nctx = if n == 1 {
            1
        } else {
            counts.raw_counts(n - 1).len()
        };
        let cuts = context_cuts(counts, n, a.len(), nctx);
        context_sums(counts, n, a, &cuts, nctx, &mut sums);
        let inputs = OrderInputs {
            counts,
            smoothing,
            n,
            a,
            raw: counts.raw_counts(n),
            threshold: if n >= 2 {
                smoothing.min_counts.get(n - 1).copied().unwrap_or(0)
            } else {
                0
            },
            d,
            sums: &sums,
            cuts: &cuts,
            below: &lin[n - 1],
            suffix: &suffix[n],
            v: (counts.vocab.len() - 1) as f64,
        };
        let mut p = vec![f64::NAN; a.len()];
        // The backoffs of the contexts: the n-grams of order n - 1.
        let context_bows = &mut bows[n - 1];
        if smoothing.method.interpolated() {
            inputs.interpolate(&mut p, &mut gamma, context_bows);
        } else if smoothing.method == Method::StupidBackoff || n == 1 {
            inputs.relative_frequencies(&mut p);
        } else {
            inputs.back_off(&mut p, context_bows);
        }
        if n == 1 {
            p[BOS as usize] = 1.0;
        }
        lin[n] = p;
    }
    Ok((lin, bows))
}

/// The counts each order is estimated from: below the highest order, Kneser-Ney's adjusted
/// counts (continuation counts; raw counts for the n-grams starting with `<s>`, which have
/// no left extension); otherwise the raw counts. Unigrams have one entry per word, `<s>`
/// counting 0 (it is never predicted).
struct EstimationCounts<'a> {
    counts: &'a NGramCounts,
    unigram: Vec<u64>,
    /// `adjusted[n]` for the adjusted orders n >= 2; empty for the others.
    adjusted: Vec<Vec<u64>>,
}

impl<'a> EstimationCounts<'a> {
    /// Adjust the counts for `method`, taking the continuation counts `cont` (by order).
    fn new(counts: &'a NGramCounts, method: Method, mut cont: Vec<Vec<u64>>) -> Self {
        let order = counts.order();
        let mut adjusted: Vec<Vec<u64>> = vec![Vec::new(); order + 1];
        for n in 1..order {
            if method.adjusted() {
                let mut a = std::mem::take(&mut cont[n]);
                let (lo, hi) = bos_range(counts, n);
                a[lo..hi].copy_from_slice(&counts.raw_counts(n)[lo..hi]);
                adjusted[n] = a;
            }
        }
        let mut unigram = if adjusted[1].is_empty() {
            counts.raw_counts(1).to_vec()
        } else {
            std::mem::take(&mut adjusted[1])
        };
        unigram.resize(counts.vocab.len(), 0);
        unigram[BOS as usize] = 0;
        EstimationCounts {
            counts,
            unigram,
            adjusted,
        }
    }

    /// The counts of order n, by n-gram.
    fn of(&self, n: usize) -> &[u64] {
        if n == 1 {
            &self.unigram
        } else if self.adjusted[n].is_empty() {
            self.counts.raw_counts(n)
        } else {
            &self.adjusted[n]
        }
    }
}

/// The discounts of order n for counts 1, 2 and 3+ from its counts-of-counts `t` (zeros for
/// the methods that do not discount).
fn discounts(smoothing: &Smoothing, t: &[u64; 5], n: usize) -> Result<[f64; 3]> {
    Ok(match smoothing.method {
        Method::ModifiedKneserNey => mkn_discounts(t, n, smoothing.discount_fallback)?,
        Method::KneserNey | Method::Absolute => {
            let d1 = match smoothing.discount {
                Some(d) => d,
                None => single_discount(t, n, smoothing.discount_fallback)?,
            };
            [d1; 3]
        }
        _ => [0.0; 3],
    })
}

/// Fill `sums` (one per context of order n, `nctx` of them) from the counts `a` of order
/// n, in parallel over the tasks of `cuts`.
fn context_sums(
    counts: &NGramCounts,
    n: usize,
    a: &[u64],
    cuts: &[(usize, usize)],
    nctx: usize,
    sums: &mut Vec<Sums>,
) {
    sums.clear();
    sums.resize(nctx, Sums::default());
    for_contexts(cuts, sums, |grams, first, sums| {
        for g in grams {
            let x = a[g];
            if x > 0 {
                sums[parent(counts, n, g) - first].add(x);
            }
        }
    });
}

/// What one order's probabilities are computed from. Three methods turn them into
/// probabilities: [`Self::interpolate`] (Witten-Bell, absolute discounting, Kneser-Ney),
/// [`Self::relative_frequencies`] (stupid backoff, and the unigrams of the backoff methods)
/// and [`Self::back_off`] (MLE and add-k above the unigrams).
struct OrderInputs<'a> {
    counts: &'a NGramCounts,
    smoothing: &'a Smoothing,
    n: usize,
    /// The counts estimated from, by n-gram ([`EstimationCounts::of`]).
    a: &'a [u64],
    /// The raw counts, which pruning compares with `threshold`.
    raw: &'a [u64],
    threshold: u64,
    /// Discounts for counts 1, 2 and 3+.
    d: [f64; 3],
    sums: &'a [Sums],
    cuts: &'a [(usize, usize)],
    /// The probabilities of the order below, and where each n-gram's suffix is in them.
    below: &'a [f64],
    suffix: &'a [u32],
    /// `|V|`: every word but `<s>`.
    v: f64,
}

impl OrderInputs<'_> {
    /// Whether n-gram g survives pruning (unigrams always do).
    #[inline(always)]
    fn kept(&self, g: usize) -> bool {
        self.n == 1 || self.raw[g] >= self.threshold
    }

    #[inline(always)]
    fn parent(&self, g: usize) -> usize {
        parent(self.counts, self.n, g)
    }

    /// The method's own part of p(w|c) for a count `x` in context `c`.
    #[inline(always)]
    fn alpha(&self, x: u64, c: usize) -> f64 {
        alpha(self.smoothing, &self.d, self.v, x, &self.sums[c])
    }

    /// Per context, the sums of its n-grams that pruning drops.
    fn pruned_sums(&self) -> Vec<Sums> {
        let mut pruned = vec![Sums::default(); self.sums.len()];
        for_contexts(self.cuts, &mut pruned, |grams, first, pruned| {
            for g in grams {
                let x = self.a[g];
                if x > 0 && !self.kept(g) {
                    pruned[self.parent(g) - first].add(x);
                }
            }
        });
        pruned
    }

    /// p(w|c') of n-gram g one order down (the uniform 1/|V| below the unigrams).
    #[inline(always)]
    fn lower(&self, g: usize) -> f64 {
        if self.n == 1 {
            1.0 / self.v
        } else {
            self.below[self.suffix[g] as usize]
        }
    }

    /// The probabilities one order down are read in the order of the suffixes, at random:
    /// load them a few n-grams ahead.
    #[inline(always)]
    fn prefetch_lower(&self, g: usize) {
        if let Some(&s) = self.suffix.get(g + LOWER_AHEAD) {
            prefetch(self.below, s as usize);
        }
    }

    /// `p(w|c) = α(c, w) + γ(c) p(w|c')`, γ the mass the discounts (and pruning) leave to
    /// the order below; unseen unigrams get `γ / |V|`; `bows` (by context) gets log10 γ.
    fn interpolate(&self, p: &mut [f64], gamma: &mut Vec<f64>, bows: &mut [f64]) {
        let (n, a, sums) = (self.n, self.a, self.sums);
        gamma.clear();
        let of = |s: &Sums, pr: &Sums| self::gamma(self.smoothing, &self.d, self.v, s, pr);
        // Stored n-grams have raw counts >= 1: a threshold of 0 or 1 prunes nothing.
        if self.threshold > 1 {
            let pruned = self.pruned_sums();
            gamma.par_extend(sums.par_iter().zip(&pruned).map(|(s, pr)| of(s, pr)));
        } else {
            let none = Sums::default();
            gamma.par_extend(sums.par_iter().map(|s| of(s, &none)));
        }
        let gamma = &gamma[..];
        p.par_chunks_mut(PROB_CHUNK)
            .enumerate()
            .for_each(|(chunk, ps)| {
                for (i, pg) in ps.iter_mut().enumerate() {
                    let g = chunk * PROB_CHUNK + i;
                    self.prefetch_lower(g);
                    let x = a[g];
                    if x > 0 && self.kept(g) {
                        let c = self.parent(g);
                        *pg = self.alpha(x, c) + gamma[c] * self.lower(g);
                    }
                }
            });
        if n == 1 {
            for (w, pw) in p.iter_mut().enumerate() {
                if a[w] == 0 && w != BOS as usize {
                    *pw = gamma[0] / self.v;
                }
            }
        } else {
            bows.par_iter_mut()
                .zip(sums.par_iter().zip(gamma))
                .for_each(|(b, (s, &gm))| {
                    if s.items() > 0 {
                        *b = log10(gm);
                    }
                });
        }
    }

    /// `p(w|c) = α(c, w)` for seen n-grams, nothing left to a lower order: stupid backoff's
    /// scores, and the unigrams of MLE and add-k (whose unseen words get add-k's share, or 0).
    fn relative_frequencies(&self, p: &mut [f64]) {
        let a = self.a;
        p.par_iter_mut().enumerate().for_each(|(g, pg)| {
            let x = a[g];
            if x > 0 && self.kept(g) {
                *pg = self.alpha(x, self.parent(g));
            }
        });
        if self.n == 1 {
            let (k, v) = (self.smoothing.k, self.v);
            let unseen = if self.smoothing.method == Method::AddK {
                k / (self.sums[0].total as f64 + k * v)
            } else {
                0.0
            };
            for (w, pw) in p.iter_mut().enumerate() {
                if a[w] == 0 && w != BOS as usize {
                    *pw = unseen;
                }
            }
        }
    }

    /// `p(w|c) = α(c, w)` for the kept n-grams; a context's backoff weight spreads the mass
    /// they leave over the words it has not kept, in proportion to p(w|c').
    fn back_off(&self, p: &mut [f64], bows: &mut [f64]) {
        let (a, sums) = (self.a, self.sums);
        let (k, v) = (self.smoothing.k, self.v);
        // 1 - Σ α over the kept words, as the mass of the unseen words plus the pruned
        // ones, both in closed form: exactly 0 when nothing is left. Per context: that mass
        // and Σ p(w|c') over the kept words, summed smallest first (a sum that does not
        // depend on how the words are numbered).
        let mut left: Vec<(f64, f64)> = sums
            .par_iter()
            .map(|s| match self.smoothing.method {
                Method::AddK => (k * (v - s.items() as f64) / (s.total as f64 + k * v), 0.0),
                _ => (0.0, 0.0),
            })
            .collect();
        if self.threshold > 1 {
            let pruned = self.pruned_sums();
            for (l, (pr, s)) in left.iter_mut().zip(pruned.iter().zip(sums)) {
                if pr.items() > 0 {
                    l.0 += pruned_mass(self.smoothing, &self.d, self.v, pr, s);
                }
            }
        }
        for_contexts(self.cuts, &mut left, |grams, first, left| {
            let mut run: Vec<f64> = Vec::new();
            let mut ctx = usize::MAX;
            let mut flush = |ctx: usize, run: &mut Vec<f64>| {
                if ctx != usize::MAX {
                    run.sort_unstable_by(f64::total_cmp);
                    left[ctx - first].1 = run.iter().sum();
                    run.clear();
                }
            };
            for g in grams {
                if a[g] > 0 && self.kept(g) {
                    let c = self.parent(g);
                    if c != ctx {
                        flush(ctx, &mut run);
                        ctx = c;
                    }
                    run.push(self.lower(g));
                }
            }
            flush(ctx, &mut run);
        });
        p.par_iter_mut().enumerate().for_each(|(g, pg)| {
            let x = a[g];
            if x > 0 && self.kept(g) {
                *pg = self.alpha(x, self.parent(g));
            }
        });
        bows.par_iter_mut()
            .zip(sums.par_iter().zip(&left))
            .for_each(|(b, (s, &(left, sp)))| {
                if s.items() > 0 {
                    let den = 1.0 - sp;
                    let bow = if left <= 0.0 {
                        0.0
                    } else if den <= 0.0 {
                        1.0
                    } else {
                        left / den
                    };
                    *b = log10(bow);
                }
            });
    }
}

/// The model of the estimated arrays: unigrams by id, higher orders kept in sorted order
/// with log10 values (pruned n-grams become [`BLANK`] rows).
fn build(
    vocab: Vocab,
    order: usize,
    keys: Vec<Vec<u64>>,
    lin: Vec<Vec<f64>>,
    bows: Vec<Vec<f64>>,
    smoothing: &Smoothing,
) -> Result<Model> {
    let unigrams: Vec<ProbBow> = lin[1]
        .iter()
        .zip(&bows[1])
        .map(|(&p, &b)| ProbBow {
            prob: log10(p),
            bow: b,
        })
        .collect();
    let mut levels: Vec<SortedLevel> = Vec::with_capacity(order.saturating_sub(1));
    for ((keys, mut probs), bows) in keys
        .into_iter()
        .zip(lin.into_iter().skip(2))
        .zip(bows.into_iter().skip(2))
    {
        if let Some(below) = levels.last() {
            let orphan = keys
                .par_iter()
                .zip(&probs)
                .any(|(&key, p)| !p.is_nan() && below.probs[unpack(key).0 as usize] == BLANK);
            if orphan {
                return Err(CoreError::invalid(
                    "min_counts",
                    "pruning removed the prefix of a kept n-gram",
                ));
            }
        }
        probs
            .par_iter_mut()
            .for_each(|p| *p = if p.is_nan() { BLANK } else { log10(*p) });
        levels.push(SortedLevel::new(keys, probs, bows));
    }
    let stupid = (smoothing.method == Method::StupidBackoff).then_some(smoothing.alpha);
    Ok(Model::new(
        order,
        vocab,
        smoothing.method.name().to_owned(),
        stupid,
        Store::Owned(unigrams),
        Levels::Sorted(levels),
    ))
}
