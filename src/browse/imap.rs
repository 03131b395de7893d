//! Browsing over IMAP: a listing is one UID SEARCH and one UID FETCH of headers, flags, size
//! and BODYSTRUCTURE per page (read-only: EXAMINE, BODY.PEEK); the actions are UID STORE, UID
//! MOVE (or COPY + \Deleted + UID EXPUNGE), UID EXPUNGE of exactly the chosen messages, and
//! CREATE. Every command that changes the mailbox must end with its tagged OK.

use super::listed::{Listed, Page};
use super::query::{Criteria, FlagChange, ListQuery, Order, Selection};
use crate::account::Account;
use crate::config::Protocol;
use crate::error::{Error, Result, Status};
use crate::fetch::{connect, Control, MessageMeta};
use crate::imap::commands::{checked, copy_or_move};
use crate::imap::mailbox::{self, Selected};
use crate::imap::session::map_err;
use crate::imap::{utf7, ImapSession};
use async_imap::imap_proto::BodyStructure;
use async_imap::types::Flag;
use futures_util::StreamExt;

/// UIDs per UID FETCH/STORE of chosen messages (bounds the command line).
const CHUNK: usize = 500;

fn host(account: &Account) -> String {
    account.config.incoming_host()
}

/// An authenticated session with `folder` selected (EXAMINE when `read_only`), checked against
/// the host's `uidvalidity` when given.
async fn open(
    account: &Account,
    folder: &str,
    read_only: bool,
    uidvalidity: Option<u32>,
) -> Result<(ImapSession, String, Selected)> {
    let host = host(account);
    let (mut s, _) = connect::imap(account).await?;
    let sel = match mailbox::select(&mut s, &host, folder, read_only).await {
        Ok(sel) => sel,
        Err(e) => {
            crate::imap::session::quit(&mut s).await;
            return Err(e);
        }
    };
    if let Some(v) = uidvalidity {
        if v != sel.uid_validity {
            crate::imap::session::quit(&mut s).await;
            return Err(uidvalidity_changed(account, folder));
        }
    }
    Ok((s, host, sel))
}

fn uidvalidity_changed(account: &Account, folder: &str) -> Error {
    Error::new(
        Status::InvalidArgument,
        account.config.language.pick_string(
            format!("The folder `{folder}` was rebuilt on the server (its UIDVALIDITY changed): its UIDs now name other messages; list it again"),
            format!("Le dossier `{folder}` a été reconstruit sur le serveur (son UIDVALIDITY a changé) : ses UID désignent d'autres messages ; listez-le de nouveau"),
        ),
    )
}

/// Runs `f` on the session, then logs out whatever `f` answered.
macro_rules! with_session {
    ($s:ident, $body:expr) => {{
        let r = $body;
        crate::imap::session::quit(&mut $s).await;
        r
    }};
}

/// An IMAP astring for SEARCH: a quoted string (UTF-8 is sent as is: servers that take
/// `CHARSET UTF-8` take it quoted — Dovecot, Gmail, Exchange).
fn quoted(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The SEARCH keys of `c` (and of a UID set), `ALL` when there are none; the second value tells
/// whether non-ASCII text needs `CHARSET UTF-8`.
pub fn search_keys(c: &Criteria, uids: Option<&str>) -> Result<(String, bool)> {
    let mut k: Vec<String> = Vec::new();
    let flag = |k: &mut Vec<String>, v: Option<bool>, on: &str, off: &str| match v {
        Some(true) => k.push(on.into()),
        Some(false) => k.push(off.into()),
        None => {}
    };
    flag(&mut k, c.unseen, "UNSEEN", "SEEN");
    flag(&mut k, c.flagged, "FLAGGED", "UNFLAGGED");
    flag(&mut k, c.answered, "ANSWERED", "UNANSWERED");
    if let Some(d) = &c.since {
        k.push(format!("SINCE {}", crate::fetch::options::imap_date(d)?));
    }
    if let Some(d) = &c.before {
        k.push(format!("BEFORE {}", crate::fetch::options::imap_date(d)?));
    }
    let mut utf8 = false;
    for (key, v) in [
        ("FROM", &c.from),
        ("TO", &c.to),
        ("SUBJECT", &c.subject),
        ("TEXT", &c.text),
    ] {
        if let Some(v) = v {
            utf8 |= !v.is_ascii();
            k.push(format!("{key} {}", quoted(v)));
        }
    }
    if let Some(n) = c.larger {
        k.push(format!("LARGER {n}"));
    }
    if let Some(n) = c.smaller {
        k.push(format!("SMALLER {n}"));
    }
    if let Some(kw) = &c.keyword {
        let f = super::query::Flag::of(kw)?;
        match f {
            super::query::Flag::Keyword(w) => k.push(format!("KEYWORD {w}")),
            other => k.push(other.imap().trim_start_matches('\\').to_uppercase()),
        }
    }
    if let Some(u) = uids {
        k.push(format!("UID {u}"));
    }
    if k.is_empty() {
        k.push("ALL".into());
    }
    Ok((k.join(" "), utf8))
}

/// `u<uidvalidity>.<uid>`: where the next page starts.
fn cursor(uidvalidity: u32, uid: u32) -> String {
    format!("u{uidvalidity}.{uid}")
}

fn parse_cursor(c: &str) -> Option<(u32, u32)> {
    let (v, u) = c.strip_prefix('u')?.split_once('.')?;
    Some((v.parse().ok()?, u.parse().ok()?))
}

/// A flag as IMAP names it.
pub fn flag_text(f: &Flag<'_>) -> String {
    match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(c) => c.to_string(),
    }
}

