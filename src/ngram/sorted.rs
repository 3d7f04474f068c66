//! An estimated model's n-grams as estimation leaves them: in sorted order, the counts'
//! keys beside their log10 probabilities and backoffs. The ARPA writer reads them in
//! order; the probing hash tables for queries are built from them only when first needed
//! (fitting then writing ARPA never builds them).
//!
//! Reference counterpart: the `Model` of python/rnnrs/reference/ngram.py (per order, a dict
//! from n-gram to `[log10 prob, log10 backoff]`).

use rayon::prelude::*;

use super::counts::unpack;
use super::store::{combine, unigram_key, Table, TableBuilder, BLANK};

/// The n-grams of one order >= 2 in sorted order.
#[derive(Clone, Debug)]
pub(crate) struct SortedLevel {
    /// `(index of the (n-1)-gram prefix at the order below (bigrams: its word), last word)`,
    /// packed as in the counts.
    pub(crate) keys: Vec<u64>,
    /// log10 p; [`BLANK`] for an n-gram pruned away (kept as a row so indices stay valid).
    pub(crate) probs: Vec<f64>,
    /// log10 backoff as a context (0 at the highest order).
    pub(crate) bows: Vec<f64>,
    /// Rows with a probability.
    pub(crate) count: usize,
}

impl SortedLevel {
    pub(crate) fn new(keys: Vec<u64>, probs: Vec<f64>, bows: Vec<f64>) -> SortedLevel {
        let count = probs.par_iter().filter(|&&p| p != BLANK).count();
        SortedLevel {
            keys,
            probs,
            bows,
            count,
        }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        (self.keys.capacity() + self.probs.capacity() + self.bows.capacity()) * 8
    }
}

/// How many n-grams ahead the home slot of an insertion is prefetched.
const PREFETCH: usize = 16;

/// The probing tables of orders 2.. from the sorted levels, order by order. An entry's
/// prefix is the slot of its parent one order down; parents come in sorted order, so those
/// reads are sequential, and the table writes are prefetched. The estimator has checked
/// that no kept n-gram has a pruned prefix.
pub(crate) fn build_tables(levels: &[SortedLevel], vocab_size: usize) -> Vec<Table> {
    let mut hashes: Vec<u64> = (0..vocab_size as u32).map(unigram_key).collect();
    let mut slot_of: Vec<u32> = (0..vocab_size as u32).collect();
    let mut tables = Vec::with_capacity(levels.len());
    for level in levels {
        let below = &hashes;
        let next: Vec<u64> = level
            .keys
            .par_iter()
            .map(|&key| {
                let (parent, w) = unpack(key);
                combine(below[parent as usize], w)
            })
            .collect();
        let mut table = TableBuilder::with_entries(level.count);
        let mut slots = vec![u32::MAX; level.keys.len()];
        for (g, &prob) in level.probs.iter().enumerate() {
            if let Some(&ahead) = next.get(g + PREFETCH) {
                table.prefetch(ahead);
            }
            if prob == BLANK {
                continue;
            }
            let (parent, w) = unpack(level.keys[g]);
            let prefix = slot_of[parent as usize];
            slots[g] = table.insert(next[g], prob, level.bows[g], prefix, w) as u32;
        }
        tables.push(table.finish());
        hashes = next;
        slot_of = slots;
    }
    tables
}
