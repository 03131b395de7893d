//! Browsing over Microsoft Graph (see [`crate::browse`]): listing, chosen messages, flags,
//! moves and copies, deletion, folder creation — written from Microsoft's Graph v1.0
//! documentation (list messages, `$search`, message: move / copy / update / delete, create
//! mailFolder, get MIME content, extended properties).
//!
//! **Listing** is `GET {mb}/mailFolders/{id}/messages` with `$select` (the envelope, flags,
//! categories, `hasAttachments`), `$top` = the page size, and `$expand` of four MAPI properties
//! Graph has no own property for: `Integer 0x0E08` (PidTagMessageSize: the size), `String
//! 0x1042` (PidTagInReplyToId: In-Reply-To), `String 0x1039` (PidTagInternetReferences:
//! References) and `Integer 0x1081` (PidTagLastVerbExecuted: 102 reply / 103 reply all give
//! `\Answered`). The search keys go one of two ways, because Graph refuses `$search` together
//! with `$filter` or `$orderby` ("You cannot use $filter or $orderby in a search request";
//! errors `SearchWithFilter`, `SearchWithOrderBy`):
//! - no text key: `$filter` (`receivedDateTime ge|lt` for `since`/`before`, `isRead`,
//!   `flag/flagStatus`, `categories/any(…)`, the size property for `larger`/`smaller`) with
//!   `$orderby=receivedDateTime desc|asc` and `$count=true` (`total`). Graph wants the `$orderby`
//!   properties first in `$filter` (else `InefficientFilter`): `receivedDateTime` always leads
//!   (`ge 1900-01-01` when no date is asked). Days are UTC days.
//! - a text key (`from`, `to`, `subject`, `text`): `$search` in KQL (`from:`, `to:`,
//!   `subject:`, a bare term for `text` — Graph's default from/subject/body —, `size>N`/`size<N`).
//!   The other keys (`unseen`, `flagged`, `keyword`, `since`, `before`) are checked here on each
//!   page, so a page may hold fewer than `limit` messages (further pages are read while a page
//!   would be empty, up to [`MAX_PAGES_PER_CALL`]). Graph sorts search results newest sent first
//!   and returns at most 1000 of them; `oldest_first` is refused (UNSUPPORTED), `total` is absent
//!   (Graph gives no `@odata.count` with `$search`). KQL matches words and word prefixes, not
//!   arbitrary substrings as IMAP SEARCH does.
//!
//! `answered` is checked here (from the last verb), in both ways; `total` is then absent.
//! The envelope comes from Graph's properties (names as Graph decoded them; a name equal to its
//! address is dropped, `sender` only when it differs from `from`, `date` is `sentDateTime` in
//! UTC), `size` is PidTagMessageSize (Exchange's stored size, near the MIME size), and the
//! flags are `\Seen` (isRead), `\Flagged` (flagStatus `flagged`), `\Answered`, `\Draft`
//! (isDraft) and the categories.
//! `next_cursor` wraps Graph's `@odata.nextLink` with the folder and the search keys, so a
//! cursor is refused for another folder or other keys (INVALID_ARGUMENT).
//!
//! Ids are mailbox-wide on Graph: the selection's `folder`, when given, must exist (else
//! INVALID_ARGUMENT) and names the folder in what is delivered, but does not locate the
//! messages. A chosen message that no longer exists (404) is skipped everywhere.

use super::actions::{each, message_url};
use super::errors::Doing;
use super::folders;
use super::{Graph, MAX_CONCURRENT};
use crate::account::Account;
use crate::browse::listed::{Listed, Page};
use crate::browse::query::{Criteria, Flag, FlagChange, ListQuery, Order, Selection};
use crate::error::{Error, Result, Status};
use crate::fetch::{Control, MessageMeta};
use crate::lang::Lang;
use crate::message::parsed::Mailbox;
use crate::message::Envelope;
use crate::rest::Body;
use base64::Engine as _;
use futures_util::StreamExt;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashSet;

