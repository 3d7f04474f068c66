//! Counting tables: raw counts of every order 1..N, parallel over partitions, mergeable.
//!
//! Unigram counts are a dense array by word id. Higher orders are partitioned by their
//! first word (`word % PARTS`): an n-gram and all its prefixes live in the same partition,
//! so each partition is counted by one thread with no merge step. Within a partition, the
//! n-gram `(prefix, w)` is keyed by the prefix's index at the order below (its word id for
//! bigrams) and the last word, packed in a u64.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::vocab::{Vocab, BOS, EOS};
use crate::{CoreError, Result};

/// Number of partitions of the higher-order tables.
pub const PARTS: usize = 32;

#[inline(always)]
pub(crate) fn pack(prefix: u32, word: u32) -> u64 {
    ((prefix as u64) << 32) | word as u64
}

#[inline(always)]
pub(crate) fn unpack(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// The n-grams of one order in one partition, in insertion order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Level {
    map: FxHashMap<u64, u32>,
    pub(crate) keys: Vec<u64>,
    pub(crate) counts: Vec<u64>,
}

impl Level {
    #[inline(always)]
    fn add(&mut self, key: u64, count: u64) -> Result<u32> {
        let next = self.keys.len();
        let idx = *self.map.entry(key).or_insert(next as u32);
        if idx as usize == next {
            if next >= u32::MAX as usize {
                return Err(CoreError::invalid(
                    "corpus",
                    "more than 4 billion distinct n-grams of one order in one partition",
                ));
            }
            self.keys.push(key);
            self.counts.push(0);
        }
        self.counts[idx as usize] += count;
        Ok(idx)
    }

    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        self.map.get(&key).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    fn memory_bytes(&self) -> usize {
        self.map.capacity() * 16 + self.keys.capacity() * 8 + self.counts.capacity() * 8
    }
}

/// Raw n-gram counts of orders 1..=order with their vocabulary.
#[derive(Clone, Debug)]
pub struct NGramCounts {
    order: usize,
    pub(crate) vocab: Vocab,
    pub(crate) unigrams: Vec<u64>,
    /// `parts[p][n - 2]`: the n-grams of order n starting with a word w, w % PARTS == p.
    pub(crate) parts: Vec<Vec<Level>>,
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
            parts: vec![vec![Level::default(); order - 1]; PARTS],
            sentences: 0,
            tokens: 0,
        })
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
        let mut ids = Vec::new();
        self.vocab.encode_lines(lines, &mut ids);
        self.add_padded(&ids)
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
        let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); PARTS];
        for (i, &w) in ids.iter().enumerate() {
            self.unigrams[w as usize] += 1;
            if w == BOS {
                self.sentences += 1;
            } else {
                self.tokens += 1;
            }
            if w != EOS && self.order > 1 {
                buckets[w as usize % PARTS].push(i as u32);
            }
        }
        let order = self.order;
        self.parts
            .par_iter_mut()
            .zip(buckets.par_iter())
            .try_for_each(|(levels, starts)| -> Result<()> {
                for &start in starts {
                    let start = start as usize;
                    let mut prefix = ids[start];
                    for n in 2..=order {
                        let Some(&w) = ids.get(start + n - 1) else {
                            break;
                        };
                        if w == BOS {
                            break;
                        }
                        prefix = levels[n - 2].add(pack(prefix, w), 1)?;
                        if w == EOS {
                            break;
                        }
                    }
                }
                Ok(())
            })
    }

    /// The local index of `words` (length >= 2) in its partition.
    fn find(&self, words: &[u32]) -> Option<u32> {
        let levels = &self.parts[words[0] as usize % PARTS];
        let mut prefix = words[0];
        for (n, &w) in words.iter().enumerate().skip(1) {
            prefix = levels[n - 1].get(pack(prefix, w))?;
        }
        Some(prefix)
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
        let levels = &self.parts[ids[0] as usize % PARTS];
        self.find(&ids)
            .map(|i| levels[ids.len() - 2].counts[i as usize])
            .unwrap_or(0)
    }

    /// Number of distinct n-grams of each order 1..=order (unigrams: words seen).
    pub fn num_ngrams(&self) -> Vec<u64> {
        let mut out = vec![self.unigrams.iter().filter(|&&c| c > 0).count() as u64];
        for n in 2..=self.order {
            out.push(self.parts.iter().map(|l| l[n - 2].len() as u64).sum());
        }
        out
    }

    /// The raw counts of order n, in a fixed order (unigrams by word id, zeros included).
    pub(crate) fn raw_counts(&self, n: usize) -> Vec<u64> {
        if n == 1 {
            return self.unigrams.clone();
        }
        self.parts
            .iter()
            .flat_map(|l| l[n - 2].counts.iter().copied())
            .collect()
    }

    /// Bytes held by the tables (approximate).
    pub fn memory_bytes(&self) -> usize {
        self.unigrams.capacity() * 8
            + self.vocab.memory_bytes()
            + self
                .parts
                .iter()
                .flat_map(|l| l.iter().map(Level::memory_bytes))
                .sum::<usize>()
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
        // For each partition of `other`, where each of its entries went: (part, local).
        let mut placed: Vec<Vec<(u32, u32)>> = vec![Vec::new(); PARTS];
        for n in 2..=self.order {
            for (p, levels) in other.parts.iter().enumerate() {
                let level = &levels[n - 2];
                let mut now = Vec::with_capacity(level.len());
                for (&key, &c) in level.keys.iter().zip(&level.counts) {
                    let (prefix, w) = unpack(key);
                    let (part, mine) = if n == 2 {
                        let first = remap[prefix as usize];
                        (first as usize % PARTS, first)
                    } else {
                        let (part, local) = placed[p][prefix as usize];
                        (part as usize, local)
                    };
                    let idx = self.parts[part][n - 2].add(pack(mine, remap[w as usize]), c)?;
                    now.push((part as u32, idx));
                }
                placed[p] = now;
            }
        }
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
}
