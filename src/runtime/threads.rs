//! The rayon pool every numeric call runs in: `set_num_threads`, `get_num_threads`,
//! `RNNRS_NUM_THREADS` (default: the number of physical cores). A forked child process finds
//! the parent's pool without its worker threads; the pool remembers the process id that built
//! it, and a child builds a fresh pool instead of waiting forever on the old one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{CoreError, Result};

/// The most threads a pool may have: far more than any machine's cores, few enough that
/// building the pool cannot exhaust the process's threads or memory.
pub const MAX_THREADS: usize = 1024;

/// 0 = not set by the program: use the environment / hardware default.
static REQUESTED: AtomicUsize = AtomicUsize::new(0);

struct Pool {
    pid: u32,
    threads: usize,
    pool: Arc<ThreadPool>,
}

/// The pool of the requested size, and a one-thread pool for small work ([`install_serial`]).
static POOLS: Mutex<Vec<Pool>> = Mutex::new(Vec::new());

/// Number of physical cores (Linux: distinct (physical id, core id) pairs of /proc/cpuinfo);
/// falls back to the logical CPU count.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return logical;
    };
    let mut cores = std::collections::HashSet::new();
    let mut phys = "";
    for line in info.lines() {
        let mut kv = line.splitn(2, ':');
        let (k, v) = (
            kv.next().unwrap_or("").trim(),
            kv.next().unwrap_or("").trim(),
        );
        if k == "physical id" {
            phys = v;
        } else if k == "core id" {
            cores.insert((phys.to_string(), v.to_string()));
        }
    }
    if cores.is_empty() {
        logical
    } else {
        cores.len().min(logical)
    }
}

/// Set the number of threads for all later calls (1 <= n <= [`MAX_THREADS`]).
pub fn set_num_threads(n: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(CoreError::invalid(
            "n",
            format!("expected a number of threads in 1..={MAX_THREADS}, got {n}"),
        ));
    }
    REQUESTED.store(n, Ordering::SeqCst);
    Ok(())
}

/// The number of threads the next call will use: `set_num_threads`, else
/// `RNNRS_NUM_THREADS`, else the physical core count.
pub fn get_num_threads() -> Result<usize> {
    let n = REQUESTED.load(Ordering::SeqCst);
    if n > 0 {
        return Ok(n);
    }
    match std::env::var("RNNRS_NUM_THREADS") {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
            _ => Err(CoreError::invalid(
                "RNNRS_NUM_THREADS",
                format!("expected an integer in 1..={MAX_THREADS}, got {v:?}"),
            )),
        },
        _ => Ok(physical_cores()),
    }
}

fn pool(threads: usize) -> Result<Arc<ThreadPool>> {
    let pid = std::process::id();
    let mut guard = POOLS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(p) = guard.iter().find(|p| p.pid == pid && p.threads == threads) {
        return Ok(Arc::clone(&p.pool));
    }
    for old in std::mem::take(&mut *guard) {
        if old.pid != pid {
            // Built by the parent before fork(): its workers do not exist here, and dropping
            // it could wait on them. Leak it.
            std::mem::forget(old.pool);
        } else if old.threads == 1 {
            guard.push(old);
        }
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("rnnrs-{i}"))
        .build()
        .map_err(|e| CoreError::invalid("num_threads", format!("cannot start threads: {e}")))?;
    let pool = Arc::new(pool);
    guard.push(Pool {
        pid,
        threads,
        pool: Arc::clone(&pool),
    });
    Ok(pool)
}

/// Run `f` inside the rnnrs pool (every GEMM and gate loop inside uses its threads).
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool(get_num_threads()?)?.install(f))
}

/// Run `f` on one thread: for work too small to repay waking the others (on a loaded
/// machine each hand-over between threads can wait a scheduler tick).
pub fn install_serial<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool(1)?.install(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_has_the_requested_size() {
        assert!(physical_cores() >= 1);
        assert!(set_num_threads(0).is_err());
        set_num_threads(2).expect("valid");
        assert_eq!(get_num_threads().expect("set"), 2);
        assert_eq!(install(rayon::current_num_threads).expect("pool"), 2);
        assert_eq!(install_serial(rayon::current_num_threads).expect("pool"), 1);
        assert_eq!(install(rayon::current_num_threads).expect("pool"), 2);
        set_num_threads(1).expect("valid");
        assert_eq!(install(rayon::current_num_threads).expect("pool"), 1);
    }
}
