//! ARPA text files, compatible with KenLM and SRILM: `\data\`, `ngram k=N` counts,
//! `\k-grams:` sections of `log10 prob <tab> words [<tab> log10 backoff]`, `\end\`.
//! log10(0) is written as -99 (SRILM's convention) and read back as -inf.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustc_hash::FxHashSet;

use super::model::Model;
use super::store::{ngram_key, ProbBow, Store, TableBuilder, BLANK};
use super::vocab::{Vocab, BOS, EOS, UNK};
use crate::{CoreError, Result};

/// log10 probability written for an impossible event.
pub const LOG10_ZERO_ARPA: f64 = -99.0;
/// Probability given to `<unk>` when an ARPA file lacks it (KenLM's convention).
pub const MISSING_UNK_LOG10: f64 = -100.0;

/// Append the decimal digits of `v`.
fn push_u64(out: &mut Vec<u8>, mut v: u64, min_digits: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while v > 0 || digits.len() - i < min_digits.max(1) {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&digits[i..]);
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
    let v = (x * 1e12).round() as i64;
    if v == 0 {
        out.push(b'0');
        return;
    }
    if v < 0 {
        out.push(b'-');
    }
    let v = v.unsigned_abs();
    let (int, mut frac) = (v / 1_000_000_000_000, v % 1_000_000_000_000);
    push_u64(out, int, 1);
    if frac != 0 {
        let mut digits = 12;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        out.push(b'.');
        push_u64(out, frac, digits);
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
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
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

/// Where an n-gram's words were rendered: `(buffer, start, end)`.
type Span = (u32, u32, u32);
/// One chunk of an order: lines written, words of blank entries, spans of every slot.
type RenderedChunk = (Vec<u8>, Vec<u8>, Vec<Span>);

/// Where the words of each n-gram of one order were rendered.
struct Rendered {
    texts: Vec<Vec<u8>>,
    spans: Vec<Span>,
}

impl Rendered {
    /// The words of entry `i` (empty for an index a corrupt file made up).
    fn words(&self, i: usize) -> &[u8] {
        self.spans
            .get(i)
            .and_then(|&(b, start, end)| {
                self.texts
                    .get(b as usize)?
                    .get(start as usize..end as usize)
            })
            .unwrap_or(b"")
    }
}

const CHUNK: usize = 1 << 15;

fn write_body(model: &Model, out: &mut dyn Write) -> std::io::Result<()> {
    let order = model.order();
    let vocab = model.vocab();
    let mut head = String::from("\\data\\\n");
    for (n, c) in model.num_ngrams().iter().enumerate() {
        let _ = writeln!(head, "ngram {}={c}", n + 1);
    }
    out.write_all(head.as_bytes())?;
    out.write_all(b"\n\\1-grams:\n")?;
    let vocab_words = render_vocab(vocab);
    let mut prev = render_vocab(vocab);
    let mut line = Vec::new();
    for (w, e) in model.unigrams.as_slice().iter().enumerate() {
        line.clear();
        push_number(&mut line, e.prob);
        line.push(b'\t');
        line.extend_from_slice(prev.words(w));
        if order > 1 {
            line.push(b'\t');
            push_number(&mut line, e.bow);
        }
        line.push(b'\n');
        out.write_all(&line)?;
    }
    for n in 2..=order {
        out.write_all(format!("\n\\{n}-grams:\n").as_bytes())?;
        let slots = model.tables[n - 2].slots();
        // Per chunk: the lines written, the words of blank (context-only) entries, and
        // where every entry's words are (buffer 2c: written lines, 2c+1: blanks).
        let chunks: Vec<RenderedChunk> = slots
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, part)| {
                let mut text = Vec::with_capacity(part.len() * 48);
                let mut hidden = Vec::new();
                let mut spans = vec![(0u32, 0u32, 0u32); part.len()];
                for (k, s) in part.iter().enumerate() {
                    if s.key == super::store::EMPTY {
                        continue;
                    }
                    let prefix = prev.words(s.prefix as usize);
                    let word = vocab_words.words(s.word as usize);
                    if s.prob == BLANK {
                        let start = hidden.len() as u32;
                        hidden.extend_from_slice(prefix);
                        hidden.push(b' ');
                        hidden.extend_from_slice(word);
                        spans[k] = (2 * c as u32 + 1, start, hidden.len() as u32);
                        continue;
                    }
                    push_number(&mut text, s.prob);
                    text.push(b'\t');
                    let start = text.len() as u32;
                    text.extend_from_slice(prefix);
                    text.push(b' ');
                    text.extend_from_slice(word);
                    spans[k] = (2 * c as u32, start, text.len() as u32);
                    if n < order {
                        text.push(b'\t');
                        push_number(&mut text, s.bow);
                    }
                    text.push(b'\n');
                }
                (text, hidden, spans)
            })
            .collect();
        let mut texts = Vec::with_capacity(2 * chunks.len());
        let mut spans = Vec::with_capacity(slots.len());
        for (text, hidden, s) in chunks {
            out.write_all(&text)?;
            texts.push(text);
            texts.push(hidden);
            spans.extend(s);
        }
        prev = Rendered { texts, spans };
    }
    out.write_all(b"\n\\end\\\n")
}

/// The words of the vocabulary in one buffer.
fn render_vocab(vocab: &Vocab) -> Rendered {
    let mut all = Vec::new();
    let mut spans = Vec::with_capacity(vocab.len());
    for w in vocab.words() {
        let start = all.len() as u32;
        all.extend_from_slice(w.as_bytes());
        spans.push((0, start, all.len() as u32));
    }
    Rendered {
        texts: vec![all],
        spans,
    }
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
        tables,
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
        let x = -4.281915417836858_f64;
        let once = text(x);
        assert_eq!(once, "-4.281915417837");
        assert_eq!(text(once.parse().unwrap()), once);
    }
}
