//! Native generation for batch 1: a recurrent step built for one row (matrix-vector products,
//! no allocation per token) and a sampler that fuses temperature, top-k, top-p, the softmax
//! and the draw. The semantics are those of `rnnrs.generate` (python/rnnrs/generate.py):
//! logits / temperature -> keep the `top_k` likeliest -> keep the smallest prefix whose
//! probability reaches `top_p` -> renormalise -> one inverse-CDF draw; `greedy` takes the
//! likeliest token (the first one on ties).
//!
//! ```
//! use rnnrs::lm::stepper::{generate, GenerateOptions, Sampling};
//! use rnnrs::lm::{Model, ModelConfig};
//! use rnnrs::nn::CellKind;
//! let model = Model::new(ModelConfig::new(10, CellKind::Lstm, 8, 16, 1)).unwrap();
//! let opts = GenerateOptions {
//!     max_new_tokens: 20,
//!     sampling: Sampling { top_k: Some(5), ..Sampling::default() },
//!     seed: 7,
//!     end_ids: vec![],
//! };
//! let ids = generate(&model, &[1, 2, 3], &opts, &mut || Ok(())).unwrap();
//! assert_eq!(ids.len(), 20);
//! assert_eq!(ids, generate(&model, &[1, 2, 3], &opts, &mut || Ok(())).unwrap());
//! ```

use std::cmp::Ordering;

use super::model::Model;
use crate::error::{CoreError, Result};
use crate::nn::cell::{self, CellKind};
use crate::nn::dropout::Rng;
use crate::runtime::simd::{exp, level, max_lanes, multiversion, sum_lanes, Level};

/// How the next token is chosen from the logits.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    /// Divides the logits (> 0; ignored when `greedy`).
    pub temperature: f64,
    /// Keep only the `top_k` likeliest tokens (>= 1).
    pub top_k: Option<usize>,
    /// Keep the smallest set of likeliest tokens whose probability reaches `top_p`, in (0, 1].
    pub top_p: Option<f64>,
    /// Take the likeliest token (no randomness).
    pub greedy: bool,
}

impl Default for Sampling {
    /// Plain sampling at temperature 1.
    fn default() -> Self {
        Sampling {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            greedy: false,
        }
    }
}

impl Sampling {
    /// Check every field; the error names the field (as `rnnrs.generate.check_sampling_args`).
    pub fn validate(&self) -> Result<()> {
        // NaN fails the comparison; +inf is allowed (uniform over the candidates).
        if !(self.greedy || self.temperature > 0.0) {
            return Err(CoreError::invalid(
                "temperature",
                format!(
                    "must be > 0 when sampling, got {} (use greedy=True for the most likely tokens)",
                    self.temperature
                ),
            ));
        }
        if self.top_k == Some(0) {
            return Err(CoreError::invalid(
                "top_k",
                "must be a positive integer or None, got 0",
            ));
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(CoreError::invalid(
                    "top_p",
                    format!("must be in (0, 1] or None, got {p}"),
                ));
            }
        }
        Ok(())
    }
}

/// What [`generate`] produces.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// Stop after this many new tokens.
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    /// Seeds the generator: the same seed gives the same tokens.
    pub seed: u64,
    /// Generation stops when one of these is drawn (it is not returned). Ids outside the
    /// vocabulary never occur and are ignored.
    pub end_ids: Vec<u32>,
}

/// Most layer-0 input-projection rows cached per call (floats): 16 MB.
const TABLE_FLOATS: usize = 4 << 20;

