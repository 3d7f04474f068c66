//! The recurrent language model: embedding -> the recurrent encoder ([`Stack`]: stacked
//! layers, dropout between them) -> dropout -> linear decoder (optionally tied to the
//! embedding) -> softmax cross-entropy. Composed, not copied: the layer loop, layer 0's
//! per-token projection and the state are the encoder's; this file adds the embedding table,
//! the output dropout and the decoder around it, all tensors in one [`Params`]. The decoder is
//! the full softmax ([`decoder`]) or the class-factored softmax ([`class_decoder`]).
//! Spec: `reference/lm.py::lm_forward`, `lm_backward` and `lm_loss_and_grads`.

use std::ops::Range;

use crate::error::{CoreError, Result};
use crate::linalg::kernels::PackedB;
use crate::nn::cell::CellKind;
use crate::nn::class_decoder::{self, ClassGrads, ClassMap, ClassWeights, ClassWorkspace};
use crate::nn::dropout::{self, Rng};
use crate::nn::params::{split_two, Layout, Params};
use crate::nn::stack::{check_lengths, Stack, StackConfig, StackInput, State};
use crate::nn::{checks, decoder, grow};
use crate::runtime::threads;

/// The output layer's normalisation.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Softmax {
    /// A softmax over the whole vocabulary.
    #[default]
    Full,
    /// P(w|h) = P(c(w)|h) P(w|c(w), h): `classes` holds the class of every word id (dense
    /// 0..K-1). Adds `output_class.weight` (K, H) and `output_class.bias` (K).
    Class { classes: Vec<u32> },
}

/// What to build. Defaults (via [`ModelConfig::new`]): no dropout, untied, full softmax,
/// seed 0.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub cell: CellKind,
    pub embed_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    /// Dropout probability on the inputs of layers 2..L and on the last layer's output.
    pub dropout: f32,
    /// Use the embedding matrix as the decoder weight (requires embed_size == hidden_size).
    pub tie_weights: bool,
    /// Seeds the dropout generator (the initial weights come from the caller).
    pub seed: u64,
    pub softmax: Softmax,
}

impl ModelConfig {
    /// A config with no dropout, untied weights and seed 0.
    pub fn new(
        vocab_size: usize,
        cell: CellKind,
        embed_size: usize,
        hidden_size: usize,
        num_layers: usize,
    ) -> Self {
        ModelConfig {
            vocab_size,
            cell,
            embed_size,
            hidden_size,
            num_layers,
            dropout: 0.0,
            tie_weights: false,
            seed: 0,
            softmax: Softmax::Full,
        }
    }

    /// Check every field; the error names the field and what was expected.
    pub fn validate(&self) -> Result<()> {
        checks::positive(&[
            ("vocab_size", self.vocab_size),
            ("embed_size", self.embed_size),
            ("hidden_size", self.hidden_size),
            ("num_layers", self.num_layers),
        ])?;
        checks::fits_u32("vocab_size", self.vocab_size)?;
        checks::dropout(self.dropout)?;
        if self.tie_weights && self.embed_size != self.hidden_size {
            return Err(CoreError::invalid(
                "tie_weights",
                format!(
                    "requires embed_size == hidden_size, got {} and {}",
                    self.embed_size, self.hidden_size
                ),
            ));
        }
        Ok(())
    }
}

/// A (batch, time) window of token ids inside a row-major buffer whose rows are `stride`
/// apart (a whole (B, N) stream or a plain (B, T) array).
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    data: &'a [u32],
    batch: usize,
    time: usize,
    stride: usize,
    start: usize,
}

impl<'a> Tokens<'a> {
    /// A dense (batch, time) array.
    pub fn new(data: &'a [u32], batch: usize, time: usize) -> Result<Self> {
        Self::window(data, batch, time, 0, time)
    }

