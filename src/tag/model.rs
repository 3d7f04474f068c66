//! The sequence tagger: word embedding [+ a character-level word encoder
//! ([`CharEncoder`])] -> dropout -> the recurrent encoder over padded batches ([`Stack`] with
//! lengths) -> dropout -> linear emission scores per token -> softmax cross-entropy or a
//! linear-chain CRF ([`crate::nn::crf`]). Composed from the shared pieces, all tensors in one
//! [`Params`]. Spec: `reference/tagger.py` (`tagger_forward`, `tagger_backward`,
//! `tagger_loss_and_grads`, `tagger_decode`).
//!
//! Batches arrive batch-first: `ids (B, T)`, `lengths (B)` in 1..=T, `tags (B, T)`, and with a
//! character encoder `chars (B, T, W)` with `char_lengths (B, T)` (each real token's in
//! 1..=W). Padding is never read. Inside everything is time-major, as in the spec; the
//! batch's distinct words (as character sequences) are encoded together, each once (a
//! word's gradient is the sum over its tokens). The loss is in nats per real token. Dropout
//! (training) draws the input mask, the encoder's masks, then the output mask, as the spec
//! does (from the engine's own generator: other masks).

use std::collections::HashMap;
use std::ops::Range;

use crate::error::{CoreError, Result};
use crate::nn::cell::CellKind;
use crate::nn::char_encoder::{CharConfig, CharEncoder};
use crate::nn::crf::{self, Constraints, CrfGrads, CrfWeights};
use crate::nn::decoder::{self, xent_row};
use crate::nn::dropout::{self, Rng};
use crate::nn::params::{split_two, Layout, Params};
use crate::nn::stack::{Stack, StackConfig, StackInput};
use crate::nn::{checks, grow};
use crate::runtime::threads;
use crate::train::steps::batch_steps;
use crate::train::{Clip, Optimizer};

/// The output layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Softmax,
    Crf,
}

impl Output {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "softmax" => Ok(Output::Softmax),
            "crf" => Ok(Output::Crf),
            other => Err(CoreError::invalid(
                "output",
                format!("expected \"softmax\" or \"crf\", got {other:?}"),
            )),
        }
    }
}

/// What to build (the keyword arguments of `TaggerEngine`).
#[derive(Clone, Debug, PartialEq)]
pub struct TaggerConfig {
    pub vocab_size: usize,
    pub num_tags: usize,
    pub cell: CellKind,
    pub embed_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub bidirectional: bool,
    pub chars: Option<CharConfig>,
    pub output: Output,
    pub dropout: f32,
    /// Seeds the dropout generator (initial weights come from the caller).
    pub seed: u64,
}

impl TaggerConfig {
    /// Check every field; the error names the field and what was expected.
    pub fn validate(&self) -> Result<()> {
        checks::positive(&[
            ("vocab_size", self.vocab_size),
            ("num_tags", self.num_tags),
            ("embed_size", self.embed_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
        ])?;
        checks::fits_u32("vocab_size", self.vocab_size)?;
        checks::fits_u32("num_tags", self.num_tags)?;
        checks::dropout(self.dropout)
    }

    /// The stack's input width: E plus the character features.
    pub fn input_size(&self) -> usize {
        self.embed_size + self.chars.as_ref().map_or(0, CharConfig::features)
    }

    /// F = D*H, the width of the encoder's output.
    pub fn features(&self) -> usize {
        self.hidden_size * if self.bidirectional { 2 } else { 1 }
    }

    fn stack(&self) -> StackConfig {
        let mut s = StackConfig::new(
            self.cell,
            self.input_size(),
            self.hidden_size,
            self.num_layers,
        );
        s.bidirectional = self.bidirectional;
        s.dropout = self.dropout;
        s
    }
}

/// The characters of a batch's words: `ids (B, T, W)`, `lengths (B, T)`.
#[derive(Clone, Copy, Debug)]
pub struct Chars<'a> {
    pub ids: &'a [u32],
    pub lengths: &'a [usize],
    pub width: usize,
}

/// A padded batch: `ids (B, T)` batch-first (B = `lengths.len()`).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub ids: &'a [u32],
    pub lengths: &'a [usize],
    pub time: usize,
    pub chars: Option<Chars<'a>>,
}

