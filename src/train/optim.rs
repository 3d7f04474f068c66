//! SGD (momentum, Nesterov, weight decay), Adam and AdamW, exactly as torch.optim, each a
//! single pass over the flat parameter, gradient and moment buffers. Spec:
//! `reference/optim.py::sgd_step` and `adam_step`.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::{CoreError, Result};
use crate::runtime::simd::multiversion;

/// Which optimizer, with torch.optim's hyper-parameters (the learning rate is per step).
#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerSpec {
    Sgd {
        momentum: f32,
        nesterov: bool,
        weight_decay: f32,
    },
    /// Adam; weight_decay is L2 added to the gradient.
    Adam {
        betas: (f32, f32),
        eps: f32,
        weight_decay: f32,
    },
    /// AdamW; weight_decay is decoupled (parameters shrink by lr * weight_decay).
    AdamW {
        betas: (f32, f32),
        eps: f32,
        weight_decay: f32,
    },
}

impl OptimizerSpec {
    /// Adam with torch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn adam() -> Self {
        OptimizerSpec::Adam {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    fn validate(&self) -> Result<()> {
        let nonneg = |name: &str, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(CoreError::invalid(
                    name,
                    format!("expected a finite float >= 0, got {v}"),
                ))
            }
        };
        match *self {
            OptimizerSpec::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => {
                nonneg("momentum", momentum)?;
                nonneg("weight_decay", weight_decay)?;
                if nesterov && momentum <= 0.0 {
                    return Err(CoreError::invalid("nesterov", "requires momentum > 0"));
                }
            }
            OptimizerSpec::Adam {
                betas,
                eps,
                weight_decay,
            }
            | OptimizerSpec::AdamW {
                betas,
                eps,
                weight_decay,
            } => {
                for b in [betas.0, betas.1] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(CoreError::invalid(
                            "betas",
                            format!(
                                "expected two floats in [0, 1), got ({}, {})",
                                betas.0, betas.1
                            ),
                        ));
                    }
                }
                nonneg("eps", eps)?;
                nonneg("weight_decay", weight_decay)?;
            }
        }
        Ok(())
    }
}

/// Elements per parallel task in the update loops.
const CHUNK: usize = 16_384;

/// An optimizer and its state over one flat parameter buffer.
#[derive(Clone, Debug)]
pub struct Optimizer {
    spec: OptimizerSpec,
    step: u64,
    /// exp_avg (Adam) or momentum_buffer (SGD).
    m: Vec<f32>,
    /// exp_avg_sq (Adam).
    v: Vec<f32>,
    /// Ranges of the flat buffer that never change (frozen tensors, torch's
    /// `requires_grad=False`), and room for their values during a step.
    frozen: Vec<Range<usize>>,
    kept: Vec<f32>,
}

impl Optimizer {
    /// A fresh optimizer for `n` parameters.
    pub fn new(spec: OptimizerSpec, n: usize) -> Result<Self> {
        spec.validate()?;
        let (m, v) = match spec {
            OptimizerSpec::Sgd { momentum, .. } => {
                (if momentum > 0.0 { vec![0.0; n] } else { vec![] }, vec![])
            }
            _ => (vec![0.0; n], vec![0.0; n]),
        };
        Ok(Optimizer {
            spec,
            step: 0,
            m,
            v,
            frozen: Vec::new(),
            kept: Vec::new(),
        })
    }

    /// Freeze the parameters in `ranges` of a buffer of `n` values: their gradients count
    /// for nothing (not in the norm, not clipped) and [`Optimizer::step`] leaves them as
    /// they are, weight decay included, as torch does for a tensor without gradient.
    pub fn freeze(&mut self, ranges: Vec<Range<usize>>, n: usize) -> Result<()> {
        if let Some(r) = ranges.iter().find(|r| r.start > r.end || r.end > n) {
            return Err(CoreError::invalid(
                "frozen",
                format!("range {r:?} is outside the {n} parameters"),
            ));
        }
        self.kept = vec![0.0; ranges.iter().map(|r| r.len()).sum()];
        self.frozen = ranges;
        Ok(())
    }

