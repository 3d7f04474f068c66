//! Counting within a memory budget, as lmplz's `-S` / `-T` do: text files are read in
//! chunks, each counted in memory into the running counts; when their tables outgrow
//! their share of the budget they are written to a temporary file as a sorted run (in the
//! counts format, src/ngram/counts_file.rs) and counting goes on with empty tables over
//! the same vocabulary. The runs are then merged order by order in one pass each: every
//! run is read once, front to back, and the mapping from a run's entries to the merged
//! ones, which the order above needs for its parents, is streamed through a temporary
//! file too. The result is the counts an unlimited count gives, key for key.
//!
//! The vocabulary and the unigram counts stay in memory (as in lmplz), and so do the
//! merged counts, which estimation reads. Temporary files are removed when counting ends,
//! whether it succeeds, fails or is interrupted.
//!
//! No counterpart in the reference: the NumPy backend counts in memory (the result is
//! the same counts).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::counts::{pack, unpack, Level, NGramCounts};
use super::counts_file::{self, Decoder, LevelReader};
use crate::{CoreError, FormatKind, Result};

/// The memory budget of a bounded count and where its temporary files go.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Bytes the counting tables and buffers may use (the vocabulary comes on top).
    pub bytes: u64,
    /// A writable directory for the runs.
    pub temp_dir: PathBuf,
}

/// The smallest budget accepted: below it the runs would be tiny and many.
pub const MIN_BUDGET: u64 = 1 << 20;
/// Text read and counted at once, as a share of the budget: counting a chunk takes about
/// 25 bytes per byte of text (the id stream, three arrays of 12-byte occurrences, the
/// chunk's tables, their merge into the running ones).
const TEXT_SHARE: u64 = 64;
/// The running tables are spilled when they outgrow this share of the budget (merging a
/// chunk into them briefly holds them twice).
const TABLE_SHARE: u64 = 3;
/// Entries merged between two checks for Ctrl-C.
const CHECK_EVERY: u64 = 1 << 20;

impl Budget {
    pub(crate) fn check(&self) -> Result<()> {
        if self.bytes < MIN_BUDGET {
            return Err(CoreError::invalid(
                "memory",
                format!(
                    "must be at least 1M ({MIN_BUDGET} bytes), got {}",
                    self.bytes
                ),
            ));
        }
        if !self.temp_dir.is_dir() {
            return Err(CoreError::invalid(
                "temp_dir",
                format!("{} is not a directory", self.temp_dir.display()),
            ));
        }
        Ok(())
    }

    pub(crate) fn text_bytes(&self) -> usize {
        (self.bytes / TEXT_SHARE).max(1 << 16) as usize
    }

    pub(crate) fn table_bytes(&self) -> usize {
        (self.bytes / TABLE_SHARE) as usize
    }
}

/// Temporary files, removed when dropped (on success, error, panic or interrupt alike).
pub(crate) struct TempFiles {
    dir: PathBuf,
    paths: Vec<PathBuf>,
}

/// Numbers the temporary files of this process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl TempFiles {
    pub(crate) fn new(dir: &Path) -> TempFiles {
        TempFiles {
            dir: dir.to_owned(),
            paths: Vec::new(),
        }
    }

    /// Create a new temporary file (its name says what it holds).
    pub(crate) fn create(&mut self, what: &str) -> Result<(PathBuf, File)> {
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let name = format!("rnnrs-{}-{seq}.{what}", std::process::id());
        let path = self.dir.join(name);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| temp_error(&path, e))?;
        self.paths.push(path.clone());
        Ok((path, file))
    }

    pub(crate) fn remove(&mut self, path: &Path) {
        let _ = std::fs::remove_file(path);
        self.paths.retain(|p| p != path);
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// An I/O error on a temporary file, saying what to do about it.
pub(crate) fn temp_error(path: &Path, e: std::io::Error) -> CoreError {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied => " (is temp_dir writable?)",
        std::io::ErrorKind::StorageFull => " (temp_dir is full: free space or choose another)",
        _ => "",
    };
    CoreError::io(
        path,
        std::io::Error::new(e.kind(), format!("temporary file: {e}{hint}")),
    )
}

