//! The recurrent language model: embedding -> stacked recurrent layers (dropout between them
//! and before the decoder) -> linear decoder (optionally tied to the embedding) -> softmax
//! cross-entropy. Parameters and gradients live in two flat buffers with the same layout.
//! Layer 0 projects each distinct token of a chunk once when ids repeat enough
//! ([`crate::nn::projected_embedding`]), else it embeds every row and projects them in one GEMM.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::{CoreError, Result};
use crate::nn::cell::CellKind;
use crate::nn::dropout::{self, Rng};
use crate::nn::params::Layout;
use crate::nn::projected_embedding::ProjectedEmbedding;
use crate::nn::recurrent::{self, Cache, Dims, Grads, Input, InputGrad, Weights};
use crate::nn::{decoder, embedding, grow};
use crate::runtime::threads;

/// What to build. Defaults (via [`ModelConfig::new`]): no dropout, untied, seed 0.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub cell: CellKind,
    pub embed_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    /// Dropout probability on the inputs of layers 2..L and on the last layer's output.
    pub dropout: f32,
    /// Use the embedding matrix as the decoder weight (requires embed_size == hidden_size).
    pub tie_weights: bool,
    /// Seeds the initial weights and the dropout generator.
    pub seed: u64,
}

impl ModelConfig {
    /// A config with no dropout, untied weights and seed 0.
    pub fn new(
        vocab_size: usize,
        cell: CellKind,
        embed_size: usize,
        hidden_size: usize,
        num_layers: usize,
    ) -> Self {
        ModelConfig {
            vocab_size,
            cell,
            embed_size,
            hidden_size,
            num_layers,
            dropout: 0.0,
            tie_weights: false,
            seed: 0,
        }
    }

    /// Check every field; the error names the field and what was expected.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("embed_size", self.embed_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
        ] {
            if v == 0 {
                return Err(CoreError::invalid(name, "expected an integer > 0, got 0"));
            }
        }
        if self.vocab_size > u32::MAX as usize {
            return Err(CoreError::invalid(
                "vocab_size",
                "expected at most 2^32 - 1",
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(CoreError::invalid(
                "dropout",
                format!("expected a float in [0, 1), got {}", self.dropout),
            ));
        }
        if self.tie_weights && self.embed_size != self.hidden_size {
            return Err(CoreError::invalid(
                "tie_weights",
                format!(
                    "requires embed_size == hidden_size, got {} and {}",
                    self.embed_size, self.hidden_size
                ),
            ));
        }
        Ok(())
    }
}

/// Recurrent state (num_layers, batch, hidden), row-major: `h`, and `c` for LSTM.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub batch: usize,
    pub h: Vec<f32>,
    pub c: Option<Vec<f32>>,
}

impl State {
    /// The all-zero state for `batch` rows.
    pub fn zeros(cfg: &ModelConfig, batch: usize) -> Self {
        let n = cfg.num_layers * batch * cfg.hidden_size;
        State {
            batch,
            h: vec![0.0; n],
            c: cfg.cell.has_cell_state().then(|| vec![0.0; n]),
        }
    }

    fn check(&self, cfg: &ModelConfig, batch: usize) -> Result<()> {
        let n = cfg.num_layers * batch * cfg.hidden_size;
        let want = format!("({}, {batch}, {})", cfg.num_layers, cfg.hidden_size);
        if self.batch != batch || self.h.len() != n {
            return Err(CoreError::invalid(
                "state",
                format!("expected h of shape {want}"),
            ));
        }
        match (&self.c, cfg.cell.has_cell_state()) {
            (Some(c), true) if c.len() == n => Ok(()),
            (None, false) => Ok(()),
            (_, true) => Err(CoreError::invalid(
                "state",
                format!("an LSTM state is (h, c), both of shape {want}"),
            )),
            (Some(_), false) => Err(CoreError::invalid(
                "state",
                format!("a {} state is (h,) only", cfg.cell.name()),
            )),
        }
    }
}

