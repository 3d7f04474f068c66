//! One recurrent layer over a chunk of T steps: forward and backward (BPTT). Spec:
//! `reference/cells.py::cell_forward` and `cell_backward` (which dispatch to
//! `rnn_forward`, `lstm_forward`, `gru_forward` and their backward functions).
//!
//! Layout is time-major: row `t*B + b` of every (T*B, ·) buffer is batch element b at step t.
//! Forward hoists the input projection of all T steps into one GEMM; backward computes the
//! weight and input gradients of all T steps in three GEMMs after the time loop. Inside the
//! time loop only the (B, H) x (H, G*H) recurrent GEMM and the fused gate loop remain.
//!
//! Threads: the batch is split into one shard per thread and each shard runs the whole time
//! loop on its own rows (its own small GEMMs and gate loops), so the recurrence needs no
//! synchronisation per step; the hoisted GEMMs are split into one output block per thread
//! instead. Each shard always gets the same rows for a given thread count, so results are
//! reproducible.
//!
//! Variable lengths (`lengths`, one per batch row, 1..=T; spec `reference/cells.py`'s
//! `lengths=`): every step still runs the recurrent GEMM over all B rows; in the fused row
//! loop a row past its length skips its cell and keeps its previous state (h, and c for
//! LSTM), so its final state is the state after its last real step. Backward mirrors it: a
//! frozen row gets zero gate gradients (so it adds nothing to any weight gradient), and the
//! row's last real step reads the state gradient that flowed in (dL/dh_T, dL/dc_T), which
//! frozen steps pass through unchanged. The outputs at padded steps hold the frozen state;
//! callers that expose outputs zero them there (`super::stack`).

use std::ops::Range;

use rayon::prelude::*;

use super::cell::{self, CellKind};
use super::grow;
use crate::linalg::colsum;
use crate::linalg::gemm::{matmul, MatRef};
use crate::linalg::kernels::{matmul_packed, PackedB};

/// Sizes of one layer's work: T steps, B batch rows, I input features, H hidden units.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub t: usize,
    pub b: usize,
    pub i: usize,
    pub h: usize,
}

/// One layer's weights, PyTorch layouts: w_ih (G*H, I), w_hh (G*H, H), b_ih, b_hh (G*H).
#[derive(Clone, Copy)]
pub struct Weights<'a> {
    pub w_ih: &'a [f32],
    pub w_hh: &'a [f32],
    pub b_ih: &'a [f32],
    pub b_hh: &'a [f32],
}

impl<'a> Weights<'a> {
    /// The views of a flat parameter buffer at `r`: the ranges of w_ih, w_hh, b_ih, b_hh.
    pub fn at(params: &'a [f32], r: &[Range<usize>; 4]) -> Self {
        Weights {
            w_ih: &params[r[0].clone()],
            w_hh: &params[r[1].clone()],
            b_ih: &params[r[2].clone()],
            b_hh: &params[r[3].clone()],
        }
    }
}

/// Gradient buffers of one layer (same layouts as [`Weights`]); backward adds into them.
pub struct Grads<'a> {
    pub w_ih: &'a mut [f32],
    pub w_hh: &'a mut [f32],
    pub b_ih: &'a mut [f32],
    pub b_hh: &'a mut [f32],
}

impl<'a> Grads<'a> {
    /// The views of a flat gradient buffer at `r`, as [`Weights::at`]; the four ranges are
    /// consecutive, in that order.
    pub fn at(grads: &'a mut [f32], r: &[Range<usize>; 4]) -> Self {
        let g = &mut grads[r[0].start..r[3].end];
        let (w_ih, g) = g.split_at_mut(r[0].len());
        let (w_hh, g) = g.split_at_mut(r[1].len());
        let (b_ih, b_hh) = g.split_at_mut(r[2].len());
        Grads {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
        }
    }
}

/// The gradient w.r.t. a layer's state, (B, H) each; `dc` is used by LSTM only (empty
/// otherwise). [`backward`] reads dL/dh_T, dL/dc_T from it and writes dL/dh_0, dL/dc_0 back.
pub struct StateGrads<'a> {
    pub dh: &'a mut [f32],
    pub dc: &'a mut [f32],
}

