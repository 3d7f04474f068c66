//! Arrays that are either owned or read in place from a memory-mapped file, and the
//! probing hash table of a model order.
//!
//! Spec of the hashes and the slot layout (which the binary form stores as they are):
//! python/rnnrs/backends/ngram_binary.py (`combine`, `unigram_key`, `SLOT`).

use std::sync::Arc;

use memmap2::Mmap;

/// A slice of plain-old-data values, owned or borrowed from a memory map.
#[derive(Clone, Debug)]
pub enum Store<T> {
    Owned(Vec<T>),
    Mapped {
        map: Arc<Mmap>,
        offset: usize,
        len: usize,
    },
}

/// Types every bit pattern of which is valid, so they can be read from a file in place.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, without padding, and valid for any bits.
pub unsafe trait Pod: Copy {}

impl<T: Pod> Store<T> {
    /// The values.
    pub fn as_slice(&self) -> &[T] {
        match self {
            Store::Owned(v) => v,
            Store::Mapped { map, offset, len } => {
                // SAFETY: `binary::load` checked bounds and alignment before building this,
                // and T is Pod (any bit pattern valid). The map lives as long as self.
                unsafe { std::slice::from_raw_parts(map.as_ptr().add(*offset) as *const T, *len) }
            }
        }
    }
}

/// Mix a word id into the hash of the n-gram before it (splitmix64 finaliser).
#[inline(always)]
pub fn combine(prefix: u64, word: u32) -> u64 {
    let mut z = prefix
        .rotate_left(21)
        .wrapping_add((word as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let h = z ^ (z >> 31);
    if h == EMPTY {
        EMPTY - 1
    } else {
        h
    }
}

/// The hash of a unigram (the start of a chain of [`combine`]).
#[inline(always)]
pub fn unigram_key(word: u32) -> u64 {
    combine(0x5851_F42D_4C95_7F2D, word)
}

/// The hash of an n-gram of word ids.
pub fn ngram_key(words: &[u32]) -> u64 {
    let mut key = unigram_key(words[0]);
    for &w in &words[1..] {
        key = combine(key, w);
    }
    key
}

/// The key of an empty slot.
pub const EMPTY: u64 = u64::MAX;
/// Log-probability marking an entry present only as a context (no probability of its own).
pub const BLANK: f64 = f64::INFINITY;

/// One n-gram of order >= 2: its hash, log10 prob and backoff, and where its words are
/// (`prefix`: slot of the (n-1)-gram prefix, or its word id for bigrams; `word`: last word).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub key: u64,
    pub prob: f64,
    pub bow: f64,
    pub prefix: u32,
    pub word: u32,
}

const EMPTY_SLOT: Slot = Slot {
    key: EMPTY,
    prob: 0.0,
    bow: 0.0,
    prefix: 0,
    word: 0,
};

// SAFETY: repr(C), 32 bytes without padding, all fields valid for any bits.
unsafe impl Pod for Slot {}

/// A unigram's log10 prob and backoff.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbBow {
    pub prob: f64,
    pub bow: f64,
}

// SAFETY: repr(C), two f64 without padding.
unsafe impl Pod for ProbBow {}

/// Open addressing with linear probing (as KenLM's probing model); the capacity is a power
/// of two, at least 1.5x the number of entries, fixed when built.
#[derive(Clone, Debug)]
pub struct Table {
    pub slots: Store<Slot>,
    pub mask: usize,
    /// Entries with a probability (blank context-only entries excluded).
    pub count: usize,
}

/// Find `key` in `slots` (capacity `mask + 1`): its slot index.
#[inline(always)]
fn probe(slots: &[Slot], mask: usize, key: u64) -> Option<usize> {
    let mut i = key as usize & mask;
    // Bounded, so a corrupt full table read from a file cannot loop forever.
    for _ in 0..slots.len() {
        let k = slots[i].key;
        if k == key {
            return Some(i);
        }
        if k == EMPTY {
            return None;
        }
        i = (i + 1) & mask;
    }
    None
}