impl Batch<'_> {
    pub fn batch(&self) -> usize {
        self.lengths.len()
    }
}

/// A padded batch with a tag per token, `tags (B, T)`.
#[derive(Clone, Copy, Debug)]
pub struct Tagged<'a> {
    pub batch: Batch<'a>,
    pub tags: &'a [u32],
}

/// Buffers reused from call to call (grown, never shrunk).
#[derive(Default)]
struct Workspace {
    /// (T*B) time-major ids (0 at padding), tags; (B) lengths; real tokens.
    ids: Vec<u32>,
    tags: Vec<u32>,
    lengths: Vec<usize>,
    tokens: usize,
    /// The distinct words' characters (W*U) time-major, their lengths (U), W; for each real
    /// token in (t, b) order, its distinct word.
    chars: Vec<u32>,
    char_lengths: Vec<usize>,
    width: usize,
    word_of: Vec<usize>,
    /// (T*B, I) the stack's input (after dropout), its dropout mask.
    x: Vec<f32>,
    in_mask: Vec<f32>,
    /// (T*B, F) the encoder's top outputs, after dropout, its mask; their gradient.
    top: Vec<f32>,
    dropped: Vec<f32>,
    out_mask: Vec<f32>,
    d_top: Vec<f32>,
    /// (T*B, K) emission scores, then their gradient.
    scores: Vec<f32>,
    d_scores: Vec<f32>,
    /// (U, char features) the gradient of the distinct words' vectors.
    d_words: Vec<f32>,
}

/// The tagger: config, parameters (and gradients), the encoders, the dropout generator.
pub struct Tagger {
    cfg: TaggerConfig,
    params: Params,
    embedding: Range<usize>,
    chars: Option<CharEncoder>,
    stack: Stack,
    emis_w: Range<usize>,
    emis_b: Range<usize>,
    /// crf.transitions, crf.start_transitions, crf.end_transitions.
    crf: Option<[Range<usize>; 3]>,
    rng: Rng,
    ws: Workspace,
}

impl Tagger {
    /// The model with every weight zero (the caller sets them). Parameters in canonical
    /// order: embedding.weight, char_embedding.weight and char_rnn.* / char_cnn.*, rnn.*,
    /// emission.weight, emission.bias, crf.transitions, crf.start_transitions,
    /// crf.end_transitions.
    pub fn new(cfg: TaggerConfig) -> Result<Self> {
        cfg.validate()?;
        let mut layout = Layout::default();
        let embedding = layout.push("embedding.weight", &[cfg.vocab_size, cfg.embed_size]);
        let chars = match &cfg.chars {
            Some(c) => Some(CharEncoder::new(c.clone(), &mut layout)?),
            None => None,
        };
        let stack = Stack::new(cfg.stack(), &mut layout, "rnn.")?;
        let (k, f) = (cfg.num_tags, cfg.features());
        let emis_w = layout.push("emission.weight", &[k, f]);
        let emis_b = layout.push("emission.bias", &[k]);
        let crf = (cfg.output == Output::Crf).then(|| {
            [
                layout.push("crf.transitions", &[k, k]),
                layout.push("crf.start_transitions", &[k]),
                layout.push("crf.end_transitions", &[k]),
            ]
        });
        // Weights and gradients, before allocating them.
        checks::allocatable(
            "SequenceTagger parameters (weights and gradients)",
            layout.total().checked_mul(2),
        )?;
        Ok(Tagger {
            rng: Rng::new(cfg.seed),
            cfg,
            params: Params::zeros(layout),
            embedding,
            chars,
            stack,
            emis_w,
            emis_b,
            crf,
            ws: Workspace::default(),
        })
    }

    pub fn config(&self) -> &TaggerConfig {
        &self.cfg
    }

