//! Train one canonical workload through the pure-Rust API and print tokens/s as JSON; a
//! target for profilers (`perf record`, `valgrind --tool=callgrind`).
//!
//! `cargo run --release --no-default-features --example train_workload -- C2 lstm 3 1`
//! (workload, cell, steps, threads).

use rnnrs::lm::{Model, ModelConfig};
use rnnrs::nn::CellKind;
use rnnrs::runtime::threads;
use rnnrs::train::{train_steps, Clip, Optimizer, OptimizerSpec, Schedule};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let workload = args.get(1).map_or("C2", String::as_str);
    let cell = CellKind::parse(args.get(2).map_or("lstm", String::as_str))?;
    let steps: usize = args.get(3).map_or(Ok(3), |s| s.parse())?;
    let n_threads: usize = args.get(4).map_or(Ok(1), |s| s.parse())?;
    // (vocab, layers, hidden, embed, bptt, batch) as in the design notes.
    let (v, l, h, e, bptt, b) = match workload {
        "C1" => (65, 1, 256, 64, 64, 32),
        "C2" => (65, 2, 512, 64, 128, 64),
        "W1" => (6022, 2, 200, 200, 35, 20),
        other => return Err(format!("unknown workload {other}").into()),
    };
    threads::set_num_threads(n_threads)?;
    let mut model = Model::new(ModelConfig::new(v, cell, e, h, l))?;
    // Models start at zero (rnnrs's Python layer draws the initial weights): a small
    // deterministic pattern in [-0.1, 0.1).
    for (i, w) in model.params_mut().values_mut().iter_mut().enumerate() {
        let bits = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        *w = (bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * 0.1;
    }
    let mut opt = Optimizer::new(OptimizerSpec::adam(), model.params().len())?;
    let n = (steps + 2) * bptt + 1;
    let stream: Vec<u32> = (0..b * n)
        .map(|i| ((i * 2_654_435_761) % v) as u32)
        .collect();
    let starts: Vec<usize> = (0..=steps).map(|k| k * bptt).collect();
    let lrs = vec![1e-3f32; steps + 1];
    let reset = vec![false; steps + 1];
    let mut run = |range: std::ops::Range<usize>| {
        let schedule = Schedule {
            starts: &starts[range.clone()],
            lrs: &lrs[range.clone()],
            reset: &reset[range],
            bptt,
            clip: Clip {
                norm: Some(5.0),
                value: None,
            },
        };
        train_steps(
            &mut model,
            &mut opt,
            &stream,
            b,
            n,
            schedule,
            None,
            &mut |_| Ok(()),
        )
    };
    run(0..1)?; // warm-up: workspace allocation
    let t0 = std::time::Instant::now();
    run(1..steps + 1)?;
    let sec = t0.elapsed().as_secs_f64();
    println!(
        "{{\"workload\": \"{workload}\", \"cell\": \"{}\", \"threads\": {n_threads}, \"tok_s\": {:.0}}}",
        cell.name(),
        (steps * b * bptt) as f64 / sec
    );
    Ok(())
}