    /// Zero the gradients of the frozen ranges (before the norm and clipping).
    pub fn mask_frozen(&self, grads: &mut [f32]) {
        for r in &self.frozen {
            grads[r.clone()].fill(0.0);
        }
    }

    pub fn spec(&self) -> &OptimizerSpec {
        &self.spec
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The state buffers by their torch.optim names (flat, parameter layout).
    pub fn buffers(&self) -> Vec<(&'static str, &[f32])> {
        match self.spec {
            OptimizerSpec::Sgd { .. } if self.m.is_empty() => vec![],
            OptimizerSpec::Sgd { .. } => vec![("momentum_buffer", &self.m)],
            _ => vec![("exp_avg", &self.m), ("exp_avg_sq", &self.v)],
        }
    }

    /// Restore the step count and the buffers named as in [`Optimizer::buffers`].
    pub fn load(&mut self, step: u64, buffers: &[(&str, &[f32])]) -> Result<()> {
        let n = self.m.len();
        let want: Vec<&str> = self.buffers().iter().map(|(k, _)| *k).collect();
        for name in &want {
            let Some((_, data)) = buffers.iter().find(|(k, _)| k == name) else {
                return Err(CoreError::invalid("state", format!("missing {name}")));
            };
            if data.len() != n {
                return Err(CoreError::invalid(
                    "state",
                    format!("{name}: expected {n} values, got {}", data.len()),
                ));
            }
        }
        for (name, data) in buffers {
            match *name {
                "momentum_buffer" | "exp_avg" if want.contains(name) => {
                    self.m.copy_from_slice(data)
                }
                "exp_avg_sq" if want.contains(name) => self.v.copy_from_slice(data),
                other => {
                    return Err(CoreError::invalid(
                        "state",
                        format!(
                            "unexpected buffer {other:?} for this optimizer (expected {want:?})"
                        ),
                    ))
                }
            }
        }
        self.step = step;
        Ok(())
    }

    /// One update with learning rate `lr` (run inside the rnnrs thread pool); frozen ranges
    /// keep their values.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        let mut at = 0;
        for r in &self.frozen {
            self.kept[at..at + r.len()].copy_from_slice(&params[r.clone()]);
            at += r.len();
        }
        self.update(params, grads, lr);
        let mut at = 0;
        for r in &self.frozen {
            params[r.clone()].copy_from_slice(&self.kept[at..at + r.len()]);
            at += r.len();
        }
    }

    fn update(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        self.step += 1;
        let step = self.step;
        match self.spec {
            OptimizerSpec::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => {
                if momentum == 0.0 {
                    params
                        .par_chunks_mut(CHUNK)
                        .zip(grads.par_chunks(CHUNK))
                        .for_each(|(p, g)| sgd_update(p, g, lr, weight_decay));
                } else {
                    let h = MomentumStep {
                        lr,
                        momentum,
                        nesterov,
                        weight_decay,
                        first: step == 1,
                    };
                    params
                        .par_chunks_mut(CHUNK)
                        .zip(grads.par_chunks(CHUNK))
                        .zip(self.m.par_chunks_mut(CHUNK))
                        .for_each(|((p, g), m)| momentum_update(p, g, m, h));
                }
            }
            OptimizerSpec::Adam {
                betas,
                eps,
                weight_decay,
            }
            | OptimizerSpec::AdamW {
                betas,
                eps,
                weight_decay,
            } => {
                let (b1, b2) = betas;
                let bc1 = 1.0 - (b1 as f64).powi(step as i32);
                let bc2 = 1.0 - (b2 as f64).powi(step as i32);
                let h = AdamStep {
                    decoupled: matches!(self.spec, OptimizerSpec::AdamW { .. }),
                    weight_decay,
                    shrink: 1.0 - lr * weight_decay,
                    b2,
                    w1: 1.0 - b1,
                    w2: 1.0 - b2,
                    step_size: (lr as f64 / bc1) as f32,
                    bc2_sqrt: bc2.sqrt() as f32,
                    eps,
                };
                params
                    .par_chunks_mut(CHUNK)
                    .zip(grads.par_chunks(CHUNK))
                    .zip(self.m.par_chunks_mut(CHUNK))
                    .zip(self.v.par_chunks_mut(CHUNK))
                    .for_each(|(((p, g), m), v)| adam_update(p, g, m, v, h));
            }
        }
    }
}