fn param_has(
    params: &Option<Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)>>,
    names: &[&str],
) -> bool {
    params.as_ref().is_some_and(|p| {
        p.iter().any(|(k, _)| {
            names.iter().any(|n| {
                k.eq_ignore_ascii_case(n) || k.to_ascii_lowercase().starts_with(&format!("{n}*"))
            })
        })
    })
}

/// Whether a BODYSTRUCTURE holds an attachment: a part with disposition `attachment`, an
/// attached message, or a non-text part with a file name that is not marked inline (the images
/// of an HTML body are inline, not attachments — as Outlook and Graph count them).
pub fn has_attachments(bs: &BodyStructure<'_>) -> bool {
    match bs {
        BodyStructure::Multipart { bodies, .. } => bodies.iter().any(has_attachments),
        BodyStructure::Message { common, .. } => common
            .disposition
            .as_ref()
            .is_none_or(|d| !d.ty.eq_ignore_ascii_case("inline")),
        BodyStructure::Basic { common, .. } | BodyStructure::Text { common, .. } => {
            match &common.disposition {
                Some(d) if d.ty.eq_ignore_ascii_case("attachment") => true,
                Some(d) if d.ty.eq_ignore_ascii_case("inline") => false,
                Some(d) => param_has(&d.params, &["filename"]),
                None => {
                    matches!(bs, BodyStructure::Basic { .. })
                        && param_has(&common.ty.params, &["name"])
                }
            }
        }
    }
}

/// One page of `query` (see [`crate::browse::list`]).
pub async fn list(account: &Account, query: &ListQuery) -> Result<Page> {
    let folder = query.folder();
    let start = match &query.cursor {
        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
            Error::invalid_argument(format!("`{c}` is not a cursor of an IMAP listing"))
        })?),
        None => None,
    };
    let (mut s, host, sel) = open(account, folder, true, start.map(|(v, _)| v)).await?;
    with_session!(
        s,
        list_in(&mut s, &host, sel, query, start.map(|(_, u)| u)).await
    )
}

