//! Browsing over the Gmail API (see [`crate::browse`]): labels are the folders and a listing's
//! `id` is the Gmail message id. Every mapping below follows Google's reference pages
//! (users.messages.list / get / batchModify / trash, users.labels.create, "Search and filter
//! messages", Gmail's search operators).
//!
//! - [`list`]: `messages.list` with `labelIds` = the folder's label, plus the `keyword`'s label
//!   ("Only return messages with labels that match all of the specified label IDs"), `q` built
//!   from the criteria, `maxResults` = `limit` (Gmail takes at most 500: a bigger page is read
//!   in several calls, the last one asking exactly what is left so that `nextPageToken` lines
//!   up), `pageToken` = `cursor`; `next_cursor` = `nextPageToken`; `total` =
//!   `resultSizeEstimate`, which Google calls an "Estimated total number of results": an
//!   estimate, not a count. Then `messages.get` with `format=metadata` and `metadataHeaders`
//!   for each id ([`super::MAX_CONCURRENT`] at a time), the page kept in the order listed; a
//!   message gone in between is left out.
//!   - Order: `messages.list` has no order parameter and lists newest first; `oldest_first` is
//!     refused (OM_STATUS_UNSUPPORTED) rather than listing the whole label for every page.
//!   - `q`: `is:unread` / `is:read`, `is:starred` / `-is:starred`, `after:` / `before:` with the
//!     epoch seconds of midnight UTC (Google: dates in `q` "are interpreted as midnight on that
//!     date in the PST timezone. To specify accurate dates for other timezones pass the value
//!     in seconds instead"), `from:"…"`, `to:"…"`, `subject:"…"`, a `"…"` phrase for `text`,
//!     `larger:N` / `smaller:N` (bytes). Values go in double quotes (Gmail's exact-phrase
//!     syntax, which has no escape: a `"` inside becomes a space). Gmail matches words, not
//!     substrings. `answered`: Gmail keeps no such state (OM_STATUS_UNSUPPORTED); `uids`: IMAP
//!     only (OM_STATUS_INVALID_ARGUMENT). A `keyword` naming no label matches nothing.
//!   - flags: `\Seen` unless the message has `UNREAD`, `\Flagged` with `STARRED`, then the
//!     names of its user labels (system labels such as INBOX or IMPORTANT are not keywords).
//!     size: `sizeEstimate`; internal_date: `internalDate` (epoch ms) in seconds.
//!   - The envelope: the metadata headers put back into a header block and parsed as every
//!     other header is (RFC 2047 decoded the same way, whether Gmail decoded it or not).
//!   - has_attachments: `format=metadata` "Returns only email message ID, labels, and email
//!     headers" — no MIME parts — so Gmail is asked: for the messages of the page whose
//!     Content-Type is not `text/*` (only those can carry one), one more `messages.list` with
//!     the same labels and `q` plus `has:attachment` over the page's time span; the ids it
//!     names have attachments. Pages of plain-text mail cost no extra call.
//! - [`fetch`]: `messages.get` `format=raw` (the exact bytes, base64url), delivered with the
//!   id as `uidl`; a message gone (404) is skipped; `mark_seen` removes `UNREAD` from the
//!   accepted ones afterwards (`batchModify`). Reading never marks a message read on Gmail.
//! - [`set_flags`]: one `batchModify`: `seen` = `UNREAD` removed (and added back when `seen` is
//!   removed), `flagged` = `STARRED`, keywords = user labels (created, with their parents, when
//!   added; a missing one is nothing to remove). `answered` and `draft`: refused
//!   (OM_STATUS_UNSUPPORTED) before anything changes — Gmail has no answered state and
//!   `DRAFT` cannot be set by modify (drafts are made by `drafts.create`). A keyword naming a
//!   system label (INBOX, STARRED, …) is refused: use the flags, or move.
//! - [`transfer`]: `batchModify`; copy = the destination label added, move = also the source
//!   folder's label removed (a message stays in SENT or DRAFT, which Gmail does not let go, as
//!   Gmail's own "Move to" does). The destination is created when missing.
//! - [`delete`]: `messages.trash` (Gmail's delete: the message goes to Trash, where Gmail
//!   removes it after 30 days); one already gone is done.
//! - [`create_folder`]: `labels.create`; a nested name (`Clients/Société`, Gmail's own `/`
//!   convention) gets its missing parents too, as IMAP servers do, so that Gmail shows the
//!   nesting. An existing label (user or system, no case) is fine.

