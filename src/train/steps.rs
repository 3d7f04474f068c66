//! The training loop: many truncated-BPTT steps per call over a batchified token stream
//! (`train_steps` of docs/backends.md). Learning rates come in per step, so schedules stay
//! with the caller. Spec, per step: `reference/lm.py::lm_loss_and_grads`, then
//! `reference/clip.py::clip_grad_norm` / `clip_grad_value`, then `reference/optim.py::sgd_step`
//! or `adam_step`.

use super::clip;
use super::optim::Optimizer;
use crate::error::{CoreError, Result};
use crate::lm::{Model, State, Tokens};
use crate::nn::params::Params;
use crate::runtime::threads;

/// Gradient clipping applied before every optimizer step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Clip {
    /// Clip by global L2 norm (torch's clip_grad_norm_).
    pub norm: Option<f64>,
    /// Then clamp each gradient to [-value, value].
    pub value: Option<f32>,
}

/// The schedule of one `train_steps` call: step k trains on columns `starts[k]..` of the
/// stream with learning rate `lrs[k]`, zeroing the carried state first when `reset[k]`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule<'a> {
    pub starts: &'a [usize],
    pub lrs: &'a [f32],
    pub reset: &'a [bool],
    pub bptt: usize,
    pub clip: Clip,
}

/// Per-step results and the state carried out of the last step.
#[derive(Clone, Debug)]
pub struct Report {
    pub losses: Vec<f64>,
    /// Global gradient norm before clipping.
    pub grad_norms: Vec<f64>,
    pub state: State,
}

fn check(schedule: &Schedule<'_>, n: usize) -> Result<()> {
    let s = schedule.starts.len();
    if schedule.lrs.len() != s || schedule.reset.len() != s {
        return Err(CoreError::invalid(
            "lrs",
            format!(
                "starts, lrs and reset must have the same length, got {}, {} and {}",
                s,
                schedule.lrs.len(),
                schedule.reset.len()
            ),
        ));
    }
    if schedule.bptt == 0 {
        return Err(CoreError::invalid("bptt", "expected an integer > 0, got 0"));
    }
    for (k, &st) in schedule.starts.iter().enumerate() {
        if st + 1 >= n {
            return Err(CoreError::invalid(
                "starts",
                format!("starts[{k}] = {st} leaves no target in a stream of {n} columns"),
            ));
        }
    }
    check_clip_and_lrs(schedule.clip, schedule.lrs)?;
    Ok(())
}

/// One optimizer step of a training loop after its backward: the global L2 norm of `grads`
/// (returned, before clipping), a [`CoreError::NonFinite`] for step `k` when `loss` or that
/// norm is not finite (the parameters untouched), else clipping by `clip` and the optimizer
/// step with `lr`. Every model's `train_steps` ends its steps here.
#[allow(clippy::too_many_arguments)]
pub fn update(
    opt: &mut Optimizer,
    params: &mut [f32],
    grads: &mut [f32],
    loss: f64,
    clip: Clip,
    lr: f32,
    k: usize,
) -> Result<f64> {
    threads::install(|| {
        opt.mask_frozen(grads);
        let norm = clip::global_norm(grads);
        if !loss.is_finite() || !norm.is_finite() {
            return Err(CoreError::NonFinite {
                step: k as u64,
                message: format!("loss {loss}, gradient norm {norm}"),
            });
        }
        if let Some(c) = clip.norm {
            clip::clip_by_norm(grads, c, norm);
        }
        if let Some(c) = clip.value {
            clip::clip_by_value(grads, c);
        }
        opt.step(params, grads, lr);
        Ok(norm)
    })?
}

/// Per-step results of [`batch_steps`]: each step's loss and gradient norm before clipping,
/// and the units (e.g. target tokens) the steps trained on.
pub struct BatchSteps {
    pub losses: Vec<f64>,
    pub norms: Vec<f64>,
    pub units: usize,
}

