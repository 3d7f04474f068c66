//! Character-level word encoders: one vector per word from its characters, over a ragged
//! batch of N words. Spec: `reference/char_encoder.py` (`char_encoder_forward`,
//! `char_encoder_backward`).
//!
//! Words arrive time-major, `chars (W*N)` (position p of word n at `p*N + n`, 0 past the
//! word's length) with `lengths (N)` in 1..=W. `Lstm`: the character embeddings through a
//! one-layer bidirectional LSTM ([`Stack`] with lengths) and the word's vector is [final
//! forward state | final reverse state] (N, 2*Hc). `Cnn`: a window-3 convolution (zero
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
    Lstm(Box<Stack>),
    /// conv weight (F, Ec, 3), bias (F).
    Cnn {
        w: Range<usize>,
        b: Range<usize>,
    },
}

/// Buffers of the last forward.
#[derive(Default)]
struct Workspace {
    w: usize,
    n: usize,
    chars: Vec<u32>,
    lengths: Vec<usize>,
    /// (W*N, Ec) embedded characters, 0 past each word.
    x: Vec<f32>,
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
                Inner::Lstm(Box::new(Stack::new(s, layout, "char_rnn.")?))
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
        grow(&mut ws.x, w * n * e);
        let table = &params[self.table.clone()];
        for (r, row) in ws.x[..w * n * e].chunks_exact_mut(e).enumerate() {
            let (p, word) = (r / n, r % n);
            if p < lengths[word] {
                let id = chars[r] as usize;
                row.copy_from_slice(&table[id * e..(id + 1) * e]);
            } else {
                row.fill(0.0);
            }
        }
        grow(&mut ws.out, n * f);
        match &mut self.inner {
            Inner::Lstm(stack) => {
                let x = StackInput::Features(&ws.x[..w * n * e]);
                let fin = stack.forward(params, x, w, n, Some(lengths), None, None)?;
                let h = self.cfg.hidden_size;
                for (word, out) in ws.out[..n * f].chunks_exact_mut(f).enumerate() {
                    out[..h].copy_from_slice(&fin.h[word * h..(word + 1) * h]);
                    out[h..].copy_from_slice(&fin.h[(n + word) * h..(n + word + 1) * h]);
                }
            }
            Inner::Cnn { w: wr, b: br } => {
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
        let mut dx_own = Vec::new();
        let dx: &[f32] = match &mut self.inner {
            Inner::Lstm(stack) => {
                for dir in 0..2 {
                    stack.output_grads_mut(dir).fill(0.0);
                }
                let mut d_state = State {
                    batch: n,
                    h: vec![0.0; 2 * n * h],
                    c: Some(vec![0.0; 2 * n * h]),
                };
                for (word, d) in d_out[..n * f].chunks_exact(f).enumerate() {
                    d_state.h[word * h..(word + 1) * h].copy_from_slice(&d[..h]);
                    d_state.h[(n + word) * h..(n + word + 1) * h].copy_from_slice(&d[h..]);
                }
                let x = StackInput::Features(&ws.x[..w * n * e]);
                stack.backward(params, grads, x, Some(&mut d_state))?;
                stack.input_grads(w, n)
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
                dx_own.resize(w * n * e, 0.0);
                for (r, win) in d_win.chunks_exact(ew).enumerate() {
                    let (p, word) = (r / n, r % n);
                    for k in 0..WINDOW {
                        let Some(q) = (p + k).checked_sub(1).filter(|&q| q < w) else {
                            continue;
                        };
                        let dst = &mut dx_own[(q * n + word) * e..(q * n + word + 1) * e];
                        for (c, d) in dst.iter_mut().enumerate() {
                            *d += win[c * WINDOW + k];
                        }
                    }
                }
                &dx_own
            }
        };
        let dtable = &mut grads[self.table.clone()];
        for (r, d) in dx[..w * n * e].chunks_exact(e).enumerate() {
            if r / n < ws.lengths[r % n] {
                let id = ws.chars[r] as usize;
                for (g, v) in dtable[id * e..(id + 1) * e].iter_mut().zip(d) {
                    *g += v;
                }
            }
        }
        Ok(())
    }
}
