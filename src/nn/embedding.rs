//! Embedding lookup: forward gathers rows, backward scatters gradients back (in row order,
//! so the sums are deterministic). Spec: `reference/embedding.py::embedding_forward` and
//! `embedding_backward`.

/// Forward: `out (N, E)` row n = `table (V, E)` row `ids[n]`. Ids are checked by the caller.
pub fn forward(table: &[f32], e: usize, ids: &[u32], out: &mut [f32]) {
    for (row, &id) in out.chunks_exact_mut(e).zip(ids) {
        let id = id as usize;
        row.copy_from_slice(&table[id * e..(id + 1) * e]);
    }
}

/// Backward: `grad (V, E)` row `ids[n]` += `dout (N, E)` row n.
pub fn backward(grad: &mut [f32], e: usize, ids: &[u32], dout: &[f32]) {
    for (row, &id) in dout.chunks_exact(e).zip(ids) {
        let id = id as usize;
        for (gv, dv) in grad[id * e..(id + 1) * e].iter_mut().zip(row) {
            *gv += dv;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gather_and_scatter_add() {
        let table = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
        let ids = [2, 0, 2];
        let mut out = [0.0; 6];
        super::forward(&table, 2, &ids, &mut out);
        assert_eq!(out, [20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
        let mut grad = [0.0; 6];
        super::backward(&mut grad, 2, &ids, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(grad, [3.0, 4.0, 0.0, 0.0, 6.0, 8.0]);
    }
}