/// The message properties a listing asks for.
const SELECT: &str = "id,subject,from,sender,replyTo,toRecipients,ccRecipients,bccRecipients,\
receivedDateTime,sentDateTime,internetMessageId,isRead,isDraft,flag,categories,hasAttachments";
/// PidTagMessageSize, PidTagInReplyToId, PidTagInternetReferences, PidTagLastVerbExecuted.
const EXPAND: &str = "singleValueExtendedProperties($filter=id eq 'Integer 0x0E08' \
or id eq 'String 0x1042' or id eq 'String 0x1039' or id eq 'Integer 0x1081')";
const PROP_SIZE: u32 = 0x0E08;
const PROP_IN_REPLY_TO: u32 = 0x1042;
const PROP_REFERENCES: u32 = 0x1039;
const PROP_LAST_VERB: u32 = 0x1081;
/// PidTagLastVerbExecuted values of a reply and a reply to all.
const VERB_REPLIED: [i64; 2] = [102, 103];
/// Most Graph pages one listing call reads when the checks made here leave a page empty.
pub const MAX_PAGES_PER_CALL: usize = 20;
/// What a fetch reads about each message besides its MIME.
const FETCH_SELECT: &str = "receivedDateTime,isRead,isDraft,flag,categories";
const FETCH_EXPAND: &str = "singleValueExtendedProperties($filter=id eq 'Integer 0x1081')";
const CURSOR_PREFIX: &str = "graph1.";

fn enc(s: &str) -> String {
    // `+` for a space is form encoding; %20 is what every URL reader takes
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn unsupported(lang: Lang, en: String, fr: String) -> Error {
    Error::new(Status::Unsupported, lang.pick_string(en, fr))
}

// ------------------------------------------------------------------ listing

/// Where the search keys go.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    /// `$filter` clauses (joined by `and`).
    filter: Vec<String>,
    /// The KQL of `$search`, without its surrounding quotes.
    search: Option<String>,
    /// `receivedDateTime desc|asc` (never with `search`).
    orderby: Option<&'static str>,
    /// Every key is decided by Graph: `@odata.count` is the number of matches.
    exact_total: bool,
}

fn some_text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A KQL value: bare when it is one plain word, else a quoted phrase (quotes escaped for the
/// quoted `$search` value); `"` and `\` cannot be searched for and become spaces.
fn kql_value(v: &str) -> String {
    let clean: String = v
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if !clean.is_empty()
        && clean
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '@' | '.' | '_' | '-' | '+'))
    {
        clean
    } else {
        format!("\\\"{clean}\\\"")
    }
}