    /// The weights, and the gradients of the last backward.
    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }

    /// The dropout generator's state.
    pub fn rng_state(&self) -> [u64; 4] {
        self.rng.state()
    }

    /// Restore the dropout generator (the all-zero state is rejected).
    pub fn set_rng_state(&mut self, s: [u64; 4]) -> Result<()> {
        self.rng = Rng::from_state(s)?;
        Ok(())
    }

    /// Emission scores (T*B, K) time-major of a batch, without dropout.
    pub fn emissions(&mut self, batch: Batch<'_>) -> Result<Vec<f32>> {
        self.load(batch, None)?;
        let (b, t, k) = (batch.batch(), batch.time, self.cfg.num_tags);
        threads::install(|| {
            self.forward(t, b, false)?;
            Ok(self.ws.scores[..t * b * k].to_vec())
        })?
    }

    /// The loss (nats per real token) of the batch against its tags, with every gradient
    /// (replacing the previous ones); `train` applies dropout.
    pub fn loss_and_grads(&mut self, data: Tagged<'_>, train: bool) -> Result<f64> {
        self.load(data.batch, Some(data.tags))?;
        let (b, t) = (data.batch.batch(), data.batch.time);
        threads::install(|| {
            self.forward(t, b, train)?;
            self.params.zero_grads();
            let loss = self.loss(t, b, true);
            self.backward(t, b, train)?;
            Ok(loss)
        })?
    }

    /// The summed loss (nats, f64) over every real token of `batches` and the number of
    /// tokens, without dropout or gradients.
    pub fn evaluate(&mut self, batches: &[Tagged<'_>]) -> Result<(f64, usize)> {
        let (mut total, mut tokens) = (0.0f64, 0usize);
        for data in batches {
            self.load(data.batch, Some(data.tags))?;
            let (b, t) = (data.batch.batch(), data.batch.time);
            let loss = threads::install(|| -> Result<f64> {
                self.forward(t, b, false)?;
                Ok(self.loss(t, b, false))
            })??;
            total += loss * self.ws.tokens as f64;
            tokens += self.ws.tokens;
        }
        Ok((total, tokens))
    }

    /// The predicted tags of each row (its own length), without dropout: each token's best
    /// score (the lowest index on ties) for softmax, the Viterbi path (with `constraints`)
    /// for the CRF.
    pub fn decode(
        &mut self,
        batch: Batch<'_>,
        constraints: Option<&Constraints>,
    ) -> Result<Vec<Vec<u32>>> {
        if let Some(c) = constraints {
            c.check(self.cfg.num_tags)?;
        }
        self.load(batch, None)?;
        let (b, t, k) = (batch.batch(), batch.time, self.cfg.num_tags);
        threads::install(|| {
            self.forward(t, b, false)?;
            let scores = &self.ws.scores[..t * b * k];
            let lens = &self.ws.lengths[..b];
            Ok(match &self.crf {
                Some(r) => crf::viterbi(
                    scores,
                    k,
                    lens,
                    crf_weights(self.params.values(), r),
                    constraints,
                ),
                None => (0..b)
                    .map(|bb| {
                        (0..lens[bb])
                            .map(|tt| {
                                let row = &scores[(tt * b + bb) * k..(tt * b + bb + 1) * k];
                                row.iter()
                                    .enumerate()
                                    .fold(0, |best, (j, &v)| if v > row[best] { j } else { best })
                                    as u32
                            })
                            .collect()
                    })
                    .collect(),
            })
        })?
    }

    /// Check a batch (and its tags) and load it time-major into the workspace.
    fn load(&mut self, batch: Batch<'_>, tags: Option<&[u32]>) -> Result<()> {
        let (b, t) = (batch.batch(), batch.time);
        if b == 0 || t == 0 {
            return Err(CoreError::invalid(
                "ids",
                "expected at least one row and one step",
            ));
        }
        if batch.ids.len() != b * t {
            return Err(CoreError::invalid(
                "ids",
                format!("expected {b} x {t} ids, got {}", batch.ids.len()),
            ));
        }
        if let Some(l) = batch.lengths.iter().find(|&&l| l == 0 || l > t) {
            return Err(CoreError::invalid(
                "lengths",
                format!("expected lengths in 1..={t} (the padded number of steps), got {l}"),
            ));
        }
        let (v, k) = (self.cfg.vocab_size, self.cfg.num_tags);
        let ws = &mut self.ws;
        grow(&mut ws.ids, t * b);
        for (bb, (row, &n)) in batch.ids.chunks_exact(t).zip(batch.lengths).enumerate() {
            for (tt, &id) in row.iter().enumerate() {
                if tt < n && id as usize >= v {
                    return Err(CoreError::invalid(
                        "ids",
                        format!("token id {id} is out of range for a vocabulary of {v}"),
                    ));
                }
                ws.ids[tt * b + bb] = if tt < n { id } else { 0 };
            }
        }
        ws.lengths.clear();
        ws.lengths.extend_from_slice(batch.lengths);
        ws.tokens = batch.lengths.iter().sum();
        if let Some(tags) = tags {
            if tags.len() != b * t {
                return Err(CoreError::invalid(
                    "tags",
                    format!("expected {b} x {t} tag indices, got {}", tags.len()),
                ));
            }
            grow(&mut ws.tags, t * b);
            for (bb, (row, &n)) in tags.chunks_exact(t).zip(batch.lengths).enumerate() {
                for (tt, &tag) in row.iter().enumerate() {
                    if tt < n && tag as usize >= k {
                        return Err(CoreError::invalid(
                            "tags",
                            format!("expected tag indices in 0..{k}, got {tag}"),
                        ));
                    }
                    ws.tags[tt * b + bb] = if tt < n { tag } else { 0 };
                }
            }
        }
        match (&self.chars, batch.chars) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(CoreError::invalid(
                "chars",
                "the character encoder needs chars and char_lengths",
            )),
            (Some(enc), Some(c)) => load_chars(ws, c, batch.lengths, t, enc.config().vocab_size),
        }
    }

    /// Forward of the loaded batch; scores (T*B, K) land in ws.scores.
    fn forward(&mut self, t: usize, b: usize, train: bool) -> Result<()> {
        let (e, i, f, k) = (
            self.cfg.embed_size,
            self.cfg.input_size(),
            self.cfg.features(),
            self.cfg.num_tags,
        );
        let tb = t * b;
        let drop = train && self.cfg.dropout > 0.0;
        let Tagger {
            cfg,
            params,
            embedding,
            chars,
            stack,
            emis_w,
            emis_b,
            rng,
            ws,
            ..
        } = self;
        let values = params.values();
        if let Some(enc) = chars.as_mut() {
            let n = ws.char_lengths.len();
            enc.forward(
                values,
                &ws.chars[..ws.width * n],
                &ws.char_lengths,
                ws.width,
            )?;
        }
        grow(&mut ws.x, tb * i);
        let table = &values[embedding.clone()];
        let mut token = 0;
        // rows in (t, b) order, the order load_chars met the real tokens in
        for (r, row) in ws.x[..tb * i].chunks_exact_mut(i).enumerate() {
            if r / b >= ws.lengths[r % b] {
                row.fill(0.0);
                continue;
            }
            let id = ws.ids[r] as usize;
            row[..e].copy_from_slice(&table[id * e..(id + 1) * e]);
            if let Some(enc) = chars.as_ref() {
                let (cf, u) = (i - e, ws.word_of[token]);
                row[e..].copy_from_slice(&enc.output()[u * cf..(u + 1) * cf]);
            }
            token += 1;
        }
        if drop {
            grow(&mut ws.in_mask, tb * i);
            dropout::fill_mask(rng, cfg.dropout, &mut ws.in_mask[..tb * i]);
            dropout::apply_in_place(&mut ws.x[..tb * i], &ws.in_mask[..tb * i]);
        }
        let lens = &ws.lengths[..b];
        stack.forward(
            values,
            StackInput::Features(&ws.x[..tb * i]),
            t,
            b,
            Some(lens),
            None,
            train.then_some(&mut *rng),
        )?;
        grow(&mut ws.top, tb * f);
        stack.top_outputs(&mut ws.top[..tb * f]);
        let mut h: &[f32] = &ws.top[..tb * f];
        if drop {
            grow(&mut ws.out_mask, tb * f);
            grow(&mut ws.dropped, tb * f);
            dropout::fill_mask(rng, cfg.dropout, &mut ws.out_mask[..tb * f]);
            dropout::apply(h, &ws.out_mask[..tb * f], &mut ws.dropped[..tb * f]);
            h = &ws.dropped[..tb * f];
        }
        grow(&mut ws.scores, tb * k);
        decoder::logits(
            h,
            tb,
            f,
            &values[emis_w.clone()],
            &values[emis_b.clone()],
            &mut ws.scores,
        );
        Ok(())
    }

    /// The loss (nats per real token) of ws.scores against ws.tags; with `grad`, writes
    /// dL/dscores into ws.d_scores and adds the CRF's gradients.
    fn loss(&mut self, t: usize, b: usize, grad: bool) -> f64 {
        let k = self.cfg.num_tags;
        let tb = t * b;
        let count = self.ws.tokens;
        let scale = 1.0 / count as f32;
        let ws = &mut self.ws;
        grow(&mut ws.d_scores, tb * k);
        let total = match &self.crf {
            Some(r) => {
                let (values, grads) = self.params.values_and_grads();
                let w = crf_weights(values, r);
                let (gt, rest) = grads[r[0].start..r[2].end].split_at_mut(r[0].len());
                let (gs, ge) = rest.split_at_mut(r[1].len());
                let g = CrfGrads {
                    transitions: gt,
                    start: gs,
                    end: ge,
                };
                let lens = &ws.lengths[..b];
                crf::nll_and_grads(
                    &ws.scores[..tb * k],
                    k,
                    lens,
                    &ws.tags[..tb],
                    w,
                    if grad { scale } else { 0.0 },
                    &mut ws.d_scores[..tb * k],
                    g,
                )
            }
            None => {
                let mut total = 0.0f64;
                ws.d_scores[..tb * k].copy_from_slice(&ws.scores[..tb * k]);
                for (r, row) in ws.d_scores[..tb * k].chunks_exact_mut(k).enumerate() {
                    if r / b < ws.lengths[r % b] {
                        total += xent_row(row, ws.tags[r] as usize, grad.then_some(scale));
                    } else {
                        row.fill(0.0);
                    }
                }
                total
            }
        };
        total / count as f64
    }

    /// Backward from dL/dscores in ws.d_scores down to the embedding tables; the CRF's
    /// gradients were added by [`Tagger::loss`] after the gradients were zeroed.
    fn backward(&mut self, t: usize, b: usize, train: bool) -> Result<()> {
        let (e, i, f, k) = (
            self.cfg.embed_size,
            self.cfg.input_size(),
            self.cfg.features(),
            self.cfg.num_tags,
        );
        let tb = t * b;
        let drop = train && self.cfg.dropout > 0.0;
        let Tagger {
            params,
            embedding,
            chars,
            stack,
            emis_w,
            emis_b,
            ws,
            ..
        } = self;
        let (values, grads) = params.values_and_grads();
        let values: &[f32] = values;
        let d_scores = &ws.d_scores[..tb * k];
        {
            let h = if drop {
                &ws.dropped[..tb * f]
            } else {
                &ws.top[..tb * f]
            };
            let (dw, db) = split_two(grads, emis_w.clone(), emis_b.clone());
            decoder::backward_weights(d_scores, tb, k, h, f, dw, db);
        }
        grow(&mut ws.d_top, tb * f);
        let d_top = &mut ws.d_top[..tb * f];
        decoder::backward_input(d_scores, tb, k, &values[emis_w.clone()], f, d_top);
        if drop {
            dropout::apply_in_place(d_top, &ws.out_mask[..tb * f]);
        }
        stack.set_top_grads(d_top);
        stack.backward(values, grads, StackInput::Features(&ws.x[..tb * i]), None)?;
        let dx = stack.input_grads(t, b);
        let cf = i - e;
        let n = ws.char_lengths.len();
        if chars.is_some() {
            grow(&mut ws.d_words, n * cf);
            ws.d_words[..n * cf].fill(0.0);
        }
        let dtable = &mut grads[embedding.clone()];
        let mut token = 0;
        for (r, d) in dx[..tb * i].chunks_exact(i).enumerate() {
            if r / b >= ws.lengths[r % b] {
                continue;
            }
            let m = if drop {
                Some(&ws.in_mask[r * i..(r + 1) * i])
            } else {
                None
            };
            let at = |j: usize| m.map_or(d[j], |m| d[j] * m[j]);
            let id = ws.ids[r] as usize;
            for (j, g) in dtable[id * e..(id + 1) * e].iter_mut().enumerate() {
                *g += at(j);
            }
            if chars.is_some() {
                // a word's tokens add up, in token order (deterministic sums)
                let u = ws.word_of[token];
                for (j, g) in ws.d_words[u * cf..(u + 1) * cf].iter_mut().enumerate() {
                    *g += at(e + j);
                }
            }
            token += 1;
        }
        if let Some(enc) = chars.as_mut() {
            enc.backward(values, grads, &ws.d_words[..n * cf])?;
        }
        Ok(())
    }
}