/// Count the lines of UTF-8 text files (as [`NGramCounts::add_file`] does, file after
/// file) within `budget`. `check` runs between chunks and during merges (return an
/// error, e.g. [`CoreError::Interrupted`], to stop; the temporary files are removed).
pub fn count_files(
    order: usize,
    paths: &[PathBuf],
    budget: &Budget,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<NGramCounts> {
    budget.check()?;
    let mut counts = NGramCounts::new(order)?;
    let mut temp = TempFiles::new(&budget.temp_dir);
    let mut runs = Vec::new();
    for path in paths {
        for_each_chunk(path, budget.text_bytes(), &mut |text| {
            counts.add_lines(text.lines())?;
            if counts.table_bytes() > budget.table_bytes() {
                runs.push(spill(&mut counts, &mut temp)?);
            }
            check()
        })?;
    }
    if runs.is_empty() {
        return Ok(counts);
    }
    if counts.table_bytes() > 0 {
        runs.push(spill(&mut counts, &mut temp)?);
    }
    let levels = merge_runs(&counts, &runs, &mut temp, check)?;
    counts.set_levels(levels);
    Ok(counts)
}

/// Write the running tables as a run and empty them.
fn spill(counts: &mut NGramCounts, temp: &mut TempFiles) -> Result<PathBuf> {
    let (path, file) = temp.create("run")?;
    let out = BufWriter::with_capacity(1 << 16, file);
    let written = counts_file::write_counts(counts, out).and_then(|mut w| w.flush());
    written.map_err(|e| temp_error(&path, e))?;
    counts.clear_levels();
    Ok(path)
}

/// Call `f` on the text of `path` in chunks of about `size` bytes cut after a `\n`. A
/// file that is not UTF-8 is an error naming the line and the byte, as in
/// [`NGramCounts::add_file`].
pub(crate) fn for_each_chunk(
    path: &Path,
    size: usize,
    f: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<()> {
    let mut file = File::open(path).map_err(|e| CoreError::io(path, e))?;
    let mut buf: Vec<u8> = Vec::with_capacity(size);
    let (mut offset, mut line) = (0usize, 1usize);
    loop {
        let kept = buf.len();
        buf.resize(kept + size, 0);
        let got = read_full(&mut file, &mut buf[kept..]).map_err(|e| CoreError::io(path, e))?;
        buf.truncate(kept + got);
        let end = got == 0;
        let cut = if end {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => continue, // a line longer than the chunk: read more of it
            }
        };
        let text = std::str::from_utf8(&buf[..cut]).map_err(|e| {
            let at = e.valid_up_to();
            CoreError::Format {
                kind: FormatKind::Text,
                path: Some(path.to_owned()),
                line: line + buf[..at].iter().filter(|&&b| b == b'\n').count(),
                message: format!("not UTF-8 (byte {})", offset + at),
            }
        })?;
        f(text)?;
        line += buf[..cut].iter().filter(|&&b| b == b'\n').count();
        offset += cut;
        buf.drain(..cut);
        if end {
            return Ok(());
        }
    }
}

/// Read until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Where a run's entries of one order went in the merge, streamed back for the order
/// above, whose parents come in increasing order.
struct MapReader {
    src: BufReader<File>,
    path: PathBuf,
    /// The index of the next value in the file, and the last value read.
    next: u64,
    last: u32,
}

impl MapReader {
    fn get(&mut self, index: u64) -> Result<u32> {
        if index + 1 < self.next {
            return Err(CoreError::invalid("counts", "a run is not sorted"));
        }
        while self.next <= index {
            let mut b = [0u8; 4];
            self.src
                .read_exact(&mut b)
                .map_err(|e| temp_error(&self.path, e))?;
            self.last = u32::from_le_bytes(b);
            self.next += 1;
        }
        Ok(self.last)
    }
}

/// One run being merged: its reader, the mapping of its parents (None for bigrams, whose
/// parents are words), and where its entries of the current order go.
struct Run<'p> {
    decoder: Decoder<'p, BufReader<File>>,
    entries_below: u64,
    parents: Option<MapReader>,
    map_out: Option<(PathBuf, BufWriter<File>)>,
}

