//! The sequence classifier: embedding -> the recurrent encoder over padded batches ([`Stack`]
//! with lengths) -> pooling over each row's real tokens ([`crate::nn::pooling`]) -> dropout
//! -> linear -> mean softmax cross-entropy over the batch. Composed, not copied: the encoder,
//! embedding, decoder, dropout, optimizer step and clipping are the shared pieces; this file
//! wires them, all tensors in one [`Params`]. Spec: `reference/classifier.py`
//! (`classifier_forward`, `classifier_backward`, `classifier_loss_and_grads`,
//! `classifier_saliency`).
//!
//! Batches arrive batch-first, `ids (B, T)` with `lengths (B)` in 1..=T; the id at a padded
//! position is never read. Inside everything is time-major, as in the spec. Dropout (in
//! training) draws the encoder's masks between layers first, then one (B, D*H) mask on the
//! pooled vector, as the spec does (from the engine's own generator: other masks).

use std::ops::Range;

use crate::error::{CoreError, Result};
use crate::nn::cell::CellKind;
use crate::nn::dropout::{self, Rng};
use crate::nn::params::{split_two, Layout, Params};
use crate::nn::pooling::{self, AttentionGrads, AttentionWeights, Pooling};
use crate::nn::stack::{Stack, StackConfig, StackInput};
use crate::nn::{checks, decoder, embedding, grow};
use crate::runtime::threads;
use crate::train::steps::batch_steps;
use crate::train::{Clip, Optimizer};

/// What to build (the keyword arguments of `ClassifierEngine`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierConfig {
    pub vocab_size: usize,
    pub num_classes: usize,
    pub cell: CellKind,
    pub embed_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub bidirectional: bool,
    pub pooling: Pooling,
    /// A of attention pooling (checked > 0 whatever the pooling; used by attention only).
    pub attention_size: usize,
    /// Dropout probability between layers and on the pooled vector, in training.
    pub dropout: f32,
    /// Dropout probability on the embedded tokens (each feature), in training.
    pub embedding_dropout: f32,
    /// Seeds the dropout generator (initial weights come from the caller).
    pub seed: u64,
}

impl ClassifierConfig {
    /// Check every field; the error names the field and what was expected.
    pub fn validate(&self) -> Result<()> {
        checks::positive(&[
            ("vocab_size", self.vocab_size),
            ("num_classes", self.num_classes),
            ("embed_size", self.embed_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
            ("attention_size", self.attention_size),
        ])?;
        checks::fits_u32("vocab_size", self.vocab_size)?;
        checks::fits_u32("num_classes", self.num_classes)?;
        checks::dropout(self.dropout)?;
        checks::dropout_named("embedding_dropout", self.embedding_dropout)
    }

    /// F = D*H, the width of the encoder's output and of the pooled vector.
    pub fn features(&self) -> usize {
        self.hidden_size
            .saturating_mul(if self.bidirectional { 2 } else { 1 })
    }

    fn stack(&self) -> StackConfig {
        let mut s = StackConfig::new(
            self.cell,
            self.embed_size,
            self.hidden_size,
            self.num_layers,
        );
        s.bidirectional = self.bidirectional;
        s.dropout = self.dropout;
        s
    }
}

/// A padded batch: `ids (B, T)` batch-first (B = `lengths.len()`), row b's first lengths[b]
/// ids real, the rest padding (any value, never read).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub ids: &'a [u32],
    pub lengths: &'a [usize],
    pub time: usize,
}

impl Batch<'_> {
    pub fn batch(&self) -> usize {
        self.lengths.len()
    }
}

/// A padded batch with a class label per row.
#[derive(Clone, Copy, Debug)]
pub struct Labeled<'a> {
    pub batch: Batch<'a>,
    pub labels: &'a [u32],
}

/// What [`Classifier::saliency`] returns, time-major, 0 at padded steps (the spec's
/// `Saliency`).
#[derive(Clone, Debug, PartialEq)]
pub struct Saliency {
    /// (B) the class explained.
    pub target: Vec<u32>,
    /// (B, C).
    pub logits: Vec<f32>,
    /// (T, B, E): d logits[b, target[b]] / d (embedding of token t of row b).
    pub grad: Vec<f32>,
    /// (T, B): the L2 norm of `grad` over E.
    pub saliency: Vec<f32>,
    /// (T, B): sum over E of grad * embedding.
    pub grad_x_input: Vec<f32>,
    /// (T, B, D*H): the top layer's output.
    pub activations: Vec<f32>,
}

