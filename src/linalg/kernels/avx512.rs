//! The AVX-512 micro-kernel: an (MR x 32) tile of C in 2*MR zmm accumulators, one panel row
//! (two vectors) loaded and MR broadcasts per k.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Most rows per tile (2 * 12 accumulators + 2 panel vectors + 1 broadcast of 32 registers).
pub const MR: usize = 12;

/// `c (mr, nv) (+)= a (mr, k) · panel (k, 32)` for `mr = R`, `nv <= 32`, prefetching the
/// `k * 32` floats at `next` into L2 as it goes (two cache lines per k): the driver passes the
/// next panel, so that panel's first tile does not wait on memory.
///
/// # Safety
/// The CPU supports AVX-512F; `a` points at R rows of `k` floats, `lda` apart; `panel` at
/// `k * 32` floats, 64-byte aligned; `c` at R rows of `nv` writable floats, `ldc` apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
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
    let mut lo = [_mm512_setzero_ps(); R];
    let mut hi = [_mm512_setzero_ps(); R];
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
        _mm_prefetch::<_MM_HINT_T1>(pf.wrapping_add(16) as *const i8);
        pf = pf.wrapping_add(32);
        // SAFETY (whole loop): p < k keeps every read inside the R rows of `a` and the k
        // panel rows (the caller's contract); the panel is 64-byte aligned and rows are 128
        // bytes, so the aligned loads are aligned.
        let b0 = _mm512_load_ps(b);
        let b1 = _mm512_load_ps(b.add(16));
        for i in 0..R {
            let x = _mm512_set1_ps(*rows[i].add(p));
            lo[i] = _mm512_fmadd_ps(x, b0, lo[i]);
            hi[i] = _mm512_fmadd_ps(x, b1, hi[i]);
        }
        b = b.add(32);
    }
    let m_lo: __mmask16 = if nv >= 16 { 0xffff } else { (1u16 << nv) - 1 };
    let m_hi: __mmask16 = if nv >= 32 {
        0xffff
    } else if nv <= 16 {
        0
    } else {
        (1u16 << (nv - 16)) - 1
    };
    for i in 0..R {
        // Masked-off lanes are neither read nor written, so the part of the tile past `nv`
        // may lie outside `c` (hence wrapping_add for the pointer).
        let p0 = c.wrapping_add(i * ldc);
        let p1 = p0.wrapping_add(16);
        let (mut v0, mut v1) = (lo[i], hi[i]);
        if accumulate {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m_lo, p0));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m_hi, p1));
        }
        _mm512_mask_storeu_ps(p0, m_lo, v0);
        _mm512_mask_storeu_ps(p1, m_hi, v1);
    }
}