/// Gather the distinct words (as character sequences) of the real tokens of `c` time-major
/// into the workspace, checking their lengths and ids, and note each token's word: a word
/// that occurs several times in a batch is encoded once.
fn load_chars(
    ws: &mut Workspace,
    c: Chars<'_>,
    lengths: &[usize],
    t: usize,
    vocab: usize,
) -> Result<()> {
    let (b, w) = (lengths.len(), c.width);
    if w == 0 || c.ids.len() != b * t * w || c.lengths.len() != b * t {
        return Err(CoreError::invalid(
            "chars",
            format!("expected chars ({b}, {t}, W) with W >= 1 and char_lengths ({b}, {t})"),
        ));
    }
    ws.char_lengths.clear();
    ws.word_of.clear();
    let mut distinct: HashMap<&[u32], usize> = HashMap::new();
    let mut first = Vec::new(); // each distinct word's position in c
    for tt in 0..t {
        for (bb, &n) in lengths.iter().enumerate() {
            if tt >= n {
                continue;
            }
            let pos = bb * t + tt;
            let l = c.lengths[pos];
            if l == 0 || l > w {
                return Err(CoreError::invalid(
                    "char_lengths",
                    format!("expected lengths in 1..={w} at every real token, got {l}"),
                ));
            }
            let word = &c.ids[pos * w..pos * w + l];
            if let Some(id) = word.iter().find(|&&id| id as usize >= vocab) {
                return Err(CoreError::invalid(
                    "chars",
                    format!("character id {id} is out of range for a vocabulary of {vocab}"),
                ));
            }
            let next = first.len();
            let u = *distinct.entry(word).or_insert(next);
            if u == next {
                first.push(pos);
                ws.char_lengths.push(l);
            }
            ws.word_of.push(u);
        }
    }
    let nw = first.len();
    ws.width = w;
    grow(&mut ws.chars, w * nw);
    for (word, &pos) in first.iter().enumerate() {
        let l = ws.char_lengths[word];
        for p in 0..w {
            ws.chars[p * nw + word] = if p < l { c.ids[pos * w + p] } else { 0 };
        }
    }
    Ok(())
}

