//! Byte-level BPE: training with incrementally updated pair counts, and encoding.
//!
//! Ids 0..=255 are the bytes themselves; the merge of rank `r` (0-based) creates id `256 + r`.
//!
//! Training (`BpeTrainer`): pre-tokens are counted once (duplicates collapse into one word
//! with a frequency), then each step merges the adjacent pair with the highest count, ties
//! broken by the smallest `(left id, right id)`. Counts are updated only around each merged
//! occurrence, and a max-heap with lazy invalidation finds the best pair without a recount.
//! Training stops at `vocab_size` ids or when the best pair occurs fewer than `min_frequency`
//! times. Within a word a merge replaces every occurrence of the pair, left to right.
//!
//! Encoding (`BpeModel`): each pre-token starts as its bytes and the adjacent pair of lowest
//! rank is merged, leftmost first, until no pair has a rank: the same segmentation training
//! produced for its own words.
//!
//! Spec: python/rnnrs/reference/bpe.py (`BpeTrainer`, `BpeEncoder`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::pretokenize::{pretokenize, split_at_safe_points};
use crate::error::{CoreError, Result};

/// Number of byte ids below the first merge id.
pub const BYTE_VOCAB: usize = 256;

/// Texts larger than this are split at safe points and processed in parallel.
const PARALLEL_CHUNK: usize = 1 << 16;

type Pair = (u32, u32);

/// Counts pre-tokens of fed texts, then learns merges from them.
#[derive(Default, Debug, Clone)]
pub struct BpeTrainer {
    counts: FxHashMap<String, u64>,
}

fn count_pieces<'a>(texts: impl Iterator<Item = &'a str>) -> FxHashMap<&'a str, u64> {
    let mut counts: FxHashMap<&str, u64> = FxHashMap::default();
    for text in texts {
        for piece in pretokenize(text) {
            *counts.entry(piece).or_insert(0) += 1;
        }
    }
    counts
}

impl BpeTrainer {
    /// An empty trainer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct pre-tokens seen so far.
    pub fn num_words(&self) -> usize {
        self.counts.len()
    }

    /// Count the pre-tokens of `texts` (in parallel over texts and large-text chunks).
    pub fn feed<S: AsRef<str> + Sync>(&mut self, texts: &[S]) {
        let chunks: Vec<&str> = texts
            .iter()
            .flat_map(|t| split_at_safe_points(t.as_ref(), PARALLEL_CHUNK))
            .collect();
        let per_thread = chunks
            .par_chunks(8)
            .map(|group| count_pieces(group.iter().copied()))
            .reduce(FxHashMap::default, |mut a, b| {
                if a.len() < b.len() {
                    return merge_counts(b, a);
                }
                for (k, v) in b {
                    *a.entry(k).or_insert(0) += v;
                }
                a
            });
        for (piece, n) in per_thread {
            match self.counts.get_mut(piece) {
                Some(c) => *c += n,
                None => {
                    self.counts.insert(piece.to_owned(), n);
                }
            }
        }
    }

    /// Learn merges until the vocabulary has `vocab_size` ids (256 bytes + merges) or no pair
    /// occurs at least `min_frequency` times. Returns the merges in rank order.
    pub fn train(&self, vocab_size: usize, min_frequency: u64) -> Result<Vec<Pair>> {
        if vocab_size < BYTE_VOCAB {
            return Err(CoreError::invalid(
                "vocab_size",
                format!("must be at least {BYTE_VOCAB} (the byte alphabet), got {vocab_size}"),
            ));
        }
        if vocab_size > u32::MAX as usize {
            return Err(CoreError::invalid(
                "vocab_size",
                format!("must fit in 32 bits, got {vocab_size}"),
            ));
        }
        if self.counts.is_empty() {
            return Err(CoreError::invalid(
                "texts",
                "no text to train on (all texts were empty)",
            ));
        }
        let mut entries: Vec<(&String, &u64)> = self.counts.iter().collect();
        entries.sort_unstable();
        let mut words: Vec<Vec<u32>> = Vec::with_capacity(entries.len());
        let mut freqs: Vec<i64> = Vec::with_capacity(entries.len());
        for (piece, &n) in entries {
            words.push(piece.bytes().map(u32::from).collect());
            freqs.push(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Ok(learn_merges(
            words,
            &freqs,
            vocab_size - BYTE_VOCAB,
            min_frequency,
        ))
    }
}

fn merge_counts<'a>(
    mut big: FxHashMap<&'a str, u64>,
    small: FxHashMap<&'a str, u64>,
) -> FxHashMap<&'a str, u64> {
    for (k, v) in small {
        *big.entry(k).or_insert(0) += v;
    }
    big
}

