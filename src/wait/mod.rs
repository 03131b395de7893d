//! Waiting for new mail in a folder: returns as soon as a message arrives or the wait's time
//! is up, cancellable from another thread (the account's cancellation). IMAP IDLE (RFC 2177)
//! when the server offers it, re-issued before the server's inactivity limit (Gmail and
//! Exchange drop IDLE after about 29–30 minutes); else polling. Cut connections are re-opened
//! (with a fresh token, as a fetch does) and the wait goes on from the same starting point, so a
//! message that arrived during the cut still wakes it. A host's worker thread loops on it, then
//! calls `om_fetch`.
//!
//! - [`idle`]: IMAP (IDLE, or polling with UID SEARCH when IDLE is not offered).
//! - [`poll`]: POP3, Microsoft Graph and the Gmail API, by polling the newest message.

pub mod idle;
pub mod poll;

use crate::account::Account;
use crate::config::Protocol;
use crate::error::{Error, Result, Status};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Gmail and Exchange end IDLE after about 29–30 minutes of silence: re-issue before.
pub const IDLE_REFRESH: Duration = Duration::from_secs(25 * 60);
/// Default polling period when IDLE is not available.
pub const POLL_EVERY: Duration = Duration::from_secs(60);
/// Consecutive connection failures tolerated during one wait.
pub const MAX_RECONNECTS: u32 = 5;

/// The host's options for a wait.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WaitOptions {
    /// Default INBOX.
    pub folder: Option<String>,
    /// Seconds between two polls when IDLE is not available (default 60, at least 1).
    pub poll_interval_secs: Option<u64>,
    /// Seconds after which IDLE is ended and started again (default 1500: before the 29–30
    /// minutes after which Gmail and Exchange drop it).
    pub idle_refresh_secs: Option<u64>,
    /// Poll even when the server offers IDLE.
    #[serde(default)]
    pub poll_only: bool,
}

impl WaitOptions {
    pub fn parse(json: Option<&str>) -> Result<WaitOptions> {
        let o: WaitOptions = match json.map(str::trim) {
            None | Some("") => WaitOptions::default(),
            Some(j) => crate::json::parse(j, "wait options", Status::InvalidConfig)?,
        };
        if o.poll_interval_secs == Some(0) || o.idle_refresh_secs == Some(0) {
            return Err(Error::config(
                "wait options: `poll_interval_secs` and `idle_refresh_secs` are at least 1",
            ));
        }
        Ok(o)
    }

    pub fn folder(&self) -> &str {
        self.folder
            .as_deref()
            .filter(|f| !f.is_empty())
            .unwrap_or("INBOX")
    }

    pub fn poll_every(&self) -> Duration {
        self.poll_interval_secs
            .map_or(POLL_EVERY, Duration::from_secs)
    }

    pub fn idle_refresh(&self) -> Duration {
        self.idle_refresh_secs
            .map_or(IDLE_REFRESH, Duration::from_secs)
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Serialize)]
pub struct Woken {
    /// A message arrived (or the folder was rebuilt on the server: fetch to see); false when
    /// the time was up.
    pub new_mail: bool,
    pub folder: String,
    /// `idle` or `poll`.
    pub method: &'static str,
    /// Connections re-opened during the wait.
    pub reconnects: u32,
}

pub(crate) use crate::fetch::retryable;

/// Waits up to `wait` for new mail in the folder of `opts`.
pub async fn wait_for_mail(account: &Account, opts: &WaitOptions, wait: Duration) -> Result<Woken> {
    let protocol = crate::incoming::protocol(account)?;
    let deadline = tokio::time::Instant::now() + wait;
    match protocol {
        Protocol::Imap => idle::wait(account, opts, deadline).await,
        _ => poll::wait(account, opts, deadline).await,
    }
}
