//! Estimate an n-gram model (count + modified Kneser-Ney + write ARPA) or score a text
//! through the pure-Rust API and print the times as JSON; a target for profilers
//! (`perf record`, `valgrind --tool=callgrind`).
//!
//! `cargo run --profile profiling --no-default-features --example ngram_workload -- \
//!     estimate corpus.txt 5 out.arpa 2` (text, order, ARPA path, threads), or
//! `... -- score model.arpa test.txt 20 2` (model, text, repeats, threads).

use std::time::Instant;

use rnnrs::ngram::{arpa, estimate, Method, NGramCounts, Smoothing};
use rnnrs::runtime::threads;

type Failure = Box<dyn std::error::Error>;

fn estimate_file(args: &[String]) -> Result<String, Failure> {
    let [text, order, out, ..] = args else {
        return Err("usage: estimate TEXT ORDER OUT.arpa [THREADS]".into());
    };
    let start = Instant::now();
    let corpus = std::fs::read_to_string(text)?;
    let mut counts = NGramCounts::new(order.parse()?)?;
    counts.add_lines(corpus.lines())?;
    let counted = start.elapsed().as_secs_f64();
    let model = estimate::estimate_consuming(counts, &Smoothing::new(Method::ModifiedKneserNey))?;
    let fitted = start.elapsed().as_secs_f64();
    arpa::write_arpa(&model, out.as_ref())?;
    let total = start.elapsed().as_secs_f64();
    Ok(format!(
        r#"{{"count_s": {counted:.3}, "fit_s": {fitted:.3}, "seconds": {total:.3}}}"#
    ))
}

fn score_file(args: &[String]) -> Result<String, Failure> {
    let [model, text, repeats, ..] = args else {
        return Err("usage: score MODEL.arpa TEXT REPEATS [THREADS]".into());
    };
    let model = arpa::read_arpa(model.as_ref())?;
    let mut ids = Vec::new();
    for line in std::fs::read_to_string(text)?.lines() {
        let before = ids.len();
        ids.extend(line.split_whitespace().map(|w| {
            let w = if w == "<unk>" { "_unk_" } else { w };
            model.vocab().id_or_unk(w)
        }));
        if ids.len() > before {
            ids.push(rnnrs::ngram::EOS);
        }
    }
    let ids = ids.repeat(repeats.parse()?);
    let mut out = vec![0.0; ids.len()];
    model.score_stream(&ids, &mut out)?; // builds nothing more, warms the caches
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        model.score_stream(&ids, &mut out)?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    let total: f64 = out.iter().sum();
    Ok(format!(
        r#"{{"tokens": {}, "tokens_per_s": {:.0}, "total_log10": {total:.6}}}"#,
        ids.len(),
        ids.len() as f64 / best
    ))
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((kind, rest)) = args.split_first() else {
        return Err("usage: ngram_workload estimate|score ...".into());
    };
    let n_threads: usize = rest.get(3).map_or(Ok(2), |s| s.parse())?;
    threads::set_num_threads(n_threads)?;
    let report = threads::install(|| match kind.as_str() {
        "estimate" => estimate_file(rest).map_err(|e| e.to_string()),
        "score" => score_file(rest).map_err(|e| e.to_string()),
        other => Err(format!("unknown workload {other}")),
    })?;
    println!("{}", report?);
    Ok(())
}
