//! The recurrent cells' fused elementwise kernels, one time step, one batch row at a time.
//! PyTorch equations and gate orders (i, f, g, o for LSTM; r, z, n for GRU); the GEMMs that
//! produce the gate pre-activations live in `recurrent.rs`. Spec: the per-step bodies of
//! `reference/cells.py::rnn_forward`, `rnn_backward`, `lstm_forward`, `lstm_backward`,
//! `gru_forward` and `gru_backward`.

use crate::error::{CoreError, Result};
use crate::runtime::simd::{multiversion, sigmoid, tanh};

/// Which recurrence a layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// Elman RNN, h' = tanh(W_ih x + b_ih + W_hh h + b_hh).
    RnnTanh,
    /// Elman RNN with ReLU.
    RnnRelu,
    /// LSTM, gates i, f, g, o.
    Lstm,
    /// GRU, gates r, z, n.
    Gru,
}

impl CellKind {
    /// Parse the names used by the Python API: "rnn_tanh", "rnn_relu", "lstm", "gru".
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "rnn_tanh" => Ok(CellKind::RnnTanh),
            "rnn_relu" => Ok(CellKind::RnnRelu),
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            other => Err(CoreError::invalid(
                "cell",
                format!("expected one of rnn_tanh, rnn_relu, lstm, gru, got {other:?}"),
            )),
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::RnnTanh => "rnn_tanh",
            CellKind::RnnRelu => "rnn_relu",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }

    /// Number of gate blocks stacked in the weight rows: 1, 1, 4, 3.
    pub fn gates(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// True when the state carries a cell vector c besides h (LSTM).
    pub fn has_cell_state(self) -> bool {
        self == CellKind::Lstm
    }
}

multiversion! {
    /// RNN forward, one row: `pre (H)` holds W_ih x + b_ih + W_hh h + b_hh; writes h (H).
    pub fn rnn_forward(relu: bool, pre: &[f32], h: &mut [f32]) {
        if relu {
            for (o, &p) in h.iter_mut().zip(pre) {
                *o = if p > 0.0 { p } else { 0.0 };
            }
        } else {
            for (o, &p) in h.iter_mut().zip(pre) {
                *o = tanh(p);
            }
        }
    }
}

multiversion! {
    /// RNN backward, one row: `h (H)` the output, `dh (H)` + `dh_rec (H)` its gradient;
    /// writes the pre-activation gradient `dpre (H)`.
    pub fn rnn_backward(relu: bool, h: &[f32], dh: &[f32], dh_rec: &[f32], dpre: &mut [f32]) {
        let n = h.len();
        let (dh, dh_rec, dpre) = (&dh[..n], &dh_rec[..n], &mut dpre[..n]);
        for j in 0..n {
            let g = dh[j] + dh_rec[j];
            dpre[j] = if relu {
                if h[j] > 0.0 {
                    g
                } else {
                    0.0
                }
            } else {
                g * (1.0 - h[j] * h[j])
            };
        }
    }
}

/// Floats per widest vector (AVX-512). The LSTM loops run the last `H % LANES` elements of
/// a row in a block of this size (the row's last LANES elements, or a zero-padded block when
/// H < LANES), so that they take the vector path too (a character LSTM of 25 units would
/// otherwise spend most of its time on a scalar tail of 9). Each element sees the same
/// operations either way: results do not change.
const LANES: usize = 16;

/// The block of LANES elements from `at` of a row: `src[at..at + LANES]` (a fixed-size copy:
/// vector moves, no library call), or the whole row zero-padded when it is shorter.
#[inline(always)]
fn tail_block(src: &[f32], at: usize) -> [f32; LANES] {
    let mut block = [0.0; LANES];
    if src.len() >= LANES {
        block.copy_from_slice(&src[at..at + LANES]);
    } else {
        block[..src.len()].copy_from_slice(src);
    }
    block
}

/// Store what [`tail_block`] loaded from `dst` at `at`, computed.
#[inline(always)]
fn store_tail(dst: &mut [f32], at: usize, block: &[f32; LANES]) {
    if dst.len() >= LANES {
        dst[at..at + LANES].copy_from_slice(block);
    } else {
        let n = dst.len();
        dst.copy_from_slice(&block[..n]);
    }
}

