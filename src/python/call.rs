//! The wrappers every binding runs the core through, so that a Rust panic is stopped here
//! and raised as `rnnrs.errors.RnnrsError` rather than crossing into Python (as a
//! `PanicException`, which `except Exception` misses): [`detached`] for calls that compute
//! (the GIL released for the whole call, Ctrl-C checked wherever the core offers a check
//! point, [`Signals`]), [`interruptible`] for long calls whose core checks a flag, and
//! [`guarded`] for quick calls that keep the GIL (constructors' argument checks, lookups).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::prelude::*;

use super::errors::internal_error;
use crate::error::{CoreError, Result};
use crate::runtime::threads;

/// Ctrl-C check points of one detached call.
pub(super) struct Signals {
    /// What a signal handler raised (KeyboardInterrupt for Ctrl-C), re-raised when the call
    /// returns.
    raised: Option<PyErr>,
}

impl Signals {
    /// Run Python's signal handlers (taking the GIL for that moment only); when one raises,
    /// the call should stop: [`CoreError::Interrupted`], here and at every later check.
    pub(super) fn check(&mut self) -> Result<()> {
        if self.raised.is_none() {
            self.raised = Python::attach(|py| py.check_signals()).err();
        }
        match self.raised {
            Some(_) => Err(CoreError::Interrupted),
            None => Ok(()),
        }
    }
}

/// Run `f` with the GIL released. The outer error is what a signal handler raised during
/// the call (it wins over the core's `Interrupted`) or a panic turned into `RnnrsError`;
/// inside is the core's own result, for the caller to map (`??` maps it with
/// `From<CoreError> for PyErr`).
pub(super) fn detached<R: Send>(
    py: Python<'_>,
    f: impl FnOnce(&mut Signals) -> Result<R> + Send,
) -> PyResult<Result<R>> {
    let mut signals = Signals { raised: None };
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(|| f(&mut signals))));
    if let Some(e) = signals.raised {
        return Err(e);
    }
    outcome.map_err(|payload| panicked(py, payload.as_ref()))
}

/// How often an [`interruptible`] call looks for Ctrl-C.
const SIGNAL_EVERY: Duration = Duration::from_millis(50);

/// [`detached`] for long calls that check for Ctrl-C through a flag: `f` runs in the rnnrs
/// pool on a thread of its own, while this thread (Python runs signal handlers on the main
/// thread only) checks for signals every [`SIGNAL_EVERY`]; once one is seen, `f`'s check
/// fails with [`CoreError::Interrupted`] and the signal's exception is raised when it
/// returns.
pub(super) fn interruptible<R: Send>(
    py: Python<'_>,
    f: impl FnOnce(&mut dyn FnMut() -> Result<()>) -> Result<R> + Send,
) -> PyResult<R> {
    Ok(detached(py, |signals| {
        let stop = AtomicBool::new(false);
        let waiting = std::thread::current();
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                let mut check = || match stop.load(Ordering::Relaxed) {
                    true => Err(CoreError::Interrupted),
                    false => Ok(()),
                };
                let result = threads::install(|| f(&mut check));
                waiting.unpark();
                result
            });
            while !worker.is_finished() {
                std::thread::park_timeout(SIGNAL_EVERY);
                if signals.check().is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            match worker.join() {
                Ok(result) => result?,
                // Handed on to `detached`, which raises it as RnnrsError.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    })??)
}

/// Run a quick `f` with the GIL held, a panic raised as `RnnrsError` as in [`detached`].
pub(super) fn guarded<R>(py: Python<'_>, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panicked(py, payload.as_ref()))?
}

/// `rnnrs.errors.RnnrsError` for a panic inside the core, with the panic's message.
fn panicked(py: Python<'_>, payload: &(dyn Any + Send)) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    internal_error(
        py,
        format!("internal error in the rnnrs core (please report it): {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic in the core comes out as an instance of `rnnrs.errors.RnnrsError` (here a
    /// stand-in module), with its message; an error is left to the caller.
    #[test]
    fn a_panic_is_raised_as_rnnrs_error() {
        Python::initialize();
        Python::attach(|py| {
            let errors = PyModule::from_code(
                py,
                c"class RnnrsError(Exception):\n    pass\nclass FormatError(RnnrsError, ValueError):\n    pass\nclass ArpaError(FormatError):\n    pass\nclass TrainingDivergedError(RnnrsError):\n    pass\n",
                c"errors.py",
                c"rnnrs.errors",
            )
            .expect("a module");
            let package = PyModule::new(py, "rnnrs").expect("a module");
            package.setattr("errors", &errors).expect("settable");
            let sys = py.import("sys").expect("sys");
            let modules = sys.getattr("modules").expect("sys.modules");
            modules.set_item("rnnrs", &package).expect("settable");
            modules.set_item("rnnrs.errors", &errors).expect("settable");
            let err = detached(py, |_| -> Result<()> { panic!("index 7 out of range") })
                .expect_err("a panic is an error");
            let class = errors.getattr("RnnrsError").expect("defined");
            assert!(err.is_instance(py, &class));
            assert!(err.to_string().contains("index 7 out of range"), "{err}");
            let inner = detached(py, |s| {
                s.check()?;
                Err::<(), _>(CoreError::invalid("x", "bad"))
            })
            .expect("no signal, no panic");
            assert!(inner.is_err());
            let err = guarded(py, || -> PyResult<()> { panic!("slot 3 of 2") })
                .expect_err("a panic is an error");
            assert!(err.is_instance(py, &class));
            assert!(err.to_string().contains("slot 3 of 2"), "{err}");
            let err = interruptible(py, |_| -> Result<()> { panic!("worker fell") })
                .expect_err("a panic in the worker is an error");
            assert!(err.is_instance(py, &class));
            assert!(err.to_string().contains("worker fell"), "{err}");
            for name in ["rnnrs.errors", "rnnrs"] {
                modules.del_item(name).expect("removable");
            }
        });
    }
}
