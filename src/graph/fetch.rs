//! New mail over Microsoft Graph: a delta query on the folder's messages, each new message's
//! MIME (`/$value`) handed to the host, several downloaded at once (bounded by Exchange's 4
//! concurrent requests per mailbox, so memory stays bounded too), the state advancing only past
//! what the host accepted — as for IMAP: a cut, a stop or a crash loses nothing and delivers
//! again at most the message not yet accepted.
//!
//! The state of a folder ([`GraphFolderState`]) is the delta link to read next and the
//! fingerprints of the messages delivered ([`Seen`]): a page is read again until every message
//! in it was accepted, and the messages already delivered are skipped. An expired or invalid
//! delta link (410, `syncStateNotFound`) restarts the sync from the start; what was delivered
//! before is still skipped and the messages delivered after the restart are flagged `resync`.

use super::actions;
use super::errors::Doing;
use super::folders;
use super::seen::Seen;
use super::{Graph, MAX_CONCURRENT};
use crate::account::Account;
use crate::error::{Error, Result, Status};
use crate::fetch::options::FetchOptions;
use crate::fetch::state::{self, Action, GraphFolderState};
use crate::fetch::{settle, Control, MessageMeta, Summary};
use crate::log::Level;
use crate::om_log;
use crate::rest::Body;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;

/// Messages per delta page by default (`batch_size` changes it).
const DEFAULT_PAGE: u32 = 50;
/// Most pages read in one call.
const MAX_PAGES: u32 = 100_000;
/// The fields the delta query asks for.
const SELECT: &str = "id,receivedDateTime,isRead,internetMessageId,subject";

/// Who the mailbox is, for the state key: the configured mailbox, else the login user.
pub fn mailbox_user(account: &Account) -> String {
    account
        .config
        .graph
        .as_ref()
        .and_then(|g| g.mailbox.clone())
        .or_else(|| account.config.sasl_user().map(str::to_string))
        .unwrap_or_default()
}

struct Job<'a> {
    folder: &'a str,
    key: &'a str,
    only_new: bool,
    since: Option<String>,
    page: u32,
    max_messages: Option<u32>,
    action: Option<&'a Action>,
}

