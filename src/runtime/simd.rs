//! Elementwise math for the fused gate loops, compiled three times (AVX-512, AVX2+FMA,
//! baseline x86-64 / other targets) and chosen once at run time, so one wheel runs anywhere
//! and uses the widest vectors the CPU has. The scalar functions below are branch-free so
//! that the compiler vectorizes the loops that call them. Spec: `np.exp`, `np.tanh` and
//! `reference/cells.py::sigmoid`.

use std::sync::OnceLock;

/// The instruction-set level chosen for this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Avx512,
    Avx2,
    Baseline,
}

/// The widest SIMD level this CPU supports (detected once).
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Level::Avx2;
            }
        }
        Level::Baseline
    })
}

/// Define `pub fn name(args) -> ret` whose body is compiled for each SIMD level and
/// dispatched on [`level()`]. The body may only call `#[inline(always)]` helpers so that
/// they are compiled with the same target features. At the AVX2 and AVX-512 levels the body's
/// `exp`, `sigmoid` and `tanh` are the [`fused`] ones (multiply-adds in one rounding); a
/// body compiled there sees the enclosing module's items through a `use super::*`. A helper
/// defined outside the body resolves `exp` in its own module (the plain one): a helper that
/// should use the level's takes it as an argument (see `decoder::sum_exp_shifted`).
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            mod with_fma {
                #[allow(unused_imports)]
                use super::*;
                #[allow(unused_imports)]
                use $crate::runtime::simd::fused::{exp, sigmoid, tanh};
                #[inline(always)]
                fn generic($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                pub(super) unsafe fn v4($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                pub(super) unsafe fn v3($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
            }
            match $crate::runtime::simd::level() {
                // SAFETY: `level()` reported these features present on this CPU.
                #[cfg(target_arch = "x86_64")]
                $crate::runtime::simd::Level::Avx512 => unsafe { with_fma::v4($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                $crate::runtime::simd::Level::Avx2 => unsafe { with_fma::v3($($arg),*) },
                _ => generic($($arg),*),
            }
        }
    };
}
pub(crate) use multiversion;

/// Clamp that lets NaN through (so divergence stays visible downstream).
#[inline(always)]
fn clamp_keep_nan(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if x > hi {
        hi
    } else {
        x
    }
}

/// `a * b + c`: one fused multiply-add (one rounding) when `FMA`, else a multiply then an
/// add. Only the levels that have the instruction ask for the fused form: elsewhere
/// `mul_add` is a slow library call.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// e^x, Cephes-style: range reduction by ln 2 and a degree-6 polynomial; about 1 ulp on the
/// clamped range [-87, 88.3]; NaN in, NaN out.
#[inline(always)]
fn exp_with<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting rounds to an integer
    let x = clamp_keep_nan(x, -87.0, 88.3);
    let shifted = madd::<FMA>(x, LOG2E, MAGIC);
    let n = shifted - MAGIC;
    let r = madd::<FMA>(n, 2.121_944_4e-4, madd::<FMA>(n, -0.693_359_4, x));
    let mut p = 1.987_569_1e-4f32;
    p = madd::<FMA>(p, r, 1.398_199_9e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 0.166_666_65);
    p = madd::<FMA>(p, r, 0.5);
    let y = madd::<FMA>(p * r, r, r + 1.0);
    // The integer n read from the low mantissa bits of `shifted` (MAGIC + n), not with
    // `n as i32`: that saturating conversion keeps LLVM from vectorizing the loops that
    // call exp. NaN gives some scale, and NaN * scale is still NaN.
    let ni = (shifted.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let scale = f32::from_bits((ni.wrapping_add(127) << 23) as u32);
    y * scale
}

/// tanh(x): (1 - e^-2|x|) / (1 + e^-2|x|) with the sign restored; a short odd polynomial
/// near zero keeps the relative error small there.
#[inline(always)]
fn tanh_with<const FMA: bool>(x: f32) -> f32 {
    let a = x.abs();
    let t = exp_with::<FMA>(-2.0 * a);
    let big = (1.0 - t) / (1.0 + t);
    let a2 = a * a;
    let small = a * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0))));
    let r = if a < 0.0625 { small } else { big };
    r.copysign(x)
}

/// e^x (see `exp_with`), each multiply and add rounded apart.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    exp_with::<false>(x)
}

/// The logistic function 1 / (1 + e^-x).
#[inline(always)]
fn sigmoid_with<const FMA: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp_with::<FMA>(-x))
}

/// 1 / (1 + e^-x) (see `sigmoid_with`).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    sigmoid_with::<false>(x)
}

/// tanh(x) (see `tanh_with`).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    tanh_with::<false>(x)
}