/// Where a layer's input projection `W_ih x + b` of the T steps comes from.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// `x (T*B, I)`: [`forward`] projects it in one GEMM.
    Dense(&'a [f32]),
    /// Row r of the T*B rows (time-major) reads `table[slots[r]]`, G*H floats with the bias
    /// (see [`super::projected_embedding`]).
    Projected { table: &'a [f32], slots: &'a [u32] },
}

/// The part of the pre-activations that does not come from h_{t-1}, as the time loop reads
/// it: for the whole chunk, or (with `slots` cut to them) for one step's rows of a shard.
#[derive(Clone, Copy)]
enum StepInput<'a> {
    /// The gate buffer holds the input projection; add the bias.
    Bias(&'a [f32]),
    /// Row r reads `table[slots[r]]`.
    Rows { table: &'a [f32], slots: &'a [u32] },
}

impl<'a> StepInput<'a> {
    /// What row `r` adds (`g` floats).
    #[inline]
    fn row(&self, r: usize, g: usize) -> &'a [f32] {
        match *self {
            StepInput::Bias(b) => b,
            StepInput::Rows { table, slots } => {
                let s = slots[r] as usize;
                &table[s * g..(s + 1) * g]
            }
        }
    }
}

/// The input side of [`backward`].
pub enum InputGrad<'a> {
    /// `x (T*B, I)`, the forward's input: [`backward`] adds dW_ih and writes the input
    /// gradient into `dx (T*B, I)` when given.
    Dense {
        x: &'a [f32],
        dx: Option<&'a mut [f32]>,
    },
    /// The caller derives dW_ih and the input gradient from [`Cache::gate_grads`].
    Projected,
}

/// The bias folded into the input projection: `b_ih + b_hh`, or `b_ih` alone for GRU (whose r
/// multiplies `W_hn h + b_hn`, so `b_hn` stays on the hidden side). `scratch` holds the sum.
pub fn input_bias<'a>(kind: CellKind, w: Weights<'a>, scratch: &'a mut Vec<f32>) -> &'a [f32] {
    if kind == CellKind::Gru {
        return w.b_ih;
    }
    scratch.clear();
    scratch.extend(w.b_ih.iter().zip(w.b_hh).map(|(&p, &q)| p + q));
    scratch
}

/// What forward keeps for backward, reused across calls (grown, never shrunk).
#[derive(Default)]
pub struct Cache {
    /// (T*B, G*H): gate pre-activations, then activations; backward overwrites them with
    /// their gradients.
    gates: Vec<f32>,
    /// (T+1, B, H): h_0 (the initial state) then the outputs h_1..h_T.
    hs: Vec<f32>,
    /// (T+1, B, H): LSTM cell states c_0..c_T.
    cs: Vec<f32>,
    /// (T*B, H): GRU W_hn h + b_hn per step.
    hn: Vec<f32>,
    /// (T*B, G*H): GRU gradient of the hidden projection (backward).
    dgh: Vec<f32>,
    /// W_hh packed for the per-step GEMM: forward packs W_hh^T (H, G*H) for `h · W_hh^T`,
    /// backward repacks the same buffer as W_hh (G*H, H) for `dG · W_hh`.
    w_hh: PackedB,
    /// (B, G*H): GRU per-step hidden projection scratch.
    step: Vec<f32>,
    /// (G*H): b_ih + b_hh in forward, the bias-gradient column sums in backward.
    bias: Vec<f32>,
    /// (B, H) x 3: recurrent gradient carries and the LSTM cell gradient.
    rec_a: Vec<f32>,
    rec_b: Vec<f32>,
    dc: Vec<f32>,
    /// (B, H): dL/dh_T as it flowed in, read by each row's last real step (lengths only).
    dh_final: Vec<f32>,
}

impl Cache {
    fn reserve(&mut self, kind: CellKind, d: Dims) {
        let (tb, bh, g) = (d.t * d.b, d.b * d.h, kind.gates() * d.h);
        grow(&mut self.gates, tb * g);
        grow(&mut self.hs, (d.t + 1) * bh);
        if kind == CellKind::Lstm {
            grow(&mut self.cs, (d.t + 1) * bh);
            grow(&mut self.dc, bh);
        }
        if kind == CellKind::Gru {
            grow(&mut self.hn, tb * d.h);
            grow(&mut self.step, d.b * g);
        }
        grow(&mut self.rec_a, bh);
        grow(&mut self.rec_b, bh);
    }