    /// Columns `start..start+time` of a (batch, n) array.
    pub fn window(
        data: &'a [u32],
        batch: usize,
        n: usize,
        start: usize,
        time: usize,
    ) -> Result<Self> {
        if data.len() != batch * n {
            return Err(CoreError::invalid(
                "tokens",
                format!(
                    "expected {batch} x {n} = {} ids, got {}",
                    batch * n,
                    data.len()
                ),
            ));
        }
        if start + time > n {
            return Err(CoreError::invalid(
                "tokens",
                format!("window {start}..{} exceeds {n} columns", start + time),
            ));
        }
        Ok(Tokens {
            data,
            batch,
            time,
            stride: n,
            start,
        })
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn time(&self) -> usize {
        self.time
    }

    /// Copy into `out` in time-major order, checking every id against the vocabulary.
    fn load(&self, name: &str, vocab: usize, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        for t in 0..self.time {
            for b in 0..self.batch {
                let id = self.data[b * self.stride + self.start + t];
                if id as usize >= vocab {
                    return Err(CoreError::invalid(
                        name,
                        format!(
                            "token id {id} at ({b}, {t}) is out of range for vocab_size {vocab}"
                        ),
                    ));
                }
                out.push(id);
            }
        }
        Ok(())
    }
}

/// Buffers reused from call to call (grown, never shrunk): no allocation in the time loop.
#[derive(Default)]
struct Workspace {
    /// The chunk's input and target ids, time-major.
    ids: Vec<u32>,
    targets: Vec<u32>,
    /// The output dropout in training: its mask and the dropped top outputs (T*B, H).
    out_mask: Vec<f32>,
    dropped: Vec<f32>,
    /// (T*B, V) logits; dL/dlogits after a loss with gradients.
    logits: Vec<f32>,
    row_loss: Vec<f64>,
    /// The decoder weight packed for the fused loss without gradients ([`decoder::nll`]).
    packed_out: PackedDecoder,
    /// The top outputs and targets of the rows that are scored (padding left out).
    kept: Vec<f32>,
    kept_targets: Vec<u32>,
    /// The class softmax's buffers, and its dL/dh (T*B, H) before it goes to the encoder.
    class: ClassWorkspace,
    dy: Vec<f32>,
}

/// The (V, H) decoder weight packed for [`decoder::nll`], and the parameters' version it was
/// packed from.
#[derive(Default)]
struct PackedDecoder {
    packed: PackedB,
    version: Option<u64>,
}

impl PackedDecoder {
    /// The weight at `w` of `params`, packed again only when the parameters changed since.
    fn get(&mut self, params: &Params, w: Range<usize>, v: usize, h: usize) -> &PackedB {
        if self.version != Some(params.version()) {
            self.packed.pack_transposed(&params.values()[w], v, h);
            self.version = Some(params.version());
        }
        &self.packed
    }
}

/// The `len` floats of top outputs that feed the decoder: the dropped ones in training.
fn top_outputs<'a>(stack: &'a Stack, dropped: &'a [f32], drop: bool, len: usize) -> &'a [f32] {
    if drop {
        &dropped[..len]
    } else {
        &stack.outputs(0)[..len]
    }
}

/// The class softmax's map and its tensors' places in the parameters.
struct ClassOutput {
    map: ClassMap,
    weight: Range<usize>,
    bias: Range<usize>,
}

impl ClassOutput {
    /// The class softmax's weights in `values`: the word weight `w` (output.weight or the
    /// tied embedding) and bias `b`, then the class weight and bias.
    fn weights<'a>(&self, values: &'a [f32], w: Range<usize>, b: Range<usize>) -> ClassWeights<'a> {
        ClassWeights {
            w: &values[w],
            b: &values[b],
            wc: &values[self.weight.clone()],
            bc: &values[self.bias.clone()],
        }
    }
}

/// A recurrent language model with its parameters, gradients, dropout generator and
/// workspace.
///
/// ```
/// use rnnrs::lm::{Model, ModelConfig, Tokens};
/// use rnnrs::nn::CellKind;
/// let cfg = ModelConfig::new(10, CellKind::Lstm, 8, 16, 2);
/// let mut model = Model::new(cfg).unwrap();
/// // Weights start at zero: the Python layer draws the initial weights (a Rust program sets
/// // or loads them). A small deterministic pattern here.
/// for (i, w) in model.params_mut().values_mut().iter_mut().enumerate() {
///     *w = ((i * 37 % 101) as f32 / 101.0 - 0.5) * 0.1;
/// }
/// let x = [1u32, 2, 3, 4, 5, 6];
/// let y = [2u32, 3, 4, 5, 6, 7];
/// let (loss, state) = model
///     .loss(Tokens::new(&x, 2, 3).unwrap(), Tokens::new(&y, 2, 3).unwrap(), None)
///     .unwrap();
/// assert!((loss - 10f64.ln()).abs() < 0.1); // near-uniform with small weights
/// assert_eq!(state.h.len(), 2 * 2 * 16);
/// ```
pub struct Model {
    cfg: ModelConfig,
    params: Params,
    /// The embedding table (V, E) in `params`; the decoder weight too when tied.
    embedding: Range<usize>,
    stack: Stack,
    /// The decoder: weight (V, H) (None when tied) and bias (V).
    out_w: Option<Range<usize>>,
    out_b: Range<usize>,
    /// The class softmax (None: full softmax).
    class_out: Option<ClassOutput>,
    rng: Rng,
    ws: Workspace,
}

