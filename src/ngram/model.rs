//! A backoff model in memory (or memory-mapped) and its scoring: log10 probabilities of
//! id streams, single queries, and whole distributions for sampling.
//!
//! Spec: python/rnnrs/reference/ngram.py::logprob10 and ::score_sentence; streams and
//! distributions as python/rnnrs/backends/numpy_ngram.py::RefNGramModel (`score_ids`, `distribution`).

use std::sync::OnceLock;

use rayon::prelude::*;

use super::sorted::{build_tables, SortedLevel};
use super::store::{combine, unigram_key, ProbBow, Store, Table, BLANK};
use super::vocab::{Vocab, BOS, EOS};
use super::MAX_ORDER;
use crate::{CoreError, Result};

/// A backoff language model: log10 probabilities and backoffs of every n-gram.
#[derive(Clone, Debug)]
pub struct Model {
    pub(crate) order: usize,
    pub(crate) vocab: Vocab,
    pub(crate) method: String,
    /// stupid_backoff: the penalty per backoff step (scores, not probabilities).
    pub(crate) stupid_alpha: Option<f64>,
    pub(crate) unigrams: Store<ProbBow>,
    /// `tables[n - 2]`: the probing table of order n (see [`Model::tables`]).
    tables: OnceLock<Vec<Table>>,
    /// An estimated model's n-grams of orders 2.. in sorted order (None when read from a
    /// file): the tables are built from them on first use.
    pub(crate) sorted: Option<Vec<SortedLevel>>,
}

/// What scoring remembers of the words before: the n-grams ending at the last word that
/// are in the model (hash keys and backoffs, by length), and how many words there were.
#[derive(Clone, Copy, Debug)]
pub struct State {
    keys: [u64; MAX_ORDER],
    bows: [f64; MAX_ORDER],
    len: usize,
    history: usize,
}

/// How a model holds its n-grams of orders 2.. when built.
pub(crate) enum Levels {
    /// Probing tables, as read from a file.
    Tables(Vec<Table>),
    /// Sorted arrays, as estimation leaves them; the tables are built from them on first use.
    Sorted(Vec<SortedLevel>),
}

impl Model {
    pub(crate) fn new(
        order: usize,
        vocab: Vocab,
        method: String,
        stupid_alpha: Option<f64>,
        unigrams: Store<ProbBow>,
        levels: Levels,
    ) -> Model {
        let (tables, sorted) = match levels {
            Levels::Tables(tables) => (OnceLock::from(tables), None),
            Levels::Sorted(sorted) => (OnceLock::new(), Some(sorted)),
        };
        Model {
            order,
            vocab,
            method,
            stupid_alpha,
            unigrams,
            tables,
            sorted,
        }
    }

