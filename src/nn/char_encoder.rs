//! Character-level word encoders: one vector per word from its characters, over a ragged
//! batch of N words. Spec: `reference/char_encoder.py` (`char_encoder_forward`,
//! `char_encoder_backward`).
//!
//! Words arrive time-major, `chars (W*N)` (position p of word n at `p*N + n`, 0 past the
//! word's length) with `lengths (N)` in 1..=W. `Lstm`: the character embeddings through a
//! one-layer bidirectional LSTM ([`Stack`] with lengths) and the word's vector is [final
//! forward state | final reverse state] (N, 2*Hc). The words run sorted by length, longest
//! first, in chunks of words of one length (merged until a chunk holds [`MIN_CHUNK`] words),
//! each padded to its own longest word: a batch's words are mostly short and a few very long
//! (URLs), and the masked stack costs its padded size, so this is what
//! `pack_padded_sequence` saves torch; a word's vector does not depend on its chunk. `Cnn`: a window-3 convolution (zero
//! padding of one position each side; torch's `Conv1d(Ec, F, 3, padding=1)`) as one GEMM over
//! the windows, and the max over the word's real positions (the first on ties) (N, F).

use std::ops::Range;

use crate::error::{CoreError, Result};
use crate::nn::decoder;
use crate::nn::grow;
use crate::nn::params::Layout;
use crate::nn::stack::{Stack, StackConfig, StackInput, State};
use crate::nn::CellKind;

/// The convolution's window.
const WINDOW: usize = 3;

/// The fewest words a run of the character LSTM takes (but the last): fewer would cost more
/// per step than the padding they save.
const MIN_CHUNK: usize = 64;

/// Which encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharKind {
    Lstm,
    Cnn,
}

impl CharKind {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "lstm" => Ok(CharKind::Lstm),
            "cnn" => Ok(CharKind::Cnn),
            other => Err(CoreError::invalid(
                "char_encoder",
                format!("expected None, \"lstm\" or \"cnn\", got {other:?}"),
            )),
        }
    }
}

/// What to build.
#[derive(Clone, Debug, PartialEq)]
pub struct CharConfig {
    pub kind: CharKind,
    pub vocab_size: usize,
    pub embed_size: usize,
    /// Hc: units per direction (`Lstm`) or filters (`Cnn`).
    pub hidden_size: usize,
}

impl CharConfig {
    /// The width of a word's vector: 2*Hc or F.
    pub fn features(&self) -> usize {
        match self.kind {
            CharKind::Lstm => 2 * self.hidden_size,
            CharKind::Cnn => self.hidden_size,
        }
    }
}

enum Inner {
    /// One stack per chunk (each keeps its chunk's caches for the backward), all reading the
    /// tensors at `offset` of the owning model's parameters.
    Lstm {
        cfg: StackConfig,
        offset: usize,
        stacks: Vec<Stack>,
    },
    /// conv weight (F, Ec, 3), bias (F).
    Cnn { w: Range<usize>, b: Range<usize> },
}

/// Buffers of the last forward.
#[derive(Default)]
struct Workspace {
    w: usize,
    n: usize,
    chars: Vec<u32>,
    lengths: Vec<usize>,
    /// Cnn: (W*N, Ec) embedded characters, 0 past each word.
    x: Vec<f32>,
    /// Lstm: the words by decreasing length, and each chunk's embedded characters
    /// (W_k*N_k, Ec) time-major.
    order: Vec<usize>,
    xs: Vec<Vec<f32>>,
    /// Lstm: each chunk's range of `order`.
    chunks: Vec<Range<usize>>,
    /// Cnn: (W*N, Ec*3) windows, (W*N, F) convolution, (N*F) the picked position.
    windows: Vec<f32>,
    conv: Vec<f32>,
    best: Vec<usize>,
    /// (N, features) the words' vectors.
    out: Vec<f32>,
}

/// A character encoder: its config, where its tensors live in the owning model's
/// parameters, its buffers.
pub struct CharEncoder {
    cfg: CharConfig,
    table: Range<usize>,
    inner: Inner,
    ws: Workspace,
}