impl Table {
    /// The slot index of `key`.
    #[inline(always)]
    pub fn find(&self, key: u64) -> Option<usize> {
        probe(self.slots.as_slice(), self.mask, key)
    }

    /// The entry of `key`.
    #[inline(always)]
    pub fn get(&self, key: u64) -> Option<&Slot> {
        let slots = self.slots.as_slice();
        probe(slots, self.mask, key).map(|i| &slots[i])
    }

    /// The slots.
    #[inline(always)]
    pub fn slots(&self) -> &[Slot] {
        self.slots.as_slice()
    }

    /// Ask the CPU to start loading the home slot of `key` (a hint; no effect elsewhere).
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        prefetch(self.slots.as_slice(), key as usize & self.mask);
    }
}

/// Ask the CPU to start loading `items[i]` (a hint; nothing happens out of range).
#[inline(always)]
pub fn prefetch<T>(items: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(item) = items.get(i) {
        // SAFETY: prefetching a valid address has no effect beyond the cache.
        unsafe {
            std::arch::x86_64::_mm_prefetch(
                item as *const T as *const i8,
                std::arch::x86_64::_MM_HINT_T0,
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (items, i);
}

/// A table being filled; sized for its entries up front, never grown.
pub struct TableBuilder {
    slots: Vec<Slot>,
    mask: usize,
    count: usize,
}

impl TableBuilder {
    /// An empty table with room for `entries`.
    pub fn with_entries(entries: usize) -> TableBuilder {
        let capacity = (entries + entries / 2 + 1).next_power_of_two().max(2);
        TableBuilder {
            slots: vec![EMPTY_SLOT; capacity],
            mask: capacity - 1,
            count: 0,
        }
    }

    /// Insert; returns the slot index. A blank (context-only) entry never replaces a real
    /// one; a real one fills a blank. At most `entries` distinct keys fit.
    pub fn insert(&mut self, key: u64, prob: f64, bow: f64, prefix: u32, word: u32) -> usize {
        let mut i = key as usize & self.mask;
        loop {
            let s = &mut self.slots[i];
            if s.key == EMPTY || s.key == key {
                let was_real = s.key == key && s.prob != BLANK;
                if was_real && prob == BLANK {
                    return i;
                }
                if !was_real && prob != BLANK {
                    self.count += 1;
                }
                *s = Slot {
                    key,
                    prob,
                    bow,
                    prefix,
                    word,
                };
                return i;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The slot index of `key`.
    pub fn find(&self, key: u64) -> Option<usize> {
        probe(&self.slots, self.mask, key)
    }

    /// Set the backoff of the entry in slot `i`.
    pub fn set_bow(&mut self, i: usize, bow: f64) {
        self.slots[i].bow = bow;
    }

    /// Ask the CPU to start loading the home slot of `key`.
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        prefetch(&self.slots, key as usize & self.mask);
    }

    /// The finished table.
    pub fn finish(self) -> Table {
        Table {
            slots: Store::Owned(self.slots),
            mask: self.mask,
            count: self.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_and_blanks() {
        let mut t = TableBuilder::with_entries(3);
        let a = ngram_key(&[3, 4]);
        let b = ngram_key(&[4, 3]);
        assert_ne!(a, b);
        let i = t.insert(a, BLANK, 0.0, 3, 4);
        assert_eq!(t.insert(a, -0.5, -0.1, 3, 4), i);
        assert_eq!(t.insert(a, BLANK, 0.0, 3, 4), i);
        t.insert(b, -0.7, 0.0, 4, 3);
        let t = t.finish();
        assert_eq!(t.count, 2);
        assert_eq!(t.slots()[t.find(a).unwrap()].prob, -0.5);
        assert!(t.find(ngram_key(&[5, 5])).is_none());
    }
}
