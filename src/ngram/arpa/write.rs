//! Writing ARPA text: unigrams in id order, then each order's n-grams in sorted order,
//! rendered by parallel tasks while the text of the tasks before is written out.
//!
//! NumPy counterpart: python/rnnrs/backends/arpa.py::write_arpa (the same lines in the same order; its
//! numbers are Python's shortest repr, see number.rs).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::number::push_number;
use crate::ngram::counts::{pack, unpack};
use crate::ngram::model::Model;
use crate::ngram::sort::{sort_pairs, Pair};
use crate::ngram::store::{prefetch, Slot, BLANK, EMPTY};
use crate::{CoreError, Result};

/// Write `model` as ARPA to `path` (atomically: a temporary file, then a rename).
pub fn write_arpa(model: &Model, path: &Path) -> Result<()> {
    if model.stupid_alpha().is_some() {
        return Err(CoreError::invalid(
            "model",
            "stupid_backoff holds scores, not probabilities: an ARPA file would mislead other \
             tools; save it with save() (rnnrs's binary form) instead",
        ));
    }
    write_atomically(path, |out| write_body(model, out))
}

/// Write through a temporary file beside `path`, renamed over it when complete.
pub fn write_atomically(
    path: &Path,
    body: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>,
) -> Result<()> {
    remove_dead_writers_files(path);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        // Writes larger than the buffer (the ARPA writer's rendered batches) go straight
        // to the file.
        let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
        body(&mut w)?;
        w.flush()?;
        drop(w);
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CoreError::io(path, e)
    })
}

/// Remove the temporary files `<path>.tmp<pid>` that writers of `path` killed mid-write
/// left behind: those whose process is gone (no `/proc/<pid>`; where there is no `/proc`,
/// nothing is removed). Best effort: a file that cannot be listed or removed is left.
fn remove_dead_writers_files(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let proc_root = Path::new("/proc/self");
    if !proc_root.exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{}.tmp", name.to_string_lossy());
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(pid) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let is_pid = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
        if is_pid && pid != std::process::id().to_string() && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Sorted n-grams written per parallel task.
const CHUNK: usize = 1 << 14;
/// Tasks rendered before their text is written out (bounds the memory held: two batches).
const BATCH: usize = 16;

/// The text of every word, for copying into lines.
struct WordText {
    /// The words one after another, then [`WORD_COPY`] bytes of padding.
    bytes: Vec<u8>,
    /// Where word `id` is in `bytes`: `spans[id]..spans[id + 1]`.
    spans: Vec<usize>,
}

/// Words up to this long are copied as one fixed-size block (then cut back to length):
/// cheaper than a variable-length copy, which is a call into libc.
const WORD_COPY: usize = 32;

impl WordText {
    fn new(words: &[String]) -> WordText {
        let total: usize = words.iter().map(String::len).sum();
        let mut bytes = Vec::with_capacity(total + WORD_COPY);
        let mut spans = Vec::with_capacity(words.len() + 1);
        spans.push(0);
        for w in words {
            bytes.extend_from_slice(w.as_bytes());
            spans.push(bytes.len());
        }
        bytes.resize(total + WORD_COPY, 0);
        WordText { bytes, spans }
    }

    /// Append word `id` (nothing for an id a corrupt file made up).
    #[inline(always)]
    fn push(&self, id: u32, out: &mut Vec<u8>) {
        let id = id as usize;
        let (Some(&a), Some(&b)) = (self.spans.get(id), self.spans.get(id + 1)) else {
            return;
        };
        match self.bytes[a..].first_chunk::<WORD_COPY>() {
            Some(block) if b - a <= WORD_COPY => {
                let at = out.len();
                out.extend_from_slice(block);
                out.truncate(at + b - a);
            }
            _ => out.extend_from_slice(&self.bytes[a..b]),
        }
    }

    /// Start loading where word `id` is.
    #[inline(always)]
    fn prefetch_span(&self, id: u32) {
        prefetch(&self.spans, id as usize);
    }

    /// Start loading the text of word `id` (its span should be loaded by now).
    #[inline(always)]
    fn prefetch_text(&self, id: u32) {
        if let Some(&a) = self.spans.get(id as usize) {
            prefetch(&self.bytes, a);
        }
    }
}

/// Rows ahead of the one being rendered whose words are prefetched: the span at twice
/// this distance, the text at this distance. Lines read words at random from the whole
/// vocabulary, and waiting on each of those misses is most of a line's time.
const AHEAD: usize = 8;

/// The words of every n-gram in sorted order, order by order: `keys[n][r]` is
/// `(rank of its (n-1)-gram prefix, last word)` of the n-gram of rank r (n >= 2).
struct Sorted<'a> {
    words: WordText,
    keys: Vec<Cow<'a, [u64]>>,
}

