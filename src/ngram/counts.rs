//! Counting tables: raw counts of every order 1..N as sorted arrays, mergeable.
//!
//! Unigram counts are a dense array by word id. The n-grams of order n >= 2 are one array
//! of keys `(parent, word)` packed in a u64 — `parent` the index of the (n-1)-gram prefix
//! at the order below (its word id for bigrams) — sorted, with a count beside each key.
//! Sorted keys are the n-grams in lexicographic order of word ids, so the extensions of
//! any prefix are one contiguous run (a trie in sorted arrays). Counting radix-sorts the
//! n-gram starts order by order (in parallel) and reads the counts off as run lengths;
//! adding more text or merging counts made elsewhere is a linear merge of sorted arrays.
//!
//! Spec: python/rnnrs/reference/ngram.py::count_ngrams and ::merge_counts (dicts keyed by
//! tuples of ids); the NumPy backend's counts: python/rnnrs/backends/numpy_ngram.py::RefNGramCounts.

use std::path::Path;

use rayon::prelude::*;

use super::sort::{cut_between, sort_pairs, Pair, PARTS_PER_THREAD};
use super::store::prefetch;
use super::vocab::{Vocab, BOS, EOS};
use crate::{CoreError, FormatKind, Result};

#[inline(always)]
pub(crate) fn pack(parent: u32, word: u32) -> u64 {
    ((parent as u64) << 32) | word as u64
}

#[inline(always)]
pub(crate) fn unpack(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// Bits that hold any word id below `vocab_size`.
pub(crate) fn word_bits(vocab_size: usize) -> u32 {
    usize::BITS - vocab_size.saturating_sub(1).leading_zeros()
}

/// The n-grams of one order: sorted keys and their counts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Level {
    pub(crate) keys: Vec<u64>,
    pub(crate) counts: Vec<u64>,
}

impl Level {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The index of `(parent, word)`.
    pub(crate) fn find(&self, parent: u32, word: u32) -> Option<u32> {
        self.keys
            .binary_search(&pack(parent, word))
            .ok()
            .map(|i| i as u32)
    }

    fn memory_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.counts.capacity() * 8
    }
}

fn too_many() -> CoreError {
    CoreError::invalid(
        "corpus",
        "more than 4 billion distinct n-grams of one order",
    )
}

/// The levels of orders 2..=order of a padded stream `<s> w.. </s> <s> ..`.
///
/// Every bigram occurrence is keyed by its two words and the keys are radix-sorted; then,
/// level by level, runs of equal keys become the entries, and each occurrence that a word
/// of its sentence follows is extended by that word, keyed by (index of its entry, next
/// word). Those keys come out in order of their entries, so sorting them only sorts the
/// occurrences of each entry among themselves by their next word.
fn count_levels(ids: &[u32], order: usize, vocab_size: usize) -> Vec<Level> {
    let wb = word_bits(vocab_size);
    let mut levels = Vec::with_capacity(order.saturating_sub(1));
    if order < 2 {
        return levels;
    }
    // Occurrences: `(key, position of the n-gram in ids)`.
    let mut pairs = Vec::new();
    fill_in_order(&mut pairs, ids.len().saturating_sub(1), |p| {
        (ids[p] != EOS).then(|| Pair {
            key: ((ids[p] as u64) << wb) | ids[p + 1] as u64,
            val: p as u32,
        })
    });
    let mut next = Vec::new();
    sort_pairs(&mut pairs, &mut next);
    for n in 2..=order {
        let extend = (n < order).then_some(Extend {
            ids,
            n,
            out: &mut next,
        });
        levels.push(runs(&pairs, wb, extend));
        if n < order {
            std::mem::swap(&mut pairs, &mut next);
            sort_within_prefixes(&mut pairs, wb);
        }
    }
    levels
}

/// Fill `out` with the `Some` values of `f(0..len)`, in order: blocks of indices write
/// theirs at the head of their own range in parallel, then the blocks move down.
fn fill_in_order(out: &mut Vec<Pair>, len: usize, f: impl Fn(usize) -> Option<Pair> + Sync) {
    const BLOCK: usize = 1 << 16;
    out.clear();
    out.resize(len, Pair::default());
    let kept: Vec<usize> = out
        .par_chunks_mut(BLOCK)
        .enumerate()
        .map(|(b, dst)| {
            let mut k = 0;
            for i in b * BLOCK..b * BLOCK + dst.len() {
                if let Some(x) = f(i) {
                    dst[k] = x;
                    k += 1;
                }
            }
            k
        })
        .collect();
    close_gaps(out, BLOCK, &kept);
}

