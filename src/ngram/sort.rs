//! Radix sort of (key, index) pairs. The n-gram engine sorts where a hash table would
//! read memory at random (as KenLM's lmplz does): after a sort, counting runs, joining
//! tables and filling probing tables all walk memory in order.
//!
//! No counterpart in the reference, whose dicts need no sorting: what the sorts serve is
//! specified by python/rnnrs/reference/ngram.py::count_ngrams and ::estimate.

use std::marker::PhantomData;

use rayon::prelude::*;

/// A sort key and the index of what it stands for. Packed to 12 bytes: sorting is bound by
/// moving pairs through memory, and current CPUs read the unaligned key at no extra cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, packed(4))]
pub struct Pair {
    pub key: u64,
    pub val: u32,
}

/// Writes `out[val]` for sorted pairs from several threads at once: the pairs' `val`s are
/// distinct indices, so no two writes touch the same element.
pub(crate) struct WriteByVal<'a> {
    out: *mut u32,
    len: usize,
    _out: PhantomData<&'a mut [u32]>,
}

// SAFETY: every write goes through `write`, whose callers pass each index at most once.
unsafe impl Sync for WriteByVal<'_> {}

impl<'a> WriteByVal<'a> {
    pub(crate) fn new(out: &'a mut [u32]) -> Self {
        WriteByVal {
            out: out.as_mut_ptr(),
            len: out.len(),
            _out: PhantomData,
        }
    }

    /// `out[i] = x`.
    ///
    /// # Safety
    /// No other call, from any thread, writes index `i`.
    #[inline(always)]
    pub(crate) unsafe fn write(&self, i: usize, x: u32) {
        assert!(i < self.len, "pair index out of range");
        // SAFETY: in bounds, and the caller guarantees that no one else touches element i.
        unsafe { *self.out.add(i) = x };
    }
}

/// Below this many pairs, one least-significant-digit sort over the whole slice.
const SPLIT_FROM: usize = 1 << 14;
/// Parallel tasks cut a slice into about this many parts per thread.
pub(crate) const PARTS_PER_THREAD: usize = 4;

/// Cut `0..len` into about [`PARTS_PER_THREAD`] parts per thread of similar size, moving
/// each cut forward past the indices `i` for which `joined(i)` says `i` belongs with `i - 1`
/// (the same key, say), so no group straddles two parts. Returns the boundaries: `0` first,
/// `len` last, strictly increasing (fewer parts when groups are large).
pub(crate) fn cut_between(len: usize, joined: impl Fn(usize) -> bool) -> Vec<usize> {
    let parts = PARTS_PER_THREAD * rayon::current_num_threads();
    let mut cuts = vec![0];
    for t in 1..parts {
        let last = cuts[cuts.len() - 1];
        let mut c = (t * len / parts).max(last);
        while c > 0 && c < len && joined(c) {
            c += 1;
        }
        if c > last && c < len {
            cuts.push(c);
        }
    }
    cuts.push(len);
    cuts
}

/// Buckets of up to this many pairs (2 MB with their scratch) are sorted by
/// least-significant-digit passes; larger ones are split again on their top bits.
const BUCKET_MAX: usize = 1 << 16;

/// Sort `pairs` by key, stably (equal keys keep their order). Large inputs are split on
/// the top 8 bits in which their keys vary into 256 buckets (the threads sharing that
/// pass), buckets still large are split again on their next 8 bits (word ids are skewed:
/// the frequent words' n-grams crowd a few buckets), and each bucket, small enough to stay
/// in cache, is sorted by least-significant-digit radix sort on bytes, in parallel; bytes
/// in which all keys agree are skipped. `scratch` is reused between calls.
pub fn sort_pairs(pairs: &mut Vec<Pair>, scratch: &mut Vec<Pair>) {
    let n = pairs.len();
    if n < 256 {
        pairs.sort_by_key(|p| p.key);
        return;
    }
    scratch.clear();
    scratch.resize(n, Pair::default());
    let sorted_in_scratch = if n < SPLIT_FROM {
        lsd(pairs, scratch, u64::MAX)
    } else {
        let varying = varying_bits(pairs);
        split(pairs, scratch, varying)
    };
    if sorted_in_scratch {
        std::mem::swap(pairs, scratch);
    }
}

/// Sort `data`, whose keys vary only in `varying` (as far as the sort need look), with
/// `buf` as scratch: a bucket pass on the top 8 of those bits, then each bucket sorted
/// (split again if still large). Returns true: the result is in `buf`.
fn split(data: &mut [Pair], buf: &mut [Pair], varying: u64) -> bool {
    let shift = (u64::BITS - varying.leading_zeros()).saturating_sub(8);
    let threads = rayon::current_num_threads().max(1);
    let sizes = scatter(data, buf, shift, data.len().div_ceil(threads));
    let below = varying & low_bits(shift);
    // Each bucket: its range of `buf` (where it is) and of `data` (its scratch).
    let mut parts: Vec<(&mut [Pair], &mut [Pair])> = Vec::with_capacity(256);
    let (mut a, mut b) = (&mut buf[..], &mut data[..]);
    for size in sizes {
        let (x, rest_a) = std::mem::take(&mut a).split_at_mut(size);
        let (y, rest_b) = std::mem::take(&mut b).split_at_mut(size);
        parts.push((x, y));
        a = rest_a;
        b = rest_b;
    }
    parts.into_par_iter().for_each(|(bucket, scratch)| {
        let in_scratch = if bucket.len() > BUCKET_MAX && below != 0 {
            split(bucket, scratch, below)
        } else {
            lsd(bucket, scratch, below)
        };
        if in_scratch {
            bucket.copy_from_slice(scratch);
        }
    });
    true
}

