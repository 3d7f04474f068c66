//! The encoder-decoder with attention: token ids -> the masked (bi)directional encoder
//! ([`Stack`] over each source's real tokens) -> bridge -> decoder cells stepped with input
//! feeding -> attention -> tanh(W_c [c; h]) -> generator; the teacher-forced, label-smoothed
//! loss masked over target padding, and the whole backward. Spec: `reference/seq2seq.py`
//! (`seq2seq_shapes`, `encode`, `bridge_forward`, `decoder_step`, `seq2seq_forward`,
//! `seq2seq_loss`, `seq2seq_backward`, `encode_backward`); all tensors in one [`Params`]
//! under the spec's names, in its order.
//!
//! Batches arrive batch-first (`src (B, S)`, `tgt (B, T)` with their lengths); inside
//! everything is time-major. In training the engine's generator draws, per step, the
//! teacher-forcing coins (when the ratio is below 1: a row is fed its gold token where the
//! coin is below the ratio, else the argmax of its previous logits), then the encoder's
//! dropout masks, then one (T, B, H) mask on the attentional vectors (the spec's order, other
//! numbers).

use std::ops::Range;

use super::attention::{self, Kind};
use super::decoder;
use crate::error::{CoreError, Result};
use crate::linalg::colsum::add_colsum;
use crate::linalg::gemm::{matmul, MatRef};
use crate::nn::cell::CellKind;
use crate::nn::dropout::{self, Rng};
use crate::nn::params::{split_two, Layout, Params};
use crate::nn::recurrent::Weights;
use crate::nn::stack::{Stack, StackConfig, StackInput};
use crate::nn::{checks, grow};
use crate::runtime::simd::{multiversion, tanh};
use crate::runtime::threads;
use crate::train::steps::batch_steps;
use crate::train::{Clip, Optimizer};

/// What to build (the keyword arguments of `Seq2SeqEngine`).
#[derive(Clone, Debug, PartialEq)]
pub struct Seq2SeqConfig {
    pub source_vocab: usize,
    /// The target tokenizer's ids and the decoder's bos and eos.
    pub target_vocab: usize,
    /// Lstm or Gru.
    pub cell: CellKind,
    pub embed_size: usize,
    /// H: the decoder's width and the memory's (H/2 per encoder direction when bidirectional).
    pub hidden_size: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub bidirectional: bool,
    /// None: no attention (h~ = h).
    pub attention: Option<Kind>,
    pub attention_size: usize,
    pub input_feeding: bool,
    pub tie_target_embeddings: bool,
    pub label_smoothing: f32,
    /// Probability of feeding the gold token in training (else the model's argmax).
    pub teacher_forcing: f32,
    pub dropout: f32,
    pub bos_id: u32,
    pub eos_id: u32,
    /// Seeds the generator of dropout and teacher forcing (weights come from the caller).
    pub seed: u64,
}

impl Seq2SeqConfig {
    /// Check every field; the error names the field and what was expected.
    pub fn validate(&self) -> Result<()> {
        checks::positive(&[
            ("source_vocab", self.source_vocab),
            ("target_vocab", self.target_vocab),
            ("embed_size", self.embed_size),
            ("hidden_size", self.hidden_size),
            ("encoder_layers", self.encoder_layers),
            ("decoder_layers", self.decoder_layers),
            ("attention_size", self.attention_size),
        ])?;
        checks::fits_u32("source_vocab", self.source_vocab)?;
        checks::fits_u32("target_vocab", self.target_vocab)?;
        checks::dropout(self.dropout)?;
        if !matches!(self.cell, CellKind::Lstm | CellKind::Gru) {
            return Err(CoreError::invalid("cell", "expected 'lstm' or 'gru'"));
        }
        if self.bidirectional && self.hidden_size % 2 == 1 {
            return Err(CoreError::invalid(
                "hidden_size",
                "a bidirectional encoder needs an even hidden_size (H/2 per direction)",
            ));
        }
        if self.tie_target_embeddings && self.embed_size != self.hidden_size {
            return Err(CoreError::invalid(
                "tie_target_embeddings",
                "needs embed_size == hidden_size",
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(CoreError::invalid("label_smoothing", "expected [0, 1)"));
        }
        if !(0.0..=1.0).contains(&self.teacher_forcing) {
            return Err(CoreError::invalid("teacher_forcing", "expected [0, 1]"));
        }
        for (name, id) in [("bos_id", self.bos_id), ("eos_id", self.eos_id)] {
            if id as usize >= self.target_vocab {
                return Err(CoreError::invalid(
                    name,
                    "expected an id of the target vocabulary",
                ));
            }
        }
        Ok(())
    }

    /// Units per encoder direction.
    pub fn encoder_hidden(&self) -> usize {
        self.hidden_size / if self.bidirectional { 2 } else { 1 }
    }

    /// The previous attentional vector is fed with the next input.
    pub fn feeding(&self) -> bool {
        self.input_feeding && self.attention.is_some()
    }

    /// Width of decoder layer 0's input: E, plus H with input feeding.
    pub fn decoder_input(&self) -> usize {
        self.embed_size + if self.feeding() { self.hidden_size } else { 0 }
    }

    fn encoder(&self) -> StackConfig {
        let mut s = StackConfig::new(
            self.cell,
            self.embed_size,
            self.encoder_hidden(),
            self.encoder_layers,
        );
        s.bidirectional = self.bidirectional;
        s.dropout = self.dropout;
        s
    }
}

/// Source rows: `ids (B, S)` batch-first, row b's first lengths[b] ids real.
#[derive(Clone, Copy, Debug)]
pub struct Sources<'a> {
    pub ids: &'a [u32],
    pub lengths: &'a [usize],
    pub time: usize,
}

/// A training batch: sources and targets `tgt (B, T)` (each row its tokens, then eos).
#[derive(Clone, Copy, Debug)]
pub struct Pairs<'a> {
    pub src: Sources<'a>,
    pub tgt: &'a [u32],
    pub tgt_lengths: &'a [usize],
    pub tgt_time: usize,
}

/// Where each tensor lives (empty ranges for tensors a config does not have).
#[derive(Clone, Default)]
struct Ranges {
    enc_emb: Range<usize>,
    bridge_w: Range<usize>,
    bridge_b: Range<usize>,
    dec_emb: Range<usize>,
    dec: Vec<[Range<usize>; 4]>,
    w_in: Range<usize>,
    w_q: Range<usize>,
    b_q: Range<usize>,
    w_k: Range<usize>,
    v: Range<usize>,
    w_out: Range<usize>,
    gen_w: Range<usize>,
    gen_b: Range<usize>,
}

