//! What the host asks for: send a composed message, a raw message or a batch, with the options
//! copy-to-self and save-to-Sent; typed results ([`Sent`]) that the C layer turns into JSON.

use super::{send_batch, send_raw};
use crate::account::Account;
use crate::error::{Error, Result};
use crate::smtp::compose;
use crate::smtp::envelope::envelope;
use crate::smtp::SendResult;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
    let copy = opts.copy_to_self.unwrap_or(false);
    // composed first in 7 bits: a message that cannot be composed fails before any connection
    let (composed, env) = compose_env(account, msg, copy, compose::TextEncoding::SevenBit)?;
    if sends_smtp(account) {
        // composed again in 8 bits when the server takes it and the text is not ASCII
        let non_ascii = [&msg.text, &msg.html]
            .iter()
            .any(|t| t.as_deref().is_some_and(|t| !t.is_ascii()));
        let mut first = Some((composed, env));
        let mut bytes = Vec::new();
        let sent = crate::smtp::send::send_each(account, 1, |_, eight_bit| {
            let (c, env) = match first.take() {
                Some(_) if eight_bit && non_ascii => {
                    compose_env(account, msg, copy, compose::TextEncoding::EightBit)?
                }
                Some(seven) => seven,
                None => return Err(Error::new(crate::Status::Panic, "composed twice")),
            };
            let p = crate::smtp::send::prepare(account, &c.bytes, Some(env), false)?;
            bytes = c.bytes;
            Ok(p)
        })
        .await
        .pop()
        .unwrap_or_else(|| {
            Err(Error::new(
                crate::Status::Panic,
                "no result for the message",
            ))
        })?;
        return Ok(finish(account, opts, sent, &bytes).await);
    }
    let sent = send_raw(account, &composed.bytes, Some(env), false).await?;
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

/// Composes a message with its envelope; the account's own address joins the recipients when
/// `copy_to_self`.
fn compose_env(
    account: &Account,
    msg: &compose::MessageJson,
    copy_to_self: bool,
    encoding: compose::TextEncoding,
) -> Result<(compose::Composed, crate::smtp::Envelope)> {
    let c = compose::compose_with(
        msg,
        account.config.email.as_deref(),
        account.config.language,
        encoding,
    )?;
    let mut to: Vec<&str> = c.recipients.iter().map(String::as_str).collect();
    if copy_to_self {
        to.push(account.config.email.as_deref().ok_or_else(|| {
            Error::config(
                "configuration key `email`: needed to send a copy of sent mail to oneself",
            )
        })?);
    }
    let env = envelope(Some(&c.envelope_from), &to)?;
    Ok((c, env))
}

/// Composes one message of a batch (`i` its place, named in its errors) with its envelope.
fn compose_item(
    account: &Account,
    i: usize,
    item: &RawValue,
    copy_to_self: bool,
    encoding: compose::TextEncoding,
) -> Result<(compose::Composed, crate::smtp::Envelope)> {
    compose::parse(item.get())
        .and_then(|m| compose_env(account, &m, copy_to_self, encoding))
        .map_err(|e: Error| Error {
            message: format!("message {i}: {}", e.message),
            ..e
        })
}

/// Text bodies in 8 bits when the SMTP server announced 8BITMIME.
fn text_encoding(eight_bit: bool) -> compose::TextEncoding {
    if eight_bit {
        compose::TextEncoding::EightBit
    } else {
        compose::TextEncoding::SevenBit
    }
}

/// True when the account sends over SMTP (not one of the HTTPS APIs).
fn sends_smtp(account: &Account) -> bool {
    super::protocol(account).is_ok_and(|p| {
        !matches!(
            p,
            crate::config::Protocol::Graph | crate::config::Protocol::GmailApi
        )
    })
}

/// Sends many messages (over one connection for SMTP); one result per message, in order.
/// `items` are the host's messages (JSON objects, each parsed on its own so that one malformed
/// message fails alone).
pub async fn send_json_batch(
    account: &Account,
    items: Vec<Box<RawValue>>,
    opts: &SendOptions,
) -> Vec<Result<Sent>> {
    let copy = opts.copy_to_self.unwrap_or(false);
    if sends_smtp(account) {
        return send_json_batch_smtp(account, items, opts, copy).await;
    }
    // compose everything first; a message that cannot be composed fails alone
    let slots: Vec<Result<(compose::Composed, crate::smtp::Envelope)>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| compose_item(account, i, item, copy, compose::TextEncoding::SevenBit))
        .collect();
    drop(items);
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

/// The SMTP batch: each message composed when the connection gets to it and given up once sent
/// (its bytes kept only for a copy to Sent), so the batch holds a message or two at a time.
async fn send_json_batch_smtp(
    account: &Account,
    items: Vec<Box<RawValue>>,
    opts: &SendOptions,
    copy_to_self: bool,
) -> Vec<Result<Sent>> {
    let keep = opts.sent_folder().is_some();
    let mut items: Vec<Option<Box<RawValue>>> = items.into_iter().map(Some).collect();
    let mut kept: Vec<Option<Vec<u8>>> = vec![None; items.len()];
    let results = crate::smtp::send::send_each(account, items.len(), |i, eight_bit| {
        let item = items[i]
            .take()
            .ok_or_else(|| Error::new(crate::Status::Panic, "a message was composed twice"))?;
        let (c, env) = compose_item(account, i, &item, copy_to_self, text_encoding(eight_bit))?;
        let p = crate::smtp::send::prepare(account, &c.bytes, Some(env), false)?;
        if keep {
            kept[i] = Some(c.bytes);
        }
        Ok(p)
    })
    .await;
    let mut out = Vec::with_capacity(results.len());
    for (i, r) in results.into_iter().enumerate() {
        out.push(match r {
            Ok(r) => {
                let bytes = kept[i].take().unwrap_or_default();
                Ok(finish(account, opts, r, &bytes).await)
            }
            Err(e) => Err(e),
        });
    }
    out
}
