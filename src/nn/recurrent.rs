//! One recurrent layer over a chunk of T steps: forward and backward (BPTT).
//!
//! Layout is time-major: row `t*B + b` of every (T*B, ·) buffer is batch element b at step t.
//! Forward hoists the input projection of all T steps into one GEMM; inside the time loop only
//! the (B, H) x (H, gates*H) recurrent GEMM and the fused gate loop remain. Backward keeps the
//! per-step work to the (B, gates*H) x (gates*H, H) GEMM and the fused gate loop; the weight
//! gradients and the input gradient are three big GEMMs after the loop.

use rayon::prelude::*;

use super::cell::{self, CellKind};
use super::gemm::{matmul, MatRef};

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

/// Gradient buffers of one layer (same layouts as [`Weights`]); backward adds into them.
pub struct Grads<'a> {
    pub w_ih: &'a mut [f32],
    pub w_hh: &'a mut [f32],
    pub b_ih: &'a mut [f32],
    pub b_hh: &'a mut [f32],
}

/// What forward keeps for backward, reused across calls (grown, never shrunk).
#[derive(Default)]
pub struct Cache {
    /// (T*B, G*H): gate pre-activations, then activations; backward overwrites them with
    /// their gradients.
    pub gates: Vec<f32>,
    /// (T+1, B, H): h_0 (the initial state) then the outputs h_1..h_T.
    pub hs: Vec<f32>,
    /// (T+1, B, H): LSTM cell states c_0..c_T.
    pub cs: Vec<f32>,
    /// (T*B, H): GRU W_hn h + b_hn per step.
    pub hn: Vec<f32>,
    /// (T*B, 3H): GRU gradient of the hidden projection (backward).
    pub dgh: Vec<f32>,
    /// (B, G*H): GRU per-step hidden projection scratch.
    step: Vec<f32>,
    /// (B, H) x 3: recurrent gradient carries and the LSTM cell gradient.
    rec_a: Vec<f32>,
    rec_b: Vec<f32>,
    dc: Vec<f32>,
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Rows per rayon task for a fused gate loop over rows of `width` floats: small problems stay
/// on one thread.
fn min_rows(width: usize) -> usize {
    (16_384 / width.max(1)).max(1)
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

/// Forward over T steps. `x (T*B, I)` the inputs, `h0 (B, H)`, `c0 (B, H)` (LSTM only).
/// Results stay in `cache` (outputs, final state, and what backward needs).
pub fn forward(
    kind: CellKind,
    d: Dims,
    w: Weights<'_>,
    x: &[f32],
    h0: &[f32],
    c0: &[f32],
    cache: &mut Cache,
) {
    let (h, b) = (d.h, d.b);
    let g = kind.gates() * h;
    let bh = b * h;
    cache.reserve(kind, d);
    let gates = &mut cache.gates[..d.t * b * g];

    // Input projection for all T steps, with the biases folded in (GRU keeps b_hh apart,
    // since r multiplies W_hn h + b_hn).
    for row in gates.chunks_exact_mut(g) {
        if kind == CellKind::Gru {
            row.copy_from_slice(w.b_ih);
        } else {
            for ((o, &p), &q) in row.iter_mut().zip(w.b_ih).zip(w.b_hh) {
                *o = p + q;
            }
        }
    }
    matmul(
        gates,
        g,
        MatRef::new(x, d.t * b, d.i),
        MatRef::new(w.w_ih, g, d.i).t(),
        true,
    );

    cache.hs[..bh].copy_from_slice(&h0[..bh]);
    if kind == CellKind::Lstm {
        cache.cs[..bh].copy_from_slice(&c0[..bh]);
    }
    let w_hh_t = MatRef::new(w.w_hh, g, h).t();
    let rows = min_rows(g);
    for t in 0..d.t {
        let gates_t = &mut gates[t * b * g..(t + 1) * b * g];
        let (h_lo, h_hi) = cache.hs.split_at_mut((t + 1) * bh);
        let h_prev = &h_lo[t * bh..];
        let h_t = &mut h_hi[..bh];
        match kind {
            CellKind::RnnTanh | CellKind::RnnRelu => {
                matmul(gates_t, g, MatRef::new(h_prev, b, h), w_hh_t, true);
                let relu = kind == CellKind::RnnRelu;
                gates_t
                    .par_chunks(g)
                    .zip(h_t.par_chunks_mut(h))
                    .with_min_len(rows)
                    .for_each(|(p, o)| cell::rnn_forward(relu, p, o));
            }
            CellKind::Lstm => {
                matmul(gates_t, g, MatRef::new(h_prev, b, h), w_hh_t, true);
                let (c_lo, c_hi) = cache.cs.split_at_mut((t + 1) * bh);
                let c_prev = &c_lo[t * bh..];
                let c_t = &mut c_hi[..bh];
                gates_t
                    .par_chunks_mut(g)
                    .zip(c_prev.par_chunks(h))
                    .zip(c_t.par_chunks_mut(h))
                    .zip(h_t.par_chunks_mut(h))
                    .with_min_len(rows)
                    .for_each(|(((gr, cp), c), ho)| cell::lstm_forward(gr, cp, c, ho));
            }
            CellKind::Gru => {
                let step = &mut cache.step[..b * g];
                matmul(step, g, MatRef::new(h_prev, b, h), w_hh_t, false);
                let hn_t = &mut cache.hn[t * bh..(t + 1) * bh];
                gates_t
                    .par_chunks_mut(g)
                    .zip(step.par_chunks(g))
                    .zip(h_prev.par_chunks(h))
                    .zip(hn_t.par_chunks_mut(h))
                    .zip(h_t.par_chunks_mut(h))
                    .with_min_len(rows)
                    .for_each(|((((gx, gh), hp), hn), ho)| {
                        cell::gru_forward(gx, gh, w.b_hh, hp, hn, ho)
                    });
            }
        }
    }
}

/// `out (cols) += column sums of m (rows, cols)`, rows added in order (deterministic).
fn add_colsum(out: &mut [f32], m: &[f32], cols: usize) {
    for row in m.chunks_exact(cols) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// Backward over the T steps of the last [`forward`] (same `kind`, `d`, `w`, `x`).
/// `dy (T*B, H)`: gradient of the loss w.r.t. the outputs h_1..h_T. Adds the weight gradients
/// into `grads` and writes the input gradient into `dx (T*B, I)` when given. Gradients do not
/// flow into the initial state (truncated BPTT).
pub fn backward(
    kind: CellKind,
    d: Dims,
    w: Weights<'_>,
    x: &[f32],
    dy: &[f32],
    cache: &mut Cache,
    grads: Grads<'_>,
    dx: Option<&mut [f32]>,
) {
    let (h, b) = (d.h, d.b);
    let g = kind.gates() * h;
    let bh = b * h;
    let tb = d.t * b;
    let rows = min_rows(g);
    if kind == CellKind::Gru {
        grow(&mut cache.dgh, tb * g);
    }
    let Cache {
        gates,
        hs,
        cs,
        hn,
        dgh,
        rec_a,
        rec_b,
        dc,
        ..
    } = cache;
    let gates = &mut gates[..tb * g];
    let mut rec = &mut rec_a[..bh];
    let mut rec_next = &mut rec_b[..bh];
    rec.fill(0.0);
    if kind == CellKind::Lstm {
        dc[..bh].fill(0.0);
    }
    let w_hh = MatRef::new(w.w_hh, g, h);
    for t in (0..d.t).rev() {
        let gates_t = &mut gates[t * b * g..(t + 1) * b * g];
        let dy_t = &dy[t * bh..(t + 1) * bh];
        match kind {
            CellKind::RnnTanh | CellKind::RnnRelu => {
                let relu = kind == CellKind::RnnRelu;
                let h_t = &hs[(t + 1) * bh..(t + 2) * bh];
                gates_t
                    .par_chunks_mut(g)
                    .zip(h_t.par_chunks(h))
                    .zip(dy_t.par_chunks(h))
                    .zip(rec.par_chunks(h))
                    .with_min_len(rows)
                    .for_each(|(((dp, ho), dyr), rr)| cell::rnn_backward(relu, ho, dyr, rr, dp));
                if t > 0 {
                    matmul(rec, h, MatRef::new(gates_t, b, g), w_hh, false);
                }
            }
            CellKind::Lstm => {
                let c_prev = &cs[t * bh..(t + 1) * bh];
                let c_t = &cs[(t + 1) * bh..(t + 2) * bh];
                gates_t
                    .par_chunks_mut(g)
                    .zip(c_prev.par_chunks(h))
                    .zip(c_t.par_chunks(h))
                    .zip(dy_t.par_chunks(h))
                    .zip(rec.par_chunks(h))
                    .zip(dc[..bh].par_chunks_mut(h))
                    .with_min_len(rows)
                    .for_each(|(((((gr, cp), c), dyr), rr), dcr)| {
                        cell::lstm_backward(gr, cp, c, dyr, rr, dcr)
                    });
                if t > 0 {
                    matmul(rec, h, MatRef::new(gates_t, b, g), w_hh, false);
                }
            }
            CellKind::Gru => {
                let hn_t = &hn[t * bh..(t + 1) * bh];
                let h_prev = &hs[t * bh..(t + 1) * bh];
                let dgh_t = &mut dgh[t * b * g..(t + 1) * b * g];
                gates_t
                    .par_chunks_mut(g)
                    .zip(hn_t.par_chunks(h))
                    .zip(h_prev.par_chunks(h))
                    .zip(dy_t.par_chunks(h))
                    .zip(rec.par_chunks(h))
                    .zip(dgh_t.par_chunks_mut(g))
                    .zip(rec_next.par_chunks_mut(h))
                    .with_min_len(rows)
                    .for_each(|((((((gx, hnr), hp), dyr), rr), dghr), rn)| {
                        cell::gru_backward(gx, hnr, hp, dyr, rr, dghr, rn)
                    });
                if t > 0 {
                    matmul(rec_next, h, MatRef::new(dgh_t, b, g), w_hh, true);
                }
                std::mem::swap(&mut rec, &mut rec_next);
            }
        }
    }

    // Weight and bias gradients for all T steps at once.
    let dg_h: &[f32] = if kind == CellKind::Gru {
        &dgh[..tb * g]
    } else {
        gates
    };
    matmul(
        grads.w_ih,
        d.i,
        MatRef::new(gates, tb, g).t(),
        MatRef::new(x, tb, d.i),
        true,
    );
    matmul(
        grads.w_hh,
        h,
        MatRef::new(dg_h, tb, g).t(),
        MatRef::new(&hs[..tb * h], tb, h),
        true,
    );
    add_colsum(grads.b_ih, gates, g);
    add_colsum(grads.b_hh, dg_h, g);
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
