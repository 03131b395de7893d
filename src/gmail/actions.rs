//! After delivery over the Gmail API: mark read (remove `UNREAD`) and move (add the
//! destination label, remove the fetched one) with `messages.batchModify` (1,000 ids a
//! request), delete with `messages.trash` (to Trash, as Gmail's delete does). A message already
//! gone counts as done, so pending actions can be repeated safely.

use crate::error::Result;
use crate::fetch::options::AfterDelivery;
use crate::fetch::state::Action;
use crate::rest::{Body, Rest};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::json;

/// `messages.batchModify` of `ids` (1,000 a request); a 404 counts as done.
pub(crate) async fn batch_modify(
    api: &Rest<'_>,
    ids: &[String],
    add: &[&str],
    remove: &[&str],
) -> Result<()> {
    for chunk in ids.chunks(1000) {
        let body = json!({"ids": chunk, "addLabelIds": add, "removeLabelIds": remove}).to_string();
        let r = api
            .call(
                Method::POST,
                &api.url("messages/batchModify"),
                Body::Json(body.as_bytes()),
                &[],
                1 << 20,
                true,
            )
            .await?;
        if r.status != 404 {
            api.expect_ok(&r)?;
        }
    }
    Ok(())
}

/// `messages.trash` of one message; one already gone counts as done.
pub(crate) async fn trash(api: &Rest<'_>, id: &str) -> Result<()> {
    let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let r = api
        .call(
            Method::POST,
            &api.url(&format!("messages/{enc}/trash")),
            Body::None,
            &[],
            1 << 20,
            true,
        )
        .await?;
    if r.status == 404 {
        return Ok(());
    }
    api.expect_ok(&r)
}

/// Applies `action` to the messages `ids` fetched from `label`; `destination` is the move's
/// label id.
pub async fn apply(
    api: &Rest<'_>,
    action: &Action,
    ids: &[String],
    label: &str,
    destination: Option<&str>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut add: Vec<&str> = Vec::new();
    let mut remove: Vec<&str> = Vec::new();
    if action.mark_seen {
        remove.push("UNREAD");
    }
    if action.after == AfterDelivery::Move {
        if let Some(d) = destination {
            add.push(d);
            if d != label {
                remove.push(label);
            }
        }
    }
    if !add.is_empty() || !remove.is_empty() {
        batch_modify(api, ids, &add, &remove).await?;
    }
    if action.after == AfterDelivery::Delete {
        let mut done = futures_util::stream::iter(ids.iter().map(|id| trash(api, id)))
            .buffer_unordered(super::MAX_CONCURRENT);
        while let Some(r) = done.next().await {
            r?;
        }
    }
    Ok(())
}
