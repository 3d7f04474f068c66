//! Smoothing: from raw counts to a backoff model, for every method (formulas in
//! docs/ngram.md; the spec is `rnnrs.reference.ngram.estimate`, matched to 1e-9).

use rayon::prelude::*;

use super::counts::{pack, unpack, NGramCounts, PARTS};
use super::model::Model;
use super::store::{combine, unigram_key, ProbBow, Store, Table, TableBuilder};
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

    fn interpolated(self) -> bool {
        matches!(
            self,
            Method::WittenBell | Method::Absolute | Method::KneserNey | Method::ModifiedKneserNey
        )
    }

    fn adjusted(self) -> bool {
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

fn log10(x: f64) -> f64 {
    if x > 0.0 {
        x.log10()
    } else {
        f64::NEG_INFINITY
    }
}

/// The n-grams of every order as flat arrays with global indices (order 1: word ids).
struct Flat {
    /// `offsets[n][p]`: first global index of partition p at order n (n >= 2).
    offsets: Vec<Vec<usize>>,
    prefix: Vec<Vec<u32>>,
    word: Vec<Vec<u32>>,
    raw: Vec<Vec<u64>>,
    suffix: Vec<Vec<u32>>,
    bos_first: Vec<Vec<bool>>,
}

impl Flat {
    fn new(c: &NGramCounts) -> Result<Flat> {
        let order = c.order();
        let v = c.vocab.len();
        let mut raw1 = c.raw_counts(1);
        raw1.resize(v, 0);
        let mut f = Flat {
            offsets: vec![Vec::new(); order + 1],
            prefix: vec![Vec::new(); order + 1],
            word: vec![Vec::new(); order + 1],
            raw: vec![Vec::new(); order + 1],
            suffix: vec![Vec::new(); order + 1],
            bos_first: vec![Vec::new(); order + 1],
        };
        f.raw[1] = raw1;
        f.bos_first[1] = (0..v as u32).map(|w| w == BOS).collect();
        for n in 2..=order {
            let mut off = Vec::with_capacity(PARTS + 1);
            let mut total = 0usize;
            for levels in &c.parts {
                off.push(total);
                total += levels[n - 2].len();
            }
            off.push(total);
            if total >= u32::MAX as usize {
                return Err(CoreError::invalid(
                    "corpus",
                    "more than 4 billion n-grams of one order",
                ));
            }
            let mut prefix = Vec::with_capacity(total);
            let mut word = Vec::with_capacity(total);
            for (p, levels) in c.parts.iter().enumerate() {
                for &key in &levels[n - 2].keys {
                    let (pre, w) = unpack(key);
                    let g = if n == 2 {
                        pre
                    } else {
                        (f.offsets[n - 1][p] + pre as usize) as u32
                    };
                    prefix.push(g);
                    word.push(w);
                }
            }
            f.raw[n] = c.raw_counts(n);
            f.bos_first[n] = if n == 2 {
                prefix.iter().map(|&p| p == BOS).collect()
            } else {
                prefix
                    .iter()
                    .map(|&p| f.bos_first[n - 1][p as usize])
                    .collect()
            };
            f.offsets[n] = off;
            f.prefix[n] = prefix;
            f.word[n] = word;
            let fr = &f;
            let suffix: Option<Vec<u32>> = (0..total)
                .into_par_iter()
                .map(|g| {
                    let w = fr.word[n][g];
                    if n == 2 {
                        Some(w)
                    } else {
                        let ps = fr.suffix[n - 1][fr.prefix[n][g] as usize];
                        fr.find(c, n - 1, ps, w)
                    }
                })
                .collect();
            f.suffix[n] = suffix.ok_or_else(|| {
                CoreError::invalid("counts", "inconsistent tables: a suffix is missing")
            })?;
        }
        Ok(f)
    }

    /// Global index at order n (>= 2) of `(prefix, w)`, `prefix` global at order n-1.
    fn find(&self, c: &NGramCounts, n: usize, prefix: u32, w: u32) -> Option<u32> {
        let (part, local) = if n == 2 {
            (prefix as usize % PARTS, prefix)
        } else {
            let off = &self.offsets[n - 1];
            let part = off.partition_point(|&o| o <= prefix as usize) - 1;
            (part, (prefix as usize - off[part]) as u32)
        };
        let idx = c.parts[part][n - 2].get(pack(local, w))?;
        Some((self.offsets[n][part] + idx as usize) as u32)
    }

    fn ctx(&self, n: usize, g: usize) -> usize {
        if n == 1 {
            0
        } else {
            self.prefix[n][g] as usize
        }
    }
}

/// Estimate a model from counts with a smoothing method.
pub fn estimate(counts: &NGramCounts, smoothing: &Smoothing) -> Result<Model> {
    check(counts, smoothing)?;
    let flat = Flat::new(counts)?;
    estimate_flat(flat, counts.vocab.clone(), counts.order(), smoothing)
}

/// [`estimate`], freeing the counting tables as soon as they are read (less peak memory).
pub fn estimate_consuming(mut counts: NGramCounts, smoothing: &Smoothing) -> Result<Model> {
    check(&counts, smoothing)?;
    let flat = Flat::new(&counts)?;
    let vocab = std::mem::take(&mut counts.vocab);
    let order = counts.order();
    drop(counts);
    estimate_flat(flat, vocab, order, smoothing)
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

fn estimate_flat(flat: Flat, vocab: Vocab, order: usize, smoothing: &Smoothing) -> Result<Model> {
    let method = smoothing.method;
    let vsize = vocab.len();
    let v = (vsize - 1) as f64;
    // The counts the method estimates from.
    let mut est: Vec<Vec<u64>> = flat.raw.clone();
    if method.adjusted() {
        for n in (1..order).rev() {
            let mut a = vec![0u64; flat.raw[n].len()];
            for &s in &flat.suffix[n + 1] {
                a[s as usize] += 1;
            }
            for (g, x) in a.iter_mut().enumerate() {
                if flat.bos_first[n][g] {
                    *x = flat.raw[n][g];
                }
            }
            est[n] = a;
        }
    }
    est[1][BOS as usize] = 0;

    let mut lin: Vec<Vec<f64>> = vec![Vec::new(); order + 1];
    let mut bows: Vec<Vec<f64>> = (0..=order).map(|n| vec![0.0; flat.raw[n].len()]).collect();
    for n in 1..=order {
        let a = &est[n];
        let threshold = if n >= 2 {
            smoothing.min_counts.get(n - 1).copied().unwrap_or(0)
        } else {
            0
        };
        let kept = |g: usize| n == 1 || flat.raw[n][g] >= threshold;
        let t = counts_of_counts(a);
        let d: [f64; 3] = match method {
            Method::ModifiedKneserNey => mkn_discounts(&t, n, smoothing.discount_fallback)?,
            Method::KneserNey | Method::Absolute => {
                let d1 = match smoothing.discount {
                    Some(d) => d,
                    None => single_discount(&t, n, smoothing.discount_fallback)?,
                };
                [d1; 3]
            }
            _ => [0.0; 3],
        };
        let nctx = if n == 1 { 1 } else { flat.raw[n - 1].len() };
        let mut total = vec![0.0f64; nctx];
        let mut items = vec![0u64; nctx];
        let mut dsum = vec![0.0f64; nctx];
        for (g, &x) in a.iter().enumerate() {
            if x > 0 {
                let c = flat.ctx(n, g);
                total[c] += x as f64;
                items[c] += 1;
                dsum[c] += d[(x.min(3) - 1) as usize];
            }
        }
        let alpha = |x: u64, c: usize| -> f64 {
            let x = x as f64;
            match method {
                Method::ModifiedKneserNey | Method::KneserNey | Method::Absolute => {
                    (x - d[(x.min(3.0) as usize) - 1]) / total[c]
                }
                Method::WittenBell => x / (total[c] + items[c] as f64),
                Method::AddK => (x + smoothing.k) / (total[c] + smoothing.k * v),
                Method::Mle | Method::StupidBackoff => x / total[c],
            }
        };
        let lower = |g: usize| -> f64 {
            if n == 1 {
                1.0 / v
            } else {
                lin[n - 1][flat.suffix[n][g] as usize]
            }
        };
        let mut p = vec![f64::NAN; a.len()];
        if method.interpolated() {
            let mut gamma: Vec<f64> = (0..nctx)
                .map(|c| match method {
                    Method::WittenBell => items[c] as f64 / (total[c] + items[c] as f64),
                    _ => dsum[c] / total[c],
                })
                .collect();
            for (g, &x) in a.iter().enumerate() {
                if x > 0 && !kept(g) {
                    let c = flat.ctx(n, g);
                    gamma[c] += alpha(x, c);
                }
            }
            for (g, &x) in a.iter().enumerate() {
                if x > 0 && kept(g) {
                    let c = flat.ctx(n, g);
                    p[g] = alpha(x, c) + gamma[c] * lower(g);
                }
            }
            if n == 1 {
                for (w, pw) in p.iter_mut().enumerate() {
                    if a[w] == 0 && w != BOS as usize {
                        *pw = gamma[0] / v;
                    }
                }
            } else {
                for c in 0..nctx {
                    if items[c] > 0 {
                        bows[n - 1][c] = log10(gamma[c]);
                    }
                }
            }
        } else if method == Method::StupidBackoff || n == 1 {
            for (g, &x) in a.iter().enumerate() {
                if x > 0 && kept(g) {
                    p[g] = alpha(x, flat.ctx(n, g));
                }
            }
            if n == 1 {
                let unseen = if method == Method::AddK {
                    smoothing.k / (total[0] + smoothing.k * v)
                } else {
                    0.0
                };
                for (w, pw) in p.iter_mut().enumerate() {
                    if a[w] == 0 && w != BOS as usize {
                        *pw = unseen;
                    }
                }
            }
        } else {
            let mut sa = vec![0.0f64; nctx];
            let mut sp = vec![0.0f64; nctx];
            for (g, &x) in a.iter().enumerate() {
                if x > 0 && kept(g) {
                    let c = flat.ctx(n, g);
                    let al = alpha(x, c);
                    p[g] = al;
                    sa[c] += al;
                    sp[c] += lower(g);
                }
            }
            for c in 0..nctx {
                if items[c] > 0 {
                    let (left, den) = (1.0 - sa[c], 1.0 - sp[c]);
                    let bow = if left <= 0.0 {
                        0.0
                    } else if den <= 0.0 {
                        1.0
                    } else {
                        left / den
                    };
                    bows[n - 1][c] = log10(bow);
                }
            }
        }
        if n == 1 {
            p[BOS as usize] = 1.0;
        }
        lin[n] = p;
    }
    // Only the words of each n-gram are needed from here on: free the rest first.
    drop(est);
    let Flat { prefix, word, .. } = flat;
    build(vocab, order, &prefix, &word, &lin, &bows, smoothing)
}

/// Assemble the hash tables of the model from the estimated arrays.
fn build(
    vocab: Vocab,
    order: usize,
    prefix: &[Vec<u32>],
    word: &[Vec<u32>],
    lin: &[Vec<f64>],
    bows: &[Vec<f64>],
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
    // Hash keys of every n-gram, order by order.
    let mut keys: Vec<Vec<u64>> = vec![Vec::new(); order + 1];
    keys[1] = (0..vocab.len() as u32).map(unigram_key).collect();
    for n in 2..=order {
        let below = &keys[n - 1];
        keys[n] = (0..lin[n].len())
            .into_par_iter()
            .map(|g| combine(below[prefix[n][g] as usize], word[n][g]))
            .collect();
    }
    // The tables of all orders at once; prefixes are global indices until remapped below.
    let built: Vec<(TableBuilder, Vec<u32>)> = (2..=order)
        .into_par_iter()
        .map(|n| {
            let p = &lin[n];
            let kept = p.iter().filter(|x| !x.is_nan()).count();
            let mut table = TableBuilder::with_entries(kept);
            let mut slot_of = vec![u32::MAX; p.len()];
            for (g, &pg) in p.iter().enumerate() {
                if !pg.is_nan() {
                    let (pre, w) = (prefix[n][g], word[n][g]);
                    slot_of[g] = table.insert(keys[n][g], log10(pg), bows[n][g], pre, w) as u32;
                }
            }
            (table, slot_of)
        })
        .collect();
    let (builders, slot_maps): (Vec<TableBuilder>, Vec<Vec<u32>>) = built.into_iter().unzip();
    let tables: Option<Vec<Table>> = builders
        .into_par_iter()
        .enumerate()
        .map(|(k, mut table)| {
            // Order k + 2: bigram prefixes are word ids already.
            if k > 0 {
                table.remap_prefixes(&slot_maps[k - 1])?;
            }
            Some(table.finish())
        })
        .collect();
    let tables = tables.ok_or_else(|| {
        CoreError::invalid("min_counts", "pruning removed the prefix of a kept n-gram")
    })?;
    let stupid = (smoothing.method == Method::StupidBackoff).then_some(smoothing.alpha);
    Ok(Model::new(
        order,
        vocab,
        smoothing.method.name().to_owned(),
        stupid,
        Store::Owned(unigrams),
        tables,
    ))
}