impl Model {
    /// Build a model with every weight zero (set them with [`Params::set`] through
    /// [`Model::params_mut`]: `rnnrs.RNNLM` draws the initial weights in Python). Tensor names
    /// and order: `embedding.weight`, the encoder's `rnn.weight_ih_l{k}` ... (see
    /// [`Stack::new`]), `output.weight` (absent when tied), `output.bias`, and with the class
    /// softmax `output_class.weight`, `output_class.bias`.
    pub fn new(cfg: ModelConfig) -> Result<Self> {
        cfg.validate()?;
        let (v, e, h) = (cfg.vocab_size, cfg.embed_size, cfg.hidden_size);
        let mut stack_cfg = StackConfig::new(cfg.cell, e, h, cfg.num_layers);
        stack_cfg.dropout = cfg.dropout;
        let class_map = match &cfg.softmax {
            Softmax::Full => None,
            Softmax::Class { classes } => Some(ClassMap::new(classes, v)?),
        };
        let k = class_map.as_ref().map_or(0, ClassMap::num_classes);
        let count = (|| {
            let decoder = if cfg.tie_weights {
                0
            } else {
                v.checked_mul(h)?
            };
            v.checked_mul(e)?
                .checked_add(stack_cfg.param_count()?)?
                .checked_add(decoder)?
                .checked_add(v)?
                .checked_add(k.checked_mul(h)?.checked_add(k)?)
        })();
        // Weights and gradients, before any of the layout is built.
        checks::allocatable(
            "RNNLM parameters (weights and gradients)",
            count.and_then(|n| n.checked_mul(2)),
        )?;
        let mut layout = Layout::default();
        let embedding = layout.push("embedding.weight", &[v, e]);
        let stack = Stack::new(stack_cfg, &mut layout, "rnn.")?;
        let out_w = (!cfg.tie_weights).then(|| layout.push("output.weight", &[v, h]));
        let out_b = layout.push("output.bias", &[v]);
        let class_out = class_map.map(|map| ClassOutput {
            weight: layout.push("output_class.weight", &[k, h]),
            bias: layout.push("output_class.bias", &[k]),
            map,
        });
        Ok(Model {
            rng: Rng::new(cfg.seed),
            cfg,
            params: Params::zeros(layout),
            embedding,
            stack,
            out_w,
            out_b,
            class_out,
            ws: Workspace::default(),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The weights, and the gradients of the last [`Model::loss_and_grads`].
    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }

    /// The recurrent encoder (its tensors are in [`Model::params`]).
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The embedding table (V, E).
    pub fn embedding(&self) -> &[f32] {
        &self.params.values()[self.embedding.clone()]
    }

    /// The decoder's weight (V, H) (the embedding table when tied) and bias (V).
    pub fn decoder(&self) -> (&[f32], &[f32]) {
        let values = self.params.values();
        (&values[self.decoder_weight()], &values[self.out_b.clone()])
    }

    /// Where the decoder's word weight lives: output.weight, or the embedding when tied.
    fn decoder_weight(&self) -> Range<usize> {
        self.out_w.clone().unwrap_or(self.embedding.clone())
    }

    /// Whether a pass applies the output dropout (training with dropout > 0).
    fn output_dropout(&self, train: bool) -> bool {
        train && self.cfg.dropout > 0.0
    }

    /// With the class softmax: the class map, the class weight (K, H) and bias (K).
    pub fn class_decoder(&self) -> Option<(&ClassMap, &[f32], &[f32])> {
        let c = self.class_out.as_ref()?;
        let values = self.params.values();
        Some((&c.map, &values[c.weight.clone()], &values[c.bias.clone()]))
    }

    /// The all-zero state (num_layers, batch, hidden).
    pub fn zero_state(&self, batch: usize) -> State {
        self.stack.config().zero_state(batch)
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

    /// Mean cross-entropy (nats) of predicting `y` from `x`, with all gradients (replacing the
    /// previous ones); `train` applies dropout. Returns the loss and the final state.
    pub fn loss_and_grads(
        &mut self,
        x: Tokens<'_>,
        y: Tokens<'_>,
        state: Option<&State>,
        train: bool,
    ) -> Result<(f64, State)> {
        self.load(x, y)?;
        let (t, b) = (x.time(), x.batch());
        threads::install(|| {
            let fin = self.forward(t, b, state, train)?;
            let loss = self.output_loss(t * b, train, true);
            self.backward(t, b, train)?;
            Ok((loss, fin))
        })?
    }

    /// Mean cross-entropy without dropout or gradients.
    pub fn loss(
        &mut self,
        x: Tokens<'_>,
        y: Tokens<'_>,
        state: Option<&State>,
    ) -> Result<(f64, State)> {
        self.load(x, y)?;
        let (t, b) = (x.time(), x.batch());
        threads::install(|| {
            let fin = self.forward(t, b, state, false)?;
            let loss = self.output_loss(t * b, false, false);
            Ok((loss, fin))
        })?
    }

    /// The negative log-likelihood (nats) of every target, (batch, time) row-major, without
    /// dropout or gradients: the log-softmax computed where the logits are, in parallel,
    /// never copied out. With `lengths (B)`, the targets of sequence b at steps >= its length
    /// are padding: they are not scored and read 0 (the recurrence is causal, so they change
    /// nothing before them). Spec: `backends/numpy_rnnlm.py::NumpyEngine.token_nll`.
    pub fn token_nll(
        &mut self,
        x: Tokens<'_>,
        y: Tokens<'_>,
        state: Option<&State>,
        lengths: Option<&[usize]>,
    ) -> Result<(Vec<f64>, State)> {
        self.load(x, y)?;
        let (t, b, v) = (x.time(), x.batch(), self.cfg.vocab_size);
        if let Some(lens) = lengths {
            check_lengths(lens, t, b)?;
        }
        let n = t * b;
        // Rows of the decoder are time-major: row r is step r / b of sequence r % b.
        let scored = |r: usize| lengths.is_none_or(|l| r / b < l[r % b]);
        threads::install(|| {
            let fin = self.forward(t, b, state, false)?;
            let mut out = vec![0.0f64; n];
            if self.class_out.is_some() {
                self.output_logits(n);
                for (r, &target) in self.ws.targets[..n].iter().enumerate() {
                    if scored(r) {
                        let logp = self.ws.logits[r * v + target as usize];
                        out[(r % b) * t + r / b] = -f64::from(logp);
                    }
                }
            } else {
                let keep: Option<Vec<usize>> =
                    lengths.map(|_| (0..n).filter(|&r| scored(r)).collect());
                let m = self.rows_nll(n, keep.as_deref());
                for (i, &nll) in self.ws.row_loss[..m].iter().enumerate() {
                    let r = keep.as_ref().map_or(i, |k| k[i]);
                    out[(r % b) * t + r / b] = nll;
                }
            }
            Ok((out, fin))
        })?
    }

    /// -log softmax of the targets of the first `n` rows of the last forward, or of the rows
    /// `keep` among them (increasing) when given, full softmax, no dropout, into
    /// `ws.row_loss`: only those rows' top outputs (gathered when some are left out) go
    /// through the decoder. Returns how many rows were scored.
    fn rows_nll(&mut self, n: usize, keep: Option<&[usize]>) -> usize {
        let (h, v) = (self.cfg.hidden_size, self.cfg.vocab_size);
        let w_out = self.decoder_weight();
        let Model {
            params,
            stack,
            out_b,
            ws,
            ..
        } = self;
        let values = params.values();
        let all = stack.outputs(0);
        let (top, targets) = match keep.filter(|k| k.len() < n) {
            None => (&all[..n * h], &ws.targets[..n]),
            Some(keep) => {
                grow(&mut ws.kept, keep.len() * h);
                for (dst, &r) in ws.kept.chunks_exact_mut(h).zip(keep) {
                    dst.copy_from_slice(&all[r * h..(r + 1) * h]);
                }
                ws.kept_targets.clear();
                ws.kept_targets.extend(keep.iter().map(|&r| ws.targets[r]));
                (&ws.kept[..keep.len() * h], &ws.kept_targets[..])
            }
        };
        grow(&mut ws.row_loss, targets.len());
        let packed = ws.packed_out.get(params, w_out, v, h);
        let b_out = &values[out_b.clone()];
        decoder::nll(top, h, packed, b_out, targets, &mut ws.row_loss);
        targets.len()
    }

    /// Logits (batch, time, vocab), row-major, without dropout. With the class softmax they
    /// are the exact log-probabilities log P(w|h) (a softmax leaves them unchanged).
    pub fn logits(&mut self, x: Tokens<'_>, state: Option<&State>) -> Result<(Vec<f32>, State)> {
        x.load("x", self.cfg.vocab_size, &mut self.ws.ids)?;
        let (t, b, v) = (x.time(), x.batch(), self.cfg.vocab_size);
        threads::install(|| {
            let fin = self.forward(t, b, state, false)?;
            self.output_logits(t * b);
            let mut out = vec![0.0f32; b * t * v];
            for (r, row) in self.ws.logits[..t * b * v].chunks_exact(v).enumerate() {
                let (tt, bb) = (r / b, r % b);
                out[(bb * t + tt) * v..(bb * t + tt + 1) * v].copy_from_slice(row);
            }
            Ok((out, fin))
        })?
    }

    /// Total negative log-likelihood (nats, summed in f64) and token count over a batchified
    /// (batch, n) stream, in chunks of `bptt` with the state carried; no dropout.
    pub fn evaluate(
        &mut self,
        stream: &[u32],
        batch: usize,
        n: usize,
        bptt: usize,
    ) -> Result<(f64, usize)> {
        if bptt == 0 {
            return Err(CoreError::invalid("bptt", "expected an integer > 0, got 0"));
        }
        let mut state = self.zero_state(batch);
        let mut total = 0.0f64;
        let mut count = 0usize;
        let mut s = 0;
        while s + 1 < n {
            let t = bptt.min(n - 1 - s);
            let x = Tokens::window(stream, batch, n, s, t)?;
            let y = Tokens::window(stream, batch, n, s + 1, t)?;
            let (loss, next) = self.loss(x, y, Some(&state))?;
            total += loss * (t * batch) as f64;
            count += t * batch;
            state = next;
            s += t;
        }
        Ok((total, count))
    }

    fn load(&mut self, x: Tokens<'_>, y: Tokens<'_>) -> Result<()> {
        if x.batch() != y.batch() || x.time() != y.time() {
            return Err(CoreError::invalid(
                "y",
                format!(
                    "expected the shape of x ({}, {}), got ({}, {})",
                    x.batch(),
                    x.time(),
                    y.batch(),
                    y.time()
                ),
            ));
        }
        if x.time() == 0 || x.batch() == 0 {
            return Err(CoreError::invalid(
                "x",
                "expected at least one row and one step",
            ));
        }
        x.load("x", self.cfg.vocab_size, &mut self.ws.ids)?;
        y.load("y", self.cfg.vocab_size, &mut self.ws.targets)
    }

    /// Forward through the encoder (layer 0 reading the ids of ws.ids) and the output dropout
    /// (the top outputs: [`Model::top`]). Returns the final state.
    fn forward(&mut self, t: usize, b: usize, state: Option<&State>, train: bool) -> Result<State> {
        let h = self.cfg.hidden_size;
        let tb = t * b;
        let drop = self.output_dropout(train);
        let Model {
            cfg,
            params,
            embedding,
            stack,
            rng,
            ws,
            ..
        } = self;
        let values = params.values();
        let input = StackInput::Tokens {
            ids: &ws.ids[..tb],
            table: embedding.clone(),
            version: Some(params.version()),
        };
        let fin = stack.forward(values, input, t, b, None, state, train.then_some(&mut *rng))?;
        if drop {
            grow(&mut ws.out_mask, tb * h);
            grow(&mut ws.dropped, tb * h);
            let mask = &mut ws.out_mask[..tb * h];
            dropout::fill_mask(rng, cfg.dropout, mask);
            dropout::apply(stack.outputs(0), mask, &mut ws.dropped[..tb * h]);
        }
        Ok(fin)
    }

    /// The decoder's output (evaluation: no dropout) for the `n` rows of the last forward into
    /// ws.logits: logits (full softmax) or log-probabilities (class softmax).
    fn output_logits(&mut self, n: usize) {
        let (h, v) = (self.cfg.hidden_size, self.cfg.vocab_size);
        let w_out = self.decoder_weight();
        let Model {
            params,
            stack,
            out_b,
            class_out,
            ws,
            ..
        } = self;
        let values = params.values();
        let top = &stack.outputs(0)[..n * h];
        grow(&mut ws.logits, n * v);
        match class_out {
            None => decoder::logits(
                top,
                n,
                h,
                &values[w_out],
                &values[out_b.clone()],
                &mut ws.logits,
            ),
            Some(c) => {
                let wts = c.weights(values, w_out, out_b.clone());
                class_decoder::log_probs(&c.map, wts, top, n, h, &mut ws.class, &mut ws.logits);
            }
        }
    }

    /// Mean loss over the `n` rows of the last forward against ws.targets; with `grad` the
    /// decoder keeps dL/dlogits for [`Model::backward`] (full softmax: in ws.logits).
    fn output_loss(&mut self, n: usize, train: bool, grad: bool) -> f64 {
        let scale = grad.then_some(1.0 / n as f32);
        let (h, v) = (self.cfg.hidden_size, self.cfg.vocab_size);
        let drop = self.output_dropout(train);
        if !grad && !drop && self.class_out.is_none() {
            // No gradients: the logits are not kept, so they need not be stored.
            self.rows_nll(n, None);
            return self.ws.row_loss[..n].iter().sum::<f64>() / n as f64;
        }
        let w_out = self.decoder_weight();
        let Model {
            params,
            stack,
            out_b,
            class_out,
            ws,
            ..
        } = self;
        let values = params.values();
        let top = top_outputs(stack, &ws.dropped, drop, n * h);
        let total = match class_out {
            None => {
                grow(&mut ws.logits, n * v);
                let b_out = &values[out_b.clone()];
                decoder::logits(top, n, h, &values[w_out], b_out, &mut ws.logits);
                grow(&mut ws.row_loss, n);
                let targets = &ws.targets[..n];
                decoder::cross_entropy(&mut ws.logits, v, targets, &mut ws.row_loss, scale);
                ws.row_loss[..n].iter().sum::<f64>()
            }
            Some(c) => {
                let wts = c.weights(values, w_out, out_b.clone());
                let targets = &ws.targets[..n];
                class_decoder::loss(&c.map, wts, top, h, targets, &mut ws.class, scale)
            }
        };
        total / n as f64
    }

    /// Backward from dL/dlogits in ws.logits through the decoder, the output dropout and the
    /// encoder (down to the embedding table); replaces the gradients.
    fn backward(&mut self, t: usize, b: usize, train: bool) -> Result<()> {
        let (h, v) = (self.cfg.hidden_size, self.cfg.vocab_size);
        let tb = t * b;
        let drop = self.output_dropout(train);
        let w_out = self.decoder_weight();
        let Model {
            params,
            embedding,
            stack,
            out_b,
            class_out,
            ws,
            ..
        } = self;
        params.zero_grads();
        let (values, grads) = params.values_and_grads();
        let values: &[f32] = values;
        match class_out {
            None => {
                {
                    let top = top_outputs(stack, &ws.dropped, drop, tb * h);
                    let (dw, db) = split_two(grads, w_out.clone(), out_b.clone());
                    decoder::backward_weights(&ws.logits, tb, v, top, h, dw, db);
                }
                let dy = stack.output_grads_mut(0);
                decoder::backward_input(&ws.logits, tb, v, &values[w_out], h, dy);
            }
            Some(c) => {
                let wts = c.weights(values, w_out.clone(), out_b.clone());
                // The output tensors follow the word weight (output.weight or the embedding)
                // in the layout: bias, class weight, class bias.
                let (lo, hi) = grads.split_at_mut(out_b.start);
                let (db, hi) = hi.split_at_mut(out_b.len());
                let (dwc, hi) = hi[c.weight.start - out_b.end..].split_at_mut(c.weight.len());
                let dbc = &mut hi[c.bias.start - c.weight.end..][..c.bias.len()];
                let g = ClassGrads {
                    w: &mut lo[w_out],
                    b: db,
                    wc: dwc,
                    bc: dbc,
                };
                let mut dy = std::mem::take(&mut ws.dy);
                grow(&mut dy, tb * h);
                {
                    let top = top_outputs(stack, &ws.dropped, drop, tb * h);
                    class_decoder::backward(&c.map, wts, top, h, &mut ws.class, g, &mut dy);
                }
                stack.output_grads_mut(0)[..tb * h].copy_from_slice(&dy[..tb * h]);
                ws.dy = dy;
            }
        }
        let dy = stack.output_grads_mut(0);
        if drop {
            dropout::apply_in_place(dy, &ws.out_mask[..tb * h]);
        }
        let input = StackInput::Tokens {
            ids: &ws.ids[..tb],
            table: embedding.clone(),
            version: None,
        };
        stack.backward(values, grads, input, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::fill_uniform;

    #[test]
    fn token_nll_is_the_log_softmax_at_each_target() {
        let (x, y) = ([1u32, 4, 2, 9, 9, 0, 10, 3], [4u32, 2, 9, 9, 0, 10, 3, 5]);
        for softmax in [
            Softmax::Full,
            Softmax::Class {
                classes: vec![0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3],
            },
        ] {
            let mut cfg = ModelConfig::new(11, CellKind::Lstm, 6, 8, 2);
            cfg.softmax = softmax;
            let mut m = Model::new(cfg).expect("valid config");
            fill_uniform(m.params_mut().values_mut(), 3, 0.3);
            // Two sequences of four steps, (batch, time) row-major.
            let (xs, ys) = (
                Tokens::new(&x, 2, 4).unwrap(),
                Tokens::new(&y, 2, 4).unwrap(),
            );
            let (nll, _) = m.token_nll(xs, ys, None, None).unwrap();
            let (logits, _) = m.logits(xs, None).unwrap();
            for (k, &target) in y.iter().enumerate() {
                let row = &logits[k * 11..(k + 1) * 11];
                let top = row.iter().fold(f64::MIN, |a, &v| a.max(f64::from(v)));
                let sum: f64 = row.iter().map(|&v| (f64::from(v) - top).exp()).sum();
                let want = top + sum.ln() - f64::from(row[target as usize]);
                assert!((nll[k] - want).abs() < 1e-5, "{k}: {} vs {want}", nll[k]);
            }
            let (loss, _) = m.loss(xs, ys, None).unwrap();
            let mean = nll.iter().sum::<f64>() / nll.len() as f64;
            assert!((loss - mean).abs() < 1e-6, "{loss} vs {mean}");
            // With lengths, the steps past each length read 0 and the others are unchanged.
            let (short, _) = m.token_nll(xs, ys, None, Some(&[2, 4])).unwrap();
            for (k, (&s, &full)) in short.iter().zip(&nll).enumerate() {
                let want = if (2..4).contains(&k) { 0.0 } else { full };
                assert!((s - want).abs() < 1e-6, "{k}: {s} vs {want}");
            }
            for bad in [&[2usize][..], &[0, 4], &[2, 5]] {
                assert!(m.token_nll(xs, ys, None, Some(bad)).is_err(), "{bad:?}");
            }
        }
    }

    #[test]
    fn the_packed_decoder_follows_the_weights() {
        let x = [1u32, 4, 2, 9, 9, 0, 10, 3];
        let xs = Tokens::new(&x, 2, 4).unwrap();
        let mut m = Model::new(ModelConfig::new(11, CellKind::Lstm, 6, 8, 1)).unwrap();
        fill_uniform(m.params_mut().values_mut(), 3, 0.3);
        let (before, _) = m.token_nll(xs, xs, None, None).unwrap();
        // New weights: the loss is the one a model built with them gives.
        fill_uniform(m.params_mut().values_mut(), 4, 0.3);
        let (after, _) = m.token_nll(xs, xs, None, None).unwrap();
        let mut fresh = Model::new(ModelConfig::new(11, CellKind::Lstm, 6, 8, 1)).unwrap();
        fill_uniform(fresh.params_mut().values_mut(), 4, 0.3);
        let (want, _) = fresh.token_nll(xs, xs, None, None).unwrap();
        assert_eq!(after, want);
        assert_ne!(after, before);
    }
}