/// The words of the context being written, kept order by order, so that moving to the
/// next context in sorted order renders only the words that changed.
struct Context {
    text: Vec<u8>,
    /// `at[m]`: the rank of order m rendered and where its text (and a space) ends.
    at: Vec<(u32, usize)>,
}

impl Sorted<'_> {
    /// The (prefix, last word) of row r of order n >= 2 (zeros for an id a corrupt file
    /// made up; unigrams: no prefix).
    #[inline(always)]
    fn row(&self, n: usize, r: usize) -> (u32, u32) {
        if n == 1 {
            return (0, r as u32);
        }
        unpack(self.keys[n].get(r).copied().unwrap_or(0))
    }

    /// The last word of the context of row r of order n, and its own last word: the two
    /// words of a line that change most often.
    #[inline(always)]
    fn changing_words(&self, n: usize, r: usize) -> [u32; 2] {
        let (prefix, word) = self.row(n, r);
        let context_word = match n {
            1 => word,
            2 => prefix,
            _ => self.row(n - 1, prefix as usize).1,
        };
        [context_word, word]
    }

    /// Make `ctx.text` the words of the n-gram of rank r at order m and a space.
    fn context(&self, m: usize, r: u32, ctx: &mut Context) {
        if ctx.at[m].0 == r {
            ctx.text.truncate(ctx.at[m].1);
            return;
        }
        let word = if m == 1 {
            ctx.text.clear();
            r
        } else {
            let (prefix, word) = self.row(m, r as usize);
            self.context(m - 1, prefix, ctx);
            word
        };
        self.words.push(word, &mut ctx.text);
        ctx.text.push(b' ');
        ctx.at[m] = (r, ctx.text.len());
        for deeper in &mut ctx.at[m + 1..] {
            deeper.0 = u32::MAX;
        }
    }

    /// Append the lines of rows `range` of order n (of `order`); [`BLANK`] rows are skipped.
    fn render(
        &self,
        n: usize,
        order: usize,
        values: &Values,
        range: Range<usize>,
        text: &mut Vec<u8>,
    ) {
        let mut ctx = Context {
            text: Vec::new(),
            at: vec![(u32::MAX, 0); n],
        };
        let end = range.end;
        for r in range {
            if r + 2 * AHEAD < end {
                for w in self.changing_words(n, r + 2 * AHEAD) {
                    self.words.prefetch_span(w);
                }
            }
            if r + AHEAD < end {
                for w in self.changing_words(n, r + AHEAD) {
                    self.words.prefetch_text(w);
                }
            }
            let prob = values.probs[r];
            if prob == BLANK {
                continue;
            }
            let (prefix, word) = self.row(n, r);
            push_number(text, prob);
            text.push(b'\t');
            if n > 1 {
                self.context(n - 1, prefix, &mut ctx);
                text.extend_from_slice(&ctx.text);
            }
            self.words.push(word, text);
            if n < order {
                text.push(b'\t');
                push_number(text, values.bows[r]);
            }
            text.push(b'\n');
        }
    }
}

/// log10 probabilities and backoffs of one order's n-grams, in sorted order.
struct Values<'a> {
    probs: Cow<'a, [f64]>,
    bows: Cow<'a, [f64]>,
}

