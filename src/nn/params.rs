//! All parameters of a model in one flat buffer, with named views (PyTorch names and
//! layouts). Gradients and optimizer moments use the same layout, so clipping, the optimizer
//! and checkpointing are single loops over one slice.

use std::ops::Range;

use crate::error::{CoreError, Result};

/// One named tensor inside the flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
}

impl Entry {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for a tensor with no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the tensor lives in the flat buffer.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The ordered list of tensors and their offsets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    entries: Vec<Entry>,
    total: usize,
}

impl Layout {
    /// Append a tensor; returns its range.
    pub fn push(&mut self, name: impl Into<String>, shape: &[usize]) -> Range<usize> {
        let e = Entry {
            name: name.into(),
            shape: shape.to_vec(),
            offset: self.total,
        };
        self.total += e.len();
        let r = e.range();
        self.entries.push(e);
        r
    }

    /// Total number of scalars.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The tensors in canonical order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Look a tensor up by name.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Where tensor `name` lives, checking that `len` values fit it exactly (for overwriting
    /// one tensor); the error names the tensor and its shape.
    pub fn range_for(&self, name: &str, len: usize) -> Result<Range<usize>> {
        let e = self
            .get(name)
            .ok_or_else(|| CoreError::invalid(name, "no such parameter"))?;
        if len != e.len() {
            return Err(CoreError::invalid(
                name,
                format!(
                    "expected {} values (shape {:?}), got {len}",
                    e.len(),
                    e.shape
                ),
            ));
        }
        Ok(e.range())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_contiguous_in_order() {
        let mut l = Layout::default();
        assert_eq!(l.push("a", &[2, 3]), 0..6);
        assert_eq!(l.push("b", &[4]), 6..10);
        assert_eq!(l.total(), 10);
        assert_eq!(l.get("b").map(|e| e.range()), Some(6..10));
        assert!(l.get("c").is_none());
        assert_eq!(l.range_for("b", 4).ok(), Some(6..10));
        assert!(l.range_for("b", 5).is_err() && l.range_for("c", 1).is_err());
        assert_eq!(l.entries()[0].name, "a");
    }
}
