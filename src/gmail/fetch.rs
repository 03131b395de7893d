//! New mail over the Gmail API: the first time, a full listing of the label (the mailbox's
//! historyId taken before it began); then `history.list` from the stored historyId, the
//! messages added to the label (`messageAdded`, and `labelAdded` for mail moved into it). Each
//! message's raw bytes (`format=raw`) go to the host, a few downloaded at once; the state moves
//! only past what the host accepted — as for IMAP, a cut, a stop or a crash loses nothing and
//! delivers again at most the message not yet accepted.
//!
//! The state of a label ([`GmailLabelState`]) is the historyId and the messages accepted since
//! it (skipped when the same history is read again); once every message up to the newest
//! history is accepted, the historyId moves and that list empties. A historyId too old (404)
//! starts a full listing again: what was delivered before is skipped only if still in the
//! list, so the messages delivered then are flagged `resync`.

use super::{actions, labels, MAX_CONCURRENT};
use crate::account::Account;
use crate::error::{Error, Result, Status};
use crate::fetch::options::{AfterDelivery, FetchOptions};
use crate::fetch::state::{self, Action, GmailLabelState};
use crate::fetch::{settle, Control, MessageMeta, Summary};
use crate::log::Level;
use crate::om_log;
use crate::rest::{Body, Doing, Rest};
use base64::Engine;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;

/// History records per page by default (`batch_size` changes it).
const DEFAULT_PAGE: u32 = 100;
/// Most message ids one call collects (a label with more is read in several calls).
const MAX_IDS: usize = 200_000;
const MAX_PAGES: usize = 10_000;

struct Job<'a> {
    folder: &'a str,
    key: &'a str,
    only_new: bool,
    /// `after:` epoch seconds for the full listing.
    since: Option<i64>,
    page: u32,
    max_messages: Option<u32>,
    action: Option<&'a Action>,
}

/// Fetches according to `opts` from the account's Gmail mailbox.
pub async fn fetch(
    account: &Account,
    opts: &FetchOptions,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<Summary> {
    let api = super::client(account, Doing::Read)?;
    let folder = opts.folder().to_string();
    let user = account.config.sasl_user().unwrap_or("me").to_string();
    // label names ignore case: so does the state's key
    let key = state::imap_key(&user, &folder.to_lowercase());
    let since = match &opts.since {
        Some(d) => {
            crate::fetch::options::imap_date(d)?;
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp())
        }
        None => None,
    };
    let action = Action::of(opts);
    let job = Job {
        folder: &folder,
        key: &key,
        only_new: opts.only_new.unwrap_or(account.config.options.skip_fetched),
        since,
        page: opts.batch_size.unwrap_or(DEFAULT_PAGE).clamp(1, 500),
        max_messages: opts.max_messages,
        action: action.as_ref(),
    };
    let mut summary = Summary {
        folder: folder.clone(),
        ..Default::default()
    };
    let mut attempt = 0;
    let mut resync = false;
    loop {
        let outcome = sync(&api, &job, deliver, &mut summary, &mut resync).await;
        if settle(account, outcome, &mut attempt, &mut summary)? {
            return Ok(summary);
        }
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The mailbox's current historyId.
async fn current_history_id(api: &Rest<'_>) -> Result<String> {
    let p = api.get_json(&api.url("profile"), None).await?;
    p["historyId"]
        .as_str()
        .map(str::to_string)
        .or_else(|| p["historyId"].as_u64().map(|n| n.to_string()))
        .ok_or_else(|| Error::new(Status::ProtocolError, "the Gmail profile has no historyId"))
}

/// Every message id of `label`, oldest first.
async fn list_all(api: &Rest<'_>, label: &str, since: Option<i64>) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut url = api.url(&format!(
            "messages?labelIds={}&maxResults=500&includeSpamTrash={}",
            enc(label),
            label == "SPAM" || label == "TRASH"
        ));
        if let Some(s) = since {
            url.push_str(&format!("&q={}", enc(&format!("after:{s}"))));
        }
        if let Some(t) = &token {
            url.push_str(&format!("&pageToken={}", enc(t)));
        }
        let page = api.get_json(&url, None).await?;
        for m in page["messages"].as_array().into_iter().flatten() {
            if let Some(id) = m["id"].as_str() {
                ids.push(id.to_string());
            }
        }
        token = page["nextPageToken"].as_str().map(str::to_string);
        if token.is_none() || ids.len() >= MAX_IDS {
            break;
        }
    }
    ids.reverse(); // Gmail lists newest first
    Ok(ids)
}