use super::{actions, labels, MAX_CONCURRENT};
use crate::account::Account;
use crate::browse::query::Flag;
use crate::browse::{Criteria, FlagChange, ListQuery, Listed, Order, Page, Selection};
use crate::error::{Error, Result, Status};
use crate::fetch::{Control, MessageMeta};
use crate::lang::Lang;
use crate::rest::{Body, Doing, Rest};
use base64::Engine;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The headers a listing asks for (the envelope's, and Content-Type for attachments).
const METADATA_HEADERS: [&str; 12] = [
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Content-Type",
];
/// `maxResults` of messages.list: "The maximum allowed value for this field is 500."
const GMAIL_MAX_RESULTS: usize = 500;
/// Bound on the messages.list calls of one page (a server giving short pages).
const MAX_LIST_CALLS: usize = 50;
/// Bound on the `has:attachment` pages read for one listing page.
const MAX_ATTACHMENT_PAGES: usize = 20;
const MAX_JSON: usize = 32 << 20;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn same(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// A number Google sends as a JSON number or, for int64 fields, as a string.
fn number(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn unsupported(l: Lang, en: &str, fr: &str) -> Error {
    Error::new(Status::Unsupported, l.pick(en, fr))
}

// ---------------------------------------------------------------------------- search

/// A value as a Gmail exact phrase; `None` when nothing is left to search.
fn quoted(v: &str) -> Option<String> {
    let words: Vec<&str> = v
        .split(|c: char| c == '"' || c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| format!("\"{}\"", words.join(" ")))
}

/// Midnight UTC of the day `d` (`2026-02-01`), epoch seconds.
fn day_start(key: &str, d: &str) -> Result<i64> {
    chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
        .ok_or_else(|| {
            Error::config(format!(
                "list options key `search.{key}`: `{d}` is not a date like 2026-02-01"
            ))
        })
}

/// The `q` terms of `c` (its `keyword` goes to `labelIds`, not here).
pub(crate) fn search_terms(c: &Criteria, l: Lang) -> Result<Vec<String>> {
    if c.answered.is_some() {
        return Err(unsupported(
            l,
            "the Gmail API keeps no answered state: search without `answered`",
            "l'API Gmail ne garde pas l'état « répondu » : cherchez sans `answered`",
        ));
    }
    let mut q: Vec<String> = Vec::new();
    match c.unseen {
        Some(true) => q.push("is:unread".into()),
        Some(false) => q.push("is:read".into()),
        None => {}
    }
    match c.flagged {
        Some(true) => q.push("is:starred".into()),
        Some(false) => q.push("-is:starred".into()),
        None => {}
    }
    if let Some(d) = &c.since {
        q.push(format!("after:{}", day_start("since", d)?));
    }
    if let Some(d) = &c.before {
        q.push(format!("before:{}", day_start("before", d)?));
    }
    for (op, v) in [
        ("from:", &c.from),
        ("to:", &c.to),
        ("subject:", &c.subject),
        ("", &c.text),
    ] {
        if let Some(p) = v.as_deref().and_then(quoted) {
            q.push(format!("{op}{p}"));
        }
    }
    if let Some(n) = c.larger {
        q.push(format!("larger:{n}"));
    }
    if let Some(n) = c.smaller {
        q.push(format!("smaller:{n}"));
    }
    Ok(q)
}

// ---------------------------------------------------------------------------- labels

/// A label name looked up in `labels.list`'s answer.
enum Found {
    User(String),
    System(String),
    Missing,
}

fn lookup(all: &[Value], name: &str) -> Found {
    let n = name.trim().trim_matches('/');
    if same(n, "INBOX") {
        return Found::System("INBOX".into());
    }
    for l in all {
        let id = l["id"].as_str().unwrap_or("");
        let label = l["name"].as_str().unwrap_or("");
        if l["type"].as_str() == Some("system") {
            if same(id, n) || same(label, n) {
                return Found::System(id.to_string());
            }
        } else if same(label, n) {
            return Found::User(id.to_string());
        }
    }
    Found::Missing
}

/// User labels: id → name.
fn user_names(all: &[Value]) -> HashMap<String, String> {
    all.iter()
        .filter(|l| l["type"].as_str() != Some("system"))
        .filter_map(|l| {
            Some((
                l["id"].as_str()?.to_string(),
                l["name"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The label id of `name`, created when missing with its missing parents (`A`, `A/B` for
/// `A/B/C`).
async fn ensure_label(api: &Rest<'_>, name: &str) -> Result<String> {
    let l = api.account.config.language;
    let name = name.trim().trim_matches('/');
    let parts: Vec<&str> = name.split('/').collect();
    if name.is_empty() || parts.iter().any(|p| p.trim().is_empty()) {
        return Err(Error::invalid_argument(l.pick_string(
            format!("`{name}` is not a label name (an empty level between `/`)"),
            format!("`{name}` n'est pas un nom de libellé (niveau vide entre des `/`)"),
        )));
    }
    let all = labels::all(api).await?;
    let mut id = String::new();
    for i in 1..=parts.len() {
        let prefix = parts[..i].join("/");
        id = match lookup(&all, &prefix) {
            Found::User(id) | Found::System(id) => id,
            Found::Missing => labels::resolve_or_create(api, &prefix).await?,
        };
    }
    Ok(id)
}

// ---------------------------------------------------------------------------- messages

/// The chosen ids, checked (Gmail ids are URL-safe tokens) and without repeats.
fn chosen(selection: &Selection, l: Lang) -> Result<Vec<String>> {
    let mut ids = selection.string_ids("the Gmail API")?;
    if let Some(bad) = ids.iter().find(|id| {
        id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(Error::invalid_argument(l.pick_string(
            format!("`{bad}` is not a Gmail message id (the `id` of om_messages_list)"),
            format!(
                "`{bad}` n'est pas un identifiant de message Gmail (l'`id` de om_messages_list)"
            ),
        )));
    }
    let mut seen = HashSet::new();
    ids.retain(|i| seen.insert(i.clone()));
    Ok(ids)
}

/// `\Seen`, `\Flagged`, user label names, of a message's `labelIds`.
fn flags_of(label_ids: &Value, names: &HashMap<String, String>) -> Vec<String> {
    let ids: Vec<&str> = label_ids
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut flags = Vec::new();
    if !ids.contains(&"UNREAD") {
        flags.push("\\Seen".to_string());
    }
    if ids.contains(&"STARRED") {
        flags.push("\\Flagged".to_string());
    }
    flags.extend(ids.iter().filter_map(|id| names.get(*id).cloned()));
    flags
}

/// A `format=metadata` payload's headers as a header block, and its Content-Type.
fn header_block(payload: &Value) -> (Vec<u8>, Option<String>) {
    let mut block = String::new();
    let mut content_type = None;
    for h in payload["headers"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (h["name"].as_str(), h["value"].as_str()) else {
            continue;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            continue;
        }
        let value: String = value
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        if name.eq_ignore_ascii_case("Content-Type") {
            content_type = Some(value.clone());
        }
        block.push_str(name);
        block.push_str(": ");
        block.push_str(&value);
        block.push_str("\r\n");
    }
    block.push_str("\r\n");
    let content_type = content_type.or_else(|| payload["mimeType"].as_str().map(str::to_string));
    (block.into_bytes(), content_type)
}

/// Only a message whose top type is not text can carry an attachment.
fn may_have_attachment(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let t = ct.trim_start().to_ascii_lowercase();
        !t.is_empty() && !t.starts_with("text/")
    })
}

fn list_url(
    api: &Rest<'_>,
    label_ids: &[String],
    q: &str,
    max: usize,
    token: Option<&str>,
) -> String {
    let mut url = api.url(&format!("messages?maxResults={max}"));
    for l in label_ids {
        url.push_str(&format!("&labelIds={}", enc(l)));
    }
    if !q.is_empty() {
        url.push_str(&format!("&q={}", enc(q)));
    }
    if label_ids.iter().any(|l| l == "SPAM" || l == "TRASH") {
        url.push_str("&includeSpamTrash=true");
    }
    if let Some(t) = token {
        url.push_str(&format!("&pageToken={}", enc(t)));
    }
    url
}

/// One messages.list answer; `host_cursor`: the page token is the host's `cursor`, so a
/// refused token is the host's argument.
async fn list_call(api: &Rest<'_>, url: &str, host_cursor: bool) -> Result<Value> {
    let r = api
        .call(Method::GET, url, Body::None, &[], MAX_JSON, true)
        .await?;
    if r.status == 400 && host_cursor {
        let (_, _, message) = super::errors::reason_and_message(&r.body);
        let m = message.to_ascii_lowercase();
        if m.contains("pagetoken") || m.contains("page token") {
            let l = api.account.config.language;
            return Err(Error::invalid_argument(l.pick(
                "the Gmail API refused the cursor: it belongs to another folder or search, or is too old; list again from the first page",
                "l'API Gmail a refusé le curseur : il vient d'un autre dossier ou d'une autre recherche, ou il est trop ancien ; listez de nouveau depuis la première page",
            ))
            .with_detail(format!("HTTP 400: {message}")));
        }
    }
    api.expect_ok(&r)?;
    r.json()
}

/// A message's metadata (`None`: gone).
async fn metadata(api: &Rest<'_>, id: &str) -> Result<Option<Value>> {
    let mut path = format!("messages/{}?format=metadata", enc(id));
    for h in METADATA_HEADERS {
        path.push_str("&metadataHeaders=");
        path.push_str(h);
    }
    let r = api
        .call(Method::GET, &api.url(&path), Body::None, &[], 4 << 20, true)
        .await?;
    if r.status == 404 {
        return Ok(None);
    }
    api.expect_ok(&r)?;
    r.json().map(Some)
}

/// The ids among `label_ids` + `q` that Gmail finds `has:attachment`, received between
/// `from_ms` and `to_ms` (epoch ms, widened by a second each way: the bounds are seconds).
async fn with_attachments(
    api: &Rest<'_>,
    label_ids: &[String],
    q: &str,
    span: Option<(i64, i64)>,
) -> Result<HashSet<String>> {
    let mut terms: Vec<String> = Vec::new();
    if !q.is_empty() {
        terms.push(q.to_string());
    }
    terms.push("has:attachment".into());
    if let Some((from, to)) = span {
        terms.push(format!("after:{}", (from.div_euclid(1000) - 1).max(0)));
        terms.push(format!("before:{}", to.div_euclid(1000) + 1));
    }
    let q = terms.join(" ");
    let mut ids = HashSet::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_ATTACHMENT_PAGES {
        let url = list_url(api, label_ids, &q, GMAIL_MAX_RESULTS, token.as_deref());
        let v = list_call(api, &url, false).await?;
        for m in v["messages"].as_array().into_iter().flatten() {
            if let Some(id) = m["id"].as_str() {
                ids.insert(id.to_string());
            }
        }
        token = v["nextPageToken"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(ids)
}

/// One page of the messages matching `query`.
pub async fn list(account: &Account, query: &ListQuery) -> Result<Page> {
    let l = account.config.language;
    if query.order == Order::OldestFirst {
        return Err(unsupported(
            l,
            "the Gmail API lists newest first only: use the order `newest_first`",
            "l'API Gmail ne liste que du plus récent au plus ancien : utilisez l'ordre `newest_first`",
        ));
    }
    if query.uids.is_some() {
        return Err(Error::invalid_argument(l.pick(
            "list options key `uids`: the Gmail API has no UIDs (IMAP only)",
            "clé `uids` des options de liste : l'API Gmail n'a pas d'UID (IMAP seulement)",
        )));
    }
    let q = search_terms(&query.search, l)?.join(" ");
    let api = super::client(account, Doing::Read)?;
    let folder = query.folder().to_string();
    let mut page = Page {
        folder: folder.clone(),
        ..Default::default()
    };
    let all = labels::all(&api).await?;
    let mut label_ids = vec![match lookup(&all, &folder) {
        Found::User(id) | Found::System(id) => id,
        Found::Missing => labels::resolve(&api, &folder).await?, // the unknown folder's error
    }];
    if let Some(k) = query.search.keyword.as_deref() {
        if !k.trim().trim_matches('/').is_empty() {
            match lookup(&all, k) {
                Found::User(id) | Found::System(id) => {
                    if !label_ids.contains(&id) {
                        label_ids.push(id);
                    }
                }
                Found::Missing => {
                    page.total = Some(0); // no such label: nothing carries it
                    return Ok(page);
                }
            }
        }
    }
    let names = user_names(&all);

    // the ids of this page
    let limit = query.limit().max(1);
    let mut ids: Vec<String> = Vec::new();
    let mut token = query.cursor.clone().filter(|c| !c.trim().is_empty());
    let mut host_cursor = token.is_some();
    for _ in 0..MAX_LIST_CALLS {
        let want = (limit - ids.len().min(limit)).clamp(1, GMAIL_MAX_RESULTS);
        let url = list_url(&api, &label_ids, &q, want, token.as_deref());
        let v = list_call(&api, &url, host_cursor).await?;
        host_cursor = false;
        if page.total.is_none() {
            page.total = number(&v["resultSizeEstimate"]).and_then(|n| u64::try_from(n).ok());
        }
        for m in v["messages"].as_array().into_iter().flatten() {
            if let Some(id) = m["id"].as_str() {
                ids.push(id.to_string());
            }
        }
        token = v["nextPageToken"].as_str().map(str::to_string);
        if token.is_none() || ids.len() >= limit {
            break;
        }
    }

    // their metadata, in the order listed
    let mut gets = futures_util::stream::iter(ids.iter().map(|id| {
        let api = &api;
        async move { metadata(api, id).await.map(|m| (id, m)) }
    }))
    .buffered(MAX_CONCURRENT);
    let mut listed: Vec<Listed> = Vec::with_capacity(ids.len());
    let mut candidates: Vec<(usize, i64)> = Vec::new();
    while let Some(next) = gets.next().await {
        let (id, Some(v)) = next? else {
            continue; // gone since it was listed
        };
        let (block, content_type) = header_block(&v["payload"]);
        let internal_ms = number(&v["internalDate"]).unwrap_or(0);
        if may_have_attachment(content_type.as_deref()) {
            candidates.push((listed.len(), internal_ms));
        }
        listed.push(Listed {
            id: v["id"].as_str().unwrap_or(id).to_string(),
            uid: 0,
            flags: flags_of(&v["labelIds"], &names),
            size: number(&v["sizeEstimate"])
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            internal_date: internal_ms.div_euclid(1000),
            has_attachments: false,
            envelope: crate::message::parsed::envelope_of_header(&block),
        });
    }
    drop(gets);

    if !candidates.is_empty() {
        let span = if candidates.iter().all(|(_, ms)| *ms > 0) {
            let from = candidates.iter().map(|(_, ms)| *ms).min().unwrap_or(0);
            let to = candidates.iter().map(|(_, ms)| *ms).max().unwrap_or(0);
            Some((from, to))
        } else {
            None
        };
        let with = with_attachments(&api, &label_ids, &q, span).await?;
        for (i, _) in candidates {
            listed[i].has_attachments = with.contains(&listed[i].id);
        }
    }
    page.messages = listed;
    page.next_cursor = token;
    Ok(page)
}

/// A message's raw bytes, `internalDate` in seconds and `labelIds`; `None` when it is gone.
async fn raw(api: &Rest<'_>, id: &str) -> Result<Option<(Vec<u8>, i64, Value)>> {
    let r = super::fetch::get_raw(api, id).await?;
    if r.status == 404 {
        return Ok(None);
    }
    if r.status == 400 {
        let (_, _, message) = super::errors::reason_and_message(&r.body);
        if message.to_ascii_lowercase().contains("invalid id") {
            let l = api.account.config.language;
            return Err(Error::invalid_argument(l.pick_string(
                format!("`{id}` is not a Gmail message id (the `id` of om_messages_list)"),
                format!(
                    "`{id}` n'est pas un identifiant de message Gmail (l'`id` de om_messages_list)"
                ),
            ))
            .with_detail(format!("HTTP 400: {message}")));
        }
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
    let internal = number(&v["internalDate"]).map_or(0, |ms| ms.div_euclid(1000));
    Ok(Some((bytes, internal, v["labelIds"].clone())))
}

/// The chosen messages, whole, each handed to `deliver`; returns how many were accepted.
pub async fn fetch(
    account: &Account,
    selection: &Selection,
    mark_seen: bool,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<u32> {
    let ids = chosen(selection, account.config.language)?;
    let api = super::client(account, Doing::Read)?;
    let folder = selection.folder();
    let names = user_names(&labels::all(&api).await?);
    let mut downloads = futures_util::stream::iter(ids.iter().map(|id| {
        let api = &api;
        async move { raw(api, id).await.map(|r| (id, r)) }
    }))
    .buffered(MAX_CONCURRENT);
    let mut accepted: Vec<String> = Vec::new();
    let mut end: Result<()> = Ok(());
    while let Some(next) = downloads.next().await {
        let (id, got) = match next {
            Ok(x) => x,
            Err(e) => {
                end = Err(e);
                break;
            }
        };
        let Some((bytes, internal, label_ids)) = got else {
            continue; // no longer exists
        };
        let flags = flags_of(&label_ids, &names);
        let meta = MessageMeta {
            uid: 0,
            uidl: Some(id),
            uidvalidity: 0,
            folder,
            internal_date: internal,
            flags: &flags,
            size: bytes.len() as u64,
            resync: false,
            protocol: crate::config::Protocol::GmailApi,
        };
        match deliver(&meta, &bytes) {
            Control::Continue => accepted.push(id.clone()),
            Control::Stop => break,
            Control::Fail(e) => {
                end = Err(Error {
                    message: format!(
                        "{} (message {id}; the messages before it were accepted)",
                        e.message
                    ),
                    ..e
                });
                break;
            }
        }
    }
    drop(downloads);
    if mark_seen && !accepted.is_empty() {
        let marked = actions::batch_modify(&api, &accepted, &[], &["UNREAD"]).await;
        end = end.and(marked);
    }
    end.map(|()| u32::try_from(accepted.len()).unwrap_or(u32::MAX))
}

/// Adds and removes flags and keywords (labels) in one `batchModify`.
pub async fn set_flags(
    account: &Account,
    selection: &Selection,
    change: &FlagChange,
) -> Result<()> {
    let l = account.config.language;
    let ids = chosen(selection, l)?;
    let (add, remove) = change.flags()?;
    for f in add.iter().chain(&remove) {
        match f {
            Flag::Answered => {
                return Err(unsupported(
                    l,
                    "the Gmail API keeps no answered state: `answered` cannot be set",
                    "l'API Gmail ne garde pas l'état « répondu » : `answered` ne peut être posé",
                ))
            }
            Flag::Draft => {
                return Err(unsupported(
                    l,
                    "the Gmail API does not let a message become a draft or stop being one (DRAFT is set by drafts.create)",
                    "l'API Gmail ne permet pas de faire d'un message un brouillon ni l'inverse (DRAFT vient de drafts.create)",
                ))
            }
            _ => {}
        }
    }
    let api = super::client(account, Doing::Read)?;
    let all = labels::all(&api).await?;
    let keyword_label = |k: &str| -> Result<Found> {
        match lookup(&all, k) {
            Found::System(id) => Err(Error::invalid_argument(l.pick_string(
                format!("`{k}` is the Gmail system label {id}, not a keyword: use the flags seen/flagged, or move the messages"),
                format!("`{k}` est le libellé système Gmail {id}, pas un mot-clé : utilisez les drapeaux seen/flagged, ou déplacez les messages"),
            ))),
            found => Ok(found),
        }
    };
    let mut to_add: Vec<String> = Vec::new();
    let mut to_remove: Vec<String> = Vec::new();
    for f in &add {
        match f {
            Flag::Seen => to_remove.push("UNREAD".into()),
            Flag::Flagged => to_add.push("STARRED".into()),
            Flag::Keyword(k) => match keyword_label(k)? {
                Found::User(id) => to_add.push(id),
                _ => to_add.push(ensure_label(&api, k).await?),
            },
            Flag::Answered | Flag::Draft => {}
        }
    }
    for f in &remove {
        match f {
            Flag::Seen => to_add.push("UNREAD".into()),
            Flag::Flagged => to_remove.push("STARRED".into()),
            Flag::Keyword(k) => {
                if let Found::User(id) = keyword_label(k)? {
                    to_remove.push(id);
                }
            }
            Flag::Answered | Flag::Draft => {}
        }
    }
    if let Some(both) = to_add.iter().find(|a| to_remove.contains(a)) {
        return Err(Error::invalid_argument(l.pick_string(
            format!("flag options: the same flag is both added and removed (Gmail label {both})"),
            format!(
                "options de drapeaux : le même drapeau est ajouté et retiré (libellé Gmail {both})"
            ),
        )));
    }
    to_add.sort();
    to_add.dedup();
    to_remove.sort();
    to_remove.dedup();
    if to_add.is_empty() && to_remove.is_empty() {
        return Ok(()); // only keywords that no label carries were removed
    }
    let add: Vec<&str> = to_add.iter().map(String::as_str).collect();
    let remove: Vec<&str> = to_remove.iter().map(String::as_str).collect();
    actions::batch_modify(&api, &ids, &add, &remove).await
}

/// Moves (`copy` false) or copies the chosen messages into `destination` (created when
/// missing): labels added, and for a move the source folder's removed.
pub async fn transfer(
    account: &Account,
    selection: &Selection,
    destination: &str,
    copy: bool,
) -> Result<()> {
    let l = account.config.language;
    let ids = chosen(selection, l)?;
    let dest = destination.trim().trim_matches('/');
    if same(dest, "SENT") || same(dest, "DRAFT") {
        return Err(Error::invalid_argument(l.pick_string(
            format!("the Gmail API does not let messages be put in {dest}"),
            format!("l'API Gmail ne permet pas de mettre des messages dans {dest}"),
        )));
    }
    let api = super::client(account, Doing::Read)?;
    let source = if copy {
        None
    } else {
        Some(labels::resolve(&api, selection.folder()).await?)
    };
    let dest_id = ensure_label(&api, dest).await?;
    let remove: Vec<&str> = source
        .as_deref()
        .filter(|s| *s != dest_id && *s != "SENT" && *s != "DRAFT")
        .into_iter()
        .collect();
    actions::batch_modify(&api, &ids, &[dest_id.as_str()], &remove).await
}

/// Moves the chosen messages to the trash (Gmail's delete).
pub async fn delete(account: &Account, selection: &Selection) -> Result<()> {
    let ids = chosen(selection, account.config.language)?;
    let api = super::client(account, Doing::Read)?;
    let mut done = futures_util::stream::iter(ids.iter().map(|id| actions::trash(&api, id)))
        .buffer_unordered(MAX_CONCURRENT);
    while let Some(r) = done.next().await {
        r?;
    }
    Ok(())
}

/// Creates the label `name` (with its missing parents); an existing one is fine.
pub async fn create_folder(account: &Account, name: &str) -> Result<()> {
    let api = super::client(account, Doing::Read)?;
    ensure_label(&api, name).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_become_gmail_search_terms() {
        let c = Criteria {
            unseen: Some(true),
            flagged: Some(false),
            since: Some("2026-02-01".into()),
            before: Some("2026-03-01".into()),
            from: Some("Hélène \"H\" Dupont".into()),
            to: Some("  ".into()),
            subject: Some("Devis (urgent)".into()),
            text: Some("prix".into()),
            larger: Some(1000),
            smaller: Some(5000),
            ..Default::default()
        };
        assert_eq!(
            search_terms(&c, Lang::En).unwrap(),
            [
                "is:unread",
                "-is:starred",
                "after:1769904000",
                "before:1772323200",
                "from:\"Hélène H Dupont\"",
                "subject:\"Devis (urgent)\"",
                "\"prix\"",
                "larger:1000",
                "smaller:5000",
            ]
        );
        let e = search_terms(
            &Criteria {
                answered: Some(true),
                ..Default::default()
            },
            Lang::En,
        )
        .unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
    }

    #[test]
    fn flags_and_header_blocks() {
        let names: HashMap<String, String> =
            [("Label_1".to_string(), "Clients/Société".to_string())].into();
        assert_eq!(
            flags_of(&serde_json::json!(["INBOX", "STARRED", "Label_1"]), &names),
            ["\\Seen", "\\Flagged", "Clients/Société"]
        );
        assert!(flags_of(&serde_json::json!(["UNREAD"]), &names).is_empty());
        let payload = serde_json::json!({"mimeType": "multipart/mixed", "headers": [
            {"name": "Subject", "value": "=?UTF-8?Q?R=C3=A9sum=C3=A9?="},
            {"name": "From", "value": "Hélène <h@example.test>"},
            {"name": "Bad Name", "value": "x"},
            {"name": "To", "value": "a@example.test\r\nBcc: injected@example.test"},
        ]});
        let (block, ct) = header_block(&payload);
        assert_eq!(ct.as_deref(), Some("multipart/mixed"));
        let e = crate::message::parsed::envelope_of_header(&block);
        assert_eq!(e.subject.as_deref(), Some("Résumé"));
        assert_eq!(e.from[0].name.as_deref(), Some("Hélène"));
        assert!(
            e.bcc.is_empty(),
            "a line break in a value does not make a header"
        );
        assert!(may_have_attachment(Some("Multipart/Mixed; boundary=x")));
        assert!(!may_have_attachment(Some("text/plain")));
        assert!(!may_have_attachment(None));
    }
}