/// Buffers reused from call to call (grown, never shrunk).
#[derive(Default)]
struct Workspace {
    /// (T*B) time-major ids, 0 at padded positions; (B) lengths; (B) labels.
    ids: Vec<u32>,
    lengths: Vec<usize>,
    labels: Vec<u32>,
    /// (T*B, E) the embedded input (after embedding dropout), its dropout mask, and the
    /// gradient reaching the embedding table.
    x: Vec<f32>,
    x_mask: Vec<f32>,
    d_x: Vec<f32>,
    /// (T*B, F) the encoder's top outputs, and their gradient.
    top: Vec<f32>,
    d_top: Vec<f32>,
    /// (B, F) the pooled vector, after dropout, its gradient, the dropout mask; the picked
    /// steps of last / max pooling.
    pooled: Vec<f32>,
    dropped: Vec<f32>,
    d_pooled: Vec<f32>,
    mask: Vec<f32>,
    index: Vec<usize>,
    /// Attention pooling: u (T*B, A), weights (T*B), d_pre (T*B, A).
    u: Vec<f32>,
    att: Vec<f32>,
    d_pre: Vec<f32>,
    /// (B, C) logits, then their gradient; (B) per-row losses.
    logits: Vec<f32>,
    row_loss: Vec<f64>,
}

/// The pooling and where its parameters live.
enum Pool {
    Last,
    Mean,
    Max,
    /// pool.weight, pool.bias, pool.v.
    Attention([Range<usize>; 3]),
}

/// The classifier: config, parameters (and gradients), the encoder, the dropout generator.
pub struct Classifier {
    cfg: ClassifierConfig,
    params: Params,
    embedding: Range<usize>,
    stack: Stack,
    pool: Pool,
    cls_w: Range<usize>,
    cls_b: Range<usize>,
    rng: Rng,
    ws: Workspace,
}

impl Classifier {
    /// The model with every weight zero (the caller sets them: Python draws initial
    /// weights). Parameters in canonical order: embedding.weight, rnn.* (the encoder's
    /// order), pool.weight, pool.bias, pool.v (attention only), classifier.weight,
    /// classifier.bias.
    pub fn new(cfg: ClassifierConfig) -> Result<Self> {
        cfg.validate()?;
        let f = cfg.features();
        let a = cfg.attention_size;
        let count = (|| {
            let pool = match cfg.pooling {
                Pooling::Attention => a.checked_mul(f)?.checked_add(a.checked_mul(2)?)?,
                _ => 0,
            };
            cfg.vocab_size
                .checked_mul(cfg.embed_size)?
                .checked_add(cfg.stack().param_count()?)?
                .checked_add(pool)?
                .checked_add(
                    cfg.num_classes
                        .checked_mul(f)?
                        .checked_add(cfg.num_classes)?,
                )
        })();
        // Weights and gradients, before any of the layout is built.
        checks::allocatable(
            "SequenceClassifier parameters (weights and gradients)",
            count.and_then(|n| n.checked_mul(2)),
        )?;
        let mut layout = Layout::default();
        let embedding = layout.push("embedding.weight", &[cfg.vocab_size, cfg.embed_size]);
        let stack = Stack::new(cfg.stack(), &mut layout, "rnn.")?;
        let pool = match cfg.pooling {
            Pooling::Last => Pool::Last,
            Pooling::Mean => Pool::Mean,
            Pooling::Max => Pool::Max,
            Pooling::Attention => Pool::Attention([
                layout.push("pool.weight", &[a, f]),
                layout.push("pool.bias", &[a]),
                layout.push("pool.v", &[a]),
            ]),
        };
        let cls_w = layout.push("classifier.weight", &[cfg.num_classes, f]);
        let cls_b = layout.push("classifier.bias", &[cfg.num_classes]);
        Ok(Classifier {
            rng: Rng::new(cfg.seed),
            cfg,
            params: Params::zeros(layout),
            embedding,
            stack,
            pool,
            cls_w,
            cls_b,
            ws: Workspace::default(),
        })
    }

    pub fn config(&self) -> &ClassifierConfig {
        &self.cfg
    }

