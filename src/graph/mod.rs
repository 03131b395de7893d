//! Microsoft Graph as a mail transport, for Office 365 tenants that turned IMAP, POP or SMTP
//! AUTH off, or networks that only let HTTPS out: the same fetch and send guarantees as the
//! mail protocols, over Graph's REST API.
//!
//! - [`Graph`]: requests for one mailbox ([`crate::rest`]: token, throttling, concurrency,
//!   bounded answers) with Graph's rules ([`SERVICE`]).
//! - [`errors`]: Graph's error answers as statuses with hints.
//! - [`folders`]: folder names to ids, the folder tree.
//! - [`fetch`]: new mail by delta query; [`seen`]: what was delivered already;
//!   [`actions`]: mark read, move, delete after delivery.
//! - [`send`]: sendMail with MIME.
//! - [`check`]: the settings check.

pub mod actions;
pub mod browse;
pub mod check;
pub mod detach;
pub mod errors;
pub mod fetch;
pub mod folders;
pub mod seen;
pub mod send;

use crate::account::Account;
use crate::config::Resource;
use crate::error::{Error, Result};
use crate::rest::{Doing, Rest, Service};

/// Exchange Online allows 4 concurrent requests per mailbox and app.
pub const MAX_CONCURRENT: usize = 4;

/// Microsoft Graph's rules for the REST client.
pub static SERVICE: Service = Service {
    name: "Microsoft Graph",
    resource: Resource::Graph,
    max_concurrent: MAX_CONCURRENT,
    throttled: |status, _| matches!(status, 429 | 503 | 504),
    outcome_unknown: |status| status == 504,
    refresh_on_401: |body| {
        let (_, message) = errors::code_and_message(body);
        !message.to_ascii_lowercase().contains("audience")
    },
    map_error: errors::map,
};

/// Graph for one account's mailbox: `/me`, or `/users/{mailbox}` for app-only accounts.
pub type Graph<'a> = Rest<'a>;

/// The Graph client of `account`'s mailbox.
pub fn client(account: &Account, doing: Doing) -> Result<Graph<'_>> {
    let settings = account.config.graph.as_ref().ok_or_else(|| {
        Error::config("no server of this account uses Microsoft Graph (`protocol`: \"graph\")")
    })?;
    let mailbox_path = match &settings.mailbox {
        Some(m) => format!(
            "users/{}",
            url::form_urlencoded::byte_serialize(m.as_bytes()).collect::<String>()
        ),
        None => "me".to_string(),
    };
    let who = settings
        .mailbox
        .clone()
        .or_else(|| account.config.sasl_user().map(str::to_string))
        .unwrap_or_else(|| format!("account {}", account.id));
    Rest::new(
        account,
        &SERVICE,
        doing,
        (&settings.url, "graph_url"),
        mailbox_path,
        &who,
    )
}
