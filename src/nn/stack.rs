//! The recurrent encoder: stacked, optionally bidirectional RNN/LSTM/GRU layers, the one
//! layer loop every model composes (the language model in `crate::lm`; the encoder layers
//! `rnnrs.RNN / LSTM / GRU`, torch.nn.RNN / LSTM / GRU with `batch_first=True`, through
//! [`RecurrentStack`]). Spec: `reference/stack.py::stack_forward` and `stack_backward`.
//!
//! Every layer and direction is one [`recurrent::forward`] / [`recurrent::backward`] call.
//! The reverse direction runs on the time-reversed sequence; layer k > 0 reads the
//! concatenation [forward | reverse] of layer k-1's outputs, with inverted dropout in
//! training. Layer 0 reads float features, or token ids looked up in an embedding table
//! ([`StackInput::Tokens`]): then, with one direction, it projects each distinct id once when
//! ids repeat enough ([`super::projected_embedding`]). Buffers are time-major (row `t*B + b`);
//! states are (L*D, B, H) with index `layer * D + direction` (D = 2 when bidirectional).
//!
//! Padded batches (`lengths`, 1 <= lengths[b] <= T, as `pack_padded_sequence`): every layer
//! and direction freezes row b after its lengths[b] steps ([`recurrent::forward`]); the
//! reverse direction reads row b through the per-row reverse index `rev[t, b] =
//! lengths[b]-1-t` for a real step and `t` after ([`reverse_step`]), so it starts at the
//! row's own last token, and its outputs and gradients go back through the same gather (the
//! index is its own inverse). Without lengths the index is the plain reversal T-1-t.
//! [`Stack::top_outputs`] gives the top layer's outputs with the reverse half in place and 0
//! at padded steps (the spec's output); [`Stack::set_top_grads`] takes their gradient.
//!
//! A [`Stack`] holds no weights: it registers its tensors in the [`Layout`] of the model that
//! owns it and reads them from that model's flat [`Params`] buffers, so every model keeps one
//! parameter buffer for the optimizer, clipping and checkpoints. [`RecurrentStack`] is the
//! stack on its own, with its parameters, batch-first:
//!
//! ```
//! use rnnrs::nn::{CellKind, RecurrentStack, StackConfig};
//! let mut cfg = StackConfig::new(CellKind::Gru, 3, 4, 2);
//! cfg.bidirectional = true;
//! let mut stack = RecurrentStack::new(cfg, 0).unwrap();
//! // Initial weights come from the caller (the Python layer draws them); a pattern here.
//! for (i, w) in stack.params_mut().values_mut().iter_mut().enumerate() {
//!     *w = ((i * 37 % 101) as f32 / 101.0 - 0.5) * 0.5;
//! }
//! let x = vec![0.5f32; 2 * 5 * 3]; // (B=2, T=5, I=3)
//! let (out, state) = stack.forward(&x, 2, 5, None, false).unwrap();
//! assert_eq!(out.len(), 2 * 5 * 8); // (B, T, D*H)
//! assert_eq!(state.h.len(), 4 * 2 * 4); // (L*D, B, H)
//! let g = stack.backward(&vec![1.0; out.len()], None).unwrap();
//! assert_eq!(g.dx.len(), x.len());
//! assert!(stack.params().grad("weight_hh_l1_reverse").unwrap().iter().any(|&v| v != 0.0));
//! assert!(stack.backward(&vec![1.0; out.len()], None).is_err()); // one backward per forward
//! ```

use std::ops::Range;

use super::cell::CellKind;
use super::dropout::{self, Rng};
use super::params::{split_two, Layout, Params};
use super::projected_embedding::ProjectedEmbedding;
use super::recurrent::{self, Cache, Dims, Grads, Input, InputGrad, StateGrads, Weights};
use super::{checks, embedding, grow};
use crate::error::{CoreError, Result};
use crate::runtime::threads;

/// What to build. Defaults (via [`StackConfig::new`]): one direction, no dropout.
#[derive(Clone, Debug, PartialEq)]
pub struct StackConfig {
    pub cell: CellKind,
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    /// Add a reverse direction to every layer (outputs concatenated, forward first).
    pub bidirectional: bool,
    /// Dropout probability on the inputs of layers 2..L, in training only.
    pub dropout: f32,
}

impl StackConfig {
    /// One direction, no dropout.
    pub fn new(cell: CellKind, input_size: usize, hidden_size: usize, num_layers: usize) -> Self {
        StackConfig {
            cell,
            input_size,
            hidden_size,
            num_layers,
            bidirectional: false,
            dropout: 0.0,
        }
    }

    /// D: 2 when bidirectional, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// Check every field; the error names the field and what was expected.
    pub fn validate(&self) -> Result<()> {
        checks::positive(&[
            ("input_size", self.input_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
        ])?;
        checks::dropout(self.dropout)?;
        // Weights and gradients: checked before a layer is laid out.
        checks::allocatable(
            "recurrent stack parameters (weights and gradients)",
            self.param_count().and_then(|n| n.checked_mul(2)),
        )
    }

    /// Number of scalars in all weights and biases (None on overflow).
    pub fn param_count(&self) -> Option<usize> {
        let (h, d) = (self.hidden_size, self.directions());
        let g = self.cell.gates().checked_mul(h)?;
        let first = self.input_size.checked_add(h)?.checked_add(2)?;
        let upper = d.checked_mul(h)?.checked_add(h)?.checked_add(2)?;
        let per_dir = first.checked_add(upper.checked_mul(self.num_layers - 1)?)?;
        g.checked_mul(per_dir)?.checked_mul(d)
    }

    /// Input width of layer k: I for the first layer, D*H above it.
    fn layer_input(&self, k: usize) -> usize {
        if k == 0 {
            self.input_size
        } else {
            self.directions() * self.hidden_size
        }
    }

    /// The all-zero state (L*D, B, H).
    pub fn zero_state(&self, batch: usize) -> State {
        let n = self.num_layers * self.directions() * batch * self.hidden_size;
        State {
            batch,
            h: vec![0.0; n],
            c: self.cell.has_cell_state().then(|| vec![0.0; n]),
        }
    }

    /// Check that `s` is a state (or a state gradient) of this stack for `batch` rows; the
    /// error names `name`.
    pub fn check_state(&self, s: &State, name: &str, batch: usize) -> Result<()> {
        let ld = self.num_layers * self.directions();
        let want = format!("({ld}, {batch}, {})", self.hidden_size);
        let n = ld * batch * self.hidden_size;
        let lstm = self.cell.has_cell_state();
        let c_ok = match &s.c {
            Some(c) => lstm && c.len() == n,
            None => !lstm,
        };
        if s.batch != batch || s.h.len() != n || !c_ok {
            let parts = if lstm { "(h, c)" } else { "(h,)" };
            return Err(CoreError::invalid(
                name,
                format!("expected {parts}, each of shape {want}"),
            ));
        }
        Ok(())
    }
}

/// Recurrent state (L*D, batch, hidden), row-major: `h`, and `c` for LSTM.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub batch: usize,
    pub h: Vec<f32>,
    pub c: Option<Vec<f32>>,
}

