//! rnnrs's own binary model file: the hash tables exactly as they sit in memory, read in
//! place through a memory map, so a model loads in milliseconds whatever its size.
//!
//! Layout (little-endian; every array starts at a multiple of 8 bytes):
//! ```text
//! magic "RNNRSNGM" | version u32 = 2 | byte-order mark u32 = 0x01020304
//! order u32 | vocab size u32 | has stupid alpha u32 | method length u32 | stupid alpha f64
//! per order n >= 2: slot count u64, entry count u64
//! method name (padded to 8) | vocabulary: total bytes u64, then (u32 length + bytes) per
//! word, padded to 8 | unigrams: vocab size x (prob f64, bow f64)
//! per order n >= 2: slots x (key u64, prob f64, bow f64, prefix u32, word u32)
//! checksum u64: the CRC-32 (as `zlib.crc32`) of every byte before it
//! ```
//! Loading verifies the checksum and every value (no NaN, no positive log10 probability but
//! the +inf of a context-only entry, ids in range) unless asked not to ([`load`]'s `verify`,
//! for trusted files too large to read through at each load). Version 1 files (no checksum)
//! load only unverified.
//! The map is read-only; changing the file while a model uses it is undefined, as for any
//! memory-mapped file.
//!
//! NumPy counterpart: python/rnnrs/backends/ngram_binary.py (`save`, `load`), which reads and writes the
//! same files with NumPy.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use super::crc32::{crc32, Crc32};
use super::model::{Levels, Model};
use super::store::{ProbBow, Slot, Store, Table, EMPTY};
use super::vocab::{Vocab, SPECIAL_WORDS};
use crate::{CoreError, FormatKind, Result};

const MAGIC: &[u8; 8] = b"RNNRSNGM";
/// The version written; files of other versions are refused.
pub const VERSION: u32 = 2;
/// The version before the checksum, read only when not verifying.
const VERSION_UNCHECKED: u32 = 1;
const BOM: u32 = 0x0102_0304;
/// Bytes of the checksum at the end of the file.
const CHECKSUM_BYTES: usize = 8;

/// A writer that keeps the CRC-32 of what passes through it.
struct Checksummed<'a> {
    inner: &'a mut (dyn Write + Send),
    crc: Crc32,
}

impl Write for Checksummed<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn pad8(out: &mut dyn Write, written: usize) -> std::io::Result<usize> {
    let pad = (8 - written % 8) % 8;
    out.write_all(&[0u8; 8][..pad])?;
    Ok(written + pad)
}

fn as_bytes<T>(values: &[T]) -> &[u8] {
    // SAFETY: only used with ProbBow and Slot: repr(C), no padding, plain numbers.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr() as *const u8, std::mem::size_of_val(values))
    }
}

/// Save `model` in the binary form (atomically).
pub fn save(model: &Model, path: &Path) -> Result<()> {
    if cfg!(target_endian = "big") {
        return Err(CoreError::invalid(
            "path",
            "the binary form is little-endian only",
        ));
    }
    super::arpa::write_atomically(path, |file| {
        let mut out = Checksummed {
            inner: file,
            crc: Crc32::new(),
        };
        let out = &mut out;
        let method = model.method().as_bytes();
        out.write_all(MAGIC)?;
        for x in [
            VERSION,
            BOM,
            model.order() as u32,
            model.vocab().len() as u32,
            model.stupid_alpha().is_some() as u32,
            method.len() as u32,
        ] {
            out.write_all(&x.to_le_bytes())?;
        }
        out.write_all(&model.stupid_alpha().unwrap_or(0.0).to_le_bytes())?;
        for t in model.tables() {
            out.write_all(&(t.slots().len() as u64).to_le_bytes())?;
            out.write_all(&(t.count as u64).to_le_bytes())?;
        }
        out.write_all(method)?;
        pad8(out, method.len())?;
        let words = model.vocab().words();
        let total: usize = words.iter().map(|w| 4 + w.len()).sum();
        out.write_all(&(total as u64).to_le_bytes())?;
        for w in words {
            out.write_all(&(w.len() as u32).to_le_bytes())?;
            out.write_all(w.as_bytes())?;
        }
        pad8(out, total)?;
        out.write_all(as_bytes(model.unigrams.as_slice()))?;
        for t in model.tables() {
            out.write_all(as_bytes(t.slots()))?;
        }
        let checksum = u64::from(out.crc.value());
        out.inner.write_all(&checksum.to_le_bytes())
    })
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn error(&self, message: impl Into<String>) -> CoreError {
        CoreError::Format {
            kind: FormatKind::NgramBinary,
            path: Some(self.path.to_owned()),
            line: 0,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| self.error("the file is truncated"))?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn align8(&mut self) -> Result<()> {
        let pad = (8 - self.at % 8) % 8;
        self.take(pad).map(|_| ())
    }

    /// Where `count` values of `size` bytes start; the cursor moves past them.
    fn array(&mut self, count: u64, size: usize) -> Result<usize> {
        let bytes = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(size))
            .ok_or_else(|| self.error("an array size overflows"))?;
        let at = self.at;
        self.take(bytes)?;
        Ok(at)
    }
}

