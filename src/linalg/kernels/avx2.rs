//! The AVX2+FMA micro-kernel: an (MR x 16) half of a 32-column panel in 2*MR ymm
//! accumulators; the driver calls it for both halves.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Most rows per tile (2 * 6 accumulators + 2 panel vectors + 1 broadcast of 16 registers).
pub const MR: usize = 6;

/// `c (mr, nv) (+)= a (mr, k) · panel[:, half*16 .. half*16+16]` for `mr = R`, `nv <= 16`,
/// prefetching the same half of the panel at `next` into L2 as it goes (one line per k).
///
/// # Safety
/// The CPU supports AVX2 and FMA; `a` points at R rows of `k` floats, `lda` apart; `panel`
/// at the first of `k` rows of 32 floats (this half starts `half * 16` floats in); `c` at R
/// rows of `nv` writable floats, `ldc` apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile<const R: usize>(
    k: usize,
    a: *const f32,
    lda: usize,
    panel: *const f32,
    next: *const f32,
    c: *mut f32,
    ldc: usize,
    nv: usize,
    accumulate: bool,
) {
    let mut lo = [_mm256_setzero_ps(); R];
    let mut hi = [_mm256_setzero_ps(); R];
    let mut rows = [a; R];
    for (i, r) in rows.iter_mut().enumerate() {
        *r = a.wrapping_add(i * lda);
    }
    // Fetch this tile of C now: it is read (accumulate) or written only after the k loop,
    // and in the recurrence it is a gate row written long before, no longer in cache.
    for i in 0..R {
        let row = c.wrapping_add(i * ldc);
        _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(nv - 1) as *const i8);
    }
    let mut b = panel;
    let mut pf = next;
    for p in 0..k {
        // A prefetch never faults, whatever the address.
        _mm_prefetch::<_MM_HINT_T1>(pf as *const i8);
        pf = pf.wrapping_add(32);
        // SAFETY (whole loop): p < k keeps every read inside the R rows of `a` and the k
        // panel rows (the caller's contract); unaligned loads.
        let b0 = _mm256_loadu_ps(b);
        let b1 = _mm256_loadu_ps(b.add(8));
        for i in 0..R {
            let x = _mm256_set1_ps(*rows[i].add(p));
            lo[i] = _mm256_fmadd_ps(x, b0, lo[i]);
            hi[i] = _mm256_fmadd_ps(x, b1, hi[i]);
        }
        b = b.add(32);
    }
    for i in 0..R {
        let out = c.add(i * ldc);
        if nv == 16 {
            let (mut v0, mut v1) = (lo[i], hi[i]);
            if accumulate {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(out));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(out.add(8)));
            }
            _mm256_storeu_ps(out, v0);
            _mm256_storeu_ps(out.add(8), v1);
        } else {
            let mut tmp = [0.0f32; 16];
            _mm256_storeu_ps(tmp.as_mut_ptr(), lo[i]);
            _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[i]);
            for (j, &v) in tmp[..nv].iter().enumerate() {
                let o = out.add(j);
                *o = if accumulate { *o + v } else { v };
            }
        }
    }
}
