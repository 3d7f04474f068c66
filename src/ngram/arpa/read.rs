//! Reading ARPA text into a model's probing tables, with errors that name the line.
//!
//! NumPy counterpart: python/rnnrs/backends/arpa.py::read_arpa (the same checks, on the same lines).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashSet;

use super::{LOG10_ZERO_ARPA, MISSING_UNK_LOG10};
use crate::ngram::model::{Levels, Model};
use crate::ngram::store::{ngram_key, ProbBow, Store, Table, TableBuilder, BLANK};
use crate::ngram::vocab::{Vocab, BOS, EOS, UNK};
use crate::{CoreError, FormatKind, Result};

struct Reader {
    path: PathBuf,
    lines: std::io::Lines<BufReader<std::fs::File>>,
    number: usize,
}

impl Reader {
    fn error(&self, message: impl Into<String>) -> CoreError {
        CoreError::Format {
            kind: FormatKind::Arpa,
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
    let (counts, mut line) = read_header(&mut r)?;
    let order = counts.len();
    let mut entries = Entries::new(order);
    for (n, &count) in (1..=order).zip(&counts) {
        line = entries.read_order(&mut r, n, count, line)?;
    }
    while line.trim().is_empty() {
        line = r
            .next()?
            .ok_or_else(|| r.error("the file ends without \\end\\"))?;
    }
    if line.trim() != "\\end\\" {
        return Err(r.error(format!("expected \\end\\, found {:?}", line.trim())));
    }
    entries.into_model(&r)
}

/// The `\data\` section: the n-gram count of each order (their number is the model's
/// order), and the first line after them. Anything before `\data\` is a comment.
fn read_header(r: &mut Reader) -> Result<(Vec<usize>, String)> {
    loop {
        match r.next()? {
            None => return Err(r.error("no \\data\\ section")),
            Some(l) if l.trim() == "\\data\\" => break,
            Some(_) => {}
        }
    }
    let mut counts: Vec<usize> = Vec::new();
    let line = loop {
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
    crate::ngram::check_order(order)
        .map_err(|_| r.error(format!("order {order} is not supported")))?;
    Ok((counts, line))
}

/// What the `\k-grams:` sections hold, as they are read: the vocabulary and unigrams (by
/// id), and the entries of the higher orders.
struct Entries {
    order: usize,
    vocab: Vocab,
    unigrams: Vec<ProbBow>,
    seen_unigram: Vec<bool>,
    sections: Vec<Section>,
}

impl Entries {
    fn new(order: usize) -> Self {
        Entries {
            order,
            vocab: Vocab::new(),
            unigrams: Vec::new(),
            seen_unigram: Vec::new(),
            sections: (0..order).map(|_| Section::default()).collect(),
        }
    }

    /// Read the `\n-grams:` section starting at or after `line` (blank lines skipped), which
    /// must hold `count` entries; returns the line that ends it.
    fn read_order(
        &mut self,
        r: &mut Reader,
        n: usize,
        count: usize,
        mut line: String,
    ) -> Result<String> {
        while line.trim().is_empty() {
            line = r
                .next()?
                .ok_or_else(|| r.error(format!("missing \\{n}-grams: section")))?;
        }
        if line.trim() != format!("\\{n}-grams:") {
            return Err(r.error(format!("expected \\{n}-grams:, found {:?}", line.trim())));
        }
        let mut found = 0usize;
        let end = loop {
            let Some(l) = r.next()? else {
                return Err(r.error("the file ends without \\end\\"));
            };
            let t = l.trim();
            if t.is_empty() || t.starts_with('\\') {
                break l;
            }
            found += 1;
            self.read_entry(r, n, t)?;
        };
        if found != count {
            return Err(r.error(format!(
                "the \\data\\ header announces {count} {n}-grams, the section holds {found}"
            )));
        }
        Ok(end)
    }

    /// One line `log10 prob <tab> n words [<tab> log10 backoff]` (backoffs below the
    /// highest order only).
    fn read_entry(&mut self, r: &Reader, n: usize, t: &str) -> Result<()> {
        let mut fields = t.split_whitespace();
        let prob = r.number(fields.next().unwrap_or(""), "log10 probability")?;
        if prob > 0.0 {
            return Err(r.error(format!("positive log10 probability {prob}")));
        }
        let rest: Vec<&str> = fields.collect();
        let bow = match rest.len() {
            k if k == n => 0.0,
            k if k == n + 1 && n < self.order => r.number(rest[n], "log10 backoff")?,
            _ => {
                return Err(r.error(format!(
                    "expected {n} word(s){} after the probability, got {} field(s)",
                    if n < self.order {
                        " and an optional backoff"
                    } else {
                        ""
                    },
                    rest.len()
                )))
            }
        };
        if n == 1 {
            let id = self.vocab.intern(rest[0]) as usize;
            if id >= self.unigrams.len() {
                self.unigrams.resize(id + 1, ProbBow::default());
                self.seen_unigram.resize(id + 1, false);
            }
            if self.seen_unigram[id] {
                return Err(r.error(format!("duplicate unigram {:?}", rest[0])));
            }
            self.seen_unigram[id] = true;
            self.unigrams[id] = ProbBow { prob, bow };
        } else {
            let s = &mut self.sections[n - 1];
            for w in &rest[..n] {
                let id = self.vocab.get(w).ok_or_else(|| {
                    r.error(format!("word {w:?} is not in the \\1-grams: section"))
                })?;
                s.words.push(id);
            }
            s.probs.push(prob);
            s.bows.push(bow);
            s.lines.push(r.number);
        }
        Ok(())
    }

    /// The model, once `\end\` is read: `<s>` and `</s>` must be there, `<unk>` gets KenLM's
    /// probability when missing, -99 becomes log10(0).
    fn into_model(mut self, r: &Reader) -> Result<Model> {
        for (id, name) in [(BOS, "<s>"), (EOS, "</s>")] {
            if !self.seen_unigram.get(id as usize).copied().unwrap_or(false) {
                return Err(r.error(format!("{name} is missing from the \\1-grams: section")));
            }
        }
        let mut unigrams = self.unigrams;
        unigrams.resize(self.vocab.len(), ProbBow::default());
        for u in unigrams.iter_mut() {
            u.prob = zero_floor(u.prob);
            u.bow = zero_floor(u.bow);
        }
        if !self.seen_unigram[UNK as usize] {
            unigrams[UNK as usize] = ProbBow {
                prob: MISSING_UNK_LOG10,
                bow: 0.0,
            };
        }
        let tables = build_tables(&mut self.sections, self.order, r)?;
        Ok(Model::new(
            self.order,
            self.vocab,
            "arpa".to_owned(),
            None,
            Store::Owned(unigrams),
            Levels::Tables(tables),
        ))
    }
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
fn build_tables(sections: &mut [Section], order: usize, r: &Reader) -> Result<Vec<Table>> {
    let mut keysets: Vec<FxHashSet<u64>> = vec![FxHashSet::default(); order + 1];
    for n in 2..=order {
        let s = &sections[n - 1];
        let set = &mut keysets[n];
        set.reserve(s.probs.len());
        for (k, ws) in s.words.chunks_exact(n).enumerate() {
            if !set.insert(ngram_key(ws)) {
                return Err(CoreError::Format {
                    kind: FormatKind::Arpa,
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
    let mut tables: Vec<Table> = Vec::with_capacity(order.saturating_sub(1));
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
