//! The engine's random numbers (xoshiro256**, seeded by splitmix64) and inverted dropout.
//! Spec: `reference/dropout.py::dropout_mask` (the same rule; the NumPy backend draws from
//! its own PCG64 generator, so the masks themselves differ).

/// A small, fast, reproducible generator whose whole state is four u64 words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seed deterministically (splitmix64 expands the seed into the state).
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut s = [0u64; 4];
        for w in s.iter_mut() {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *w = z ^ (z >> 31);
        }
        Rng { s }
    }

    /// The full state, for exact resume.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// Restore a state from [`Rng::state`]; the all-zero state is invalid for xoshiro.
    pub fn from_state(s: [u64; 4]) -> Option<Self> {
        if s == [0; 4] {
            None
        } else {
            Some(Rng { s })
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 24 random bits.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / 16_777_216.0)
    }
}

/// Fill `mask` with inverted-dropout factors: 0 with probability `p`, else 1 / (1 - p).
pub fn fill_mask(rng: &mut Rng, p: f32, mask: &mut [f32]) {
    let keep = 1.0 / (1.0 - p);
    for m in mask.iter_mut() {
        *m = if rng.next_f32() >= p { keep } else { 0.0 };
    }
}

/// `out = x * mask` elementwise.
pub fn apply(x: &[f32], mask: &[f32], out: &mut [f32]) {
    for ((o, &a), &m) in out.iter_mut().zip(x).zip(mask) {
        *o = a * m;
    }
}

/// `g *= mask` elementwise (the backward of [`apply`]).
pub fn apply_in_place(g: &mut [f32], mask: &[f32]) {
    for (a, &m) in g.iter_mut().zip(mask) {
        *a *= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_rate_and_scale() {
        let mut rng = Rng::new(7);
        let mut mask = vec![0.0f32; 100_000];
        fill_mask(&mut rng, 0.25, &mut mask);
        let zeros = mask.iter().filter(|&&m| m == 0.0).count() as f64 / mask.len() as f64;
        assert!((zeros - 0.25).abs() < 0.01, "drop rate {zeros}");
        assert!(mask
            .iter()
            .all(|&m| m == 0.0 || (m - 4.0 / 3.0).abs() < 1e-6));
    }

    #[test]
    fn state_round_trip_reproduces_the_stream() {
        let mut a = Rng::new(42);
        a.next_u64();
        let mut b = Rng::from_state(a.state()).expect("non-zero state");
        assert_eq!(a.next_u64(), b.next_u64());
        assert!(Rng::from_state([0; 4]).is_none());
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