/// The decoder's per-step caches (one slot per step; decoding reuses slot 0) and the
/// buffers of the step loop, grown and never shrunk.
#[derive(Default)]
struct Workspace {
    /// Time-major ids, 0 at padding: sources (S*B), targets (T*B), the decoder's inputs (T*B).
    src: Vec<u32>,
    src_len: Vec<usize>,
    tgt: Vec<u32>,
    tgt_len: Vec<usize>,
    prev: Vec<u32>,
    /// (S*B, H) memory, (S*B, A) additive keys, (B, H) the bridge's input s.
    mem: Vec<f32>,
    keys: Vec<f32>,
    s: Vec<f32>,
    pre: Vec<f32>,
    /// Per decoder layer: inputs (T*B, I_l), h and c (T+1)*B*H (slot 0 the initial state),
    /// gate activations then gradients (T*B, G*H), GRU hidden-side gradients, GRU W_hn h + b.
    xs: Vec<Vec<f32>>,
    hs: Vec<Vec<f32>>,
    cs: Vec<Vec<f32>>,
    gates: Vec<Vec<f32>>,
    dgh: Vec<Vec<f32>>,
    hns: Vec<Vec<f32>>,
    gh: Vec<f32>,
    /// Attention per step: qq (T*B*max(H, A)), u (T*S*B*A), weights (T*S*B), context
    /// (T*B*H), [c; h] (T*B*2H), h~ (T*B*H), h~ after dropout (T*B*H), the masks.
    qq: Vec<f32>,
    u: Vec<f32>,
    att: Vec<f32>,
    ctx: Vec<f32>,
    cat: Vec<f32>,
    ht: Vec<f32>,
    out: Vec<f32>,
    mask: Vec<f32>,
    /// (T*B, V) logits then their gradient; (B, H) zeros; the teacher-forcing coins (T*B).
    logits: Vec<f32>,
    zeros: Vec<f32>,
    gold: Vec<bool>,
    /// Backward: dLoss/d(h~) from the generator (T*B, H); the gradient of the fed vector
    /// flowing to the step before (B, H), which decoding reuses to keep its fed vector.
    d_gen: Vec<f32>,
    d_next: Vec<f32>,
    d_ht: Vec<f32>,
    d_cat: Vec<f32>,
    d_h: Vec<f32>,
    dx: Vec<f32>,
    dh_carry: Vec<Vec<f32>>,
    dc_carry: Vec<Vec<f32>>,
    dh_tmp: Vec<f32>,
    d_mem: Vec<f32>,
    d_keys: Vec<f32>,
    d_init: Vec<f32>,
    d_s: Vec<f32>,
    scratch: attention::Scratch,
}

/// The model: config, parameters (and gradients), the encoder, the generator of dropout and
/// teacher forcing, and the buffers.
pub struct Seq2Seq {
    cfg: Seq2SeqConfig,
    params: Params,
    r: Ranges,
    encoder: Stack,
    rng: Rng,
    ws: Workspace,
}

/// Where a decoder step's fed vector (the previous h~) comes from.
#[derive(Clone, Copy)]
enum Feed {
    /// Step 0 of a teacher-forced pass: zeros.
    Zeros,
    /// The output of step `t` of this pass.
    Step(usize),
    /// ws.d_next, where decoding keeps the previous step's output.
    Kept,
}

/// Sizes of one call: S, T (decoder steps), B.
#[derive(Clone, Copy)]
struct Shape {
    s: usize,
    t: usize,
    b: usize,
}

impl Seq2Seq {
    /// The model with every weight zero (the caller sets them). Parameters in the spec's
    /// order (`reference/seq2seq.py::seq2seq_shapes`).
    pub fn new(cfg: Seq2SeqConfig) -> Result<Self> {
        cfg.validate()?;
        let (e, h, a) = (cfg.embed_size, cfg.hidden_size, cfg.attention_size);
        let mut layout = Layout::default();
        let mut r = Ranges {
            enc_emb: layout.push("encoder.embedding.weight", &[cfg.source_vocab, e]),
            ..Ranges::default()
        };
        let encoder = Stack::new(cfg.encoder(), &mut layout, "encoder.rnn.")?;
        let g = cfg.cell.gates().saturating_mul(h);
        // The decoder's layers (weights and gradients), before the loop that lays them out.
        let per_layer = h
            .checked_mul(2)
            .and_then(|w| w.checked_add(2)?.checked_mul(g));
        checks::allocatable(
            "Seq2Seq decoder parameters (weights and gradients)",
            per_layer.and_then(|n| n.checked_mul(cfg.decoder_layers)?.checked_mul(2)),
        )?;
        let bridge = cfg.decoder_layers.saturating_mul(h);
        r.bridge_w = layout.push("bridge.weight", &[bridge, h]);
        r.bridge_b = layout.push("bridge.bias", &[bridge]);
        r.dec_emb = layout.push("decoder.embedding.weight", &[cfg.target_vocab, e]);
        for k in 0..cfg.decoder_layers {
            let i = if k == 0 { cfg.decoder_input() } else { h };
            r.dec.push([
                layout.push(format!("decoder.rnn.weight_ih_l{k}"), &[g, i]),
                layout.push(format!("decoder.rnn.weight_hh_l{k}"), &[g, h]),
                layout.push(format!("decoder.rnn.bias_ih_l{k}"), &[g]),
                layout.push(format!("decoder.rnn.bias_hh_l{k}"), &[g]),
            ]);
        }
        match cfg.attention {
            Some(Kind::General) => r.w_in = layout.push("attention.linear_in.weight", &[h, h]),
            Some(Kind::Additive) => {
                r.w_q = layout.push("attention.linear_query.weight", &[a, h]);
                r.b_q = layout.push("attention.linear_query.bias", &[a]);
                r.w_k = layout.push("attention.linear_context.weight", &[a, h]);
                r.v = layout.push("attention.v", &[a]);
            }
            Some(Kind::Dot) | None => {}
        }
        if cfg.attention.is_some() {
            r.w_out = layout.push("attention.linear_out.weight", &[h, 2 * h]);
        }
        r.gen_w = if cfg.tie_target_embeddings {
            r.dec_emb.clone()
        } else {
            layout.push("generator.weight", &[cfg.target_vocab, h])
        };
        r.gen_b = layout.push("generator.bias", &[cfg.target_vocab]);
        // Weights and gradients, before allocating them.
        checks::allocatable(
            "Seq2Seq parameters (weights and gradients)",
            layout.total().checked_mul(2),
        )?;
        Ok(Seq2Seq {
            rng: Rng::new(cfg.seed),
            cfg,
            params: Params::zeros(layout),
            r,
            encoder,
            ws: Workspace::default(),
        })
    }