/// The activations a multiversion body passes to its helpers (so that they use the body's
/// level: see `simd::multiversion!`).
#[derive(Clone, Copy)]
struct Act<S: Fn(f32) -> f32, T: Fn(f32) -> f32> {
    sigmoid: S,
    tanh: T,
}

/// Pre-activation j: `g[j] + a[j]` with `ADD`, else `g[j]`.
#[inline(always)]
fn pre<const ADD: bool>(g: &[f32], a: &[f32], j: usize) -> f32 {
    if ADD {
        g[j] + a[j]
    } else {
        g[j]
    }
}

/// The LSTM forward of elements `0..gi.len()` (every slice that long); with `ADD`, the
/// pre-activations are `g* + a*` (the `a*` slices as long as `gi`, unread otherwise).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_forward_run<const ADD: bool>(
    gates: [&mut [f32]; 4],
    add: [&[f32]; 4],
    c_prev: &[f32],
    c: &mut [f32],
    h: &mut [f32],
    act: Act<impl Fn(f32) -> f32, impl Fn(f32) -> f32>,
) {
    let [gi, gf, gg, go] = gates;
    let n = gi.len();
    let (gf, gg, go, c_prev, c, h) = (
        &mut gf[..n],
        &mut gg[..n],
        &mut go[..n],
        &c_prev[..n],
        &mut c[..n],
        &mut h[..n],
    );
    let [ai, af, ag, ao] = if ADD {
        [&add[0][..n], &add[1][..n], &add[2][..n], &add[3][..n]]
    } else {
        add
    };
    let (sigmoid, tanh) = (act.sigmoid, act.tanh);
    for j in 0..n {
        let i = sigmoid(pre::<ADD>(gi, ai, j));
        let f = sigmoid(pre::<ADD>(gf, af, j));
        let g = tanh(pre::<ADD>(gg, ag, j));
        let o = sigmoid(pre::<ADD>(go, ao, j));
        let cj = f * c_prev[j] + i * g;
        gi[j] = i;
        gf[j] = f;
        gg[j] = g;
        go[j] = o;
        c[j] = cj;
        h[j] = o * tanh(cj);
    }
}

/// One LSTM row (see [`lstm_forward`] and [`lstm_forward_add`]): the full vectors of H in
/// place, the last `H % LANES` elements as the row's last LANES (see [`LANES`]).
#[inline(always)]
fn lstm_row<const ADD: bool>(
    gates: &mut [f32],
    add: &[f32],
    c_prev: &[f32],
    c: &mut [f32],
    h: &mut [f32],
    act: Act<impl Fn(f32) -> f32 + Copy, impl Fn(f32) -> f32 + Copy>,
) {
    let n = c.len();
    let (gi, rest) = gates.split_at_mut(n);
    let (gf, rest) = rest.split_at_mut(n);
    let (gg, go) = rest.split_at_mut(n);
    let m = n - n % LANES;
    // The last `n - m` elements run in one block of LANES: the row's last LANES elements,
    // overlapping the vectors before them, or a zero-padded block when H < LANES. They are
    // computed from the inputs before the main loop overwrites them in place and stored after
    // it (an overlap gets the same values twice). Closures stay out of this path: a closure
    // is not inlined into the caller's target features for sure, and this is the hot loop.
    let t0 = n.saturating_sub(LANES);
    let mut tail = [[0.0f32; LANES]; 6];
    if m < n {
        let [i, f, g, o, cb, hb] = &mut tail;
        (*i, *f, *g, *o) = (
            tail_block(gi, t0),
            tail_block(gf, t0),
            tail_block(gg, t0),
            tail_block(go, t0),
        );
        let mut adds = [[0.0f32; LANES]; 4];
        if ADD {
            for (k, a) in adds.iter_mut().enumerate() {
                *a = tail_block(&add[k * n..(k + 1) * n], t0);
            }
        }
        let [ai, af, ag, ao] = &adds;
        let cp = tail_block(c_prev, t0);
        lstm_forward_run::<ADD>([i, f, g, o], [ai, af, ag, ao], &cp, cb, hb, act);
    }
    let main_add: [&[f32]; 4] = if ADD {
        [
            &add[..m],
            &add[n..n + m],
            &add[2 * n..2 * n + m],
            &add[3 * n..3 * n + m],
        ]
    } else {
        [&[], &[], &[], &[]]
    };
    lstm_forward_run::<ADD>(
        [&mut gi[..m], &mut gf[..m], &mut gg[..m], &mut go[..m]],
        main_add,
        &c_prev[..m],
        &mut c[..m],
        &mut h[..m],
        act,
    );
    if m < n {
        for (dst, src) in [gi, gf, gg, go, c, h].into_iter().zip(&tail) {
            store_tail(dst, t0, src);
        }
    }
}

