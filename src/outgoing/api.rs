//! What the host asks for: send a composed message, a raw message or a batch, with the options
//! copy-to-self and save-to-Sent; typed results ([`Sent`]) that the C layer turns into JSON.

use super::{send_batch, send_raw};
use crate::account::Account;
use crate::error::{Error, Result};
use crate::smtp::compose;
use crate::smtp::envelope::envelope;
use crate::smtp::SendResult;
use serde::{Deserialize, Serialize};

/// `save_to_sent`: `true` (the Sent folder found on the server) or a folder name.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SaveToSent {
    Flag(bool),
    Folder(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendOptions {
    /// Add the account's own address as a hidden recipient (default: the account's option).
    pub copy_to_self: Option<bool>,
    /// APPEND the sent message to the Sent folder over IMAP (servers that do not keep it).
    pub save_to_sent: Option<SaveToSent>,
    /// Raw messages: the envelope sender instead of the Sender/From header.
    pub envelope_from: Option<String>,
    /// Raw messages: the envelope recipients instead of To/Cc/Bcc.
    pub recipients: Option<Vec<String>>,
    /// Bound on the whole call in milliseconds (default: twice the account's timeout per message).
    pub timeout_ms: Option<u64>,
}

impl SendOptions {
    pub fn parse(json: Option<&str>) -> Result<SendOptions> {
        match json.map(str::trim) {
            None | Some("") => Ok(SendOptions::default()),
            Some(j) => crate::json::parse(j, "send options", crate::Status::InvalidConfig),
        }
    }

    fn sent_folder(&self) -> Option<Option<&str>> {
        match &self.save_to_sent {
            None | Some(SaveToSent::Flag(false)) => None,
            Some(SaveToSent::Flag(true)) => Some(None),
            Some(SaveToSent::Folder(f)) => Some(Some(f.as_str())),
        }
    }
}

/// One message sent, and where its copy went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sent {
    #[serde(flatten)]
    pub result: SendResult,
    /// The folder that keeps the sent copy (IMAP APPEND asked for, or Graph's Sent Items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_to: Option<String>,
    /// Why the copy could not be saved (the message was sent all the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_error: Option<String>,
}

/// The result of one sent message after the optional save to Sent (whose failure does not undo
/// the sending: it is reported beside the result).
async fn finish(account: &Account, opts: &SendOptions, result: SendResult, bytes: &[u8]) -> Sent {
    let mut sent = Sent {
        result,
        saved_to: None,
        save_error: None,
    };
    if let Some(folder) = super::sent_copy_folder(account) {
        // Graph and Gmail keep the copy themselves: an APPEND would make a second one
        sent.saved_to = Some(folder.to_string());
        return sent;
    }
    if let Some(folder) = opts.sent_folder() {
        match crate::imap::append::save_to_sent(account, bytes, folder).await {
            Ok(f) => sent.saved_to = Some(f),
            Err(e) => sent.save_error = Some(e.full_text()),
        }
    }
    sent
}

/// Composes a parsed JSON message (see `compose::MessageJson`) and sends it.
pub async fn send_json(
    account: &Account,
    msg: &compose::MessageJson,
    opts: &SendOptions,
) -> Result<Sent> {
    let composed = compose::compose(
        msg,
        account.config.email.as_deref(),
        account.config.language,
    )?;
    let to: Vec<&str> = composed.recipients.iter().map(String::as_str).collect();
    let env = envelope(Some(&composed.envelope_from), &to)?;
    let sent = send_raw(
        account,
        &composed.bytes,
        Some(env),
        opts.copy_to_self.unwrap_or(false),
    )
    .await?;
    Ok(finish(account, opts, sent, &composed.bytes).await)
}

/// Sends raw RFC 5322 bytes; the envelope from the headers unless the options give one.
pub async fn send_raw_bytes(account: &Account, raw: &[u8], opts: &SendOptions) -> Result<Sent> {
    let env = match (&opts.envelope_from, &opts.recipients) {
        (None, None) => None,
        (from, to) => {
            let to: Vec<&str> = to.iter().flatten().map(String::as_str).collect();
            if to.is_empty() {
                return Err(Error::invalid_argument("send options key `recipients`: give at least one recipient with `envelope_from`"));
            }
            // recipients alone: the sender still comes from the Sender/From header, else the account
            let from = match from {
                Some(f) => Some(f.clone()),
                None => header_sender(raw)?.or_else(|| account.config.email.clone()),
            };
            Some(envelope(from.as_deref(), &to)?)
        }
    };
    let sent = send_raw(account, raw, env, opts.copy_to_self.unwrap_or(false)).await?;
    Ok(finish(account, opts, sent, raw).await)
}

/// The envelope sender a raw message names: its Sender header, else its first From address.
fn header_sender(raw: &[u8]) -> Result<Option<String>> {
    let fields = crate::smtp::envelope::header_fields(raw);
    for name in ["Sender", "From"] {
        if let Some((_, v)) = fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if let Some(first) = crate::smtp::envelope::parse_address_list(name, v)?
                .into_iter()
                .next()
            {
                return Ok(Some(first));
            }
        }
    }
    Ok(None)
}

/// Sends many messages (over one connection for SMTP); one result per message, in order.
/// `items` are the host's messages, each parsed on its own so that one malformed message fails
/// alone.
pub async fn send_json_batch(
    account: &Account,
    items: Vec<serde_json::Value>,
    opts: &SendOptions,
) -> Vec<Result<Sent>> {
    // compose everything first; a message that cannot be composed fails alone
    let slots: Vec<Result<(compose::Composed, crate::smtp::Envelope)>> = items
        .iter()
        .map(|item| {
            let c = compose::parse(&item.to_string()).and_then(|m| {
                compose::compose(&m, account.config.email.as_deref(), account.config.language)
            })?;
            let to: Vec<&str> = c.recipients.iter().map(String::as_str).collect();
            let env = envelope(Some(&c.envelope_from), &to)?;
            Ok((c, env))
        })
        .enumerate()
        .map(|(i, r): (usize, Result<_>)| {
            r.map_err(|e: Error| Error {
                message: format!("message {i}: {}", e.message),
                ..e
            })
        })
        .collect();
    let batch: Vec<(Vec<u8>, Option<crate::smtp::Envelope>)> = slots
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .map(|(c, env)| (c.bytes.clone(), Some(env.clone())))
        .collect();
    let mut sent = send_batch(account, batch).await.into_iter();
    let mut out = Vec::with_capacity(slots.len());
    for s in slots {
        match s {
            Err(e) => out.push(Err(e)),
            Ok((c, _)) => match sent.next() {
                Some(Ok(r)) => out.push(Ok(finish(account, opts, r, &c.bytes).await)),
                Some(Err(e)) => out.push(Err(e)),
                None => out.push(Err(Error::new(
                    crate::Status::Panic,
                    "no result for the message",
                ))),
            },
        }
    }
    out
}