/// What layer 0 reads.
#[derive(Clone, Debug)]
pub enum StackInput<'a> {
    /// Features `x (T*B, I)`, time-major.
    Features(&'a [f32]),
    /// Token ids `(T*B)`, time-major, whose rows of the embedding table `(V, I)` at `table`
    /// in the owning model's parameters are the features; backward adds into the table's
    /// gradient.
    ///
    /// `version`: the parameters' [`crate::nn::params::Params::version`] when calls with the
    /// same version see the same values, so that layer 0 may keep its projections of the
    /// whole vocabulary between calls ([`ProjectedEmbedding::forward`]); None otherwise.
    Tokens {
        ids: &'a [u32],
        table: Range<usize>,
        version: Option<u64>,
    },
}

impl StackInput<'_> {
    /// Check the input of a (t, b) chunk against layer 0's width `i`.
    fn check(&self, t: usize, b: usize, i: usize) -> Result<()> {
        match self {
            StackInput::Features(x) if x.len() != t * b * i => Err(CoreError::invalid(
                "x",
                format!("expected {t} x {b} x {i} values, got {}", x.len()),
            )),
            StackInput::Tokens { ids, .. } if ids.len() != t * b => Err(CoreError::invalid(
                "ids",
                format!("expected {t} x {b} token ids, got {}", ids.len()),
            )),
            StackInput::Tokens { ids, table, .. } => {
                let rows = table.len() / i;
                match ids.iter().find(|&&id| id as usize >= rows) {
                    Some(id) => Err(CoreError::invalid(
                        "ids",
                        format!("token id {id} is out of range for {rows} embedding rows"),
                    )),
                    None => Ok(()),
                }
            }
            StackInput::Features(_) => Ok(()),
        }
    }
}

/// What [`RecurrentStack::backward`] returns besides the weight gradients (kept in its
/// parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct InputGrads {
    /// dL/dx (B, T, I), batch-first like the input.
    pub dx: Vec<f32>,
    /// dL/d(initial state), (L*D, B, H).
    pub d_state0: State,
}

/// The shape of the last forward.
#[derive(Clone, Copy)]
struct Chunk {
    t: usize,
    b: usize,
    dropout: bool,
    /// Layer 0 took the per-token projection path.
    per_token: bool,
    /// The rows have lengths (kept in [`Workspace::lengths`]).
    masked: bool,
}

/// Buffers reused from call to call (grown, never shrunk): no allocation in the time loop.
#[derive(Default)]
struct Workspace {
    /// The last forward, and whether its caches still allow a backward.
    last: Option<Chunk>,
    pending: bool,
    /// Layer 0's input projection per distinct token (token input, one direction).
    tokens: ProjectedEmbedding,
    /// inputs[k]: layer k's input (T*B, I_k) when it is not a layer's outputs as they stand:
    /// embedded tokens (k = 0), or the concatenated directions and dropout (k > 0). rev[k]:
    /// the same time-reversed (bidirectional only).
    inputs: Vec<Vec<f32>>,
    rev: Vec<Vec<f32>>,
    /// masks[k]: the dropout mask on layer k's input (k >= 1).
    masks: Vec<Vec<f32>>,
    /// One per layer and direction, index k*D + d.
    caches: Vec<Cache>,
    /// Per direction: the gradient of its outputs (T*B, H), and of its input (T*B, I_k);
    /// with one direction the two are swapped from layer to layer.
    dy: [Vec<f32>; 2],
    dx: [Vec<f32>; 2],
    zeros: Vec<f32>,
    /// The last forward's lengths (B) when it had them.
    lengths: Vec<usize>,
}

/// The reverse direction's step for step `tt` of row `bb` (and back: the map is its own
/// inverse): `lengths[bb]-1-tt` within the row's length, `tt` after it; `t-1-tt` without
/// lengths. Spec: `reference/lengths.py::reverse_index`.
pub fn reverse_step(lengths: Option<&[usize]>, t: usize, tt: usize, bb: usize) -> usize {
    match lengths {
        Some(l) if tt < l[bb] => l[bb] - 1 - tt,
        Some(_) => tt,
        None => t - 1 - tt,
    }
}

/// `dst (T, B, w)` row (tt, bb) = `src (T, B, w)` row (reverse_step(tt, bb), bb).
fn reverse_time(
    src: &[f32],
    t: usize,
    b: usize,
    w: usize,
    lens: Option<&[usize]>,
    dst: &mut [f32],
) {
    for tt in 0..t {
        for bb in 0..b {
            let (s, o) = (
                (reverse_step(lens, t, tt, bb) * b + bb) * w,
                (tt * b + bb) * w,
            );
            dst[o..o + w].copy_from_slice(&src[s..s + w]);
        }
    }
}

/// Check `lengths` (B) against a (t, b) chunk: 1 <= lengths[b] <= t.
pub fn check_lengths(lengths: &[usize], t: usize, b: usize) -> Result<()> {
    if lengths.len() != b {
        return Err(CoreError::invalid(
            "lengths",
            format!("expected {b} lengths, got {}", lengths.len()),
        ));
    }
    match lengths.iter().find(|&&l| l == 0 || l > t) {
        Some(l) => Err(CoreError::invalid(
            "lengths",
            format!("expected lengths in 1..={t} (the padded number of steps), got {l}"),
        )),
        None => Ok(()),
    }
}

/// Row of step `tt`, batch element `bb` in a (B, T, ·) or (T, B, ·) layout.
fn row(batch_first: bool, tt: usize, bb: usize, d: Dims) -> usize {
    if batch_first {
        bb * d.t + tt
    } else {
        tt * d.b + bb
    }
}