/// How long generation may run between two calls of the `check` callback.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Continue `prompt` (at least one id) by up to `opts.max_new_tokens` tokens; returns the new
/// ids. `check` runs every ~50 ms (return an error, e.g. [`CoreError::Interrupted`], to stop).
pub fn generate(
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<Vec<u32>> {
    opts.sampling.validate()?;
    if prompt.is_empty() {
        return Err(CoreError::invalid(
            "prompt",
            "expected at least one token to condition on",
        ));
    }
    let vocab = model.config().vocab_size;
    let mut stepper = Stepper::new(model, prompt.len() + opts.max_new_tokens)?;
    let mut sampler = Sampler::new(vocab, &opts.sampling);
    let mut is_end = vec![false; vocab];
    for &id in &opts.end_ids {
        if let Some(e) = is_end.get_mut(id as usize) {
            *e = true;
        }
    }
    let mut rng = Rng::new(opts.seed);
    let mut out = Vec::with_capacity(opts.max_new_tokens);
    let mut last_check = std::time::Instant::now();
    let (context, last) = prompt.split_at(prompt.len() - 1);
    for &id in context {
        stepper.advance(id)?;
        if last_check.elapsed() >= CHECK_EVERY {
            check()?;
            last_check = std::time::Instant::now();
        }
    }
    let mut token = last[0];
    while out.len() < opts.max_new_tokens {
        stepper.advance(token)?;
        let at = out.len();
        token = sampler
            .pick(stepper.logits_mut(), &mut rng)
            .ok_or_else(|| non_finite(at))?;
        if is_end[token as usize] {
            break;
        }
        out.push(token);
        if last_check.elapsed() >= CHECK_EVERY {
            check()?;
            last_check = std::time::Instant::now();
        }
    }
    Ok(out)
}

fn non_finite(at: usize) -> CoreError {
    CoreError::invalid(
        "model",
        format!(
            "produced non-finite logits at generated token {at}; the weights contain NaN or \
             infinity"
        ),
    )
}

/// `out (R) += w (R, C) · x (C)` with `w` row-major, for the widest SIMD level of this CPU.
pub fn gemv_add(w: &[f32], x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    unsafe fn v4(w: &[f32], x: &[f32], out: &mut [f32]) {
        gemv_kernel::<32, true>(w, x, out)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn v3(w: &[f32], x: &[f32], out: &mut [f32]) {
        gemv_kernel::<16, true>(w, x, out)
    }
    match level() {
        // SAFETY: `level()` reported these features present on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { v4(w, x, out) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { v3(w, x, out) },
        _ => gemv_kernel::<16, false>(w, x, out),
    }
}

/// [`gemv_add`], four rows at a time with `L` lanes each (4 * L / lanes-per-register
/// independent accumulator chains); `FMA` fuses the multiply-adds (only where the CPU has it,
/// else `mul_add` would be a library call).
#[inline(always)]
fn gemv_kernel<const L: usize, const FMA: bool>(w: &[f32], x: &[f32], out: &mut [f32]) {
    #[inline(always)]
    fn madd<const FMA: bool>(acc: f32, a: f32, b: f32) -> f32 {
        if FMA {
            a.mul_add(b, acc)
        } else {
            acc + a * b
        }
    }
    /// Sum of the lanes by halving (a short dependency chain; L is a power of two).
    #[inline(always)]
    fn finish<const L: usize>(acc: &[f32; L], row: &[f32], x: &[f32], main: usize) -> f32 {
        let mut a = *acc;
        let mut n = L;
        while n > 1 {
            n /= 2;
            for i in 0..n {
                a[i] += a[i + n];
            }
        }
        let mut s = a[0];
        for (&wv, &xv) in row[main..].iter().zip(&x[main..]) {
            s += wv * xv;
        }
        s
    }
    let cols = x.len();
    let rows = out.len();
    let w = &w[..rows * cols];
    let main = cols - cols % L;
    let xm = &x[..main];
    let mut quads = w.chunks_exact(4 * cols);
    let mut r = 0;
    for quad in &mut quads {
        let (w0, rest) = quad.split_at(cols);
        let (w1, rest) = rest.split_at(cols);
        let (w2, w3) = rest.split_at(cols);
        let mut acc = [[0.0f32; L]; 4];
        let chunks = xm
            .chunks_exact(L)
            .zip(w0.chunks_exact(L))
            .zip(w1.chunks_exact(L))
            .zip(w2.chunks_exact(L))
            .zip(w3.chunks_exact(L));
        for ((((xc, a), b), c), d) in chunks {
            for l in 0..L {
                acc[0][l] = madd::<FMA>(acc[0][l], a[l], xc[l]);
                acc[1][l] = madd::<FMA>(acc[1][l], b[l], xc[l]);
                acc[2][l] = madd::<FMA>(acc[2][l], c[l], xc[l]);
                acc[3][l] = madd::<FMA>(acc[3][l], d[l], xc[l]);
            }
        }
        for (k, row) in [w0, w1, w2, w3].into_iter().enumerate() {
            out[r + k] += finish(&acc[k], row, x, main);
        }
        r += 4;
    }
    for (row, o) in quads.remainder().chunks_exact(cols).zip(&mut out[r..]) {
        let mut acc = [0.0f32; L];
        for (xc, a) in xm.chunks_exact(L).zip(row.chunks_exact(L)) {
            for l in 0..L {
                acc[l] = madd::<FMA>(acc[l], a[l], xc[l]);
            }
        }
        *o += finish(&acc, row, x, main);
    }
}

/// One layer's weights as PyTorch lays them out.
struct LayerWeights<'a> {
    w_ih: &'a [f32],
    w_hh: &'a [f32],
    b_ih: &'a [f32],
    b_hh: &'a [f32],
}

/// A model run one token at a time for one sequence: the recurrent state, the logits of the
/// next token, and every buffer the step needs (allocated once).
///
/// Layer 0's input projection `W_ih · embedding[id] + b_ih` (+ `b_hh` except for GRU, whose
/// `b_hn` sits inside the reset gate) is computed once per distinct id and kept, so a step
/// costs the recurrent products, the upper layers' input products and the decoder.
pub struct Stepper<'a> {
    cell: CellKind,
    hidden: usize,
    embed_size: usize,
    embedding: &'a [f32],
    layers: Vec<LayerWeights<'a>>,
    out_w: &'a [f32],
    out_b: &'a [f32],
    /// (L, H) hidden state and, for LSTM, (L, H) cell state.
    h: Vec<f32>,
    c: Vec<f32>,
    /// (G*H) gate pre-activations; GRU: (G*H) hidden projection and (H) W_hn h + b_hn.
    gates: Vec<f32>,
    gh: Vec<f32>,
    hn: Vec<f32>,
    /// (H) copy of the previous c (LSTM) or h (GRU) of the layer being stepped.
    prev: Vec<f32>,
    /// Cached layer-0 rows; `slot[id]` is the row of `id` in `table` (u32::MAX: none yet).
    slot: Vec<u32>,
    table: Vec<f32>,
    table_rows: usize,
    logits: Vec<f32>,
}

