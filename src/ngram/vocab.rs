//! The vocabulary: words <-> ids, with `<unk>`, `<s>`, `</s>` at 0, 1, 2.

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
    pub fn encode_lines<'a>(
        &mut self,
        lines: impl Iterator<Item = &'a str>,
        out: &mut Vec<u32>,
    ) -> usize {
        let mut sentences = 0;
        for line in lines {
            let mut tokens = line.split_whitespace().peekable();
            if tokens.peek().is_none() {
                continue;
            }
            out.push(BOS);
            out.extend(tokens.map(|t| self.intern(t)));
            out.push(EOS);
            sentences += 1;
        }
        sentences
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
            v.encode_lines(["b a", "", "  ", "a c"].into_iter(), &mut ids),
            2
        );
        assert_eq!(ids, vec![1, 3, 4, 2, 1, 4, 5, 2]);
        assert_eq!(v.word(0), "<unk>");
        assert_eq!(v.id_or_unk("zzz"), UNK);
        assert_eq!(v.len(), 6);
    }
}
