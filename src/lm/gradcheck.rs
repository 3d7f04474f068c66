//! Finite-difference checks of every backward pass, through the whole model (embedding,
//! each cell, stacked layers, dropout, tying, decoder, cross-entropy, the class softmax).

use super::{Model, ModelConfig, Softmax, State, Tokens};
use crate::nn::dropout::Rng;
use crate::nn::params::fill_uniform;
use crate::nn::CellKind;

const X: [u32; 8] = [1, 4, 2, 0, 3, 3, 1, 2];
const Y: [u32; 8] = [4, 2, 0, 3, 3, 1, 2, 4];

fn model(cell: CellKind, layers: usize, tie: bool, dropout: f32) -> Model {
    with_softmax(cell, layers, tie, dropout, Softmax::Full)
}

fn with_softmax(cell: CellKind, layers: usize, tie: bool, dropout: f32, s: Softmax) -> Model {
    let mut cfg = ModelConfig::new(5, cell, 4, 4, layers);
    cfg.softmax = s;
    cfg.tie_weights = tie;
    cfg.dropout = dropout;
    cfg.seed = 3;
    let mut m = Model::new(cfg).expect("valid config");
    // Larger weights than Python's initial ones, so every gradient is well away from zero.
    fill_uniform(m.params_mut().values_mut(), 11, 0.5);
    m
}

fn random_state(cell: CellKind, layers: usize) -> State {
    let mut rng = Rng::new(5);
    let n = layers * 2 * 4;
    let mut v = || (0..n).map(|_| rng.next_f32() - 0.5).collect::<Vec<f32>>();
    State {
        batch: 2,
        h: v(),
        c: cell.has_cell_state().then(v),
    }
}

fn loss(m: &mut Model, state: &State, train: bool, rng: [u64; 4]) -> f64 {
    m.set_rng_state(rng).expect("non-zero");
    let x = Tokens::new(&X, 2, 4).expect("shape");
    let y = Tokens::new(&Y, 2, 4).expect("shape");
    m.loss_and_grads(x, y, Some(state), train).expect("valid").0
}

fn check(cell: CellKind, layers: usize, tie: bool, dropout: f32) {
    check_model(
        model(cell, layers, tie, dropout),
        cell,
        layers,
        tie,
        dropout,
    );
}

fn check_model(mut m: Model, cell: CellKind, layers: usize, tie: bool, dropout: f32) {
    let state = random_state(cell, layers);
    let rng = m.rng_state();
    let train = dropout > 0.0;
    loss(&mut m, &state, train, rng);
    let analytic = m.params().grads().to_vec();
    let eps = 1e-2f32;
    let mut worst = 0.0f64;
    for (i, &a) in analytic.iter().enumerate() {
        let p0 = m.params().values()[i];
        m.params_mut().values_mut()[i] = p0 + eps;
        let up = loss(&mut m, &state, train, rng);
        m.params_mut().values_mut()[i] = p0 - eps;
        let down = loss(&mut m, &state, train, rng);
        m.params_mut().values_mut()[i] = p0;
        let fd = (up - down) / (2.0 * eps as f64);
        let a = a as f64;
        let err = (fd - a).abs() / (2e-3 + a.abs());
        worst = worst.max(err);
        assert!(
            err < 2e-2,
            "{cell:?} layers={layers} tie={tie} dropout={dropout}: param {i} analytic {a} vs fd {fd}"
        );
    }
    let largest = analytic.iter().fold(0.0f32, |a, &g| a.max(g.abs()));
    assert!(
        largest > 1e-2,
        "gradients are suspiciously small: {largest}"
    );
    assert!(worst.is_finite());
}

#[test]
fn class_softmax_gradients() {
    // Classes {0, 3}, {1, 4}, {2}: a one-word class, and targets in every class.
    let classes = Softmax::Class {
        classes: vec![0, 1, 2, 0, 1],
    };
    for (tie, dropout) in [(false, 0.0), (true, 0.3)] {
        let m = with_softmax(CellKind::Lstm, 2, tie, dropout, classes.clone());
        check_model(m, CellKind::Lstm, 2, tie, dropout);
    }
}

#[test]
fn rnn_tanh_gradients() {
    check(CellKind::RnnTanh, 1, false, 0.0);
    check(CellKind::RnnTanh, 2, false, 0.0);
}

#[test]
fn rnn_relu_gradients() {
    check(CellKind::RnnRelu, 2, false, 0.0);
}

#[test]
fn lstm_gradients() {
    check(CellKind::Lstm, 1, false, 0.0);
    check(CellKind::Lstm, 2, false, 0.0);
}

#[test]
fn gru_gradients() {
    check(CellKind::Gru, 1, false, 0.0);
    check(CellKind::Gru, 2, false, 0.0);
}

#[test]
fn tied_weights_gradients() {
    check(CellKind::Lstm, 2, true, 0.0);
    check(CellKind::Gru, 1, true, 0.0);
}

#[test]
fn dropout_gradients() {
    check(CellKind::Lstm, 2, false, 0.3);
    check(CellKind::RnnTanh, 2, true, 0.3);
}

#[test]
fn batch_shards_agree_with_one_thread() {
    use crate::runtime::threads;
    let x: Vec<u32> = (0..16 * 5).map(|i| (i * 7 % 5) as u32).collect();
    let y: Vec<u32> = (0..16 * 5).map(|i| (i * 3 % 5) as u32).collect();
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
        let mut m = model(cell, 2, false, 0.0);
        let mut run = |n: usize| {
            threads::set_num_threads(n).expect("valid");
            let xt = Tokens::new(&x, 16, 5).expect("shape");
            let yt = Tokens::new(&y, 16, 5).expect("shape");
            let (loss, state) = m.loss_and_grads(xt, yt, None, false).expect("valid");
            (loss, state, m.params().grads().to_vec())
        };
        let (l1, s1, g1) = run(1);
        let (l2, s2, g2) = run(2);
        assert!((l1 - l2).abs() < 1e-6, "{cell:?}: {l1} vs {l2}");
        for (a, b) in s1.h.iter().zip(&s2.h).chain(g1.iter().zip(&g2)) {
            assert!(
                (a - b).abs() <= 1e-5 + 1e-4 * a.abs(),
                "{cell:?}: {a} vs {b}"
            );
        }
    }
}
