//! When the encoder's layer 0 reads token ids, its input is embedding rows, so its input
//! projection `W_ih · emb[id] + b` takes one value per token id. When a chunk holds far fewer distinct ids
//! than rows (a character model has about 100 ids against T*B = 2,048-8,192 rows), projecting
//! each distinct id once (each row reading its id's projection in the time loop) replaces the
//! (T*B, E) x (E, G) input GEMM with a (U, E) x (E, G) one; backward sums the gate gradients per id first, so the weight and
//! embedding gradients are (U, ·) products too instead of two more (T*B, ·) ones. The values
//! are those of the dense path up to fp32 summation order; the sums run in a fixed order, so
//! results do not depend on the thread count. When the parameters stay the same from call to
//! call (inference: scoring, evaluation) and the chunks' distinct ids have together cost as
//! many projections as the vocabulary has ids, the projections of every id are made once and
//! kept for the calls that follow with the same parameters. Spec:
//! `reference/embedding.py::embedding_forward`
//! followed by the input projection of `reference/cells.py::cell_forward` (and their
//! backward functions).

use rayon::prelude::*;

use super::cell::CellKind;
use super::recurrent::{self, Weights};
use super::{embedding, grow};
use crate::linalg::colsum;
use crate::linalg::gemm::{matmul, MatRef};
use crate::linalg::kernels::{matmul_packed, PackedB};

/// `slot` entry of an id that is not in the chunk.
const ABSENT: u32 = u32::MAX;

/// Largest vocabulary-wide projection kept (floats, V * G): 64 MB.
const FULL_TABLE_FLOATS: usize = 1 << 24;

/// Layer 0's input projections of every id of the vocabulary for one direction and one
/// parameters version.
#[derive(Default)]
struct FullTable {
    /// The parameters version that `spent` and `proj` belong to.
    version: Option<u64>,
    /// Rows projected chunk by chunk under `version` so far.
    spent: usize,
    /// Whether `proj` holds the (V, G) projections of `version`.
    built: bool,
    proj: Vec<f32>,
}

/// The distinct ids of one chunk, and buffers reused from call to call.
#[derive(Default)]
pub struct ProjectedEmbedding {
    /// `slot[id]`: the position of `id` in `distinct`, or [`ABSENT`]; all [`ABSENT`] between
    /// calls to [`ProjectedEmbedding::plan`].
    slot: Vec<u32>,
    /// The distinct ids of the chunk, in order of first appearance.
    distinct: Vec<u32>,
    /// The position in `distinct` of each row's id.
    row_slot: Vec<u32>,
    /// Each row's id, and each row's of the time-reversed chunk (the slots of the
    /// vocabulary-wide projections).
    row_ids: Vec<u32>,
    rev_ids: Vec<u32>,
    /// The same for the rows of the time-reversed chunk that a bidirectional stack's reverse
    /// direction reads (see [`ProjectedEmbedding::reverse`]).
    rev_slot: Vec<u32>,
    /// How many rows each distinct id has.
    rows_per_slot: Vec<usize>,
    /// (U, E): the embedding rows of the distinct ids.
    emb: Vec<f32>,
    /// (U, G): their input projections in forward, the per-id sums of the gate gradients in
    /// backward.
    proj: Vec<f32>,
    /// (U, E): the embedding gradient of the distinct ids.
    demb: Vec<f32>,
    /// (G): the folded input bias.
    bias: Vec<f32>,
    /// The vocabulary-wide projections, per direction.
    full: [FullTable; 2],
    /// W_ih^T packed for the projections.
    w_ih: PackedB,
}