    /// The (T*B, G*H) gradient of the loss w.r.t. the input projection (valid after
    /// [`backward`]).
    pub fn gate_grads(&self, kind: CellKind, d: Dims) -> &[f32] {
        &self.gates[..d.t * d.b * kind.gates() * d.h]
    }

    /// The layer outputs h_1..h_T as a (T*B, H) block (valid after [`forward`]).
    pub fn outputs(&self, d: Dims) -> &[f32] {
        &self.hs[d.b * d.h..(d.t + 1) * d.b * d.h]
    }

    /// The final hidden state h_T (B, H).
    pub fn final_h(&self, d: Dims) -> &[f32] {
        &self.hs[d.t * d.b * d.h..(d.t + 1) * d.b * d.h]
    }

    /// The final LSTM cell state c_T (B, H).
    pub fn final_c(&self, d: Dims) -> &[f32] {
        &self.cs[d.t * d.b * d.h..(d.t + 1) * d.b * d.h]
    }
}

/// Batch rows of each shard: one shard per thread, at least 4 rows each.
fn shard_rows(b: usize) -> Vec<usize> {
    let shards = rayon::current_num_threads().min(b / 4).max(1);
    (0..shards)
        .map(|s| (s + 1) * b / shards - s * b / shards)
        .collect()
}

/// Split `count` consecutive (B, width) slices of `buf` by shard: result[s][t] is shard s's
/// rows of slice t.
fn split_mut<'a>(
    buf: &'a mut [f32],
    count: usize,
    b: usize,
    width: usize,
    rows: &[usize],
) -> Vec<Vec<&'a mut [f32]>> {
    let mut out: Vec<Vec<&'a mut [f32]>> = rows.iter().map(|_| Vec::with_capacity(count)).collect();
    for slice in buf[..count * b * width].chunks_exact_mut(b * width) {
        let mut rest = slice;
        for (s, &r) in rows.iter().enumerate() {
            let (part, tail) = rest.split_at_mut(r * width);
            out[s].push(part);
            rest = tail;
        }
    }
    out
}

/// `n` empty per-shard lists (for buffers a cell does not use).
fn empty<T>(n: usize) -> Vec<Vec<T>> {
    (0..n).map(|_| Vec::new()).collect()
}

/// Each shard's rows of `lengths` (None for every shard without lengths).
fn split_lengths<'a>(lengths: Option<&'a [usize]>, rows: &[usize]) -> Vec<Option<&'a [usize]>> {
    let mut start = 0;
    rows.iter()
        .map(|&r| {
            start += r;
            lengths.map(|l| &l[start - r..start])
        })
        .collect()
}

/// True when row `row` is past its length at step `t` (never without lengths).
#[inline]
fn frozen(lens: Option<&[usize]>, row: usize, t: usize) -> bool {
    lens.is_some_and(|l| t >= l[row])
}

/// Read-only [`split_mut`].
fn split_ref<'a>(
    buf: &'a [f32],
    count: usize,
    b: usize,
    width: usize,
    rows: &[usize],
) -> Vec<Vec<&'a [f32]>> {
    let mut out: Vec<Vec<&'a [f32]>> = rows.iter().map(|_| Vec::with_capacity(count)).collect();
    for slice in buf[..count * b * width].chunks_exact(b * width) {
        let mut rest = slice;
        for (s, &r) in rows.iter().enumerate() {
            let (part, tail) = rest.split_at(r * width);
            out[s].push(part);
            rest = tail;
        }
    }
    out
}

/// Per-shard slices for the forward time loop.
struct FwdShard<'a> {
    /// The shard's first batch row, and how many it has.
    first: usize,
    rows: usize,
    /// This shard's rows of `lengths`, if any.
    lens: Option<&'a [usize]>,
    gates: Vec<&'a mut [f32]>,
    hs: Vec<&'a mut [f32]>,
    cs: Vec<&'a mut [f32]>,
    hn: Vec<&'a mut [f32]>,
    step: Vec<&'a mut [f32]>,
}