impl<'a> Stepper<'a> {
    /// A stepper at the zero state; `tokens` (an upper bound on the number of steps) sizes
    /// the layer-0 cache.
    pub fn new(model: &'a Model, tokens: usize) -> Result<Self> {
        let cfg = model.config();
        let (h, g) = (cfg.hidden_size, cfg.cell.gates() * cfg.hidden_size);
        let param = |name: String| {
            model
                .param(&name)
                .ok_or_else(|| CoreError::invalid(name, "missing from the model"))
        };
        let mut layers = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            layers.push(LayerWeights {
                w_ih: param(format!("rnn.weight_ih_l{l}"))?,
                w_hh: param(format!("rnn.weight_hh_l{l}"))?,
                b_ih: param(format!("rnn.bias_ih_l{l}"))?,
                b_hh: param(format!("rnn.bias_hh_l{l}"))?,
            });
        }
        let embedding = param("embedding.weight".into())?;
        let out_w = if cfg.tie_weights {
            embedding
        } else {
            param("output.weight".into())?
        };
        let n = cfg.num_layers * h;
        let table_rows = cfg.vocab_size.min(tokens).min(TABLE_FLOATS / g);
        Ok(Stepper {
            cell: cfg.cell,
            hidden: h,
            embed_size: cfg.embed_size,
            embedding,
            layers,
            out_w,
            out_b: param("output.bias".into())?,
            h: vec![0.0; n],
            c: if cfg.cell.has_cell_state() {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            gates: vec![0.0; g],
            gh: vec![0.0; if cfg.cell == CellKind::Gru { g } else { 0 }],
            hn: vec![0.0; h],
            prev: vec![0.0; h],
            slot: vec![u32::MAX; cfg.vocab_size],
            table: Vec::with_capacity(table_rows * g),
            table_rows,
            logits: vec![0.0; cfg.vocab_size],
        })
    }