    pub fn config(&self) -> &Seq2SeqConfig {
        &self.cfg
    }

    /// The weights, and the gradients of the last backward.
    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }

    /// The generator's state (dropout and teacher forcing).
    pub fn rng_state(&self) -> [u64; 4] {
        self.rng.state()
    }

    /// Restore the generator (the all-zero state is rejected).
    pub fn set_rng_state(&mut self, s: [u64; 4]) -> Result<()> {
        self.rng = Rng::from_state(s)?;
        Ok(())
    }

    // ------------------------------------------------------------------ loading batches

    /// Check sources and load them time-major (0 at padding).
    fn load_sources(&mut self, src: Sources<'_>) -> Result<(usize, usize)> {
        let (b, s) = (src.lengths.len(), src.time);
        check_rows("source", src.ids, src.lengths, s, self.cfg.source_vocab)?;
        grow(&mut self.ws.src, s * b);
        to_time_major(src.ids, src.lengths, s, b, &mut self.ws.src);
        self.ws.src_len.clear();
        self.ws.src_len.extend_from_slice(src.lengths);
        Ok((b, s))
    }

    fn load_pairs(&mut self, p: Pairs<'_>) -> Result<Shape> {
        let (b, s) = self.load_sources(p.src)?;
        let t = p.tgt_time;
        if p.tgt_lengths.len() != b {
            return Err(CoreError::invalid(
                "target",
                format!(
                    "expected {b} rows like the source, got {}",
                    p.tgt_lengths.len()
                ),
            ));
        }
        check_rows("target", p.tgt, p.tgt_lengths, t, self.cfg.target_vocab)?;
        grow(&mut self.ws.tgt, t * b);
        to_time_major(p.tgt, p.tgt_lengths, t, b, &mut self.ws.tgt);
        self.ws.tgt_len.clear();
        self.ws.tgt_len.extend_from_slice(p.tgt_lengths);
        Ok(Shape { s, t, b })
    }

    // ------------------------------------------------------------------ public calls

    /// Teacher-forced logits (T, B, V) and attention weights (T, S, B) of a batch, no dropout.
    pub fn forward(&mut self, p: Pairs<'_>) -> Result<(Vec<f32>, Vec<f32>)> {
        let sh = self.load_pairs(p)?;
        threads::install(|| {
            self.forward_loaded(sh, false)?;
            let v = self.cfg.target_vocab;
            let n = sh.t * sh.s * sh.b;
            let weights = if self.cfg.attention.is_some() {
                self.ws.att[..n].to_vec()
            } else {
                vec![0.0; n]
            };
            Ok((self.ws.logits[..sh.t * sh.b * v].to_vec(), weights))
        })?
    }

    /// Mean loss per target token of a batch and the token count, with every gradient
    /// (replacing the previous ones); `train` applies dropout and teacher forcing.
    pub fn loss_and_grads(&mut self, p: Pairs<'_>, train: bool) -> Result<(f64, usize)> {
        let sh = self.load_pairs(p)?;
        threads::install(|| {
            self.forward_loaded(sh, train)?;
            let (loss, count) = self.loss(sh, self.cfg.label_smoothing, true);
            self.backward(sh, train)?;
            Ok((loss, count))
        })?
    }

    /// Total loss (nats over every target token, no smoothing, no dropout) and the token
    /// count of `batches`.
    pub fn evaluate(&mut self, batches: &[Pairs<'_>]) -> Result<(f64, usize)> {
        let (mut total, mut count) = (0.0, 0);
        for p in batches {
            let sh = self.load_pairs(*p)?;
            let (loss, n) = threads::install(|| -> Result<(f64, usize)> {
                self.forward_loaded(sh, false)?;
                Ok(self.loss(sh, 0.0, false))
            })??;
            total += loss * n as f64;
            count += n;
        }
        Ok((total, count))
    }

    // ------------------------------------------------------------------ forward

    /// Encoder, bridge and keys of the loaded sources (rows `b`, length `s`); leaves the
    /// memory in ws.mem and the decoder's initial state in slot 0 of ws.hs / ws.cs.
    fn encode(&mut self, s: usize, b: usize, train: bool) -> Result<()> {
        let (h, ld) = (self.cfg.hidden_size, self.cfg.decoder_layers);
        let he = self.cfg.encoder_hidden();
        let dirs = if self.cfg.bidirectional { 2 } else { 1 };
        let Seq2Seq {
            cfg,
            params,
            r,
            encoder,
            rng,
            ws,
        } = self;
        let values = params.values();
        let input = StackInput::Tokens {
            ids: &ws.src[..s * b],
            table: r.enc_emb.clone(),
            version: Some(params.version()),
        };
        let fin = encoder.forward(
            values,
            input,
            s,
            b,
            Some(&ws.src_len[..b]),
            None,
            train.then_some(&mut *rng),
        )?;
        grow(&mut ws.mem, s * b * h);
        encoder.top_outputs(&mut ws.mem[..s * b * h]);
        grow(&mut ws.s, b * h);
        let top = (cfg.encoder_layers - 1) * dirs;
        for d in 0..dirs {
            for bb in 0..b {
                let from = ((top + d) * b + bb) * he;
                ws.s[bb * h + d * he..bb * h + (d + 1) * he]
                    .copy_from_slice(&fin.h[from..from + he]);
            }
        }
        grow(&mut ws.pre, b * ld * h);
        let pre = &mut ws.pre[..b * ld * h];
        for row in pre.chunks_exact_mut(ld * h) {
            row.copy_from_slice(&values[r.bridge_b.clone()]);
        }
        matmul(
            pre,
            ld * h,
            MatRef::new(&ws.s[..b * h], b, h),
            MatRef::new(&values[r.bridge_w.clone()], ld * h, h).t(),
            true,
        );
        ws.hs.resize_with(ld, Vec::new);
        ws.cs.resize_with(ld, Vec::new);
        for l in 0..ld {
            grow(&mut ws.hs[l], b * h);
            grow(&mut ws.cs[l], b * h);
            for bb in 0..b {
                for j in 0..h {
                    ws.hs[l][bb * h + j] = pre[bb * ld * h + l * h + j].tanh();
                }
            }
            ws.cs[l][..b * h].fill(0.0);
        }
        if cfg.attention == Some(Kind::Additive) {
            let a = cfg.attention_size;
            grow(&mut ws.keys, s * b * a);
            let d = attention::Dims { s, b, h, a };
            attention::keys(&ws.mem, d, &values[r.w_k.clone()], &mut ws.keys);
        }
        Ok(())
    }

    /// Grow the per-step caches for `t` steps of `b` rows over `s` source positions.
    fn grow_steps(&mut self, sh: Shape) {
        let cfg = &self.cfg;
        let (h, a, v) = (cfg.hidden_size, cfg.attention_size, cfg.target_vocab);
        let g = cfg.cell.gates() * h;
        let (tb, ld) = (sh.t * sh.b, cfg.decoder_layers);
        let ws = &mut self.ws;
        for list in [&mut ws.xs, &mut ws.gates, &mut ws.dgh, &mut ws.hns] {
            list.resize_with(ld, Vec::new);
        }
        for l in 0..ld {
            let i = if l == 0 { cfg.decoder_input() } else { h };
            grow(&mut ws.xs[l], tb * i);
            grow(&mut ws.hs[l], (sh.t + 1) * sh.b * h);
            grow(&mut ws.cs[l], (sh.t + 1) * sh.b * h);
            grow(&mut ws.gates[l], tb * g);
            grow(&mut ws.hns[l], tb * h);
        }
        grow(&mut ws.gh, sh.b * g);
        grow(&mut ws.prev, tb);
        grow(&mut ws.qq, tb * h.max(a));
        grow(&mut ws.u, tb * sh.s * a);
        grow(&mut ws.att, tb * sh.s);
        grow(&mut ws.ctx, tb * h);
        grow(&mut ws.cat, tb * 2 * h);
        grow(&mut ws.ht, tb * h);
        grow(&mut ws.out, tb * h);
        grow(&mut ws.logits, tb * v);
        grow(&mut ws.zeros, sh.b * h.max(cfg.decoder_input()));
    }

    /// Decoder step `t` of `b` rows: input ids ws.prev[t], the fed vector from `feed`,
    /// state in slot t -> slot t+1, output in ws.out[t], logits in ws.logits[t]; `mask`
    /// applies the dropout mask of step t to h~ (training).
    fn step(&mut self, sh: Shape, t: usize, feed: Feed, mask: bool) {
        let cfg = &self.cfg;
        let (e, h, v, b, s) = (
            cfg.embed_size,
            cfg.hidden_size,
            cfg.target_vocab,
            sh.b,
            sh.s,
        );
        let i0 = cfg.decoder_input();
        let g = cfg.cell.gates() * h;
        let values = self.params.values();
        let r = &self.r;
        let ws = &mut self.ws;
        let emb = &values[r.dec_emb.clone()];
        {
            let x0 = &mut ws.xs[0][t * b * i0..(t + 1) * b * i0];
            for bb in 0..b {
                let id = ws.prev[t * b + bb] as usize;
                let row = &mut x0[bb * i0..(bb + 1) * i0];
                row[..e].copy_from_slice(&emb[id * e..(id + 1) * e]);
                if cfg.feeding() {
                    let fed = &mut row[e..];
                    match feed {
                        Feed::Zeros => fed.fill(0.0),
                        Feed::Step(ft) => {
                            fed.copy_from_slice(&ws.out[(ft * b + bb) * h..(ft * b + bb + 1) * h])
                        }
                        Feed::Kept => fed.copy_from_slice(&ws.d_next[bb * h..(bb + 1) * h]),
                    }
                }
            }
        }
        let bh = b * h;
        for l in 0..cfg.decoder_layers {
            let i = if l == 0 { i0 } else { h };
            if l > 0 {
                // layer l's input, kept for the weight gradients
                ws.xs[l][t * bh..(t + 1) * bh]
                    .copy_from_slice(&ws.hs[l - 1][(t + 1) * bh..(t + 2) * bh]);
            }
            let w = Weights::at(values, &r.dec[l]);
            let (h_prev, h_next) = ws.hs[l].split_at_mut((t + 1) * bh);
            let (c_prev, c_next) = ws.cs[l].split_at_mut((t + 1) * bh);
            decoder::step_forward(
                cfg.cell,
                b,
                i,
                h,
                w,
                &ws.xs[l][t * b * i..(t + 1) * b * i],
                &h_prev[t * bh..],
                &c_prev[t * bh..],
                &mut ws.gates[l][t * b * g..(t + 1) * b * g],
                &mut ws.gh,
                &mut ws.hns[l][t * bh..(t + 1) * bh],
                &mut h_next[..bh],
                &mut c_next[..bh],
            );
        }
        let top = &ws.hs[cfg.decoder_layers - 1][(t + 1) * bh..(t + 2) * bh];
        let ht = &mut ws.ht[t * bh..(t + 1) * bh];
        if let Some(kind) = cfg.attention {
            let a = cfg.attention_size;
            let d = attention::Dims { s, b, h, a };
            let q_w = b * h.max(a);
            attention::forward(
                kind,
                d,
                top,
                &ws.mem,
                &ws.keys,
                &ws.src_len[..b],
                att_weights(values, r),
                attention::StepCache {
                    qq: &mut ws.qq[t * q_w..(t + 1) * q_w],
                    u: &mut ws.u[t * s * b * a..],
                    a: &mut ws.att[t * s * b..(t + 1) * s * b],
                },
                &mut ws.ctx[t * bh..(t + 1) * bh],
            );
            let cat = &mut ws.cat[t * 2 * bh..(t + 1) * 2 * bh];
            for bb in 0..b {
                cat[bb * 2 * h..bb * 2 * h + h]
                    .copy_from_slice(&ws.ctx[t * bh + bb * h..t * bh + (bb + 1) * h]);
                cat[bb * 2 * h + h..(bb + 1) * 2 * h].copy_from_slice(&top[bb * h..(bb + 1) * h]);
            }
            matmul(
                ht,
                h,
                MatRef::new(cat, b, 2 * h),
                MatRef::new(&values[r.w_out.clone()], h, 2 * h).t(),
                false,
            );
            tanh_in_place(ht);
        } else {
            ht.copy_from_slice(top);
        }
        let out = &mut ws.out[t * bh..(t + 1) * bh];
        if mask {
            dropout::apply(ht, &ws.mask[t * bh..(t + 1) * bh], out);
        } else {
            out.copy_from_slice(ht);
        }
        let logits = &mut ws.logits[t * b * v..(t + 1) * b * v];
        for row in logits.chunks_exact_mut(v) {
            row.copy_from_slice(&values[r.gen_b.clone()]);
        }
        matmul(
            logits,
            v,
            MatRef::new(out, b, h),
            MatRef::new(&values[r.gen_w.clone()], v, h).t(),
            true,
        );
    }

    /// The teacher-forced forward of the loaded batch (with dropout and teacher forcing
    /// when `train`).
    fn forward_loaded(&mut self, sh: Shape, train: bool) -> Result<()> {
        let (b, t) = (sh.b, sh.t);
        let h = self.cfg.hidden_size;
        let coins = train && self.cfg.teacher_forcing < 1.0;
        grow(&mut self.ws.gold, t * b);
        for g in self.ws.gold[..t * b].iter_mut() {
            *g = !coins || self.rng.next_f32() < self.cfg.teacher_forcing;
        }
        self.encode(sh.s, b, train)?;
        self.grow_steps(sh);
        let drop = train && self.cfg.dropout > 0.0;
        if drop {
            grow(&mut self.ws.mask, t * b * h);
            dropout::fill_mask(
                &mut self.rng,
                self.cfg.dropout,
                &mut self.ws.mask[..t * b * h],
            );
        }
        let v = self.cfg.target_vocab;
        for tt in 0..t {
            for bb in 0..b {
                self.ws.prev[tt * b + bb] = if tt == 0 {
                    self.cfg.bos_id
                } else if self.ws.gold[tt * b + bb] {
                    self.ws.tgt[(tt - 1) * b + bb]
                } else {
                    let row = (tt - 1) * b + bb;
                    argmax(&self.ws.logits[row * v..(row + 1) * v], None)
                };
            }
            let feed = if tt == 0 {
                Feed::Zeros
            } else {
                Feed::Step(tt - 1)
            };
            self.step(sh, tt, feed, drop);
        }
        Ok(())
    }

    /// Mean (label-smoothed with `eps`) cross-entropy over the real target tokens of
    /// ws.logits and the token count; with `grad`, ws.logits becomes dLoss/dlogits.
    fn loss(&mut self, sh: Shape, eps: f32, grad: bool) -> (f64, usize) {
        let (b, t, v) = (sh.b, sh.t, self.cfg.target_vocab);
        let ws = &mut self.ws;
        let count: usize = ws.tgt_len[..b].iter().map(|&l| l.min(t)).sum();
        let scale = 1.0 / count.max(1) as f32;
        let mut total = 0.0f64;
        for tt in 0..t {
            for bb in 0..b {
                let row = &mut ws.logits[(tt * b + bb) * v..(tt * b + bb + 1) * v];
                if tt < ws.tgt_len[bb] {
                    let y = ws.tgt[tt * b + bb] as usize;
                    total += smoothed_row(row, y, eps, grad.then_some(scale));
                } else if grad {
                    row.fill(0.0);
                }
            }
        }
        (total / count.max(1) as f64, count)
    }

    // ------------------------------------------------------------------ backward

    /// Backward from dLoss/dlogits in ws.logits through the decoder, the attention, the
    /// bridge and the encoder; replaces the gradients.
    fn backward(&mut self, sh: Shape, train: bool) -> Result<()> {
        let (s, t, b) = (sh.s, sh.t, sh.b);
        let cfg = self.cfg.clone();
        let (e, h, v, a, ld) = (
            cfg.embed_size,
            cfg.hidden_size,
            cfg.target_vocab,
            cfg.attention_size,
            cfg.decoder_layers,
        );
        let (tb, bh, g) = (t * b, b * h, cfg.cell.gates() * h);
        let i0 = cfg.decoder_input();
        let drop = train && cfg.dropout > 0.0;
        let Seq2Seq {
            params,
            r,
            encoder,
            ws,
            ..
        } = self;
        params.zero_grads();
        let (values, grads) = params.values_and_grads();
        let values: &[f32] = values;
        // generator, all steps at once
        {
            let d_logits = MatRef::new(&ws.logits[..tb * v], tb, v);
            let (dw, db) = split_two(grads, r.gen_w.clone(), r.gen_b.clone());
            matmul(
                dw,
                h,
                d_logits.t(),
                MatRef::new(&ws.out[..tb * h], tb, h),
                true,
            );
            add_colsum(db, &ws.logits[..tb * v], v);
            grow(&mut ws.d_gen, tb * h);
            matmul(
                &mut ws.d_gen[..tb * h],
                h,
                d_logits,
                MatRef::new(&values[r.gen_w.clone()], v, h),
                false,
            );
        }
        for buf in [&mut ws.d_next, &mut ws.d_ht, &mut ws.d_h, &mut ws.dh_tmp] {
            grow(buf, bh);
        }
        grow(&mut ws.d_cat, 2 * bh);
        grow(&mut ws.dx, b * i0.max(h));
        ws.d_next[..bh].fill(0.0);
        ws.dh_carry.resize_with(ld, Vec::new);
        ws.dc_carry.resize_with(ld, Vec::new);
        for l in 0..ld {
            grow(&mut ws.dh_carry[l], bh);
            grow(&mut ws.dc_carry[l], bh);
            ws.dh_carry[l][..bh].fill(0.0);
            ws.dc_carry[l][..bh].fill(0.0);
            grow(&mut ws.dgh[l], tb * g);
        }
        grow(&mut ws.d_mem, s * bh);
        ws.d_mem[..s * bh].fill(0.0);
        grow(&mut ws.d_keys, s * b * a);
        ws.d_keys[..s * b * a].fill(0.0);
        let q_w = b * h.max(a);
        for tt in (0..t).rev() {
            let d_ht = &mut ws.d_ht[..bh];
            for ((o, &p), &q) in d_ht
                .iter_mut()
                .zip(&ws.d_gen[tt * bh..(tt + 1) * bh])
                .zip(&ws.d_next[..bh])
            {
                *o = p + q;
            }
            if drop {
                dropout::apply_in_place(d_ht, &ws.mask[tt * bh..(tt + 1) * bh]);
            }
            let d_h = &mut ws.d_h[..bh];
            if let Some(kind) = cfg.attention {
                let ht = &ws.ht[tt * bh..(tt + 1) * bh];
                for (o, &y) in d_ht.iter_mut().zip(ht) {
                    *o *= 1.0 - y * y;
                }
                let cat = &ws.cat[tt * 2 * bh..(tt + 1) * 2 * bh];
                matmul(
                    &mut grads[r.w_out.clone()],
                    2 * h,
                    MatRef::new(d_ht, b, h).t(),
                    MatRef::new(cat, b, 2 * h),
                    true,
                );
                let d_cat = &mut ws.d_cat[..2 * bh];
                matmul(
                    d_cat,
                    2 * h,
                    MatRef::new(d_ht, b, h),
                    MatRef::new(&values[r.w_out.clone()], h, 2 * h),
                    false,
                );
                for bb in 0..b {
                    d_h[bb * h..(bb + 1) * h]
                        .copy_from_slice(&d_cat[bb * 2 * h + h..(bb + 1) * 2 * h]);
                    ws.dh_tmp[bb * h..(bb + 1) * h]
                        .copy_from_slice(&d_cat[bb * 2 * h..bb * 2 * h + h]);
                }
                let d = attention::Dims { s, b, h, a };
                let top = &ws.hs[ld - 1][(tt + 1) * bh..(tt + 2) * bh];
                let mut ag = att_grads(grads, r);
                attention::backward(
                    kind,
                    d,
                    &ws.dh_tmp[..bh],
                    top,
                    &ws.mem,
                    att_weights(values, r),
                    &ws.qq[tt * q_w..(tt + 1) * q_w],
                    &ws.u[tt * s * b * a..],
                    &ws.att[tt * s * b..(tt + 1) * s * b],
                    &mut ws.scratch,
                    &mut ag,
                    d_h,
                    &mut ws.d_mem,
                    &mut ws.d_keys,
                );
            } else {
                d_h.copy_from_slice(d_ht);
            }
            // decoder layers, top to bottom: d_h is dLoss/d(top output) of this step
            for l in (0..ld).rev() {
                let i = if l == 0 { i0 } else { h };
                let w = Weights::at(values, &r.dec[l]);
                for (o, &c) in ws.d_h[..bh].iter_mut().zip(&ws.dh_carry[l][..bh]) {
                    *o += c;
                }
                let hs = &ws.hs[l];
                decoder::step_backward(
                    cfg.cell,
                    b,
                    i,
                    h,
                    w,
                    &hs[tt * bh..(tt + 1) * bh],
                    &ws.cs[l][tt * bh..(tt + 1) * bh],
                    &ws.cs[l][(tt + 1) * bh..(tt + 2) * bh],
                    &ws.hns[l][tt * bh..(tt + 1) * bh],
                    &ws.d_h[..bh],
                    &ws.zeros,
                    &mut ws.gates[l][tt * b * g..(tt + 1) * b * g],
                    &mut ws.dgh[l][tt * b * g..(tt + 1) * b * g],
                    &mut ws.dc_carry[l][..bh],
                    &mut ws.dx[..b * i],
                    &mut ws.dh_carry[l][..bh],
                );
                if l > 0 {
                    ws.d_h[..bh].copy_from_slice(&ws.dx[..bh]);
                }
            }
            // layer 0's input: the embedding of the step's input token, and the fed vector
            let demb = &mut grads[r.dec_emb.clone()];
            for bb in 0..b {
                let id = ws.prev[tt * b + bb] as usize;
                let row = &ws.dx[bb * i0..(bb + 1) * i0];
                for (o, &x) in demb[id * e..(id + 1) * e].iter_mut().zip(&row[..e]) {
                    *o += x;
                }
                let next = &mut ws.d_next[bb * h..(bb + 1) * h];
                if cfg.feeding() {
                    next.copy_from_slice(&row[e..]);
                } else {
                    next.fill(0.0);
                }
            }
        }
        // decoder weight gradients, all steps in one GEMM each
        for l in 0..ld {
            let i = if l == 0 { i0 } else { h };
            let rg = &r.dec[l];
            let d_in = &ws.gates[l][..tb * g];
            let d_hid = if cfg.cell == CellKind::Lstm {
                d_in
            } else {
                &ws.dgh[l][..tb * g]
            };
            matmul(
                &mut grads[rg[0].clone()],
                i,
                MatRef::new(d_in, tb, g).t(),
                MatRef::new(&ws.xs[l][..tb * i], tb, i),
                true,
            );
            matmul(
                &mut grads[rg[1].clone()],
                h,
                MatRef::new(d_hid, tb, g).t(),
                MatRef::new(&ws.hs[l][..tb * h], tb, h),
                true,
            );
            add_colsum(&mut grads[rg[2].clone()], d_in, g);
            add_colsum(&mut grads[rg[3].clone()], d_hid, g);
        }
        if cfg.attention == Some(Kind::Additive) {
            let d = attention::Dims { s, b, h, a };
            let (dw_k, _) = split_two(grads, r.w_k.clone(), r.v.clone());
            attention::keys_backward(
                &ws.d_keys,
                &ws.mem,
                d,
                &values[r.w_k.clone()],
                dw_k,
                &mut ws.d_mem,
            );
        }
        // bridge: h0 of every layer = tanh(W_b s + b_b); c0 = 0
        grow(&mut ws.d_init, b * ld * h);
        let d_pre = &mut ws.d_init[..b * ld * h];
        for l in 0..ld {
            for bb in 0..b {
                for j in 0..h {
                    let y = ws.hs[l][bb * h + j];
                    d_pre[bb * ld * h + l * h + j] = ws.dh_carry[l][bb * h + j] * (1.0 - y * y);
                }
            }
        }
        {
            let (dw, db) = split_two(grads, r.bridge_w.clone(), r.bridge_b.clone());
            matmul(
                dw,
                h,
                MatRef::new(d_pre, b, ld * h).t(),
                MatRef::new(&ws.s[..bh], b, h),
                true,
            );
            add_colsum(db, d_pre, ld * h);
        }
        grow(&mut ws.d_s, bh);
        matmul(
            &mut ws.d_s[..bh],
            h,
            MatRef::new(d_pre, b, ld * h),
            MatRef::new(&values[r.bridge_w.clone()], ld * h, h),
            false,
        );
        // encoder: its memory's gradient and its top layer's final h
        let ecfg = cfg.encoder();
        let he = ecfg.hidden_size;
        let dirs = ecfg.directions();
        let mut d_state = ecfg.zero_state(b);
        let top = (ecfg.num_layers - 1) * dirs;
        for d in 0..dirs {
            for bb in 0..b {
                let to = ((top + d) * b + bb) * he;
                d_state.h[to..to + he]
                    .copy_from_slice(&ws.d_s[bb * h + d * he..bb * h + (d + 1) * he]);
            }
        }
        encoder.set_top_grads(&ws.d_mem[..s * bh]);
        let input = StackInput::Tokens {
            ids: &ws.src[..s * b],
            table: r.enc_emb.clone(),
            version: None,
        };
        encoder.backward(values, grads, input, Some(&mut d_state))
    }

    // ------------------------------------------------------------------ decoding

    /// Encode `src` once and set up decoding with each row repeated `repeat` times (the
    /// beams of a source: row b*repeat + j reads source row b): returns the decoder's batch
    /// size and the source length.
    pub(super) fn start_decoding(
        &mut self,
        src: Sources<'_>,
        repeat: usize,
    ) -> Result<(usize, usize)> {
        let (b0, s) = self.load_sources(src)?;
        self.encode(s, b0, false)?;
        let (h, a) = (self.cfg.hidden_size, self.cfg.attention_size);
        let b = b0 * repeat;
        if repeat > 1 {
            let ws = &mut self.ws;
            repeat_rows(&mut ws.mem, s, b0, repeat, h);
            if self.cfg.attention == Some(Kind::Additive) {
                repeat_rows(&mut ws.keys, s, b0, repeat, a);
            }
            for l in 0..self.cfg.decoder_layers {
                repeat_rows(&mut ws.hs[l], 1, b0, repeat, h);
                repeat_rows(&mut ws.cs[l], 1, b0, repeat, h);
            }
            let lengths: Vec<usize> = ws.src_len[..b0]
                .iter()
                .flat_map(|&n| std::iter::repeat_n(n, repeat))
                .collect();
            ws.src_len = lengths;
        }
        self.grow_steps(Shape { s, t: 1, b });
        grow(&mut self.ws.d_next, b * h);
        self.ws.d_next[..b * h].fill(0.0);
        Ok((b, s))
    }

    /// One decoding step from the state in slot 0 with input ids `prev (B)`: the logits
    /// (B, V) with bos masked out (it only starts a sequence); the new state and the output
    /// (the next step's fed vector) go back to slot 0.
    pub(super) fn decode_step(&mut self, b: usize, s: usize, prev: &[u32]) -> &mut [f32] {
        let (h, v) = (self.cfg.hidden_size, self.cfg.target_vocab);
        let bh = b * h;
        self.ws.prev[..b].copy_from_slice(prev);
        self.step(Shape { s, t: 1, b }, 0, Feed::Kept, false);
        for l in 0..self.cfg.decoder_layers {
            self.ws.hs[l].copy_within(bh..2 * bh, 0);
            self.ws.cs[l].copy_within(bh..2 * bh, 0);
        }
        self.ws.d_next[..bh].copy_from_slice(&self.ws.out[..bh]);
        let bos = self.cfg.bos_id as usize;
        let logits = &mut self.ws.logits[..b * v];
        for row in logits.chunks_exact_mut(v) {
            row[bos] = f32::NEG_INFINITY;
        }
        logits
    }

    /// Reorder the decoder's rows: row k takes row `parent[k]`'s state and fed vector.
    pub(super) fn reorder(&mut self, b: usize, parent: &[usize]) {
        let h = self.cfg.hidden_size;
        let ws = &mut self.ws;
        let mut tmp = vec![0.0f32; b * h];
        let mut gather = |buf: &mut [f32]| {
            for (k, &p) in parent.iter().enumerate() {
                tmp[k * h..(k + 1) * h].copy_from_slice(&buf[p * h..(p + 1) * h]);
            }
            buf[..b * h].copy_from_slice(&tmp);
        };
        for l in 0..self.cfg.decoder_layers {
            gather(&mut ws.hs[l][..b * h]);
            gather(&mut ws.cs[l][..b * h]);
        }
        gather(&mut ws.d_next[..b * h]);
    }
}

