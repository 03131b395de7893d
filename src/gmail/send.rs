//! Sending over the Gmail API: `messages.send` with the raw MIME (base64url in JSON) up to a
//! few MB, a media upload (`message/rfc822`) above, up to Gmail's 35 MB. Recipients outside
//! To/Cc (an explicit envelope, copy to self) travel as a Bcc header, which Gmail removes from
//! what it delivers; Gmail keeps the sent copy under the SENT label itself.
//!
//! Never sent twice: a request is repeated only when Google refused it unprocessed (rate
//! limits, no connection); a lost answer gives `DELIVERY_UNKNOWN`.

use super::client;
use crate::account::Account;
use crate::error::{Error, Result, Status};
use crate::rest::{Body, Doing, Rest};
use crate::smtp::{Envelope, Prepared, SendResult};
use base64::Engine;
use futures_util::StreamExt;
use reqwest::Method;

/// Above this (the raw bytes), the message goes by media upload rather than inside JSON.
const JSON_LIMIT: usize = 3 * 1024 * 1024;
/// Gmail's largest message.
const MAX_MESSAGE: usize = 35 * 1024 * 1024;

async fn send_one(api: &Rest<'_>, raw: &[u8], p: Prepared) -> Result<SendResult> {
    let mime = crate::outgoing::mime_with_hidden_recipients(raw, &p)?;
    if mime.len() > MAX_MESSAGE {
        let l = api.account.config.language;
        return Err(Error::new(
            Status::Unsupported,
            l.pick_string(
                format!(
                    "the message is {} bytes: Gmail takes messages up to 35 MB",
                    mime.len()
                ),
                format!(
                    "le message fait {} octets : Gmail accepte des messages de 35 Mo au plus",
                    mime.len()
                ),
            ),
        ));
    }
    let (r, how) = if mime.len() <= JSON_LIMIT {
        let body = serde_json::json!({
            "raw": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mime)
        })
        .to_string();
        let r = api
            .call(
                Method::POST,
                &api.url("messages/send"),
                Body::Json(body.as_bytes()),
                &[],
                1 << 20,
                false,
            )
            .await?;
        (r, "messages.send")
    } else {
        let settings = api.account.config.gmail_api.as_ref();
        let upload = settings.map(|s| s.upload_url.clone()).unwrap_or_default();
        let url = format!("{upload}/users/me/messages/send?uploadType=media");
        let r = api
            .call(
                Method::POST,
                &url,
                Body::Raw(&mime, "message/rfc822"),
                &[],
                1 << 20,
                false,
            )
            .await?;
        (r, "messages.send, media upload")
    };
    api.expect_ok(&r)?;
    let id = r
        .json()
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(SendResult {
        message_id: p.message_id.clone(),
        mail_from: p.envelope.from().map(|a| a.to_string()),
        recipients: p.envelope.to().iter().map(|a| a.to_string()).collect(),
        reply_code: r.status,
        reply_text: format!("{} Accepted by the Gmail API ({how}), id {id}", r.status),
    })
}

/// Sends one raw message (see [`crate::smtp::send_raw`] for the envelope and copy to self).
pub async fn send_raw(
    account: &Account,
    raw: &[u8],
    envelope: Option<Envelope>,
    copy_to_self: bool,
) -> Result<SendResult> {
    let p = crate::smtp::send::prepare(account, raw, envelope, copy_to_self)?;
    let api = client(account, Doing::Send)?;
    send_one(&api, raw, p).await
}

/// Sends many messages, a few at once; one result per message, in order.
pub async fn send_batch(
    account: &Account,
    messages: Vec<(Vec<u8>, Option<Envelope>)>,
) -> Vec<Result<SendResult>> {
    let api = match client(account, Doing::Send) {
        Ok(a) => a,
        Err(e) => return messages.iter().map(|_| Err(e.clone())).collect(),
    };
    let api = &api;
    futures_util::stream::iter(messages.into_iter().map(|(raw, env)| async move {
        let p = crate::smtp::send::prepare(account, &raw, env, false)?;
        send_one(api, &raw, p).await
    }))
    .buffered(super::MAX_CONCURRENT)
    .collect()
    .await
}