/// An OData string literal.
fn odata_string(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// PidTagMessageSize is a 32-bit integer.
fn int32(n: u64) -> i64 {
    n.min(i32::MAX as u64) as i64
}

fn plan(lang: Lang, c: &Criteria, order: Order) -> Result<Plan> {
    let from = some_text(&c.from);
    let to = some_text(&c.to);
    let subject = some_text(&c.subject);
    let text = some_text(&c.text);
    if from.is_some() || to.is_some() || subject.is_some() || text.is_some() {
        if order == Order::OldestFirst {
            return Err(unsupported(
                lang,
                "Microsoft Graph sorts search results newest first only: `order` \
                 \"oldest_first\" cannot go with `search.from`, `to`, `subject` or `text` \
                 (Graph refuses $orderby with $search)"
                    .into(),
                "Microsoft Graph ne trie les résultats d'une recherche que du plus récent au \
                 plus ancien : `order` \"oldest_first\" ne peut aller avec `search.from`, `to`, \
                 `subject` ou `text` (Graph refuse $orderby avec $search)"
                    .into(),
            ));
        }
        let mut terms = Vec::new();
        if let Some(v) = from {
            terms.push(format!("from:{}", kql_value(v)));
        }
        if let Some(v) = to {
            terms.push(format!("to:{}", kql_value(v)));
        }
        if let Some(v) = subject {
            terms.push(format!("subject:{}", kql_value(v)));
        }
        if let Some(v) = text {
            terms.push(kql_value(v));
        }
        if let Some(n) = c.larger {
            terms.push(format!("size>{n}"));
        }
        if let Some(n) = c.smaller {
            terms.push(format!("size<{n}"));
        }
        return Ok(Plan {
            search: Some(terms.join(" AND ")),
            ..Plan::default()
        });
    }
    let mut filter = Vec::new();
    if let Some(d) = &c.since {
        filter.push(format!("receivedDateTime ge {d}T00:00:00Z"));
    }
    if let Some(d) = &c.before {
        filter.push(format!("receivedDateTime lt {d}T00:00:00Z"));
    }
    let dated = !filter.is_empty();
    if let Some(u) = c.unseen {
        filter.push(format!("isRead eq {}", !u));
    }
    match c.flagged {
        Some(true) => filter.push("flag/flagStatus eq 'flagged'".into()),
        Some(false) => filter.push("flag/flagStatus ne 'flagged'".into()),
        None => {}
    }
    if let Some(k) = some_text(&c.keyword) {
        filter.push(format!("categories/any(c:c eq {})", odata_string(k)));
    }
    for (op, n) in [("gt", c.larger), ("lt", c.smaller)] {
        if let Some(n) = n {
            filter.push(format!(
                "singleValueExtendedProperties/any(ep:ep/id eq 'Integer 0x0E08' and cast(ep/value, Edm.Int32) {op} {})",
                int32(n)
            ));
        }
    }
    if !filter.is_empty() && !dated {
        // the $orderby property must lead the $filter (else InefficientFilter)
        filter.insert(0, "receivedDateTime ge 1900-01-01T00:00:00Z".into());
    }
    Ok(Plan {
        filter,
        search: None,
        orderby: Some(match order {
            Order::NewestFirst => "receivedDateTime desc",
            Order::OldestFirst => "receivedDateTime asc",
        }),
        exact_total: c.answered.is_none(),
    })
}

fn first_url(graph: &Graph<'_>, folder_id: &str, plan: &Plan, limit: usize) -> String {
    let mut q = vec![
        format!("$select={}", enc(SELECT)),
        format!("$expand={}", enc(EXPAND)),
        format!("$top={limit}"),
    ];
    if let Some(s) = &plan.search {
        q.push(format!("$search={}", enc(&format!("\"{s}\""))));
    } else {
        if !plan.filter.is_empty() {
            q.push(format!("$filter={}", enc(&plan.filter.join(" and "))));
        }
        if let Some(o) = plan.orderby {
            q.push(format!("$orderby={}", enc(o)));
        }
        q.push("$count=true".into());
    }
    graph.url(&format!(
        "mailFolders/{}/messages?{}",
        enc(folder_id),
        q.join("&")
    ))
}

/// What ties a cursor to its listing: the folder and the search keys.
fn fingerprint(query: &ListQuery) -> String {
    let c = &query.search;
    json!({
        "folder": query.folder().to_lowercase(),
        "order": format!("{:?}", query.order),
        "unseen": c.unseen, "flagged": c.flagged, "answered": c.answered,
        "since": c.since, "before": c.before, "from": c.from, "to": c.to,
        "subject": c.subject, "text": c.text, "larger": c.larger, "smaller": c.smaller,
        "keyword": c.keyword,
    })
    .to_string()
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// The listing's fingerprint.
    q: String,
    /// Graph's `@odata.nextLink`.
    link: String,
}

fn encode_cursor(query: &ListQuery, link: String) -> String {
    let c = Cursor {
        q: fingerprint(query),
        link,
    };
    let json = serde_json::to_vec(&c).unwrap_or_default();
    format!(
        "{CURSOR_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    )
}

fn decode_cursor(graph: &Graph<'_>, query: &ListQuery, cursor: &str) -> Result<String> {
    let bad = || {
        Error::invalid_argument(graph.account.config.language.pick(
            "list options key `cursor`: not a `next_cursor` of this listing (another folder, \
             other search keys or order, or another account's transport): list again without \
             `cursor`",
            "clé `cursor` des options de liste : ce n'est pas un `next_cursor` de cette liste \
             (autre dossier, autres critères ou ordre, ou transport d'un autre compte) : listez \
             de nouveau sans `cursor`",
        ))
    };
    let b64 = cursor.trim().strip_prefix(CURSOR_PREFIX).ok_or_else(bad)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| bad())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let root = graph.root().as_str().trim_end_matches('/');
    if c.q != fingerprint(query) || !c.link.starts_with(&format!("{root}/")) {
        return Err(bad());
    }
    Ok(c.link)
}

/// `Integer 0x0E08` (or `integer 0xe08`, or a whole tag `0x0E080003`) → 0x0E08.
fn prop_tag(id: &str) -> Option<u32> {
    let hex = id.split_whitespace().nth(1)?;
    let hex = hex.strip_prefix("0x").or_else(|| hex.strip_prefix("0X"))?;
    let tag = u32::from_str_radix(hex, 16).ok()?;
    Some(if tag > 0xFFFF { tag >> 16 } else { tag })
}

fn ext_prop(item: &Value, tag: u32) -> Option<&str> {
    item["singleValueExtendedProperties"]
        .as_array()?
        .iter()
        .find(|p| p["id"].as_str().and_then(prop_tag) == Some(tag))
        .and_then(|p| p["value"].as_str())
}

fn ext_int(item: &Value, tag: u32) -> Option<i64> {
    ext_prop(item, tag).and_then(|v| v.trim().parse().ok())
}

/// Message ids of In-Reply-To / References, without angle brackets.
fn message_ids(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("")
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|s| s.trim_matches(|c| c == '<' || c == '>'))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn mailbox(recipient: &Value) -> Option<Mailbox> {
    let e = &recipient["emailAddress"];
    let address = e["address"]
        .as_str()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    // Graph names an address without display name by the address itself
    let name = e["name"]
        .as_str()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .filter(|n| {
            address
                .as_deref()
                .is_none_or(|a| !a.eq_ignore_ascii_case(n))
        })
        .map(str::to_string);
    (name.is_some() || address.is_some()).then_some(Mailbox { name, address })
}

fn mailboxes(list: &Value) -> Vec<Mailbox> {
    list.as_array()
        .map(|l| l.iter().filter_map(mailbox).collect())
        .unwrap_or_default()
}

fn timestamp(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    v.as_str()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// IMAP's names for Graph's state: `\Seen`, `\Flagged`, `\Answered`, `\Draft`, categories.
fn flags_of(item: &Value) -> Vec<String> {
    let mut flags = Vec::new();
    if item["isRead"].as_bool() == Some(true) {
        flags.push("\\Seen".to_string());
    }
    if item["flag"]["flagStatus"].as_str() == Some("flagged") {
        flags.push("\\Flagged".to_string());
    }
    if ext_int(item, PROP_LAST_VERB).is_some_and(|v| VERB_REPLIED.contains(&v)) {
        flags.push("\\Answered".to_string());
    }
    if item["isDraft"].as_bool() == Some(true) {
        flags.push("\\Draft".to_string());
    }
    if let Some(cats) = item["categories"].as_array() {
        flags.extend(cats.iter().filter_map(|c| c.as_str()).map(str::to_string));
    }
    flags
}

fn listed(item: &Value) -> Option<Listed> {
    let id = item["id"].as_str()?.to_string();
    let sent = timestamp(&item["sentDateTime"]);
    let subject = item["subject"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let message_id = item["internetMessageId"]
        .as_str()
        .map(|m| m.trim().trim_matches(|c| c == '<' || c == '>').to_string())
        .filter(|m| !m.is_empty());
    let from: Vec<Mailbox> = mailbox(&item["from"]).into_iter().collect();
    // Graph's sender is the From address when the message has no Sender field (as IMAP's
    // ENVELOPE); the header fields say sender only when it differs, and so does this
    let sender: Vec<Mailbox> = mailbox(&item["sender"])
        .into_iter()
        .filter(|s| {
            !from.iter().any(|f| match (&f.address, &s.address) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            })
        })
        .collect();
    Some(Listed {
        id,
        uid: 0,
        flags: flags_of(item),
        size: ext_int(item, PROP_SIZE)
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        internal_date: timestamp(&item["receivedDateTime"]).map_or(0, |d| d.timestamp()),
        has_attachments: item["hasAttachments"].as_bool().unwrap_or(false),
        envelope: Envelope {
            from,
            sender,
            reply_to: mailboxes(&item["replyTo"]),
            to: mailboxes(&item["toRecipients"]),
            cc: mailboxes(&item["ccRecipients"]),
            bcc: mailboxes(&item["bccRecipients"]),
            subject,
            date: sent.map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            date_unix: sent.map(|d| d.timestamp()),
            message_id,
            in_reply_to: message_ids(ext_prop(item, PROP_IN_REPLY_TO)),
            references: message_ids(ext_prop(item, PROP_REFERENCES)),
        },
    })
}

fn day_start(d: &str) -> Option<i64> {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
}

/// The keys Graph did not decide (all but the text ones with `$search`; `answered` always),
/// checked on a listed message. Repeating a key Graph decided is harmless.
fn matches(c: &Criteria, item: &Value, m: &Listed) -> bool {
    let has = |f: &str| m.flags.iter().any(|x| x == f);
    if c.unseen.is_some_and(|u| u == has("\\Seen")) {
        return false;
    }
    if c.flagged.is_some_and(|f| f != has("\\Flagged")) {
        return false;
    }
    if c.answered.is_some_and(|a| a != has("\\Answered")) {
        return false;
    }
    if let Some(k) = some_text(&c.keyword) {
        let lower = k.to_lowercase();
        let cats = item["categories"].as_array();
        if !cats.is_some_and(|l| {
            l.iter()
                .filter_map(|c| c.as_str())
                .any(|c| c.to_lowercase() == lower)
        }) {
            return false;
        }
    }
    if let Some(t) = c.since.as_deref().and_then(day_start) {
        if m.internal_date < t {
            return false;
        }
    }
    if let Some(t) = c.before.as_deref().and_then(day_start) {
        if m.internal_date >= t {
            return false;
        }
    }
    // the size only when Graph gave it
    if let Some(size) = ext_int(item, PROP_SIZE) {
        if c.larger.is_some_and(|n| size <= int32(n)) || c.smaller.is_some_and(|n| size >= int32(n))
        {
            return false;
        }
    }
    true
}

/// One page of the messages matching `query`.
pub async fn list(account: &Account, query: &ListQuery) -> Result<Page> {
    let graph = super::client(account, Doing::Read)?;
    if query.uids.is_some() {
        return Err(Error::invalid_argument(account.config.language.pick(
            "list options key `uids`: Microsoft Graph has no UIDs (IMAP only)",
            "clé `uids` des options de liste : Microsoft Graph n'a pas d'UID (IMAP seulement)",
        )));
    }
    let plan = plan(account.config.language, &query.search, query.order)?;
    let mut link = match query.cursor.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(c) => decode_cursor(&graph, query, c)?,
        None => {
            let id = folders::resolve(&graph, query.folder()).await?;
            first_url(&graph, &id, &plan, query.limit())
        }
    };
    let mut page = Page {
        folder: query.folder().to_string(),
        ..Page::default()
    };
    for round in 0..MAX_PAGES_PER_CALL {
        let v = graph.get_json(&link, None).await?;
        if round == 0 && plan.exact_total {
            page.total = v["@odata.count"].as_u64();
        }
        if let Some(items) = v["value"].as_array() {
            for item in items {
                if let Some(m) = listed(item) {
                    if matches(&query.search, item, &m) {
                        page.messages.push(m);
                    }
                }
            }
        }
        page.next_cursor = v["@odata.nextLink"].as_str().map(str::to_string);
        match &page.next_cursor {
            Some(next) if page.messages.is_empty() => link = next.clone(),
            _ => break,
        }
    }
    page.next_cursor = page.next_cursor.take().map(|l| encode_cursor(query, l));
    Ok(page)
}

// ------------------------------------------------------------------ chosen messages

/// The chosen ids, each once, in the order given.
fn chosen(graph: &Graph<'_>, selection: &Selection) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for id in selection.string_ids("Microsoft Graph")? {
        let id = id.trim().to_string();
        if id.is_empty() {
            return Err(Error::invalid_argument(graph.account.config.language.pick(
                "`ids`: an empty message id",
                "`ids` : un identifiant de message vide",
            )));
        }
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}

/// A folder named by the selection must exist (as IMAP's SELECT of an unknown folder fails).
async fn check_folder(graph: &Graph<'_>, selection: &Selection) -> Result<()> {
    match selection.folder.as_deref().map(str::trim) {
        Some(f) if !f.is_empty() => folders::resolve(graph, f).await.map(|_| ()),
        _ => Ok(()),
    }
}

/// A chosen message: its flags and received time, and its MIME; `None` when it is gone.
async fn download(graph: &Graph<'_>, id: &str) -> Result<Option<(Value, Vec<u8>)>> {
    let meta_url = message_url(
        graph,
        id,
        &format!(
            "?$select={}&$expand={}",
            enc(FETCH_SELECT),
            enc(FETCH_EXPAND)
        ),
    );
    let r = graph
        .call(Method::GET, &meta_url, Body::None, &[], 1 << 20, true)
        .await?;
    if r.status == 404 {
        return Ok(None);
    }
    graph.expect_ok(&r)?;
    let meta = r.json()?;
    let limit = usize::try_from(graph.account.config.max_message_bytes()).unwrap_or(usize::MAX);
    let r = graph
        .call(
            Method::GET,
            &message_url(graph, id, "/$value"),
            Body::None,
            &[],
            limit,
            true,
        )
        .await?;
    if r.status == 404 {
        return Ok(None);
    }
    graph.expect_ok(&r)?;
    Ok(Some((meta, r.body)))
}

/// The chosen messages, whole (`$value`), handed to `deliver` in the order chosen; up to
/// [`MAX_CONCURRENT`] downloaded at once. `mark_seen`: each accepted one is then marked read.
pub async fn fetch(
    account: &Account,
    selection: &Selection,
    mark_seen: bool,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<u32> {
    let graph = super::client(account, Doing::Read)?;
    let ids = chosen(&graph, selection)?;
    check_folder(&graph, selection).await?;
    let folder = selection.folder();
    let graph_ref = &graph;
    let mut downloads = futures_util::stream::iter(
        ids.iter()
            .map(|id| async move { download(graph_ref, id).await.map(|d| (id, d)) }),
    )
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
        let Some((meta, bytes)) = got else {
            continue; // gone: skipped
        };
        let flags = flags_of(&meta);
        let m = MessageMeta {
            uid: 0,
            uidl: Some(id),
            uidvalidity: 0,
            folder,
            internal_date: timestamp(&meta["receivedDateTime"]).map_or(0, |d| d.timestamp()),
            flags: &flags,
            size: bytes.len() as u64,
            resync: false,
            protocol: crate::config::Protocol::Graph,
        };
        match deliver(&m, &bytes) {
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
        let body = json!({"isRead": true}).to_string();
        let steps = accepted
            .iter()
            .map(|id| {
                (
                    Method::PATCH,
                    message_url(&graph, id, ""),
                    Some(body.clone()),
                )
            })
            .collect();
        each(&graph, steps, true).await?;
    }
    end.map(|()| accepted.len() as u32)
}

/// Flags: `seen` is `isRead`, `flagged` is `flag.flagStatus` (`flagged` / `notFlagged`),
/// keywords are categories (read, then written back with the changes; a category is matched
/// without case, as Outlook does). `answered` and `draft` are refused (UNSUPPORTED) before
/// anything changes: Graph v1.0 has no property to set them (`isDraft` is read-only). A flag
/// both added and removed ends removed.
pub async fn set_flags(
    account: &Account,
    selection: &Selection,
    change: &FlagChange,
) -> Result<()> {
    let graph = super::client(account, Doing::Read)?;
    let (add, remove) = change.flags()?;
    if let Some(f) = add
        .iter()
        .chain(&remove)
        .find(|f| matches!(f, Flag::Answered | Flag::Draft))
    {
        let name = f.imap();
        return Err(unsupported(
            account.config.language,
            format!(
                "Microsoft Graph cannot set or clear {name}: its messages have no such property to write (seen, flagged and keywords/categories can be changed)"
            ),
            format!(
                "Microsoft Graph ne sait pas poser ni retirer {name} : ses messages n'ont pas de propriété modifiable pour cela (seen, flagged et les mots-clés/catégories peuvent l'être)"
            ),
        ));
    }
    let state = |flag: &Flag| {
        if remove.contains(flag) {
            Some(false)
        } else if add.contains(flag) {
            Some(true)
        } else {
            None
        }
    };
    let seen = state(&Flag::Seen);
    let flagged = state(&Flag::Flagged);
    let keywords = |list: &[Flag]| -> Vec<String> {
        list.iter()
            .filter_map(|f| match f {
                Flag::Keyword(k) => Some(k.clone()),
                _ => None,
            })
            .collect()
    };
    let kw_add = keywords(&add);
    let kw_remove = keywords(&remove);
    let ids = chosen(&graph, selection)?;
    check_folder(&graph, selection).await?;
    let (g, ka, kr) = (&graph, &kw_add, &kw_remove);
    let mut results = futures_util::stream::iter(
        ids.iter()
            .map(|id| async move { patch_flags(g, id, seen, flagged, ka, kr).await }),
    )
    .buffer_unordered(MAX_CONCURRENT);
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}

async fn patch_flags(
    graph: &Graph<'_>,
    id: &str,
    seen: Option<bool>,
    flagged: Option<bool>,
    kw_add: &[String],
    kw_remove: &[String],
) -> Result<()> {
    let mut body = serde_json::Map::new();
    if let Some(s) = seen {
        body.insert("isRead".into(), json!(s));
    }
    if let Some(f) = flagged {
        let status = if f { "flagged" } else { "notFlagged" };
        body.insert("flag".into(), json!({ "flagStatus": status }));
    }
    if !kw_add.is_empty() || !kw_remove.is_empty() {
        let url = message_url(graph, id, "?$select=categories");
        let r = graph
            .call(Method::GET, &url, Body::None, &[], 1 << 20, true)
            .await?;
        if r.status == 404 {
            return Ok(()); // gone: skipped
        }
        graph.expect_ok(&r)?;
        let current: Vec<String> = r.json()?["categories"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
        let mut cats = current.clone();
        for k in kw_add {
            if !cats.iter().any(|c| same(c, k)) {
                cats.push(k.clone());
            }
        }
        cats.retain(|c| !kw_remove.iter().any(|k| same(c, k)));
        if cats != current {
            body.insert("categories".into(), json!(cats));
        }
    }
    if body.is_empty() {
        return Ok(());
    }
    let payload = Value::Object(body).to_string();
    each(
        graph,
        vec![(Method::PATCH, message_url(graph, id, ""), Some(payload))],
        true,
    )
    .await
}

/// `POST /messages/{id}/move` or `/copy` with the destination's id (the folder created when
/// missing). Exchange gives the moved message and the copy new ids.
pub async fn transfer(
    account: &Account,
    selection: &Selection,
    destination: &str,
    copy: bool,
) -> Result<()> {
    let graph = super::client(account, Doing::Read)?;
    let ids = chosen(&graph, selection)?;
    check_folder(&graph, selection).await?;
    let dest = folders::resolve_or_create(&graph, destination).await?;
    let body = json!({ "destinationId": dest }).to_string();
    let tail = if copy { "/copy" } else { "/move" };
    let steps = ids
        .iter()
        .map(|id| {
            (
                Method::POST,
                message_url(&graph, id, tail),
                Some(body.clone()),
            )
        })
        .collect();
    // a move sent twice finds the message gone (404: done); a copy sent twice copies twice
    each(&graph, steps, !copy).await
}

/// `DELETE /messages/{id}`: Graph moves the message to Deleted Items.
pub async fn delete(account: &Account, selection: &Selection) -> Result<()> {
    let graph = super::client(account, Doing::Read)?;
    let ids = chosen(&graph, selection)?;
    check_folder(&graph, selection).await?;
    let steps = ids
        .iter()
        .map(|id| (Method::DELETE, message_url(&graph, id, ""), None))
        .collect();
    each(&graph, steps, true).await
}

/// The folder `name` (display names separated by `/`; a first part may be a well-known name
/// such as `inbox`), its missing parts created.
pub async fn create_folder(account: &Account, name: &str) -> Result<()> {
    let graph = super::client(account, Doing::Read)?;
    if name.split('/').all(|p| p.trim().is_empty()) {
        return Err(Error::invalid_argument(
            account
                .config
                .language
                .pick("`name` names no folder", "`name` ne nomme aucun dossier"),
        ));
    }
    folders::resolve_or_create(&graph, name).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kql_values_are_bare_words_or_escaped_phrases() {
        assert_eq!(kql_value("alice@example.test"), "alice@example.test");
        assert_eq!(kql_value("hello world"), "\\\"hello world\\\"");
        assert_eq!(kql_value("say \"hi\"\\"), "\\\"say hi\\\"");
        assert_eq!(odata_string("it's"), "'it''s'");
    }

    #[test]
    fn property_tags_are_read_in_any_spelling() {
        assert_eq!(prop_tag("Integer 0x0E08"), Some(0x0E08));
        assert_eq!(prop_tag("integer 0xe08"), Some(0x0E08));
        assert_eq!(prop_tag("Integer 0x0E080003"), Some(0x0E08));
        assert_eq!(
            prop_tag("String {66f5a359-4659-4830-9070-00047ec6ac6e} Name X"),
            None
        );
        assert_eq!(
            message_ids(Some("<a@x> <b@y>,<c@z>")),
            vec!["a@x", "b@y", "c@z"]
        );
    }

    #[test]
    fn keys_go_to_filter_with_the_order_property_first_or_to_search() {
        let c = Criteria {
            unseen: Some(true),
            keyword: Some("Client's".into()),
            ..Default::default()
        };
        let p = plan(Lang::En, &c, Order::NewestFirst).unwrap();
        assert_eq!(
            p.filter,
            [
                "receivedDateTime ge 1900-01-01T00:00:00Z",
                "isRead eq false",
                "categories/any(c:c eq 'Client''s')"
            ]
        );
        assert_eq!(p.orderby, Some("receivedDateTime desc"));
        assert!(p.exact_total && p.search.is_none());
        let c = Criteria {
            since: Some("2026-02-01".into()),
            before: Some("2026-03-01".into()),
            ..Default::default()
        };
        let p = plan(Lang::En, &c, Order::OldestFirst).unwrap();
        assert_eq!(p.filter[0], "receivedDateTime ge 2026-02-01T00:00:00Z");
        assert_eq!(p.filter[1], "receivedDateTime lt 2026-03-01T00:00:00Z");
        let c = Criteria {
            from: Some("bob@example.test".into()),
            subject: Some("big news".into()),
            larger: Some(10),
            flagged: Some(true),
            ..Default::default()
        };
        let p = plan(Lang::En, &c, Order::NewestFirst).unwrap();
        assert_eq!(
            p.search.as_deref(),
            Some("from:bob@example.test AND subject:\\\"big news\\\" AND size>10")
        );
        assert!(p.filter.is_empty() && p.orderby.is_none() && !p.exact_total);
        let e = plan(Lang::En, &c, Order::OldestFirst).unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
    }

    #[test]
    fn a_message_maps_to_a_listing_entry() {
        let item = json!({
            "id": "AAMk1", "subject": "Caf\u{e9}", "isRead": true, "isDraft": false,
            "flag": {"flagStatus": "flagged"}, "categories": ["Red category"],
            "hasAttachments": true, "internetMessageId": "<m1@x>",
            "receivedDateTime": "2026-02-03T10:00:00Z", "sentDateTime": "2026-02-03T09:59:00Z",
            "from": {"emailAddress": {"name": "b@x", "address": "b@x"}},
            "toRecipients": [{"emailAddress": {"name": "Zo\u{e9}", "address": "z@x"}}],
            "singleValueExtendedProperties": [
                {"id": "Integer 0xe08", "value": "1234"},
                {"id": "String 0x1042", "value": "<p@x>"},
                {"id": "Integer 0x1081", "value": "102"}
            ]
        });
        let m = listed(&item).unwrap();
        assert_eq!(
            m.flags,
            ["\\Seen", "\\Flagged", "\\Answered", "Red category"]
        );
        assert_eq!(m.size, 1234);
        assert_eq!(m.envelope.from[0].name, None);
        assert_eq!(m.envelope.to[0].name.as_deref(), Some("Zo\u{e9}"));
        assert_eq!(m.envelope.message_id.as_deref(), Some("m1@x"));
        assert_eq!(m.envelope.in_reply_to, ["p@x"]);
        assert_eq!(m.envelope.date.as_deref(), Some("2026-02-03T09:59:00Z"));
        assert_eq!(m.internal_date, 1_770_112_800);
    }
}