multiversion! {
    /// x = tanh(x), elementwise.
    fn tanh_in_place(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = tanh(*v);
        }
    }
}

/// The attention weights at their ranges (empty for the kinds without them).
fn att_weights<'a>(values: &'a [f32], r: &Ranges) -> attention::Weights<'a> {
    attention::Weights {
        w_in: &values[r.w_in.clone()],
        w_q: &values[r.w_q.clone()],
        b_q: &values[r.b_q.clone()],
        w_k: &values[r.w_k.clone()],
        v: &values[r.v.clone()],
    }
}

/// The attention gradients at their ranges (general: w_in; additive: w_q, b_q, v; the
/// additive w_k is taken separately, after the step loop).
fn att_grads<'a>(grads: &'a mut [f32], r: &Ranges) -> attention::Grads<'a> {
    if !r.w_in.is_empty() {
        return attention::Grads {
            w_in: &mut grads[r.w_in.clone()],
            w_q: &mut [],
            b_q: &mut [],
            v: &mut [],
        };
    }
    if r.w_q.is_empty() {
        return attention::Grads {
            w_in: &mut [],
            w_q: &mut [],
            b_q: &mut [],
            v: &mut [],
        };
    }
    // layout order: w_q, b_q, w_k, v (consecutive)
    let block = &mut grads[r.w_q.start..r.v.end];
    let (w_q, rest) = block.split_at_mut(r.w_q.len());
    let (b_q, rest) = rest.split_at_mut(r.b_q.len());
    let (_, v) = rest.split_at_mut(r.w_k.len());
    attention::Grads {
        w_in: &mut [],
        w_q,
        b_q,
        v,
    }
}

