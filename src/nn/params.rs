//! All parameters of a model in one flat buffer, with named views (PyTorch names and
//! layouts). Gradients and optimizer moments use the same layout, so clipping, the optimizer
//! and checkpointing are single loops over one slice. Every model (the language model, the
//! encoder stack on its own) keeps its tensors in one [`Params`]; the parts it is built of
//! register their tensors in its [`Layout`] and read them at their ranges.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::error::{CoreError, Result};

/// One named tensor inside the flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
}

impl Entry {
    /// Number of elements (saturating: a layout too big to address has a total no
    /// allocation check lets through).
    pub fn len(&self) -> usize {
        self.shape.iter().fold(1, |n, &d| n.saturating_mul(d))
    }

    /// True for a tensor with no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the tensor lives in the flat buffer.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset.saturating_add(self.len())
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
        self.total = self.total.saturating_add(e.len());
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

/// A model's parameters and their gradients: two flat buffers of one [`Layout`].
///
/// Constructors allocate zeros: initial weights are drawn by the Python layer
/// (`rnnrs.RNNLM`, `rnnrs.LSTM`, ...) and set with [`Params::set`], or loaded.
#[derive(Clone, Debug)]
pub struct Params {
    layout: Layout,
    values: Vec<f32>,
    grads: Vec<f32>,
    /// Renewed from [`VERSIONS`] at every mutable access to the values: equal versions mean
    /// equal values, so work derived from them (a packed weight) can be kept.
    version: u64,
}

/// The source of [`Params::version`]s, unique across all parameter sets of the process.
static VERSIONS: AtomicU64 = AtomicU64::new(0);

fn next_version() -> u64 {
    VERSIONS.fetch_add(1, Ordering::Relaxed)
}

/// Elements per parallel task when zeroing the gradients.
const ZERO_CHUNK: usize = 1 << 16;

impl Params {
    /// Zero values and gradients for every tensor of `layout`.
    pub fn zeros(layout: Layout) -> Self {
        let n = layout.total();
        Params {
            layout,
            values: vec![0.0; n],
            grads: vec![0.0; n],
            version: next_version(),
        }
    }

    /// Names, shapes and offsets of the tensors.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True for a model without parameters.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// All values, flat, in layout order.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// All values, to change (a new [`Params::version`]).
    pub fn values_mut(&mut self) -> &mut [f32] {
        self.version = next_version();
        &mut self.values
    }

    /// The values' version: it changes whenever they may have changed, and two parameter
    /// sets share one only when one is an unchanged clone of the other.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The gradients of the last backward, flat, same layout.
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// Values and gradients together (a backward pass reads the one and adds into the
    /// other; clipping and the optimizer update both).
    pub fn values_and_grads(&mut self) -> (&mut [f32], &mut [f32]) {
        self.version = next_version();
        (&mut self.values, &mut self.grads)
    }

    /// One tensor by name.
    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.layout.get(name).map(|e| &self.values[e.range()])
    }

    /// One gradient by name.
    pub fn grad(&self, name: &str) -> Option<&[f32]> {
        self.layout.get(name).map(|e| &self.grads[e.range()])
    }

    /// Overwrite one tensor; `values` must have exactly its number of elements.
    pub fn set(&mut self, name: &str, values: &[f32]) -> Result<()> {
        let r = self.layout.range_for(name, values.len())?;
        self.version = next_version();
        self.values[r].copy_from_slice(values);
        Ok(())
    }

    /// Set every gradient to zero (before a backward, which adds into them), in parallel on
    /// the current pool.
    pub fn zero_grads(&mut self) {
        self.grads
            .par_chunks_mut(ZERO_CHUNK)
            .for_each(|c| c.fill(0.0));
    }
}

/// Two disjoint mutable ranges of one buffer, in either order.
pub(crate) fn split_two(
    buf: &mut [f32],
    a: Range<usize>,
    b: Range<usize>,
) -> (&mut [f32], &mut [f32]) {
    if a.start < b.start {
        let (lo, hi) = buf.split_at_mut(b.start);
        (&mut lo[a], &mut hi[..b.len()])
    } else {
        let (lo, hi) = buf.split_at_mut(a.start);
        (&mut hi[..a.len()], &mut lo[b])
    }
}

/// Test weights: U(-bound, bound) from the engine's generator seeded with `seed`.
#[cfg(test)]
pub(crate) fn fill_uniform(values: &mut [f32], seed: u64, bound: f32) {
    let mut rng = super::dropout::Rng::new(seed);
    for v in values {
        *v = (2.0 * rng.next_f32() - 1.0) * bound;
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

    #[test]
    fn params_by_name_and_disjoint_ranges() {
        let mut l = Layout::default();
        l.push("w", &[2, 2]);
        l.push("b", &[2]);
        let mut p = Params::zeros(l);
        assert_eq!(
            (p.len(), p.values(), p.grads()),
            (6, &[0.0; 6][..], &[0.0; 6][..])
        );
        p.set("b", &[1.0, 2.0]).expect("shape fits");
        assert!(p.set("b", &[1.0]).is_err() && p.set("x", &[1.0]).is_err());
        assert_eq!(p.get("b"), Some(&[1.0, 2.0][..]));
        p.values_and_grads().1[0] = 3.0;
        assert_eq!(p.grad("w").map(|g| g[0]), Some(3.0));
        p.zero_grads();
        assert!(p.grads().iter().all(|&g| g == 0.0));
        let mut buf = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        let (a, b) = split_two(&mut buf, 3..5, 0..2);
        assert_eq!((&a[..], &b[..]), (&[3.0, 4.0][..], &[0.0, 1.0][..]));
    }
}
