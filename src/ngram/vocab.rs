//! The vocabulary: words <-> ids, with `<unk>`, `<s>`, `</s>` at 0, 1, 2.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

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
    index: FxHashMap<String, u32>,
}

impl Default for Vocab {
    fn default() -> Self {
        Self::new()
    }
}

impl Vocab {
    /// A vocabulary holding only the three special words.
    pub fn new() -> Self {
        let mut v = Vocab {
            words: Vec::new(),
            index: FxHashMap::default(),
        };
        for w in SPECIAL_WORDS {
            v.intern(w);
        }
        v
    }

    /// The id of `word`, added at the end when new.
    pub fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.index.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.to_owned());
        self.index.insert(word.to_owned(), id);
        id
    }

    /// The id of `word`, if known.
    pub fn get(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
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
        self.words.iter().map(|w| 2 * w.len() + 48).sum::<usize>()
    }

    /// Split each line on whitespace and append `<s> ids.. </s>` to `out`, adding new words;
    /// lines without tokens are skipped. Returns the number of sentences.
    ///
    /// In parallel over chunks of lines: each chunk numbers its words in order of first
    /// appearance; the chunks' word lists are then interned in order (which keeps the
    /// global order of first appearance) and the ids renumbered.
    pub fn encode_lines(&mut self, lines: &[&str], out: &mut Vec<u32>) -> usize {
        let parts = (lines.len() / 4096).clamp(1, 2 * rayon::current_num_threads());
        let chunks: Vec<LocalIds> = lines
            .par_chunks(lines.len().div_ceil(parts).max(1))
            .map(LocalIds::encode)
            .collect();
        let start = out.len();
        let total: usize = chunks.iter().map(|c| c.ids.len()).sum();
        out.resize(start + total, 0);
        let mut remaps = Vec::with_capacity(chunks.len());
        for chunk in &chunks {
            let remap: Vec<u32> = chunk.words.iter().map(|w| self.intern(w)).collect();
            remaps.push(remap);
        }
        let mut pieces = Vec::with_capacity(chunks.len());
        let mut rest = &mut out[start..];
        for chunk in &chunks {
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(chunk.ids.len());
            pieces.push(mine);
            rest = tail;
        }
        pieces
            .into_par_iter()
            .zip(chunks.par_iter().zip(&remaps))
            .for_each(|(dst, (chunk, remap))| {
                for (d, &id) in dst.iter_mut().zip(&chunk.ids) {
                    *d = remap[id as usize];
                }
            });
        chunks.iter().map(|c| c.sentences).sum()
    }
}

/// One chunk of lines encoded with its own numbering (the specials keep their ids).
struct LocalIds<'a> {
    words: Vec<&'a str>,
    ids: Vec<u32>,
    sentences: usize,
}

impl<'a> LocalIds<'a> {
    fn encode(lines: &[&'a str]) -> LocalIds<'a> {
        let mut index: FxHashMap<&'a str, u32> = FxHashMap::default();
        let mut words: Vec<&'a str> = SPECIAL_WORDS.to_vec();
        for (id, w) in SPECIAL_WORDS.iter().enumerate() {
            index.insert(w, id as u32);
        }
        let mut ids = Vec::new();
        let mut sentences = 0;
        for line in lines {
            let mut tokens = line.split_whitespace().peekable();
            if tokens.peek().is_none() {
                continue;
            }
            ids.push(BOS);
            for t in tokens {
                let next = words.len() as u32;
                let id = *index.entry(t).or_insert(next);
                if id == next {
                    words.push(t);
                }
                ids.push(id);
            }
            ids.push(EOS);
            sentences += 1;
        }
        LocalIds {
            words,
            ids,
            sentences,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_first_then_first_appearance() {
        let mut v = Vocab::new();
        let mut ids = Vec::new();
        assert_eq!(v.encode_lines(&["b a", "", "  ", "a c"], &mut ids), 2);
        assert_eq!(ids, vec![1, 3, 4, 2, 1, 4, 5, 2]);
        assert_eq!(v.word(0), "<unk>");
        assert_eq!(v.id_or_unk("zzz"), UNK);
        assert_eq!(v.len(), 6);
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
        assert_eq!(v.encode_lines(&refs, &mut ids), refs.len());
        let mut expected = Vocab::new();
        let mut want = Vec::new();
        for line in &refs {
            want.push(BOS);
            want.extend(line.split_whitespace().map(|t| expected.intern(t)));
            want.push(EOS);
        }
        assert_eq!(ids, want);
        assert_eq!(v.words(), expected.words());
    }
}