/// Move the heads `kept[t]` of the blocks of `out` (block t starts at `t * block`) down
/// next to each other and cut `out` after them.
fn close_gaps(out: &mut Vec<Pair>, block: usize, kept: &[usize]) {
    let mut at = 0;
    for (t, &k) in kept.iter().enumerate() {
        out.copy_within(t * block..t * block + k, at);
        at += k;
    }
    out.truncate(at);
}

/// Sort pairs already in order of their keys' high bits (above `wb`) fully: each run of
/// equal high bits is sorted by its low bits; in parallel over parts cut between runs.
fn sort_within_prefixes(pairs: &mut [Pair], wb: u32) {
    let prefix = |p: &Pair| p.key >> wb;
    let cuts = cut_between(pairs.len(), |i| prefix(&pairs[i]) == prefix(&pairs[i - 1]));
    let mut tasks: Vec<&mut [Pair]> = Vec::with_capacity(cuts.len());
    let mut rest = pairs;
    for w in cuts.windows(2) {
        let (mine, tail) = std::mem::take(&mut rest).split_at_mut(w[1] - w[0]);
        tasks.push(mine);
        rest = tail;
    }
    tasks.into_par_iter().for_each(|part| {
        for run in part.chunk_by_mut(|a, b| prefix(a) == prefix(b)) {
            if run.len() > 1 {
                run.sort_unstable_by_key(|p| p.key);
            }
        }
    });
}

/// What [`runs`] needs to extend the occurrences of order n by the word after them.
struct Extend<'a> {
    ids: &'a [u32],
    n: usize,
    /// Receives the extended occurrences (resized as needed).
    out: &'a mut Vec<Pair>,
}

/// How many occurrences ahead the word after an occurrence is prefetched.
const NEXT_WORD_AHEAD: usize = 16;

/// The entries of a level from its sorted pairs, one per run of equal keys with the run's
/// length as count. With `extend`, also each occurrence (`val`: its position) that a word
/// of its sentence follows, keyed by `(index of its entry << wb) | next word`, in order. In
/// parallel: each task numbers the runs starting in its part; the pairs a run has in later
/// parts are added to its count after.
fn runs(pairs: &[Pair], wb: u32, extend: Option<Extend>) -> Level {
    let part = pairs
        .len()
        .div_ceil(PARTS_PER_THREAD * rayon::current_num_threads())
        .max(1 << 12);
    let starts = |i: usize| i == 0 || pairs[i].key != pairs[i - 1].key;
    let firsts: Vec<usize> = (0..pairs.len().div_ceil(part))
        .into_par_iter()
        .map(|t| {
            (t * part..((t + 1) * part).min(pairs.len()))
                .filter(|&i| starts(i))
                .count()
        })
        .collect();
    let total: usize = firsts.iter().sum();
    let mut level = Level {
        keys: vec![0; total],
        counts: vec![0; total],
    };
    let (ids, n, mut out) = match extend {
        Some(Extend { ids, n, out }) => {
            out.clear();
            out.resize(pairs.len(), Pair::default());
            (ids, n, Some(out))
        }
        None => (&[][..], 0, None),
    };
    // Per part: where its first entry is, its slices of the entries, and its range of
    // `out` (the extended occurrences go to its head).
    let mut tasks = Vec::with_capacity(firsts.len());
    let (mut keys, mut counts) = (&mut level.keys[..], &mut level.counts[..]);
    let mut extended = out.as_deref_mut().map(|o| &mut o[..]);
    let mut at = 0;
    for &k in &firsts {
        let (k_mine, k_rest) = std::mem::take(&mut keys).split_at_mut(k);
        let (c_mine, c_rest) = std::mem::take(&mut counts).split_at_mut(k);
        let e_mine = extended.as_mut().map(|e| {
            let size = part.min(e.len());
            let (mine, rest) = std::mem::take(e).split_at_mut(size);
            *e = rest;
            mine
        });
        tasks.push((at, k_mine, c_mine, e_mine));
        (keys, counts, at) = (k_rest, c_rest, at + k);
    }
    let mask = (1u64 << wb) - 1;
    // Per part: pairs at its head that continue the previous part's last run, and how
    // many occurrences it extended.
    let done: Vec<(usize, u64, usize)> = tasks
        .into_par_iter()
        .enumerate()
        .map(|(t, (first, keys, counts, mut extended))| {
            let mut carry = 0;
            let mut kept = 0;
            let mut idx = first.wrapping_sub(1);
            let end = ((t + 1) * part).min(pairs.len());
            for (i, p) in pairs.iter().enumerate().take(end).skip(t * part) {
                if starts(i) {
                    idx = idx.wrapping_add(1);
                    keys[idx - first] = pack((p.key >> wb) as u32, (p.key & mask) as u32);
                }
                if idx.wrapping_add(1) == first {
                    carry += 1;
                } else {
                    counts[idx - first] += 1;
                }
                if let Some(dst) = extended.as_deref_mut() {
                    if let Some(ahead) = pairs.get(i + NEXT_WORD_AHEAD) {
                        prefetch(ids, ahead.val as usize + n - 1);
                    }
                    // The n-gram at `val` is ids[val..val + n].
                    let last = p.val as usize + n - 1;
                    if ids[last] != EOS && last + 1 < ids.len() {
                        dst[kept] = Pair {
                            key: ((idx as u64) << wb) | ids[last + 1] as u64,
                            val: p.val,
                        };
                        kept += 1;
                    }
                }
            }
            (first, carry, kept)
        })
        .collect();
    for &(first, carry, _) in &done {
        if carry > 0 {
            level.counts[first - 1] += carry;
        }
    }
    if let Some(out) = out {
        let kept: Vec<usize> = done.iter().map(|d| d.2).collect();
        close_gaps(out, part, &kept);
    }
    level
}