impl CharEncoder {
    /// Register `char_embedding.weight` (Vc, Ec) and the encoder's tensors in `layout`:
    /// `char_rnn.*` (a bidirectional one-layer LSTM, [`Stack`] names) or `char_cnn.weight`
    /// (F, Ec, 3), `char_cnn.bias` (F).
    pub fn new(cfg: CharConfig, layout: &mut Layout) -> Result<Self> {
        crate::nn::checks::positive(&[
            ("char_vocab_size", cfg.vocab_size),
            ("char_embed_size", cfg.embed_size),
            ("char_hidden_size", cfg.hidden_size),
        ])?;
        crate::nn::checks::fits_u32("char_vocab_size", cfg.vocab_size)?;
        let table = layout.push("char_embedding.weight", &[cfg.vocab_size, cfg.embed_size]);
        let inner = match cfg.kind {
            CharKind::Lstm => {
                let mut s = StackConfig::new(CellKind::Lstm, cfg.embed_size, cfg.hidden_size, 1);
                s.bidirectional = true;
                let offset = layout.total();
                let stack = Stack::new(s.clone(), layout, "char_rnn.")?;
                Inner::Lstm {
                    cfg: s,
                    offset,
                    stacks: vec![stack],
                }
            }
            CharKind::Cnn => Inner::Cnn {
                w: layout.push(
                    "char_cnn.weight",
                    &[cfg.hidden_size, cfg.embed_size, WINDOW],
                ),
                b: layout.push("char_cnn.bias", &[cfg.hidden_size]),
            },
        };
        Ok(CharEncoder {
            cfg,
            table,
            inner,
            ws: Workspace::default(),
        })
    }

    pub fn config(&self) -> &CharConfig {
        &self.cfg
    }

