//! The optional log sink (the C ABI's log callback).
//!
//! Messages go through [`crate::redact::redact`] before the sink sees them. The sink may be
//! called from any thread, library threads included; it must return quickly. Replacing it
//! waits for the calls in progress, so a host may free what the old one used as soon as the
//! setter returns.

use once_cell::sync::Lazy;
use std::cell::Cell;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::RwLock;

/// Log levels, most severe first. The numbers are part of the ABI (`OM_LOG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    pub fn from_code(code: i32) -> Option<Level> {
        match code {
            0 => Some(Level::Error),
            1 => Some(Level::Warn),
            2 => Some(Level::Info),
            3 => Some(Level::Debug),
            _ => None,
        }
    }
}

pub type Sink = Box<dyn Fn(Level, &str) + Send + Sync>;

/// -1 when no sink is installed, else the most verbose level wanted.
static MAX_LEVEL: AtomicI32 = AtomicI32::new(-1);
/// Held for reading while the sink runs, so replacing it waits for the calls in progress.
static SINK: Lazy<RwLock<Option<Sink>>> = Lazy::new(|| RwLock::new(None));

thread_local! {
    /// This thread is running the sink.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// True when called from inside the sink (the host's log callback) on this thread.
pub fn in_sink() -> bool {
    IN_SINK.with(Cell::get)
}

/// Installs (or with `None` removes) the sink, receiving messages up to `max_level`. Returns
/// once no thread is running the previous sink any more: none starts after this returns. The
/// previous sink is dropped here, on the caller's thread. Refused from inside the sink (it
/// would wait for itself).
pub fn set_sink(sink: Option<Sink>, max_level: Level) -> Result<(), crate::Error> {
    if in_sink() {
        return Err(crate::Error::new(
            crate::Status::ReentrantCall,
            "the log callback cannot be replaced from inside itself",
        ));
    }
    let old = {
        let mut s = SINK.write().unwrap_or_else(|e| e.into_inner());
        let enabled = sink.is_some();
        MAX_LEVEL.store(
            if enabled { max_level as i32 } else { -1 },
            Ordering::SeqCst,
        );
        std::mem::replace(&mut *s, sink)
    };
    drop(old); // outside the lock: may run the host's free function
    Ok(())
}

/// True when a message at `level` would reach the sink.
pub fn enabled(level: Level) -> bool {
    (level as i32) <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Sends a message to the sink, redacted. A message logged from inside the sink (the host's
/// callback calling back) is dropped instead of re-entering it.
pub fn emit(level: Level, message: &str) {
    if !enabled(level) || in_sink() {
        return;
    }
    let clean = crate::redact::redact(message);
    let guard = SINK.read().unwrap_or_else(|e| e.into_inner());
    if let Some(sink) = guard.as_ref() {
        IN_SINK.with(|f| f.set(true));
        struct Leave;
        impl Drop for Leave {
            fn drop(&mut self) {
                IN_SINK.with(|f| f.set(false));
            }
        }
        let _leave = Leave;
        sink(level, &clean);
    }
}

/// `om_log!(Level::Info, "format {}", args)`: formats only when the level is enabled.
#[macro_export]
macro_rules! om_log {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::emit($level, &format!($($arg)*));
        }
    };
}
