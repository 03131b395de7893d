//! Sending over Microsoft Graph: `sendMail` with the message's MIME (base64, `text/plain`).
//! The envelope is what the headers say, so recipients that are not in To or Cc (an explicit
//! envelope, copy to self) travel as a Bcc header, which Exchange removes from the delivered
//! copies. Exchange keeps a copy in Sent Items.
//!
//! Never sent twice: a request is repeated only when it was refused before being processed
//! (throttling, a connection that could not be opened); a connection lost after the request left
//! gives `DELIVERY_UNKNOWN`.

use super::errors::Doing;
use super::{Graph, MAX_CONCURRENT};
use crate::account::Account;
use crate::error::{Error, Result, Status};
use crate::rest::Body;
use crate::smtp::{Envelope, Prepared, SendResult};
use base64::Engine;
use futures_util::StreamExt;
use reqwest::Method;

/// Graph's request size limit for sendMail (4 MB), base64 included; a margin is kept.
pub const MAX_REQUEST: usize = 4 * 1024 * 1024 - 64 * 1024;
/// Attachments from this size go through an upload session (Graph: 3 MB to 150 MB).
const UPLOAD_SESSION_FROM: usize = 3 * 1024 * 1024;
/// Exchange Online's largest message.
const MAX_MESSAGE: usize = 150 * 1024 * 1024;
/// Bytes per PUT of an upload session: a multiple of 320 KiB, under 4 MiB (Graph's rules).
const UPLOAD_CHUNK: usize = 320 * 1024 * 12;

async fn send_one(graph: &Graph<'_>, raw: &[u8], p: Prepared) -> Result<SendResult> {
    let mime = crate::outgoing::mime_with_hidden_recipients(raw, &p)?;
    if mime.len().div_ceil(3) * 4 > MAX_REQUEST {
        return send_large(graph, &mime, &p).await;
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&mime);
    let r = graph
        .call(
            Method::POST,
            &graph.url("sendMail"),
            Body::Text(encoded.as_bytes()),
            &[],
            1 << 20,
            false,
        )
        .await?;
    graph.expect_ok(&r)?;
    Ok(result(&p, r.status, "sendMail"))
}

fn result(p: &Prepared, status: u16, how: &str) -> SendResult {
    SendResult {
        message_id: p.message_id.clone(),
        mail_from: p.envelope.from().map(|a| a.to_string()),
        recipients: p.envelope.to().iter().map(|a| a.to_string()).collect(),
        reply_code: status,
        reply_text: format!("{status} Accepted by Microsoft Graph ({how})"),
    }
}

fn too_big(graph: &Graph<'_>, size: usize, why: &str) -> Error {
    let l = graph.account.config.language;
    Error::new(
        Status::Unsupported,
        l.pick_string(
            format!("the message is {size} bytes and cannot be sent through Microsoft Graph: {why}"),
            format!("le message fait {size} octets et ne peut pas être envoyé par Microsoft Graph : {why}"),
        ),
    )
}

/// A message above sendMail's limit: a draft from the MIME without its largest attachments,
/// those attachments added to the draft (an upload session for the big ones), then `send`.
/// A failure before `send` deletes the draft: nothing was sent.
async fn send_large(graph: &Graph<'_>, mime: &[u8], p: &Prepared) -> Result<SendResult> {
    if mime.len() > MAX_MESSAGE {
        return Err(too_big(
            graph,
            mime.len(),
            "Exchange Online takes messages up to 150 MB",
        ));
    }
    let Some((rest, detached)) = super::detach::detach(mime, MAX_REQUEST) else {
        return Err(too_big(graph, mime.len(), "above 4 MB, only a message whose size is in its attachments can be sent (they are uploaded apart)"));
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(&rest);
    let r = graph
        .call(
            Method::POST,
            &graph.url("messages"),
            Body::Text(encoded.as_bytes()),
            &[],
            1 << 20,
            false,
        )
        .await?;
    graph.expect_ok(&r)?;
    let id = r.json()?["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            Error::new(
                Status::ProtocolError,
                "Microsoft Graph created a draft without an id",
            )
        })?;
    let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let attached = async {
        for a in &detached {
            attach(graph, &enc, a).await?;
        }
        Ok::<(), Error>(())
    }
    .await;
    if let Err(e) = attached {
        let _ = graph
            .call(
                Method::DELETE,
                &graph.url(&format!("messages/{enc}")),
                Body::None,
                &[],
                1 << 20,
                true,
            )
            .await;
        return Err(e);
    }
    let r = graph
        .call(
            Method::POST,
            &graph.url(&format!("messages/{enc}/send")),
            Body::None,
            &[],
            1 << 20,
            false,
        )
        .await?;
    graph.expect_ok(&r)?;
    Ok(result(p, r.status, "draft, attachments uploaded, send"))
}