/// A (batch, time) window of token ids inside a row-major buffer whose rows are `stride`
/// apart (a whole (B, N) stream or a plain (B, T) array).
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    data: &'a [u32],
    batch: usize,
    time: usize,
    stride: usize,
    start: usize,
}

impl<'a> Tokens<'a> {
    /// A dense (batch, time) array.
    pub fn new(data: &'a [u32], batch: usize, time: usize) -> Result<Self> {
        Self::window(data, batch, time, 0, time)
    }

    /// Columns `start..start+time` of a (batch, n) array.
    pub fn window(
        data: &'a [u32],
        batch: usize,
        n: usize,
        start: usize,
        time: usize,
    ) -> Result<Self> {
        if data.len() != batch * n {
            return Err(CoreError::invalid(
                "tokens",
                format!(
                    "expected {batch} x {n} = {} ids, got {}",
                    batch * n,
                    data.len()
                ),
            ));
        }
        if start + time > n {
            return Err(CoreError::invalid(
                "tokens",
                format!("window {start}..{} exceeds {n} columns", start + time),
            ));
        }
        Ok(Tokens {
            data,
            batch,
            time,
            stride: n,
            start,
        })
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn time(&self) -> usize {
        self.time
    }

    /// Copy into `out` in time-major order, checking every id against the vocabulary.
    fn load(&self, name: &str, vocab: usize, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        for t in 0..self.time {
            for b in 0..self.batch {
                let id = self.data[b * self.stride + self.start + t];
                if id as usize >= vocab {
                    return Err(CoreError::invalid(
                        name,
                        format!(
                            "token id {id} at ({b}, {t}) is out of range for vocab_size {vocab}"
                        ),
                    ));
                }
                out.push(id);
            }
        }
        Ok(())
    }
}

/// Where each tensor lives in the flat buffers.
#[derive(Clone, Debug)]
struct Offsets {
    emb: Range<usize>,
    layers: Vec<[Range<usize>; 4]>,
    out_w: Option<Range<usize>>,
    out_b: Range<usize>,
}

/// Buffers reused from call to call (grown, never shrunk): no allocation in the time loop.
#[derive(Default)]
struct Workspace {
    ids: Vec<u32>,
    targets: Vec<u32>,
    /// Layer 0's input projection per distinct token, when `per_token` (else `emb` holds the
    /// embedded rows and layer 0 projects them).
    tokens: ProjectedEmbedding,
    per_token: bool,
    emb: Vec<f32>,
    layers: Vec<Cache>,
    /// masks[l], dropped[l]: dropout on the input of layer l (l >= 1) and on the output (l = L).
    masks: Vec<Vec<f32>>,
    dropped: Vec<Vec<f32>>,
    zeros: Vec<f32>,
    logits: Vec<f32>,
    row_loss: Vec<f64>,
    dy: Vec<f32>,
    dx: Vec<f32>,
}

/// A recurrent language model with its parameters, gradients and workspace.
///
/// ```
/// use rnnrs::lm::{Model, ModelConfig, Tokens};
/// use rnnrs::nn::CellKind;
/// let cfg = ModelConfig::new(10, CellKind::Lstm, 8, 16, 2);
/// let mut model = Model::new(cfg).unwrap();
/// let x = [1u32, 2, 3, 4, 5, 6];
/// let y = [2u32, 3, 4, 5, 6, 7];
/// let (loss, state) = model
///     .loss(Tokens::new(&x, 2, 3).unwrap(), Tokens::new(&y, 2, 3).unwrap(), None)
///     .unwrap();
/// assert!((loss - 10f64.ln()).abs() < 0.1); // near-uniform at initialisation
/// assert_eq!(state.h.len(), 2 * 2 * 16);
/// ```
pub struct Model {
    cfg: ModelConfig,
    layout: Layout,
    off: Offsets,
    params: Vec<f32>,
    grads: Vec<f32>,
    rng: Rng,
    ws: Workspace,
}

impl Model {
    /// Build a model with PyTorch-style initial weights drawn from `cfg.seed`: recurrent
    /// weights and biases U(-1/sqrt(H), 1/sqrt(H)), embedding and decoder U(-0.1, 0.1),
    /// decoder bias 0.
    pub fn new(cfg: ModelConfig) -> Result<Self> {
        cfg.validate()?;
        let (v, e, h) = (cfg.vocab_size, cfg.embed_size, cfg.hidden_size);
        let g = cfg.cell.gates() * h;
        let mut layout = Layout::default();
        let emb = layout.push("embedding.weight", &[v, e]);
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            let i = if l == 0 { e } else { h };
            layers.push([
                layout.push(format!("rnn.weight_ih_l{l}"), &[g, i]),
                layout.push(format!("rnn.weight_hh_l{l}"), &[g, h]),
                layout.push(format!("rnn.bias_ih_l{l}"), &[g]),
                layout.push(format!("rnn.bias_hh_l{l}"), &[g]),
            ]);
        }
        let out_w = (!cfg.tie_weights).then(|| layout.push("output.weight", &[v, h]));
        let out_b = layout.push("output.bias", &[v]);
        let off = Offsets {
            emb,
            layers,
            out_w,
            out_b,
        };
        let mut rng = Rng::new(cfg.seed);
        let mut params = vec![0.0f32; layout.total()];
        let mut uniform = |r: Range<usize>, k: f32| {
            for p in &mut params[r] {
                *p = (2.0 * rng.next_f32() - 1.0) * k;
            }
        };
        uniform(off.emb.clone(), 0.1);
        let k = 1.0 / (h as f32).sqrt();
        for ranges in &off.layers {
            for r in ranges {
                uniform(r.clone(), k);
            }
        }
        if let Some(r) = &off.out_w {
            uniform(r.clone(), 0.1);
        }
        let grads = vec![0.0f32; layout.total()];
        Ok(Model {
            rng: Rng::new(cfg.seed),
            cfg,
            layout,
            off,
            params,
            grads,
            ws: Workspace::default(),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Names, shapes and offsets of the tensors in the flat buffers.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// All parameters, flat (see [`Model::layout`]).
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// The gradients of the last [`Model::loss_and_grads`], flat, same layout.
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// Parameters and gradients together (for the optimizer).
    pub fn params_and_grads(&mut self) -> (&mut [f32], &mut [f32]) {
        (&mut self.params, &mut self.grads)
    }

    /// One tensor by name.
    pub fn param(&self, name: &str) -> Option<&[f32]> {
        self.layout.get(name).map(|e| &self.params[e.range()])
    }

    /// One gradient by name.
    pub fn grad(&self, name: &str) -> Option<&[f32]> {
        self.layout.get(name).map(|e| &self.grads[e.range()])
    }

    /// Overwrite one tensor; `values` must have exactly its number of elements.
    pub fn set_param(&mut self, name: &str, values: &[f32]) -> Result<()> {
        let r = self.layout.range_for(name, values.len())?;
        self.params[r].copy_from_slice(values);
        Ok(())
    }

    /// The dropout generator's state.
    pub fn rng_state(&self) -> [u64; 4] {
        self.rng.state()
    }

    /// Restore the dropout generator (the all-zero state is rejected).
    pub fn set_rng_state(&mut self, s: [u64; 4]) -> Result<()> {
        self.rng = Rng::from_state(s)
            .ok_or_else(|| CoreError::invalid("rng_state", "the all-zero state is invalid"))?;
        Ok(())
    }

    /// Mean cross-entropy (nats) of predicting `y` from `x`, with all gradients (replacing the
    /// previous ones); `train` applies dropout. Returns the loss and the final state.
    pub fn loss_and_grads(
        &mut self,
        x: Tokens<'_>,
        y: Tokens<'_>,
        state: Option<&State>,
        train: bool,
    ) -> Result<(f64, State)> {
        self.load(x, y)?;
        let (t, b) = (x.time(), x.batch());
        threads::install(|| {
            self.forward(t, b, state, train)?;
            let loss = self.loss_from_logits(t * b, true);
            self.backward(t, b, train);
            Ok((loss, self.final_state(t, b)))
        })?
    }

    /// Mean cross-entropy without dropout or gradients.
    pub fn loss(
        &mut self,
        x: Tokens<'_>,
        y: Tokens<'_>,
        state: Option<&State>,
    ) -> Result<(f64, State)> {
        self.load(x, y)?;
        let (t, b) = (x.time(), x.batch());
        threads::install(|| {
            self.forward(t, b, state, false)?;
            let loss = self.loss_from_logits(t * b, false);
            Ok((loss, self.final_state(t, b)))
        })?
    }

    /// Logits (batch, time, vocab), row-major, without dropout.
    pub fn logits(&mut self, x: Tokens<'_>, state: Option<&State>) -> Result<(Vec<f32>, State)> {
        x.load("x", self.cfg.vocab_size, &mut self.ws.ids)?;
        let (t, b, v) = (x.time(), x.batch(), self.cfg.vocab_size);
        threads::install(|| {
            self.forward(t, b, state, false)?;
            let mut out = vec![0.0f32; b * t * v];
            for (r, row) in self.ws.logits[..t * b * v].chunks_exact(v).enumerate() {
                let (tt, bb) = (r / b, r % b);
                out[(bb * t + tt) * v..(bb * t + tt + 1) * v].copy_from_slice(row);
            }
            Ok((out, self.final_state(t, b)))
        })?
    }

    /// Total negative log-likelihood (nats, summed in f64) and token count over a batchified
    /// (batch, n) stream, in chunks of `bptt` with the state carried; no dropout.
    pub fn evaluate(
        &mut self,
        stream: &[u32],
        batch: usize,
        n: usize,
        bptt: usize,
    ) -> Result<(f64, usize)> {
        if bptt == 0 {
            return Err(CoreError::invalid("bptt", "expected an integer > 0, got 0"));
        }
        let mut state = State::zeros(&self.cfg, batch);
        let mut total = 0.0f64;
        let mut count = 0usize;
        let mut s = 0;
        while s + 1 < n {
            let t = bptt.min(n - 1 - s);
            let x = Tokens::window(stream, batch, n, s, t)?;
            let y = Tokens::window(stream, batch, n, s + 1, t)?;
            let (loss, next) = self.loss(x, y, Some(&state))?;
            total += loss * (t * batch) as f64;
            count += t * batch;
            state = next;
            s += t;
        }
        Ok((total, count))
    }

    fn load(&mut self, x: Tokens<'_>, y: Tokens<'_>) -> Result<()> {
        if x.batch() != y.batch() || x.time() != y.time() {
            return Err(CoreError::invalid(
                "y",
                format!(
                    "expected the shape of x ({}, {}), got ({}, {})",
                    x.batch(),
                    x.time(),
                    y.batch(),
                    y.time()
                ),
            ));
        }
        if x.time() == 0 || x.batch() == 0 {
            return Err(CoreError::invalid(
                "x",
                "expected at least one row and one step",
            ));
        }
        x.load("x", self.cfg.vocab_size, &mut self.ws.ids)?;
        y.load("y", self.cfg.vocab_size, &mut self.ws.targets)
    }

    fn dims(&self, l: usize, t: usize, b: usize) -> Dims {
        let i = if l == 0 {
            self.cfg.embed_size
        } else {
            self.cfg.hidden_size
        };
        Dims {
            t,
            b,
            i,
            h: self.cfg.hidden_size,
        }
    }

    /// Forward through embedding, layers and decoder; logits (T*B, V) land in ws.logits.
    fn forward(&mut self, t: usize, b: usize, state: Option<&State>, train: bool) -> Result<()> {
        if let Some(s) = state {
            s.check(&self.cfg, b)?;
        }
        let (e, h, v, nl) = (
            self.cfg.embed_size,
            self.cfg.hidden_size,
            self.cfg.vocab_size,
            self.cfg.num_layers,
        );
        let (tb, bh) = (t * b, b * h);
        let drop = train && self.cfg.dropout > 0.0;
        let dims: Vec<Dims> = (0..nl).map(|l| self.dims(l, t, b)).collect();
        let Model {
            cfg,
            off,
            params,
            rng,
            ws,
            ..
        } = self;
        let params: &[f32] = params;
        let table = &params[off.emb.clone()];
        ws.per_token = ws.tokens.plan(&ws.ids[..tb], v);
        if !ws.per_token {
            grow(&mut ws.emb, tb * e);
            embedding::forward(table, e, &ws.ids, &mut ws.emb[..tb * e]);
        }
        if ws.layers.len() < nl {
            ws.layers.resize_with(nl, Cache::default);
        }
        if ws.masks.len() < nl + 1 {
            ws.masks.resize_with(nl + 1, Vec::new);
            ws.dropped.resize_with(nl + 1, Vec::new);
        }
        grow(&mut ws.zeros, bh);
        for l in 0..=nl {
            if drop && l > 0 {
                let prev = ws.layers[l - 1].outputs(dims[l - 1]);
                grow(&mut ws.masks[l], tb * h);
                grow(&mut ws.dropped[l], tb * h);
                dropout::fill_mask(rng, cfg.dropout, &mut ws.masks[l][..tb * h]);
                dropout::apply(prev, &ws.masks[l][..tb * h], &mut ws.dropped[l][..tb * h]);
            }
            if l == nl {
                break;
            }
            let (h0, c0) = match state {
                Some(s) => (
                    &s.h[l * bh..(l + 1) * bh],
                    s.c.as_ref()
                        .map_or(&ws.zeros[..bh], |c| &c[l * bh..(l + 1) * bh]),
                ),
                None => (&ws.zeros[..bh], &ws.zeros[..bh]),
            };
            let (done, rest) = ws.layers.split_at_mut(l);
            let w = Weights::at(params, &off.layers[l]);
            let input = if l == 0 && ws.per_token {
                let gates = rest[0].input_gates(cfg.cell, dims[0]);
                ws.tokens.forward(cfg.cell, table, e, w, gates);
                Input::Projected
            } else if l == 0 {
                Input::Dense(&ws.emb[..tb * e])
            } else if drop {
                Input::Dense(&ws.dropped[l][..tb * h])
            } else {
                Input::Dense(done[l - 1].outputs(dims[l - 1]))
            };
            recurrent::forward(cfg.cell, dims[l], w, input, h0, c0, &mut rest[0]);
        }
        let top: &[f32] = if drop {
            &ws.dropped[nl][..tb * h]
        } else {
            ws.layers[nl - 1].outputs(dims[nl - 1])
        };
        let w_out = &params[off.out_w.clone().unwrap_or(off.emb.clone())];
        grow(&mut ws.logits, tb * v);
        decoder::logits(
            top,
            tb,
            h,
            w_out,
            &params[off.out_b.clone()],
            &mut ws.logits,
        );
        Ok(())
    }

    /// Mean loss over the `n` rows of ws.logits; with `grad`, ws.logits becomes dL/dlogits.
    fn loss_from_logits(&mut self, n: usize, grad: bool) -> f64 {
        let v = self.cfg.vocab_size;
        grow(&mut self.ws.row_loss, n);
        let scale = grad.then_some(1.0 / n as f32);
        decoder::cross_entropy(
            &mut self.ws.logits,
            v,
            &self.ws.targets[..n],
            &mut self.ws.row_loss,
            scale,
        );
        self.ws.row_loss[..n].iter().sum::<f64>() / n as f64
    }

    /// Backward from dL/dlogits in ws.logits; replaces self.grads.
    fn backward(&mut self, t: usize, b: usize, train: bool) {
        let (e, h, v, nl) = (
            self.cfg.embed_size,
            self.cfg.hidden_size,
            self.cfg.vocab_size,
            self.cfg.num_layers,
        );
        let tb = t * b;
        let drop = train && self.cfg.dropout > 0.0;
        let dims: Vec<Dims> = (0..nl).map(|l| self.dims(l, t, b)).collect();
        let Model {
            cfg,
            off,
            params,
            grads,
            ws,
            ..
        } = self;
        let params: &[f32] = params;
        grads.par_chunks_mut(1 << 16).for_each(|c| c.fill(0.0));
        grow(&mut ws.dy, tb * h.max(e));
        grow(&mut ws.dx, tb * h.max(e));
        {
            let top: &[f32] = if drop {
                &ws.dropped[nl][..tb * h]
            } else {
                ws.layers[nl - 1].outputs(dims[nl - 1])
            };
            let w_range = off.out_w.clone().unwrap_or(off.emb.clone());
            let (dw, db) = split_two(grads, w_range.clone(), off.out_b.clone());
            decoder::backward(
                &ws.logits,
                tb,
                v,
                top,
                h,
                &params[w_range],
                dw,
                db,
                &mut ws.dy[..tb * h],
            );
            if drop {
                dropout::apply_in_place(&mut ws.dy[..tb * h], &ws.masks[nl][..tb * h]);
            }
        }
        for l in (0..nl).rev() {
            let d = dims[l];
            let (done, rest) = ws.layers.split_at_mut(l);
            let x: Option<&[f32]> = if l == 0 {
                (!ws.per_token).then(|| &ws.emb[..tb * e])
            } else if drop {
                Some(&ws.dropped[l][..tb * h])
            } else {
                Some(done[l - 1].outputs(dims[l - 1]))
            };
            let input = match x {
                Some(x) => InputGrad::Dense {
                    x,
                    dx: Some(&mut ws.dx[..tb * d.i]),
                },
                None => InputGrad::Projected,
            };
            let r = &off.layers[l];
            let w = Weights::at(params, r);
            recurrent::backward(
                cfg.cell,
                d,
                w,
                input,
                &ws.dy[..tb * h],
                &mut rest[0],
                Grads::at(grads, r),
                None,
            );
            if l > 0 && drop {
                dropout::apply_in_place(&mut ws.dx[..tb * h], &ws.masks[l][..tb * h]);
            }
            std::mem::swap(&mut ws.dy, &mut ws.dx);
        }
        let emb = off.emb.clone();
        if ws.per_token {
            // Layer 0's weight gradient and the embedding gradient, per distinct token.
            let w_ih = off.layers[0][0].clone();
            let (dtable, dw_ih) = split_two(grads, emb, w_ih.clone());
            ws.tokens.backward(
                ws.layers[0].gate_grads(cfg.cell, dims[0]),
                e,
                &params[w_ih],
                dw_ih,
                dtable,
            );
        } else {
            embedding::backward(&mut grads[emb], e, &ws.ids, &ws.dy[..tb * e]);
        }
    }

    fn final_state(&self, t: usize, b: usize) -> State {
        let nl = self.cfg.num_layers;
        let mut h = Vec::with_capacity(nl * b * self.cfg.hidden_size);
        let mut c = self
            .cfg
            .cell
            .has_cell_state()
            .then(|| Vec::with_capacity(h.capacity()));
        for l in 0..nl {
            let d = self.dims(l, t, b);
            h.extend_from_slice(self.ws.layers[l].final_h(d));
            if let Some(c) = c.as_mut() {
                c.extend_from_slice(self.ws.layers[l].final_c(d));
            }
        }
        State { batch: b, h, c }
    }
}

/// Two disjoint mutable ranges of one buffer, in either order.
fn split_two(buf: &mut [f32], a: Range<usize>, b: Range<usize>) -> (&mut [f32], &mut [f32]) {
    if a.start < b.start {
        let (lo, hi) = buf.split_at_mut(b.start);
        (&mut lo[a], &mut hi[..b.len()])
    } else {
        let (lo, hi) = buf.split_at_mut(a.start);
        (&mut hi[..a.len()], &mut lo[b])
    }
}
