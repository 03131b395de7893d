//! Sending over Microsoft Graph: `sendMail` with the message's MIME (base64, `text/plain`).
//! The envelope is what the headers say, so recipients that are not in To or Cc (an explicit
//! envelope, copy to self) travel as a Bcc header, which Exchange removes from the delivered
//! copies. Exchange keeps a copy in Sent Items.
//!
//! Never sent twice: a request is repeated only when it was refused before being processed
//! (throttling, a connection that could not be opened); a connection lost after the request left
//! gives `DELIVERY_UNKNOWN`.

use super::client::{Body, Graph, MAX_CONCURRENT};
use super::errors::Doing;
use crate::account::Account;
use crate::error::{Error, Result, Status};
use crate::smtp::envelope::{header_fields, parse_address_list};
use crate::smtp::{Envelope, Prepared, SendResult};
use base64::Engine;
use futures_util::StreamExt;
use reqwest::Method;

/// Graph's request size limit for sendMail (4 MB), base64 included.
pub const MAX_REQUEST: usize = 4 * 1024 * 1024;

/// The MIME Graph must send: the message without its Bcc header, the hidden recipients of the
/// envelope added as one Bcc header.
pub fn graph_mime(raw: &[u8], p: &Prepared) -> Result<Vec<u8>> {
    let mut shown: Vec<String> = Vec::new();
    for (n, v) in header_fields(raw) {
        for name in ["To", "Cc"] {
            if n.eq_ignore_ascii_case(name) {
                shown.extend(
                    parse_address_list(name, &v)?
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

async fn send_one(graph: &Graph<'_>, raw: &[u8], p: Prepared) -> Result<SendResult> {
    let mime = graph_mime(raw, &p)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&mime);
    if encoded.len() > MAX_REQUEST {
        let l = graph.account.config.language;
        return Err(Error::new(
            Status::Unsupported,
            l.pick_string(
                format!("the message is {} bytes: Microsoft Graph's sendMail takes messages up to about 3 MB (4 MB encoded); larger ones through Graph are not supported yet — send it over SMTP or make it smaller", mime.len()),
                format!("le message fait {} octets : sendMail de Microsoft Graph accepte des messages d'environ 3 Mo au plus (4 Mo encodés) ; les plus gros par Graph ne sont pas encore pris en charge — envoyez-le par SMTP ou réduisez-le", mime.len()),
            ),
        ));
    }
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
    Ok(SendResult {
        message_id: p.message_id.clone(),
        mail_from: p.envelope.from().map(|a| a.to_string()),
        recipients: p.envelope.to().iter().map(|a| a.to_string()).collect(),
        reply_code: r.status,
        reply_text: format!("{} Accepted by Microsoft Graph (sendMail)", r.status),
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
    let graph = Graph::new(account, Doing::Send)?;
    send_one(&graph, raw, p).await
}

/// Sends many messages, up to the mailbox's concurrency at once; one result per message, in
/// order.
pub async fn send_batch(
    account: &Account,
    messages: Vec<(Vec<u8>, Option<Envelope>)>,
) -> Vec<Result<SendResult>> {
    let graph = match Graph::new(account, Doing::Send) {
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
