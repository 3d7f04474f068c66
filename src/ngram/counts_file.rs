//! The counts file: [`NGramCounts`] as bytes that travel between processes and machines
//! (`NGramCounts.save` / `load`, `to_bytes` / `from_bytes`, pickling, shards of a cluster)
//! and the sorted runs that bounded-memory counting spills (src/ngram/spill.rs).
//!
//! Layout (docs/ngram.md has it byte by byte): little-endian; `varint` is unsigned LEB128.
//! ```text
//! magic "RNNRSCNT" | version u32 = 1 | order u32 | boundaries u32 = 1 | vocab size V u32
//! sentences u64 | tokens u64
//! V words: varint byte length, UTF-8 bytes (ids 0, 1, 2: <unk> <s> </s>)
//! V unigram counts: varint
//! per order n = 2..=order: entries E u64 | bytes B u64 | E x (varint parent step,
//!     varint word, varint count)
//! CRC-32 u32 of every byte before it
//! ```
//! An order's entries are its keys `(parent, word)` in sorted order: the parent step is
//! the difference from the previous entry's parent; the word is written as it is when the
//! parent changed (and for the first entry), else as its difference from the previous word
//! minus one. Reading checks the checksum first, then every length against the bytes left
//! before allocating, every id against its range, and refuses other versions and
//! conventions: nothing in a file is executed or trusted.
//!
//! Spec: python/rnnrs/backends/ngram_counts_file.py reads and writes the same bytes with NumPy.

use std::io::{Read, Write};
use std::path::Path;

use super::counts::{pack, unpack, Level, NGramCounts};
use super::crc32::{crc32, Crc32};
use super::vocab::{Vocab, BOS, EOS, SPECIAL_WORDS};
use crate::{CoreError, FormatKind, Result};

pub const MAGIC: &[u8; 8] = b"RNNRSCNT";
/// The version written; files of other versions are refused.
pub const VERSION: u32 = 1;
/// The sentence-boundary convention of the counts: each sentence counted as
/// `<s> w1 .. wk </s>`, n-grams never crossing sentences, `<s>` only at their start. The
/// only one this version counts with; counts made with another cannot be merged or read.
pub const BOUNDARIES_PADDED: u32 = 1;
/// Bytes before the vocabulary.
const HEADER: usize = 40;
/// The longest varint of a u64.
const MAX_VARINT: usize = 10;

fn format_error(path: Option<&Path>, message: impl Into<String>) -> CoreError {
    CoreError::Format {
        kind: FormatKind::Counts,
        path: path.map(Path::to_owned),
        line: 0,
        message: message.into(),
    }
}

fn varint_len(mut x: u64) -> u64 {
    let mut n = 1;
    while x >= 0x80 {
        x >>= 7;
        n += 1;
    }
    n
}

/// Writes through a buffer, keeping the running checksum.
struct Encoder<W: Write> {
    out: W,
    buf: Vec<u8>,
    crc: Crc32,
}

const BUFFER: usize = 1 << 16;

impl<W: Write> Encoder<W> {
    fn new(out: W) -> Self {
        Encoder {
            out,
            buf: Vec::with_capacity(BUFFER + MAX_VARINT),
            crc: Crc32::new(),
        }
    }