    /// The weights, and the gradients of the last backward.
    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }

    /// The dropout generator's state.
    pub fn rng_state(&self) -> [u64; 4] {
        self.rng.state()
    }

    /// Restore the dropout generator (the all-zero state is rejected).
    pub fn set_rng_state(&mut self, s: [u64; 4]) -> Result<()> {
        self.rng = Rng::from_state(s)?;
        Ok(())
    }

    /// Logits (B, C) of a batch, without dropout.
    pub fn logits(&mut self, batch: Batch<'_>) -> Result<Vec<f32>> {
        self.load(batch, None, "labels")?;
        let (b, t) = (batch.batch(), batch.time);
        threads::install(|| {
            self.forward(t, b, false)?;
            Ok(self.ws.logits[..b * self.cfg.num_classes].to_vec())
        })?
    }

    /// Mean cross-entropy (nats) of the batch against its labels, with every gradient
    /// (replacing the previous ones); `train` applies dropout.
    pub fn loss_and_grads(&mut self, data: Labeled<'_>, train: bool) -> Result<f64> {
        self.load(data.batch, Some(data.labels), "labels")?;
        let (b, t) = (data.batch.batch(), data.batch.time);
        threads::install(|| {
            self.forward(t, b, train)?;
            let loss = self.loss_from_logits(b, true);
            self.backward(t, b, train)?;
            Ok(loss)
        })?
    }

    /// Total cross-entropy (nats, summed in f64 over all rows), the row count and the logits
    /// (sum B, C) of `batches`, without dropout or gradients.
    pub fn evaluate(&mut self, batches: &[Labeled<'_>]) -> Result<(f64, usize, Vec<f32>)> {
        let c = self.cfg.num_classes;
        let (mut total, mut rows, mut all) = (0.0f64, 0usize, Vec::new());
        for data in batches {
            self.load(data.batch, Some(data.labels), "labels")?;
            let (b, t) = (data.batch.batch(), data.batch.time);
            let loss = threads::install(|| -> Result<f64> {
                self.forward(t, b, false)?;
                all.extend_from_slice(&self.ws.logits[..b * c]);
                Ok(self.loss_from_logits(b, false) * b as f64)
            })??;
            total += loss;
            rows += b;
        }
        Ok((total, rows, all))
    }

    /// The sensitivity of each row's `target` logit (its predicted class when None, the
    /// lowest index on ties) to each token's embedding, without dropout (spec:
    /// `classifier_saliency`). Leaves the gradients of that score in [`Classifier::params`].
    pub fn saliency(&mut self, batch: Batch<'_>, target: Option<&[u32]>) -> Result<Saliency> {
        let (b, t, c, e) = (
            batch.batch(),
            batch.time,
            self.cfg.num_classes,
            self.cfg.embed_size,
        );
        self.load(batch, target, "target")?;
        let f = self.cfg.features();
        threads::install(|| {
            self.forward(t, b, false)?;
            let logits = self.ws.logits[..b * c].to_vec();
            let target: Vec<u32> = match target {
                Some(tg) => tg.to_vec(),
                None => logits
                    .chunks_exact(c)
                    .map(|row| {
                        let best =
                            row.iter()
                                .enumerate()
                                .fold(0, |best, (j, &v)| if v > row[best] { j } else { best });
                        best as u32
                    })
                    .collect(),
            };
            let d_logits = &mut self.ws.logits[..b * c];
            d_logits.fill(0.0);
            for (row, &k) in d_logits.chunks_exact_mut(c).zip(&target) {
                row[k as usize] = 1.0;
            }
            self.backward(t, b, false)?;
            let grad = self.stack.input_grads(t, b).to_vec();
            let x = &self.ws.x[..t * b * e];
            let saliency = grad
                .chunks_exact(e)
                .map(|g| g.iter().map(|v| v * v).sum::<f32>().sqrt())
                .collect();
            let grad_x_input = grad
                .chunks_exact(e)
                .zip(x.chunks_exact(e))
                .map(|(g, xr)| g.iter().zip(xr).map(|(p, q)| p * q).sum())
                .collect();
            Ok(Saliency {
                target,
                logits,
                grad,
                saliency,
                grad_x_input,
                activations: self.ws.top[..t * b * f].to_vec(),
            })
        })?
    }

    /// Check a batch (and its labels, or targets: errors name `labels_name`) and load it
    /// time-major into the workspace.
    fn load(&mut self, batch: Batch<'_>, labels: Option<&[u32]>, labels_name: &str) -> Result<()> {
        let (b, t) = (batch.batch(), batch.time);
        if b == 0 || t == 0 {
            return Err(CoreError::invalid(
                "ids",
                "expected at least one row and one step",
            ));
        }
        if batch.ids.len() != b * t {
            return Err(CoreError::invalid(
                "ids",
                format!("expected {b} x {t} ids, got {}", batch.ids.len()),
            ));
        }
        if let Some(l) = batch.lengths.iter().find(|&&l| l == 0 || l > t) {
            return Err(CoreError::invalid(
                "lengths",
                format!("expected lengths in 1..={t} (the padded number of steps), got {l}"),
            ));
        }
        let v = self.cfg.vocab_size;
        let ws = &mut self.ws;
        grow(&mut ws.ids, t * b);
        for (bb, (row, &n)) in batch.ids.chunks_exact(t).zip(batch.lengths).enumerate() {
            for (tt, &id) in row.iter().enumerate() {
                if tt < n && id as usize >= v {
                    return Err(CoreError::invalid(
                        "ids",
                        format!("token id {id} is out of range for a vocabulary of {v}"),
                    ));
                }
                ws.ids[tt * b + bb] = if tt < n { id } else { 0 };
            }
        }
        ws.lengths.clear();
        ws.lengths.extend_from_slice(batch.lengths);
        if let Some(labels) = labels {
            let c = self.cfg.num_classes;
            if labels.len() != b {
                return Err(CoreError::invalid(
                    labels_name,
                    format!("expected {b} class indices, got {}", labels.len()),
                ));
            }
            if let Some(l) = labels.iter().find(|&&l| l as usize >= c) {
                return Err(CoreError::invalid(
                    labels_name,
                    format!("expected class indices in 0..{c}, got {l}"),
                ));
            }
            ws.labels.clear();
            ws.labels.extend_from_slice(labels);
        }
        Ok(())
    }

    /// Forward of the loaded batch; logits (B, C) land in ws.logits.
    fn forward(&mut self, t: usize, b: usize, train: bool) -> Result<()> {
        let (e, f, c) = (
            self.cfg.embed_size,
            self.cfg.features(),
            self.cfg.num_classes,
        );
        let (tb, bf) = (t * b, b * f);
        let drop = train && self.cfg.dropout > 0.0;
        let Classifier {
            cfg,
            params,
            embedding,
            stack,
            pool,
            cls_w,
            cls_b,
            rng,
            ws,
        } = self;
        let values = params.values();
        grow(&mut ws.x, tb * e);
        embedding::forward(&values[embedding.clone()], e, &ws.ids[..tb], &mut ws.x);
        if train && cfg.embedding_dropout > 0.0 {
            // Drawn first, then the stack's masks, then the pooled vector's (the spec's order).
            grow(&mut ws.x_mask, tb * e);
            dropout::fill_mask(rng, cfg.embedding_dropout, &mut ws.x_mask[..tb * e]);
            dropout::apply_in_place(&mut ws.x[..tb * e], &ws.x_mask[..tb * e]);
        }
        let x = StackInput::Features(&ws.x[..tb * e]);
        let lens = &ws.lengths[..b];
        stack.forward(
            values,
            x,
            t,
            b,
            Some(lens),
            None,
            train.then_some(&mut *rng),
        )?;
        grow(&mut ws.top, tb * f);
        let top = &mut ws.top[..tb * f];
        stack.top_outputs(top);
        grow(&mut ws.pooled, bf);
        grow(&mut ws.index, bf);
        let pooled = &mut ws.pooled[..bf];
        let dirs = cfg.stack().directions();
        match pool {
            Pool::Last => pooling::last_forward(top, b, f, lens, dirs, &mut ws.index, pooled),
            Pool::Max => pooling::max_forward(top, b, f, lens, &mut ws.index, pooled),
            Pool::Mean => pooling::mean_forward(top, b, f, lens, pooled),
            Pool::Attention(r) => {
                let a = cfg.attention_size;
                grow(&mut ws.u, tb * a);
                grow(&mut ws.att, tb);
                let p = attention_weights(values, r);
                pooling::attention_forward(top, b, f, lens, p, &mut ws.u, &mut ws.att, pooled);
            }
        }
        let mut h: &[f32] = pooled;
        if drop {
            grow(&mut ws.mask, bf);
            grow(&mut ws.dropped, bf);
            let mask = &mut ws.mask[..bf];
            dropout::fill_mask(rng, cfg.dropout, mask);
            dropout::apply(h, mask, &mut ws.dropped[..bf]);
            h = &ws.dropped[..bf];
        }
        grow(&mut ws.logits, b * c);
        decoder::logits(
            h,
            b,
            f,
            &values[cls_w.clone()],
            &values[cls_b.clone()],
            &mut ws.logits,
        );
        Ok(())
    }

    /// Mean loss of the B rows of ws.logits against ws.labels; with `grad`, ws.logits
    /// becomes dL/dlogits.
    fn loss_from_logits(&mut self, b: usize, grad: bool) -> f64 {
        let c = self.cfg.num_classes;
        grow(&mut self.ws.row_loss, b);
        let scale = grad.then_some(1.0 / b as f32);
        decoder::cross_entropy(
            &mut self.ws.logits,
            c,
            &self.ws.labels[..b],
            &mut self.ws.row_loss,
            scale,
        );
        self.ws.row_loss[..b].iter().sum::<f64>() / b as f64
    }

    /// Backward from dL/dlogits in ws.logits down to the embedding table; replaces the
    /// gradients. The encoder's input gradient stays in [`Stack::input_grads`].
    fn backward(&mut self, t: usize, b: usize, train: bool) -> Result<()> {
        let (e, f, c) = (
            self.cfg.embed_size,
            self.cfg.features(),
            self.cfg.num_classes,
        );
        let (tb, bf) = (t * b, b * f);
        let drop = train && self.cfg.dropout > 0.0;
        let Classifier {
            cfg,
            params,
            embedding,
            stack,
            pool,
            cls_w,
            cls_b,
            ws,
            ..
        } = self;
        params.zero_grads();
        let (values, grads) = params.values_and_grads();
        let values: &[f32] = values;
        let d_logits = &ws.logits[..b * c];
        {
            let h = if drop {
                &ws.dropped[..bf]
            } else {
                &ws.pooled[..bf]
            };
            let (dw, db) = split_two(grads, cls_w.clone(), cls_b.clone());
            decoder::backward_weights(d_logits, b, c, h, f, dw, db);
        }
        grow(&mut ws.d_pooled, bf);
        let dh = &mut ws.d_pooled[..bf];
        decoder::backward_input(d_logits, b, c, &values[cls_w.clone()], f, dh);
        if drop {
            dropout::apply_in_place(dh, &ws.mask[..bf]);
        }
        grow(&mut ws.d_top, tb * f);
        let d_top = &mut ws.d_top[..tb * f];
        let lens = &ws.lengths[..b];
        match pool {
            Pool::Last | Pool::Max => pooling::pick_backward(dh, b, f, &ws.index[..bf], d_top),
            Pool::Mean => pooling::mean_backward(dh, b, f, lens, d_top),
            Pool::Attention(r) => {
                let a = cfg.attention_size;
                grow(&mut ws.d_pre, tb * a);
                let p = attention_weights(values, r);
                let (gw, rest) = grads[r[0].start..r[2].end].split_at_mut(r[0].len());
                let (gb, gv) = rest.split_at_mut(r[1].len());
                let g = AttentionGrads {
                    w: gw,
                    bias: gb,
                    v: gv,
                };
                pooling::attention_backward(
                    dh,
                    &ws.top[..tb * f],
                    b,
                    f,
                    p,
                    &ws.u[..tb * a],
                    &ws.att[..tb],
                    &mut ws.d_pre,
                    d_top,
                    g,
                );
            }
        }
        stack.set_top_grads(d_top);
        let x = StackInput::Features(&ws.x[..tb * e]);
        stack.backward(values, grads, x, None)?;
        let mut d_x = stack.input_grads(t, b);
        if train && cfg.embedding_dropout > 0.0 {
            grow(&mut ws.d_x, tb * e);
            ws.d_x[..tb * e].copy_from_slice(d_x);
            dropout::apply_in_place(&mut ws.d_x[..tb * e], &ws.x_mask[..tb * e]);
            d_x = &ws.d_x[..tb * e];
        }
        embedding::backward(&mut grads[embedding.clone()], e, &ws.ids[..tb], d_x);
        Ok(())
    }
}

/// The attention pooling's weights at their ranges [weight, bias, v].
fn attention_weights<'a>(values: &'a [f32], r: &[Range<usize>; 3]) -> AttentionWeights<'a> {
    AttentionWeights {
        w: &values[r[0].clone()],
        bias: &values[r[1].clone()],
        v: &values[r[2].clone()],
    }
}

/// Train `model` one optimizer step per batch ([`batch_steps`]); each step's loss and
/// gradient norm before clipping.
pub fn train_steps(
    model: &mut Classifier,
    opt: &mut Optimizer,
    batches: &[Labeled<'_>],
    lrs: &[f32],
    clip: Clip,
    between: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let params_of: fn(&mut Classifier) -> &mut Params = Classifier::params_mut;
    let steps = batch_steps(
        model,
        params_of,
        opt,
        batches,
        lrs,
        clip,
        between,
        |m, d| Ok((m.loss_and_grads(d, true)?, 0)),
    )?;
    Ok((steps.losses, steps.norms))
}