/// Fetches according to `opts` from the account's Graph mailbox.
pub async fn fetch(
    account: &Account,
    opts: &FetchOptions,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<Summary> {
    let graph = super::client(account, Doing::Read)?;
    let folder = opts.folder().to_string();
    // Exchange's folder names are case-insensitive: so is the state's key
    let key = state::imap_key(&mailbox_user(account), &folder.to_lowercase());
    let since = match &opts.since {
        Some(d) => {
            crate::fetch::options::imap_date(d)?;
            Some(format!("{d}T00:00:00Z"))
        }
        None => None,
    };
    let action = Action::of(opts);
    let job = Job {
        folder: &folder,
        key: &key,
        only_new: opts.only_new.unwrap_or(account.config.options.skip_fetched),
        since,
        page: opts.batch_size.unwrap_or(DEFAULT_PAGE).clamp(1, 1000),
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
        let outcome = sync(&graph, &job, deliver, &mut summary, &mut resync).await;
        if settle(account, outcome, &mut attempt, &mut summary)? {
            return Ok(summary);
        }
    }
}

/// One page: its messages or the news that the sync must start again.
enum Page {
    Items(Value),
    Reset(Error),
}

async fn read_page(graph: &Graph<'_>, link: &str, page: u32) -> Result<Page> {
    let prefer = format!("odata.maxpagesize={page}");
    let r = graph
        .call(
            Method::GET,
            link,
            Body::None,
            &[("Prefer", prefer.as_str())],
            32 << 20,
            true,
        )
        .await?;
    if let Err(e) = graph.expect_ok(&r) {
        let (code, _) = super::errors::code_and_message(&r.body);
        let code = code.to_ascii_lowercase();
        let reset = r.status == 410
            || code.contains("syncstatenotfound")
            || code.contains("resyncrequired")
            || code.contains("syncstateinvalid");
        return Ok(if reset { Page::Reset(e) } else { return Err(e) });
    }
    Ok(Page::Items(r.json()?))
}

fn initial_link(graph: &Graph<'_>, folder_id: &str, since: Option<&str>) -> String {
    let id: String = url::form_urlencoded::byte_serialize(folder_id.as_bytes()).collect();
    let mut link = graph.url(&format!("mailFolders/{id}/messages/delta?$select={SELECT}"));
    if let Some(s) = since {
        link.push_str("&$filter=receivedDateTime%20ge%20");
        link.push_str(s);
    }
    link
}

/// A message listed by the delta query.
struct Listed {
    id: String,
    received: i64,
    read: bool,
}

/// The MIME of message `id`; `None` when it is gone (moved or deleted since it was listed).
async fn mime(graph: &Graph<'_>, id: &str) -> Result<Option<Vec<u8>>> {
    let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let limit = usize::try_from(graph.account.config.max_message_bytes()).unwrap_or(usize::MAX);
    let r = graph
        .call(
            Method::GET,
            &graph.url(&format!("messages/{enc}/$value")),
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
    Ok(Some(r.body))
}

fn save_folder_state(account: &Account, key: &str, link: Option<&str>, seen: &Seen) -> Result<()> {
    account.sync.update(|s| {
        let entry = s.graph.entry(key.to_string()).or_default();
        let new = GraphFolderState {
            link: link.map(str::to_string).or_else(|| entry.link.clone()),
            seen: seen.encode(),
        };
        let changed = *entry != new;
        *entry = new;
        changed
    })
}

async fn sync(
    graph: &Graph<'_>,
    job: &Job<'_>,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
    summary: &mut Summary,
    resync: &mut bool,
) -> Result<()> {
    let account = graph.account;
    let folder_id = folders::resolve(graph, job.folder).await?;
    let destination = match job.action {
        Some(a) if a.after == crate::fetch::options::AfterDelivery::Move => {
            Some(folders::resolve_or_create(graph, a.move_to.as_deref().unwrap_or("")).await?)
        }
        _ => None,
    };
    // what an earlier call accepted but could not finish on the server
    let pending = account
        .sync
        .read(|s| s.graph_pending.get(job.key).cloned())
        .unwrap_or_default();
    for p in &pending {
        om_log!(
            Level::Info,
            "account {}: finishing what an earlier fetch left undone on {} message(s) of `{}`",
            account.id,
            p.ids.len(),
            job.folder
        );
        let dest = match (&p.action.after, &destination, &p.action.move_to) {
            (crate::fetch::options::AfterDelivery::Move, Some(d), Some(m))
                if Some(m) == job.action.and_then(|a| a.move_to.as_ref()) =>
            {
                Some(d.clone())
            }
            (crate::fetch::options::AfterDelivery::Move, _, Some(m)) => {
                Some(folders::resolve_or_create(graph, m).await?)
            }
            _ => None,
        };
        actions::apply(graph, &p.action, &p.ids, dest.as_deref()).await?;
        account
            .sync
            .update(|s| s.remove_graph_pending(job.key, &p.action, &p.ids))?;
    }

    let initial = initial_link(graph, &folder_id, job.since.as_deref());
    let stored = if job.only_new {
        account.sync.read(|s| s.graph.get(job.key).cloned())
    } else {
        None
    };
    let mut seen = stored
        .as_ref()
        .map(|s| Seen::decode(&s.seen))
        .unwrap_or_default();
    let mut link = stored
        .and_then(|s| s.link)
        .unwrap_or_else(|| initial.clone());
    let mut restarted = false;
    for _ in 0..MAX_PAGES {
        let mut page = match read_page(graph, &link, job.page).await? {
            Page::Items(p) => p,
            Page::Reset(e) if !restarted && link != initial => {
                om_log!(
                    Level::Warn,
                    "account {}: the delta sync of `{}` must start again ({}): resynchronising",
                    account.id,
                    job.folder,
                    e.detail.as_deref().unwrap_or(&e.message)
                );
                restarted = true;
                *resync = true;
                if job.only_new {
                    account.sync.update(|s| {
                        s.graph
                            .get_mut(job.key)
                            .is_some_and(|e| e.link.take().is_some())
                    })?;
                }
                summary.uidvalidity_changed = true;
                link = initial.clone();
                continue;
            }
            Page::Reset(e) => return Err(e),
        };
        let items = match page["value"].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        let mut removed_any = false;
        let mut new: Vec<Listed> = Vec::new();
        for item in &items {
            let Some(id) = item["id"].as_str() else {
                continue;
            };
            if item.get("@removed").is_some() {
                removed_any |= seen.remove(id);
                continue;
            }
            if seen.contains(id) || new.iter().any(|n| n.id == id) {
                continue; // delivered before: this is a change (read, flagged), not new mail
            }
            new.push(Listed {
                id: id.to_string(),
                received: item["receivedDateTime"]
                    .as_str()
                    .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                    .map_or(0, |d| d.timestamp()),
                read: item["isRead"].as_bool().unwrap_or(false),
            });
        }
        if removed_any && job.only_new {
            save_folder_state(account, job.key, None, &seen)?;
        }
        let mut truncated = false;
        if let Some(max) = job.max_messages {
            let left = max.saturating_sub(summary.delivered) as usize;
            if new.len() > left {
                summary.remaining += (new.len() - left) as u32;
                new.truncate(left);
                truncated = true;
            }
        }
        // up to MAX_CONCURRENT downloads at once, handed over in the page's order
        let mut downloads = futures_util::stream::iter(
            new.iter()
                .map(|m| async move { mime(graph, &m.id).await.map(|b| (m, b)) }),
        )
        .buffered(MAX_CONCURRENT);
        let mut accepted: Vec<String> = Vec::new();
        let mut end: Option<Result<()>> = None;
        let mut handed = 0usize;
        while let Some(next) = downloads.next().await {
            handed += 1;
            let (m, bytes) = match next {
                Ok(x) => x,
                Err(e) => {
                    end = Some(Err(e));
                    break;
                }
            };
            let Some(bytes) = bytes else {
                continue; // gone since it was listed: nothing to deliver
            };
            let flags = if m.read {
                vec!["\\Seen".to_string()]
            } else {
                Vec::new()
            };
            let meta = MessageMeta {
                uid: 0,
                uidl: Some(&m.id),
                uidvalidity: 0,
                folder: job.folder,
                internal_date: m.received,
                flags: &flags,
                size: bytes.len() as u64,
                resync: *resync,
                protocol: crate::config::Protocol::Graph,
            };
            match deliver(&meta, &bytes) {
                Control::Continue => {
                    if job.only_new {
                        seen.insert(&m.id);
                    }
                    let enc = job.only_new.then(|| seen.encode());
                    account.sync.update(|s| {
                        if let Some(enc) = enc {
                            let e = s.graph.entry(job.key.to_string()).or_default();
                            if e.link.is_none() {
                                e.link = Some(link.clone());
                            }
                            e.seen = enc;
                        }
                        if let Some(a) = job.action {
                            s.add_graph_pending(job.key, a, &m.id);
                        }
                        job.only_new || job.action.is_some()
                    })?;
                    accepted.push(m.id.clone());
                    summary.delivered += 1;
                }
                Control::Stop => {
                    summary.stopped_by_callback = true;
                    // this message and the ones after it in the page
                    summary.remaining += (new.len() + 1 - handed) as u32;
                    end = Some(Ok(()));
                    break;
                }
                Control::Fail(e) => {
                    end = Some(Err(Error {
                        message: format!(
                            "{} (message {}; the messages before it were accepted)",
                            e.message, m.id
                        ),
                        ..e
                    }));
                    break;
                }
            }
        }
        drop(downloads);
        if let Some(a) = job.action {
            if !accepted.is_empty() {
                actions::apply(graph, a, &accepted, destination.as_deref()).await?;
                account
                    .sync
                    .update(|s| s.remove_graph_pending(job.key, a, &accepted))?;
            }
        }
        if let Some(end) = end {
            return end;
        }
        if truncated {
            return Ok(()); // the page is read again next time; what was accepted is skipped
        }
        // every message of the page was accepted: the state moves past it
        let next = page["@odata.nextLink"]
            .as_str()
            .or_else(|| page["@odata.deltaLink"].as_str())
            .map(str::to_string);
        let Some(next) = next else {
            return Err(Error::new(
                Status::ProtocolError,
                "Microsoft Graph answered a delta page with neither @odata.nextLink nor @odata.deltaLink",
            ));
        };
        if job.only_new {
            save_folder_state(account, job.key, Some(&next), &seen)?;
        }
        if page.get("@odata.deltaLink").is_some() && page.get("@odata.nextLink").is_none() {
            return Ok(());
        }
        link = next;
    }
    Err(Error::new(
        Status::ProtocolError,
        format!("Microsoft Graph's delta query did not end after {MAX_PAGES} pages"),
    ))
}