/// Check a batch-first `(B, T)` id matrix and its lengths (1..=T) against a vocabulary.
fn check_rows(name: &str, ids: &[u32], lengths: &[usize], t: usize, vocab: usize) -> Result<()> {
    let b = lengths.len();
    if b == 0 || t == 0 {
        return Err(CoreError::invalid(
            name,
            "expected at least one row and one step",
        ));
    }
    if ids.len() != b * t {
        return Err(CoreError::invalid(
            name,
            format!("expected {b} x {t} ids, got {}", ids.len()),
        ));
    }
    if let Some(l) = lengths.iter().find(|&&l| l == 0 || l > t) {
        return Err(CoreError::invalid(
            format!("{name} lengths"),
            format!("expected lengths in 1..={t} (the padded number of steps), got {l}"),
        ));
    }
    for (row, &n) in ids.chunks_exact(t).zip(lengths) {
        if let Some(id) = row[..n].iter().find(|&&id| id as usize >= vocab) {
            return Err(CoreError::invalid(
                name,
                format!("token id {id} is out of range for a vocabulary of {vocab}"),
            ));
        }
    }
    Ok(())
}

/// `buf (steps, b, w)` with each row repeated `k` times in place: `(steps, b*k, w)`.
fn repeat_rows(buf: &mut Vec<f32>, steps: usize, b: usize, k: usize, w: usize) {
    let old = buf[..steps * b * w].to_vec();
    grow(buf, steps * b * k * w);
    for (r, from) in old.chunks_exact(w).enumerate() {
        for j in 0..k {
            let to = (r * k + j) * w;
            buf[to..to + w].copy_from_slice(from);
        }
    }
}

