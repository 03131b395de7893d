//! The Gmail API as a mail transport, for Google Workspace domains where the admin turned IMAP
//! off, or networks that only let HTTPS out: the same fetch and send guarantees as IMAP/SMTP.
//! Google's tokens serve the Gmail API and IMAP alike (one resource).
//!
//! - [`SERVICE`] / [`client`]: requests for the user's mailbox through [`crate::rest`]
//!   (rate-limit answers retried with exponential backoff and jitter, bounded concurrency).
//! - [`errors`]: Google's error answers as statuses with hints.
//! - [`labels`]: labels are the folders.
//! - [`fetch`]: new mail by history (`history.list` from the stored historyId), a full
//!   listing the first time or when the historyId is too old; [`actions`]: mark read, move,
//!   trash after delivery.
//! - [`send`]: `messages.send` with the raw MIME, media upload above the simple limit.

pub mod actions;
pub mod browse;
pub mod errors;
pub mod fetch;
pub mod labels;
pub mod send;

use crate::account::Account;
use crate::config::Resource;
use crate::error::{Error, Result};
use crate::rest::{Doing, Rest, Service};

/// Requests at once per user (Google documents a per-user limit without a number).
pub const MAX_CONCURRENT: usize = 4;

/// The Gmail API's rules for the REST client.
pub static SERVICE: Service = Service {
    name: "the Gmail API",
    resource: Resource::Mail,
    max_concurrent: MAX_CONCURRENT,
    throttled: errors::throttled,
    outcome_unknown: |status| matches!(status, 500 | 502 | 504),
    refresh_on_401: |_| true,
    map_error: errors::map,
};

/// The Gmail API client of `account`'s mailbox (`users/me`: the authorized user, or the user a
/// service account acts as).
pub fn client(account: &Account, doing: Doing) -> Result<Rest<'_>> {
    let settings = account.config.gmail_api.as_ref().ok_or_else(|| {
        Error::config("no server of this account uses the Gmail API (`protocol`: \"gmail_api\")")
    })?;
    let who = account
        .config
        .sasl_user()
        .map(str::to_string)
        .unwrap_or_else(|| format!("account {}", account.id));
    Rest::new(
        account,
        &SERVICE,
        doing,
        (&settings.url, "gmail_api_url"),
        "users/me".to_string(),
        &who,
    )
}

/// The settings check: the profile answers with the account's token.
pub async fn check(account: &Account, doing: Doing) -> Result<()> {
    let api = client(account, doing)?;
    let r = api
        .call(
            reqwest::Method::GET,
            &api.url("profile"),
            crate::rest::Body::None,
            &[],
            1 << 20,
            true,
        )
        .await?;
    if doing == Doing::Send && r.status == 403 {
        // a gmail.send-only authorization cannot read the profile: sending needs no more
        let (reason, _, _) = errors::reason_and_message(&r.body);
        if reason == "insufficientPermissions" {
            return Ok(());
        }
    }
    api.expect_ok(&r)
}