multiversion! {
    /// Plain SGD on a chunk of parameters.
    fn sgd_update(p: &mut [f32], g: &[f32], lr: f32, weight_decay: f32) {
        for (p, &g) in p.iter_mut().zip(g) {
            let d = g + weight_decay * *p;
            *p -= lr * d;
        }
    }
}

/// The scalars of one SGD step with momentum.
#[derive(Clone, Copy)]
struct MomentumStep {
    lr: f32,
    momentum: f32,
    nesterov: bool,
    weight_decay: f32,
    /// The first step sets the buffer to the gradient, as torch.optim.
    first: bool,
}

multiversion! {
    /// SGD with (Nesterov) momentum on a chunk of parameters.
    fn momentum_update(p: &mut [f32], g: &[f32], m: &mut [f32], h: MomentumStep) {
        for ((p, &g), m) in p.iter_mut().zip(g).zip(m) {
            let d = if h.weight_decay != 0.0 {
                g + h.weight_decay * *p
            } else {
                g
            };
            *m = if h.first { d } else { h.momentum * *m + d };
            let u = if h.nesterov { d + h.momentum * *m } else { *m };
            *p -= h.lr * u;
        }
    }
}

/// The scalars of one Adam/AdamW step, as torch.optim computes them.
#[derive(Clone, Copy)]
struct AdamStep {
    decoupled: bool,
    weight_decay: f32,
    shrink: f32,
    b2: f32,
    w1: f32,
    w2: f32,
    step_size: f32,
    bc2_sqrt: f32,
    eps: f32,
}