/// Adds one attachment to draft `enc_id`: inline in a request when small, else through an
/// upload session in ranges.
async fn attach(graph: &Graph<'_>, enc_id: &str, a: &super::detach::Detached) -> Result<()> {
    if a.bytes.len() < UPLOAD_SESSION_FROM {
        let body = serde_json::json!({
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": a.name,
            "contentType": a.content_type,
            "contentBytes": base64::engine::general_purpose::STANDARD.encode(&a.bytes),
            "isInline": a.inline,
            "contentId": a.content_id,
        })
        .to_string();
        let r = graph
            .call(
                Method::POST,
                &graph.url(&format!("messages/{enc_id}/attachments")),
                Body::Json(body.as_bytes()),
                &[],
                1 << 20,
                false,
            )
            .await?;
        return graph.expect_ok(&r);
    }
    let body = serde_json::json!({
        "AttachmentItem": {
            "attachmentType": "file",
            "name": a.name,
            "size": a.bytes.len(),
            "contentType": a.content_type,
            "isInline": a.inline,
            "contentId": a.content_id,
        }
    })
    .to_string();
    let r = graph
        .call(
            Method::POST,
            &graph.url(&format!(
                "messages/{enc_id}/attachments/createUploadSession"
            )),
            Body::Json(body.as_bytes()),
            &[],
            1 << 20,
            false,
        )
        .await?;
    graph.expect_ok(&r)?;
    let upload_url = r.json()?["uploadUrl"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            Error::new(
                Status::ProtocolError,
                "Microsoft Graph opened an upload session without an uploadUrl",
            )
        })?;
    let total = a.bytes.len();
    let mut start = 0;
    while start < total {
        let end = (start + UPLOAD_CHUNK).min(total);
        let r = graph
            .upload_range(&upload_url, start..end, total, &a.bytes[start..end])
            .await?;
        graph.expect_ok(&r)?;
        start = end;
    }
    Ok(())
}

/// Sends one raw message (see [`crate::smtp::send_raw`] for the envelope and copy to self).
pub async fn send_raw(
    account: &Account,
    raw: &[u8],
    envelope: Option<Envelope>,
    copy_to_self: bool,
) -> Result<SendResult> {
    let p = crate::smtp::send::prepare(account, raw, envelope, copy_to_self)?;
    let graph = super::client(account, Doing::Send)?;
    send_one(&graph, raw, p).await
}

/// Sends many messages, up to the mailbox's concurrency at once; one result per message, in
/// order.
pub async fn send_batch(
    account: &Account,
    messages: Vec<(Vec<u8>, Option<Envelope>)>,
) -> Vec<Result<SendResult>> {
    let graph = match super::client(account, Doing::Send) {
        Ok(g) => g,
        Err(e) => return messages.iter().map(|_| Err(e.clone())).collect(),
    };
    let graph = &graph;
    futures_util::stream::iter(messages.into_iter().map(|(raw, env)| async move {
        let p = crate::smtp::send::prepare(account, &raw, env, false)?;
        send_one(graph, &raw, p).await
    }))
    .buffered(MAX_CONCURRENT)
    .collect()
    .await
}
