//! The vocabulary: words <-> ids, with `<unk>`, `<s>`, `</s>` at 0, 1, 2.
//!
//! NumPy counterpart: python/rnnrs/backends/numpy_ngram.py::Vocabulary (other words in order of first
//! appearance).

use std::hash::Hasher;
use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;
use rustc_hash::FxHasher;

use super::id_table::IdTable;
use crate::{CoreError, Result};

/// Id of `<unk>`, the word every out-of-vocabulary token maps to.
pub const UNK: u32 = 0;
/// Id of `<s>`, the sentence start (a context only).
pub const BOS: u32 = 1;
/// Id of `</s>`, the sentence end.
pub const EOS: u32 = 2;
/// The special words, by id.
pub const SPECIAL_WORDS: [&str; 3] = ["<unk>", "<s>", "</s>"];

/// Words in id order and the reverse index.
#[derive(Clone, Debug)]
pub struct Vocab {
    words: Vec<String>,
    /// The ids of the words, split by hash into [`SHARDS`] tables (filled in parallel).
    shards: Vec<IdTable>,
}

impl Default for Vocab {
    fn default() -> Self {
        Self::new()
    }
}

/// The index is split into this many tables by the low bits of the words' hashes.
const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// While [`Vocab::encode_lines`] runs, an id with this bit stands for a word new to the
/// vocabulary, numbered within its table (`NEW | local << SHARD_BITS | table`) until the
/// new words get their ids in order of first appearance.
const NEW: u32 = 1 << 31;
/// New words one table can number in one call.
const NEW_PER_TABLE: usize = (1 << (31 - SHARD_BITS)) - 1;
/// Lines per task of the parallel split.
const CHUNK_LINES: usize = 4096;

/// A word's hash: the table it goes to and the key it is stored under.
#[derive(Clone, Copy)]
struct WordHash(u64);

impl WordHash {
    fn of(word: &str) -> WordHash {
        let mut h = FxHasher::default();
        h.write(word.as_bytes());
        // FxHash's low bits are weak; mix (splitmix64's finaliser) before cutting them off.
        let mut z = h.finish();
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        WordHash(z ^ (z >> 31))
    }

    fn table(self) -> usize {
        self.0 as usize & (SHARDS - 1)
    }