/// The ids added to `label` after `start` (history), in order, and the newest historyId;
/// `None` when `start` is too old (404: a full listing is needed).
async fn history(
    api: &Rest<'_>,
    start: &str,
    label: &str,
    page: u32,
) -> Result<Option<(Vec<String>, String)>> {
    let mut ids: Vec<String> = Vec::new();
    let mut known: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut token: Option<String> = None;
    let mut newest = start.to_string();
    for _ in 0..MAX_PAGES {
        let mut url = api.url(&format!(
            "history?startHistoryId={}&labelId={}&historyTypes=messageAdded&historyTypes=labelAdded&maxResults={page}",
            enc(start),
            enc(label)
        ));
        if let Some(t) = &token {
            url.push_str(&format!("&pageToken={}", enc(t)));
        }
        let r = api
            .call(Method::GET, &url, Body::None, &[], 32 << 20, true)
            .await?;
        if r.status == 404 {
            return Ok(None);
        }
        api.expect_ok(&r)?;
        let v = r.json()?;
        for rec in v["history"].as_array().into_iter().flatten() {
            let added = rec["messagesAdded"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| {
                    a["message"]["labelIds"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(label)))
                });
            let moved_in = rec["labelsAdded"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| {
                    a["labelIds"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(label)))
                });
            for a in added.chain(moved_in) {
                if let Some(id) = a["message"]["id"].as_str() {
                    if known.insert(id.to_string()) {
                        ids.push(id.to_string());
                    }
                }
            }
        }
        if let Some(h) = v["historyId"].as_str() {
            newest = h.to_string();
        }
        token = v["nextPageToken"].as_str().map(str::to_string);
        if token.is_none() || ids.len() >= MAX_IDS {
            break;
        }
    }
    Ok(Some((ids, newest)))
}

/// GET `messages/{id}?format=raw`, the answer bounded by `max_message_mb` (base64 inflates by
/// 4/3, plus room for the JSON around it).
pub(crate) async fn get_raw(api: &Rest<'_>, id: &str) -> Result<crate::rest::Reply> {
    let limit = usize::try_from(api.account.config.max_message_bytes())
        .unwrap_or(usize::MAX)
        .saturating_mul(4)
        / 3
        + (64 << 10);
    let r = api
        .call(
            Method::GET,
            &api.url(&format!("messages/{}?format=raw", enc(id))),
            Body::None,
            &[],
            limit,
            true,
        )
        .await?;
    Ok(r)
}

/// A message's raw bytes and what the callback is told; `None` when it is gone.
async fn raw(api: &Rest<'_>, id: &str) -> Result<Option<(Vec<u8>, i64, bool)>> {
    let r = get_raw(api, id).await?;
    if r.status == 404 {
        return Ok(None);
    }
    api.expect_ok(&r)?;
    let v: Value = r.json()?;
    let text = v["raw"].as_str().unwrap_or("").trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| {
            Error::new(
                Status::ProtocolError,
                format!("the Gmail API sent message {id} in base64 that cannot be read ({e})"),
            )
        })?;
    let internal = v["internalDate"]
        .as_str()
        .and_then(|s| s.parse::<i64>().ok())
        .map_or(0, |ms| ms / 1000);
    let unread = v["labelIds"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x.as_str() == Some("UNREAD")));
    Ok(Some((bytes, internal, !unread)))
}