    /// The hidden state (L, H), row-major.
    pub fn hidden_state(&self) -> &[f32] {
        &self.h
    }

    /// The LSTM cell state (L, H) (empty for other cells).
    pub fn cell_state(&self) -> &[f32] {
        &self.c
    }

    /// The logits (V) of the token after the last one given to [`Stepper::advance`].
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// The logits as scratch space (a sampler overwrites them; the next advance recomputes).
    pub fn logits_mut(&mut self) -> &mut [f32] {
        &mut self.logits
    }

    /// Read one token: update the state and compute the logits of the next token.
    pub fn advance(&mut self, id: u32) -> Result<()> {
        let vocab = self.slot.len();
        if id as usize >= vocab {
            return Err(CoreError::invalid(
                "prompt",
                format!("token id {id} is out of range for vocab_size {vocab}"),
            ));
        }
        let (h, g) = (self.hidden, self.gates.len());
        // Layer 0's input projection: from the cache, or computed (and cached if room).
        let cached = self.slot[id as usize];
        if cached != u32::MAX {
            let at = cached as usize * g;
            self.gates.copy_from_slice(&self.table[at..at + g]);
        } else {
            let e = self.embed_size;
            let x = &self.embedding[id as usize * e..(id as usize + 1) * e];
            input_projection(self.cell, &self.layers[0], x, &mut self.gates);
            if self.table.len() < self.table_rows * g {
                self.slot[id as usize] = (self.table.len() / g) as u32;
                self.table.extend_from_slice(&self.gates);
            }
        }
        for l in 0..self.layers.len() {
            let w = &self.layers[l];
            let (below, this) = self.h.split_at_mut(l * h);
            let h_l = &mut this[..h];
            if l > 0 {
                input_projection(self.cell, w, &below[(l - 1) * h..], &mut self.gates);
            }
            match self.cell {
                CellKind::Lstm => {
                    gemv_add(w.w_hh, h_l, &mut self.gates);
                    let c_l = &mut self.c[l * h..(l + 1) * h];
                    self.prev.copy_from_slice(c_l);
                    cell::lstm_forward(&mut self.gates, &self.prev, c_l, h_l);
                }
                CellKind::Gru => {
                    self.gh.fill(0.0);
                    gemv_add(w.w_hh, h_l, &mut self.gh);
                    self.prev.copy_from_slice(h_l);
                    cell::gru_forward(
                        &mut self.gates,
                        &self.gh,
                        w.b_hh,
                        &self.prev,
                        &mut self.hn,
                        h_l,
                    );
                }
                CellKind::RnnTanh | CellKind::RnnRelu => {
                    gemv_add(w.w_hh, h_l, &mut self.gates);
                    cell::rnn_forward(self.cell == CellKind::RnnRelu, &self.gates, h_l);
                }
            }
        }
        let top = &self.h[(self.layers.len() - 1) * h..];
        self.logits.copy_from_slice(self.out_b);
        gemv_add(self.out_w, top, &mut self.logits);
        Ok(())
    }
}