    fn key(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

fn too_many_words() -> CoreError {
    CoreError::invalid("corpus", "more than 2 billion distinct words")
}

impl Vocab {
    /// A vocabulary holding only the three special words.
    pub fn new() -> Self {
        let mut v = Vocab {
            words: Vec::new(),
            shards: vec![IdTable::default(); SHARDS],
        };
        for w in SPECIAL_WORDS {
            v.intern(w);
        }
        v
    }

    /// The id of `word`, added at the end when new.
    pub fn intern(&mut self, word: &str) -> u32 {
        let h = WordHash::of(word);
        let (words, table) = (&self.words, &mut self.shards[h.table()]);
        if let Some(id) = table.find(h.key(), |id| words[id as usize] == word) {
            return id;
        }
        let id = self.words.len() as u32;
        table.insert(h.key(), id);
        self.words.push(word.to_owned());
        id
    }

    /// The id of `word`, if known.
    pub fn get(&self, word: &str) -> Option<u32> {
        let h = WordHash::of(word);
        self.shards[h.table()].find(h.key(), |id| self.words[id as usize] == word)
    }

    /// The id of `word`, `<unk>` when unknown.
    pub fn id_or_unk(&self, word: &str) -> u32 {
        self.get(word).unwrap_or(UNK)
    }

    /// The word of `id` (`<unk>` for an id out of range).
    pub fn word(&self, id: u32) -> &str {
        self.words
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or(SPECIAL_WORDS[0])
    }

    /// Number of words, specials included.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Never true: the specials are always there.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// All words in id order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Bytes held (approximate).
    pub fn memory_bytes(&self) -> usize {
        self.words.iter().map(|w| w.len() + 24).sum::<usize>()
            + self.shards.iter().map(IdTable::memory_bytes).sum::<usize>()
    }

    /// Split each line on whitespace and append `<s> ids.. </s>` to `out`, adding new words;
    /// lines without tokens are skipped. Returns the number of sentences.
    ///
    /// In parallel: chunks of lines are split into tokens; each table of the index looks
    /// up its share of the tokens (by hash) in text order, numbering the words it does not
    /// know in order of first appearance; the new words of all tables then get their ids in
    /// order of first appearance in the text, whatever the number of threads.
    pub fn encode_lines(&mut self, lines: &[&str], out: &mut Vec<u32>) -> Result<usize> {
        let chunks: Vec<Tokens> = lines
            .par_chunks(CHUNK_LINES)
            .map(Tokens::split)
            .collect::<Result<_>>()?;
        let words = &self.words;
        let new: Vec<NewWords> = self
            .shards
            .par_iter_mut()
            .enumerate()
            .map(|(t, table)| NewWords::look_up(t, table, words, &chunks))
            .collect::<Result<_>>()?;
        // Every new word, by (chunk, token) of its first appearance.
        let mut firsts: Vec<(u64, u32)> =
            new.iter().flat_map(|n| n.firsts.iter().copied()).collect();
        firsts.par_sort_unstable_by_key(|&(at, _)| at);
        let base = self.words.len();
        if base + firsts.len() >= NEW as usize {
            return Err(too_many_words());
        }
        let mut ids: Vec<Vec<u32>> = new.iter().map(|n| vec![0; n.texts.len()]).collect();
        for (i, &(_, local)) in firsts.iter().enumerate() {
            let (t, l) = unpack_new(local);
            ids[t][l] = (base + i) as u32;
        }
        self.words.par_extend(firsts.par_iter().map(|&(_, local)| {
            let (t, l) = unpack_new(local);
            new[t].texts[l].to_owned()
        }));
        self.shards
            .par_iter_mut()
            .zip(&ids)
            .for_each(|(table, ids)| table.map_ids(|id| resolve(id, ids)));
        let start = out.len();
        let sizes: Vec<usize> = chunks
            .iter()
            .map(|c| c.texts.len() + 2 * c.line_lengths.len())
            .collect();
        out.resize(start + sizes.iter().sum::<usize>(), 0);
        let mut pieces = Vec::with_capacity(chunks.len());
        let mut rest = &mut out[start..];
        for &size in &sizes {
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(size);
            pieces.push(mine);
            rest = tail;
        }
        pieces
            .into_par_iter()
            .zip(&chunks)
            .for_each(|(dst, chunk)| chunk.write_ids(&ids, dst));
        Ok(chunks.iter().map(|c| c.line_lengths.len()).sum())
    }
}

/// The (table, number within the table) of a new word's provisional id.
fn unpack_new(id: u32) -> (usize, usize) {
    (
        id as usize & (SHARDS - 1),
        ((id & !NEW) >> SHARD_BITS) as usize,
    )
}

/// The final id of `id`, given the ids of the new words of its table.
fn resolve(id: u32, new_ids: &[u32]) -> u32 {
    if id & NEW == 0 {
        id
    } else {
        new_ids[unpack_new(id).1]
    }
}

/// Call `f` on each whitespace-separated token of `line` (as `str::split_whitespace`,
/// byte by byte when the line is ASCII).
fn for_each_token<'a>(line: &'a str, mut f: impl FnMut(&'a str)) {
    if !line.is_ascii() {
        line.split_whitespace().for_each(f);
        return;
    }
    let mut start = None;
    for (i, &b) in line.as_bytes().iter().enumerate() {
        // The ASCII characters `char::is_whitespace` accepts.
        let space = matches!(b, b' ' | b'\t'..=b'\r');
        match start {
            Some(s) if space => {
                f(&line[s..i]);
                start = None;
            }
            None if !space => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        f(&line[s..]);
    }
}

/// One chunk of lines split into tokens.
struct Tokens<'a> {
    texts: Vec<&'a str>,
    /// Tokens of each line that has any.
    line_lengths: Vec<u32>,
    /// Per table of the index: (index in `texts`, key) of the tokens that hash to it.
    by_table: Vec<Vec<(u32, u32)>>,
    /// The id of each token, written by the table that owns it.
    ids: Vec<AtomicU32>,
}

impl<'a> Tokens<'a> {
    fn split(lines: &[&'a str]) -> Result<Tokens<'a>> {
        let mut texts = Vec::new();
        let mut line_lengths = Vec::new();
        for line in lines {
            let before = texts.len();
            for_each_token(line, |t| texts.push(t));
            if texts.len() > before {
                line_lengths.push((texts.len() - before) as u32);
            }
        }
        if texts.len() >= u32::MAX as usize {
            return Err(CoreError::invalid(
                "corpus",
                format!("more than 4 billion tokens in {CHUNK_LINES} lines"),
            ));
        }
        let mut by_table = vec![Vec::new(); SHARDS];
        for (k, t) in texts.iter().enumerate() {
            let h = WordHash::of(t);
            by_table[h.table()].push((k as u32, h.key()));
        }
        let ids = texts.iter().map(|_| AtomicU32::new(0)).collect();
        Ok(Tokens {
            texts,
            line_lengths,
            by_table,
            ids,
        })
    }

    /// `<s> ids.. </s>` of each line into `dst` (exactly its size).
    fn write_ids(&self, new_ids: &[Vec<u32>], dst: &mut [u32]) {
        let mut at = 0;
        let mut tokens = self.ids.iter();
        for &n in &self.line_lengths {
            dst[at] = BOS;
            for (d, id) in dst[at + 1..]
                .iter_mut()
                .zip(tokens.by_ref().take(n as usize))
            {
                let id = id.load(Ordering::Relaxed);
                *d = resolve(id, &new_ids[id as usize & (SHARDS - 1)]);
            }
            at += n as usize + 1;
            dst[at] = EOS;
            at += 1;
        }
    }
}

/// The words one table of the index did not know, in order of first appearance.
struct NewWords<'a> {
    texts: Vec<&'a str>,
    /// (chunk << 32 | token) of each new word's first appearance, and its provisional id.
    firsts: Vec<(u64, u32)>,
}

impl<'a> NewWords<'a> {
    /// Look up the tokens of `chunks` that hash to table `t`, in text order, adding each
    /// new word to the table under a provisional id; every token's id is written.
    fn look_up(
        t: usize,
        table: &mut IdTable,
        words: &[String],
        chunks: &[Tokens<'a>],
    ) -> Result<NewWords<'a>> {
        let mut new = NewWords {
            texts: Vec::new(),
            firsts: Vec::new(),
        };
        for (c, chunk) in chunks.iter().enumerate() {
            for &(k, key) in &chunk.by_table[t] {
                let text = chunk.texts[k as usize];
                let found = table.find(key, |id| {
                    if id & NEW == 0 {
                        words[id as usize] == text
                    } else {
                        new.texts[unpack_new(id).1] == text
                    }
                });
                let id = match found {
                    Some(id) => id,
                    None => {
                        if new.texts.len() >= NEW_PER_TABLE {
                            return Err(too_many_words());
                        }
                        let id = NEW | ((new.texts.len() as u32) << SHARD_BITS) | t as u32;
                        new.texts.push(text);
                        new.firsts.push((((c as u64) << 32) | k as u64, id));
                        table.insert(key, id);
                        id
                    }
                };
                chunk.ids[k as usize].store(id, Ordering::Relaxed);
            }
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_first_then_first_appearance() {
        let mut v = Vocab::new();
        let mut ids = Vec::new();
        assert_eq!(
            v.encode_lines(&["b a", "", "  ", "a c"], &mut ids).unwrap(),
            2
        );
        assert_eq!(ids, vec![1, 3, 4, 2, 1, 4, 5, 2]);
        assert_eq!(v.word(0), "<unk>");
        assert_eq!(v.id_or_unk("zzz"), UNK);
        assert_eq!(v.len(), 6);
    }

    /// The id stream of `lines`, interning their words one at a time.
    fn intern_one_by_one(vocab: &mut Vocab, lines: &[&str]) -> Vec<u32> {
        let mut ids = Vec::new();
        for line in lines {
            ids.push(BOS);
            ids.extend(line.split_whitespace().map(|t| vocab.intern(t)));
            ids.push(EOS);
        }
        ids
    }

    #[test]
    fn chunked_encoding_keeps_first_appearance_order() {
        // Enough lines for several parallel chunks, words recurring across them.
        let lines: Vec<String> = (0..30_000u64)
            .map(|i| format!("w{} w{} w{}", i % 7, (i * 7919) % 20_011, i / 3))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let mut v = Vocab::new();
        let mut ids = Vec::new();
        assert_eq!(v.encode_lines(&refs, &mut ids).unwrap(), refs.len());
        let mut expected = Vocab::new();
        assert_eq!(ids, intern_one_by_one(&mut expected, &refs));
        assert_eq!(v.words(), expected.words());
        // A second call keeps the ids given and numbers only the words it adds.
        let more: Vec<String> = (0..9_000u64)
            .map(|i| format!("w{} x{} w{}", i % 11, i % 5_003, i * 13))
            .collect();
        let refs: Vec<&str> = more.iter().map(String::as_str).collect();
        ids.clear();
        v.encode_lines(&refs, &mut ids).unwrap();
        assert_eq!(ids, intern_one_by_one(&mut expected, &refs));
        assert_eq!(v.words(), expected.words());
        for (id, w) in expected.words().iter().enumerate() {
            assert_eq!(v.get(w), Some(id as u32));
        }
    }

    #[test]
    fn splits_as_split_whitespace() {
        for line in [
            " a\tb\x0bc\x0cd\re  f ",
            "x\u{a0}y\u{3000}z\u{2028}é w\u{85}v",
            "\x1cq\x1fr",
            "",
            "   ",
            "solo",
        ] {
            let mut tokens = Vec::new();
            for_each_token(line, |t| tokens.push(t));
            assert_eq!(
                tokens,
                line.split_whitespace().collect::<Vec<_>>(),
                "{line:?}"
            );
        }
    }
}