/// Merge two sets of levels over the same vocabulary (counts of equal n-grams add up).
fn merge_levels(a: Vec<Level>, b: Vec<Level>) -> Result<Vec<Level>> {
    let mut out = Vec::with_capacity(a.len());
    // Where the entries of the order below went (None: bigrams, parents are word ids).
    let (mut map_a, mut map_b): (Option<Vec<u32>>, Option<Vec<u32>>) = (None, None);
    for (la, lb) in a.into_iter().zip(b) {
        let remap = |map: &Option<Vec<u32>>, key: u64| {
            let (p, w) = unpack(key);
            pack(map.as_ref().map_or(p, |m| m[p as usize]), w)
        };
        let mut level = Level {
            keys: Vec::with_capacity(la.len().max(lb.len())),
            counts: Vec::with_capacity(la.len().max(lb.len())),
        };
        let (mut to_a, mut to_b) = (Vec::with_capacity(la.len()), Vec::with_capacity(lb.len()));
        let (mut i, mut j) = (0, 0);
        while i < la.len() || j < lb.len() {
            let ka = (i < la.len()).then(|| remap(&map_a, la.keys[i]));
            let kb = (j < lb.len()).then(|| remap(&map_b, lb.keys[j]));
            let idx = level.keys.len() as u32;
            let (key, count) = match (ka, kb) {
                (Some(x), Some(y)) if x == y => {
                    to_a.push(idx);
                    to_b.push(idx);
                    i += 1;
                    j += 1;
                    (x, la.counts[i - 1] + lb.counts[j - 1])
                }
                (Some(x), y) if y.is_none_or(|y| x < y) => {
                    to_a.push(idx);
                    i += 1;
                    (x, la.counts[i - 1])
                }
                (_, Some(y)) => {
                    to_b.push(idx);
                    j += 1;
                    (y, lb.counts[j - 1])
                }
                (Some(_), None) | (None, None) => break,
            };
            if level.keys.len() >= u32::MAX as usize {
                return Err(too_many());
            }
            level.keys.push(key);
            level.counts.push(count);
        }
        out.push(level);
        map_a = Some(to_a);
        map_b = Some(to_b);
    }
    Ok(out)
}

