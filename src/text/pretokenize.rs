//! Pre-tokenization for byte-level BPE: text is split into pieces (GPT-2 style) and merges
//! never cross a piece boundary, so they stay within words.
//!
//! Every character falls in one class: *space* (the 25 code points of Unicode's White_Space
//! property), *digit* (ASCII `0-9`), *other* (ASCII punctuation and control characters, plus the
//! fixed code-point ranges in [`OTHER_RANGES`]: Latin-1 punctuation, general punctuation,
//! symbols, arrows, CJK and full-width punctuation, emoji, variation selectors, tags) and
//! *letter* (everything else: every script's letters and combining marks). The classes are
//! fixed tables, not Unicode-database look-ups, so the Rust core and the Python reference
//! (python/rnnrs/reference/bpe.py::pretokenize, the spec) split identically whatever Unicode
//! version either side ships.
//!
//! The pieces are those of GPT-2's pattern
//! `'s|'t|'re|'ve|'m|'ll|'d| ?L+| ?D+| ?O+|S+(?!\S)|S+` with L, D, O, S the classes above:
//! an ASCII contraction; an optional single space followed by a run of one class; a run of
//! whitespace, which leaves its last character to the next piece when a non-space follows.

/// The White_Space code points (stable since Unicode 6.3).
const SPACES: [char; 25] = [
    '\u{9}', '\u{a}', '\u{b}', '\u{c}', '\u{d}', ' ', '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}',
    '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}',
    '\u{2009}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}',
];

/// Non-ASCII code-point ranges (inclusive, sorted) of the *other* class; spaces inside them
/// are classified as space first.
pub const OTHER_RANGES: [(u32, u32); 17] = [
    (0x80, 0xA9),
    (0xAB, 0xB4),
    (0xB6, 0xB9),
    (0xBB, 0xBF),
    (0xD7, 0xD7),
    (0xF7, 0xF7),
    (0x2000, 0x2BFF),
    (0x3000, 0x3004),
    (0x3006, 0x303F),
    (0xFE00, 0xFE0F),
    (0xFE30, 0xFE4F),
    (0xFF01, 0xFF0F),
    (0xFF1A, 0xFF20),
    (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65),
    (0x1F000, 0x1FAFF),
    (0xE0000, 0xE007F),
];

/// The class of a character, see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharClass {
    Space,
    Digit,
    Letter,
    Other,
}

/// Whether `c` is one of the 25 White_Space code points.
pub fn is_space(c: char) -> bool {
    match c {
        '\t'..='\r' | ' ' => true,
        c if (c as u32) < 0x85 => false,
        c => SPACES.contains(&c),
    }
}

/// The class of `c`.
pub fn char_class(c: char) -> CharClass {
    if c.is_ascii() {
        return if c.is_ascii_alphabetic() {
            CharClass::Letter
        } else if c.is_ascii_digit() {
            CharClass::Digit
        } else if is_space(c) {
            CharClass::Space
        } else {
            CharClass::Other
        };
    }
    if is_space(c) {
        return CharClass::Space;
    }
    let cp = c as u32;
    let idx = OTHER_RANGES.partition_point(|&(_, hi)| hi < cp);
    match OTHER_RANGES.get(idx) {
        Some(&(lo, _)) if lo <= cp => CharClass::Other,
        _ => CharClass::Letter,
    }
}

/// Length in bytes of an ASCII contraction (`'s 't 're 've 'm 'll 'd`) starting at `rest`.
fn contraction_len(rest: &[u8]) -> usize {
    match rest {
        [b'\'', b'r', b'e', ..] | [b'\'', b'v', b'e', ..] | [b'\'', b'l', b'l', ..] => 3,
        [b'\'', b's' | b't' | b'm' | b'd', ..] => 2,
        _ => 0,
    }
}