/// The same functions with fused multiply-adds, for code compiled with FMA enabled (the
/// AVX2 and AVX-512 bodies of [`multiversion!`]): fewer instructions, and no less accurate.
pub mod fused {
    use super::{exp_with, sigmoid_with, tanh_with};

    /// e^x with fused multiply-adds.
    #[inline(always)]
    pub fn exp(x: f32) -> f32 {
        exp_with::<true>(x)
    }

    /// 1 / (1 + e^-x) with the fused `exp`.
    #[inline(always)]
    pub fn sigmoid(x: f32) -> f32 {
        sigmoid_with::<true>(x)
    }

    /// tanh(x) with the fused `exp`.
    #[inline(always)]
    pub fn tanh(x: f32) -> f32 {
        tanh_with::<true>(x)
    }
}

/// Sum with 16 independent lanes (vectorizes; fixed order, so deterministic).
#[inline(always)]
pub fn sum_lanes(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = xs.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    let mut s = 0.0f32;
    for a in acc {
        s += a;
    }
    for v in tail {
        s += v;
    }
    s
}

/// Maximum with 16 independent lanes; NaN if any element is NaN.
#[inline(always)]
pub fn max_lanes(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let mut nan = false;
    let chunks = xs.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            nan |= v.is_nan();
            *a = if v > *a { v } else { *a };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for a in acc {
        m = if a > m { a } else { m };
    }
    for &v in tail {
        nan |= v.is_nan();
        m = if v > m { v } else { m };
    }
    if nan {
        f32::NAN
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    multiversion! {
        fn exp_all(xs: &mut [f32]) {
            for x in xs.iter_mut() {
                *x = exp(*x);
            }
        }
    }

    type Unary = fn(f32) -> f32;

    #[test]
    fn exp_sigmoid_tanh_match_std() {
        let plain: [Unary; 3] = [exp, sigmoid, tanh];
        let with_fma: [Unary; 3] = [fused::exp, fused::sigmoid, fused::tanh];
        for [exp, sigmoid, tanh] in [plain, with_fma] {
            let mut worst = [0.0f64; 3];
            for i in -20_000..=20_000 {
                let x = i as f32 * 0.004;
                let e = (exp(x) as f64 - (x as f64).exp()).abs() / (x as f64).exp();
                let s = (sigmoid(x) as f64 - 1.0 / (1.0 + (-(x as f64)).exp())).abs();
                let t = (tanh(x) as f64 - (x as f64).tanh()).abs();
                worst = [worst[0].max(e), worst[1].max(s), worst[2].max(t)];
            }
            assert!(worst[0] < 3e-7, "exp rel err {}", worst[0]);
            assert!(worst[1] < 2e-7, "sigmoid abs err {}", worst[1]);
            assert!(worst[2] < 3e-7, "tanh abs err {}", worst[2]);
            // Relative accuracy of tanh near zero.
            let x = 1e-3f32;
            assert!(((tanh(x) as f64 - (x as f64).tanh()) / (x as f64)).abs() < 1e-6);
        }
    }

    #[test]
    fn extremes_and_nan() {
        let plain: [Unary; 3] = [exp, sigmoid, tanh];
        let with_fma: [Unary; 3] = [fused::exp, fused::sigmoid, fused::tanh];
        for [exp, sigmoid, tanh] in [plain, with_fma] {
            assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
            assert!(exp(1000.0).is_finite());
            assert!(exp(f32::NAN).is_nan());
            assert!(tanh(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan());
            assert_eq!(tanh(50.0), 1.0);
            assert_eq!(tanh(-50.0), -1.0);
            assert_eq!(sigmoid(-200.0).min(1e-30), sigmoid(-200.0));
        }
    }

    #[test]
    fn dispatched_loop_agrees_with_scalar() {
        let mut xs: Vec<f32> = (0..1000).map(|i| i as f32 * 0.05 - 25.0).collect();
        // The dispatched body uses the fused functions where the CPU has FMA.
        let scalar: Unary = if level() == Level::Baseline {
            exp
        } else {
            fused::exp
        };
        let want: Vec<f32> = xs.iter().map(|&x| scalar(x)).collect();
        exp_all(&mut xs);
        assert_eq!(xs, want);
    }

    #[test]
    fn lane_reductions() {
        let xs: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).sin()).collect();
        let s: f64 = xs.iter().map(|&x| x as f64).sum();
        assert!((sum_lanes(&xs) as f64 - s).abs() < 1e-5);
        let m = xs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(max_lanes(&xs), m);
        let mut with_nan = xs.clone();
        with_nan[20] = f32::NAN;
        assert!(max_lanes(&with_nan).is_nan());
    }
}