    /// Encode `n` words of up to `w` characters (`chars (W*N)` time-major, `lengths (N)`,
    /// both checked by the caller); the vectors (N, features) are in [`CharEncoder::output`].
    pub fn forward(
        &mut self,
        params: &[f32],
        chars: &[u32],
        lengths: &[usize],
        w: usize,
    ) -> Result<()> {
        let n = lengths.len();
        let (e, f) = (self.cfg.embed_size, self.cfg.features());
        let ws = &mut self.ws;
        ws.w = w;
        ws.n = n;
        ws.chars.clear();
        ws.chars.extend_from_slice(&chars[..w * n]);
        ws.lengths.clear();
        ws.lengths.extend_from_slice(lengths);
        let table = &params[self.table.clone()];
        // x (rows, Ec) row r = the embedding of chars[at(r)], or 0 past the word
        let embed = |x: &mut [f32], at: &dyn Fn(usize) -> Option<usize>| {
            for (r, row) in x.chunks_exact_mut(e).enumerate() {
                match at(r) {
                    Some(i) => {
                        let id = chars[i] as usize;
                        row.copy_from_slice(&table[id * e..(id + 1) * e]);
                    }
                    None => row.fill(0.0),
                }
            }
        };
        grow(&mut ws.out, n * f);
        match &mut self.inner {
            Inner::Lstm {
                cfg,
                offset,
                stacks,
            } => {
                ws.order.clear();
                ws.order.extend(0..n);
                ws.order
                    .sort_by_key(|&i| (std::cmp::Reverse(lengths[i]), i));
                chunk_ranges(&ws.order, lengths, &mut ws.chunks);
                let h = self.cfg.hidden_size;
                for (k, range) in ws.chunks.iter().enumerate() {
                    let idx = &ws.order[range.clone()];
                    let (nk, wk) = (idx.len(), lengths[idx[0]]);
                    if ws.xs.len() <= k {
                        ws.xs.push(Vec::new());
                    }
                    grow(&mut ws.xs[k], wk * nk * e);
                    let at = |r: usize| {
                        let (p, word) = (r / nk, idx[r % nk]);
                        (p < lengths[word]).then_some(p * n + word)
                    };
                    embed(&mut ws.xs[k][..wk * nk * e], &at);
                    let lens: Vec<usize> = idx.iter().map(|&i| lengths[i]).collect();
                    let x = StackInput::Features(&ws.xs[k][..wk * nk * e]);
                    let stack = chunk_stack(stacks, k, cfg, *offset)?;
                    let fin = stack.forward(params, x, wk, nk, Some(&lens), None, None)?;
                    for (j, &word) in idx.iter().enumerate() {
                        let out = &mut ws.out[word * f..(word + 1) * f];
                        out[..h].copy_from_slice(&fin.h[j * h..(j + 1) * h]);
                        out[h..].copy_from_slice(&fin.h[(nk + j) * h..(nk + j + 1) * h]);
                    }
                }
            }
            Inner::Cnn { w: wr, b: br } => {
                grow(&mut ws.x, w * n * e);
                let at = |r: usize| (r / n < lengths[r % n]).then_some(r);
                embed(&mut ws.x[..w * n * e], &at);
                let ew = e * WINDOW;
                grow(&mut ws.windows, w * n * ew);
                for (r, win) in ws.windows[..w * n * ew].chunks_exact_mut(ew).enumerate() {
                    let (p, word) = (r / n, r % n);
                    for k in 0..WINDOW {
                        // position p + k - 1 of the word, 0 outside it
                        let q = (p + k).checked_sub(1).filter(|&q| q < w);
                        for c in 0..e {
                            win[c * WINDOW + k] = q.map_or(0.0, |q| ws.x[(q * n + word) * e + c]);
                        }
                    }
                }
                grow(&mut ws.conv, w * n * f);
                decoder::logits(
                    &ws.windows[..w * n * ew],
                    w * n,
                    ew,
                    &params[wr.clone()],
                    &params[br.clone()],
                    &mut ws.conv,
                );
                grow(&mut ws.best, n * f);
                for (word, &len) in lengths.iter().enumerate() {
                    for j in 0..f {
                        let mut best = 0;
                        let mut v = ws.conv[word * f + j];
                        for p in 1..len {
                            let c = ws.conv[(p * n + word) * f + j];
                            if c > v {
                                v = c;
                                best = p;
                            }
                        }
                        ws.best[word * f + j] = best;
                        ws.out[word * f + j] = v;
                    }
                }
            }
        }
        Ok(())
    }

    /// The words' vectors (N, features) of the last forward.
    pub fn output(&self) -> &[f32] {
        &self.ws.out[..self.ws.n * self.cfg.features()]
    }