/// Iterator over the pieces of a text, each a sub-slice; see [`pretokenize`].
pub struct Pieces<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Pieces<'a> {
    /// Byte offset just past the run of characters of class `cls` starting at `from`.
    fn run_end(&self, from: usize, cls: CharClass) -> usize {
        let rest = &self.text[from..];
        rest.char_indices()
            .find(|&(_, c)| char_class(c) != cls)
            .map_or(self.text.len(), |(i, _)| from + i)
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let rest = self.text.get(start..)?;
        let mut chars = rest.chars();
        let c = chars.next()?;
        let n = contraction_len(rest.as_bytes());
        let end = if n > 0 {
            start + n
        } else {
            let next_class = chars.next().map(char_class);
            match (c, next_class) {
                (' ', Some(cls)) if cls != CharClass::Space => self.run_end(start + 1, cls),
                _ => match char_class(c) {
                    CharClass::Space => {
                        let end = self.run_end(start, CharClass::Space);
                        let run = &self.text[start..end];
                        match run.char_indices().last() {
                            // More than one character and a non-space follows: leave the last.
                            Some((last, _)) if last > 0 && end < self.text.len() => start + last,
                            _ => end,
                        }
                    }
                    cls => self.run_end(start, cls),
                },
            }
        };
        self.pos = end;
        Some(&self.text[start..end])
    }
}

/// Split `text` into pre-tokens; concatenated they give back `text` exactly.
pub fn pretokenize(text: &str) -> Pieces<'_> {
    Pieces { text, pos: 0 }
}

/// Split `text` into consecutive slices of roughly `target` bytes at places where a piece
/// always ends (after a lone newline: a non-space before it and after it), so that
/// pre-tokenizing the slices one by one gives the same pieces as the whole text.
pub fn split_at_safe_points(text: &str, target: usize) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    while text.len() - start > target {
        let mut cut = start + target;
        let found = loop {
            match bytes[cut..].iter().position(|&b| b == b'\n') {
                None => break None,
                Some(i) => {
                    let after = cut + i + 1;
                    let before = text[..after - 1].chars().next_back();
                    match text[after..].chars().next() {
                        None => break None,
                        Some(c) if !is_space(c) && before.is_some_and(|b| !is_space(b)) => {
                            break Some(after)
                        }
                        Some(_) => cut = after,
                    }
                }
            }
        };
        match found {
            Some(at) => {
                out.push(&text[start..at]);
                start = at;
            }
            None => break,
        }
    }
    out.push(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        pretokenize(text).collect()
    }

    #[test]
    fn splits_like_gpt2() {
        assert_eq!(
            pieces("Hello world, it's 2024!"),
            vec!["Hello", " world", ",", " it", "'s", " 2024", "!"]
        );
        assert_eq!(pieces("a  b"), vec!["a", " ", " b"]);
        assert_eq!(pieces("a\n\nb"), vec!["a", "\n", "\n", "b"]);
        assert_eq!(pieces("x   "), vec!["x", "   "]);
        assert_eq!(pieces("  def f():"), vec![" ", " def", " f", "():"]);
        assert_eq!(pieces("naïve café"), vec!["naïve", " café"]);
        assert_eq!(pieces("日本語。テスト"), vec!["日本語", "。", "テスト"]);
        assert_eq!(pieces("hi 👋🏽!"), vec!["hi", " 👋🏽!"]);
        assert_eq!(pieces(""), Vec::<&str>::new());
    }

    #[test]
    fn classes_follow_the_tables() {
        assert_eq!(char_class('\u{3000}'), CharClass::Space);
        assert_eq!(char_class('\u{1c}'), CharClass::Other);
        assert_eq!(char_class('\0'), CharClass::Other);
        assert_eq!(char_class('—'), CharClass::Other);
        assert_eq!(char_class('é'), CharClass::Letter);
        assert_eq!(char_class('\u{301}'), CharClass::Letter);
        assert_eq!(char_class('٣'), CharClass::Letter);
        assert_eq!(char_class('7'), CharClass::Digit);
    }

    #[test]
    fn safe_splits_do_not_change_pieces() {
        let text = "line one\n  indented\n\nnext para\n\tTab\nend it's\n".repeat(50);
        let whole: Vec<&str> = pretokenize(&text).collect();
        for target in [1, 7, 40, 333] {
            let parts = split_at_safe_points(&text, target);
            assert_eq!(parts.concat(), text);
            let split: Vec<&str> = parts.iter().flat_map(|p| pretokenize(p)).collect();
            assert_eq!(split, whole, "target {target}");
        }
    }
}