/// Merge the runs (all over the vocabulary of `counts`) into one set of levels.
fn merge_runs(
    counts: &NGramCounts,
    paths: &[PathBuf],
    temp: &mut TempFiles,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<Vec<Level>> {
    let order = counts.order();
    let words = counts.vocab().len() as u64;
    let mut runs = Vec::with_capacity(paths.len());
    for path in paths {
        let file = File::open(path).map_err(|e| temp_error(path, e))?;
        let len = file.metadata().map_err(|e| temp_error(path, e))?.len();
        let payload = len
            .checked_sub(4)
            .ok_or_else(|| CoreError::io(path, std::io::ErrorKind::UnexpectedEof.into()))?;
        let reader = BufReader::with_capacity(1 << 16, file);
        let mut decoder = Decoder::new(reader, payload, true, Some(path.as_path()));
        let head = counts_file::read_head(&mut decoder)?;
        counts_file::read_unigrams(&mut decoder, head.vocab.len())?;
        runs.push(Run {
            decoder,
            entries_below: words,
            parents: None,
            map_out: None,
        });
    }
    let mut levels = Vec::with_capacity(order - 1);
    for n in 2..=order {
        let mut readers = Vec::with_capacity(runs.len());
        for run in runs.iter_mut() {
            readers.push(LevelReader::start(
                &mut run.decoder,
                n,
                run.entries_below,
                words,
            )?);
            if n < order {
                let (path, file) = temp.create("map")?;
                run.map_out = Some((path, BufWriter::with_capacity(1 << 16, file)));
            }
        }
        let level = merge_order(&mut runs, &mut readers, check)?;
        levels.push(level);
        for (run, reader) in runs.iter_mut().zip(&readers) {
            run.entries_below = reader.entries;
            if let Some(old) = run.parents.take() {
                temp.remove(&old.path);
            }
            if let Some((path, mut w)) = run.map_out.take() {
                w.flush().map_err(|e| temp_error(&path, e))?;
                drop(w);
                let file = File::open(&path).map_err(|e| temp_error(&path, e))?;
                run.parents = Some(MapReader {
                    src: BufReader::with_capacity(1 << 16, file),
                    path,
                    next: 0,
                    last: 0,
                });
            }
        }
    }
    for run in runs {
        run.decoder.finish()?;
    }
    Ok(levels)
}

/// The next entry of run `r`, its parent mapped to the merged order below.
fn next_mapped(run: &mut Run<'_>, reader: &mut LevelReader) -> Result<Option<(u64, u64)>> {
    let Some((key, count)) = reader.next(&mut run.decoder)? else {
        return Ok(None);
    };
    let (p, w) = unpack(key);
    let p = match run.parents.as_mut() {
        Some(map) => map.get(p as u64)?,
        None => p,
    };
    Ok(Some((pack(p, w), count)))
}

/// Merge one order of every run: a heap of each run's next key; equal keys add up; each
/// run's entries write their merged index to its map for the order above.
fn merge_order(
    runs: &mut [Run<'_>],
    readers: &mut [LevelReader],
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<Level> {
    let mut heap = BinaryHeap::with_capacity(runs.len());
    let mut pending: Vec<u64> = vec![0; runs.len()];
    for (r, (run, reader)) in runs.iter_mut().zip(readers.iter_mut()).enumerate() {
        if let Some((key, count)) = next_mapped(run, reader)? {
            heap.push(Reverse((key, r)));
            pending[r] = count;
        }
    }
    let mut level = Level::default();
    while let Some(Reverse((key, _))) = heap.peek().copied() {
        let idx = level.len() as u32;
        if idx == u32::MAX {
            return Err(CoreError::invalid(
                "corpus",
                "more than 4 billion distinct n-grams of one order",
            ));
        }
        let mut count = 0u64;
        while let Some(&Reverse((k, r))) = heap.peek() {
            if k != key {
                break;
            }
            heap.pop();
            count += pending[r];
            let run = &mut runs[r];
            if let Some((path, w)) = run.map_out.as_mut() {
                w.write_all(&idx.to_le_bytes())
                    .map_err(|e| temp_error(path, e))?;
            }
            if let Some((next, c)) = next_mapped(run, &mut readers[r])? {
                heap.push(Reverse((next, r)));
                pending[r] = c;
            }
        }
        level.keys.push(key);
        level.counts.push(count);
        if (level.len() as u64).is_multiple_of(CHECK_EVERY) {
            check()?;
        }
    }
    Ok(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(seed: u64, count: usize) -> String {
        let mut x = seed;
        let mut out = String::new();
        for _ in 0..count {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 9) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.push_str(&format!("w{} ", x % 40));
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn spilled_runs_merge_to_the_unlimited_counts() {
        let dir = std::env::temp_dir().join(format!("rnnrs-spill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.txt");
        let b = dir.join("b.txt");
        std::fs::write(&a, lines(7, 30_000)).unwrap();
        std::fs::write(&b, lines(11, 9_000) + "tail without newline").unwrap();
        let paths = vec![a.clone(), b.clone()];
        let mut whole = NGramCounts::new(4).unwrap();
        whole.add_file(&a).unwrap();
        whole.add_file(&b).unwrap();
        let temp = dir.join("tmp");
        std::fs::create_dir_all(&temp).unwrap();
        let budget = Budget {
            bytes: MIN_BUDGET,
            temp_dir: temp.clone(),
        };
        let (mut checks, mut most_files) = (0, 0);
        let c = count_files(4, &paths, &budget, &mut || {
            checks += 1;
            most_files = most_files.max(std::fs::read_dir(&temp).unwrap().count());
            Ok(())
        })
        .unwrap();
        assert!(checks > 10, "several chunks ({checks})");
        assert!(most_files > 2, "several runs ({most_files})");
        assert_eq!(c.vocab().words(), whole.vocab().words());
        assert_eq!(c.unigrams, whole.unigrams);
        assert_eq!(
            (c.sentences(), c.tokens()),
            (whole.sentences(), whole.tokens())
        );
        for (x, y) in c.levels.iter().zip(&whole.levels) {
            assert_eq!((&x.keys, &x.counts), (&y.keys, &y.counts));
        }
        assert_eq!(
            std::fs::read_dir(&temp).unwrap().count(),
            0,
            "temp files left"
        );
        // Stopped half-way: the error comes back and no temporary file stays behind.
        let mut calls = 0;
        let stopped = count_files(4, &paths, &budget, &mut || {
            calls += 1;
            if calls == 3 {
                Err(CoreError::Interrupted)
            } else {
                Ok(())
            }
        });
        assert!(matches!(stopped, Err(CoreError::Interrupted)));
        assert_eq!(
            std::fs::read_dir(&temp).unwrap().count(),
            0,
            "temp files left"
        );
        // A temp dir that does not exist, a budget too small.
        let bad = Budget {
            bytes: MIN_BUDGET,
            temp_dir: dir.join("missing"),
        };
        let err = count_files(4, &paths, &bad, &mut || Ok(())).unwrap_err();
        assert!(err.to_string().starts_with("temp_dir: "), "{err}");
        let small = Budget {
            bytes: 1000,
            temp_dir: temp,
        };
        let err = count_files(4, &paths, &small, &mut || Ok(())).unwrap_err();
        assert!(err.to_string().starts_with("memory: "), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_utf8_names_the_line_and_byte_across_chunks() {
        let dir = std::env::temp_dir().join(format!("rnnrs-spill-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.txt");
        let mut bytes = lines(3, 20_000).into_bytes();
        let line = 1 + bytes.iter().filter(|&&b| b == b'\n').count();
        let at = bytes.len();
        bytes.extend_from_slice(b"caf\xe9\n");
        std::fs::write(&path, &bytes).unwrap();
        let budget = Budget {
            bytes: MIN_BUDGET,
            temp_dir: dir.clone(),
        };
        let err = count_files(3, &[path], &budget, &mut || Ok(())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "malformed text file {} at line {line}: not UTF-8 (byte {})",
                dir.join("bad.txt").display(),
                at + 3
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