/// The core loop: `num_merges` merges over `words` (symbol ids) with frequencies `freqs`.
fn learn_merges(
    mut words: Vec<Vec<u32>>,
    freqs: &[i64],
    num_merges: usize,
    min_frequency: u64,
) -> Vec<Pair> {
    let mut counts: FxHashMap<Pair, i64> = FxHashMap::default();
    let mut where_: FxHashMap<Pair, Vec<u32>> = FxHashMap::default();
    for (w, (word, &f)) in words.iter().zip(freqs).enumerate() {
        for pair in word.windows(2) {
            let p = (pair[0], pair[1]);
            *counts.entry(p).or_insert(0) += f;
            let list = where_.entry(p).or_default();
            if list.last() != Some(&(w as u32)) {
                list.push(w as u32);
            }
        }
    }
    let mut heap: BinaryHeap<(i64, Reverse<Pair>)> =
        counts.iter().map(|(&p, &c)| (c, Reverse(p))).collect();
    // Grown as merges are found: `num_merges` comes from the caller's vocabulary size and
    // may be far more than the words allow (up to 2^32 - 257).
    let mut merges = Vec::new();
    let mut grown: Vec<Pair> = Vec::new();
    let min_frequency = i64::try_from(min_frequency.max(1)).unwrap_or(i64::MAX);
    while merges.len() < num_merges {
        let Some((stored, Reverse(pair))) = heap.pop() else {
            break;
        };
        let current = counts.get(&pair).copied().unwrap_or(0);
        if current != stored {
            if current > 0 {
                heap.push((current, Reverse(pair)));
            }
            continue;
        }
        if current < min_frequency {
            break;
        }
        let new_id = (BYTE_VOCAB + merges.len()) as u32;
        merges.push(pair);
        let mut affected = where_.remove(&pair).unwrap_or_default();
        affected.sort_unstable();
        affected.dedup();
        grown.clear();
        for &w in &affected {
            let f = freqs[w as usize];
            merge_word(&mut words[w as usize], pair, new_id, |p, delta| {
                let c = counts.entry(p).or_insert(0);
                *c += delta * f;
                if delta > 0 {
                    grown.push(p);
                    where_.entry(p).or_default().push(w);
                }
            });
        }
        counts.remove(&pair);
        grown.sort_unstable();
        grown.dedup();
        for &p in &grown {
            if let Some(&c) = counts.get(&p) {
                if c > 0 {
                    heap.push((c, Reverse(p)));
                }
            }
        }
    }
    merges
}

/// Replace every occurrence of `pair` in `word` (left to right) by `new_id`, reporting each
/// change of an adjacent-pair count as `change(pair, +1 | -1)`.
fn merge_word(word: &mut Vec<u32>, pair: Pair, new_id: u32, mut change: impl FnMut(Pair, i64)) {
    let (a, b) = pair;
    let mut i = 0;
    while i + 1 < word.len() {
        if word[i] == a && word[i + 1] == b {
            if i > 0 {
                let prev = word[i - 1];
                change((prev, a), -1);
                change((prev, new_id), 1);
            }
            if i + 2 < word.len() {
                let next = word[i + 2];
                change((b, next), -1);
                change((new_id, next), 1);
            }
            change(pair, -1);
            word[i] = new_id;
            word.remove(i + 1);
        }
        i += 1;
    }
}

/// A trained byte-level BPE: merges in rank order, ready to encode.
#[derive(Debug, Clone)]
pub struct BpeModel {
    merges: Vec<Pair>,
    ranks: FxHashMap<Pair, u32>,
}

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: usize,
    next: usize,
    alive: bool,
}

const NONE: usize = usize::MAX;