    /// Backward of the last forward from `d_out (N, features)`: adds the encoder's and the
    /// character table's gradients into `grads`.
    pub fn backward(&mut self, params: &[f32], grads: &mut [f32], d_out: &[f32]) -> Result<()> {
        let (w, n) = (self.ws.w, self.ws.n);
        let (e, f, h) = (
            self.cfg.embed_size,
            self.cfg.features(),
            self.cfg.hidden_size,
        );
        let ws = &mut self.ws;
        let table = self.table.clone();
        match &mut self.inner {
            Inner::Lstm { stacks, .. } => {
                let lengths = &ws.lengths;
                for (k, range) in ws.chunks.iter().enumerate() {
                    let idx = &ws.order[range.clone()];
                    let (nk, wk) = (idx.len(), lengths[idx[0]]);
                    let stack = &mut stacks[k];
                    for dir in 0..2 {
                        stack.output_grads_mut(dir).fill(0.0);
                    }
                    let mut d_state = State {
                        batch: nk,
                        h: vec![0.0; 2 * nk * h],
                        c: Some(vec![0.0; 2 * nk * h]),
                    };
                    for (j, &word) in idx.iter().enumerate() {
                        let d = &d_out[word * f..(word + 1) * f];
                        d_state.h[j * h..(j + 1) * h].copy_from_slice(&d[..h]);
                        d_state.h[(nk + j) * h..(nk + j + 1) * h].copy_from_slice(&d[h..]);
                    }
                    let x = StackInput::Features(&ws.xs[k][..wk * nk * e]);
                    stack.backward(params, grads, x, Some(&mut d_state))?;
                    let at = |r: usize| {
                        let (p, word) = (r / nk, idx[r % nk]);
                        (p < lengths[word]).then_some(p * n + word)
                    };
                    let dx = stack.input_grads(wk, nk);
                    scatter_table(&mut grads[table.clone()], e, dx, &ws.chars, at);
                }
            }
            Inner::Cnn { w: wr, b: br } => {
                let ew = e * WINDOW;
                let mut d_conv = vec![0.0f32; w * n * f];
                for word in 0..n {
                    for j in 0..f {
                        let p = ws.best[word * f + j];
                        d_conv[(p * n + word) * f + j] = d_out[word * f + j];
                    }
                }
                {
                    let (dw, db) = crate::nn::params::split_two(grads, wr.clone(), br.clone());
                    decoder::backward_weights(
                        &d_conv,
                        w * n,
                        f,
                        &ws.windows[..w * n * ew],
                        ew,
                        dw,
                        db,
                    );
                }
                let mut d_win = vec![0.0f32; w * n * ew];
                decoder::backward_input(&d_conv, w * n, f, &params[wr.clone()], ew, &mut d_win);
                let mut dx = vec![0.0f32; w * n * e];
                for (r, win) in d_win.chunks_exact(ew).enumerate() {
                    let (p, word) = (r / n, r % n);
                    for k in 0..WINDOW {
                        let Some(q) = (p + k).checked_sub(1).filter(|&q| q < w) else {
                            continue;
                        };
                        let dst = &mut dx[(q * n + word) * e..(q * n + word + 1) * e];
                        for (c, d) in dst.iter_mut().enumerate() {
                            *d += win[c * WINDOW + k];
                        }
                    }
                }
                let lengths = &ws.lengths;
                let at = |r: usize| (r / n < lengths[r % n]).then_some(r);
                scatter_table(&mut grads[table], e, &dx, &ws.chars, at);
            }
        }
        Ok(())
    }
}

/// Cut `order` (words by decreasing length) into chunks: a chunk closes where the length
/// drops once it holds at least [`MIN_CHUNK`] words.
fn chunk_ranges(order: &[usize], lengths: &[usize], chunks: &mut Vec<Range<usize>>) {
    chunks.clear();
    let mut start = 0;
    for i in 1..order.len() {
        if i - start >= MIN_CHUNK && lengths[order[i]] < lengths[order[i - 1]] {
            chunks.push(start..i);
            start = i;
        }
    }
    if start < order.len() {
        chunks.push(start..order.len());
    }
}

/// The embedding table's backward: `dtable` row `chars[at(r)]` += `dx (rows, Ec)` row r, for
/// the rows `at` maps to a character (in row order: deterministic sums).
fn scatter_table(
    dtable: &mut [f32],
    e: usize,
    dx: &[f32],
    chars: &[u32],
    at: impl Fn(usize) -> Option<usize>,
) {
    for (r, d) in dx.chunks_exact(e).enumerate() {
        if let Some(i) = at(r) {
            let id = chars[i] as usize;
            for (g, v) in dtable[id * e..(id + 1) * e].iter_mut().zip(d) {
                *g += v;
            }
        }
    }
}

/// The stack of chunk `k`, made on first use: its tensors registered after `offset` values
/// of a layout of its own land at the ranges the first stack has in the model's layout.
fn chunk_stack<'a>(
    stacks: &'a mut Vec<Stack>,
    k: usize,
    cfg: &StackConfig,
    offset: usize,
) -> Result<&'a mut Stack> {
    while stacks.len() <= k {
        let mut layout = Layout::default();
        layout.push("before", &[offset]);
        stacks.push(Stack::new(cfg.clone(), &mut layout, "char_rnn.")?);
    }
    Ok(&mut stacks[k])
}