/// `levels` with every word id w replaced by `remap[w]` (one-to-one), sorted again.
fn remap_levels(levels: &[Level], remap: &[u32]) -> Vec<Level> {
    let (mut pairs, mut scratch) = (Vec::new(), Vec::new());
    let mut below: Option<Vec<u32>> = None;
    let mut out = Vec::with_capacity(levels.len());
    for level in levels {
        pairs.clear();
        pairs.extend(level.keys.iter().enumerate().map(|(g, &key)| {
            let (p, w) = unpack(key);
            let parent = match &below {
                None => remap[p as usize],
                Some(m) => m[p as usize],
            };
            Pair {
                key: pack(parent, remap[w as usize]),
                val: g as u32,
            }
        }));
        sort_pairs(&mut pairs, &mut scratch);
        let mut moved = vec![0u32; level.len()];
        let mut next = Level {
            keys: Vec::with_capacity(level.len()),
            counts: Vec::with_capacity(level.len()),
        };
        for (idx, p) in pairs.iter().enumerate() {
            moved[p.val as usize] = idx as u32;
            next.keys.push(p.key);
            next.counts.push(level.counts[p.val as usize]);
        }
        out.push(next);
        below = Some(moved);
    }
    out
}

/// Raw n-gram counts of orders 1..=order with their vocabulary.
#[derive(Clone, Debug)]
pub struct NGramCounts {
    order: usize,
    pub(crate) vocab: Vocab,
    pub(crate) unigrams: Vec<u64>,
    /// `levels[n - 2]`: the n-grams of order n.
    pub(crate) levels: Vec<Level>,
    sentences: u64,
    tokens: u64,
}

impl NGramCounts {
    /// Empty counts of orders 1..=order.
    pub fn new(order: usize) -> Result<Self> {
        super::check_order(order)?;
        Ok(NGramCounts {
            order,
            vocab: Vocab::new(),
            unigrams: vec![0; 3],
            levels: vec![Level::default(); order - 1],
            sentences: 0,
            tokens: 0,
        })
    }

    /// Counts from their parts, as a counts file holds them (checked by its reader).
    pub(crate) fn from_parts(
        order: usize,
        vocab: Vocab,
        unigrams: Vec<u64>,
        levels: Vec<Level>,
        sentences: u64,
        tokens: u64,
    ) -> Self {
        NGramCounts {
            order,
            vocab,
            unigrams,
            levels,
            sentences,
            tokens,
        }
    }

    /// The highest order.
    pub fn order(&self) -> usize {
        self.order
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Sentences counted.
    pub fn sentences(&self) -> u64 {
        self.sentences
    }

    /// Tokens counted (words and `</s>`, not `<s>`).
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Count whitespace-split lines (one sentence each; empty lines skipped).
    pub fn add_lines<'a>(&mut self, lines: impl Iterator<Item = &'a str>) -> Result<()> {
        let lines: Vec<&str> = lines.collect();
        let mut ids = Vec::new();
        self.vocab.encode_lines(&lines, &mut ids)?;
        self.add_padded(&ids)
    }