impl BpeModel {
    /// Build from merges in rank order; merge `r` may only use ids below `256 + r`.
    pub fn new(merges: Vec<Pair>) -> Result<Self> {
        let mut ranks = FxHashMap::default();
        for (r, &(a, b)) in merges.iter().enumerate() {
            let limit = (BYTE_VOCAB + r) as u64;
            if u64::from(a) >= limit || u64::from(b) >= limit {
                return Err(CoreError::invalid(
                    "merges",
                    format!("merge {r} ({a}, {b}) uses an id not defined before it (< {limit})"),
                ));
            }
            if ranks.insert((a, b), r as u32).is_some() {
                return Err(CoreError::invalid(
                    "merges",
                    format!("merge {r} ({a}, {b}) appears twice"),
                ));
            }
        }
        Ok(Self { merges, ranks })
    }

    /// The merges in rank order.
    pub fn merges(&self) -> &[Pair] {
        &self.merges
    }

    /// Number of ids: 256 bytes + merges.
    pub fn vocab_size(&self) -> usize {
        BYTE_VOCAB + self.merges.len()
    }

    /// Append the ids of one pre-token to `out`.
    fn encode_piece(&self, piece: &[u8], syms: &mut Vec<Symbol>, out: &mut Vec<u32>) {
        if piece.len() == 1 {
            out.push(u32::from(piece[0]));
            return;
        }
        syms.clear();
        syms.extend(piece.iter().enumerate().map(|(i, &b)| Symbol {
            id: u32::from(b),
            prev: if i == 0 { NONE } else { i - 1 },
            next: if i + 1 == piece.len() { NONE } else { i + 1 },
            alive: true,
        }));
        let mut heap: BinaryHeap<Reverse<(u32, usize)>> = BinaryHeap::new();
        for i in 0..syms.len() - 1 {
            if let Some(&r) = self.ranks.get(&(syms[i].id, syms[i + 1].id)) {
                heap.push(Reverse((r, i)));
            }
        }
        while let Some(Reverse((rank, pos))) = heap.pop() {
            let s = syms[pos];
            if !s.alive || s.next == NONE {
                continue;
            }
            let nxt = syms[s.next];
            if self.ranks.get(&(s.id, nxt.id)) != Some(&rank) {
                continue;
            }
            let new_id = (BYTE_VOCAB as u32) + rank;
            syms[pos].id = new_id;
            syms[pos].next = nxt.next;
            syms[s.next].alive = false;
            if nxt.next != NONE {
                syms[nxt.next].prev = pos;
                if let Some(&r) = self.ranks.get(&(new_id, syms[nxt.next].id)) {
                    heap.push(Reverse((r, pos)));
                }
            }
            if s.prev != NONE {
                if let Some(&r) = self.ranks.get(&(syms[s.prev].id, new_id)) {
                    heap.push(Reverse((r, s.prev)));
                }
            }
        }
        let mut i = 0;
        while i != NONE {
            out.push(syms[i].id);
            i = syms[i].next;
        }
    }

    /// Encode one chunk with its own cache of pre-token encodings.
    fn encode_chunk(&self, text: &str, out: &mut Vec<u32>) {
        let mut cache: FxHashMap<&str, (usize, usize)> = FxHashMap::default();
        let mut syms = Vec::new();
        for piece in pretokenize(text) {
            if let Some(&(start, end)) = cache.get(piece) {
                out.extend_from_within(start..end);
                continue;
            }
            let start = out.len();
            self.encode_piece(piece.as_bytes(), &mut syms, out);
            cache.insert(piece, (start, out.len()));
        }
    }

    /// Encode `text` to ids (large texts in parallel chunks; same result as sequential).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let chunks = split_at_safe_points(text, PARALLEL_CHUNK);
        if chunks.len() == 1 {
            let mut out = Vec::with_capacity(text.len() / 3);
            self.encode_chunk(text, &mut out);
            return out;
        }
        let parts: Vec<Vec<u32>> = chunks
            .par_iter()
            .map(|chunk| {
                let mut out = Vec::with_capacity(chunk.len() / 3);
                self.encode_chunk(chunk, &mut out);
                out
            })
            .collect();
        parts.concat()
    }

    /// Encode many texts in parallel.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Vec<u32>> {
        texts.par_iter().map(|t| self.encode(t.as_ref())).collect()
    }

    /// The bytes of every id, `vocab_size()` entries.
    pub fn id_bytes(&self) -> Vec<Vec<u8>> {
        let mut table: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for &(a, b) in &self.merges {
            let mut bytes = table[a as usize].clone();
            bytes.extend_from_slice(&table[b as usize]);
            table.push(bytes);
        }
        table
    }
}