/// The outputs of a layer's directions side by side, (·, D*H) rows in `out`'s layout; the
/// reverse direction's outputs are in reversed time (per row with `lens`).
fn gather_outputs(
    caches: &[Cache],
    d: Dims,
    lens: Option<&[usize]>,
    out: &mut [f32],
    batch_first: bool,
) {
    let (h, dirs) = (d.h, caches.len());
    for (dir, cache) in caches.iter().enumerate() {
        let src = cache.outputs(d);
        for tt in 0..d.t {
            for bb in 0..d.b {
                let st = if dir == 0 {
                    tt
                } else {
                    reverse_step(lens, d.t, tt, bb)
                };
                let s = (st * d.b + bb) * h;
                let o = (row(batch_first, tt, bb, d) * dirs + dir) * h;
                out[o..o + h].copy_from_slice(&src[s..s + h]);
            }
        }
    }
}

/// The inverse of [`gather_outputs`]: split (·, D*H) rows into per-direction (T*B, H)
/// time-major blocks, the reverse direction's in reversed time (per row with `lens`).
fn scatter_outputs(
    src: &[f32],
    d: Dims,
    dirs: usize,
    lens: Option<&[usize]>,
    dst: &mut [Vec<f32>; 2],
    batch_first: bool,
) {
    let h = d.h;
    for (dir, out) in dst.iter_mut().take(dirs).enumerate() {
        for tt in 0..d.t {
            for bb in 0..d.b {
                let ot = if dir == 0 {
                    tt
                } else {
                    reverse_step(lens, d.t, tt, bb)
                };
                let s = (row(batch_first, tt, bb, d) * dirs + dir) * h;
                let o = (ot * d.b + bb) * h;
                out[o..o + h].copy_from_slice(&src[s..s + h]);
            }
        }
    }
}

/// (B, T, w) batch-first -> (T, B, w) time-major, or back with `to_batch_first`.
fn transpose_bt(src: &[f32], b: usize, t: usize, w: usize, dst: &mut [f32], to_batch_first: bool) {
    for tt in 0..t {
        for bb in 0..b {
            let (bf, tm) = ((bb * t + tt) * w, (tt * b + bb) * w);
            let (s, o) = if to_batch_first { (tm, bf) } else { (bf, tm) };
            dst[o..o + w].copy_from_slice(&src[s..s + w]);
        }
    }
}

/// The recurrent encoder: its config, where its tensors live in the owning model's
/// parameters, and the caches of the last forward. Forward and backward run in the current
/// rayon pool (callers enter the rnnrs pool with [`threads::install`]).
pub struct Stack {
    cfg: StackConfig,
    /// Tensor ranges [w_ih, w_hh, b_ih, b_hh] per layer and direction, index k*D + d.
    layers: Vec<[Range<usize>; 4]>,
    ws: Workspace,
}

