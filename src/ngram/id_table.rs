//! A hash table of word ids. The words live elsewhere (the vocabulary's list, or the text
//! being read), so a slot holds only a 32-bit key cut from the word's hash and the id, and
//! the caller says whether an id stands for the word looked up.
//!
//! No counterpart in the reference: a Python dict plays its part there
//! (python/rnnrs/backends/numpy_ngram.py::Vocabulary).

/// Open addressing with linear probing, at most half full.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdTable {
    /// `(key << 32) | (id + 1)`; 0 marks an empty slot.
    slots: Vec<u64>,
    len: usize,
}

impl IdTable {
    /// The id stored under `key` for which `is_it(id)` holds.
    #[inline]
    pub(crate) fn find(&self, key: u32, mut is_it: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = key as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            let id = (slot as u32).wrapping_sub(1);
            if (slot >> 32) as u32 == key && is_it(id) {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    /// Add `id` (below `u32::MAX`) under `key`; the caller has checked that its word is
    /// not in the table.
    pub(crate) fn insert(&mut self, key: u32, id: u32) {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        self.place(((key as u64) << 32) | (id as u64 + 1));
        self.len += 1;
    }

    fn place(&mut self, slot: u64) {
        let mask = self.slots.len() - 1;
        let mut i = (slot >> 32) as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        let capacity = (2 * self.slots.len()).max(16);
        let old = std::mem::replace(&mut self.slots, vec![0; capacity]);
        for slot in old.into_iter().filter(|&s| s != 0) {
            self.place(slot);
        }
    }

    /// Replace every id by `f(id)` (the keys stay).
    pub(crate) fn map_ids(&mut self, f: impl Fn(u32) -> u32) {
        for slot in self.slots.iter_mut().filter(|s| **s != 0) {
            let id = f(*slot as u32 - 1);
            *slot = (*slot & !0xFFFF_FFFF) | (id as u64 + 1);
        }
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.slots.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_key_and_caller_check() {
        let words = ["a", "b", "c"];
        let mut t = IdTable::default();
        assert_eq!(t.find(7, |_| true), None);
        // Two words under one key: the caller's check tells them apart.
        t.insert(7, 0);
        t.insert(7, 1);
        for i in 2..100 {
            t.insert(i * 31, i + 10);
        }
        assert_eq!(t.find(7, |id| words[id as usize] == "b"), Some(1));
        assert_eq!(t.find(7, |id| words[id as usize] == "a"), Some(0));
        assert_eq!(t.find(7, |id| words[id as usize] == "c"), None);
        assert_eq!(t.find(99 * 31, |_| true), Some(109));
        t.map_ids(|id| id * 2);
        assert_eq!(t.find(7, |id| id == 2), Some(2));
        assert_eq!(t.find(50 * 31, |_| true), Some(120));
    }
}
