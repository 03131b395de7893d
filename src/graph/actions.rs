//! After delivery over Graph: mark read (`PATCH isRead`), move (`POST .../move`, the folder
//! created when missing) or delete (`DELETE`, which Graph turns into a move to Deleted Items).
//! A message already gone (404: a move or delete whose answer was lost, done once already)
//! counts as done, so pending actions can be repeated safely.

use super::{Graph, MAX_CONCURRENT};
use crate::error::Result;
use crate::fetch::options::AfterDelivery;
use crate::fetch::state::Action;
use crate::rest::Body;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;

/// `messages/{id}{tail}` of the mailbox, the id URL-encoded.
pub(crate) fn message_url(graph: &Graph<'_>, id: &str, tail: &str) -> String {
    let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    graph.url(&format!("messages/{enc}{tail}"))
}

/// Applies `action` to the messages `ids`; `destination` is the move's folder id.
pub async fn apply(
    graph: &Graph<'_>,
    action: &Action,
    ids: &[String],
    destination: Option<&str>,
) -> Result<()> {
    let mut steps: Vec<(Method, String, Option<String>)> = Vec::new();
    for id in ids {
        if action.mark_seen {
            steps.push((
                Method::PATCH,
                message_url(graph, id, ""),
                Some(json!({"isRead": true}).to_string()),
            ));
        }
    }
    each(graph, steps, true).await?;
    let mut steps = Vec::new();
    for id in ids {
        match action.after {
            AfterDelivery::Keep => {}
            AfterDelivery::Delete => steps.push((Method::DELETE, message_url(graph, id, ""), None)),
            AfterDelivery::Move => steps.push((
                Method::POST,
                message_url(graph, id, "/move"),
                Some(json!({"destinationId": destination.unwrap_or("")}).to_string()),
            )),
        }
    }
    each(graph, steps, true).await
}

/// Runs one request per message, at most [`MAX_CONCURRENT`] at a time; a 404 (the message is
/// gone: a move or delete whose answer was lost) counts as done. `idempotent`: the requests may
/// be repeated after a cut connection.
pub(crate) async fn each(
    graph: &Graph<'_>,
    steps: Vec<(Method, String, Option<String>)>,
    idempotent: bool,
) -> Result<()> {
    let mut results =
        futures_util::stream::iter(steps.into_iter().map(|(method, url, body)| async move {
            let b = body.as_deref().map(str::as_bytes);
            let r = graph
                .call(
                    method,
                    &url,
                    b.map_or(Body::None, Body::Json),
                    &[],
                    1 << 20,
                    idempotent,
                )
                .await?;
            if r.status == 404 {
                return Ok(());
            }
            graph.expect_ok(&r)
        }))
        .buffer_unordered(MAX_CONCURRENT);
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}
