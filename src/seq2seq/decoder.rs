//! One decoder layer for one time step over a batch (the decoder runs step by step: with
//! input feeding each step's input depends on the previous step's output). The gate GEMMs
//! are here, the fused elementwise kernels are `nn::cell`'s. Spec: the one-step
//! `cells.py::cell_forward` / `cell_backward` calls of `reference/seq2seq.py::decoder_step`
//! and `decoder_step_backward`. Only LSTM and GRU.

use crate::linalg::gemm::{matmul, MatRef};
use crate::nn::cell::{self, CellKind};
use crate::nn::recurrent::Weights;

/// Forward of one step: `x (B, I)`, `h_prev`, `c_prev (B, H)` (c for LSTM only) ->
/// `h`, `c (B, H)`; `gates (B, G*H)` keeps the activations, `hn (B, H)` GRU's W_hn h + b_hn,
/// `gh (B, G*H)` is scratch.
#[allow(clippy::too_many_arguments)]
pub fn step_forward(
    kind: CellKind,
    b: usize,
    i: usize,
    hid: usize,
    w: Weights<'_>,
    x: &[f32],
    h_prev: &[f32],
    c_prev: &[f32],
    gates: &mut [f32],
    gh: &mut [f32],
    hn: &mut [f32],
    h: &mut [f32],
    c: &mut [f32],
) {
    let g = kind.gates() * hid;
    let gates = &mut gates[..b * g];
    let xm = MatRef::new(&x[..b * i], b, i);
    let hm = MatRef::new(&h_prev[..b * hid], b, hid);
    if kind == CellKind::Lstm {
        for row in gates.chunks_exact_mut(g) {
            for ((o, &p), &q) in row.iter_mut().zip(w.b_ih).zip(w.b_hh) {
                *o = p + q;
            }
        }
        matmul(gates, g, xm, MatRef::new(w.w_ih, g, i).t(), true);
        matmul(gates, g, hm, MatRef::new(w.w_hh, g, hid).t(), true);
        for r in 0..b {
            let rows = r * hid..(r + 1) * hid;
            cell::lstm_forward(
                &mut gates[r * g..(r + 1) * g],
                &c_prev[rows.clone()],
                &mut c[rows.clone()],
                &mut h[rows],
            );
        }
    } else {
        for row in gates.chunks_exact_mut(g) {
            row.copy_from_slice(w.b_ih);
        }
        matmul(gates, g, xm, MatRef::new(w.w_ih, g, i).t(), true);
        let gh = &mut gh[..b * g];
        matmul(gh, g, hm, MatRef::new(w.w_hh, g, hid).t(), false);
        for r in 0..b {
            let rows = r * hid..(r + 1) * hid;
            cell::gru_forward(
                &mut gates[r * g..(r + 1) * g],
                &gh[r * g..(r + 1) * g],
                w.b_hh,
                &h_prev[rows.clone()],
                &mut hn[rows.clone()],
                &mut h[rows],
            );
        }
    }
}

/// Backward of one step from `dh (B, H)` (all of dLoss/dh): `gates` (activations in) become
/// the input-side pre-activation gradients, `dgh (B, G*H)` the hidden side's (GRU; LSTM's
/// are `gates` themselves); `dc (B, H)` carries dLoss/dc in and dLoss/dc_prev out (LSTM);
/// writes `dx (B, I)` and `dh_prev (B, H)`. The weight gradients are the caller's (one GEMM
/// over all steps).
#[allow(clippy::too_many_arguments)]
pub fn step_backward(
    kind: CellKind,
    b: usize,
    i: usize,
    hid: usize,
    w: Weights<'_>,
    h_prev: &[f32],
    c_prev: &[f32],
    c: &[f32],
    hn: &[f32],
    dh: &[f32],
    zeros: &[f32],
    gates: &mut [f32],
    dgh: &mut [f32],
    dc: &mut [f32],
    dx: &mut [f32],
    dh_prev: &mut [f32],
) {
    let g = kind.gates() * hid;
    let gates = &mut gates[..b * g];
    let dh_prev = &mut dh_prev[..b * hid];
    for r in 0..b {
        let rows = r * hid..(r + 1) * hid;
        let gr = &mut gates[r * g..(r + 1) * g];
        if kind == CellKind::Lstm {
            cell::lstm_backward(
                gr,
                &c_prev[rows.clone()],
                &c[rows.clone()],
                &dh[rows.clone()],
                &zeros[..hid],
                &mut dc[rows],
            );
        } else {
            cell::gru_backward(
                gr,
                &hn[rows.clone()],
                &h_prev[rows.clone()],
                &dh[rows.clone()],
                &zeros[..hid],
                &mut dgh[r * g..(r + 1) * g],
                &mut dh_prev[rows],
            );
        }
    }
    let din = MatRef::new(gates, b, g);
    matmul(&mut dx[..b * i], i, din, MatRef::new(w.w_ih, g, i), false);
    if kind == CellKind::Lstm {
        matmul(dh_prev, hid, din, MatRef::new(w.w_hh, g, hid), false);
    } else {
        let dgh = MatRef::new(&dgh[..b * g], b, g);
        matmul(dh_prev, hid, dgh, MatRef::new(w.w_hh, g, hid), true);
    }
}
