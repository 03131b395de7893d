//! What the host asks for: send a JSON message, a raw message or a batch, with the options
//! copy-to-self and save-to-Sent. Results are JSON for the C ABI.

use super::compose;
use super::envelope::envelope;
use super::send::{is_delivery_unknown, SendResult};
use crate::account::Account;
use crate::error::{Error, Result};
use crate::outgoing::{send_batch, send_raw};
use serde::Deserialize;
use serde_json::{json, Value};

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

/// The result of one sent message as JSON, after the optional save to Sent (whose failure
/// does not undo the sending: it is reported beside the result).
async fn finish(account: &Account, opts: &SendOptions, sent: SendResult, bytes: &[u8]) -> Value {
    let mut v = serde_json::to_value(&sent).unwrap_or_default();
    if crate::outgoing::saves_sent_copy(account) {
        // Graph keeps the copy itself: an APPEND would make a second one
        v["saved_to"] = json!("sentitems");
        return v;
    }
    if let Some(folder) = opts.sent_folder() {
        match crate::imap::append::save_to_sent(account, bytes, folder).await {
            Ok(f) => v["saved_to"] = json!(f),
            Err(e) => v["save_error"] = json!(e.full_text()),
        }
    }
    v
}

/// Composes a parsed JSON message (see `compose::MessageJson`) and sends it.
pub async fn send_json(
    account: &Account,
    msg: &compose::MessageJson,
    opts: &SendOptions,
) -> Result<Value> {
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
pub async fn send_raw_bytes(account: &Account, raw: &[u8], opts: &SendOptions) -> Result<Value> {
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
    let fields = super::envelope::header_fields(raw);
    for name in ["Sender", "From"] {
        if let Some((_, v)) = fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if let Some(first) = super::envelope::parse_address_list(name, v)?
                .into_iter()
                .next()
            {
                return Ok(Some(first));
            }
        }
    }
    Ok(None)
}

fn failure(e: &Error) -> Value {
    json!({
        "ok": false,
        "status": e.status.name(),
        "code": e.status.code(),
        "error": e.full_text(),
        "delivery_unknown": is_delivery_unknown(e),
    })
}

/// Sends a JSON array of messages over one connection; one result per message, in order:
/// `{"ok": true, ...}` or `{"ok": false, "status", "code", "error", "delivery_unknown"}`.
/// `items` is the host's JSON array, each element parsed as a message on its own so that one
/// malformed message fails alone.
pub async fn send_json_batch(
    account: &Account,
    items: Vec<Value>,
    opts: &SendOptions,
) -> Result<Value> {
    // compose everything first; a message that cannot be composed fails alone
    let slots: Vec<Result<(compose::Composed, super::Envelope)>> = items
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
    let batch: Vec<(Vec<u8>, Option<super::Envelope>)> = slots
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .map(|(c, env)| (c.bytes.clone(), Some(env.clone())))
        .collect();
    let mut sent = send_batch(account, batch).await.into_iter();
    let mut out = Vec::with_capacity(slots.len());
    for s in &slots {
        match s {
            Err(e) => out.push(failure(e)),
            Ok((c, _)) => match sent.next() {
                Some(Ok(r)) => {
                    let mut v = finish(account, opts, r, &c.bytes).await;
                    v["ok"] = json!(true);
                    out.push(v);
                }
                Some(Err(e)) => out.push(failure(&e)),
                None => out.push(failure(&Error::new(
                    crate::Status::Panic,
                    "no result for the message",
                ))),
            },
        }
    }
    Ok(Value::Array(out))
}
