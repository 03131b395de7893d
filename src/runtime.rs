//! The one tokio runtime shared by all accounts, with a reference-counted init / shutdown.
//!
//! Nothing starts when the library is loaded: [`init`] creates the runtime on the first call and
//! counts; [`shutdown`] stops its threads when the count returns to zero, so a host can call it
//! before unloading the DLL. Blocking calls from host threads go through [`block_on`], which
//! refuses to run on a runtime thread (a callback calling back into the library) instead of
//! deadlocking.

use crate::error::{Error, Result, Status};
use once_cell::sync::Lazy;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

struct State {
    refs: u32,
    runtime: Option<Arc<Runtime>>,
}

static STATE: Lazy<Mutex<State>> = Lazy::new(|| {
    Mutex::new(State {
        refs: 0,
        runtime: None,
    })
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the runtime on the first call; later calls only count. Returns the new count.
pub fn init() -> Result<u32> {
    let mut s = state();
    if s.runtime.is_none() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(8)
            .thread_name("oauthmail")
            .enable_all()
            .build()
            .map_err(|e| Error::new(Status::IoError, format!("cannot start the runtime: {e}")))?;
        s.runtime = Some(Arc::new(rt));
    }
    s.refs += 1;
    Ok(s.refs)
}

/// Drops one reference; the last one runs `on_last` (the C layer cancels every account's
/// operations there) and stops the runtime's threads (waiting at most 5 s for tasks to
/// finish). Returns the remaining count.
pub fn shutdown(on_last: impl FnOnce()) -> Result<u32> {
    if Handle::try_current().is_ok() || crate::callback_mark::in_any() {
        return Err(Error::new(
            Status::ReentrantCall,
            "om_shutdown() cannot be called from a library thread (inside a callback)",
        ));
    }
    let rt = {
        let mut s = state();
        if s.refs == 0 {
            return Err(Error::new(
                Status::NotInitialized,
                "om_shutdown() called more times than om_init()",
            ));
        }
        s.refs -= 1;
        if s.refs > 0 {
            return Ok(s.refs);
        }
        s.runtime.take()
    };
    on_last();
    if let Some(rt) = rt {
        // Other threads may still hold a clone for a moment (a call finishing): wait for them.
        let mut rt = rt;
        for _ in 0..500 {
            match Arc::try_unwrap(rt) {
                Ok(owned) => {
                    owned.shutdown_timeout(Duration::from_secs(5));
                    return Ok(0);
                }
                Err(shared) => {
                    rt = shared;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        // Still in use after 5 s: leave it to the last user (its drop stops the threads).
    }
    Ok(0)
}

/// The running runtime, or `NotInitialized`.
pub fn runtime() -> Result<Arc<Runtime>> {
    state().runtime.clone().ok_or_else(|| {
        Error::new(
            Status::NotInitialized,
            "the library is not initialized: call om_init() first",
        )
    })
}

/// Number of outstanding [`init`] references.
pub fn refs() -> u32 {
    state().refs
}

/// Runs `fut` to completion on the shared runtime from a host thread.
pub fn block_on<F: Future>(fut: F) -> Result<F::Output> {
    if Handle::try_current().is_ok() {
        return Err(Error::new(
            Status::ReentrantCall,
            "this blocking call cannot be made from a library thread (inside a callback)",
        ));
    }
    let rt = runtime()?;
    Ok(rt.block_on(fut))
}

/// Spawns a background task on the shared runtime.
pub fn spawn<F>(fut: F) -> Result<tokio::task::JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = runtime()?;
    Ok(rt.spawn(fut))
}