/// Forward over T steps from `input`, `h0 (B, H)`, `c0 (B, H)` (LSTM only), row b running
/// its first `lengths[b]` steps (all T when None; the caller checks 1 <= lengths[b] <= T).
/// Results stay in `cache` (outputs, final state, and what backward needs).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    kind: CellKind,
    d: Dims,
    w: Weights<'_>,
    input: Input<'_>,
    h0: &[f32],
    c0: &[f32],
    lengths: Option<&[usize]>,
    cache: &mut Cache,
) {
    let (h, b) = (d.h, d.b);
    let g = kind.gates() * h;
    let bh = b * h;
    cache.reserve(kind, d);

    // Input projection for all T steps. Its bias is added step by step in the time loop
    // (for LSTM inside the cell), where the step's rows are read anyway: filling the whole
    // (T*B, G*H) buffer with it before the GEMM cost a pass over memory. Projected rows are
    // read in the time loop too, not gathered into the buffer first.
    let source = match input {
        Input::Dense(x) => {
            matmul(
                &mut cache.gates[..d.t * b * g],
                g,
                MatRef::new(x, d.t * b, d.i),
                MatRef::new(w.w_ih, g, d.i).t(),
                false,
            );
            StepInput::Bias(input_bias(kind, w, &mut cache.bias))
        }
        Input::Projected { table, slots } => StepInput::Rows { table, slots },
    };

    // W_hh^T packed once for all T steps.
    cache.w_hh.pack_transposed(w.w_hh, g, h);
    cache.hs[..bh].copy_from_slice(&h0[..bh]);
    if kind == CellKind::Lstm {
        cache.cs[..bh].copy_from_slice(&c0[..bh]);
    }

    let rows = shard_rows(b);
    let n = rows.len();
    let lstm = kind == CellKind::Lstm;
    let gru = kind == CellKind::Gru;
    let gates_p = split_mut(&mut cache.gates, d.t, b, g, &rows);
    let hs_p = split_mut(&mut cache.hs, d.t + 1, b, h, &rows);
    let cs_p = if lstm {
        split_mut(&mut cache.cs, d.t + 1, b, h, &rows)
    } else {
        empty(n)
    };
    let hn_p = if gru {
        split_mut(&mut cache.hn, d.t, b, h, &rows)
    } else {
        empty(n)
    };
    let step_p = if gru {
        split_mut(&mut cache.step, 1, b, g, &rows)
    } else {
        empty(n)
    };
    let lens_p = split_lengths(lengths, &rows);
    let firsts = rows.iter().scan(0, |start, &r| {
        *start += r;
        Some(*start - r)
    });
    let shards: Vec<FwdShard<'_>> = rows
        .iter()
        .zip(firsts)
        .zip(lens_p)
        .zip(gates_p)
        .zip(hs_p)
        .zip(cs_p)
        .zip(hn_p)
        .zip(step_p)
        .map(
            |(((((((&rows, first), lens), gates), hs), cs), hn), step)| FwdShard {
                first,
                rows,
                lens,
                gates,
                hs,
                cs,
                hn,
                step,
            },
        )
        .collect();
    let w_hh = &cache.w_hh;
    shards
        .into_par_iter()
        .with_max_len(1)
        .for_each(|sh| forward_shard(kind, d, w, w_hh, source, sh));
}

/// The rows `lo..hi` of a shard that still run at step `t`, every row outside them past its
/// length (rows inside may be past theirs too, when lengths are not sorted).
fn live_rows(lens: Option<&[usize]>, t: usize, r: usize) -> Range<usize> {
    match lens {
        None => 0..r,
        Some(l) => match l.iter().position(|&n| n > t) {
            None => 0..0,
            Some(lo) => lo..r - l.iter().rev().position(|&n| n > t).unwrap_or(0),
        },
    }
}