impl ProjectedEmbedding {
    /// Index the distinct ids of the rows `ids` (each below `vocab`, checked by the caller).
    /// Returns whether the per-id path pays: at most 3 distinct ids per 4 rows. Its extra
    /// pass (the per-id sums in backward) costs about what the dense path's input-gradient
    /// scatter does, so the (U, E, G) products decide, and they are then at most
    /// 3/4 of the (T*B, E, G) ones (half, on a word-level chunk of PTB: 357 ids in 700 rows).
    /// The choice depends on the chunk alone, not on projections kept from earlier calls, so
    /// a chunk's values do not depend on what ran before it.
    pub fn plan(&mut self, ids: &[u32], vocab: usize) -> bool {
        if self.slot.len() < vocab {
            self.slot.resize(vocab, ABSENT);
        }
        self.row_ids.clear();
        self.row_ids.extend_from_slice(ids);
        self.distinct.clear();
        self.row_slot.clear();
        self.rows_per_slot.clear();
        for &id in ids {
            let slot = &mut self.slot[id as usize];
            if *slot == ABSENT {
                *slot = self.distinct.len() as u32;
                self.distinct.push(id);
                self.rows_per_slot.push(0);
            }
            self.rows_per_slot[*slot as usize] += 1;
            self.row_slot.push(*slot);
        }
        for &id in &self.distinct {
            self.slot[id as usize] = ABSENT;
        }
        4 * self.distinct.len() <= 3 * ids.len()
    }

    /// Index the rows of the time-reversed chunk too: its row r holds the id of row
    /// `source(r)` of the chunk of the last [`ProjectedEmbedding::plan`] (a permutation).
    pub fn reverse(&mut self, source: impl Fn(usize) -> usize) {
        let (row_slot, row_ids) = (&self.row_slot, &self.row_ids);
        self.rev_slot.clear();
        self.rev_slot
            .extend((0..row_slot.len()).map(|r| row_slot[source(r)]));
        self.rev_ids.clear();
        self.rev_ids
            .extend((0..row_ids.len()).map(|r| row_ids[source(r)]));
    }

    /// The input projections `w.w_ih (G, E) · table[id] + b` of the distinct ids of the last
    /// [`ProjectedEmbedding::plan`] (`b` is [`recurrent::input_bias`]), as the
    /// [`recurrent::Input::Projected`] that reads them: row n of the chunk (of the reversed
    /// chunk when `reversed`) reads `proj[slots[n]]`.
    ///
    /// `version`: the parameters' [`crate::nn::params::Params::version`] when the caller
    /// promises that calls with the same version see the same values (None otherwise). Once
    /// the chunks of one version have projected as many rows as the vocabulary (V) has, the
    /// projections of all V ids are made in one product and kept, and the calls that follow
    /// with that version read them by id: at most twice the work of the per-chunk
    /// projections, then none. Each row is the same product either way (see [`project`]), so
    /// the values do not depend on which path ran.
    pub fn forward<'a>(
        &'a mut self,
        kind: CellKind,
        table: &[f32],
        e: usize,
        w: Weights<'_>,
        reversed: bool,
        version: Option<u64>,
    ) -> recurrent::Input<'a> {
        let u = self.distinct.len();
        let vocab = table.len() / e;
        let bias = recurrent::input_bias(kind, w, &mut self.bias);
        let g = bias.len();
        // Backward reads the distinct ids' embedding rows, whichever path runs.
        grow(&mut self.emb, u * e);
        embedding::forward(table, e, &self.distinct, &mut self.emb[..u * e]);
        let full = &mut self.full[usize::from(reversed)];
        if let Some(v) = version {
            if full.version != Some(v) {
                *full = FullTable {
                    version: Some(v),
                    proj: std::mem::take(&mut full.proj),
                    ..FullTable::default()
                };
            }
            if !full.built && vocab * g <= FULL_TABLE_FLOATS && full.spent + u >= vocab {
                grow(&mut full.proj, vocab * g);
                project(
                    &mut full.proj[..vocab * g],
                    table,
                    e,
                    w.w_ih,
                    bias,
                    &mut self.w_ih,
                );
                full.built = true;
            }
            if full.built {
                return recurrent::Input::Projected {
                    table: &full.proj[..vocab * g],
                    slots: if reversed {
                        &self.rev_ids
                    } else {
                        &self.row_ids
                    },
                };
            }
            full.spent += u;
        }
        grow(&mut self.proj, u * g);
        project(
            &mut self.proj[..u * g],
            &self.emb,
            e,
            w.w_ih,
            bias,
            &mut self.w_ih,
        );
        recurrent::Input::Projected {
            table: &self.proj[..u * g],
            slots: if reversed {
                &self.rev_slot
            } else {
                &self.row_slot
            },
        }
    }

    /// Backward of [`ProjectedEmbedding::forward`] from the gate gradients `dgates (N, G)`:
    /// `dw_ih (G, E) += Σ_n dgates[n]^T table[ids[n]]` and `dtable[ids[n]] += dgates[n] · w_ih`
    /// (the embedding rows are those the forward gathered); the rows of the reversed chunk
    /// when `reversed`.
    pub fn backward(
        &mut self,
        dgates: &[f32],
        e: usize,
        w_ih: &[f32],
        dw_ih: &mut [f32],
        dtable: &mut [f32],
        reversed: bool,
    ) {
        let u = self.distinct.len();
        let g = w_ih.len() / e;
        grow(&mut self.proj, u * g);
        let slots = if reversed {
            &self.rev_slot
        } else {
            &self.row_slot
        };
        let proj = &mut self.proj[..u * g];
        sum_rows_by_slot(dgates, g, slots, &self.rows_per_slot, proj);
        let proj: &[f32] = proj;
        let emb = &self.emb[..u * e];
        matmul(
            dw_ih,
            e,
            MatRef::new(proj, u, g).t(),
            MatRef::new(emb, u, e),
            true,
        );
        grow(&mut self.demb, u * e);
        matmul(
            &mut self.demb,
            e,
            MatRef::new(proj, u, g),
            MatRef::new(w_ih, g, e),
            false,
        );
        embedding::backward(dtable, e, &self.distinct, &self.demb[..u * e]);
    }
}