/// Batch-first `(B, T)` ids to time-major `(T*B)`, 0 at padding.
fn to_time_major(ids: &[u32], lengths: &[usize], t: usize, b: usize, out: &mut [u32]) {
    for (bb, (row, &n)) in ids.chunks_exact(t).zip(lengths).enumerate() {
        for (tt, &id) in row.iter().enumerate() {
            out[tt * b + bb] = if tt < n { id } else { 0 };
        }
    }
}

/// The index of the largest value (the first on ties), skipping index `skip`.
pub(super) fn argmax(row: &[f32], skip: Option<usize>) -> u32 {
    let mut best = usize::MAX;
    for (j, &x) in row.iter().enumerate() {
        if Some(j) != skip && (best == usize::MAX || x > row[best]) {
            best = j;
        }
    }
    best as u32
}

/// One row of the label-smoothed cross-entropy: returns (1-eps)(-log p_y) + eps mean_v
/// (-log p_v); with `scale`, the row becomes scale * (p - eps/V - (1-eps) onehot(y)).
/// Spec: `reference/seq2seq.py::seq2seq_loss`.
fn smoothed_row(row: &mut [f32], y: usize, eps: f32, scale: Option<f32>) -> f64 {
    let v = row.len();
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f64 = row.iter().map(|&x| ((x - m) as f64).exp()).sum();
    let log_z = m as f64 + total.ln();
    let nll = log_z - row[y] as f64;
    let mean = row.iter().map(|&x| x as f64).sum::<f64>() / v as f64;
    let loss = (1.0 - eps as f64) * nll + eps as f64 * (log_z - mean);
    if let Some(k) = scale {
        let off = eps / v as f32;
        for x in row.iter_mut() {
            *x = k * ((((*x - m) as f64).exp() / total) as f32 - off);
        }
        row[y] -= k * (1.0 - eps);
    }
    loss
}