/// Copy the rows outside `live` (`width` floats each) from `prev` to `next`: frozen rows
/// keep their state.
fn copy_frozen(prev: &[f32], next: &mut [f32], live: &Range<usize>, width: usize) {
    let (lo, hi) = (live.start * width, live.end * width);
    next[..lo].copy_from_slice(&prev[..lo]);
    next[hi..].copy_from_slice(&prev[hi..]);
}

/// One shard's time loop; `source` is the chunk's input side (the bias, the projection
/// being in the gate buffer already, or the projected rows).
fn forward_shard(
    kind: CellKind,
    d: Dims,
    w: Weights<'_>,
    w_hh: &PackedB,
    source: StepInput<'_>,
    mut sh: FwdShard<'_>,
) {
    let (h, r) = (d.h, sh.rows);
    let g = kind.gates() * h;
    let lens = sh.lens;
    // The LSTM cell adds the step input as it reads the gates; the other cells read it from
    // the gate buffer, written before the recurrent GEMM.
    let fused = kind == CellKind::Lstm;
    for t in 0..d.t {
        let step_input = match source {
            StepInput::Rows { table, slots } => StepInput::Rows {
                table,
                slots: &slots[t * d.b + sh.first..t * d.b + sh.first + r],
            },
            bias => bias,
        };
        // Whether the gate buffer holds the step's input projection before the recurrent
        // GEMM adds to it.
        let accumulate = matches!(source, StepInput::Bias(_)) || !fused;
        let (h_lo, h_hi) = sh.hs.split_at_mut(t + 1);
        let h_prev: &[f32] = &*h_lo[t];
        let h_t: &mut [f32] = &mut *h_hi[0];
        let gates_t: &mut [f32] = &mut *sh.gates[t];
        if !fused {
            for (row, gr) in gates_t.chunks_exact_mut(g).enumerate() {
                let add = step_input.row(row, g);
                match step_input {
                    StepInput::Bias(_) => gr.iter_mut().zip(add).for_each(|(v, &a)| *v += a),
                    StepInput::Rows { .. } => gr.copy_from_slice(add),
                }
            }
        }
        // A row past its length keeps its state: h (and c) copied from the step before. The
        // recurrent GEMM and the cells run on the live rows only (with sorted lengths, as in
        // length-bucketed batches, every frozen row lies outside them).
        let live = live_rows(lens, t, r);
        let (lo, m) = (live.start, live.len());
        copy_frozen(h_prev, h_t, &live, h);
        let (hp_live, ht_live) = (
            &h_prev[lo * h..live.end * h],
            &mut h_t[lo * h..live.end * h],
        );
        let gates_live = &mut gates_t[lo * g..live.end * g];
        let rows = live.clone();
        match kind {
            CellKind::RnnTanh | CellKind::RnnRelu => {
                matmul_packed(gates_live, g, hp_live, h, m, w_hh, accumulate);
                let relu = kind == CellKind::RnnRelu;
                for (row, ((p, o), hp)) in rows.zip(
                    gates_live
                        .chunks_exact(g)
                        .zip(ht_live.chunks_exact_mut(h))
                        .zip(hp_live.chunks_exact(h)),
                ) {
                    if frozen(lens, row, t) {
                        o.copy_from_slice(hp);
                    } else {
                        cell::rnn_forward(relu, p, o);
                    }
                }
            }
            CellKind::Lstm => {
                matmul_packed(gates_live, g, hp_live, h, m, w_hh, accumulate);
                let (c_lo, c_hi) = sh.cs.split_at_mut(t + 1);
                let c_prev: &[f32] = &*c_lo[t];
                let c_t: &mut [f32] = &mut *c_hi[0];
                copy_frozen(c_prev, c_t, &live, h);
                for (row, ((((gr, cp), c), ho), hp)) in rows.zip(
                    gates_live
                        .chunks_exact_mut(g)
                        .zip(c_prev[lo * h..live.end * h].chunks_exact(h))
                        .zip(c_t[lo * h..live.end * h].chunks_exact_mut(h))
                        .zip(ht_live.chunks_exact_mut(h))
                        .zip(hp_live.chunks_exact(h)),
                ) {
                    if frozen(lens, row, t) {
                        c.copy_from_slice(cp);
                        ho.copy_from_slice(hp);
                    } else {
                        cell::lstm_forward_add(gr, step_input.row(row, g), cp, c, ho);
                    }
                }
            }
            CellKind::Gru => {
                let step: &mut [f32] = &mut sh.step[0][lo * g..live.end * g];
                matmul_packed(step, g, hp_live, h, m, w_hh, false);
                let hn_t: &mut [f32] = &mut sh.hn[t][lo * h..live.end * h];
                for (row, ((((gx, gh), hp), hn), ho)) in rows.zip(
                    gates_live
                        .chunks_exact_mut(g)
                        .zip(step.chunks_exact(g))
                        .zip(hp_live.chunks_exact(h))
                        .zip(hn_t.chunks_exact_mut(h))
                        .zip(ht_live.chunks_exact_mut(h)),
                ) {
                    if frozen(lens, row, t) {
                        ho.copy_from_slice(hp);
                    } else {
                        cell::gru_forward(gx, gh, w.b_hh, hp, hn, ho);
                    }
                }
            }
        }
    }
}

