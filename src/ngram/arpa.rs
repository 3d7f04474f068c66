//! ARPA text files, compatible with KenLM and SRILM: `\data\`, `ngram k=N` counts,
//! `\k-grams:` sections of `log10 prob <tab> words [<tab> log10 backoff]`, `\end\`.
//! log10(0) is written as -99 (SRILM's convention) and read back as -inf.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustc_hash::FxHashSet;

use super::counts::{pack, unpack};
use super::model::{Levels, Model};
use super::sort::{sort_pairs, Pair};
use super::store::{ngram_key, ProbBow, Slot, Store, TableBuilder, BLANK, EMPTY};
use super::vocab::{Vocab, BOS, EOS, UNK};
use crate::{CoreError, Result};

/// log10 probability written for an impossible event.
pub const LOG10_ZERO_ARPA: f64 = -99.0;
/// Probability given to `<unk>` when an ARPA file lacks it (KenLM's convention).
pub const MISSING_UNK_LOG10: f64 = -100.0;

/// Append the decimal digits of `v`.
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while v > 0 || i == digits.len() {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&digits[i..]);
}

/// The two decimal digits of every number below 100.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// `y` rounded to the nearest integer, halves away from zero (as `f64::round`), for
/// |y| < 2^62, without a call into libm.
#[inline(always)]
fn round_to_i64(y: f64) -> i64 {
    let t = y as i64;
    // Exact: y and t are within 1 of each other (or y is already an integer).
    let f = y - t as f64;
    if f >= 0.5 {
        t + 1
    } else if f <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// Append `x` with 12 decimals, trailing zeros dropped: values read from a KenLM or SRILM
/// file (at most about 10 decimals) are written back exactly, and a value written once
/// reads back as the nearest double and is written identically again.
fn push_number(out: &mut Vec<u8>, x: f64) {
    if x == f64::NEG_INFINITY || x <= LOG10_ZERO_ARPA {
        out.extend_from_slice(b"-99");
        return;
    }
    if x.abs() >= 1e6 || x.is_nan() {
        out.extend_from_slice(format!("{x}").as_bytes());
        return;
    }
    let v = round_to_i64(x * 1e12);
    if v == 0 {
        out.push(b'0');
        return;
    }
    if v < 0 {
        out.push(b'-');
    }
    let v = v.unsigned_abs();
    let (int, mut frac) = (v / 1_000_000_000_000, v % 1_000_000_000_000);
    push_u64(out, int);
    if frac != 0 {
        let mut digits = [0u8; 12];
        for i in (0..6).rev() {
            let d = (frac % 100) as usize;
            frac /= 100;
            digits[2 * i..2 * i + 2].copy_from_slice(&DIGIT_PAIRS[2 * d..2 * d + 2]);
        }
        let len = 12 - digits.iter().rev().take_while(|&&c| c == b'0').count();
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
}

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
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
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

/// Sorted n-grams written per parallel task.
const CHUNK: usize = 1 << 14;
/// Tasks rendered before their text is written out (bounds the memory held: two batches).
const BATCH: usize = 16;

/// The words of every n-gram in sorted order, order by order: `keys[n][r]` is
/// `(rank of its (n-1)-gram prefix, last word)` of the n-gram of rank r (n >= 2).
struct Sorted<'a> {
    words: &'a [u8],
    /// Where word `id` is in `words`: `spans[id]..spans[id + 1]`.
    spans: Vec<usize>,
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
    /// Append word `id` (nothing for an id a corrupt file made up).
    fn word(&self, id: u32, out: &mut Vec<u8>) {
        let id = id as usize;
        if let (Some(&a), Some(&b)) = (self.spans.get(id), self.spans.get(id + 1)) {
            out.extend_from_slice(&self.words[a..b]);
        }
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
            let (prefix, word) = unpack(self.keys[m].get(r as usize).copied().unwrap_or(0));
            self.context(m - 1, prefix, ctx);
            word
        };
        self.word(word, &mut ctx.text);
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
        for r in range {
            let prob = values.probs[r];
            if prob == BLANK {
                continue;
            }
            let (prefix, word) = unpack(self.keys[n][r]);
            self.context(n - 1, prefix, &mut ctx);
            push_number(text, prob);
            text.push(b'\t');
            text.extend_from_slice(&ctx.text);
            self.word(word, text);
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
    out.write_all(b"\n\\1-grams:\n")?;
    let words: Vec<u8> = vocab.words().iter().flat_map(|w| w.bytes()).collect();
    let mut spans = Vec::with_capacity(vocab.len() + 1);
    spans.push(0);
    for w in vocab.words() {
        spans.push(spans[spans.len() - 1] + w.len());
    }
    let mut sorted = Sorted {
        words: &words,
        spans,
        keys: vec![Cow::Borrowed(&[][..]); order + 1],
    };
    let mut line = Vec::new();
    for (w, e) in model.unigrams.as_slice().iter().enumerate() {
        push_number(&mut line, e.prob);
        line.push(b'\t');
        sorted.word(w as u32, &mut line);
        if order > 1 {
            line.push(b'\t');
            push_number(&mut line, e.bow);
        }
        line.push(b'\n');
    }
    out.write_all(&line)?;
    // Without sorted levels: the rank of every slot of the order below (unigrams: word id).
    let mut rank: Vec<u32> = (0..vocab.len() as u32).collect();
    // The text of each task of a batch, reused from batch to batch: one batch is written
    // out while the next is rendered.
    let mut texts: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    let mut ready: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    let mut ready_tasks = 0;
    for n in 2..=order {
        let values = match &model.sorted {
            Some(levels) => {
                let level = &levels[n - 2];
                sorted.keys[n] = Cow::Borrowed(&level.keys);
                Values {
                    probs: Cow::Borrowed(&level.probs),
                    bows: Cow::Borrowed(&level.bows),
                }
            }
            None => {
                let (keys, values) = rank_table(model.tables()[n - 2].slots(), &mut rank);
                sorted.keys[n] = Cow::Owned(keys);
                values
            }
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

struct Reader {
    path: PathBuf,
    lines: std::io::Lines<BufReader<std::fs::File>>,
    number: usize,
}

impl Reader {
    fn error(&self, message: impl Into<String>) -> CoreError {
        CoreError::Format {
            what: "ARPA file",
            path: Some(self.path.clone()),
            line: self.number,
            message: message.into(),
        }
    }

    /// The next line, or None at the end of the file.
    fn next(&mut self) -> Result<Option<String>> {
        match self.lines.next() {
            None => Ok(None),
            Some(Ok(l)) => {
                self.number += 1;
                Ok(Some(l))
            }
            Some(Err(e)) => {
                self.number += 1;
                Err(if e.kind() == std::io::ErrorKind::InvalidData {
                    self.error("not UTF-8 text")
                } else {
                    CoreError::io(&self.path, e)
                })
            }
        }
    }

    fn number(&self, field: &str, what: &str) -> Result<f64> {
        match field.parse::<f64>() {
            Ok(x) if !x.is_nan() && x != f64::INFINITY => Ok(x),
            _ => Err(self.error(format!("bad {what} {field:?}: expected a number"))),
        }
    }
}

/// The entries of one order >= 2: words (n per entry), probabilities, backoffs, lines.
#[derive(Default)]
struct Section {
    words: Vec<u32>,
    probs: Vec<f64>,
    bows: Vec<f64>,
    lines: Vec<usize>,
}

/// Read an ARPA file.
pub fn read_arpa(path: &Path) -> Result<Model> {
    let file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
    let mut r = Reader {
        path: path.to_owned(),
        lines: BufReader::with_capacity(1 << 20, file).lines(),
        number: 0,
    };
    // Anything before \data\ is a comment.
    loop {
        match r.next()? {
            None => return Err(r.error("no \\data\\ section")),
            Some(l) if l.trim() == "\\data\\" => break,
            Some(_) => {}
        }
    }
    let mut counts: Vec<usize> = Vec::new();
    let mut line = loop {
        let Some(l) = r.next()? else {
            return Err(r.error("the file ends inside \\data\\"));
        };
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        let Some(spec) = t.strip_prefix("ngram ") else {
            break l;
        };
        let parsed = spec.split_once('=').and_then(|(n, c)| {
            Some((
                n.trim().parse::<usize>().ok()?,
                c.trim().parse::<usize>().ok()?,
            ))
        });
        match parsed {
            Some((n, c)) if n == counts.len() + 1 => counts.push(c),
            _ => {
                return Err(r.error(format!(
                    "bad count line {t:?}: expected \"ngram {}=<count>\"",
                    counts.len() + 1
                )))
            }
        }
    };
    let order = counts.len();
    if order == 0 {
        return Err(r.error("\\data\\ lists no \"ngram k=count\" lines"));
    }
    super::check_order(order).map_err(|_| r.error(format!("order {order} is not supported")))?;
    let mut vocab = Vocab::new();
    let mut unigrams: Vec<ProbBow> = Vec::new();
    let mut seen_unigram: Vec<bool> = Vec::new();
    let mut sections: Vec<Section> = (0..order).map(|_| Section::default()).collect();
    for n in 1..=order {
        while line.trim().is_empty() {
            line = r
                .next()?
                .ok_or_else(|| r.error(format!("missing \\{n}-grams: section")))?;
        }
        if line.trim() != format!("\\{n}-grams:") {
            return Err(r.error(format!("expected \\{n}-grams:, found {:?}", line.trim())));
        }
        let mut found = 0usize;
        loop {
            let Some(l) = r.next()? else {
                return Err(r.error("the file ends without \\end\\"));
            };
            let t = l.trim();
            if t.is_empty() || t.starts_with('\\') {
                line = l;
                break;
            }
            found += 1;
            let mut fields = t.split_whitespace();
            let prob = r.number(fields.next().unwrap_or(""), "log10 probability")?;
            if prob > 0.0 {
                return Err(r.error(format!("positive log10 probability {prob}")));
            }
            let rest: Vec<&str> = fields.collect();
            let bow = match rest.len() {
                k if k == n => 0.0,
                k if k == n + 1 && n < order => r.number(rest[n], "log10 backoff")?,
                _ => {
                    return Err(r.error(format!(
                        "expected {n} word(s){} after the probability, got {} field(s)",
                        if n < order {
                            " and an optional backoff"
                        } else {
                            ""
                        },
                        rest.len()
                    )))
                }
            };
            if n == 1 {
                let id = vocab.intern(rest[0]) as usize;
                if id >= unigrams.len() {
                    unigrams.resize(id + 1, ProbBow::default());
                    seen_unigram.resize(id + 1, false);
                }
                if seen_unigram[id] {
                    return Err(r.error(format!("duplicate unigram {:?}", rest[0])));
                }
                seen_unigram[id] = true;
                unigrams[id] = ProbBow { prob, bow };
            } else {
                let s = &mut sections[n - 1];
                for w in &rest[..n] {
                    let id = vocab.get(w).ok_or_else(|| {
                        r.error(format!("word {w:?} is not in the \\1-grams: section"))
                    })?;
                    s.words.push(id);
                }
                s.probs.push(prob);
                s.bows.push(bow);
                s.lines.push(r.number);
            }
        }
        if found != counts[n - 1] {
            return Err(r.error(format!(
                "the \\data\\ header announces {} {n}-grams, the section holds {found}",
                counts[n - 1]
            )));
        }
    }
    while line.trim().is_empty() {
        line = r
            .next()?
            .ok_or_else(|| r.error("the file ends without \\end\\"))?;
    }
    if line.trim() != "\\end\\" {
        return Err(r.error(format!("expected \\end\\, found {:?}", line.trim())));
    }
    for (id, name) in [(BOS, "<s>"), (EOS, "</s>")] {
        if !seen_unigram.get(id as usize).copied().unwrap_or(false) {
            return Err(r.error(format!("{name} is missing from the \\1-grams: section")));
        }
    }
    unigrams.resize(vocab.len(), ProbBow::default());
    for u in unigrams.iter_mut() {
        u.prob = zero_floor(u.prob);
        u.bow = zero_floor(u.bow);
    }
    if !seen_unigram[UNK as usize] {
        unigrams[UNK as usize] = ProbBow {
            prob: MISSING_UNK_LOG10,
            bow: 0.0,
        };
    }
    let tables = build_tables(&mut sections, order, &r)?;
    Ok(Model::new(
        order,
        vocab,
        "arpa".to_owned(),
        None,
        Store::Owned(unigrams),
        Levels::Tables(tables),
    ))
}

/// -99 and below mean log10(0).
fn zero_floor(x: f64) -> f64 {
    if x <= LOG10_ZERO_ARPA {
        f64::NEG_INFINITY
    } else {
        x
    }
}

/// Hash tables of orders 2..=order; n-grams whose prefix is missing get a blank
/// (context-only) prefix entry, as KenLM does for pruned SRILM files.
fn build_tables(
    sections: &mut [Section],
    order: usize,
    r: &Reader,
) -> Result<Vec<super::store::Table>> {
    let mut keysets: Vec<FxHashSet<u64>> = vec![FxHashSet::default(); order + 1];
    for n in 2..=order {
        let s = &sections[n - 1];
        let set = &mut keysets[n];
        set.reserve(s.probs.len());
        for (k, ws) in s.words.chunks_exact(n).enumerate() {
            if !set.insert(ngram_key(ws)) {
                return Err(CoreError::Format {
                    what: "ARPA file",
                    path: Some(r.path.clone()),
                    line: s.lines[k],
                    message: format!("duplicate {n}-gram"),
                });
            }
        }
    }
    for n in (3..=order).rev() {
        let (lower, upper) = sections.split_at_mut(n - 1);
        let below = &mut lower[n - 2];
        for ws in upper[0].words.chunks_exact(n) {
            let prefix = &ws[..n - 1];
            if keysets[n - 1].insert(ngram_key(prefix)) {
                below.words.extend_from_slice(prefix);
                below.probs.push(BLANK);
                below.bows.push(0.0);
                below.lines.push(0);
            }
        }
    }
    let mut tables: Vec<super::store::Table> = Vec::with_capacity(order.saturating_sub(1));
    for n in 2..=order {
        let s = &sections[n - 1];
        let mut t = TableBuilder::with_entries(s.probs.len());
        for (k, ws) in s.words.chunks_exact(n).enumerate() {
            let prefix = if n == 2 {
                ws[0]
            } else {
                tables[n - 3].find(ngram_key(&ws[..n - 1])).ok_or_else(|| {
                    CoreError::invalid("arpa", "internal: a prefix entry is missing")
                })? as u32
            };
            let prob = zero_floor(s.probs[k]);
            t.insert(
                ngram_key(ws),
                prob,
                zero_floor(s.bows[k]),
                prefix,
                ws[n - 1],
            );
        }
        tables.push(t.finish());
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(x: f64) -> String {
        let mut out = Vec::new();
        push_number(&mut out, x);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_round_trip() {
        assert_eq!(text(-0.123652525), "-0.123652525");
        assert_eq!(text(0.0), "0");
        assert_eq!(text(-0.0), "0");
        assert_eq!(text(f64::NEG_INFINITY), "-99");
        assert_eq!(text(-4.5), "-4.5");
        assert_eq!(text(12.0), "12");
        assert_eq!(text(-1e-13), "0");
        // Against the plain formula: round(x * 1e12) as a decimal with 12 places.
        let mut r = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..100_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let x = -((r >> 11) as f64 / (1u64 << 53) as f64)
                * [1.0, 10.0, 1e-3, 98.0][(r % 4) as usize];
            let v = (x * 1e12).round() as i64;
            let plain = format!(
                "{}{}.{:012}",
                if v < 0 { "-" } else { "" },
                v.abs() / 1_000_000_000_000,
                v.abs() % 1_000_000_000_000
            );
            let plain = plain.trim_end_matches('0').trim_end_matches('.');
            let plain = if plain == "-0" || plain.is_empty() {
                "0"
            } else {
                plain
            };
            assert_eq!(text(x), plain, "{x}");
        }
        let x = -4.281915417836858_f64;
        let once = text(x);
        assert_eq!(once, "-4.281915417837");
        assert_eq!(text(once.parse().unwrap()), once);
    }
}
