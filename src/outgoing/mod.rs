//! The outgoing side of the transport seam: raw MIME messages sent with one result per
//! message, never twice, through SMTP ([`crate::smtp`]), Microsoft Graph ([`crate::graph`]) or
//! the Gmail API ([`crate::gmail`]).
//! Composing, the send options and save to Sent ([`api`]) sit above.

pub mod api;

use crate::account::Account;
use crate::config::Protocol;
use crate::error::{Error, Result};
use crate::smtp::{Envelope, SendResult};

fn protocol(account: &Account) -> Result<Protocol> {
    account
        .config
        .outgoing
        .as_ref()
        .map(|s| s.protocol)
        .ok_or_else(|| {
            Error::config("configuration key `outgoing`: no outgoing server is configured")
        })
}

/// The folder where the outgoing transport keeps a copy by itself (Graph's Sent Items,
/// Gmail's SENT label), if it does.
pub fn sent_copy_folder(account: &Account) -> Option<&'static str> {
    match protocol(account) {
        Ok(Protocol::Graph) => Some("sentitems"),
        Ok(Protocol::GmailApi) => Some("SENT"),
        _ => None,
    }
}

/// Sends one raw message; the envelope from its headers unless `envelope` is given.
pub async fn send_raw(
    account: &Account,
    raw: &[u8],
    envelope: Option<Envelope>,
    copy_to_self: bool,
) -> Result<SendResult> {
    match protocol(account)? {
        Protocol::Graph => crate::graph::send::send_raw(account, raw, envelope, copy_to_self).await,
        Protocol::GmailApi => {
            crate::gmail::send::send_raw(account, raw, envelope, copy_to_self).await
        }
        _ => crate::smtp::send_raw(account, raw, envelope, copy_to_self).await,
    }
}

/// Sends many messages; one result per message, in order.
pub async fn send_batch(
    account: &Account,
    messages: Vec<(Vec<u8>, Option<Envelope>)>,
) -> Vec<Result<SendResult>> {
    match protocol(account) {
        Ok(Protocol::Graph) => crate::graph::send::send_batch(account, messages).await,
        Ok(Protocol::GmailApi) => crate::gmail::send::send_batch(account, messages).await,
        Ok(_) => crate::smtp::send_batch(account, messages).await,
        Err(e) => messages.iter().map(|_| Err(e.clone())).collect(),
    }
}
