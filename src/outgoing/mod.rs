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

/// The MIME an HTTPS API (Graph, Gmail) must send, which takes its recipients from the headers:
/// the message without its Bcc header, the envelope's recipients outside To/Cc added as one Bcc
/// header (the service removes it from what it delivers).
pub fn mime_with_hidden_recipients(raw: &[u8], p: &crate::smtp::Prepared) -> Result<Vec<u8>> {
    let mut shown: Vec<String> = Vec::new();
    for (n, v) in crate::smtp::envelope::header_fields(raw) {
        for name in ["To", "Cc"] {
            if n.eq_ignore_ascii_case(name) {
                shown.extend(
                    crate::smtp::envelope::parse_address_list(name, &v)?
                        .into_iter()
                        .map(|a| a.to_lowercase()),
                );
            }
        }
    }
    let hidden: Vec<String> = p
        .envelope
        .to()
        .iter()
        .map(|a| a.to_string())
        .filter(|a| !shown.contains(&a.to_lowercase()))
        .collect();
    if hidden.is_empty() {
        return Ok(p.data.clone());
    }
    let mut out = format!("Bcc: {}\r\n", hidden.join(", ")).into_bytes();
    out.extend_from_slice(&p.data);
    Ok(out)
}