    fn flush_buf(&mut self) -> std::io::Result<()> {
        self.crc.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    #[inline]
    fn bytes(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.buf.len() + data.len() > BUFFER {
            self.flush_buf()?;
        }
        if data.len() > BUFFER {
            self.crc.update(data);
            return self.out.write_all(data);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    #[inline]
    fn varint(&mut self, mut x: u64) -> std::io::Result<()> {
        if self.buf.len() + MAX_VARINT > BUFFER {
            self.flush_buf()?;
        }
        while x >= 0x80 {
            self.buf.push((x as u8) | 0x80);
            x >>= 7;
        }
        self.buf.push(x as u8);
        Ok(())
    }

    /// Write the checksum of everything written; returns the writer.
    fn finish(mut self) -> std::io::Result<W> {
        self.flush_buf()?;
        let crc = self.crc.value();
        self.out.write_all(&crc.to_le_bytes())?;
        Ok(self.out)
    }
}

/// The fields of an entry: (parent step, word field, count).
#[inline]
fn entry_fields(key: u64, count: u64, prev: Option<(u32, u32)>) -> (u64, u64, u64) {
    let (p, w) = unpack(key);
    match prev {
        Some((pp, pw)) if pp == p => (0, (w - pw - 1) as u64, count),
        Some((pp, _)) => ((p - pp) as u64, w as u64, count),
        None => (p as u64, w as u64, count),
    }
}

/// Write `counts` in the counts format.
pub fn write_counts<W: Write>(counts: &NGramCounts, out: W) -> std::io::Result<W> {
    let mut e = Encoder::new(out);
    let words = counts.vocab.words();
    e.bytes(MAGIC)?;
    for x in [
        VERSION,
        counts.order() as u32,
        BOUNDARIES_PADDED,
        words.len() as u32,
    ] {
        e.bytes(&x.to_le_bytes())?;
    }
    e.bytes(&counts.sentences().to_le_bytes())?;
    e.bytes(&counts.tokens().to_le_bytes())?;
    for w in words {
        e.varint(w.len() as u64)?;
        e.bytes(w.as_bytes())?;
    }
    for id in 0..words.len() {
        e.varint(counts.unigrams.get(id).copied().unwrap_or(0))?;
    }
    for level in &counts.levels {
        write_level(&mut e, level)?;
    }
    e.finish()
}

fn write_level<W: Write>(e: &mut Encoder<W>, level: &Level) -> std::io::Result<()> {
    // The byte length first: one pass to measure, one to write.
    let mut bytes = 0u64;
    let mut prev = None;
    for (&key, &count) in level.keys.iter().zip(&level.counts) {
        let (a, b, c) = entry_fields(key, count, prev);
        bytes += varint_len(a) + varint_len(b) + varint_len(c);
        prev = Some(unpack(key));
    }
    e.bytes(&(level.len() as u64).to_le_bytes())?;
    e.bytes(&bytes.to_le_bytes())?;
    let mut prev = None;
    for (&key, &count) in level.keys.iter().zip(&level.counts) {
        let (a, b, c) = entry_fields(key, count, prev);
        e.varint(a)?;
        e.varint(b)?;
        e.varint(c)?;
        prev = Some(unpack(key));
    }
    Ok(())
}

/// `counts` as bytes of the counts format.
pub fn to_bytes(counts: &NGramCounts) -> Vec<u8> {
    // Writing to a Vec cannot fail.
    write_counts(counts, Vec::new()).unwrap_or_default()
}

/// Save `counts` to `path` (atomically: a temporary name, then a rename).
pub fn save(counts: &NGramCounts, path: &Path) -> Result<()> {
    super::arpa::write_atomically(path, |out| write_counts(counts, out).map(|_| ()))
}

/// Reads the payload (everything before the checksum) through a buffer, bounds-checked,
/// optionally keeping the running checksum (for streams not checked beforehand).
pub(crate) struct Decoder<'p, R: Read> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    /// Payload bytes not yet loaded into `buf`.
    unread: u64,
    crc: Option<Crc32>,
    path: Option<&'p Path>,
}

impl<'p, R: Read> Decoder<'p, R> {
    /// A decoder of `payload` bytes of `src` (the checksum follows them).
    pub(crate) fn new(src: R, payload: u64, keep_crc: bool, path: Option<&'p Path>) -> Self {
        Decoder {
            src,
            buf: Vec::new(),
            pos: 0,
            unread: payload,
            crc: keep_crc.then(Crc32::new),
            path,
        }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> CoreError {
        format_error(self.path, message)
    }

    fn io_error(&self, e: std::io::Error) -> CoreError {
        match self.path {
            Some(p) => CoreError::io(p, e),
            None => self.error(format!("cannot read: {e}")),
        }
    }

    /// Payload bytes not consumed yet.
    pub(crate) fn left(&self) -> u64 {
        (self.buf.len() - self.pos) as u64 + self.unread
    }

    fn refill(&mut self) -> Result<()> {
        let keep = self.buf.len() - self.pos;
        self.buf.copy_within(self.pos.., 0);
        let n = (BUFFER as u64).min(self.unread) as usize;
        self.buf.resize(keep + n, 0);
        let res = self.src.read_exact(&mut self.buf[keep..]);
        res.map_err(|e| self.io_error(e))?;
        if let Some(c) = self.crc.as_mut() {
            c.update(&self.buf[keep..]);
        }
        self.unread -= n as u64;
        self.pos = 0;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if (n as u64) > self.left() {
            return Err(self.error("the data is truncated"));
        }
        if self.buf.len() - self.pos < n {
            if n > BUFFER {
                // Rare (a very long word): load all of it.
                let keep = self.buf.len() - self.pos;
                self.buf.copy_within(self.pos.., 0);
                self.buf.resize(n, 0);
                let res = self.src.read_exact(&mut self.buf[keep..]);
                res.map_err(|e| self.io_error(e))?;
                if let Some(c) = self.crc.as_mut() {
                    c.update(&self.buf[keep..]);
                }
                self.unread -= (n - keep) as u64;
                self.pos = 0;
            } else {
                self.refill()?;
            }
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64> {
        if self.buf.len() - self.pos < MAX_VARINT && self.unread > 0 {
            self.refill()?;
        }
        let mut x = 0u64;
        for (i, &b) in self.buf[self.pos..].iter().take(MAX_VARINT).enumerate() {
            let bits = (b & 0x7F) as u64;
            if i == MAX_VARINT - 1 && b > 1 {
                break;
            }
            x |= bits << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(x);
            }
        }
        Err(
            if self.buf.len() - self.pos < MAX_VARINT && self.unread == 0 {
                self.error("the data is truncated")
            } else {
                self.error("a number is longer than 64 bits")
            },
        )
    }

    /// Check that the payload is used up and, for a decoder keeping it, the checksum.
    pub(crate) fn finish(mut self) -> Result<()> {
        if self.left() != 0 {
            return Err(self.error(format!("{} bytes after the last order", self.left())));
        }
        if let Some(c) = self.crc {
            let mut b = [0u8; 4];
            let res = self.src.read_exact(&mut b);
            res.map_err(|e| self.io_error(e))?;
            if u32::from_le_bytes(b) != c.value() {
                return Err(self.error("checksum mismatch: the data is corrupt"));
            }
        }
        Ok(())
    }
}

/// What the header and the vocabulary of a counts file say.
pub(crate) struct Head {
    pub(crate) order: usize,
    pub(crate) sentences: u64,
    pub(crate) tokens: u64,
    pub(crate) vocab: Vocab,
}

/// Read the header and the vocabulary (the magic and version are checked by the caller).
pub(crate) fn read_head<R: Read>(d: &mut Decoder<'_, R>) -> Result<Head> {
    if d.take(8)? != MAGIC {
        return Err(d.error("not rnnrs n-gram counts (bad magic bytes)"));
    }
    let version = d.u32()?;
    if version != VERSION {
        return Err(d.error(format!(
            "version {version}; this rnnrs reads version {VERSION}"
        )));
    }
    let order = d.u32()? as usize;
    super::check_order(order).map_err(|_| d.error(format!("bad order {order}")))?;
    let boundaries = d.u32()?;
    if boundaries != BOUNDARIES_PADDED {
        return Err(d.error(format!(
            "counted with sentence-boundary convention {boundaries}; this rnnrs counts and \
             reads only convention {BOUNDARIES_PADDED} (<s> w1 .. wk </s>)"
        )));
    }
    let size = d.u32()? as u64;
    let sentences = d.u64()?;
    let tokens = d.u64()?;
    // Each word takes at least two bytes (its length, then one byte or more).
    if size < SPECIAL_WORDS.len() as u64 || size.saturating_mul(2) > d.left() {
        return Err(d.error(format!(
            "a vocabulary of {size} words does not fit the data"
        )));
    }
    let mut vocab = Vocab::new();
    for id in 0..size {
        let len = d.varint()?;
        if len == 0 || len > d.left() {
            return Err(d.error(format!("word {id} has a bad length {len}")));
        }
        let bytes = d.take(len as usize)?;
        let word = match std::str::from_utf8(bytes) {
            Ok(w) if !w.chars().any(char::is_whitespace) => w.to_owned(),
            _ => return Err(d.error(format!("word {id} is not one UTF-8 token"))),
        };
        let ok = if (id as usize) < SPECIAL_WORDS.len() {
            word == SPECIAL_WORDS[id as usize]
        } else {
            vocab.intern(&word) as u64 == id
        };
        if !ok {
            return Err(d.error(format!("bad or duplicate word {word:?} (id {id})")));
        }
    }
    Ok(Head {
        order,
        sentences,
        tokens,
        vocab,
    })
}

/// Read the unigram counts of a vocabulary of `size` words.
pub(crate) fn read_unigrams<R: Read>(d: &mut Decoder<'_, R>, size: usize) -> Result<Vec<u64>> {
    if size as u64 > d.left() {
        return Err(d.error("the unigram counts are truncated"));
    }
    (0..size).map(|_| d.varint()).collect()
}

/// Reads one order's entries in sorted order, checking each.
pub(crate) struct LevelReader {
    pub(crate) entries: u64,
    read: u64,
    end_left: u64,
    /// Parents are below this (the vocabulary size for bigrams, else the entries of the
    /// order below).
    parents: u64,
    words: u64,
    prev: Option<(u32, u32)>,
}

impl LevelReader {
    /// Start reading an order whose parents number `parents`, over `words` word ids.
    pub(crate) fn start<R: Read>(
        d: &mut Decoder<'_, R>,
        n: usize,
        parents: u64,
        words: u64,
    ) -> Result<LevelReader> {
        let entries = d.u64()?;
        let bytes = d.u64()?;
        if bytes > d.left() || entries.saturating_mul(3) > bytes {
            return Err(d.error(format!(
                "the {n}-grams ({entries} entries in {bytes} bytes) do not fit the data"
            )));
        }
        if entries >= u32::MAX as u64 {
            return Err(d.error(format!("too many {n}-grams ({entries})")));
        }
        Ok(LevelReader {
            entries,
            read: 0,
            end_left: d.left() - bytes,
            parents,
            words,
            prev: None,
        })
    }

    /// The next `(key, count)`, None after the last (then the section must be used up).
    #[inline]
    pub(crate) fn next<R: Read>(&mut self, d: &mut Decoder<'_, R>) -> Result<Option<(u64, u64)>> {
        if self.read == self.entries {
            if d.left() != self.end_left {
                return Err(d.error("an order's byte length does not match its entries"));
            }
            return Ok(None);
        }
        let step = d.varint()?;
        let word = d.varint()?;
        let count = d.varint()?;
        let (p, w) = match self.prev {
            Some((pp, pw)) if step == 0 => (pp as u64, (pw as u64).saturating_add(word + 1)),
            Some((pp, _)) => ((pp as u64).saturating_add(step), word),
            None => (step, word),
        };
        if p >= self.parents || w >= self.words || w == BOS as u64 || count == 0 {
            return Err(d.error(format!(
                "bad entry {} (parent {p}, word {w}, count {count})",
                self.read
            )));
        }
        self.read += 1;
        self.prev = Some((p as u32, w as u32));
        Ok(Some((pack(p as u32, w as u32), count)))
    }
}

/// Read counts from `data` (a whole counts file); `path` names it in errors.
pub fn from_bytes(data: &[u8], path: Option<&Path>) -> Result<NGramCounts> {
    if data.len() < 8 || &data[..8] != MAGIC {
        return Err(format_error(
            path,
            "not rnnrs n-gram counts (bad magic bytes)",
        ));
    }
    if data.len() < HEADER + 4 {
        return Err(format_error(path, "the data is truncated"));
    }
    let version = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
    if version != VERSION {
        return Err(format_error(
            path,
            format!("version {version}; this rnnrs reads version {VERSION}"),
        ));
    }
    let (payload, trailer) = data.split_at(data.len() - 4);
    let stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if crc32(payload) != stored {
        return Err(format_error(
            path,
            "checksum mismatch: the data is corrupt or truncated",
        ));
    }
    let mut d = Decoder::new(payload, payload.len() as u64, false, path);
    let head = read_head(&mut d)?;
    let size = head.vocab.len();
    let unigrams = read_unigrams(&mut d, size)?;
    let mut levels: Vec<Level> = Vec::with_capacity(head.order - 1);
    for n in 2..=head.order {
        let parents = levels.last().map_or(size as u64, |l| l.len() as u64);
        let mut r = LevelReader::start(&mut d, n, parents, size as u64)?;
        let mut level = Level {
            keys: Vec::with_capacity(r.entries as usize),
            counts: Vec::with_capacity(r.entries as usize),
        };
        while let Some((key, count)) = r.next(&mut d)? {
            // No n-gram continues past </s>.
            let last_of_parent = match levels.last() {
                Some(below) => unpack(below.keys[unpack(key).0 as usize]).1,
                None => unpack(key).0,
            };
            if last_of_parent == EOS {
                return Err(d.error(format!("a {n}-gram continues after </s>")));
            }
            level.keys.push(key);
            level.counts.push(count);
        }
        levels.push(level);
    }
    d.finish()?;
    let bos = unigrams[BOS as usize];
    let all = unigrams.iter().try_fold(0u64, |s, &c| s.checked_add(c));
    if bos != head.sentences || all.and_then(|a| a.checked_sub(bos)) != Some(head.tokens) {
        return Err(format_error(
            path,
            "the sentence and token totals do not match the unigram counts",
        ));
    }
    Ok(NGramCounts::from_parts(
        head.order,
        head.vocab,
        unigrams,
        levels,
        head.sentences,
        head.tokens,
    ))
}

/// Load counts saved by [`save`].
pub fn load(path: &Path) -> Result<NGramCounts> {
    let data = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    from_bytes(&data, Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NGramCounts {
        let mut c = NGramCounts::new(3).unwrap();
        c.add_lines(["a b a b c", "b a", "c c c c", "a"].into_iter())
            .unwrap();
        c
    }

    fn same(a: &NGramCounts, b: &NGramCounts) {
        assert_eq!(a.order(), b.order());
        assert_eq!(a.vocab().words(), b.vocab().words());
        assert_eq!(a.unigrams, b.unigrams);
        assert_eq!((a.sentences(), a.tokens()), (b.sentences(), b.tokens()));
        for (x, y) in a.levels.iter().zip(&b.levels) {
            assert_eq!((&x.keys, &x.counts), (&y.keys, &y.counts));
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let c = sample();
        let bytes = to_bytes(&c);
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()), 3);
        let n = bytes.len();
        assert_eq!(
            u32::from_le_bytes(bytes[n - 4..].try_into().unwrap()),
            crc32(&bytes[..n - 4])
        );
        same(&from_bytes(&bytes, None).unwrap(), &c);
        // Order 1: no levels.
        let mut u = NGramCounts::new(1).unwrap();
        u.add_lines(["x y x"].into_iter()).unwrap();
        same(&from_bytes(&to_bytes(&u), None).unwrap(), &u);
    }

    fn message(bytes: &[u8]) -> String {
        match from_bytes(bytes, None) {
            Err(
                e @ CoreError::Format {
                    kind: FormatKind::Counts,
                    ..
                },
            ) => e.to_string(),
            other => panic!("expected a counts format error, got {other:?}"),
        }
    }

    /// `bytes` with its checksum made right again.
    fn resealed(mut bytes: Vec<u8>) -> Vec<u8> {
        let n = bytes.len();
        let crc = crc32(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn bad_data_is_a_clear_format_error() {
        let good = to_bytes(&sample());
        assert!(message(b"RNNRSNGM....").contains("bad magic"));
        for cut in [10, 43, good.len() / 2, good.len() - 1] {
            let m = message(&good[..cut]);
            assert!(
                m.contains("truncated") || m.contains("checksum"),
                "{cut}: {m}"
            );
        }
        let mut flipped = good.clone();
        flipped[50] ^= 0x10;
        assert!(message(&flipped).contains("checksum mismatch"));
        let mut v2 = good.clone();
        v2[8] = 2;
        assert!(message(&v2).contains("version 2; this rnnrs reads version 1"));
        let mut conv = good.clone();
        conv[16] = 7;
        assert!(message(&resealed(conv)).contains("sentence-boundary convention 7"));
        let mut order = good.clone();
        order[12] = 0;
        assert!(message(&resealed(order)).contains("bad order 0"));
        // A vocabulary size far beyond the data is refused before anything is allocated.
        let mut huge = good.clone();
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(message(&resealed(huge)).contains("does not fit"));
        // So is an entry count beyond its order's bytes (the first order's header sits
        // after the words and unigram counts).
        let c = sample();
        let words: usize = c.vocab().words().iter().map(|w| 1 + w.len()).sum();
        let at = HEADER + words + c.vocab().len();
        let mut entries = good.clone();
        entries[at..at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(message(&resealed(entries)).contains("do not fit"));
        // Totals that disagree with the unigram counts.
        let mut totals = good;
        totals[24] += 1;
        assert!(message(&resealed(totals)).contains("totals"));
    }

    #[test]
    fn save_and_load_name_the_file() {
        let dir = std::env::temp_dir().join(format!("rnnrs-counts-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.counts");
        save(&sample(), &path).unwrap();
        same(&load(&path).unwrap(), &sample());
        std::fs::write(&path, b"RNNRSCNT").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains("a.counts") && err.contains("truncated"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