impl Stack {
    /// Register the stack's tensors in `layout`, in torch's names and order prefixed by
    /// `prefix`: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, then the
    /// same with `_reverse`, layer by layer.
    pub fn new(cfg: StackConfig, layout: &mut Layout, prefix: &str) -> Result<Self> {
        cfg.validate()?;
        let (h, dirs) = (cfg.hidden_size, cfg.directions());
        let g = cfg.cell.gates() * h;
        let mut layers = Vec::with_capacity(cfg.num_layers * dirs);
        for k in 0..cfg.num_layers {
            let i = cfg.layer_input(k);
            for d in 0..dirs {
                let sfx = if d == 1 { "_reverse" } else { "" };
                layers.push([
                    layout.push(format!("{prefix}weight_ih_l{k}{sfx}"), &[g, i]),
                    layout.push(format!("{prefix}weight_hh_l{k}{sfx}"), &[g, h]),
                    layout.push(format!("{prefix}bias_ih_l{k}{sfx}"), &[g]),
                    layout.push(format!("{prefix}bias_hh_l{k}{sfx}"), &[g]),
                ]);
            }
        }
        Ok(Stack {
            cfg,
            layers,
            ws: Workspace::default(),
        })
    }

    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    /// The weights of layer `k`, direction `dir` (0 forward, 1 reverse), in the owning model's
    /// `params`. Panics unless `k < num_layers`, `dir < directions()` and `params` is that
    /// model's buffer, as slicing out of bounds does.
    pub fn weights<'a>(&self, params: &'a [f32], k: usize, dir: usize) -> Weights<'a> {
        Weights::at(params, &self.layers[k * self.cfg.directions() + dir])
    }

    /// (batch, time) of the forward the next [`Stack::backward`] would go through, if any.
    pub fn last_forward(&self) -> Option<(usize, usize)> {
        self.ws.last.filter(|_| self.ws.pending).map(|c| (c.b, c.t))
    }

    /// `params` must hold every tensor of the stack and the embedding table.
    fn check_params(&self, params: &[f32], input: &StackInput<'_>) -> Result<()> {
        let table_end = match input {
            StackInput::Tokens { table, .. } => table.end,
            StackInput::Features(_) => 0,
        };
        let layers_end = self.layers.iter().map(|r| r[3].end).max().unwrap_or(0);
        if params.len() < layers_end.max(table_end) {
            return Err(CoreError::invalid(
                "params",
                format!(
                    "expected a buffer of at least {} values, got {}",
                    layers_end.max(table_end),
                    params.len()
                ),
            ));
        }
        Ok(())
    }

    fn dims(&self, k: usize, t: usize, b: usize) -> Dims {
        Dims {
            t,
            b,
            i: self.cfg.layer_input(k),
            h: self.cfg.hidden_size,
        }
    }

    /// Forward over a chunk of `t` steps of `b` rows from `state` (zeros when None), the
    /// weights read from `params`; with `lengths` (B), row b runs its first lengths[b] steps
    /// (module docs). With a generator (training) dropout applies between layers.
    /// Returns the final state (L*D, B, H), each row's after its own last step in each
    /// direction; keeps what [`Stack::backward`] needs (the lengths too).
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &mut self,
        params: &[f32],
        input: StackInput<'_>,
        t: usize,
        b: usize,
        lengths: Option<&[usize]>,
        state: Option<&State>,
        rng: Option<&mut Rng>,
    ) -> Result<State> {
        if t == 0 || b == 0 {
            return Err(CoreError::invalid(
                "x",
                "expected at least one row and one step",
            ));
        }
        self.check_params(params, &input)?;
        input.check(t, b, self.cfg.input_size)?;
        if let Some(s) = state {
            self.cfg.check_state(s, "state", b)?;
        }
        if let Some(l) = lengths {
            check_lengths(l, t, b)?;
        }
        let rng = rng.filter(|_| self.cfg.dropout > 0.0);
        let dropout = rng.is_some();
        self.ws.pending = false;
        self.ws.lengths.clear();
        self.ws.lengths.extend_from_slice(lengths.unwrap_or(&[]));
        let masked = lengths.is_some();
        let per_token = self.forward_layers(params, &input, t, b, masked, state, rng);
        self.ws.last = Some(Chunk {
            t,
            b,
            dropout,
            per_token,
            masked,
        });
        self.ws.pending = true;
        Ok(self.final_state(t, b))
    }

    /// Returns whether layer 0 took the per-token path. `masked`: the rows have the lengths
    /// of ws.lengths.
    #[allow(clippy::too_many_arguments)]
    fn forward_layers(
        &mut self,
        params: &[f32],
        input: &StackInput<'_>,
        t: usize,
        b: usize,
        masked: bool,
        state: Option<&State>,
        mut rng: Option<&mut Rng>,
    ) -> bool {
        let (nl, dirs, h) = (
            self.cfg.num_layers,
            self.cfg.directions(),
            self.cfg.hidden_size,
        );
        let dims: Vec<Dims> = (0..nl).map(|k| self.dims(k, t, b)).collect();
        let (tb, bh, i0) = (t * b, b * h, self.cfg.input_size);
        let Stack { cfg, layers, ws } = self;
        let lens = masked.then_some(&ws.lengths[..]);
        ws.inputs.resize_with(nl, Vec::new);
        ws.rev.resize_with(nl, Vec::new);
        ws.masks.resize_with(nl, Vec::new);
        if ws.caches.len() < nl * dirs {
            ws.caches.resize_with(nl * dirs, Cache::default);
        }
        grow(&mut ws.zeros, bh);
        let per_token = match input {
            StackInput::Tokens { ids, table, .. } => {
                let per_token = ws.tokens.plan(ids, table.len() / i0);
                if !per_token {
                    grow(&mut ws.inputs[0], tb * i0);
                    let rows = &params[table.clone()];
                    embedding::forward(rows, i0, ids, &mut ws.inputs[0][..tb * i0]);
                } else if dirs == 2 {
                    ws.tokens
                        .reverse(|r| reverse_step(lens, t, r / b, r % b) * b + r % b);
                }
                per_token
            }
            StackInput::Features(_) => false,
        };
        for k in 0..nl {
            let d = dims[k];
            let n = tb * d.i;
            // Layer k's input is materialised in inputs[k] unless it is features, projected
            // tokens, or one direction's outputs as they stand.
            let own_input = if k == 0 {
                matches!(input, StackInput::Tokens { .. }) && !per_token
            } else {
                dirs == 2 || rng.is_some()
            };
            if k > 0 && own_input {
                grow(&mut ws.inputs[k], n);
                let below = &ws.caches[(k - 1) * dirs..k * dirs];
                let x = &mut ws.inputs[k][..n];
                match rng.as_deref_mut() {
                    Some(rng) => {
                        grow(&mut ws.masks[k], n);
                        let mask = &mut ws.masks[k][..n];
                        dropout::fill_mask(rng, cfg.dropout, mask);
                        if dirs == 1 {
                            dropout::apply(below[0].outputs(dims[k - 1]), mask, x);
                        } else {
                            gather_outputs(below, dims[k - 1], lens, x, false);
                            dropout::apply_in_place(x, mask);
                        }
                    }
                    None => gather_outputs(below, dims[k - 1], lens, x, false),
                }
            }
            // Layer 0 reading projected tokens reads the reversed rows' projections instead.
            let projected = k == 0 && per_token;
            if dirs == 2 && !projected {
                let x = match input {
                    StackInput::Features(x) if k == 0 => *x,
                    _ => &ws.inputs[k][..n],
                };
                grow(&mut ws.rev[k], n);
                reverse_time(x, t, b, d.i, lens, &mut ws.rev[k]);
            }
            for dir in 0..dirs {
                let idx = k * dirs + dir;
                let w = Weights::at(params, &layers[idx]);
                let zeros = &ws.zeros[..bh];
                let (h0, c0) = match state {
                    Some(s) => (
                        &s.h[idx * bh..(idx + 1) * bh],
                        s.c.as_ref().map_or(zeros, |c| &c[idx * bh..(idx + 1) * bh]),
                    ),
                    None => (zeros, zeros),
                };
                let (done, rest) = ws.caches.split_at_mut(idx);
                let x = match input {
                    StackInput::Tokens { table, version, .. } if projected => {
                        let rows = &params[table.clone()];
                        ws.tokens.forward(cfg.cell, rows, i0, w, dir == 1, *version)
                    }
                    _ if dir == 1 => Input::Dense(&ws.rev[k][..n]),
                    _ if own_input => Input::Dense(&ws.inputs[k][..n]),
                    _ if k > 0 => Input::Dense(done[k - 1].outputs(dims[k - 1])),
                    StackInput::Features(x) => Input::Dense(x),
                    StackInput::Tokens { .. } => unreachable!("token input is projected or own"),
                };
                recurrent::forward(cfg.cell, d, w, x, h0, c0, lens, &mut rest[0]);
            }
        }
        per_token
    }

    fn final_state(&self, t: usize, b: usize) -> State {
        let dirs = self.cfg.directions();
        let mut fin = self.cfg.zero_state(b);
        for (idx, cache) in self.ws.caches[..self.layers.len()].iter().enumerate() {
            let d = self.dims(idx / dirs, t, b);
            let bh = b * d.h;
            fin.h[idx * bh..(idx + 1) * bh].copy_from_slice(cache.final_h(d));
            if let Some(c) = fin.c.as_mut() {
                c[idx * bh..(idx + 1) * bh].copy_from_slice(cache.final_c(d));
            }
        }
        fin
    }

    /// The top layer's outputs of direction `dir` in the last forward, (T*B, H) time-major
    /// (the reverse direction's in reversed time); empty before any forward.
    pub fn outputs(&self, dir: usize) -> &[f32] {
        match self.ws.last {
            Some(c) => {
                let top = self.cfg.num_layers - 1;
                let d = self.dims(top, c.t, c.b);
                self.ws.caches[top * self.cfg.directions() + dir].outputs(d)
            }
            None => &[],
        }
    }

    /// Where the caller writes dL/d(top outputs of direction `dir`), (T*B, H) time-major as
    /// [`Stack::outputs`], before [`Stack::backward`]; empty when no forward awaits one.
    pub fn output_grads_mut(&mut self, dir: usize) -> &mut [f32] {
        match self.ws.last.filter(|_| self.ws.pending) {
            Some(c) => {
                let n = c.t * c.b * self.widest();
                grow(&mut self.ws.dy[dir], n);
                &mut self.ws.dy[dir][..c.t * c.b * self.cfg.hidden_size]
            }
            None => &mut [],
        }
    }

    /// The top layer's outputs of the last forward as the spec gives them: `out (T*B, D*H)`
    /// time-major, [forward | reverse] with the reverse half back in place, 0 at each row's
    /// padded steps. Does nothing before any forward.
    pub fn top_outputs(&self, out: &mut [f32]) {
        let Some(c) = self.ws.last else {
            return;
        };
        let (nl, dirs) = (self.cfg.num_layers, self.cfg.directions());
        let d = self.dims(nl - 1, c.t, c.b);
        let lens = c.masked.then_some(&self.ws.lengths[..]);
        gather_outputs(
            &self.ws.caches[(nl - 1) * dirs..nl * dirs],
            d,
            lens,
            out,
            false,
        );
        if let Some(l) = lens {
            let w = dirs * d.h;
            for (r, row) in out[..c.t * c.b * w].chunks_exact_mut(w).enumerate() {
                if r / c.b >= l[r % c.b] {
                    row.fill(0.0);
                }
            }
        }
    }

    /// The gradient of [`Stack::top_outputs`], `d_out (T*B, D*H)`, into the per-direction
    /// buffers of [`Stack::output_grads_mut`] (the reverse half through the reverse index),
    /// before [`Stack::backward`]. Does nothing when no forward awaits a backward.
    pub fn set_top_grads(&mut self, d_out: &[f32]) {
        let Some(c) = self.ws.last.filter(|_| self.ws.pending) else {
            return;
        };
        let dirs = self.cfg.directions();
        for dir in 0..dirs {
            self.output_grads_mut(dir);
        }
        let d = self.dims(self.cfg.num_layers - 1, c.t, c.b);
        let lens = c.masked.then_some(&self.ws.lengths[..]);
        scatter_outputs(d_out, d, dirs, lens, &mut self.ws.dy, false);
    }

    /// The widest per-direction gradient row: H and the layers' input widths.
    fn widest(&self) -> usize {
        (0..self.cfg.num_layers.min(2))
            .map(|k| self.cfg.layer_input(k))
            .fold(self.cfg.hidden_size, usize::max)
    }

    /// Backward through the last forward (`input` as it was given there) from the output
    /// gradients written into [`Stack::output_grads_mut`]: adds the weight gradients (and,
    /// for token input, the embedding table's) into `grads`, leaving dL/d(features) for
    /// feature input. With `d_state`, dL/d(final state) flows in and dL/d(initial state)
    /// comes out; without it the carry starts at zero and stops at step 1 (truncated BPTT).
    /// Uses the forward's caches up: a second backward needs a new forward.
    pub fn backward(
        &mut self,
        params: &[f32],
        grads: &mut [f32],
        input: StackInput<'_>,
        d_state: Option<&mut State>,
    ) -> Result<()> {
        let c = self.ws.last.filter(|_| self.ws.pending).ok_or_else(|| {
            CoreError::invalid(
                "backward",
                "call forward(x) first (each forward allows one backward)",
            )
        })?;
        self.check_params(params, &input)?;
        if grads.len() != params.len() {
            return Err(CoreError::invalid(
                "grads",
                format!("expected {} values, got {}", params.len(), grads.len()),
            ));
        }
        input.check(c.t, c.b, self.cfg.input_size)?;
        if let Some(s) = &d_state {
            self.cfg.check_state(s, "d_final_state", c.b)?;
        }
        self.ws.pending = false;
        self.backward_layers(c, params, grads, &input, d_state);
        Ok(())
    }

    fn backward_layers(
        &mut self,
        c: Chunk,
        params: &[f32],
        grads: &mut [f32],
        input: &StackInput<'_>,
        mut d_state: Option<&mut State>,
    ) {
        let (t, b) = (c.t, c.b);
        let (nl, dirs, h) = (
            self.cfg.num_layers,
            self.cfg.directions(),
            self.cfg.hidden_size,
        );
        let dims: Vec<Dims> = (0..nl).map(|k| self.dims(k, t, b)).collect();
        let (tb, bh, i0) = (t * b, b * h, self.cfg.input_size);
        let widest = self.widest();
        let Stack { cfg, layers, ws } = self;
        let lens = c.masked.then_some(&ws.lengths[..]);
        for buf in ws.dy[..dirs].iter_mut().chain(&mut ws.dx[..dirs]) {
            grow(buf, tb * widest);
        }
        for k in (0..nl).rev() {
            let d = dims[k];
            let n = tb * d.i;
            let own_input = if k == 0 {
                matches!(input, StackInput::Tokens { .. }) && !c.per_token
            } else {
                dirs == 2 || c.dropout
            };
            for dir in 0..dirs {
                let idx = k * dirs + dir;
                let r = &layers[idx];
                let w = Weights::at(params, r);
                let (done, rest) = ws.caches.split_at_mut(idx);
                let x = if k == 0 && c.per_token {
                    None
                } else if dir == 1 {
                    Some(&ws.rev[k][..n])
                } else if own_input {
                    Some(&ws.inputs[k][..n])
                } else if k > 0 {
                    Some(done[k - 1].outputs(dims[k - 1]))
                } else {
                    match input {
                        StackInput::Features(x) => Some(*x),
                        StackInput::Tokens { .. } => None,
                    }
                };
                let x = match x {
                    Some(x) => InputGrad::Dense {
                        x,
                        dx: Some(&mut ws.dx[dir][..n]),
                    },
                    None => InputGrad::Projected,
                };
                let s = d_state.as_deref_mut().map(|s| StateGrads {
                    dh: &mut s.h[idx * bh..(idx + 1) * bh],
                    dc: match s.c.as_mut() {
                        Some(c) => &mut c[idx * bh..(idx + 1) * bh],
                        None => &mut [],
                    },
                });
                recurrent::backward(
                    cfg.cell,
                    d,
                    w,
                    x,
                    &ws.dy[dir][..tb * h],
                    lens,
                    &mut rest[0],
                    Grads::at(grads, r),
                    s,
                );
            }
            // dL/d(layer input): the forward direction's plus the reverse one's, re-reversed
            // (projected tokens take theirs per token below).
            let [dx_fwd, dx_rev] = &mut ws.dx;
            if dirs == 2 && !(k == 0 && c.per_token) {
                let w = d.i;
                for (r, out) in dx_fwd[..n].chunks_exact_mut(w).enumerate() {
                    let (tt, bb) = (r / b, r % b);
                    let s = (reverse_step(lens, t, tt, bb) * b + bb) * w;
                    for (o, &v) in out.iter_mut().zip(&dx_rev[s..s + w]) {
                        *o += v;
                    }
                }
            }
            if k == 0 {
                break;
            }
            if c.dropout {
                dropout::apply_in_place(&mut dx_fwd[..n], &ws.masks[k][..n]);
            }
            if dirs == 1 {
                std::mem::swap(&mut ws.dy[0], &mut ws.dx[0]);
            } else {
                scatter_outputs(&dx_fwd[..n], dims[k - 1], dirs, lens, &mut ws.dy, false);
            }
        }
        if let StackInput::Tokens { ids, table, .. } = input {
            if c.per_token {
                // Layer 0's weight gradients and the table's, per distinct token, for each
                // direction (the reverse one's rows are the reversed chunk's).
                for (dir, (layer, cache)) in layers.iter().zip(&ws.caches).take(dirs).enumerate() {
                    let w_ih = layer[0].clone();
                    let (dtable, dw_ih) = split_two(grads, table.clone(), w_ih.clone());
                    ws.tokens.backward(
                        cache.gate_grads(cfg.cell, dims[0]),
                        i0,
                        &params[w_ih],
                        dw_ih,
                        dtable,
                        dir == 1,
                    );
                }
            } else {
                embedding::backward(&mut grads[table.clone()], i0, ids, &ws.dx[0][..tb * i0]);
            }
        }
    }

    /// dL/d(features) (T*B, I) of the last backward of a feature input (0 at padded steps).
    pub fn input_grads(&self, t: usize, b: usize) -> &[f32] {
        &self.ws.dx[0][..t * b * self.cfg.input_size]
    }
}