/// Rows per task of [`project`]: four AVX-512 row blocks of the packed kernel, whose rows stay
/// in cache while every panel of W_ih^T passes over them.
const PROJECT_ROWS: usize = 48;

/// `proj (N, G)` = `rows (N, E) · w_ih^T + bias` through `packed` (W_ih^T packed here), in
/// tasks of `PROJECT_ROWS` rows on the pool's threads. The packed kernel sums each element
/// in k order in one micro-kernel call, so a row's value depends neither on the other rows
/// nor on the split: a chunk's projections and the vocabulary's agree bit for bit.
fn project(
    proj: &mut [f32],
    rows: &[f32],
    e: usize,
    w_ih: &[f32],
    bias: &[f32],
    packed: &mut PackedB,
) {
    let g = bias.len();
    colsum::fill_rows(proj, bias);
    packed.pack_transposed(w_ih, g, e);
    let packed: &PackedB = packed;
    proj.par_chunks_mut(PROJECT_ROWS * g)
        .zip(rows.par_chunks(PROJECT_ROWS * e))
        .for_each(|(c, a)| matmul_packed(c, g, a, e, c.len() / g, packed, true));
}

/// `sums (U, G)` row s = the sum, in row order, of the rows n of `m (N, G)` with
/// `row_slot[n] == s`. Tasks own runs of slots holding about equal numbers of rows; each reads
/// only its own rows of `m`, and each slot's sum runs in row order whatever the split.
fn sum_rows_by_slot(
    m: &[f32],
    g: usize,
    row_slot: &[u32],
    rows_per_slot: &[usize],
    sums: &mut [f32],
) {
    sums.fill(0.0);
    let tasks = 4 * rayon::current_num_threads();
    let per_task = row_slot.len().div_ceil(tasks).max(1);
    let mut runs: Vec<(usize, &mut [f32])> = Vec::with_capacity(tasks);
    let (mut rest, mut first, mut filled) = (sums, 0, 0);
    for (s, &count) in rows_per_slot.iter().enumerate() {
        filled += count;
        if filled >= per_task || s + 1 == rows_per_slot.len() {
            let (run, tail) = rest.split_at_mut((s + 1 - first) * g);
            runs.push((first, run));
            rest = tail;
            first = s + 1;
            filled = 0;
        }
    }
    runs.into_par_iter()
        .with_max_len(1)
        .for_each(|(first, run)| {
            let end = first + run.len() / g;
            for (row, &s) in m.chunks_exact(g).zip(row_slot) {
                let s = s as usize;
                if (first..end).contains(&s) {
                    let out = &mut run[(s - first) * g..(s - first + 1) * g];
                    for (o, &v) in out.iter_mut().zip(row) {
                        *o += v;
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::embedding;

    fn filled(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                ((i.wrapping_mul(7919).wrapping_add(seed * 104_729)) % 1013) as f32 * 1e-3 - 0.5
            })
            .collect()
    }

    #[test]
    fn plan_indexes_distinct_ids_and_says_when_it_pays() {
        let mut p = ProjectedEmbedding::default();
        assert!(p.plan(&[3, 1, 3, 3, 1, 0], 5));
        assert_eq!(p.distinct, [3, 1, 0]);
        assert_eq!(p.row_slot, [0, 1, 0, 0, 1, 2]);
        assert_eq!(p.rows_per_slot, [3, 2, 1]);
        assert!(p.slot.iter().all(|&s| s == ABSENT));
        assert!(p.plan(&[0, 1, 2, 3, 0, 1, 2, 3], 5));
        assert!(!p.plan(&[0, 1, 2, 3, 4, 0], 5));
    }

    #[test]
    fn matches_the_dense_projection_and_its_gradients() {
        let (v, e, h, kind) = (7, 5, 3, CellKind::Lstm);
        let g = kind.gates() * h;
        let ids: Vec<u32> = (0..40u32).map(|i| (i * i + 3) % v as u32).collect();
        let n = ids.len();
        let table = filled(v * e, 1);
        let w_ih = filled(g * e, 2);
        let (b_ih, b_hh) = (filled(g, 3), filled(g, 4));
        let w_hh = vec![0.0; g * h];
        let w = Weights {
            w_ih: &w_ih,
            w_hh: &w_hh,
            b_ih: &b_ih,
            b_hh: &b_hh,
        };
        let mut p = ProjectedEmbedding::default();
        assert!(p.plan(&ids, v));
        let recurrent::Input::Projected { table: proj, slots } =
            p.forward(kind, &table, e, w, false, None)
        else {
            panic!("forward returns the projected input");
        };
        let (proj, slots) = (proj.to_vec(), slots.to_vec());

        let mut x = vec![0.0; n * e];
        embedding::forward(&table, e, &ids, &mut x);
        for (r, &slot) in slots.iter().enumerate() {
            let row = &proj[slot as usize * g..(slot as usize + 1) * g];
            for (j, &got) in row.iter().enumerate() {
                let want: f32 =
                    b_ih[j] + b_hh[j] + (0..e).map(|k| w_ih[j * e + k] * x[r * e + k]).sum::<f32>();
                assert!(
                    (got - want).abs() < 1e-5,
                    "row {r} col {j}: {got} vs {want}"
                );
            }
        }

        let dgates = filled(n * g, 5);
        let (mut dw, mut dtable) = (vec![0.25; g * e], vec![0.5; v * e]);
        p.backward(&dgates, e, &w_ih, &mut dw, &mut dtable, false);
        let (mut want_dw, mut dx) = (vec![0.25; g * e], vec![0.0; n * e]);
        for r in 0..n {
            for j in 0..g {
                for k in 0..e {
                    want_dw[j * e + k] += dgates[r * g + j] * x[r * e + k];
                    dx[r * e + k] += dgates[r * g + j] * w_ih[j * e + k];
                }
            }
        }
        let mut want_dtable = vec![0.5; v * e];
        embedding::backward(&mut want_dtable, e, &ids, &dx);
        for (got, want) in dw
            .iter()
            .zip(&want_dw)
            .chain(dtable.iter().zip(&want_dtable))
        {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    /// Each row's projection from a forward's result, and the length of the table it read.
    fn rows_read(input: recurrent::Input<'_>, g: usize) -> (Vec<Vec<f32>>, usize) {
        let recurrent::Input::Projected { table, slots } = input else {
            panic!("forward returns the projected input");
        };
        let rows = slots
            .iter()
            .map(|&s| table[s as usize * g..(s as usize + 1) * g].to_vec())
            .collect();
        (rows, table.len())
    }

    #[test]
    fn the_vocabulary_projection_is_kept_per_version_and_matches_the_chunks() {
        let (v, e, h, kind) = (11, 6, 4, CellKind::Gru);
        let g = kind.gates() * h;
        let table = filled(v * e, 7);
        let w_ih = filled(g * e, 8);
        let (b_ih, b_hh, w_hh) = (filled(g, 9), filled(g, 10), vec![0.0; g * h]);
        let w = Weights {
            w_ih: &w_ih,
            w_hh: &w_hh,
            b_ih: &b_ih,
            b_hh: &b_hh,
        };
        let chunk = [1u32, 3, 3, 5, 7, 1, 3, 9];
        let mut p = ProjectedEmbedding::default();
        assert!(p.plan(&chunk, v));
        let (want, _) = rows_read(p.forward(kind, &table, e, w, false, None), g);
        // Version 7: 5 distinct ids a call; the third call reaches the vocabulary's 11 rows
        // and makes the whole table, which later calls read. Every row is bit for bit the
        // chunk's projection.
        for call in 0..4 {
            assert!(p.plan(&chunk, v));
            let (rows, len) = rows_read(p.forward(kind, &table, e, w, false, Some(7)), g);
            assert_eq!(len, if call >= 2 { v * g } else { 5 * g }, "call {call}");
            assert_eq!(rows, want, "call {call}");
        }
        // A new version starts over with the chunk's projections, and the reverse direction
        // (its own table) reads the reversed rows.
        assert!(p.plan(&chunk, v));
        let n = chunk.len();
        p.reverse(|r| n - 1 - r);
        let (rows, len) = rows_read(p.forward(kind, &table, e, w, false, Some(8)), g);
        assert_eq!((rows, len), (want.clone(), 5 * g));
        for _ in 0..3 {
            p.forward(kind, &table, e, w, true, Some(8));
        }
        let (rows, len) = rows_read(p.forward(kind, &table, e, w, true, Some(8)), g);
        assert_eq!(len, v * g);
        assert_eq!(rows, want.iter().rev().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn a_projected_row_depends_on_neither_the_other_rows_nor_the_threads() {
        // 101 rows: three tasks of PROJECT_ROWS and a short one.
        let (n, e, g) = (101, 37, 70);
        let (rows, w_ih, bias) = (filled(n * e, 11), filled(g * e, 12), filled(g, 13));
        let mut packed = PackedB::default();
        let mut one_by_one = vec![0.0f32; n * g];
        for (out, row) in one_by_one.chunks_exact_mut(g).zip(rows.chunks_exact(e)) {
            project(out, row, e, &w_ih, &bias, &mut packed);
        }
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let mut all = vec![0.0f32; n * g];
            pool.install(|| project(&mut all, &rows, e, &w_ih, &bias, &mut packed));
            assert_eq!(all, one_by_one, "{threads} threads");
        }
    }

    #[test]
    fn slot_sums_do_not_depend_on_the_thread_count() {
        let (g, n) = (9, 500);
        let row_slot: Vec<u32> = (0..n as u32).map(|i| (i * 31 % 17) % 6).collect();
        let mut rows_per_slot = vec![0; 6];
        for &s in &row_slot {
            rows_per_slot[s as usize] += 1;
        }
        let m = filled(n * g, 6);
        let mut want = vec![0.0f32; 6 * g];
        for (row, &s) in m.chunks_exact(g).zip(&row_slot) {
            for (o, &v) in want[s as usize * g..(s as usize + 1) * g]
                .iter_mut()
                .zip(row)
            {
                *o += v;
            }
        }
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool");
            let mut got = vec![1.0f32; 6 * g];
            pool.install(|| sum_rows_by_slot(&m, g, &row_slot, &rows_per_slot, &mut got));
            assert_eq!(got, want, "{threads} threads");
        }
    }
}
