//! The pure-Rust API, as another Rust program would use it: build a model, set its initial
//! weights, train it with Adam on a repeating sequence until it has learned it, then score
//! it; train the encoder layer stack in a hand-written loop.

use rnnrs::lm::{Model, ModelConfig, Tokens};
use rnnrs::nn::CellKind;
use rnnrs::train::{train_steps, Clip, Optimizer, OptimizerSpec, Schedule};

/// Initial weights in [-bound, bound) from a multiplicative hash of the position (models
/// start at zero; rnnrs's Python layer draws the initial weights, a Rust program sets them).
fn init(values: &mut [f32], bound: f32) {
    for (i, v) in values.iter_mut().enumerate() {
        let bits = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        *v = (bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound;
    }
}

#[test]
fn train_a_small_lstm_to_memorise_a_cycle() {
    let mut cfg = ModelConfig::new(7, CellKind::Lstm, 16, 32, 2);
    cfg.seed = 1;
    let mut model = Model::new(cfg).expect("valid config");
    init(model.params_mut().values_mut(), 0.15);
    let mut opt = Optimizer::new(OptimizerSpec::adam(), model.params().len()).expect("valid");

    // Two rows of the cycle 0..7 (shifted), 64 columns.
    let (batch, n) = (2usize, 64usize);
    let stream: Vec<u32> = (0..batch * n)
        .map(|i| ((i % n + 3 * (i / n)) % 7) as u32)
        .collect();
    let before = model.evaluate(&stream, batch, n, 16).expect("valid");

    let starts: Vec<usize> = (0..60).map(|k| (k * 16) % 48).collect();
    let reset: Vec<bool> = starts.iter().map(|&s| s == 0).collect();
    let lrs = vec![0.01f32; starts.len()];
    let schedule = Schedule {
        starts: &starts,
        lrs: &lrs,
        reset: &reset,
        bptt: 16,
        clip: Clip {
            norm: Some(5.0),
            value: None,
        },
    };
    let mut seen = 0;
    let report = train_steps(
        &mut model,
        &mut opt,
        &stream,
        batch,
        n,
        schedule,
        None,
        &mut |_| {
            seen += 1;
            Ok(())
        },
    )
    .expect("training runs");
    assert_eq!(seen, 60);
    assert_eq!(report.losses.len(), 60);
    assert!(report.grad_norms.iter().all(|g| g.is_finite() && *g > 0.0));
    let first = report.losses[0];
    let last = report.losses[59];
    assert!(last < 0.2 * first, "loss {first} -> {last}");

    let (total, count) = model.evaluate(&stream, batch, n, 16).expect("valid");
    assert_eq!(count, batch * (n - 1));
    assert!(total / (count as f64) < 0.25 * before.0 / before.1 as f64);

    // The next token after "3 4 5" is 6.
    let x = [3u32, 4, 5];
    let (logits, _) = model
        .logits(Tokens::new(&x, 1, 3).expect("shape"), None)
        .expect("valid");
    let last_row = &logits[2 * 7..3 * 7];
    let best = (0..7).max_by(|&a, &b| last_row[a].total_cmp(&last_row[b]));
    assert_eq!(best, Some(6));

    // Bad input is an error, not a panic.
    let bad = [9u32, 1, 2];
    assert!(model
        .logits(Tokens::new(&bad, 1, 3).expect("shape"), None)
        .is_err());
}

/// The encoder layers from Rust: a bidirectional GRU stack learns to output, at every step,
/// the next step's input, which only its reverse direction can see.
#[test]
fn train_a_bidirectional_stack_to_look_ahead() {
    use rnnrs::nn::{RecurrentStack, StackConfig};

    let mut cfg = StackConfig::new(CellKind::Gru, 1, 8, 2);
    cfg.bidirectional = true;
    let mut stack = RecurrentStack::new(cfg, 3).expect("valid config");
    init(stack.params_mut().values_mut(), 0.35);
    let mut opt = Optimizer::new(OptimizerSpec::adam(), stack.params().len()).expect("valid");
    let (b, t, width) = (8usize, 10usize, 16usize);
    // x (B, T, 1): a fixed pattern of +-0.5; target for step s < T-1: x at step s+1.
    let x: Vec<f32> = (0..b * t)
        .map(|i| if (i * 7 + i / 3) % 5 < 2 { 0.5 } else { -0.5 })
        .collect();
    let mut losses = Vec::new();
    for _ in 0..150 {
        let (out, _) = stack.forward(&x, b, t, None, true).expect("valid");
        let mut d_out = vec![0.0f32; out.len()];
        let mut loss = 0.0f64;
        let n = (b * (t - 1)) as f32;
        for bb in 0..b {
            for s in 0..t - 1 {
                let o = (bb * t + s) * width;
                let diff = out[o] - x[bb * t + s + 1];
                loss += 0.5 * (diff * diff) as f64 / n as f64;
                d_out[o] = diff / n;
            }
        }
        losses.push(loss);
        stack.backward(&d_out, None).expect("after forward");
        let (params, grads) = stack.params_mut().values_and_grads();
        opt.step(params, grads, 0.02);
    }
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(last < 0.1 * first, "loss {first} -> {last}");
}
