//! Native generation for batch 1: a recurrent step built for one row (matrix-vector products,
//! no allocation per token) feeding the sampler ([`super::sampler`]), the whole loop in Rust.
//! Spec: one step computes what `reference/lm.py::lm_forward` computes for T = B = 1; the loop
//! is `rnnrs.generation.generate` (python/rnnrs/generation.py).
//!
//! ```
//! use rnnrs::lm::sampler::Sampling;
//! use rnnrs::lm::stepper::{generate, GenerateOptions};
//! use rnnrs::lm::{Model, ModelConfig};
//! use rnnrs::nn::CellKind;
//! let mut model = Model::new(ModelConfig::new(10, CellKind::Lstm, 8, 16, 1)).unwrap();
//! for (i, w) in model.params_mut().values_mut().iter_mut().enumerate() {
//!     *w = ((i * 37 % 101) as f32 / 101.0 - 0.5) * 0.5; // initial weights: the caller's
//! }
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

use super::model::Model;
use super::sampler::{Sampler, Sampling};
use crate::error::{CoreError, Result};
use crate::linalg::gemv::gemv_add;
use crate::nn::cell::{self, CellKind};
use crate::nn::class_decoder::{self, ClassMap};
use crate::nn::dropout::Rng;
use crate::nn::recurrent::Weights;

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

/// The most new ids [`generate`] reserves room for up front.
const OUT_RESERVE: usize = 1 << 12;

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
    let mut stepper = Stepper::new(model, prompt.len().saturating_add(opts.max_new_tokens));
    let mut sampler = Sampler::new(vocab, &opts.sampling);
    let mut is_end = vec![false; vocab];
    for &id in &opts.end_ids {
        if let Some(e) = is_end.get_mut(id as usize) {
            *e = true;
        }
    }
    let mut rng = Rng::new(opts.seed);
    // Grown as tokens come: the count asked for may be far more than will ever be made
    // (an end id, Ctrl-C), and reserving it up front would abort on a huge count.
    let mut out = Vec::with_capacity(opts.max_new_tokens.min(OUT_RESERVE));
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
    /// Each layer's weights, in the model's parameters.
    layers: Vec<Weights<'a>>,
    out_w: &'a [f32],
    out_b: &'a [f32],
    /// The class softmax's map, class weight (K, H) and bias (K); `class_logits` (K).
    class: Option<(&'a ClassMap, &'a [f32], &'a [f32])>,
    class_logits: Vec<f32>,
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
    pub fn new(model: &'a Model, tokens: usize) -> Self {
        let cfg = model.config();
        let (h, g) = (cfg.hidden_size, cfg.cell.gates() * cfg.hidden_size);
        let values = model.params().values();
        let layers = (0..cfg.num_layers)
            .map(|l| model.stack().weights(values, l, 0))
            .collect();
        let (out_w, out_b) = model.decoder();
        let n = cfg.num_layers * h;
        let table_rows = cfg.vocab_size.min(tokens).min(TABLE_FLOATS / g);
        Stepper {
            cell: cfg.cell,
            hidden: h,
            embed_size: cfg.embed_size,
            embedding: model.embedding(),
            layers,
            out_w,
            out_b,
            class: model.class_decoder(),
            class_logits: model
                .class_decoder()
                .map_or(Vec::new(), |(_, _, bc)| vec![0.0; bc.len()]),
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
        }
    }

    /// The hidden state (L, H), row-major.
    pub fn hidden_state(&self) -> &[f32] {
        &self.h
    }

    /// The LSTM cell state (L, H) (empty for other cells).
    pub fn cell_state(&self) -> &[f32] {
        &self.c
    }

    /// The logits (V) of the token after the last one given to [`Stepper::advance`] (the
    /// exact log-probabilities with the class softmax).
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
        if let Some((map, wc, bc)) = self.class {
            self.class_logits.copy_from_slice(bc);
            gemv_add(wc, top, &mut self.class_logits);
            class_decoder::log_probs_in_place(map, &mut self.class_logits, &mut self.logits);
        }
        Ok(())
    }
}

/// `gates = W_ih x + b_ih`, plus `b_hh` except for GRU (its kernel adds `b_hh` itself).
fn input_projection(cell: CellKind, w: &Weights<'_>, x: &[f32], gates: &mut [f32]) {
    gates.copy_from_slice(w.b_ih);
    if cell != CellKind::Gru {
        for (o, &b) in gates.iter_mut().zip(w.b_hh) {
            *o += b;
        }
    }
    gemv_add(w.w_ih, x, gates);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::{ModelConfig, Tokens};
    use crate::nn::params::fill_uniform;

    fn model(cell: CellKind, layers: usize, tie: bool) -> Model {
        let (e, h) = if tie { (12, 12) } else { (7, 12) };
        let mut cfg = ModelConfig::new(11, cell, e, h, layers);
        cfg.tie_weights = tie;
        let mut m = Model::new(cfg).unwrap();
        // Every weight non-zero, the decoder bias included, so that every path is exercised.
        fill_uniform(m.params_mut().values_mut(), 3, 0.3);
        m
    }

    #[test]
    fn stepper_gives_the_class_softmax_log_probs() {
        let mut cfg = ModelConfig::new(11, CellKind::Gru, 7, 12, 2);
        cfg.softmax = crate::lm::Softmax::Class {
            classes: vec![0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3],
        };
        let mut m = Model::new(cfg).unwrap();
        fill_uniform(m.params_mut().values_mut(), 3, 0.3);
        let ids = [1u32, 4, 2, 9, 9, 0];
        let (want, _) = m
            .logits(Tokens::new(&ids, 1, ids.len()).unwrap(), None)
            .unwrap();
        let mut s = Stepper::new(&m, ids.len());
        for (t, &id) in ids.iter().enumerate() {
            s.advance(id).unwrap();
            let total: f32 = s.logits().iter().map(|x| x.exp()).sum();
            assert!(
                (total - 1.0).abs() < 1e-5,
                "t{t}: probabilities sum to {total}"
            );
            for (a, b) in s.logits().iter().zip(&want[t * 11..(t + 1) * 11]) {
                assert!((a - b).abs() < 1e-5, "t{t}: {a} vs {b}");
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
                let mut s = Stepper::new(&m, 1);
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
