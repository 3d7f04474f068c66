//! Stacked, optionally bidirectional recurrent layers over float32 input: the encoder layers
//! `rnnrs.RNN / LSTM / GRU` (torch.nn.RNN / LSTM / GRU with `batch_first=True`).
//!
//! Every layer and direction is one [`recurrent::forward`] / [`recurrent::backward`] call.
//! The reverse direction runs on the time-reversed sequence; layer k > 0 reads the
//! concatenation [forward | reverse] of layer k-1's outputs, with inverted dropout in
//! training (the stack's own [`Rng`]). Input and output are batch-first, (B, T, ·), as in the
//! Python API; inside, buffers are time-major as recurrent.rs wants them. States are
//! (L*D, B, H) with index `layer * D + direction` (D = 2 when bidirectional).
//!
//! ```
//! use rnnrs::nn::{CellKind, Stack, StackConfig};
//! let mut cfg = StackConfig::new(CellKind::Gru, 3, 4, 2);
//! cfg.bidirectional = true;
//! let mut stack = Stack::new(cfg).unwrap();
//! let x = vec![0.5f32; 2 * 5 * 3]; // (B=2, T=5, I=3)
//! let (out, state) = stack.forward(&x, 2, 5, None, false).unwrap();
//! assert_eq!(out.len(), 2 * 5 * 8); // (B, T, D*H)
//! assert_eq!(state.h.len(), 4 * 2 * 4); // (L*D, B, H)
//! let g = stack.backward(&vec![1.0; out.len()], None).unwrap();
//! assert_eq!(g.dx.len(), x.len());
//! assert!(stack.grad("weight_hh_l1_reverse").unwrap().iter().any(|&v| v != 0.0));
//! assert!(stack.backward(&vec![1.0; out.len()], None).is_err()); // one backward per forward
//! ```

use std::ops::Range;

use super::cell::CellKind;
use super::dropout::{self, Rng};
use super::grow;
use super::params::Layout;
use super::recurrent::{self, Cache, Dims, Grads, Input, InputGrad, StateGrads, Weights};
use crate::error::{CoreError, Result};
use crate::lm::State;
use crate::runtime::threads;

/// What to build. Defaults (via [`StackConfig::new`]): one direction, no dropout, seed 0.
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
    /// Seeds the initial weights and the dropout generator.
    pub seed: u64,
}

