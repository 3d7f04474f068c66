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

/// The masked stack ([`Stack`] with lengths, the reverse direction through the per-row
/// reverse index): finite differences of `L = Σ w_out · top outputs + Σ w_fin · final state`
/// for every weight, the input and the initial state, with ragged lengths (1, T and between)
/// and the final state's gradient flowing in.
mod masked {
    use super::weights;
    use crate::nn::params::fill_uniform;
    use crate::nn::{CellKind, Layout, Params, Stack, StackConfig, StackInput, State};

    const B: usize = 3;
    const T: usize = 4;
    const I: usize = 3;
    const LENGTHS: [usize; B] = [2, 4, 1];

    struct Masked {
        stack: Stack,
        params: Params,
        x: Vec<f32>,
        s0: State,
        w_out: Vec<f32>,
        w_fin: State,
        width: usize,
    }

    impl Masked {
        fn new(cell: CellKind, bidirectional: bool) -> Self {
            let mut cfg = StackConfig::new(cell, I, 4, 2);
            cfg.bidirectional = bidirectional;
            let mut layout = Layout::default();
            let stack = Stack::new(cfg.clone(), &mut layout, "").expect("valid");
            let mut params = Params::zeros(layout);
            fill_uniform(params.values_mut(), 1, 0.5);
            let n_state = cfg.zero_state(B).h.len();
            let lstm = cell.has_cell_state();
            let width = cfg.directions() * 4;
            Masked {
                stack,
                params,
                x: weights(T * B * I, 7),
                s0: State {
                    batch: B,
                    h: weights(n_state, 3),
                    c: lstm.then(|| weights(n_state, 4)),
                },
                w_out: weights(T * B * width, 2),
                w_fin: State {
                    batch: B,
                    h: weights(n_state, 5),
                    c: lstm.then(|| weights(n_state, 6)),
                },
                width,
            }
        }

        fn outputs(&mut self) -> (Vec<f32>, State) {
            let input = StackInput::Features(&self.x);
            let fin = self
                .stack
                .forward(
                    self.params.values(),
                    input,
                    T,
                    B,
                    Some(&LENGTHS),
                    Some(&self.s0),
                    None,
                )
                .expect("valid");
            let mut out = vec![0.0f32; T * B * self.width];
            self.stack.top_outputs(&mut out);
            (out, fin)
        }

        fn loss(&mut self) -> f64 {
            let (out, fin) = self.outputs();
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

    fn check(
        m: &mut Masked,
        what: &str,
        analytic: &[f32],
        value: impl Fn(&mut Masked, usize) -> &mut f32,
    ) {
        let eps = 1e-2f32;
        for (k, &a) in analytic.iter().enumerate() {
            let p0 = *value(m, k);
            *value(m, k) = p0 + eps;
            let up = m.loss();
            *value(m, k) = p0 - eps;
            let down = m.loss();
            *value(m, k) = p0;
            let fd = (up - down) / (2.0 * eps as f64);
            let err = (fd - a as f64).abs() / (2e-3 + (a as f64).abs());
            assert!(err < 2e-2, "{what}[{k}]: analytic {a} vs fd {fd}");
        }
        assert!(
            analytic.iter().any(|&g| g.abs() > 1e-2),
            "{what}: all near zero"
        );
    }

    #[test]
    fn masked_stack_gradients_match_finite_differences() {
        for cell in [CellKind::RnnTanh, CellKind::Lstm, CellKind::Gru] {
            for bidirectional in [false, true] {
                let mut m = Masked::new(cell, bidirectional);
                let (out, _) = m.outputs();
                // Padded steps output 0.
                for (r, row) in out.chunks_exact(m.width).enumerate() {
                    if r / B >= LENGTHS[r % B] {
                        assert!(row.iter().all(|&v| v == 0.0));
                    }
                }
                m.stack.set_top_grads(&m.w_out);
                let mut d_state = m.w_fin.clone();
                m.params.zero_grads();
                let (values, grads) = m.params.values_and_grads();
                m.stack
                    .backward(
                        values,
                        grads,
                        StackInput::Features(&m.x),
                        Some(&mut d_state),
                    )
                    .expect("after forward");
                let dw = m.params.grads().to_vec();
                let dx = m.stack.input_grads(T, B).to_vec();
                // Nothing reaches a padded input step.
                for (r, row) in dx.chunks_exact(I).enumerate() {
                    if r / B >= LENGTHS[r % B] {
                        assert!(row.iter().all(|&v| v == 0.0));
                    }
                }
                let name = format!("{cell:?} bidirectional={bidirectional}");
                check(&mut m, &format!("{name} weights"), &dw, |m, k| {
                    &mut m.params.values_mut()[k]
                });
                check(&mut m, &format!("{name} x"), &dx, |m, k| &mut m.x[k]);
                check(&mut m, &format!("{name} h0"), &d_state.h, |m, k| {
                    &mut m.s0.h[k]
                });
                if let Some(dc) = &d_state.c {
                    let dc = dc.clone();
                    check(&mut m, &format!("{name} c0"), &dc, |m, k| {
                        &mut m.s0.c.as_mut().expect("lstm")[k]
                    });
                }
            }
        }
    }
}