/// The CRF's parameters at their ranges [transitions, start, end].
fn crf_weights<'a>(values: &'a [f32], r: &[Range<usize>; 3]) -> CrfWeights<'a> {
    CrfWeights {
        transitions: &values[r[0].clone()],
        start: &values[r[1].clone()],
        end: &values[r[2].clone()],
    }
}

/// Train `model` one optimizer step per batch ([`batch_steps`]); each step's loss and
/// gradient norm before clipping.
pub fn train_steps(
    model: &mut Tagger,
    opt: &mut Optimizer,
    batches: &[Tagged<'_>],
    lrs: &[f32],
    clip: Clip,
    between: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let params_of: fn(&mut Tagger) -> &mut Params = Tagger::params_mut;
    let steps = batch_steps(
        model,
        params_of,
        opt,
        batches,
        lrs,
        clip,
        between,
        |m, d| Ok((m.loss_and_grads(d, true)?, 0)),
    )?;
    Ok((steps.losses, steps.norms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::char_encoder::CharKind;
    use crate::nn::params::fill_uniform;

    const B: usize = 3;
    const T: usize = 4;
    const W: usize = 3;
    const LENGTHS: [usize; B] = [4, 1, 3];

    fn tagger(chars: Option<CharKind>, output: Output) -> Tagger {
        let cfg = TaggerConfig {
            vocab_size: 6,
            num_tags: 3,
            cell: CellKind::Lstm,
            embed_size: 3,
            hidden_size: 3,
            num_layers: 1,
            bidirectional: true,
            chars: chars.map(|kind| CharConfig {
                kind,
                vocab_size: 5,
                embed_size: 2,
                hidden_size: 2,
            }),
            output,
            dropout: 0.0,
            seed: 1,
        };
        let mut t = Tagger::new(cfg).expect("valid config");
        fill_uniform(t.params_mut().values_mut(), 3, 0.5);
        t
    }

    /// ids (B, T), tags (B, T), chars (B, T, W), char lengths (B, T).
    fn data() -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<usize>) {
        let ids = (0..B * T).map(|i| (i * 5 % 6) as u32).collect();
        let tags = (0..B * T).map(|i| (i * 2 % 3) as u32).collect();
        let chars = (0..B * T * W).map(|i| (i * 3 % 5) as u32).collect();
        let char_lengths = (0..B * T).map(|i| 1 + i % W).collect();
        (ids, tags, chars, char_lengths)
    }

    fn batch<'a>(ids: &'a [u32], chars: &'a [u32], char_lengths: &'a [usize]) -> Batch<'a> {
        Batch {
            ids,
            lengths: &LENGTHS,
            time: T,
            chars: Some(Chars {
                ids: chars,
                lengths: char_lengths,
                width: W,
            }),
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (ids, tags, chars, cl) = data();
        for (kind, output) in [
            (None, Output::Softmax),
            (Some(CharKind::Lstm), Output::Crf),
            (Some(CharKind::Cnn), Output::Softmax),
        ] {
            let mut t = tagger(kind, output);
            let data = Tagged {
                batch: batch(&ids, &chars, &cl),
                tags: &tags,
            };
            t.loss_and_grads(data, false).expect("loss");
            let grads = t.params().grads().to_vec();
            let eps = 1e-2f32;
            for (i, &grad) in grads.iter().enumerate() {
                let old = t.params().values()[i];
                t.params_mut().values_mut()[i] = old + eps;
                let up = t.evaluate(&[data]).expect("loss").0;
                t.params_mut().values_mut()[i] = old - eps;
                let down = t.evaluate(&[data]).expect("loss").0;
                t.params_mut().values_mut()[i] = old;
                // evaluate sums the loss over the tokens: back to per token
                let tokens = LENGTHS.iter().sum::<usize>() as f64;
                let numeric = (up - down) / (2.0 * eps as f64) / tokens;
                let diff = (numeric - grad as f64).abs();
                assert!(
                    diff < 2e-3 + 2e-2 * numeric.abs(),
                    "{kind:?} {output:?} param {i}: numeric {numeric} vs {grad}"
                );
            }
        }
    }

    #[test]
    fn a_sentence_decodes_the_same_alone_or_in_the_batch() {
        let (ids, _, chars, cl) = data();
        for output in [Output::Softmax, Output::Crf] {
            let mut t = tagger(Some(CharKind::Lstm), output);
            let all = t.decode(batch(&ids, &chars, &cl), None).expect("decode");
            for (b, &n) in LENGTHS.iter().enumerate() {
                let one = Batch {
                    ids: &ids[b * T..b * T + n],
                    lengths: &[n],
                    time: n,
                    chars: Some(Chars {
                        ids: &chars[b * T * W..(b * T + n) * W],
                        lengths: &cl[b * T..b * T + n],
                        width: W,
                    }),
                };
                assert_eq!(t.decode(one, None).expect("decode")[0], all[b]);
                assert_eq!(all[b].len(), n);
            }
        }
    }

    #[test]
    fn bad_batches_are_errors_naming_the_argument() {
        let (ids, tags, chars, mut cl) = data();
        let mut t = tagger(Some(CharKind::Cnn), Output::Crf);
        let bad_tags: Vec<u32> = tags.iter().map(|_| 3).collect();
        let err = t
            .loss_and_grads(
                Tagged {
                    batch: batch(&ids, &chars, &cl),
                    tags: &bad_tags,
                },
                false,
            )
            .expect_err("tags out of range");
        assert!(err.to_string().contains("tags"), "{err}");
        cl[0] = 0;
        let err = t
            .decode(batch(&ids, &chars, &cl), None)
            .expect_err("an empty word");
        assert!(err.to_string().contains("char_lengths"), "{err}");
        let no_chars = Batch {
            chars: None,
            ..batch(&ids, &chars, &cl)
        };
        assert!(t.decode(no_chars, None).is_err());
    }
}