/// The entries of a probing table in sorted order (a model read from a file): ranked by
/// (rank of their prefix, last word) with one radix sort. `rank` maps the slots of the
/// order below to their ranks (unigrams: word ids) and becomes this order's map.
fn rank_table(slots: &[Slot], rank: &mut Vec<u32>) -> (Vec<u64>, Values<'static>) {
    let (mut pairs, mut scratch) = (Vec::new(), Vec::new());
    pairs.par_extend(slots.par_iter().enumerate().filter_map(|(i, s)| {
        (s.key != EMPTY).then(|| Pair {
            key: pack(
                rank.get(s.prefix as usize).copied().unwrap_or(u32::MAX),
                s.word,
            ),
            val: i as u32,
        })
    }));
    sort_pairs(&mut pairs, &mut scratch);
    drop(scratch);
    let keys = pairs.par_iter().map(|p| p.key).collect();
    let probs = pairs
        .par_iter()
        .map(|p| slots[p.val as usize].prob)
        .collect();
    let bows = pairs
        .par_iter()
        .map(|p| slots[p.val as usize].bow)
        .collect();
    *rank = vec![u32::MAX; slots.len()];
    for (r, p) in pairs.iter().enumerate() {
        rank[p.val as usize] = r as u32;
    }
    (
        keys,
        Values {
            probs: Cow::Owned(probs),
            bows: Cow::Owned(bows),
        },
    )
}

/// Unigrams in id order, then each order's n-grams sorted by their words' ids (word by
/// word, the first word first): an estimated model holds them so; a model read from a
/// file has its tables ranked first. Parallel tasks of consecutive n-grams render their
/// lines walking forward, so every read is nearly in order.
fn write_body(model: &Model, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    let order = model.order();
    let vocab = model.vocab();
    let mut head = String::from("\\data\\\n");
    for (n, c) in model.num_ngrams().iter().enumerate() {
        let _ = writeln!(head, "ngram {}={c}", n + 1);
    }
    out.write_all(head.as_bytes())?;
    let mut sorted = Sorted {
        words: WordText::new(vocab.words()),
        keys: vec![Cow::Borrowed(&[][..]); order + 1],
    };
    // Without sorted levels: the rank of every slot of the order below (unigrams: word id).
    let mut rank: Vec<u32> = (0..vocab.len() as u32).collect();
    // The text of each task of a batch, reused from batch to batch: one batch is written
    // out while the next is rendered.
    let mut texts: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    let mut ready: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    let mut ready_tasks = 0;
    for n in 1..=order {
        let values = if n == 1 {
            let unigrams = model.unigrams.as_slice();
            Values {
                probs: unigrams.iter().map(|u| u.prob).collect(),
                bows: unigrams.iter().map(|u| u.bow).collect(),
            }
        } else if let Some(levels) = &model.sorted {
            let level = &levels[n - 2];
            sorted.keys[n] = Cow::Borrowed(&level.keys);
            Values {
                probs: Cow::Borrowed(&level.probs),
                bows: Cow::Borrowed(&level.bows),
            }
        } else {
            let (keys, values) = rank_table(model.tables()[n - 2].slots(), &mut rank);
            sorted.keys[n] = Cow::Owned(keys);
            values
        };
        let rows = values.probs.len();
        let sorted = &sorted;
        let mut header = format!("\n\\{n}-grams:\n").into_bytes();
        for batch in (0..rows).step_by(CHUNK * BATCH) {
            let tasks = (rows - batch).div_ceil(CHUNK).min(BATCH);
            let pending = &ready[..ready_tasks];
            let (written, ()) = rayon::join(
                || -> std::io::Result<()> {
                    pending.iter().try_for_each(|t| out.write_all(t))?;
                    out.write_all(&header)
                },
                || {
                    texts[..tasks]
                        .par_iter_mut()
                        .enumerate()
                        .for_each(|(t, text)| {
                            text.clear();
                            let start = batch + t * CHUNK;
                            let end = (start + CHUNK).min(rows);
                            sorted.render(n, order, &values, start..end, text);
                        })
                },
            );
            written?;
            header.clear();
            std::mem::swap(&mut texts, &mut ready);
            ready_tasks = tasks;
        }
        if !header.is_empty() {
            // An order without n-grams: its header follows the text still pending.
            for text in &ready[..ready_tasks] {
                out.write_all(text)?;
            }
            ready_tasks = 0;
            out.write_all(&header)?;
        }
    }
    for text in &ready[..ready_tasks] {
        out.write_all(text)?;
    }
    out.write_all(b"\n\\end\\\n")
}