impl StackConfig {
    /// One direction, no dropout, seed 0.
    pub fn new(cell: CellKind, input_size: usize, hidden_size: usize, num_layers: usize) -> Self {
        StackConfig {
            cell,
            input_size,
            hidden_size,
            num_layers,
            bidirectional: false,
            dropout: 0.0,
            seed: 0,
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
        for (name, v) in [
            ("input_size", self.input_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
        ] {
            if v == 0 {
                return Err(CoreError::invalid(name, "expected an integer > 0, got 0"));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(CoreError::invalid(
                "dropout",
                format!("expected a float in [0, 1), got {}", self.dropout),
            ));
        }
        if self
            .param_count()
            .is_none_or(|n| n > isize::MAX as usize / 4)
        {
            return Err(CoreError::invalid(
                "hidden_size",
                "the parameters would not fit in memory",
            ));
        }
        Ok(())
    }

    /// Number of scalars in all weights and biases (None on overflow).
    fn param_count(&self) -> Option<usize> {
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

    fn check_state(&self, s: &State, name: &str, batch: usize) -> Result<()> {
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

/// What [`Stack::backward`] returns besides the weight gradients (kept in the stack).
#[derive(Clone, Debug, PartialEq)]
pub struct InputGrads {
    /// dL/dx (B, T, I), batch-first like the input.
    pub dx: Vec<f32>,
    /// dL/d(initial state), (L*D, B, H).
    pub d_state0: State,
}

/// The last forward, whose caches the next backward uses up.
#[derive(Clone, Copy)]
struct Pending {
    t: usize,
    b: usize,
    dropout: bool,
}

/// Buffers reused from call to call (grown, never shrunk).
#[derive(Default)]
struct Workspace {
    pending: Option<Pending>,
    /// inputs[k]: layer k's input (T*B, I_k), time-major, after dropout; rev[k] the same
    /// time-reversed (bidirectional only).
    inputs: Vec<Vec<f32>>,
    rev: Vec<Vec<f32>>,
    /// masks[k]: the dropout mask on layer k's input (k >= 1).
    masks: Vec<Vec<f32>>,
    /// One per layer and direction, index k*D + d.
    caches: Vec<Cache>,
    /// Per direction: the gradient of its outputs (T*B, H), and of its input (T*B, I_k).
    dy: [Vec<f32>; 2],
    dx: [Vec<f32>; 2],
    zeros: Vec<f32>,
}

/// `dst` block t = `src` block T-1-t, blocks of `block` values.
fn reverse_time(src: &[f32], t: usize, block: usize, dst: &mut [f32]) {
    for (tt, out) in dst[..t * block].chunks_exact_mut(block).enumerate() {
        let s = (t - 1 - tt) * block;
        out.copy_from_slice(&src[s..s + block]);
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
/// reverse direction's outputs are in reversed time.
fn gather_outputs(caches: &[Cache], d: Dims, out: &mut [f32], batch_first: bool) {
    let (h, dirs) = (d.h, caches.len());
    for (dir, cache) in caches.iter().enumerate() {
        let src = cache.outputs(d);
        for tt in 0..d.t {
            let st = if dir == 0 { tt } else { d.t - 1 - tt };
            for bb in 0..d.b {
                let s = (st * d.b + bb) * h;
                let o = (row(batch_first, tt, bb, d) * dirs + dir) * h;
                out[o..o + h].copy_from_slice(&src[s..s + h]);
            }
        }
    }
}

/// The inverse of [`gather_outputs`]: split (·, D*H) rows into per-direction (T*B, H)
/// time-major blocks, the reverse direction's in reversed time.
fn scatter_outputs(src: &[f32], d: Dims, dirs: usize, dst: &mut [Vec<f32>; 2], batch_first: bool) {
    let h = d.h;
    for (dir, out) in dst.iter_mut().take(dirs).enumerate() {
        for tt in 0..d.t {
            let ot = if dir == 0 { tt } else { d.t - 1 - tt };
            for bb in 0..d.b {
                let s = (row(batch_first, tt, bb, d) * dirs + dir) * h;
                let o = (ot * d.b + bb) * h;
                out[o..o + h].copy_from_slice(&src[s..s + h]);
            }
        }
    }
}

/// Stacked recurrent layers with their parameters, gradients, dropout generator and the
/// caches of the last forward. See the module docs for an example.
pub struct Stack {
    cfg: StackConfig,
    layout: Layout,
    /// Tensor ranges [w_ih, w_hh, b_ih, b_hh] per layer and direction, index k*D + d.
    layers: Vec<[Range<usize>; 4]>,
    params: Vec<f32>,
    grads: Vec<f32>,
    rng: Rng,
    ws: Workspace,
}

impl Stack {
    /// Build the layers with PyTorch's initialisation, U(-1/sqrt(H), 1/sqrt(H)), drawn from
    /// `cfg.seed`. Parameter names and order as torch: `weight_ih_l{k}`, `weight_hh_l{k}`,
    /// `bias_ih_l{k}`, `bias_hh_l{k}`, then the same with `_reverse`, layer by layer.
    pub fn new(cfg: StackConfig) -> Result<Self> {
        cfg.validate()?;
        let (h, dirs) = (cfg.hidden_size, cfg.directions());
        let g = cfg.cell.gates() * h;
        let mut layout = Layout::default();
        let mut layers = Vec::with_capacity(cfg.num_layers * dirs);
        for k in 0..cfg.num_layers {
            let i = cfg.layer_input(k);
            for d in 0..dirs {
                let sfx = if d == 1 { "_reverse" } else { "" };
                layers.push([
                    layout.push(format!("weight_ih_l{k}{sfx}"), &[g, i]),
                    layout.push(format!("weight_hh_l{k}{sfx}"), &[g, h]),
                    layout.push(format!("bias_ih_l{k}{sfx}"), &[g]),
                    layout.push(format!("bias_hh_l{k}{sfx}"), &[g]),
                ]);
            }
        }
        let mut init = Rng::new(cfg.seed);
        let bound = 1.0 / (h as f32).sqrt();
        let params = (0..layout.total())
            .map(|_| (2.0 * init.next_f32() - 1.0) * bound)
            .collect();
        Ok(Stack {
            grads: vec![0.0; layout.total()],
            rng: Rng::new(cfg.seed),
            cfg,
            layout,
            layers,
            params,
            ws: Workspace::default(),
        })
    }

    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    /// Names, shapes and offsets of the tensors in the flat buffers.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// All parameters, flat (see [`Stack::layout`]).
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// The gradients of the last [`Stack::backward`], flat, same layout.
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// Parameters and gradients together (for the optimizer).
    pub fn params_and_grads(&mut self) -> (&mut [f32], &[f32]) {
        (&mut self.params, &self.grads)
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

    /// (batch, time) of the forward the next [`Stack::backward`] would go through, if any.
    pub fn last_forward(&self) -> Option<(usize, usize)> {
        self.ws.pending.map(|p| (p.b, p.t))
    }

    fn dims(&self, k: usize, t: usize, b: usize) -> Dims {
        Dims {
            t,
            b,
            i: self.cfg.layer_input(k),
            h: self.cfg.hidden_size,
        }
    }

    /// Forward over `x (B, T, I)` from `state` (zeros when None); `train` applies dropout
    /// between layers. Returns the top layer's outputs (B, T, D*H) and the final state
    /// (L*D, B, H). Keeps what [`Stack::backward`] needs.
    pub fn forward(
        &mut self,
        x: &[f32],
        batch: usize,
        time: usize,
        state: Option<&State>,
        train: bool,
    ) -> Result<(Vec<f32>, State)> {
        let i = self.cfg.input_size;
        if batch == 0 || time == 0 || x.len() != batch * time * i {
            return Err(CoreError::invalid(
                "x",
                format!(
                    "expected {batch} x {time} x {i} values with batch, time >= 1, got {}",
                    x.len()
                ),
            ));
        }
        if let Some(s) = state {
            self.cfg.check_state(s, "state", batch)?;
        }
        self.ws.pending = None;
        let dropout = train && self.cfg.dropout > 0.0;
        threads::install(|| self.forward_layers(x, time, batch, state, dropout))?;
        self.ws.pending = Some(Pending {
            t: time,
            b: batch,
            dropout,
        });
        let (nl, dirs) = (self.cfg.num_layers, self.cfg.directions());
        let top = self.dims(nl - 1, time, batch);
        let mut out = vec![0.0f32; batch * time * dirs * top.h];
        let top_caches = &self.ws.caches[(nl - 1) * dirs..nl * dirs];
        gather_outputs(top_caches, top, &mut out, true);
        let mut fin = self.cfg.zero_state(batch);
        for (idx, cache) in self.ws.caches[..nl * dirs].iter().enumerate() {
            let d = self.dims(idx / dirs, time, batch);
            let bh = batch * d.h;
            fin.h[idx * bh..(idx + 1) * bh].copy_from_slice(cache.final_h(d));
            if let Some(c) = fin.c.as_mut() {
                c[idx * bh..(idx + 1) * bh].copy_from_slice(cache.final_c(d));
            }
        }
        Ok((out, fin))
    }

    fn forward_layers(
        &mut self,
        x: &[f32],
        t: usize,
        b: usize,
        state: Option<&State>,
        dropout: bool,
    ) {
        let (nl, dirs, h) = (
            self.cfg.num_layers,
            self.cfg.directions(),
            self.cfg.hidden_size,
        );
        let dims: Vec<Dims> = (0..nl).map(|k| self.dims(k, t, b)).collect();
        let (tb, bh) = (t * b, b * h);
        let Stack {
            cfg,
            layers,
            params,
            rng,
            ws,
            ..
        } = self;
        ws.inputs.resize_with(nl, Vec::new);
        ws.rev.resize_with(nl, Vec::new);
        ws.masks.resize_with(nl, Vec::new);
        if ws.caches.len() < nl * dirs {
            ws.caches.resize_with(nl * dirs, Cache::default);
        }
        grow(&mut ws.zeros, bh);
        for k in 0..nl {
            let d = dims[k];
            let n = tb * d.i;
            grow(&mut ws.inputs[k], n);
            let input = &mut ws.inputs[k][..n];
            if k == 0 {
                // (B, T, I) -> (T, B, I)
                for tt in 0..t {
                    for bb in 0..b {
                        let (s, o) = ((bb * t + tt) * d.i, (tt * b + bb) * d.i);
                        input[o..o + d.i].copy_from_slice(&x[s..s + d.i]);
                    }
                }
            } else {
                let below = &ws.caches[(k - 1) * dirs..k * dirs];
                gather_outputs(below, dims[k - 1], input, false);
                if dropout {
                    grow(&mut ws.masks[k], n);
                    let mask = &mut ws.masks[k][..n];
                    dropout::fill_mask(rng, cfg.dropout, mask);
                    dropout::apply_in_place(input, mask);
                }
            }
            if dirs == 2 {
                grow(&mut ws.rev[k], n);
                reverse_time(&ws.inputs[k], t, b * d.i, &mut ws.rev[k]);
            }
            for dir in 0..dirs {
                let idx = k * dirs + dir;
                let r = &layers[idx];
                let w = Weights::at(params, r);
                let zeros = &ws.zeros[..bh];
                let (h0, c0) = match state {
                    Some(s) => (
                        &s.h[idx * bh..(idx + 1) * bh],
                        s.c.as_ref().map_or(zeros, |c| &c[idx * bh..(idx + 1) * bh]),
                    ),
                    None => (zeros, zeros),
                };
                let input = if dir == 0 { &ws.inputs[k] } else { &ws.rev[k] };
                recurrent::forward(
                    cfg.cell,
                    d,
                    w,
                    Input::Dense(&input[..n]),
                    h0,
                    c0,
                    &mut ws.caches[idx],
                );
            }
        }
    }

    /// Backward through the last [`Stack::forward`]: `d_out (B, T, D*H)` the gradient of the
    /// outputs, `d_final` that of the final state (None: zero). Replaces the weight
    /// gradients ([`Stack::grads`]) and returns dL/dx and dL/d(initial state). Uses the
    /// forward's caches up: a second backward needs a new forward.
    pub fn backward(&mut self, d_out: &[f32], d_final: Option<&State>) -> Result<InputGrads> {
        let p = self.ws.pending.ok_or_else(|| {
            CoreError::invalid(
                "backward",
                "call forward(x) first (each forward allows one backward)",
            )
        })?;
        let (dirs, h) = (self.cfg.directions(), self.cfg.hidden_size);
        let want = p.b * p.t * dirs * h;
        if d_out.len() != want {
            return Err(CoreError::invalid(
                "d_outputs",
                format!(
                    "expected shape ({}, {}, {}), got {} values",
                    p.b,
                    p.t,
                    dirs * h,
                    d_out.len()
                ),
            ));
        }
        if let Some(s) = d_final {
            self.cfg.check_state(s, "d_final_state", p.b)?;
        }
        self.ws.pending = None;
        let mut d_state0 = match d_final {
            Some(s) => s.clone(),
            None => self.cfg.zero_state(p.b),
        };
        let dx = threads::install(|| self.backward_layers(p, d_out, &mut d_state0))?;
        Ok(InputGrads { dx, d_state0 })
    }

    /// `state`: dL/d(final state) in, dL/d(initial state) out.
    fn backward_layers(&mut self, p: Pending, d_out: &[f32], state: &mut State) -> Vec<f32> {
        let (t, b) = (p.t, p.b);
        let (nl, dirs, h) = (
            self.cfg.num_layers,
            self.cfg.directions(),
            self.cfg.hidden_size,
        );
        let dims: Vec<Dims> = (0..nl).map(|k| self.dims(k, t, b)).collect();
        let (tb, bh) = (t * b, b * h);
        let Stack {
            cfg,
            layers,
            params,
            grads,
            ws,
            ..
        } = self;
        grads.fill(0.0);
        let widest = dims.iter().map(|d| d.i).max().unwrap_or(0).max(h);
        for buf in ws.dy.iter_mut().chain(ws.dx.iter_mut()) {
            grow(buf, tb * widest);
        }
        scatter_outputs(d_out, dims[nl - 1], dirs, &mut ws.dy, true);
        for k in (0..nl).rev() {
            let d = dims[k];
            let n = tb * d.i;
            for dir in 0..dirs {
                let idx = k * dirs + dir;
                let r = &layers[idx];
                let w = Weights::at(params, r);
                let input = if dir == 0 { &ws.inputs[k] } else { &ws.rev[k] };
                let s = StateGrads {
                    dh: &mut state.h[idx * bh..(idx + 1) * bh],
                    dc: match state.c.as_mut() {
                        Some(c) => &mut c[idx * bh..(idx + 1) * bh],
                        None => &mut [],
                    },
                };
                recurrent::backward(
                    cfg.cell,
                    d,
                    w,
                    InputGrad::Dense {
                        x: &input[..n],
                        dx: Some(&mut ws.dx[dir][..n]),
                    },
                    &ws.dy[dir][..tb * h],
                    &mut ws.caches[idx],
                    Grads::at(grads, r),
                    Some(s),
                );
            }
            // dL/d(layer input): the forward direction's plus the reverse one's, re-reversed.
            let [dx_fwd, dx_rev] = &mut ws.dx;
            if dirs == 2 {
                let block = b * d.i;
                for (tt, out) in dx_fwd[..n].chunks_exact_mut(block).enumerate() {
                    let s = (t - 1 - tt) * block;
                    for (o, &v) in out.iter_mut().zip(&dx_rev[s..s + block]) {
                        *o += v;
                    }
                }
            }
            if k == 0 {
                break;
            }
            if p.dropout {
                dropout::apply_in_place(&mut dx_fwd[..n], &ws.masks[k][..n]);
            }
            scatter_outputs(&dx_fwd[..n], dims[k - 1], dirs, &mut ws.dy, false);
        }
        // (T, B, I) -> (B, T, I)
        let i = cfg.input_size;
        let mut dx = vec![0.0f32; tb * i];
        for tt in 0..t {
            for bb in 0..b {
                let (s, o) = ((tt * b + bb) * i, (bb * t + tt) * i);
                dx[o..o + i].copy_from_slice(&ws.dx[0][s..s + i]);
            }
        }
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(cell: CellKind, bidirectional: bool) -> Stack {
        let mut cfg = StackConfig::new(cell, 3, 4, 2);
        cfg.bidirectional = bidirectional;
        cfg.seed = 5;
        Stack::new(cfg).expect("valid config")
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
        let mut s = Stack::new(cfg).expect("valid");
        for name in ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"] {
            let v = s.layout().get(name).map(|e| s.params()[e.range()].to_vec());
            s.set_param(&format!("{name}_reverse"), &v.unwrap_or_default())
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
                assert_eq!(fwd_on_reversed, rev_on_x);
            }
        }
    }

    /// d/d(state0) of sum(w * outputs) by central differences, through layer 1's input.
    #[test]
    fn initial_state_gradient_matches_finite_differences() {
        for cell in [CellKind::RnnTanh, CellKind::Lstm, CellKind::Gru] {
            let mut s = small(cell, true);
            let (b, t) = (2, 3);
            let x = input(b, t, 3);
            let mut st = s.config().zero_state(b);
            for (k, v) in st.h.iter_mut().enumerate() {
                *v = (k % 5) as f32 * 0.1 - 0.2;
            }
            let w: Vec<f32> = (0..b * t * 8).map(|k| (k % 3) as f32 - 1.0).collect();
            let (_, _) = s.forward(&x, b, t, Some(&st), false).expect("valid");
            let g = s.backward(&w, None).expect("after forward");
            let mut loss = |st: &State| -> f64 {
                let (out, _) = s.forward(&x, b, t, Some(st), false).expect("valid");
                out.iter().zip(&w).map(|(&o, &v)| (o * v) as f64).sum()
            };
            for idx in [0, 7, 21, 31] {
                let eps = 1e-2;
                let (mut up, mut down) = (st.clone(), st.clone());
                up.h[idx] += eps;
                down.h[idx] -= eps;
                let fd = (loss(&up) - loss(&down)) / (2.0 * eps as f64);
                let an = g.d_state0.h[idx] as f64;
                assert!((fd - an).abs() < 2e-3, "{cell:?} h[{idx}]: {fd} vs {an}");
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
        assert!(Stack::new(cfg).is_err());
        assert!(Stack::new(StackConfig::new(CellKind::Lstm, 3, usize::MAX / 2, 2)).is_err());
        let ok = StackConfig::new(CellKind::Lstm, 3, 4, 2);
        assert_eq!(
            ok.param_count(),
            Some(Stack::new(ok).expect("valid").params().len())
        );
    }
}
