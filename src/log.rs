//! The optional log sink (the C ABI's log callback).
//!
//! Messages go through [`crate::redact::redact`] before the sink sees them. The sink may be
//! called from any thread, library threads included; it must return quickly.

use once_cell::sync::Lazy;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, RwLock};

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

pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// -1 when no sink is installed, else the most verbose level wanted.
static MAX_LEVEL: AtomicI32 = AtomicI32::new(-1);
static SINK: Lazy<RwLock<Option<Sink>>> = Lazy::new(|| RwLock::new(None));

/// Installs (or with `None` removes) the sink, receiving messages up to `max_level`.
pub fn set_sink(sink: Option<Sink>, max_level: Level) {
    let mut s = SINK.write().unwrap_or_else(|e| e.into_inner());
    let enabled = sink.is_some();
    *s = sink;
    MAX_LEVEL.store(
        if enabled { max_level as i32 } else { -1 },
        Ordering::SeqCst,
    );
}

/// True when a message at `level` would reach the sink.
pub fn enabled(level: Level) -> bool {
    (level as i32) <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Sends a message to the sink, redacted.
pub fn emit(level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    let sink = SINK.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(sink) = sink {
        let clean = crate::redact::redact(message);
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