/// Pair counts by a full recount, to check the incremental updates against.
#[cfg(test)]
fn recount(words: &[Vec<u32>], freqs: &[i64]) -> FxHashMap<Pair, i64> {
    let mut counts = FxHashMap::default();
    for (w, &f) in words.iter().zip(freqs) {
        for p in w.windows(2) {
            *counts.entry((p[0], p[1])).or_insert(0) += f;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(texts: &[&str], vocab_size: usize) -> BpeModel {
        let mut t = BpeTrainer::new();
        t.feed(texts);
        BpeModel::new(t.train(vocab_size, 1).unwrap()).unwrap()
    }

    #[test]
    fn first_merges_follow_counts_and_ties() {
        let m = train(&["aaab aaab ab"], 260);
        // Pieces: "aaab" x1, " aaab" x1, " ab" x1. Pair counts: (a,a)=4, (a,b)=3, ...
        assert_eq!(m.merges()[0], (97, 97));
    }

    #[test]
    fn merge_word_updates_match_recount() {
        let mut words = vec![
            b"aaaa".iter().map(|&b| u32::from(b)).collect::<Vec<_>>(),
            b"abab".iter().map(|&b| u32::from(b)).collect(),
            b"baaab".iter().map(|&b| u32::from(b)).collect(),
        ];
        let freqs = vec![3, 2, 5];
        let mut counts = recount(&words, &freqs);
        for (pair, new_id) in [((97, 97), 256), ((256, 98), 257), ((98, 97), 258)] {
            for (w, &f) in words.iter_mut().zip(&freqs) {
                merge_word(w, pair, new_id, |p, d| {
                    *counts.entry(p).or_insert(0) += d * f
                });
            }
            counts.retain(|_, c| *c != 0);
            assert_eq!(counts, recount(&words, &freqs));
        }
    }

    #[test]
    fn encode_reproduces_training_segmentation_and_round_trips() {
        let text = "the theme of the thesis is there then they went there ".repeat(20);
        let m = train(&[text.as_str()], 300);
        let ids = m.encode(&text);
        assert!(ids.len() < text.len() / 3);
        let table = m.id_bytes();
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&i| table[i as usize].clone())
            .collect();
        assert_eq!(bytes, text.as_bytes());
    }

    #[test]
    fn parallel_encode_equals_sequential() {
        let text = "alpha beta\n gamma\n\ndelta epsilon\n".repeat(6000);
        let m = train(&[text.as_str()], 280);
        let mut seq = Vec::new();
        m.encode_chunk(&text, &mut seq);
        assert_eq!(m.encode(&text), seq);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut t = BpeTrainer::new();
        assert!(t.train(300, 1).is_err());
        t.feed(&["abc"]);
        assert!(t.train(255, 1).is_err());
        assert!(BpeModel::new(vec![(256, 1)]).is_err());
        assert!(BpeModel::new(vec![(1, 2), (1, 2)]).is_err());
    }

    #[test]
    fn a_vocabulary_size_beyond_the_data_stops_when_the_pairs_run_out() {
        let mut t = BpeTrainer::new();
        t.feed(&["low lower"]);
        let merges = t.train(u32::MAX as usize, 1).unwrap();
        // lo, low, " low", er, " lower": each pre-token is one id, no pair is left.
        assert_eq!(
            merges,
            [(108, 111), (256, 119), (32, 257), (101, 114), (258, 259)]
        );
    }

    #[test]
    fn long_runs_encode_quickly_and_exactly() {
        let text = "a".repeat(100_001);
        let m = train(&["aaaa aaaa aaaaaaaa"], 262);
        let ids = m.encode(&text);
        let table = m.id_bytes();
        let n: usize = ids.iter().map(|&i| table[i as usize].len()).sum();
        assert_eq!(n, text.len());
    }
}