async fn list_in(
    s: &mut ImapSession,
    host: &str,
    sel: Selected,
    query: &ListQuery,
    after: Option<u32>,
) -> Result<Page> {
    let (keys, utf8) = search_keys(&query.search, query.uids.as_deref())?;
    let command = if utf8 {
        format!("CHARSET UTF-8 {keys}")
    } else {
        keys
    };
    let mut uids: Vec<u32> = if sel.exists == 0 {
        Vec::new()
    } else {
        // the reply is one line listing every UID that matches
        s.get_mut()
            .set_max_line(crate::imap::guard::MAX_SEARCH_LINE);
        let found = s.uid_search(&command).await;
        s.get_mut().set_max_line(crate::imap::guard::MAX_LINE);
        found.map_err(map_err(host))?.into_iter().collect()
    };
    uids.sort_unstable();
    let total = uids.len() as u64;
    if query.order == Order::NewestFirst {
        uids.reverse();
    }
    if let Some(c) = after {
        uids.retain(|u| match query.order {
            Order::NewestFirst => *u < c,
            Order::OldestFirst => *u > c,
        });
    }
    let limit = query.limit();
    let more = uids.len() > limit;
    uids.truncate(limit);
    let mut page = Page {
        folder: query.folder().to_string(),
        uidvalidity: sel.uid_validity,
        total: Some(total),
        messages: Vec::with_capacity(uids.len()),
        next_cursor: None,
    };
    if uids.is_empty() {
        return Ok(page);
    }
    let mut sorted = uids.clone();
    sorted.sort_unstable();
    let mut found: std::collections::HashMap<u32, Listed> = std::collections::HashMap::new();
    {
        let mut replies = s
            .uid_fetch(
                mailbox::uid_set(&sorted),
                "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER])",
            )
            .await
            .map_err(map_err(host))?;
        while let Some(f) = replies.next().await {
            let f = f.map_err(map_err(host))?;
            let Some(uid) = f.uid else { continue };
            let envelope = crate::message::parsed::envelope_of_header(f.header().unwrap_or(b""));
            found.insert(
                uid,
                Listed {
                    id: uid.to_string(),
                    uid,
                    // \Recent says which session saw the message first: nothing to a host
                    flags: f
                        .flags()
                        .filter(|fl| *fl != Flag::Recent)
                        .map(|fl| flag_text(&fl))
                        .collect(),
                    size: u64::from(f.size.unwrap_or(0)),
                    internal_date: f.internal_date().map_or(0, |d| d.timestamp()),
                    has_attachments: f.bodystructure().is_some_and(has_attachments),
                    envelope,
                },
            );
        }
    }
    // in the page's order; a message expunged meanwhile is simply not there
    for u in &uids {
        if let Some(m) = found.remove(u) {
            page.messages.push(m);
        }
    }
    if more {
        page.next_cursor = uids.last().map(|u| cursor(sel.uid_validity, *u));
    }
    Ok(page)
}

/// The chosen messages whole (see [`crate::browse::fetch`]).
pub async fn fetch(
    account: &Account,
    selection: &Selection,
    mark_seen: bool,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<u32> {
    let uids = selection.imap_uids()?;
    let folder = selection.folder();
    let (mut s, host, sel) = open(account, folder, !mark_seen, selection.uidvalidity).await?;
    let max_message = account.config.max_message_bytes();
    with_session!(s, {
        let mut delivered = 0u32;
        let mut outcome: Result<()> = Ok(());
        'chunks: for chunk in uids.chunks(CHUNK) {
            let mut stop: Option<Control> = None;
            let (_, r) = mailbox::fetch(&mut s, &host, chunk, !mark_seen, max_message, |m| {
                let meta = MessageMeta {
                    uid: m.uid,
                    uidl: None,
                    uidvalidity: sel.uid_validity,
                    folder,
                    internal_date: m.internal_date.unwrap_or(0),
                    flags: &m.flags,
                    size: u64::from(m.size),
                    resync: false,
                    protocol: Protocol::Imap,
                };
                match deliver(&meta, m.body) {
                    Control::Continue => {
                        delivered += 1;
                        Ok(true)
                    }
                    other => {
                        stop = Some(other);
                        Ok(false)
                    }
                }
            })
            .await;
            match stop {
                Some(Control::Fail(e)) => {
                    outcome = Err(e);
                    break 'chunks;
                }
                Some(_) => break 'chunks,
                None => {}
            }
            if let Err(e) = r {
                outcome = Err(e);
                break;
            }
        }
        outcome.map(|_| delivered)
    })
}

/// Adds and removes flags (see [`crate::browse::set_flags`]).
pub async fn set_flags(
    account: &Account,
    selection: &Selection,
    change: &FlagChange,
) -> Result<()> {
    let uids = selection.imap_uids()?;
    let (add, remove) = change.flags()?;
    let (mut s, host, _) = open(account, selection.folder(), false, selection.uidvalidity).await?;
    with_session!(s, {
        let mut r = Ok(());
        for chunk in uids.chunks(CHUNK) {
            let set = mailbox::uid_set(chunk);
            for (sign, flags) in [("+", &add), ("-", &remove)] {
                if flags.is_empty() {
                    continue;
                }
                let list: Vec<String> = flags.iter().map(|f| f.imap()).collect();
                r = checked(
                    &mut s,
                    &host,
                    &format!("UID STORE {set} {sign}FLAGS.SILENT ({})", list.join(" ")),
                )
                .await;
                if r.is_err() {
                    break;
                }
            }
            if r.is_err() {
                break;
            }
        }
        r
    })
}