async fn sync(
    api: &Rest<'_>,
    job: &Job<'_>,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
    summary: &mut Summary,
    resync: &mut bool,
) -> Result<()> {
    let account = api.account;
    let label = labels::resolve(api, job.folder).await?;
    let destination = match job.action {
        Some(a) if a.after == AfterDelivery::Move => {
            Some(labels::resolve_or_create(api, a.move_to.as_deref().unwrap_or("")).await?)
        }
        _ => None,
    };
    let pending = account
        .sync
        .read(|s| s.gmail_pending.get(job.key).cloned())
        .unwrap_or_default();
    for p in &pending {
        let dest = match (&p.action.after, &p.action.move_to) {
            (AfterDelivery::Move, Some(m)) => Some(labels::resolve_or_create(api, m).await?),
            _ => None,
        };
        actions::apply(api, &p.action, &p.ids, &label, dest.as_deref()).await?;
        account
            .sync
            .update(|s| s.remove_gmail_pending(job.key, &p.action, &p.ids))?;
    }

    let stored = if job.only_new {
        account.sync.read(|s| s.gmail.get(job.key).cloned())
    } else {
        None
    }
    .unwrap_or_default();
    // what to read: history from the stored historyId, else a full listing
    let mut from_history = None;
    if let Some(h) = &stored.history_id {
        match history(api, h, &label, job.page).await? {
            Some(found) => from_history = Some(found),
            None => {
                om_log!(
                    Level::Warn,
                    "account {}: the Gmail historyId of `{}` is too old: listing the label again",
                    account.id,
                    job.folder
                );
                *resync = true;
                summary.uidvalidity_changed = true;
            }
        }
    }
    let listed = from_history.is_none();
    let (mut ids, next_history) = match from_history {
        Some(found) => found,
        None => {
            let from = match (&stored.listing_from, *resync) {
                (Some(f), false) => f.clone(),
                _ => current_history_id(api).await?,
            };
            if job.only_new {
                let f = from.clone();
                account.sync.update(|s| {
                    let e = s.gmail.entry(job.key.to_string()).or_default();
                    let changed = e.listing_from.as_deref() != Some(&f) || e.history_id.is_some();
                    e.history_id = None;
                    e.listing_from = Some(f);
                    changed
                })?;
            }
            (list_all(api, &label, job.since).await?, from)
        }
    };
    let done: std::collections::HashSet<&String> = stored.done.iter().collect();
    ids.retain(|id| !done.contains(id));
    drop(done);
    let mut truncated = false;
    if let Some(max) = job.max_messages {
        let left = max.saturating_sub(summary.delivered) as usize;
        if ids.len() > left {
            summary.remaining += (ids.len() - left) as u32;
            ids.truncate(left);
            truncated = true;
        }
    }
    let mut downloads = futures_util::stream::iter(
        ids.iter()
            .map(|id| async move { raw(api, id).await.map(|r| (id, r)) }),
    )
    .buffered(MAX_CONCURRENT);
    let mut accepted: Vec<String> = Vec::new();
    let mut end: Option<Result<()>> = None;
    let mut handed = 0usize;
    while let Some(next) = downloads.next().await {
        handed += 1;
        let (id, got) = match next {
            Ok(x) => x,
            Err(e) => {
                end = Some(Err(e));
                break;
            }
        };
        let Some((bytes, internal, read)) = got else {
            continue; // deleted since it was listed
        };
        let flags = if read {
            vec!["\\Seen".to_string()]
        } else {
            Vec::new()
        };
        let meta = MessageMeta {
            uid: 0,
            uidl: Some(id),
            uidvalidity: 0,
            folder: job.folder,
            internal_date: internal,
            flags: &flags,
            size: bytes.len() as u64,
            resync: *resync,
            protocol: crate::config::Protocol::GmailApi,
        };
        match deliver(&meta, &bytes) {
            Control::Continue => {
                account.sync.update(|s| {
                    if job.only_new {
                        s.gmail
                            .entry(job.key.to_string())
                            .or_default()
                            .done
                            .push(id.clone());
                    }
                    if let Some(a) = job.action {
                        s.add_gmail_pending(job.key, a, id);
                    }
                    job.only_new || job.action.is_some()
                })?;
                accepted.push(id.clone());
                summary.delivered += 1;
            }
            Control::Stop => {
                summary.stopped_by_callback = true;
                summary.remaining += (ids.len() + 1 - handed) as u32;
                end = Some(Ok(()));
                break;
            }
            Control::Fail(e) => {
                end = Some(Err(Error {
                    message: format!(
                        "{} (message {id}; the messages before it were accepted)",
                        e.message
                    ),
                    ..e
                }));
                break;
            }
        }
    }
    drop(downloads);
    if let Some(a) = job.action {
        actions::apply(api, a, &accepted, &label, destination.as_deref()).await?;
        account
            .sync
            .update(|s| s.remove_gmail_pending(job.key, a, &accepted))?;
    }
    if let Some(end) = end {
        return end;
    }
    if truncated || !job.only_new {
        return Ok(());
    }
    // everything up to the newest history was accepted: the state moves past it. After a
    // full listing, history from its start also lists what arrived while it ran, which the
    // listing delivered already: those stay in `done` (the rest of it goes).
    let mut keep: Vec<String> = Vec::new();
    let mut next_history = Some(next_history);
    if listed {
        let start = next_history.clone().unwrap_or_default();
        match history(api, &start, &label, job.page).await? {
            Some((again, _)) => {
                let done_now = account
                    .sync
                    .read(|s| s.gmail.get(job.key).map(|e| e.done.clone()))
                    .unwrap_or_default();
                let done_now: std::collections::HashSet<String> = done_now.into_iter().collect();
                keep = again.into_iter().filter(|i| done_now.contains(i)).collect();
            }
            None => next_history = None, // already too old: list again next time
        }
    }
    account.sync.update(|s| {
        let new = GmailLabelState {
            history_id: next_history.clone(),
            listing_from: None,
            done: keep.clone(),
        };
        let e = s.gmail.entry(job.key.to_string()).or_default();
        let changed = *e != new;
        *e = new;
        changed
    })
}