multiversion! {
    /// LSTM forward, one row. `gates (4H)`: pre-activations [i f g o] in, activations out;
    /// `c_prev (H)`; writes `c (H)` and `h (H)`.
    pub fn lstm_forward(gates: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
        lstm_row::<false>(gates, &[], c_prev, c, h, Act { sigmoid, tanh });
    }
}

multiversion! {
    /// [`lstm_forward`] of the pre-activations `gates + add` (`add (4H)`, e.g. the input
    /// projection of the step's token, or the bias): the sum is never stored.
    pub fn lstm_forward_add(gates: &mut [f32], add: &[f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32]) {
        lstm_row::<true>(gates, add, c_prev, c, h, Act { sigmoid, tanh });
    }
}

multiversion! {
    /// LSTM backward, one row. `gates (4H)`: activations [i f g o] in, pre-activation
    /// gradients out; `c_prev, c (H)`; `dh + dh_rec (H)` the gradient of h; `dc (H)`: the
    /// gradient of c from step t+1 in, the gradient of c_prev out.
    pub fn lstm_backward(
        gates: &mut [f32],
        c_prev: &[f32],
        c: &[f32],
        dh: &[f32],
        dh_rec: &[f32],
        dc: &mut [f32],
    ) {
        let n = c.len();
        let (gi, rest) = gates.split_at_mut(n);
        let (gf, rest) = rest.split_at_mut(n);
        let (gg, go) = rest.split_at_mut(n);
        let (go, c_prev, dh, dh_rec, dc) =
            (&mut go[..n], &c_prev[..n], &dh[..n], &dh_rec[..n], &mut dc[..n]);
        for j in 0..n {
            let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j]);
            let tc = tanh(c[j]);
            let dhj = dh[j] + dh_rec[j];
            let dct = dc[j] + dhj * o * (1.0 - tc * tc);
            gi[j] = dct * g * i * (1.0 - i);
            gf[j] = dct * c_prev[j] * f * (1.0 - f);
            gg[j] = dct * i * (1.0 - g * g);
            go[j] = dhj * tc * o * (1.0 - o);
            dc[j] = dct * f;
        }
    }
}

multiversion! {
    /// GRU forward, one row. `gx (3H)`: W_ih x + b_ih in, activations [r z n] out;
    /// `gh (3H)`: W_hh h (no bias); `b_hh (3H)`; writes `hn (H)` = W_hn h + b_hn (kept for
    /// backward) and `h (H)`.
    pub fn gru_forward(
        gx: &mut [f32],
        gh: &[f32],
        b_hh: &[f32],
        h_prev: &[f32],
        hn: &mut [f32],
        h: &mut [f32],
    ) {
        let n = h.len();
        let (xr, rest) = gx.split_at_mut(n);
        let (xz, xn) = rest.split_at_mut(n);
        let xn = &mut xn[..n];
        let (hr, hz, hh) = (&gh[..n], &gh[n..2 * n], &gh[2 * n..3 * n]);
        let (br, bz, bn) = (&b_hh[..n], &b_hh[n..2 * n], &b_hh[2 * n..3 * n]);
        let (h_prev, hn) = (&h_prev[..n], &mut hn[..n]);
        for j in 0..n {
            let r = sigmoid(xr[j] + hr[j] + br[j]);
            let z = sigmoid(xz[j] + hz[j] + bz[j]);
            let hnj = hh[j] + bn[j];
            let nj = tanh(xn[j] + r * hnj);
            xr[j] = r;
            xz[j] = z;
            xn[j] = nj;
            hn[j] = hnj;
            h[j] = (1.0 - z) * nj + z * h_prev[j];
        }
    }
}

