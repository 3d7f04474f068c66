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

/// That `floats` f32 values (None: a count that overflowed) can be allocated: no more than
/// the machine's physical memory (where /proc/meminfo tells it), and reservable (tried and
/// let go; it touches no page). A model asking for more gets [`CoreError::OutOfMemory`]
/// naming `what` and the size, where allocating it outright would abort the process (or,
/// where the kernel overcommits, succeed and be killed later).
pub fn allocatable(what: &str, floats: Option<usize>) -> Result<()> {
    let bytes = floats.and_then(|n| n.checked_mul(std::mem::size_of::<f32>()));
    let fits = match (floats, bytes) {
        (Some(n), Some(b)) if b <= isize::MAX as usize => {
            physical_memory().is_none_or(|have| b as u64 <= have)
                && Vec::<f32>::new().try_reserve_exact(n).is_ok()
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

/// Bytes of physical memory (MemTotal of /proc/meminfo; None where there is none).
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// A dropout probability in [0, 1).
pub fn dropout(p: f32) -> Result<()> {
    dropout_named("dropout", p)
}

/// A dropout probability in [0, 1), the error naming the field `name`.
pub fn dropout_named(name: &str, p: f32) -> Result<()> {
    if !(0.0..1.0).contains(&p) {
        return Err(CoreError::invalid(
            name,
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
        if let Some(have) = physical_memory() {
            // More than the machine has, though the kernel might reserve it.
            let floats = (have / 4 + 1) as usize;
            assert!(allocatable("above memory", Some(floats)).is_err());
        }
        for floats in [Some(usize::MAX / 2), None] {
            match allocatable("huge", floats) {
                Err(CoreError::OutOfMemory { what, .. }) => assert_eq!(what, "huge"),
                other => panic!("expected OutOfMemory, got {other:?}"),
            }
        }
    }
}