/// Per-shard slices for the backward time loop.
struct BwdShard<'a> {
    rows: usize,
    /// This shard's rows of `lengths`, and of dL/dh_T as it flowed in (lengths only).
    lens: Option<&'a [usize]>,
    dh_final: &'a [f32],
    gates: Vec<&'a mut [f32]>,
    hs: Vec<&'a [f32]>,
    cs: Vec<&'a [f32]>,
    hn: Vec<&'a [f32]>,
    dgh: Vec<&'a mut [f32]>,
    dy: Vec<&'a [f32]>,
    /// rec_a, rec_b, dc: this shard's rows of the (B, H) carries.
    carry: Vec<&'a mut [f32]>,
}

/// Backward over the T steps of the last [`forward`] (same `kind`, `d`, `w`).
/// `dy (T*B, H)`: gradient of the loss w.r.t. the outputs h_1..h_T. Adds the weight gradients
/// into `grads` (dW_ih only for [`InputGrad::Dense`]), leaving the gradient of the input
/// projection in [`Cache::gate_grads`]. With `state`, the final state's gradient flows in and
/// the initial state's comes out; without it the carry starts at zero and stops at step 1
/// (truncated BPTT). `lengths` as in the forward: a row's gradient at its padded steps (in
/// `dy` and from the state) never enters its cell there. Consumes the forward cache: one
/// backward per forward.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    kind: CellKind,
    d: Dims,
    w: Weights<'_>,
    input: InputGrad<'_>,
    dy: &[f32],
    lengths: Option<&[usize]>,
    cache: &mut Cache,
    grads: Grads<'_>,
    mut state: Option<StateGrads<'_>>,
) {
    let (h, b) = (d.h, d.b);
    let g = kind.gates() * h;
    let tb = d.t * b;
    let bh = b * h;
    let lstm = kind == CellKind::Lstm;
    let gru = kind == CellKind::Gru;
    if gru {
        grow(&mut cache.dgh, tb * g);
    }
    // The recurrent carries start from dL/dh_T, dL/dc_T (zero without a state gradient).
    match &state {
        Some(s) => cache.rec_a[..bh].copy_from_slice(&s.dh[..bh]),
        None => cache.rec_a[..bh].fill(0.0),
    }
    if lstm {
        match &state {
            Some(s) => cache.dc[..bh].copy_from_slice(&s.dc[..bh]),
            None => cache.dc[..bh].fill(0.0),
        }
    }
    if lengths.is_some() {
        grow(&mut cache.dh_final, bh);
        cache.dh_final[..bh].copy_from_slice(&cache.rec_a[..bh]);
    }
    let to_h0 = state.is_some();
    cache.w_hh.pack(MatRef::new(w.w_hh, g, h));
    let rows = shard_rows(b);
    let n = rows.len();
    {
        let Cache {
            gates,
            hs,
            cs,
            hn,
            dgh,
            rec_a,
            rec_b,
            dc,
            w_hh,
            dh_final,
            ..
        } = &mut *cache;
        let w_hh: &PackedB = w_hh;
        let gates_p = split_mut(gates, d.t, b, g, &rows);
        let hs_p = split_ref(hs, d.t + 1, b, h, &rows);
        let cs_p = if lstm {
            split_ref(cs, d.t + 1, b, h, &rows)
        } else {
            empty(n)
        };
        let hn_p = if gru {
            split_ref(hn, d.t, b, h, &rows)
        } else {
            empty(n)
        };
        let dgh_p = if gru {
            split_mut(dgh, d.t, b, g, &rows)
        } else {
            empty(n)
        };
        let dy_p = split_ref(dy, d.t, b, h, &rows);
        let mut carries: Vec<Vec<&mut [f32]>> =
            rows.iter().map(|_| Vec::with_capacity(3)).collect();
        for (k, buf) in [rec_a, rec_b, dc].into_iter().enumerate() {
            if k == 2 && !lstm {
                continue;
            }
            for (s, part) in split_mut(buf, 1, b, h, &rows).into_iter().enumerate() {
                carries[s].extend(part);
            }
        }
        let lens_p = split_lengths(lengths, &rows);
        // Each shard's rows of dL/dh_T (one slice each; empty without lengths).
        let fin_p: Vec<&[f32]> = if lengths.is_some() {
            split_ref(dh_final, 1, b, h, &rows)
                .into_iter()
                .flatten()
                .collect()
        } else {
            rows.iter().map(|_| &[][..]).collect()
        };
        let shards: Vec<BwdShard<'_>> = rows
            .iter()
            .zip(lens_p.into_iter().zip(fin_p))
            .zip(gates_p)
            .zip(hs_p)
            .zip(cs_p)
            .zip(hn_p)
            .zip(dgh_p)
            .zip(dy_p)
            .zip(carries)
            .map(
                |((((((((&rows, (lens, dh_final)), gates), hs), cs), hn), dgh), dy), carry)| {
                    BwdShard {
                        rows,
                        lens,
                        dh_final,
                        gates,
                        hs,
                        cs,
                        hn,
                        dgh,
                        dy,
                        carry,
                    }
                },
            )
            .collect();
        shards
            .into_par_iter()
            .with_max_len(1)
            .for_each(|sh| backward_shard(kind, d, w_hh, sh, to_h0));
    }
    if let Some(s) = state.as_mut() {
        // GRU swaps its two carries every step: after an odd T the carry is in rec_b.
        let carry = if gru && d.t % 2 == 1 {
            &cache.rec_b
        } else {
            &cache.rec_a
        };
        s.dh[..bh].copy_from_slice(&carry[..bh]);
        if lstm {
            s.dc[..bh].copy_from_slice(&cache.dc[..bh]);
        }
    }

    // Weight and bias gradients for all T steps at once.
    let gates = &cache.gates[..tb * g];
    let dg_h: &[f32] = if gru { &cache.dgh[..tb * g] } else { gates };
    let hs = &cache.hs[..tb * h];
    matmul(
        grads.w_hh,
        h,
        MatRef::new(dg_h, tb, g).t(),
        MatRef::new(hs, tb, h),
        true,
    );
    if gru {
        colsum::add_colsum(grads.b_ih, gates, g);
        colsum::add_colsum(grads.b_hh, dg_h, g);
    } else {
        // The gradients of b_ih and b_hh are the same column sums: compute them once.
        grow(&mut cache.bias, g);
        let sums = &mut cache.bias[..g];
        sums.fill(0.0);
        colsum::add_colsum(sums, gates, g);
        for ((bi, bh), &s) in grads.b_ih.iter_mut().zip(grads.b_hh.iter_mut()).zip(&*sums) {
            *bi += s;
            *bh += s;
        }
    }
    if let InputGrad::Dense { x, dx } = input {
        matmul(
            grads.w_ih,
            d.i,
            MatRef::new(gates, tb, g).t(),
            MatRef::new(x, tb, d.i),
            true,
        );
        if let Some(dx) = dx {
            matmul(
                dx,
                d.i,
                MatRef::new(gates, tb, g),
                MatRef::new(w.w_ih, g, d.i),
                false,
            );
        }
    }
}