/// The bits below `shift`.
fn low_bits(shift: u32) -> u64 {
    if shift == 0 {
        0
    } else {
        u64::MAX >> (64 - shift)
    }
}

/// The bits in which the keys differ.
fn varying_bits(pairs: &[Pair]) -> u64 {
    let (any, all) = pairs
        .par_chunks(1 << 16)
        .map(|c| {
            c.iter()
                .fold((0u64, u64::MAX), |(o, a), p| (o | p.key, a & p.key))
        })
        .reduce(|| (0, u64::MAX), |x, y| (x.0 | y.0, x.1 & y.1));
    any ^ all
}

/// Least-significant-digit radix sort of `data` on the bytes of `bits` (one thread), with
/// `buf` as the other half of each pass. Returns whether the result ended up in `buf`.
fn lsd(data: &mut [Pair], buf: &mut [Pair], bits: u64) -> bool {
    let mut hist = [[0usize; 256]; 8];
    let (mut any, mut all) = (0u64, u64::MAX);
    for p in data.iter() {
        any |= p.key;
        all &= p.key;
        for (b, h) in hist.iter_mut().enumerate() {
            h[((p.key >> (8 * b)) & 0xFF) as usize] += 1;
        }
    }
    let varying = (any ^ all) & bits;
    let mut in_buf = false;
    for (b, h) in hist.iter().enumerate() {
        if (varying >> (8 * b)) & 0xFF == 0 {
            continue;
        }
        let mut at = [0usize; 256];
        let mut total = 0;
        for d in 0..256 {
            at[d] = total;
            total += h[d];
        }
        let (src, dst): (&[Pair], &mut [Pair]) = if in_buf { (buf, data) } else { (data, buf) };
        for p in src {
            let d = ((p.key >> (8 * b)) & 0xFF) as usize;
            dst[at[d]] = *p;
            at[d] += 1;
        }
        in_buf = !in_buf;
    }
    in_buf
}

/// One stable counting-sort pass on the 8 bits at `shift`, `src` to `dst`, `chunk` pairs
/// per thread: each thread writes its share of every bucket into its own subslice.
/// Returns the bucket sizes.
fn scatter(src: &[Pair], dst: &mut [Pair], shift: u32, chunk: usize) -> Vec<usize> {
    let digit = |p: &Pair| ((p.key >> shift) & 0xFF) as usize;
    let hists: Vec<[usize; 256]> = src
        .par_chunks(chunk)
        .map(|c| {
            let mut h = [0usize; 256];
            for p in c {
                h[digit(p)] += 1;
            }
            h
        })
        .collect();
    // Bucket d of chunk t follows buckets < d of every chunk and bucket d of chunks < t.
    let mut outs: Vec<Vec<&mut [Pair]>> = (0..hists.len()).map(|_| Vec::new()).collect();
    let mut rest = dst;
    for d in 0..256 {
        for (t, h) in hists.iter().enumerate() {
            let (bucket, tail) = std::mem::take(&mut rest).split_at_mut(h[d]);
            outs[t].push(bucket);
            rest = tail;
        }
    }
    src.par_chunks(chunk)
        .zip(outs.into_par_iter())
        .for_each(|(c, mut buckets)| {
            let mut at = [0usize; 256];
            for p in c {
                let d = digit(p);
                buckets[d][at[d]] = *p;
                at[d] += 1;
            }
        });
    (0..256).map(|d| hists.iter().map(|h| h[d]).sum()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_between_groups() {
        // Groups of 7 equal keys: a cut never splits one.
        let keys: Vec<usize> = (0..1000).map(|i| i / 7).collect();
        let cuts = cut_between(keys.len(), |i| keys[i] == keys[i - 1]);
        assert_eq!((cuts[0], cuts[cuts.len() - 1]), (0, 1000));
        assert!(cuts.windows(2).all(|w| w[0] < w[1]));
        assert!(cuts[1..cuts.len() - 1]
            .iter()
            .all(|&c| keys[c] != keys[c - 1]));
        assert_eq!(cut_between(5, |_| true), [0, 5]);
        assert_eq!(cut_between(0, |_| false), [0, 0]);
    }

    fn check(keys: &[u64]) {
        let mut pairs: Vec<Pair> = keys
            .iter()
            .enumerate()
            .map(|(i, &key)| Pair { key, val: i as u32 })
            .collect();
        let mut expected = pairs.clone();
        expected.sort_by_key(|p| p.key);
        sort_pairs(&mut pairs, &mut Vec::new());
        assert_eq!(pairs, expected);
    }

    #[test]
    fn sorts_stably_small_and_large() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [0, 1, 5, 700, 40_000, 100_000] {
            let wide: Vec<u64> = (0..n).map(|_| next()).collect();
            check(&wide);
            // Few distinct keys in a few bytes: ties and skipped passes.
            let narrow: Vec<u64> = (0..n)
                .map(|_| ((next() % 50) << 40) | (next() % 3))
                .collect();
            check(&narrow);
        }
        // Skewed as n-gram keys: most keys share their top bits (a frequent first word),
        // so one bucket holds most pairs and is split again, several times.
        let skewed: Vec<u64> = (0..400_000)
            .map(|_| {
                let r = next();
                let first = if r % 10 < 7 { r % 3 } else { r % 400_000 };
                (first << 19) | (next() % (1 << 19))
            })
            .collect();
        check(&skewed);
    }
}
