//! The config checks every model and the encoder share; each error names the field and
//! what was expected.

use crate::error::{CoreError, Result};

/// Every `(name, value)` an integer > 0.
pub fn positive(fields: &[(&str, usize)]) -> Result<()> {
    match fields.iter().find(|(_, v)| *v == 0) {
        Some((name, _)) => Err(CoreError::invalid(*name, "expected an integer > 0, got 0")),
        None => Ok(()),
    }
}

/// A count of ids (vocabulary, classes) that u32 ids can address.
pub fn fits_u32(name: &str, v: usize) -> Result<()> {
    if v > u32::MAX as usize {
        return Err(CoreError::invalid(name, "expected at most 2^32 - 1"));
    }
    Ok(())
}

/// That `floats` f32 values (None: a count that overflowed) can be allocated, checked by
/// reserving them (and letting go): a model asking for more than the machine has gets
/// [`CoreError::OutOfMemory`] naming `what` and the size, where allocating it outright
/// would abort the process. The reservation touches no page, so it costs nothing.
pub fn allocatable(what: &str, floats: Option<usize>) -> Result<()> {
    let bytes = floats.and_then(|n| n.checked_mul(std::mem::size_of::<f32>()));
    let fits = match (floats, bytes) {
        (Some(n), Some(b)) if b <= isize::MAX as usize => {
            Vec::<f32>::new().try_reserve_exact(n).is_ok()
        }
        _ => false,
    };
    if fits {
        return Ok(());
    }
    Err(CoreError::OutOfMemory {
        what: what.to_string(),
        bytes: floats.map(|n| n as u128 * std::mem::size_of::<f32>() as u128),
    })
}

/// A dropout probability in [0, 1).
pub fn dropout(p: f32) -> Result<()> {
    if !(0.0..1.0).contains(&p) {
        return Err(CoreError::invalid(
            "dropout",
            format!("expected a float in [0, 1), got {p}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocatable_refuses_what_cannot_be_reserved() {
        assert!(allocatable("small", Some(1 << 10)).is_ok());
        for floats in [Some(usize::MAX / 2), None] {
            match allocatable("huge", floats) {
                Err(CoreError::OutOfMemory { what, .. }) => assert_eq!(what, "huge"),
                other => panic!("expected OutOfMemory, got {other:?}"),
            }
        }
    }
}
