//! Finite-difference checks of the encoder's backward pass ([`RecurrentStack`]): every
//! weight, the input and the initial state, through two layers of each smooth cell, with one
//! and two directions, the final state's gradient flowing in. (The language model's checks, in
//! `crate::lm`, cover token input, the per-token projection and dropout.)

use super::params::fill_uniform;
use super::{CellKind, RecurrentStack, StackConfig, State};

const B: usize = 2;
const T: usize = 3;
const I: usize = 3;

/// Weights of the loss `L = Σ w_out · outputs + Σ w_fin · final state`.
fn weights(n: usize, seed: u64) -> Vec<f32> {
    let mut w = vec![0.0; n];
    fill_uniform(&mut w, seed, 1.0);
    w
}

struct Case {
    stack: RecurrentStack,
    x: Vec<f32>,
    /// The initial state: h, and c for LSTM (empty otherwise).
    h0: Vec<f32>,
    c0: Vec<f32>,
    w_out: Vec<f32>,
    w_fin: State,
}

impl Case {
    fn new(cell: CellKind, bidirectional: bool) -> Self {
        let mut cfg = StackConfig::new(cell, I, 4, 2);
        cfg.bidirectional = bidirectional;
        let mut stack = RecurrentStack::new(cfg.clone(), 0).expect("valid config");
        fill_uniform(stack.params_mut().values_mut(), 1, 0.5);
        let n_state = cfg.zero_state(B).h.len();
        let w_out = weights(B * T * cfg.directions() * 4, 2);
        let c0 = if cell.has_cell_state() {
            weights(n_state, 4)
        } else {
            Vec::new()
        };
        let w_fin = State {
            batch: B,
            h: weights(n_state, 5),
            c: cell.has_cell_state().then(|| weights(n_state, 6)),
        };
        Case {
            stack,
            x: weights(B * T * I, 7),
            h0: weights(n_state, 3),
            c0,
            w_out,
            w_fin,
        }
    }

    fn state(&self) -> State {
        State {
            batch: B,
            h: self.h0.clone(),
            c: (!self.c0.is_empty()).then(|| self.c0.clone()),
        }
    }

    fn loss(&mut self) -> f64 {
        let state = self.state();
        let (out, fin) = self
            .stack
            .forward(&self.x, B, T, Some(&state), false)
            .expect("valid");
        let dot = |a: &[f32], b: &[f32]| -> f64 {
            a.iter().zip(b).map(|(&p, &q)| p as f64 * q as f64).sum()
        };
        let c = match (&fin.c, &self.w_fin.c) {
            (Some(c), Some(w)) => dot(c, w),
            _ => 0.0,
        };
        dot(&out, &self.w_out) + dot(&fin.h, &self.w_fin.h) + c
    }
}

/// Central differences against `analytic`, perturbing what `value` points at.
fn check(
    case: &mut Case,
    what: &str,
    analytic: &[f32],
    value: impl Fn(&mut Case, usize) -> &mut f32,
) {
    let eps = 1e-2f32;
    for (k, &a) in analytic.iter().enumerate() {
        let p0 = *value(case, k);
        *value(case, k) = p0 + eps;
        let up = case.loss();
        *value(case, k) = p0 - eps;
        let down = case.loss();
        *value(case, k) = p0;
        let fd = (up - down) / (2.0 * eps as f64);
        let err = (fd - a as f64).abs() / (2e-3 + (a as f64).abs());
        assert!(err < 2e-2, "{what}[{k}]: analytic {a} vs fd {fd}");
    }
    assert!(
        analytic.iter().any(|&g| g.abs() > 1e-2),
        "{what}: all near zero"
    );
}

/// (rnn_relu is left out: at random weights some pre-activation sits within eps of ReLU's
/// kink; its kernel is checked through the language model.)
#[test]
fn stack_gradients_match_finite_differences() {
    for cell in [CellKind::RnnTanh, CellKind::Lstm, CellKind::Gru] {
        for bidirectional in [false, true] {
            let mut case = Case::new(cell, bidirectional);
            case.loss();
            let g = case
                .stack
                .backward(&case.w_out.clone(), Some(&case.w_fin.clone()))
                .expect("after forward");
            let dw = case.stack.params().grads().to_vec();
            let name = format!("{cell:?} bidirectional={bidirectional}");
            check(&mut case, &format!("{name} weights"), &dw, |c, k| {
                &mut c.stack.params_mut().values_mut()[k]
            });
            check(&mut case, &format!("{name} x"), &g.dx, |c, k| &mut c.x[k]);
            check(&mut case, &format!("{name} h0"), &g.d_state0.h, |c, k| {
                &mut c.h0[k]
            });
            if let Some(dc) = &g.d_state0.c {
                check(&mut case, &format!("{name} c0"), dc, |c, k| &mut c.c0[k]);
            }
        }
    }
}
