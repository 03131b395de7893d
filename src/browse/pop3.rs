//! Browsing over POP3, as far as POP3 goes: a listing reads each message's header with
//! `TOP n 0` (no download), pages follow the UIDLs, and the only criteria are the header's
//! (from, to, subject, since, before: matched here) and the size (larger, smaller); chosen
//! messages are fetched with RETR and deleted with DELE (committed at QUIT). Flags, folders,
//! moves and copies do not exist in POP3.

use super::listed::{Listed, Page};
use super::query::{Criteria, ListQuery, Order, Selection};
use crate::account::Account;
use crate::config::Protocol;
use crate::error::{Error, Result};
use crate::fetch::{connect, Control, MessageMeta};
use crate::message::Envelope;
use std::collections::HashMap;

/// Largest header read with TOP.
const MAX_HEADER: usize = 1 << 20;

fn refuse_unsupported(q: &ListQuery) -> Result<()> {
    let c = &q.search;
    for (key, given) in [
        ("unseen", c.unseen.is_some()),
        ("flagged", c.flagged.is_some()),
        ("answered", c.answered.is_some()),
        ("text", c.text.is_some()),
        ("keyword", c.keyword.is_some()),
    ] {
        if given {
            return Err(Error::config(format!(
                "list options key `search.{key}`: POP3 cannot search by it (it has no flags and no server-side search): use IMAP"
            )));
        }
    }
    if q.uids.is_some() {
        return Err(Error::config(
            "list options key `uids`: POP3 has no UIDs (page with `cursor`)",
        ));
    }
    if q.folder() != "INBOX" {
        return Err(Error::config(
            "list options key `folder`: POP3 has only the INBOX",
        ));
    }
    Ok(())
}