multiversion! {
    /// GRU backward, one row. `gx (3H)`: activations [r z n] in, gradients of the input
    /// projection out; writes `dgh (3H)`, the gradient of the hidden projection W_hh h + b_hh,
    /// and `dh_prev (H)` = the direct (non-GEMM) part of the gradient of h_prev.
    #[allow(clippy::too_many_arguments)]
    pub fn gru_backward(
        gx: &mut [f32],
        hn: &[f32],
        h_prev: &[f32],
        dh: &[f32],
        dh_rec: &[f32],
        dgh: &mut [f32],
        dh_prev: &mut [f32],
    ) {
        let n = hn.len();
        let (xr, rest) = gx.split_at_mut(n);
        let (xz, xn) = rest.split_at_mut(n);
        let xn = &mut xn[..n];
        let (dr_h, rest) = dgh.split_at_mut(n);
        let (dz_h, dn_h) = rest.split_at_mut(n);
        let (dz_h, dn_h) = (&mut dz_h[..n], &mut dn_h[..n]);
        let (h_prev, dh, dh_rec, dh_prev) =
            (&h_prev[..n], &dh[..n], &dh_rec[..n], &mut dh_prev[..n]);
        for j in 0..n {
            let (r, z, nj) = (xr[j], xz[j], xn[j]);
            let g = dh[j] + dh_rec[j];
            let dn = g * (1.0 - z) * (1.0 - nj * nj);
            let dz = g * (h_prev[j] - nj) * z * (1.0 - z);
            let dr = dn * hn[j] * r * (1.0 - r);
            xr[j] = dr;
            xz[j] = dz;
            xn[j] = dn;
            dr_h[j] = dr;
            dz_h[j] = dz;
            dn_h[j] = dn * r;
            dh_prev[j] = g * z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::simd::{fused, level, Level};

    fn filled(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 3.0 * ((i * 7919 + seed * 104_729) as f32 * 0.618).sin())
            .collect()
    }

    #[test]
    fn lstm_forward_add_is_lstm_forward_of_the_sum() {
        // Below one vector (padded), whole vectors, and tails that overlap the vector before.
        for h in [1, 9, 16, 25, 37, 200] {
            let (gates, add, c_prev) = (filled(4 * h, 1), filled(4 * h, 2), filled(h, 3));
            let mut summed: Vec<f32> = gates.iter().zip(&add).map(|(g, a)| g + a).collect();
            let (mut c1, mut h1) = (vec![0.0; h], vec![0.0; h]);
            lstm_forward(&mut summed, &c_prev, &mut c1, &mut h1);
            let mut fused = gates.clone();
            let (mut c2, mut h2) = (vec![0.0; h], vec![0.0; h]);
            lstm_forward_add(&mut fused, &add, &c_prev, &mut c2, &mut h2);
            assert_eq!(summed, fused, "activations, H = {h}");
            assert_eq!((&c1, &h1), (&c2, &h2), "state, H = {h}");
            // The level's activations (the fused ones where the CPU has FMA), bit for bit: on
            // these inputs the plain and fused versions differ somewhere.
            type Act = fn(f32) -> f32;
            let (sig, th): (Act, Act) = if level() == Level::Baseline {
                (sigmoid, tanh)
            } else {
                (fused::sigmoid, fused::tanh)
            };
            for j in 0..h {
                let pre = |k: usize| gates[k * h + j] + add[k * h + j];
                let c = sig(pre(1)) * c_prev[j] + sig(pre(0)) * th(pre(2));
                assert_eq!((c2[j], h2[j]), (c, sig(pre(3)) * th(c)), "[{j}], H = {h}");
            }
            // And the values are the LSTM's: c = f c_prev + i g, h = o tanh(c).
            for j in 0..h {
                let pre = |k: usize| f64::from(gates[k * h + j] + add[k * h + j]);
                let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
                let c = sig(pre(1)) * f64::from(c_prev[j]) + sig(pre(0)) * pre(2).tanh();
                assert!((f64::from(c2[j]) - c).abs() < 1e-5, "c[{j}], H = {h}");
                let hv = sig(pre(3)) * c.tanh();
                assert!((f64::from(h2[j]) - hv).abs() < 1e-5, "h[{j}], H = {h}");
            }
        }
    }
}