/// The training loop of the models that train on a list of labelled batches (classifier,
/// tagger, seq2seq): one optimizer step per batch, in order. Before each step `between(k)`
/// runs (the bindings' Ctrl-C check; an error from it stops the loop there); `forward_backward`
/// runs batch k's forward (dropout on) and backward, leaving the gradients in the model's
/// parameters and returning (loss, units); then [`update`] clips and steps with `lrs[k]`. A
/// non-finite loss or norm stops the loop with [`CoreError::NonFinite`] before that step
/// touches the parameters. `params_of` gives the model's parameter buffer.
#[allow(clippy::too_many_arguments)]
pub fn batch_steps<M, B: Copy>(
    model: &mut M,
    params_of: fn(&mut M) -> &mut Params,
    opt: &mut Optimizer,
    batches: &[B],
    lrs: &[f32],
    clip: Clip,
    between: &mut dyn FnMut(usize) -> Result<()>,
    mut forward_backward: impl FnMut(&mut M, B) -> Result<(f64, usize)>,
) -> Result<BatchSteps> {
    if lrs.len() != batches.len() {
        return Err(CoreError::invalid(
            "lrs",
            format!(
                "expected one learning rate per batch ({}), got {}",
                batches.len(),
                lrs.len()
            ),
        ));
    }
    check_clip_and_lrs(clip, lrs)?;
    let n_params = params_of(model).len();
    if n_params != opt.buffers().first().map_or(n_params, |b| b.1.len()) {
        return Err(CoreError::invalid(
            "optimizer",
            "was configured for another model",
        ));
    }
    let mut out = BatchSteps {
        losses: Vec::with_capacity(batches.len()),
        norms: Vec::with_capacity(batches.len()),
        units: 0,
    };
    for (k, &data) in batches.iter().enumerate() {
        between(k)?;
        let (loss, units) = forward_backward(model, data)?;
        let (params, grads) = params_of(model).values_and_grads();
        out.norms
            .push(update(opt, params, grads, loss, clip, lrs[k], k)?);
        out.losses.push(loss);
        out.units += units;
    }
    Ok(out)
}

/// Check `clip` (each threshold a finite float > 0) and `lrs` (finite floats >= 0).
pub fn check_clip_and_lrs(clip: Clip, lrs: &[f32]) -> Result<()> {
    for (k, &lr) in lrs.iter().enumerate() {
        if !lr.is_finite() || lr < 0.0 {
            return Err(CoreError::invalid(
                "lrs",
                format!("lrs[{k}] = {lr}: expected a finite float >= 0"),
            ));
        }
    }
    if let Some(c) = clip.norm {
        if !c.is_finite() || c <= 0.0 {
            return Err(CoreError::invalid(
                "clip_norm",
                format!("expected a float > 0, got {c}"),
            ));
        }
    }
    if let Some(c) = clip.value {
        if !c.is_finite() || c <= 0.0 {
            return Err(CoreError::invalid(
                "clip_value",
                format!("expected a float > 0, got {c}"),
            ));
        }
    }
    Ok(())
}

/// Train `model` for `schedule.starts.len()` steps on a (batch, n) stream. Before each step
/// `between(k)` runs (the Python bindings check for Ctrl-C there); an error from it stops the
/// loop at that step boundary. A non-finite loss or gradient norm stops the loop with
/// [`CoreError::NonFinite`] before the optimizer touches the parameters of that step.
#[allow(clippy::too_many_arguments)]
pub fn train_steps(
    model: &mut Model,
    opt: &mut Optimizer,
    stream: &[u32],
    batch: usize,
    n: usize,
    schedule: Schedule<'_>,
    state: Option<State>,
    between: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Report> {
    check(&schedule, n)?;
    let n_params = model.params().len();
    if n_params != opt.buffers().first().map_or(n_params, |b| b.1.len()) {
        return Err(CoreError::invalid(
            "optimizer",
            "was configured for another model",
        ));
    }
    let steps = schedule.starts.len();
    let mut state = state.unwrap_or_else(|| model.zero_state(batch));
    let mut losses = Vec::with_capacity(steps);
    let mut grad_norms = Vec::with_capacity(steps);
    for k in 0..steps {
        between(k)?;
        let s = schedule.starts[k];
        let t = schedule.bptt.min(n - 1 - s);
        if schedule.reset[k] {
            state = model.zero_state(batch);
        }
        let x = Tokens::window(stream, batch, n, s, t)?;
        let y = Tokens::window(stream, batch, n, s + 1, t)?;
        let (loss, next) = model.loss_and_grads(x, y, Some(&state), true)?;
        let (params, grads) = model.params_mut().values_and_grads();
        let norm = update(opt, params, grads, loss, schedule.clip, schedule.lrs[k], k)?;
        losses.push(loss);
        grad_norms.push(norm);
        state = next;
    }
    Ok(Report {
        losses,
        grad_norms,
        state,
    })
}