    /// The probing tables, built on first use for an estimated model (fitting and writing
    /// ARPA do not need them; queries do).
    pub(crate) fn tables(&self) -> &[Table] {
        self.tables.get_or_init(|| match &self.sorted {
            Some(levels) => build_tables(levels, self.vocab.len()),
            None => Vec::new(),
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

    /// The smoothing method the model was estimated with ("arpa" when read from ARPA).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The stupid-backoff penalty, when the model holds scores rather than probabilities.
    pub fn stupid_alpha(&self) -> Option<f64> {
        self.stupid_alpha
    }

    /// Number of n-grams of each order (unigrams: the whole vocabulary).
    pub fn num_ngrams(&self) -> Vec<u64> {
        let mut out = vec![self.vocab.len() as u64];
        match &self.sorted {
            Some(levels) => out.extend(levels.iter().map(|l| l.count as u64)),
            None => out.extend(self.tables().iter().map(|t| t.count as u64)),
        }
        out
    }

    /// Bytes of the tables (the probing tables once built, the sorted n-grams if held).
    pub fn memory_bytes(&self) -> usize {
        self.unigrams.as_slice().len() * 16
            + self.tables.get().map_or(0, |ts| {
                ts.iter().map(|t| t.slots().len() * 32).sum::<usize>()
            })
            + self.sorted.as_ref().map_or(0, |ls| {
                ls.iter().map(SortedLevel::memory_bytes).sum::<usize>()
            })
            + self.vocab.memory_bytes()
    }

    /// The state at the start of a sentence (after `<s>`).
    pub fn begin_sentence(&self) -> State {
        let mut s = State {
            keys: [0; MAX_ORDER],
            bows: [0.0; MAX_ORDER],
            len: 0,
            history: 1.min(self.order - 1),
        };
        if self.order > 1 {
            s.keys[0] = unigram_key(BOS);
            s.bows[0] = self.unigrams.as_slice()[BOS as usize].bow;
            s.len = 1;
        }
        s
    }

    /// log10 p(word | state) and the state after `word`. `word` must be a valid id.
    #[inline]
    pub fn step(&self, state: &State, word: u32) -> (f64, State) {
        let mut out = State {
            keys: [0; MAX_ORDER],
            bows: [0.0; MAX_ORDER],
            len: 0,
            history: 0,
        };
        let (prob, _) = self.step_into(self.tables(), state, word, &mut out);
        (prob, out)
    }

    /// log10 p(word | state) and the length of the longest n-gram of the model that gave
    /// it, writing the state after `word` into `out` (only its first `len` keys and
    /// backoffs: nothing is cleared or copied beyond them).
    #[inline(always)]
    fn step_into(
        &self,
        tables: &[Table],
        state: &State,
        word: u32,
        out: &mut State,
    ) -> (f64, usize) {
        let uni = self.unigrams.as_slice()[word as usize];
        out.history = (state.history + 1).min(self.order - 1);
        out.len = 0;
        let mut prob = uni.prob;
        let mut matched = 1; // order of the longest n-gram found
        if self.order > 1 {
            out.keys[0] = unigram_key(word);
            out.bows[0] = uni.bow;
            out.len = 1;
        }
        for j in 1..=state.len {
            let key = combine(state.keys[j - 1], word);
            let Some(slot) = tables[j - 1].get(key) else {
                break;
            };
            if slot.prob != BLANK {
                prob = slot.prob;
                matched = j + 1;
            }
            if j + 1 < self.order {
                out.keys[j] = key;
                out.bows[j] = slot.bow;
                out.len = j + 1;
            }
        }
        match self.stupid_alpha {
            Some(alpha) => {
                let steps = state.history + 1 - matched;
                prob += steps as f64 * alpha.log10();
            }
            None => {
                for j in matched..=state.len {
                    prob += state.bows[j - 1];
                }
            }
        }
        (prob, matched)
    }

    /// Start loading the slots the word after `word` will look up (memory-level parallelism:
    /// scoring is bound by cache misses on the hash tables).
    #[inline(always)]
    fn prefetch_next(&self, tables: &[Table], state: &State, word: u32, next_word: u32) {
        if word == EOS || self.order < 2 {
            return;
        }
        tables[0].prefetch(combine(unigram_key(word), next_word));
        let longer = state.len.min(self.order - 2);
        for (table, &prev) in tables[1..=longer].iter().zip(&state.keys) {
            table.prefetch(combine(combine(prev, word), next_word));
        }
    }

    fn check_id(&self, word: u32, position: usize, name: &str) -> Result<()> {
        if word as usize >= self.vocab.len() {
            return Err(CoreError::invalid(
                name,
                format!(
                    "id {word} at position {position} is out of range (the vocabulary has {} words)",
                    self.vocab.len()
                ),
            ));
        }
        Ok(())
    }

    /// The state after the context words (oldest first). With `bos`, the context follows
    /// `<s>` (the start of a sentence); only its last `order - 1` words count.
    pub fn state_for(&self, context: &[u32], bos: bool) -> Result<State> {
        for (i, &w) in context.iter().enumerate() {
            self.check_id(w, i, "context")?;
        }
        let keep = self.order - 1;
        let mut state = self.begin_sentence();
        if !(bos && context.len() < keep) {
            state.len = 0;
            state.history = 0;
        }
        for &w in &context[context.len().saturating_sub(keep)..] {
            state = self.step(&state, w).1;
        }
        Ok(state)
    }

    /// log10 p(word | context words), the context following `<s>` when `bos`.
    pub fn logprob(&self, context: &[u32], word: u32, bos: bool) -> Result<f64> {
        self.check_id(word, 0, "word")?;
        if word == BOS {
            return Ok(f64::NEG_INFINITY);
        }
        let state = self.state_for(context, bos)?;
        Ok(self.step(&state, word).0)
    }

    /// log10 p(w | state) for every word id (`<s>`: -inf).
    pub fn distribution(&self, state: &State) -> Vec<f64> {
        let mut out: Vec<f64> = (0..self.vocab.len() as u32)
            .into_par_iter()
            .with_min_len(4096)
            .map(|w| self.step(state, w).0)
            .collect();
        out[BOS as usize] = f64::NEG_INFINITY;
        out
    }

    /// Score a chunk of whole sentences, `LANES` runs of sentences at a time, a token of
    /// each in turn: scoring waits on cache misses in the tables, and the lanes keep
    /// several of them (prefetched one token ahead) in flight at once.
    fn score_lanes(&self, chunk: &[u32], dst: &mut [f64]) {
        let bounds = sentence_bounds(chunk, chunk.len().div_ceil(LANES).max(1));
        let start = self.begin_sentence();
        let tables = self.tables();
        // Per lane: next position, end, and two states (before and after the token).
        let mut lanes: Vec<(usize, usize, [State; 2])> = bounds
            .windows(2)
            .filter(|w| w[0] < w[1])
            .map(|w| (w[0], w[1], [start; 2]))
            .collect();
        while !lanes.is_empty() {
            for (at, end, states) in lanes.iter_mut() {
                let w = chunk[*at];
                if *at + 1 < *end {
                    self.prefetch_next(tables, &states[0], w, chunk[*at + 1]);
                }
                let [before, after] = states;
                dst[*at] = self.step_into(tables, before, w, after).0;
                if w == EOS {
                    states[0] = start;
                } else {
                    states.swap(0, 1);
                }
                *at += 1;
            }
            lanes.retain(|(at, end, _)| at < end);
        }
    }

    /// Score a stream of ids: sentences ended by `</s>`, each starting after `<s>`.
    /// Writes log10 p of every token into `out` (same length); parallel over sentences.
    pub fn score_stream(&self, ids: &[u32], out: &mut [f64]) -> Result<()> {
        if ids.len() != out.len() {
            return Err(CoreError::invalid("out", "must have the length of ids"));
        }
        self.check_stream(ids)?;
        // Built once here, not inside a parallel task.
        self.tables();
        // Chunks cut after a </s>, a few per thread.
        let target = (ids.len() / (rayon::current_num_threads() * 4)).max(16_384);
        let bounds = sentence_bounds(ids, target);
        let mut pieces: Vec<(&[u32], &mut [f64])> = Vec::with_capacity(bounds.len());
        let mut rest = out;
        for w in bounds.windows(2) {
            let (a, b) = rest.split_at_mut(w[1] - w[0]);
            pieces.push((&ids[w[0]..w[1]], a));
            rest = b;
        }
        pieces
            .into_par_iter()
            .for_each(|(chunk, dst)| self.score_lanes(chunk, dst));
        Ok(())
    }

    /// Every id of a stream in range and none of them `<s>`.
    fn check_stream(&self, ids: &[u32]) -> Result<()> {
        for (i, &w) in ids.iter().enumerate() {
            if w as usize >= self.vocab.len() || w == BOS {
                self.check_id(w, i, "ids")?;
                return Err(CoreError::invalid(
                    "ids",
                    format!("<s> (id {BOS}) at position {i}: sentences start by themselves"),
                ));
            }
        }
        Ok(())
    }

    /// For each token of a stream of sentences (as [`Model::score_stream`] takes them), the
    /// length of the longest n-gram of the model that scored it (KenLM `query`'s middle
    /// figure: 1 when only the unigram was found). Sequential: for reports, not for speed.
    pub fn ngram_lengths(&self, ids: &[u32]) -> Result<Vec<u8>> {
        self.check_stream(ids)?;
        let tables = self.tables();
        let start = self.begin_sentence();
        let (mut before, mut after) = (start, start);
        let mut out = Vec::with_capacity(ids.len());
        for &w in ids {
            let (_, matched) = self.step_into(tables, &before, w, &mut after);
            out.push(matched as u8);
            if w == EOS {
                before = start;
            } else {
                std::mem::swap(&mut before, &mut after);
            }
        }
        Ok(out)
    }
}

/// Sentences scored side by side in one thread.
const LANES: usize = 4;

/// Cut points of `ids` (0 and the end included), each after a `</s>` at least `target`
/// tokens past the previous one.
fn sentence_bounds(ids: &[u32], target: usize) -> Vec<usize> {
    let mut bounds = vec![0usize];
    let mut next = target;
    while next < ids.len() {
        match ids[next..].iter().position(|&w| w == EOS) {
            Some(p) if next + p + 1 < ids.len() => {
                bounds.push(next + p + 1);
                next += p + 1 + target;
            }
            _ => break,
        }
    }
    bounds.push(ids.len());
    bounds
}

#[cfg(test)]
mod tests {
    use crate::ngram::estimate::{estimate, Method, Smoothing};
    use crate::ngram::NGramCounts;

    #[test]
    fn ngram_lengths_are_the_longest_match_of_each_token() {
        let mut counts = NGramCounts::new(3).unwrap();
        counts.add_lines(["a b c", "b c a"].into_iter()).unwrap();
        let model = estimate(&counts, &Smoothing::new(Method::WittenBell)).unwrap();
        let v = model.vocab();
        let (a, b, c) = (v.id_or_unk("a"), v.id_or_unk("b"), v.id_or_unk("c"));
        // "a b c </s>": <s> a (bigram), <s> a b, a b c, b c </s> (trigrams), all seen; then
        // "c a </s>", a new sentence: <s> c unseen (unigram), c a (bigram: <s> c a unseen),
        // c a </s> (seen in "b c a </s>").
        let ids = [a, b, c, 2, c, a, 2];
        assert_eq!(
            model.ngram_lengths(&ids).unwrap(),
            vec![2, 3, 3, 3, 1, 2, 3]
        );
        assert!(model.ngram_lengths(&[a, 1]).is_err(), "<s> inside a stream");
    }
}