/// Train `model` one optimizer step per batch ([`batch_steps`], teacher forcing as
/// configured); the losses, the gradient norms before clipping and the number of target
/// tokens trained on.
pub fn train_steps(
    model: &mut Seq2Seq,
    opt: &mut Optimizer,
    batches: &[Pairs<'_>],
    lrs: &[f32],
    clip: Clip,
    between: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<(Vec<f64>, Vec<f64>, usize)> {
    let params_of: fn(&mut Seq2Seq) -> &mut Params = Seq2Seq::params_mut;
    let steps = batch_steps(
        model,
        params_of,
        opt,
        batches,
        lrs,
        clip,
        between,
        |m, d| m.loss_and_grads(d, true),
    )?;
    Ok((steps.losses, steps.norms, steps.units))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq2seq::decode;

    fn model(kind: Option<Kind>, cell: CellKind) -> Seq2Seq {
        let cfg = Seq2SeqConfig {
            source_vocab: 7,
            target_vocab: 6,
            cell,
            embed_size: 4,
            hidden_size: 6,
            encoder_layers: 2,
            decoder_layers: 2,
            bidirectional: true,
            attention: kind,
            attention_size: 5,
            input_feeding: true,
            tie_target_embeddings: false,
            label_smoothing: 0.1,
            teacher_forcing: 1.0,
            dropout: 0.0,
            bos_id: 4,
            eos_id: 5,
            seed: 0,
        };
        let mut m = Seq2Seq::new(cfg).unwrap();
        for (i, w) in m.params_mut().values_mut().iter_mut().enumerate() {
            *w = ((i as f32) * 0.7).sin() * 0.6;
        }
        m
    }

    #[test]
    fn smoothed_row_is_its_definition_and_its_gradient_sums_to_zero() {
        let mut row = vec![1.0f32, 2.0, 3.0, 0.5];
        let logz = row.iter().map(|&x| (x as f64).exp()).sum::<f64>().ln();
        let nll = logz - 1.0;
        let mean = row.iter().map(|&x| logz - x as f64).sum::<f64>() / 4.0;
        let loss = smoothed_row(&mut row, 0, 0.1, Some(1.0));
        assert!((loss - (0.9 * nll + 0.1 * mean)).abs() < 1e-6);
        assert!(row.iter().sum::<f32>().abs() < 1e-6);
        assert!(row[0] < 0.0 && row[2] > 0.0);
    }

    #[test]
    fn masked_softmax_ignores_padding() {
        let mut scores = vec![1.0f32, 0.0, 2.0, 0.0, 50.0, 0.0];
        attention::masked_softmax(&mut scores, 3, 2, &[2, 1]);
        assert!((scores[0] + scores[2] - 1.0).abs() < 1e-6 && scores[4] == 0.0);
        assert!((scores[1] - 1.0).abs() < 1e-6 && scores[3] == 0.0 && scores[5] == 0.0);
    }

    #[test]
    fn a_row_scores_and_decodes_the_same_alone_and_in_a_batch() {
        for (kind, cell) in [
            (Some(Kind::Additive), CellKind::Gru),
            (Some(Kind::General), CellKind::Lstm),
            (None, CellKind::Lstm),
        ] {
            let mut m = model(kind, cell);
            let src = [1u32, 2, 3, 0, 6, 0, 0, 0];
            let tgt = [1u32, 2, 5, 3, 5, 0];
            let both = Pairs {
                src: Sources {
                    ids: &src,
                    lengths: &[3, 2],
                    time: 4,
                },
                tgt: &tgt,
                tgt_lengths: &[3, 2],
                tgt_time: 3,
            };
            let (logits, _) = m.forward(both).unwrap();
            let alone = Pairs {
                src: Sources {
                    ids: &src[4..6],
                    lengths: &[2],
                    time: 2,
                },
                tgt: &tgt[3..5],
                tgt_lengths: &[2],
                tgt_time: 2,
            };
            let (one, _) = m.forward(alone).unwrap();
            let v = 6;
            for t in 0..2 {
                for j in 0..v {
                    let (a, b) = (logits[(t * 2 + 1) * v + j], one[t * v + j]);
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{kind:?} {cell:?} step {t}: {a} vs {b}"
                    );
                }
            }
            let limits = [6, 6];
            let greedy = decode::greedy(&mut m, both.src, &limits).unwrap();
            let single = decode::greedy(&mut m, alone.src, &limits[..1]).unwrap();
            assert_eq!(greedy[1], single[0]);
            let beam = decode::beam_search(&mut m, both.src, &limits, 1, 0.0).unwrap();
            assert_eq!(beam, greedy);
        }
    }

    #[test]
    fn bad_batches_are_errors_not_panics() {
        let mut m = model(Some(Kind::Dot), CellKind::Gru);
        let src = [1u32, 9];
        let bad = Pairs {
            src: Sources {
                ids: &src,
                lengths: &[2],
                time: 2,
            },
            tgt: &[1],
            tgt_lengths: &[1],
            tgt_time: 1,
        };
        assert!(m.forward(bad).is_err());
        let lens = Sources {
            ids: &[1, 2],
            lengths: &[3],
            time: 2,
        };
        assert!(decode::greedy(&mut m, lens, &[4]).is_err());
        let ok = Sources {
            ids: &[1, 2],
            lengths: &[2],
            time: 2,
        };
        assert!(decode::greedy(&mut m, ok, &[0]).is_err());
        assert!(decode::beam_search(&mut m, ok, &[3], 0, 1.0).is_err());
    }
}