/// Load a model saved by [`save`], memory-mapped. With `verify`, the checksum and every
/// value are checked first (reading the whole file once); without, the file is trusted.
pub fn load(path: &Path, verify: bool) -> Result<Model> {
    if cfg!(target_endian = "big") {
        return Err(CoreError::invalid(
            "path",
            "the binary form is little-endian only",
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
    // SAFETY: the map is read-only; see the module note on files changed while mapped.
    let map = Arc::new(unsafe { Mmap::map(&file) }.map_err(|e| CoreError::io(path, e))?);
    let mut c = Cursor {
        data: &map,
        at: 0,
        path,
    };
    if c.take(8)? != MAGIC {
        return Err(c.error("not an rnnrs n-gram model (bad magic bytes)"));
    }
    let version = c.u32()?;
    match version {
        VERSION => {
            let body = map.len().checked_sub(CHECKSUM_BYTES);
            let body = body.ok_or_else(|| c.error("the file is truncated"))?;
            if verify {
                let mut stored = [0u8; CHECKSUM_BYTES];
                stored.copy_from_slice(&map[body..]);
                if u64::from(crc32(&map[..body])) != u64::from_le_bytes(stored) {
                    return Err(c.error(
                        "the checksum does not match: the file is damaged, truncated or was \
                         modified",
                    ));
                }
            }
            c.data = &map[..body];
        }
        VERSION_UNCHECKED if !verify => {}
        VERSION_UNCHECKED => {
            return Err(c.error(
                "version 1, written before rnnrs checksummed its binary models: it cannot be \
                 verified; load it with verify=False (rnnrs ngram: --no-verify) if you trust \
                 it, and save it again to add a checksum",
            ))
        }
        _ => {
            return Err(c.error(format!(
                "version {version}; this rnnrs reads version {VERSION}"
            )))
        }
    }
    if c.u32()? != BOM {
        return Err(c.error("written on a machine of the other byte order"));
    }
    let order = c.u32()? as usize;
    super::check_order(order).map_err(|_| c.error(format!("bad order {order}")))?;
    let vsize = c.u32()? as usize;
    let has_alpha = c.u32()?;
    let method_len = c.u32()? as usize;
    let alpha = f64::from_bits(c.u64()?);
    let mut sizes = Vec::with_capacity(order - 1);
    for _ in 2..=order {
        let slots = c.u64()?;
        let count = c.u64()?;
        if !slots.is_power_of_two() || count > slots {
            return Err(c.error("bad table sizes"));
        }
        sizes.push((slots, count));
    }
    let method = String::from_utf8(c.take(method_len)?.to_vec())
        .map_err(|_| c.error("the method name is not UTF-8"))?;
    c.align8()?;
    let total = c.u64()?;
    let start = c.at;
    let end = usize::try_from(total)
        .ok()
        .and_then(|t| start.checked_add(t))
        .ok_or_else(|| c.error("the vocabulary size overflows"))?;
    let mut vocab = Vocab::new();
    let mut position = 0usize;
    while c.at < end {
        let len = c.u32()? as usize;
        let bytes = c.take(len)?;
        let word = std::str::from_utf8(bytes).map_err(|_| c.error("a word is not UTF-8"))?;
        let ok = if position < SPECIAL_WORDS.len() {
            word == SPECIAL_WORDS[position]
        } else {
            vocab.intern(word) as usize == position
        };
        if !ok {
            return Err(c.error(format!("bad or duplicate word {word:?} in the vocabulary")));
        }
        position += 1;
    }
    if c.at != end || vocab.len() != vsize {
        return Err(c.error("the vocabulary does not match its size"));
    }
    c.align8()?;
    let uni_at = c.array(vsize as u64, std::mem::size_of::<ProbBow>())?;
    let mut tables = Vec::with_capacity(order - 1);
    let mut at = Vec::new();
    for &(slots, _) in &sizes {
        at.push(c.array(slots, std::mem::size_of::<Slot>())?);
    }
    if c.at != c.data.len() {
        return Err(c.error("the file is longer than its tables"));
    }
    if map.as_ptr().align_offset(8) != 0 {
        return Err(c.error("the memory map is not aligned"));
    }
    let unigrams = Store::Mapped {
        map: Arc::clone(&map),
        offset: uni_at,
        len: vsize,
    };
    for (&(slots, count), &offset) in sizes.iter().zip(&at) {
        tables.push(Table {
            slots: Store::Mapped {
                map: Arc::clone(&map),
                offset,
                len: slots as usize,
            },
            mask: slots as usize - 1,
            count: count as usize,
        });
    }
    if verify {
        check_values(&c, unigrams.as_slice(), &tables, vsize)?;
    }
    let stupid = (has_alpha != 0).then_some(alpha);
    Ok(Model::new(
        order,
        vocab,
        method,
        stupid,
        unigrams,
        Levels::Tables(tables),
    ))
}

/// Every value a query reads, checked once: log10 probabilities are <= 0 (or -inf), or +inf
/// in a context-only entry of a higher order; backoffs are not NaN or +inf; an entry's word
/// and prefix are in range. A model that passes scores finite text as its ARPA file would.
fn check_values(
    c: &Cursor<'_>,
    unigrams: &[ProbBow],
    tables: &[Table],
    vsize: usize,
) -> Result<()> {
    let bad_bow = |bow: f64| bow.is_nan() || bow == f64::INFINITY;
    if let Some(w) = unigrams
        .iter()
        .position(|u| u.prob.is_nan() || u.prob > 0.0 || bad_bow(u.bow))
    {
        let u = unigrams[w];
        return Err(c.error(format!(
            "word {w} has log10 probability {} and backoff {}: expected a probability <= 0 \
             and a backoff that is not NaN or +inf",
            u.prob, u.bow
        )));
    }
    let mut below = vsize;
    for (k, table) in tables.iter().enumerate() {
        let slots = table.slots();
        let bad = slots.iter().position(|s| {
            s.key != EMPTY
                && (s.prob.is_nan()
                    || (s.prob > 0.0 && s.prob != f64::INFINITY)
                    || bad_bow(s.bow)
                    || s.word as usize >= vsize
                    || s.prefix as usize >= below)
        });
        if let Some(i) = bad {
            let s = slots[i];
            return Err(c.error(format!(
                "slot {i} of order {} holds log10 probability {}, backoff {}, word {}, prefix \
                 {}: not a valid entry",
                k + 2,
                s.prob,
                s.bow,
                s.word,
                s.prefix
            )));
        }
        below = slots.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::estimate::{estimate, Method, Smoothing};
    use crate::ngram::NGramCounts;

    #[test]
    fn a_changed_byte_fails_the_checksum_unless_trusted() {
        let mut counts = NGramCounts::new(2).unwrap();
        counts.add_lines(["a b", "b a"].into_iter()).unwrap();
        let model = estimate(&counts, &Smoothing::new(Method::WittenBell)).unwrap();
        let path = std::env::temp_dir().join(format!("rnnrs-crc-{}.ngram", std::process::id()));
        save(&model, &path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        // A byte of the last slot's word id (the slot before the checksum).
        bytes[n - CHECKSUM_BYTES - 1] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path, true).expect_err("the checksum must catch it");
        assert!(
            err.to_string().contains("the checksum does not match"),
            "{err}"
        );
        assert!(load(&path, false).is_ok());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_vocabulary_size_that_overflows_is_a_format_error() {
        let mut counts = NGramCounts::new(2).unwrap();
        counts.add_lines(["a b", "b a"].into_iter()).unwrap();
        let model = estimate(&counts, &Smoothing::new(Method::WittenBell)).unwrap();
        let path = std::env::temp_dir().join(format!("rnnrs-binary-{}.ngram", std::process::id()));
        save(&model, &path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // Header (40 bytes), one table size (16), "witten_bell" padded to 16: the total.
        let at = 40 + 16 + 16;
        let total = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        assert_eq!(total, [5, 3, 4, 1, 1].iter().map(|n| 4 + n).sum::<u64>());
        bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path, false).expect_err("the load must fail");
        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(
                err,
                CoreError::Format {
                    kind: FormatKind::NgramBinary,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().ends_with("the vocabulary size overflows"),
            "{err}"
        );
    }
}
