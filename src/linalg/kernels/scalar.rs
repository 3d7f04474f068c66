//! The portable micro-kernel (any CPU): the same tile loop in plain Rust over a 32-column
//! panel, one row at a time.

use super::pack::NR;

/// `c (nv) (+)= a (k) · panel (k, 32)[:, ..nv]` for one row.
pub fn row(a: &[f32], panel: &[f32], c: &mut [f32], accumulate: bool) {
    let nv = c.len();
    let mut acc = [0.0f32; NR];
    for (&x, b) in a.iter().zip(panel.chunks_exact(NR)) {
        for (s, &w) in acc.iter_mut().zip(b) {
            *s += x * w;
        }
    }
    for (o, &s) in c.iter_mut().zip(&acc[..nv]) {
        *o = if accumulate { *o + s } else { s };
    }
}
