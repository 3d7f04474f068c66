//! Numbers as ARPA files write them: log10 values with up to 12 decimals.
//!
//! The reference (python/rnnrs/backends/arpa.py::_number) writes Python's shortest repr
//! instead: the same values once read back (within 1e-12), not the same bytes.

use super::LOG10_ZERO_ARPA;

/// The 8 decimal digits of `x < 10^8` as byte values 0..=9, most significant digit in the
/// lowest byte (the order they are written in), computed in all lanes at once: split into
/// two 4-digit halves, each into two 2-digit quarters, each into two digits (the divisions
/// by 100 and 10 are multiplications, exact in this range).
#[inline(always)]
fn digits8(x: u32) -> u64 {
    let x = x as u64;
    let halves = (x / 10_000) | ((x % 10_000) << 32);
    let hundreds = ((halves * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let quarters = hundreds | ((halves - hundreds * 100) << 16);
    let tens = ((quarters * 103) >> 10) & 0x000F_000F_000F_000F;
    tens | ((quarters - tens * 10) << 8)
}

/// ASCII `'0'` in every byte.
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// `y` rounded to the nearest integer, halves away from zero (as `f64::round`), for
/// |y| < 2^62, without a call into libm.
#[inline(always)]
fn round_to_i64(y: f64) -> i64 {
    let t = y as i64;
    // Exact: y and t are within 1 of each other (or y is already an integer).
    let f = y - t as f64;
    if f >= 0.5 {
        t + 1
    } else if f <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// Append `x` with 12 decimals, trailing zeros dropped: values read from a KenLM or SRILM
/// file (at most about 10 decimals) are written back exactly, and a value written once
/// reads back as the nearest double and is written identically again.
pub(crate) fn push_number(out: &mut Vec<u8>, x: f64) {
    if x == f64::NEG_INFINITY || x <= LOG10_ZERO_ARPA {
        out.extend_from_slice(b"-99");
        return;
    }
    if x.abs() >= 1e6 || x.is_nan() {
        out.extend_from_slice(format!("{x}").as_bytes());
        return;
    }
    let v = round_to_i64(x * 1e12);
    if v == 0 {
        out.push(b'0');
        return;
    }
    // At most 20 characters: sign, 6 integer digits, point, 12 decimals. Rendered into a
    // fixed buffer and appended as one fixed-size copy (then cut back), which is cheaper
    // than a variable-length copy per piece.
    let mut buf = [0u8; NUMBER_BUF];
    let mut len = 0;
    if v < 0 {
        buf[0] = b'-';
        len = 1;
    }
    let v = v.unsigned_abs();
    let (mut int, frac) = (v / 1_000_000_000_000, v % 1_000_000_000_000);
    let digits = if int == 0 {
        1
    } else {
        int.ilog10() as usize + 1
    };
    for i in (0..digits).rev() {
        buf[len + i] = b'0' + (int % 10) as u8;
        int /= 10;
    }
    len += digits;
    if frac != 0 {
        // 12 decimals: 8 from the high part, then the 4 of the low part.
        let (high, low) = (frac / 10_000, frac % 10_000);
        let (high, low) = (digits8(high as u32), digits8(low as u32));
        buf[len] = b'.';
        buf[len + 1..len + 9].copy_from_slice(&(high | ZEROS).to_le_bytes());
        buf[len + 9..len + 13].copy_from_slice(&(low | ZEROS).to_le_bytes()[4..]);
        // Trailing zero digits are the zero bytes at the top of the last nonzero part.
        let trailing = if low != 0 {
            low.leading_zeros() / 8
        } else {
            4 + high.leading_zeros() / 8
        };
        len += 13 - trailing as usize;
    }
    let at = out.len();
    out.extend_from_slice(&buf);
    out.truncate(at + len);
}

/// The buffer a number is rendered into.
const NUMBER_BUF: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;

    fn text(x: f64) -> String {
        let mut out = Vec::new();
        push_number(&mut out, x);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn digits_in_lanes() {
        let mut x = 0u32;
        while x < 100_000_000 {
            let want: Vec<u8> = format!("{x:08}").bytes().map(|b| b - b'0').collect();
            assert_eq!(digits8(x).to_le_bytes().to_vec(), want, "{x}");
            x += if x < 20_000 { 1 } else { 9_973 };
        }
        assert_eq!(digits8(99_999_999), 0x0909_0909_0909_0909);
    }

    #[test]
    fn numbers_round_trip() {
        assert_eq!(text(-0.123652525), "-0.123652525");
        assert_eq!(text(0.0), "0");
        assert_eq!(text(-0.0), "0");
        assert_eq!(text(f64::NEG_INFINITY), "-99");
        assert_eq!(text(-4.5), "-4.5");
        assert_eq!(text(12.0), "12");
        assert_eq!(text(-1e-13), "0");
        // Against the plain formula: round(x * 1e12) as a decimal with 12 places.
        let mut r = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..100_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let x = -((r >> 11) as f64 / (1u64 << 53) as f64)
                * [1.0, 10.0, 1e-3, 98.0][(r % 4) as usize];
            let v = (x * 1e12).round() as i64;
            let plain = format!(
                "{}{}.{:012}",
                if v < 0 { "-" } else { "" },
                v.abs() / 1_000_000_000_000,
                v.abs() % 1_000_000_000_000
            );
            let plain = plain.trim_end_matches('0').trim_end_matches('.');
            let plain = if plain == "-0" || plain.is_empty() {
                "0"
            } else {
                plain
            };
            assert_eq!(text(x), plain, "{x}");
        }
        let x = -4.281915417836858_f64;
        let once = text(x);
        assert_eq!(once, "-4.281915417837");
        assert_eq!(text(once.parse().unwrap()), once);
    }
}