/// Moves or copies (see [`crate::browse::transfer`]).
pub async fn transfer(
    account: &Account,
    selection: &Selection,
    destination: &str,
    copy: bool,
) -> Result<()> {
    let uids = selection.imap_uids()?;
    let dest = utf7::encode(destination);
    let (mut s, host, _) = open(account, selection.folder(), copy, selection.uidvalidity).await?;
    with_session!(s, {
        let caps = s.capabilities().await.map_err(map_err(&host))?;
        let (can_move, uidplus) = (caps.has_str("MOVE"), caps.has_str("UIDPLUS"));
        let mut r = Ok(());
        for chunk in uids.chunks(CHUNK) {
            let set = mailbox::uid_set(chunk);
            r = if copy {
                copy_or_move(&mut s, &host, &set, &dest, false).await
            } else if can_move {
                copy_or_move(&mut s, &host, &set, &dest, true).await
            } else {
                match copy_or_move(&mut s, &host, &set, &dest, false).await {
                    Ok(()) => expunge(&mut s, &host, &set, uidplus).await,
                    e => e,
                }
            };
            if r.is_err() {
                break;
            }
        }
        r
    })
}

/// \Deleted on `set`, then UID EXPUNGE of exactly `set` when the server has UIDPLUS (a plain
/// EXPUNGE would also remove what other clients only marked).
async fn expunge(s: &mut ImapSession, host: &str, set: &str, uidplus: bool) -> Result<()> {
    checked(
        s,
        host,
        &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
    )
    .await?;
    if uidplus {
        checked(s, host, &format!("UID EXPUNGE {set}")).await?;
    }
    Ok(())
}

/// Deletes (see [`crate::browse::delete`]).
pub async fn delete(account: &Account, selection: &Selection) -> Result<()> {
    let uids = selection.imap_uids()?;
    let (mut s, host, _) = open(account, selection.folder(), false, selection.uidvalidity).await?;
    with_session!(s, {
        let caps = s.capabilities().await.map_err(map_err(&host))?;
        let uidplus = caps.has_str("UIDPLUS");
        let mut r = Ok(());
        for chunk in uids.chunks(CHUNK) {
            r = expunge(&mut s, &host, &mailbox::uid_set(chunk), uidplus).await;
            if r.is_err() {
                break;
            }
        }
        r
    })
}

/// Creates a folder (see [`crate::browse::create_folder`]); one that exists is fine.
pub async fn create_folder(account: &Account, name: &str) -> Result<()> {
    let host = host(account);
    let (mut s, _) = connect::imap(account).await?;
    with_session!(s, {
        let wire = utf7::encode(name);
        match s.create(&wire).await {
            Ok(()) => Ok(()),
            Err(async_imap::error::Error::No(text)) => {
                // already there (Dovecot: [ALREADYEXISTS]; others say so in words): check
                let folders = mailbox::list(&mut s, &host).await?;
                if folders.iter().any(|f| f.name == name) {
                    Ok(())
                } else {
                    Err(Error::new(
                        Status::InvalidArgument,
                        format!("{host} refused to create the folder `{name}`"),
                    )
                    .with_detail(crate::imap::session::server_text(&text)))
                }
            }
            Err(e) => Err(map_err(&host)(e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_keys_from_criteria() {
        let c = Criteria {
            unseen: Some(true),
            flagged: Some(false),
            since: Some("2026-02-01".into()),
            from: Some("dupont".into()),
            subject: Some("devis \"n°3\"".into()),
            larger: Some(1000),
            keyword: Some("crm-filed".into()),
            ..Default::default()
        };
        let (k, utf8) = search_keys(&c, Some("1:50")).unwrap();
        assert_eq!(
            k,
            "UNSEEN UNFLAGGED SINCE 1-Feb-2026 FROM \"dupont\" SUBJECT \"devis \\\"n°3\\\"\" LARGER 1000 KEYWORD crm-filed UID 1:50"
        );
        assert!(utf8);
        assert_eq!(
            search_keys(&Criteria::default(), None).unwrap(),
            ("ALL".into(), false)
        );
        assert!(search_keys(
            &Criteria {
                keyword: Some("a b".into()),
                ..Default::default()
            },
            None
        )
        .is_err());
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(parse_cursor(&cursor(17, 4242)), Some((17, 4242)));
        assert_eq!(parse_cursor("g123"), None);
    }
}