/// The encoder on its own (`rnnrs.RNN / LSTM / GRU` on the Rust core): a [`Stack`] with its
/// parameters and gradients, its dropout generator, and batch-first input and output.
pub struct RecurrentStack {
    stack: Stack,
    params: Params,
    rng: Rng,
    /// The last forward's input, time-major (T*B, I).
    x: Vec<f32>,
}

impl RecurrentStack {
    /// The stack with all weights zero (set them with [`Params::set`]: initial weights are
    /// drawn by the Python layer, or loaded); `seed` seeds the dropout generator. Parameter
    /// names are torch's, without a prefix.
    pub fn new(cfg: StackConfig, seed: u64) -> Result<Self> {
        let mut layout = Layout::default();
        let stack = Stack::new(cfg, &mut layout, "")?;
        Ok(RecurrentStack {
            stack,
            params: Params::zeros(layout),
            rng: Rng::new(seed),
            x: Vec::new(),
        })
    }

    pub fn config(&self) -> &StackConfig {
        self.stack.config()
    }

    /// The weights and the gradients of the last [`RecurrentStack::backward`].
    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }

    /// (batch, time) of the forward the next backward would go through, if any.
    pub fn last_forward(&self) -> Option<(usize, usize)> {
        self.stack.last_forward()
    }

    /// Forward over `x (B, T, I)` from `state` (zeros when None); `train` applies dropout
    /// between layers. Returns the top layer's outputs (B, T, D*H) and the final state
    /// (L*D, B, H). Keeps what [`RecurrentStack::backward`] needs.
    pub fn forward(
        &mut self,
        x: &[f32],
        batch: usize,
        time: usize,
        state: Option<&State>,
        train: bool,
    ) -> Result<(Vec<f32>, State)> {
        let i = self.config().input_size;
        if batch == 0 || time == 0 || x.len() != batch * time * i {
            return Err(CoreError::invalid(
                "x",
                format!(
                    "expected {batch} x {time} x {i} values with batch, time >= 1, got {}",
                    x.len()
                ),
            ));
        }
        let RecurrentStack {
            stack,
            params,
            rng,
            x: xt,
        } = self;
        grow(xt, x.len());
        transpose_bt(x, batch, time, i, xt, false);
        let features = StackInput::Features(&xt[..x.len()]);
        let rng = train.then_some(rng);
        let fin = threads::install(|| {
            stack.forward(params.values(), features, time, batch, None, state, rng)
        })??;
        let (nl, dirs) = (stack.cfg.num_layers, stack.cfg.directions());
        let top = stack.dims(nl - 1, time, batch);
        let mut out = vec![0.0f32; batch * time * dirs * top.h];
        let top_caches = &stack.ws.caches[(nl - 1) * dirs..nl * dirs];
        gather_outputs(top_caches, top, None, &mut out, true);
        Ok((out, fin))
    }

    /// Backward through the last [`RecurrentStack::forward`]: `d_out (B, T, D*H)` the
    /// gradient of the outputs, `d_final` that of the final state (None: zero). Replaces the
    /// weight gradients and returns dL/dx and dL/d(initial state). Uses the forward's caches
    /// up: a second backward needs a new forward.
    pub fn backward(&mut self, d_out: &[f32], d_final: Option<&State>) -> Result<InputGrads> {
        let (b, t) = self.last_forward().ok_or_else(|| {
            CoreError::invalid(
                "backward",
                "call forward(x) first (each forward allows one backward)",
            )
        })?;
        let cfg = self.config();
        let (dirs, h, i) = (cfg.directions(), cfg.hidden_size, cfg.input_size);
        if d_out.len() != b * t * dirs * h {
            return Err(CoreError::invalid(
                "d_outputs",
                format!(
                    "expected shape ({b}, {t}, {}), got {} values",
                    dirs * h,
                    d_out.len()
                ),
            ));
        }
        let mut d_state0 = match d_final {
            Some(s) => {
                cfg.check_state(s, "d_final_state", b)?;
                s.clone()
            }
            None => cfg.zero_state(b),
        };
        let RecurrentStack {
            stack,
            params,
            x: xt,
            ..
        } = self;
        let widest = stack.widest();
        for buf in &mut stack.ws.dy[..dirs] {
            grow(buf, t * b * widest);
        }
        let top = stack.dims(stack.cfg.num_layers - 1, t, b);
        scatter_outputs(d_out, top, dirs, None, &mut stack.ws.dy, true);
        threads::install(|| {
            params.zero_grads();
            let (values, grads) = params.values_and_grads();
            let features = StackInput::Features(&xt[..t * b * i]);
            stack.backward(values, grads, features, Some(&mut d_state0))
        })??;
        let mut dx = vec![0.0f32; t * b * i];
        transpose_bt(stack.input_grads(t, b), b, t, i, &mut dx, true);
        Ok(InputGrads { dx, d_state0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::fill_uniform;

    fn small(cell: CellKind, bidirectional: bool) -> RecurrentStack {
        let mut cfg = StackConfig::new(cell, 3, 4, 2);
        cfg.bidirectional = bidirectional;
        let mut s = RecurrentStack::new(cfg, 5).expect("valid config");
        fill_uniform(s.params_mut().values_mut(), 5, 0.5);
        s
    }

    fn input(b: usize, t: usize, i: usize) -> Vec<f32> {
        (0..b * t * i)
            .map(|k| ((k * 7 % 11) as f32 - 5.0) / 6.0)
            .collect()
    }

    /// A bidirectional layer's reverse half on x equals its forward half on x reversed in
    /// time, when both directions share weights.
    #[test]
    fn reverse_direction_reads_the_sequence_backwards() {
        let mut cfg = StackConfig::new(CellKind::Lstm, 3, 4, 1);
        cfg.bidirectional = true;
        let mut s = RecurrentStack::new(cfg, 0).expect("valid");
        fill_uniform(s.params_mut().values_mut(), 2, 0.5);
        for name in ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"] {
            let v = s.params().get(name).map(<[f32]>::to_vec);
            s.params_mut()
                .set(&format!("{name}_reverse"), &v.unwrap_or_default())
                .expect("same shape");
        }
        let (b, t) = (2, 5);
        let x = input(b, t, 3);
        let mut xr = x.clone();
        for bb in 0..b {
            for tt in 0..t {
                let (o, src) = ((bb * t + tt) * 3, (bb * t + t - 1 - tt) * 3);
                xr[o..o + 3].copy_from_slice(&x[src..src + 3]);
            }
        }
        let (out, _) = s.forward(&x, b, t, None, false).expect("valid");
        let (out_r, _) = s.forward(&xr, b, t, None, false).expect("valid");
        for bb in 0..b {
            for tt in 0..t {
                let fwd_on_reversed = &out_r[(bb * t + t - 1 - tt) * 8..][..4];
                let rev_on_x = &out[(bb * t + tt) * 8 + 4..][..4];
                assert!(fwd_on_reversed.iter().any(|&v| v != 0.0));
                assert_eq!(fwd_on_reversed, rev_on_x);
            }
        }
    }

    /// Token input (embedding rows, per-token projection or not, one direction or two, with
    /// lengths or not) gives the outputs, final state and weight gradients of the same rows
    /// given as features, and the table's gradient is the feature gradient scattered back to
    /// the ids.
    #[test]
    fn token_input_matches_its_embedded_features() {
        let (v, e, h, t, b) = (24usize, 3usize, 4usize, 5usize, 4usize);
        // A few distinct ids (the per-token path) and all of them (the dense path).
        let few: Vec<u32> = (0..t * b).map(|k| (k % 3) as u32).collect();
        let all: Vec<u32> = (0..t * b).map(|k| (k * 5 % v) as u32).collect();
        for cell in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
            for (bidirectional, lengths) in [
                (false, None),
                (true, None),
                (true, Some(&[5usize, 2, 4, 1][..])),
            ] {
                for ids in [&few, &all] {
                    let mut cfg = StackConfig::new(cell, e, h, 2);
                    cfg.bidirectional = bidirectional;
                    let dirs = cfg.directions();
                    let mut layout = Layout::default();
                    let table = layout.push("embedding.weight", &[v, e]);
                    let mut stack = Stack::new(cfg.clone(), &mut layout, "rnn.").expect("valid");
                    let mut params = Params::zeros(layout);
                    fill_uniform(params.values_mut(), 9, 0.5);

                    let mut x = vec![0.0f32; t * b * e];
                    embedding::forward(&params.values()[table.clone()], e, ids, &mut x);
                    let mut layout = Layout::default();
                    let mut plain = Stack::new(cfg, &mut layout, "").expect("valid");
                    let mut plain_params = Params::zeros(layout);
                    plain_params
                        .values_mut()
                        .copy_from_slice(&params.values()[table.end..]);

                    let tokens = || StackInput::Tokens {
                        ids,
                        table: table.clone(),
                        version: None,
                    };
                    let fin = stack
                        .forward(params.values(), tokens(), t, b, lengths, None, None)
                        .expect("valid");
                    let fin_plain = plain
                        .forward(
                            plain_params.values(),
                            StackInput::Features(&x),
                            t,
                            b,
                            lengths,
                            None,
                            None,
                        )
                        .expect("valid");
                    let per_token = ids == &few;
                    assert_eq!(stack.ws.last.map(|c| c.per_token), Some(per_token));
                    let close = |a: &[f32], b: &[f32], what: &str| {
                        assert_eq!(a.len(), b.len(), "{what}");
                        for (p, q) in a.iter().zip(b) {
                            assert!((p - q).abs() < 1e-5, "{cell:?} {what}: {p} vs {q}");
                        }
                    };
                    close(&fin.h, &fin_plain.h, "final state");
                    for dir in 0..dirs {
                        close(stack.outputs(dir), plain.outputs(dir), "outputs");
                        let g: Vec<f32> = (0..t * b * h).map(|k| (k % 7) as f32 - 3.0).collect();
                        stack.output_grads_mut(dir).copy_from_slice(&g);
                        plain.output_grads_mut(dir).copy_from_slice(&g);
                    }
                    let (values, grads) = params.values_and_grads();
                    stack
                        .backward(values, grads, tokens(), None)
                        .expect("after forward");
                    let (values, grads) = plain_params.values_and_grads();
                    plain
                        .backward(values, grads, StackInput::Features(&x), None)
                        .expect("after forward");
                    close(
                        &params.grads()[table.end..],
                        plain_params.grads(),
                        "weights",
                    );
                    let mut dtable = vec![0.0f32; v * e];
                    embedding::backward(&mut dtable, e, ids, plain.input_grads(t, b));
                    close(&params.grads()[table], &dtable, "table");
                }
            }
        }
    }

    /// Lengths all T give the unmasked numbers bit for bit; a row alone (T = its length)
    /// gives the outputs, final state and input gradient it gets in a padded batch to within
    /// 1e-6 of the largest value (the hoisted GEMMs tile their T*B rows by batch size, so a
    /// row's sums may round differently).
    #[test]
    fn padding_never_changes_a_result() {
        let (i, h, t) = (3usize, 4usize, 5usize);
        let lengths = [3usize, 5, 1, 4, 2];
        let b = lengths.len();
        for cell in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
            for bidirectional in [false, true] {
                let mut cfg = StackConfig::new(cell, i, h, 2);
                cfg.bidirectional = bidirectional;
                let w = cfg.directions() * h;
                let mut layout = Layout::default();
                let mut stack = Stack::new(cfg, &mut layout, "").expect("valid");
                let mut params = Params::zeros(layout);
                fill_uniform(params.values_mut(), 3, 0.5);
                let x: Vec<f32> = input(t, b, i);
                let dy: Vec<f32> = (0..t * b * w)
                    .map(|k| ((k * 5 % 13) as f32 - 6.0) / 7.0)
                    .collect();
                // One run: outputs, final state, dx, weight gradients.
                let mut run =
                    |x: &[f32], t: usize, b: usize, lens: Option<&[usize]>, dy: &[f32]| {
                        let fin = stack
                            .forward(
                                params.values(),
                                StackInput::Features(x),
                                t,
                                b,
                                lens,
                                None,
                                None,
                            )
                            .expect("valid");
                        let mut out = vec![0.0f32; t * b * w];
                        stack.top_outputs(&mut out);
                        stack.set_top_grads(dy);
                        params.zero_grads();
                        let (values, grads) = params.values_and_grads();
                        stack
                            .backward(values, grads, StackInput::Features(x), None)
                            .expect("after forward");
                        let dx = stack.input_grads(t, b).to_vec();
                        (out, fin, dx, params.grads().to_vec())
                    };
                let plain = run(&x, t, b, None, &dy);
                let full = run(&x, t, b, Some(&[t; 5]), &dy);
                assert_eq!(plain, full, "{cell:?} lengths all T");
                let (out, fin, dx, _) = run(&x, t, b, Some(&lengths), &dy);
                for (bb, &n) in lengths.iter().enumerate() {
                    let pick = |a: &[f32], width: usize, steps: usize, rows: usize, row: usize| {
                        (0..steps)
                            .flat_map(|tt| a[(tt * rows + row) * width..][..width].to_vec())
                            .collect::<Vec<f32>>()
                    };
                    let x1 = pick(&x, i, n, b, bb);
                    let dy1 = pick(&dy, w, n, b, bb);
                    let (out1, fin1, dx1, _) = run(&x1, n, 1, Some(&[n]), &dy1);
                    let ulps = |a: &[f32], b: &[f32], what: &str| {
                        assert_eq!(a.len(), b.len());
                        let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                        for (p, q) in a.iter().zip(b) {
                            let tol = 1e-6 * scale;
                            assert!(
                                (p - q).abs() <= tol,
                                "{cell:?} {what} of row {bb}: {p} vs {q}"
                            );
                        }
                    };
                    ulps(&pick(&out, w, n, b, bb), &out1, "outputs");
                    ulps(&pick(&dx, i, n, b, bb), &dx1, "dx");
                    let ld = fin.h.len() / (b * h);
                    ulps(&pick(&fin.h, h, ld, b, bb), &fin1.h, "final state");
                }
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut s = small(CellKind::Gru, false);
        assert!(s.backward(&[0.0; 8], None).is_err());
        assert!(s.forward(&[0.0; 5], 1, 2, None, false).is_err());
        assert!(s.forward(&[], 0, 2, None, false).is_err());
        let bad = StackConfig::new(CellKind::Lstm, 3, 4, 2).zero_state(1);
        assert!(s.forward(&[0.0; 6], 1, 2, Some(&bad), false).is_err());
        let (out, _) = s.forward(&[0.0; 6], 1, 2, None, false).expect("valid");
        assert!(s.backward(&out[1..], None).is_err());
        let mut cfg = StackConfig::new(CellKind::Gru, 3, 4, 2);
        cfg.dropout = 1.0;
        assert!(RecurrentStack::new(cfg, 0).is_err());
        let huge = StackConfig::new(CellKind::Lstm, 3, usize::MAX / 2, 2);
        assert!(RecurrentStack::new(huge, 0).is_err());
        let ok = StackConfig::new(CellKind::Lstm, 3, 4, 2);
        assert_eq!(
            ok.param_count(),
            Some(RecurrentStack::new(ok, 0).expect("valid").params().len())
        );
        let mut layout = Layout::default();
        let table = layout.push("table", &[4, 3]);
        let mut stack =
            Stack::new(StackConfig::new(CellKind::Gru, 3, 4, 1), &mut layout, "").expect("valid");
        let params = Params::zeros(layout);
        let ids = [1u32, 4];
        let tokens = StackInput::Tokens {
            ids: &ids,
            table,
            version: None,
        };
        assert!(stack
            .forward(params.values(), tokens, 2, 1, None, None, None)
            .is_err());
        let x = [0.0f32; 6];
        for lens in [&[0usize][..], &[3], &[1, 1]] {
            let r = stack.forward(
                params.values(),
                StackInput::Features(&x),
                2,
                1,
                Some(lens),
                None,
                None,
            );
            assert!(r.is_err(), "lengths {lens:?}");
        }
    }
}