/// `gates = W_ih x + b_ih`, plus `b_hh` except for GRU (its kernel adds `b_hh` itself).
fn input_projection(cell: CellKind, w: &LayerWeights<'_>, x: &[f32], gates: &mut [f32]) {
    gates.copy_from_slice(w.b_ih);
    if cell != CellKind::Gru {
        for (o, &b) in gates.iter_mut().zip(w.b_hh) {
            *o += b;
        }
    }
    gemv_add(w.w_ih, x, gates);
}

/// Draws token ids from logits with the rules of [`Sampling`]; owns its scratch buffers.
pub struct Sampler {
    sampling: Sampling,
    temperature: f32,
    /// Candidate ids, sorted by decreasing logit when top-k or top-p needs an order.
    order: Vec<u32>,
    weights: Vec<f64>,
}

/// Decreasing logit, then increasing id (a stable order, as `numpy.argsort(kind="stable")`).
fn by_logit(logits: &[f32]) -> impl Fn(&u32, &u32) -> Ordering + '_ {
    move |&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    }
}

impl Sampler {
    /// A sampler for `vocab` logits (`sampling` must be valid, see [`Sampling::validate`]).
    pub fn new(vocab: usize, sampling: &Sampling) -> Self {
        let ordered =
            sampling.top_k.is_some_and(|k| k < vocab) || sampling.top_p.is_some_and(|p| p < 1.0);
        Sampler {
            // Dividing (x - max) by a tiny temperature gives -inf, never NaN.
            temperature: (sampling.temperature as f32).max(f32::MIN_POSITIVE),
            sampling: sampling.clone(),
            order: Vec::with_capacity(if ordered { vocab } else { 0 }),
            weights: Vec::with_capacity(if ordered { vocab } else { 0 }),
        }
    }

    /// One token id; `logits` is overwritten (scratch). None when a logit is NaN or +inf.
    pub fn pick(&mut self, logits: &mut [f32], rng: &mut Rng) -> Option<u32> {
        let max = max_lanes(logits);
        if !max.is_finite() {
            return None;
        }
        if self.sampling.greedy {
            return logits.iter().position(|&x| x == max).map(|i| i as u32);
        }
        let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let vocab = logits.len();
        let k = self.sampling.top_k.unwrap_or(vocab).min(vocab);
        let p = self.sampling.top_p.unwrap_or(1.0);
        if k == vocab && p >= 1.0 {
            let total = softmax_weights(logits, max, self.temperature) as f64;
            return Some(draw_in_place(logits, u * total));
        }
        // Candidates: the k likeliest in decreasing order.
        self.order.clear();
        self.order.extend(0..vocab as u32);
        let cmp = by_logit(logits);
        if k < vocab {
            self.order.select_nth_unstable_by(k - 1, &cmp);
            self.order.truncate(k);
        }
        self.order.sort_unstable_by(&cmp);
        self.weights.clear();
        let t = self.temperature;
        let mut total = 0.0f64;
        for &id in &self.order {
            let w = exp((logits[id as usize] - max) / t) as f64;
            total += w;
            self.weights.push(w);
        }
        let mut keep = self.order.len();
        if p < 1.0 {
            // The smallest prefix whose probability reaches p (rnnrs.generate's rule).
            let threshold = p * (1.0 - 1e-12) * total;
            let mut cumulative = 0.0;
            for (i, &w) in self.weights.iter().enumerate() {
                cumulative += w;
                if cumulative >= threshold {
                    keep = i + 1;
                    break;
                }
            }
        }
        let kept = &self.weights[..keep];
        let target = u * kept.iter().sum::<f64>();
        let mut cumulative = 0.0;
        for (i, &w) in kept.iter().enumerate() {
            cumulative += w;
            if cumulative > target {
                return Some(self.order[i]);
            }
        }
        let last = kept.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        Some(self.order[last])
    }
}