multiversion! {
    /// One Adam/AdamW update of a chunk of parameters (vectorized: the square root and the
    /// division dominate, and IEEE rounds them alike at every vector width).
    fn adam_update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: AdamStep) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            let g = if h.decoupled {
                *p *= h.shrink;
                g
            } else {
                g + h.weight_decay * *p
            };
            *m += h.w1 * (g - *m);
            *v = h.b2 * *v + h.w2 * g * g;
            let denom = v.sqrt() / h.bc2_sqrt + h.eps;
            *p -= h.step_size * *m / denom;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_first_steps_by_hand() {
        let mut opt = Optimizer::new(OptimizerSpec::adam(), 1).expect("valid");
        let mut p = [1.0f32];
        opt.step(&mut p, &[0.5], 0.1);
        // m = 0.05, v = 0.00025; m_hat = 0.5, v_hat = 0.25: p = 1 - 0.1 * 0.5 / (0.5 + 1e-8).
        assert!((p[0] - 0.9).abs() < 1e-6, "{}", p[0]);
        opt.step(&mut p, &[-1.0], 0.1);
        let m = 0.9 * 0.05 - 0.1f64;
        let v = 0.999 * 0.00025 + 0.001 * 1.0f64;
        let want = 0.9 - 0.1 * (m / (1.0 - 0.81)) / ((v / (1.0 - 0.999f64.powi(2))).sqrt() + 1e-8);
        assert!((p[0] as f64 - want).abs() < 1e-6, "{} vs {want}", p[0]);
        assert_eq!(opt.step_count(), 2);
    }

    #[test]
    fn frozen_ranges_keep_their_values_and_others_move_as_before() {
        let spec = OptimizerSpec::AdamW {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut free = Optimizer::new(spec.clone(), 4).expect("valid");
        let mut frozen = Optimizer::new(spec, 4).expect("valid");
        frozen
            .freeze(std::iter::once(1..3).collect(), 4)
            .expect("in range");
        let (mut a, mut b) = ([1.0f32, 2.0, 3.0, 4.0], [1.0f32, 2.0, 3.0, 4.0]);
        for g in [[0.5f32, -1.0, 2.0, 0.25], [0.1, 0.2, -0.3, 0.4]] {
            let mut masked = g;
            frozen.mask_frozen(&mut masked);
            assert_eq!(masked, [g[0], 0.0, 0.0, g[3]]);
            free.step(&mut a, &g, 0.1);
            frozen.step(&mut b, &masked, 0.1);
        }
        // Weight decay would move the frozen values; they stay. The others match the run
        // without freezing (Adam works element by element).
        assert_eq!(&b[1..3], &[2.0, 3.0]);
        assert_eq!((b[0], b[3]), (a[0], a[3]));
        assert!(frozen.freeze(std::iter::once(3..5).collect(), 4).is_err());
    }

    #[test]
    fn adam_l2_versus_adamw_decoupled() {
        let spec = |w: bool| {
            let (betas, eps, weight_decay) = ((0.9, 0.999), 1e-8, 0.1);
            if w {
                OptimizerSpec::AdamW {
                    betas,
                    eps,
                    weight_decay,
                }
            } else {
                OptimizerSpec::Adam {
                    betas,
                    eps,
                    weight_decay,
                }
            }
        };
        let mut p = [2.0f32];
        Optimizer::new(spec(true), 1)
            .expect("valid")
            .step(&mut p, &[0.0], 0.5);
        // Zero gradient: only the decoupled shrink acts.
        assert!((p[0] - 2.0 * (1.0 - 0.05)).abs() < 1e-6);
        let mut p = [2.0f32];
        Optimizer::new(spec(false), 1)
            .expect("valid")
            .step(&mut p, &[0.0], 0.5);
        // L2: g = 0.2, the first Adam step moves by lr * sign(g).
        assert!((p[0] - 1.5).abs() < 1e-5, "{}", p[0]);
    }

    #[test]
    fn sgd_momentum_and_nesterov_by_hand() {
        let sgd = |nesterov| OptimizerSpec::Sgd {
            momentum: 0.9,
            nesterov,
            weight_decay: 0.0,
        };
        let mut p = [1.0f32];
        let mut opt = Optimizer::new(sgd(false), 1).expect("valid");
        opt.step(&mut p, &[1.0], 0.1); // buf = 1
        opt.step(&mut p, &[1.0], 0.1); // buf = 1.9
        assert!((p[0] - (1.0 - 0.1 - 0.19)).abs() < 1e-6);
        let mut p = [1.0f32];
        let mut opt = Optimizer::new(sgd(true), 1).expect("valid");
        opt.step(&mut p, &[1.0], 0.1); // buf = 1, update 1 + 0.9
        opt.step(&mut p, &[1.0], 0.1); // buf = 1.9, update 1 + 1.71
        assert!((p[0] - (1.0 - 0.19 - 0.271)).abs() < 1e-6);
        let mut p = [1.0f32];
        let plain = OptimizerSpec::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.5,
        };
        Optimizer::new(plain, 1)
            .expect("valid")
            .step(&mut p, &[1.0], 0.1);
        assert!((p[0] - (1.0 - 0.1 * 1.5)).abs() < 1e-6);
    }

    #[test]
    fn bad_hyper_parameters_and_state() {
        let bad = OptimizerSpec::Adam {
            betas: (1.0, 0.9),
            eps: 1e-8,
            weight_decay: 0.0,
        };
        assert!(Optimizer::new(bad, 3).is_err());
        let nesterov = OptimizerSpec::Sgd {
            momentum: 0.0,
            nesterov: true,
            weight_decay: 0.0,
        };
        assert!(Optimizer::new(nesterov, 3).is_err());
        let mut opt = Optimizer::new(OptimizerSpec::adam(), 2).expect("valid");
        assert!(opt.load(3, &[("exp_avg", &[0.0, 0.0])]).is_err());
        assert!(opt
            .load(3, &[("exp_avg", &[1.0, 2.0]), ("exp_avg_sq", &[3.0, 4.0])])
            .is_ok());
        assert_eq!(opt.step_count(), 3);
        assert_eq!(opt.buffers()[1].1, &[3.0, 4.0]);
    }
}