/// `to_h0`: also carry the gradient through W_hh at step 1, into h_0.
fn backward_shard(kind: CellKind, d: Dims, w_hh: &PackedB, mut sh: BwdShard<'_>, to_h0: bool) {
    let (h, r) = (d.h, sh.rows);
    let g = kind.gates() * h;
    let lens = sh.lens;
    let mut carry = sh.carry.into_iter();
    let (Some(mut rec), Some(mut rec_next)) = (carry.next(), carry.next()) else {
        return;
    };
    let mut dc = carry.next();
    for t in (0..d.t).rev() {
        let gates_t: &mut [f32] = &mut *sh.gates[t];
        let dy_t = sh.dy[t];
        // With lengths: a frozen row's cell gets no gradient (zero gate gradients; LSTM's dc
        // passes unchanged), and a row's last real step reads dL/dh_T from `dh_final`, since
        // the recurrent GEMM of the frozen steps after it left zeros in its carry row.
        let carry_in = |row: usize| match lens {
            Some(l) if t >= l[row] => None,
            Some(l) => Some(t + 1 == l[row]),
            None => Some(false),
        };
        match kind {
            CellKind::RnnTanh | CellKind::RnnRelu => {
                let relu = kind == CellKind::RnnRelu;
                for (row, (((dp, ho), dyr), rr)) in gates_t
                    .chunks_exact_mut(g)
                    .zip(sh.hs[t + 1].chunks_exact(h))
                    .zip(dy_t.chunks_exact(h))
                    .zip(rec.chunks_exact(h))
                    .enumerate()
                {
                    match carry_in(row) {
                        None => dp.fill(0.0),
                        Some(true) => {
                            cell::rnn_backward(relu, ho, dyr, &sh.dh_final[row * h..][..h], dp)
                        }
                        Some(false) => cell::rnn_backward(relu, ho, dyr, rr, dp),
                    }
                }
                if t > 0 || to_h0 {
                    matmul_packed(rec, h, gates_t, g, r, w_hh, false);
                }
            }
            CellKind::Lstm => {
                let Some(dc) = dc.as_deref_mut() else {
                    return;
                };
                for (row, (((((gr, cp), c), dyr), rr), dcr)) in gates_t
                    .chunks_exact_mut(g)
                    .zip(sh.cs[t].chunks_exact(h))
                    .zip(sh.cs[t + 1].chunks_exact(h))
                    .zip(dy_t.chunks_exact(h))
                    .zip(rec.chunks_exact(h))
                    .zip(dc.chunks_exact_mut(h))
                    .enumerate()
                {
                    match carry_in(row) {
                        None => gr.fill(0.0),
                        Some(true) => {
                            cell::lstm_backward(gr, cp, c, dyr, &sh.dh_final[row * h..][..h], dcr)
                        }
                        Some(false) => cell::lstm_backward(gr, cp, c, dyr, rr, dcr),
                    }
                }
                if t > 0 || to_h0 {
                    matmul_packed(rec, h, gates_t, g, r, w_hh, false);
                }
            }
            CellKind::Gru => {
                let dgh_t: &mut [f32] = &mut *sh.dgh[t];
                for (row, ((((((gx, hnr), hp), dyr), rr), dghr), rn)) in gates_t
                    .chunks_exact_mut(g)
                    .zip(sh.hn[t].chunks_exact(h))
                    .zip(sh.hs[t].chunks_exact(h))
                    .zip(dy_t.chunks_exact(h))
                    .zip(rec.chunks_exact(h))
                    .zip(dgh_t.chunks_exact_mut(g))
                    .zip(rec_next.chunks_exact_mut(h))
                    .enumerate()
                {
                    match carry_in(row) {
                        None => {
                            gx.fill(0.0);
                            dghr.fill(0.0);
                            rn.fill(0.0);
                        }
                        Some(true) => cell::gru_backward(
                            gx,
                            hnr,
                            hp,
                            dyr,
                            &sh.dh_final[row * h..][..h],
                            dghr,
                            rn,
                        ),
                        Some(false) => cell::gru_backward(gx, hnr, hp, dyr, rr, dghr, rn),
                    }
                }
                if t > 0 || to_h0 {
                    matmul_packed(rec_next, h, dgh_t, g, r, w_hh, true);
                }
                std::mem::swap(&mut rec, &mut rec_next);
            }
        }
    }
}