fn contains(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn addresses_match(list: &[crate::message::parsed::Mailbox], needle: &str) -> bool {
    list.iter().any(|m| {
        m.name.as_deref().is_some_and(|n| contains(n, needle))
            || m.address.as_deref().is_some_and(|a| contains(a, needle))
    })
}

/// Midnight UTC of `YYYY-MM-DD`, Unix seconds.
fn day(d: &str) -> Option<i64> {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

/// Whether the header criteria of `c` hold for `e` (dates by the Date header, UTC days).
fn header_matches(c: &Criteria, e: &Envelope) -> bool {
    if let Some(f) = &c.from {
        if !addresses_match(&e.from, f) && !addresses_match(&e.sender, f) {
            return false;
        }
    }
    if let Some(t) = &c.to {
        if !addresses_match(&e.to, t) && !addresses_match(&e.cc, t) {
            return false;
        }
    }
    if let Some(s) = &c.subject {
        if !e.subject.as_deref().is_some_and(|x| contains(x, s)) {
            return false;
        }
    }
    if let Some(since) = c.since.as_deref().and_then(day) {
        if e.date_unix.is_none_or(|d| d < since) {
            return false;
        }
    }
    if let Some(before) = c.before.as_deref().and_then(day) {
        if e.date_unix.is_none_or(|d| d >= before) {
            return false;
        }
    }
    true
}

fn header_criteria(c: &Criteria) -> bool {
    c.from.is_some()
        || c.to.is_some()
        || c.subject.is_some()
        || c.since.is_some()
        || c.before.is_some()
}

/// A message with a multipart/mixed body has attachments, as far as its header tells.
fn mixed(header: &[u8]) -> bool {
    crate::message::parsed::parser()
        .parse_headers(header)
        .and_then(|m| {
            use mail_parser::MimeHeaders;
            m.content_type().map(|ct| {
                ct.c_type.eq_ignore_ascii_case("multipart")
                    && ct
                        .c_subtype
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case("mixed"))
            })
        })
        .unwrap_or(false)
}

/// One page (see [`crate::browse::list`]); the cursor is `p` + the last UIDL listed.
pub async fn list(account: &Account, query: &ListQuery) -> Result<Page> {
    refuse_unsupported(query)?;
    let (mut s, _) = connect::pop3(account).await?;
    let r = async {
        let mut listing = s.uidl_all().await?;
        let sizes: HashMap<u32, u64> = s.list_all().await?.into_iter().collect();
        if query.order == Order::NewestFirst {
            listing.reverse();
        }
        let mut start = 0;
        if let Some(c) = &query.cursor {
            let uidl = c.strip_prefix('p').ok_or_else(|| {
                Error::invalid_argument(format!("`{c}` is not a cursor of a POP3 listing"))
            })?;
            // the message of the cursor may be gone: start after the first one past it
            start = match listing.iter().position(|(_, u)| u == uidl) {
                Some(i) => i + 1,
                None => listing.len(),
            };
        }
        let c = &query.search;
        let size_ok = |n: u64| c.larger.is_none_or(|l| n > l) && c.smaller.is_none_or(|m| n < m);
        let total = (!header_criteria(c)).then(|| {
            listing
                .iter()
                .filter(|(n, _)| size_ok(sizes.get(n).copied().unwrap_or(0)))
                .count() as u64
        });
        let mut page = Page {
            folder: "INBOX".into(),
            total,
            ..Default::default()
        };
        let mut last = None;
        for (i, (n, uidl)) in listing.iter().enumerate().skip(start) {
            if page.messages.len() >= query.limit() {
                break;
            }
            last = Some(i);
            let size = sizes.get(n).copied().unwrap_or(0);
            if !size_ok(size) {
                continue;
            }
            let header = s.top_header(*n, MAX_HEADER).await?;
            let envelope = crate::message::parsed::envelope_of_header(&header);
            if !header_matches(c, &envelope) {
                continue;
            }
            page.messages.push(Listed {
                id: uidl.clone(),
                uid: *n,
                flags: Vec::new(),
                size,
                internal_date: 0,
                has_attachments: mixed(&header),
                envelope,
            });
        }
        if let Some(i) = last {
            if i + 1 < listing.len() {
                page.next_cursor = Some(format!("p{}", listing[i].1));
            }
        }
        Ok(page)
    }
    .await;
    let _ = s.quit().await;
    r
}

/// The chosen messages (by UIDL) with RETR (see [`crate::browse::fetch`]); POP3 has no read
/// flag, so `mark_seen` changes nothing.
pub async fn fetch(
    account: &Account,
    selection: &Selection,
    _mark_seen: bool,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<u32> {
    let ids = selection.string_ids("POP3")?;
    let max = account.config.max_message_bytes() as usize;
    let (mut s, _) = connect::pop3(account).await?;
    let r = async {
        let numbers: HashMap<String, u32> = s
            .uidl_all()
            .await?
            .into_iter()
            .map(|(n, u)| (u, n))
            .collect();
        let sizes: HashMap<u32, u64> = s.list_all().await?.into_iter().collect();
        let mut delivered = 0;
        for id in &ids {
            let Some(&n) = numbers.get(id) else { continue };
            let size = sizes.get(&n).copied();
            let data = s.retr(n, max, size).await?;
            let meta = MessageMeta {
                uid: n,
                uidl: Some(id),
                uidvalidity: 0,
                folder: "INBOX",
                internal_date: 0,
                flags: &[],
                size: size.unwrap_or(data.len() as u64),
                resync: false,
                protocol: Protocol::Pop3,
            };
            match deliver(&meta, &data) {
                Control::Continue => delivered += 1,
                Control::Stop => break,
                Control::Fail(e) => return Err(e),
            }
        }
        Ok(delivered)
    }
    .await;
    let _ = s.quit().await;
    r
}

/// DELE of the chosen UIDLs, committed by QUIT (an error there means the deletions may not have
/// been made). UIDLs no longer on the server are already deleted.
pub async fn delete(account: &Account, selection: &Selection) -> Result<()> {
    let ids = selection.string_ids("POP3")?;
    let (mut s, _) = connect::pop3(account).await?;
    let numbers: HashMap<String, u32> = match s.uidl_all().await {
        Ok(l) => l.into_iter().map(|(n, u)| (u, n)).collect(),
        Err(e) => {
            let _ = s.quit().await;
            return Err(e);
        }
    };
    for id in &ids {
        if let Some(&n) = numbers.get(id) {
            if let Err(e) = s.dele(n).await {
                let _ = s.rset().await;
                let _ = s.quit().await;
                return Err(e);
            }
        }
    }
    s.quit().await
}
