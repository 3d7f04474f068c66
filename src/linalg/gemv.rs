//! Matrix-vector products for one row at a time (generation steps): `out += w · x` with
//! four weight rows per pass and SIMD lanes chosen at run time, where a GEMM would pay its
//! packing for a single row. Spec: NumPy's `w @ x`.

use crate::runtime::simd::{level, Level};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
