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