    /// Count the lines of a UTF-8 text file (lines end at `\n`; see [`Self::add_lines`]).
    pub fn add_file(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            CoreError::Format {
                kind: FormatKind::Text,
                path: Some(path.to_owned()),
                line: 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count(),
                message: format!("not UTF-8 (byte {at})"),
            }
        })?;
        self.add_lines(text.lines())
    }

    /// Count a stream of ids from this vocabulary, sentences ended by `</s>` (id 2);
    /// `<s>` is added before each sentence. The ids must be < `vocab().len()` and not `<s>`.
    pub fn add_ids(&mut self, ids: &[u32]) -> Result<()> {
        let mut padded = Vec::with_capacity(ids.len() + ids.len() / 8 + 2);
        let mut open = false;
        for (i, &w) in ids.iter().enumerate() {
            if w as usize >= self.vocab.len() || w == BOS {
                return Err(CoreError::invalid(
                    "ids",
                    format!(
                        "id {w} at position {i} is {} (the vocabulary has {} words)",
                        if w == BOS {
                            "<s>, which is added, never given"
                        } else {
                            "out of range"
                        },
                        self.vocab.len()
                    ),
                ));
            }
            if !open {
                padded.push(BOS);
                open = true;
            }
            padded.push(w);
            if w == EOS {
                open = false;
            }
        }
        if open {
            padded.push(EOS);
        }
        self.add_padded(&padded)
    }

    /// Count a padded stream `<s> w.. </s> <s> ..`.
    fn add_padded(&mut self, ids: &[u32]) -> Result<()> {
        if ids.len() >= u32::MAX as usize {
            return Err(CoreError::invalid(
                "corpus",
                "more than 4 billion tokens in one call",
            ));
        }
        self.unigrams.resize(self.vocab.len(), 0);
        for &w in ids {
            self.unigrams[w as usize] += 1;
        }
        let bos = ids.iter().filter(|&&w| w == BOS).count() as u64;
        self.sentences += bos;
        self.tokens += ids.len() as u64 - bos;
        let levels = count_levels(ids, self.order, self.vocab.len());
        self.levels = if self.levels.iter().all(|l| l.len() == 0) {
            levels
        } else {
            merge_levels(std::mem::take(&mut self.levels), levels)?
        };
        Ok(())
    }

    /// The index of `ids` (length >= 2) at its order.
    fn find(&self, ids: &[u32]) -> Option<u32> {
        let mut index = ids[0];
        for (n, &w) in ids.iter().enumerate().skip(1) {
            index = self.levels[n - 1].find(index, w)?;
        }
        Some(index)
    }

    /// The raw count of an n-gram given as words (0 when unseen or longer than the order).
    pub fn count(&self, words: &[&str]) -> u64 {
        if words.is_empty() || words.len() > self.order {
            return 0;
        }
        let Some(ids) = words
            .iter()
            .map(|w| self.vocab.get(w))
            .collect::<Option<Vec<u32>>>()
        else {
            return 0;
        };
        if ids.len() == 1 {
            return self.unigrams.get(ids[0] as usize).copied().unwrap_or(0);
        }
        self.find(&ids)
            .map(|i| self.levels[ids.len() - 2].counts[i as usize])
            .unwrap_or(0)
    }

    /// Number of distinct n-grams of each order 1..=order (unigrams: words seen).
    pub fn num_ngrams(&self) -> Vec<u64> {
        let mut out = vec![self.unigrams.iter().filter(|&&c| c > 0).count() as u64];
        out.extend(self.levels.iter().map(|l| l.len() as u64));
        out
    }

    /// The raw counts of order n (unigrams by word id, zeros included; higher orders in
    /// key order).
    pub(crate) fn raw_counts(&self, n: usize) -> &[u64] {
        if n == 1 {
            &self.unigrams
        } else {
            &self.levels[n - 2].counts
        }
    }

    /// Bytes held by the tables of orders 2.. (what grows with the text).
    pub(crate) fn table_bytes(&self) -> usize {
        self.levels.iter().map(Level::memory_bytes).sum()
    }

    /// Empty the tables of orders 2.. (the vocabulary, unigrams and totals stay).
    pub(crate) fn clear_levels(&mut self) {
        self.levels = vec![Level::default(); self.order - 1];
    }

    /// Replace the (empty) tables of orders 2.. by `levels`, counted over this vocabulary.
    pub(crate) fn set_levels(&mut self, levels: Vec<Level>) {
        self.levels = levels;
    }

    /// Bytes held by the tables (approximate).
    pub fn memory_bytes(&self) -> usize {
        self.unigrams.capacity() * 8
            + self.vocab.memory_bytes()
            + self.levels.iter().map(Level::memory_bytes).sum::<usize>()
    }

    /// Add `other`'s counts (any vocabulary, same order) to these.
    pub fn merge(&mut self, other: &NGramCounts) -> Result<()> {
        if other.order != self.order {
            return Err(CoreError::invalid(
                "other",
                format!(
                    "counts of order {} cannot merge into order {}",
                    other.order, self.order
                ),
            ));
        }
        let remap: Vec<u32> = other
            .vocab
            .words()
            .iter()
            .map(|w| self.vocab.intern(w))
            .collect();
        self.unigrams.resize(self.vocab.len(), 0);
        for (id, &c) in other.unigrams.iter().enumerate() {
            self.unigrams[remap[id] as usize] += c;
        }
        let identity = remap.iter().enumerate().all(|(i, &r)| i as u32 == r);
        let theirs = if identity {
            other.levels.clone()
        } else {
            remap_levels(&other.levels, &remap)
        };
        self.levels = merge_levels(std::mem::take(&mut self.levels), theirs)?;
        self.sentences += other.sentences;
        self.tokens += other.tokens;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_order_within_sentences() {
        let mut c = NGramCounts::new(3).unwrap();
        c.add_lines(["a b a b", "b a"].into_iter()).unwrap();
        assert_eq!(c.count(&["a"]), 3);
        assert_eq!(c.count(&["<s>"]), 2);
        assert_eq!(c.count(&["a", "b"]), 2);
        assert_eq!(c.count(&["a", "b", "a"]), 1);
        assert_eq!(c.count(&["b", "</s>"]), 1);
        assert_eq!(c.count(&["</s>", "<s>"]), 0);
        assert_eq!(c.count(&["<s>", "b", "a"]), 1);
        assert_eq!(c.num_ngrams(), vec![4, 6, 6]);
        assert_eq!(c.tokens(), 8);
    }

    #[test]
    fn runs_across_parallel_parts() {
        // Long runs of equal keys crossing the parts, and parts with no run start.
        let keys: Vec<u64> = (0..50_000u64).map(|i| (i * i) / 700_000).collect();
        let pairs: Vec<Pair> = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| Pair {
                key: k,
                val: (49_999 - i) as u32,
            })
            .collect();
        // Bigram occurrences at `val` in ids, some followed by a sentence end.
        let ids: Vec<u32> = (0..50_002u32)
            .map(|j| if j % 7 == 0 { EOS } else { j % 100 + 3 })
            .collect();
        let mut out = Vec::new();
        let extend = Extend {
            ids: &ids,
            n: 2,
            out: &mut out,
        };
        let level = runs(&pairs, 20, Some(extend));
        let runs: Vec<&[u64]> = keys.chunk_by(|a, b| a == b).collect();
        assert_eq!(level.len(), runs.len());
        for (e, run) in runs.iter().enumerate() {
            assert_eq!(level.keys[e], pack(0, run[0] as u32));
            assert_eq!(level.counts[e], run.len() as u64);
        }
        let mut want = Vec::new();
        let mut entry = 0;
        for (i, p) in pairs.iter().enumerate() {
            if i > 0 && p.key != pairs[i - 1].key {
                entry += 1;
            }
            let last = p.val as usize + 1;
            if ids[last] != EOS && last + 1 < ids.len() {
                want.push(Pair {
                    key: (entry << 20) | ids[last + 1] as u64,
                    val: p.val,
                });
            }
        }
        assert_eq!(out, want);
    }

    #[test]
    fn merge_equals_counting_together() {
        let mut a = NGramCounts::new(3).unwrap();
        a.add_lines(["x y z", "y y"].into_iter()).unwrap();
        let mut b = NGramCounts::new(3).unwrap();
        b.add_lines(["z y x", "y y q"].into_iter()).unwrap();
        let mut both = NGramCounts::new(3).unwrap();
        both.add_lines(["x y z", "y y", "z y x", "y y q"].into_iter())
            .unwrap();
        a.merge(&b).unwrap();
        for g in [
            &["y", "y"][..],
            &["<s>", "y", "y"],
            &["y", "x", "</s>"],
            &["q"],
        ] {
            assert_eq!(a.count(g), both.count(g), "{g:?}");
        }
        assert_eq!(a.num_ngrams(), both.num_ngrams());
    }

    #[test]
    fn add_ids_checks_range() {
        let mut c = NGramCounts::new(2).unwrap();
        c.add_lines(["a b"].into_iter()).unwrap();
        assert!(c.add_ids(&[3, 9]).is_err());
        assert!(c.add_ids(&[3, 1]).is_err());
        c.add_ids(&[3, 4, 2, 4]).unwrap();
        assert_eq!(c.count(&["b", "</s>"]), 3);
        assert_eq!(c.count(&["<s>", "b"]), 1);
    }

    #[test]
    fn add_file_counts_lines_and_names_the_line_of_bad_utf8() {
        let dir = std::env::temp_dir().join(format!("rnnrs-counts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.txt");
        std::fs::write(&good, "a b\n\nb a\n").unwrap();
        let mut c = NGramCounts::new(2).unwrap();
        c.add_file(&good).unwrap();
        assert_eq!((c.sentences(), c.count(&["a", "b"])), (2, 1));
        let bad = dir.join("latin1.txt");
        std::fs::write(&bad, b"a b\ncaf\xe9\n").unwrap();
        match c.add_file(&bad) {
            Err(CoreError::Format {
                kind: FormatKind::Text,
                line: 2,
                message,
                ..
            }) => assert_eq!(message, "not UTF-8 (byte 7)"),
            other => panic!("expected a text format error, got {other:?}"),
        }
        assert_eq!(c.sentences(), 2, "nothing of a bad file is counted");
        assert!(matches!(
            c.add_file(&dir.join("missing.txt")),
            Err(CoreError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