multiversion! {
    /// `logits[i] = exp((logits[i] - max) / t)`; returns their sum.
    fn softmax_weights(logits: &mut [f32], max: f32, t: f32) -> f32 {
        for x in logits.iter_mut() {
            *x = exp((*x - max) / t);
        }
        sum_lanes(logits)
    }
}

/// The first index whose running sum of `weights` exceeds `target` (the last positive weight
/// when rounding leaves the running sum short of it).
fn draw_in_place(weights: &[f32], target: f64) -> u32 {
    let mut cumulative = 0.0f64;
    for (i, &w) in weights.iter().enumerate() {
        cumulative += w as f64;
        if cumulative > target {
            return i as u32;
        }
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::{ModelConfig, Tokens};

    fn model(cell: CellKind, layers: usize, tie: bool) -> Model {
        let (e, h) = if tie { (12, 12) } else { (7, 12) };
        let mut cfg = ModelConfig::new(11, cell, e, h, layers);
        cfg.tie_weights = tie;
        cfg.seed = 3;
        let mut m = Model::new(cfg).unwrap();
        // Non-zero decoder bias so that its path is exercised.
        let bias: Vec<f32> = (0..11).map(|i| (i as f32 * 0.37).sin() * 0.2).collect();
        m.set_param("output.bias", &bias).unwrap();
        m
    }

    #[test]
    fn gemv_matches_naive_for_odd_shapes() {
        for (rows, cols) in [(1, 1), (3, 17), (4, 16), (9, 35), (13, 64)] {
            let w: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.7).cos()).collect();
            let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.3).sin()).collect();
            let mut out = vec![1.0f32; rows];
            gemv_add(&w, &x, &mut out);
            for r in 0..rows {
                let want: f64 = 1.0
                    + (0..cols)
                        .map(|c| w[r * cols + c] as f64 * x[c] as f64)
                        .sum::<f64>();
                assert!((out[r] as f64 - want).abs() < 1e-4, "{rows}x{cols} row {r}");
            }
        }
    }

    #[test]
    fn stepper_matches_the_model_forward_for_every_cell() {
        let ids = [1u32, 4, 2, 9, 9, 0, 10, 3];
        for cell in [
            CellKind::RnnTanh,
            CellKind::RnnRelu,
            CellKind::Lstm,
            CellKind::Gru,
        ] {
            for (layers, tie) in [(1, false), (2, false), (2, true)] {
                let mut m = model(cell, layers, tie);
                let (want, state) = m
                    .logits(Tokens::new(&ids, 1, ids.len()).unwrap(), None)
                    .unwrap();
                // A one-row cache: later ids exercise the uncached path.
                let mut s = Stepper::new(&m, 1).unwrap();
                for (t, &id) in ids.iter().enumerate() {
                    s.advance(id).unwrap();
                    for (a, b) in s.logits().iter().zip(&want[t * 11..(t + 1) * 11]) {
                        assert!((a - b).abs() < 1e-5, "{cell:?} L{layers} t{t}: {a} vs {b}");
                    }
                }
                for (a, b) in s.hidden_state().iter().zip(&state.h) {
                    assert!((a - b).abs() < 1e-5);
                }
                assert_eq!(s.cell_state().len(), state.c.map_or(0, |c| c.len()));
            }
        }
    }

    fn frequencies(logits: &[f32], sampling: Sampling, n: usize) -> Vec<f64> {
        let mut sampler = Sampler::new(logits.len(), &sampling);
        let mut rng = Rng::new(11);
        let mut counts = vec![0usize; logits.len()];
        let mut scratch = logits.to_vec();
        for _ in 0..n {
            scratch.copy_from_slice(logits);
            counts[sampler.pick(&mut scratch, &mut rng).unwrap() as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    fn logits_of(p: &[f64]) -> Vec<f32> {
        p.iter().map(|&x| x.ln() as f32 + 3.0).collect()
    }

    #[test]
    fn plain_and_tempered_sampling_follow_the_distribution() {
        let p = [0.5, 0.3, 0.15, 0.05];
        for t in [1.0, 0.5, 2.0] {
            let q: Vec<f64> = p.iter().map(|x: &f64| x.powf(1.0 / t)).collect();
            let z: f64 = q.iter().sum();
            let s = Sampling {
                temperature: t,
                ..Sampling::default()
            };
            let f = frequencies(&logits_of(&p), s, 40_000);
            for (a, b) in f.iter().zip(&q) {
                assert!((a - b / z).abs() < 0.01, "t={t}: {f:?}");
            }
        }
    }

    #[test]
    fn top_k_and_top_p_truncate_as_the_python_sampler() {
        let p = [0.05, 0.5, 0.15, 0.3];
        let k2 = Sampling {
            top_k: Some(2),
            ..Sampling::default()
        };
        let f = frequencies(&logits_of(&p), k2, 20_000);
        assert_eq!((f[0], f[2]), (0.0, 0.0));
        assert!((f[1] - 0.5 / 0.8).abs() < 0.015);
        let nucleus = |top_p: f64| Sampling {
            top_p: Some(top_p),
            ..Sampling::default()
        };
        // 0.5 + 0.3 reaches 0.8 exactly: inclusive, so {1, 3}; 0.81 needs id 2 as well.
        let f = frequencies(&logits_of(&p), nucleus(0.8), 5_000);
        assert!(f[0] == 0.0 && f[2] == 0.0 && f[1] > 0.5);
        let f = frequencies(&logits_of(&p), nucleus(0.81), 5_000);
        assert!(f[0] == 0.0 && f[2] > 0.1);
        let both = Sampling {
            top_k: Some(3),
            top_p: Some(0.6),
            ..Sampling::default()
        };
        let f = frequencies(&logits_of(&p), both, 5_000);
        assert!(f[0] == 0.0 && f[2] == 0.0 && f[1] > 0.55);
    }

    #[test]
    fn greedy_and_cold_sampling_take_the_first_maximum() {
        let logits = [0.1f32, 2.0, -1.0, 2.0];
        let greedy = Sampling {
            greedy: true,
            ..Sampling::default()
        };
        assert_eq!(frequencies(&logits, greedy, 10)[1], 1.0);
        let cold = Sampling {
            temperature: 1e-30,
            ..Sampling::default()
        };
        let f = frequencies(&[0.1f32, 2.0, -1.0, 1.9], cold, 1000);
        assert_eq!(f[1], 1.0);
        let mut nan = [0.0f32, f32::NAN];
        assert!(Sampler::new(2, &Sampling::default())
            .pick(&mut nan, &mut Rng::new(1))
            .is_none());
    }

    #[test]
    fn generate_stops_at_end_ids_and_checks_arguments() {
        let m = model(CellKind::Gru, 2, false);
        let greedy = GenerateOptions {
            max_new_tokens: 30,
            sampling: Sampling {
                greedy: true,
                ..Sampling::default()
            },
            seed: 0,
            end_ids: vec![],
        };
        let free = generate(&m, &[1, 2], &greedy, &mut || Ok(())).unwrap();
        assert_eq!(free.len(), 30);
        let stop = GenerateOptions {
            end_ids: vec![free[5], 1000],
            ..greedy.clone()
        };
        let cut = generate(&m, &[1, 2], &stop, &mut || Ok(())).unwrap();
        let first = free.iter().position(|&t| t == free[5]).unwrap();
        assert_eq!(cut, free[..first]);
        assert!(generate(&m, &[], &greedy, &mut || Ok(())).is_err());
        assert!(generate(&m, &[11], &greedy, &mut || Ok(())).is_err());
        let bad = GenerateOptions {
            sampling: Sampling {
                temperature: 0.0,
                ..Sampling::default()
            },
            ..greedy
        };
        let err = generate(&m, &[1], &bad, &mut || Ok(())).unwrap_err();
        assert!(err.to_string().starts_with("temperature"));
    }
}
