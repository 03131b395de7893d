//! Fetching mail: only what was not fetched before, handed to the host one message at a time,
//! the state advancing only past messages the host accepted — so a crash, a cut connection or
//! an expired token never loses a message, and at most the one not yet accepted comes again.
//!
//! IMAP ([`crate::imap`]) and POP3 ([`pop3`]); the session is re-opened (with a fresh token)
//! when the server cuts it, and the fetch resumes where it stopped. What the host accepted is
//! marked, moved or deleted as asked; when that cannot be done before the session or the call
//! ends, it stays in the fetch state ([`state`]) and is done first by the next fetch.

pub mod check;
pub mod connect;
pub mod directory;
pub mod options;
pub mod pop3;
pub mod state;

use crate::account::Account;
use crate::config::Protocol;
use crate::error::{Error, Result, Status};
use crate::imap::commands::{checked, copy_or_move};
use crate::imap::mailbox::{self, Message};
use crate::imap::ImapSession;
use crate::log::Level;
use crate::om_log;
use options::{AfterDelivery, FetchOptions};
use serde::Serialize;
use state::FolderState;

/// What the host's callback gets with each message.
pub struct MessageMeta<'a> {
    /// IMAP: the UID. POP3: the message number in this session.
    pub uid: u32,
    /// POP3: the UIDL (the message's stable id); IMAP: none.
    pub uidl: Option<&'a str>,
    /// The folder's UIDVALIDITY: (uidvalidity, uid) names a message for good.
    pub uidvalidity: u32,
    pub folder: &'a str,
    /// Unix time the server received the message (0 if unknown).
    pub internal_date: i64,
    pub flags: &'a [String],
    pub size: u64,
    /// Delivered again after the folder's UIDVALIDITY changed: the host may have it already
    /// (compare Message-IDs).
    pub resync: bool,
    /// The transport that fetched it.
    pub protocol: Protocol,
}

/// The host's answer for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Accepted: the state advances past it.
    Continue,
    /// Accepted nothing more: stop here (this message is not accepted).
    Stop,
    /// The host failed with this message: stop with this error (not accepted).
    Fail(Error),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub folder: String,
    pub delivered: u32,
    /// New messages left on the server (max_messages reached, or the callback stopped).
    pub remaining: u32,
    pub stopped_by_callback: bool,
    pub uidvalidity: u32,
    pub last_uid: u32,
    pub uidvalidity_changed: bool,
    pub reconnects: u32,
    /// `delivered` when the last session failed (a timeout is retried only after progress).
    #[serde(skip)]
    pub(crate) delivered_at_last_failure: Option<u32>,
}

const MAX_RECONNECTS: u32 = 3;
const DEFAULT_BATCH: usize = 50;
/// The largest batch the default batch size grows to. Memory does not depend on it (each
/// message is handed over as it arrives); a batch's after-delivery step (delete, move) and its
/// bookkeeping do.
const MAX_GROWN_BATCH: usize = 2000;
/// How much each default batch grows over the last.
const BATCH_GROWTH: usize = 4;

/// Errors after which a new session may succeed (the server cut us, a read timed out), unless
/// the failing step already tried again.
pub(crate) fn retryable(e: &Error) -> bool {
    matches!(e.status, Status::NetworkError | Status::Timeout) && !e.retried
}

/// Refuses, before any network, an account that cannot fetch: no incoming server.
pub fn check_configured(config: &crate::config::Config) -> Result<()> {
    match &config.incoming {
        None => Err(Error::config(
            "configuration key `incoming`: no incoming server is configured",
        )),
        Some(_) => Ok(()),
    }
}

/// Fetches according to `opts`, calling `deliver` for each message on this thread.
pub async fn fetch(
    account: &Account,
    opts: &FetchOptions,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
) -> Result<Summary> {
    let server = account.config.incoming.clone().ok_or_else(|| {
        Error::config("configuration key `incoming`: no incoming server is configured")
    })?;
    match server.protocol {
        Protocol::Pop3 => return pop3::fetch(account, opts, deliver).await,
        Protocol::Graph => return crate::graph::fetch::fetch(account, opts, deliver).await,
        Protocol::GmailApi => return crate::gmail::fetch::fetch(account, opts, deliver).await,
        _ => {}
    }
    let folder = opts.folder().to_string();
    let user = connect::login_user(account, &server)?;
    let key = state::imap_key(&user, &folder);
    let only_new = opts.only_new.unwrap_or(account.config.options.skip_fetched);
    let since = opts.since.as_deref().map(options::imap_date).transpose()?;
    let batch = opts.batch_size.map(|b| b as usize).unwrap_or(DEFAULT_BATCH);
    let action = state::Action::of(opts);
    let mut summary = Summary {
        folder: folder.clone(),
        ..Default::default()
    };
    let mut attempt = 0;
    loop {
        let outcome = fetch_session(
            account,
            &Job {
                folder: &folder,
                key: &key,
                only_new,
                since: since.as_deref(),
                batch,
                grow: opts.batch_size.is_none(),
                max_messages: opts.max_messages,
                action: action.as_ref(),
            },
            deliver,
            &mut summary,
        )
        .await;
        if settle(account, outcome, &mut attempt, &mut summary)? {
            return Ok(summary);
        }
    }
}

/// What one IMAP fetch call asks for.
struct Job<'a> {
    folder: &'a str,
    /// The folder's state key.
    key: &'a str,
    only_new: bool,
    /// An IMAP SEARCH date.
    since: Option<&'a str>,
    batch: usize,
    /// Default batch size: each batch [`BATCH_GROWTH`] times the last, up to
    /// [`MAX_GROWN_BATCH`], so a long fetch costs a few round trips, not one per 50 messages
    /// (1,000 messages: 50, 200, 750).
    grow: bool,
    max_messages: Option<u32>,
    /// What to do with accepted messages on the server.
    action: Option<&'a state::Action>,
}

/// After a session: `Ok(true)` when the fetch is done (state flushed), `Ok(false)` to reconnect
/// (a retryable failure, within [`MAX_RECONNECTS`]), else the error (state flushed too).
pub(crate) fn settle(
    account: &Account,
    outcome: Result<()>,
    attempt: &mut u32,
    summary: &mut Summary,
) -> Result<bool> {
    match outcome {
        Ok(()) => {
            account.sync.persist()?;
            Ok(true)
        }
        // a server that let a session time out without delivering anything (it hangs while
        // the session opens, or on its first command) would hang again: one timeout, not four
        Err(e)
            if e.status == Status::Timeout
                && summary.delivered == summary.delivered_at_last_failure.unwrap_or(0) =>
        {
            let _ = account.sync.persist();
            Err(e)
        }
        Err(e) if retryable(&e) && *attempt < MAX_RECONNECTS => {
            summary.delivered_at_last_failure = Some(summary.delivered);
            *attempt += 1;
            summary.reconnects += 1;
            om_log!(
                Level::Warn,
                "account {}: {}; reconnecting ({attempt}/{MAX_RECONNECTS})",
                account.id,
                e
            );
            Ok(false)
        }
        Err(e) => {
            let _ = account.sync.persist();
            Err(e)
        }
    }
}

async fn fetch_session(
    account: &Account,
    job: &Job<'_>,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
    summary: &mut Summary,
) -> Result<()> {
    let (key, folder, only_new) = (job.key, job.folder, job.only_new);
    // actions left by an earlier session or call (it ended before they were done)
    let pending = account.sync.read(|s| s.imap_pending.get(key).cloned());
    let read_only = job.action.is_none() && pending.is_none();
    // the EXAMINE/SELECT may leave with an early login
    let select = mailbox::select_command(folder, read_only);
    let (mut session, _) = connect::imap_then(account, select.as_deref()).await?;
    let host = account.config.incoming_host();
    let sel = mailbox::select(&mut session, &host, folder, read_only).await?;
    let previous = account.sync.read(|s| s.imap.get(key).copied());
    let mut resync = false;
    let mut last = match previous {
        Some(p) if only_new && p.uidvalidity == sel.uid_validity => p.last_uid,
        Some(p) if only_new => {
            om_log!(
                Level::Warn,
                "account {}: UIDVALIDITY of `{folder}` changed ({} -> {}): resynchronising",
                account.id,
                p.uidvalidity,
                sel.uid_validity
            );
            summary.uidvalidity_changed = true;
            resync = true;
            0
        }
        _ => 0,
    };
    summary.uidvalidity = sel.uid_validity;
    let here = FolderState {
        uidvalidity: sel.uid_validity,
        last_uid: last,
    };
    account.sync.update(|s| {
        let mut changed = false;
        if only_new && s.imap.get(key) != Some(&here) {
            s.imap.insert(key.to_string(), here);
            changed = true;
        }
        if s.imap_pending
            .get(key)
            .is_some_and(|p| p.uidvalidity != sel.uid_validity)
        {
            // the folder was rebuilt: those UIDs name other messages now
            s.imap_pending.remove(key);
            changed = true;
        }
        changed
    })?;
    let pending: Vec<state::PendingAction> = pending
        .filter(|p| p.uidvalidity == sel.uid_validity)
        .map(|p| p.actions)
        .unwrap_or_default();
    // nothing new: no search at all
    let nothing_new = sel.exists == 0 || sel.uid_next.is_some_and(|n| n <= last.saturating_add(1));
    let mut uids = if nothing_new && job.since.is_none() {
        Vec::new()
    } else {
        mailbox::uids_after(&mut session, &host, last, job.since).await?
    };
    let limit = job
        .max_messages
        .map(|m| m.saturating_sub(summary.delivered) as usize);
    if let Some(l) = limit {
        if uids.len() > l {
            summary.remaining = (uids.len() - l) as u32;
            uids.truncate(l);
        }
    }
    // the capabilities matter only for deleting or moving: no extra round trip otherwise
    let (uidplus, can_move) = if (job.action.is_some() && !uids.is_empty()) || !pending.is_empty() {
        let caps = session
            .capabilities()
            .await
            .map_err(crate::imap::session::map_err(&host))?;
        (caps.has_str("UIDPLUS"), caps.has_str("MOVE"))
    } else {
        (false, false)
    };
    for p in &pending {
        om_log!(
            Level::Info,
            "account {}: finishing what an earlier fetch left undone on {} message(s) of `{folder}`",
            account.id,
            p.uids.len()
        );
        after_delivery(&mut session, &host, &p.action, &p.uids, uidplus, can_move).await?;
        account
            .sync
            .update(|s| s.remove_pending(key, &p.action, &p.uids))?;
    }
    let mut size = job.batch.max(1);
    let mut rest = &uids[..];
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        if job.grow {
            size = (size * BATCH_GROWTH).min(MAX_GROWN_BATCH.max(job.batch));
        }
        let mut stop: Option<(u32, Control)> = None;
        let max_message = account.config.max_message_bytes();
        let accepted = mailbox::fetch(
            &mut session,
            &host,
            chunk,
            true,
            max_message,
            |m: Message<'_>| {
                let meta = MessageMeta {
                    uid: m.uid,
                    uidl: None,
                    uidvalidity: sel.uid_validity,
                    folder,
                    internal_date: m.internal_date.unwrap_or(0),
                    flags: &m.flags,
                    size: u64::from(m.size),
                    resync,
                    protocol: Protocol::Imap,
                };
                match deliver(&meta, m.body) {
                    Control::Continue => {
                        // one write: past this message, and what is left to do with it
                        account.sync.update(|s| {
                            if only_new {
                                s.imap.insert(
                                    key.to_string(),
                                    FolderState {
                                        uidvalidity: sel.uid_validity,
                                        last_uid: m.uid,
                                    },
                                );
                            }
                            if let Some(a) = job.action {
                                s.add_pending(key, sel.uid_validity, a, m.uid);
                            }
                            only_new || job.action.is_some()
                        })?;
                        Ok(true)
                    }
                    other => {
                        stop = Some((m.uid, other));
                        Ok(false)
                    }
                }
            },
        )
        .await;
        let (accepted, outcome) = accepted;
        if let Some(&u) = accepted.last() {
            last = u;
        }
        summary.delivered += accepted.len() as u32;
        summary.last_uid = last;
        // accepted before a failure: their action stays pending for the next session or call
        outcome?;
        if let Some(a) = job.action {
            after_delivery(&mut session, &host, a, &accepted, uidplus, can_move).await?;
            account
                .sync
                .update(|s| s.remove_pending(key, a, &accepted))?;
        }
        match stop {
            None => {}
            Some((_, Control::Stop)) => {
                summary.stopped_by_callback = true;
                summary.remaining += uids.iter().filter(|u| **u > last).count() as u32;
                crate::imap::session::quit(&mut session).await;
                return Ok(());
            }
            Some((uid, Control::Fail(e))) => {
                crate::imap::session::quit(&mut session).await;
                return Err(Error {
                    message: format!(
                        "{} (message UID {uid}; nothing after UID {last} was accepted)",
                        e.message
                    ),
                    ..e
                });
            }
            Some((_, Control::Continue)) => {}
        }
    }
    summary.last_uid = summary.last_uid.max(last);
    crate::imap::session::quit(&mut session).await;
    Ok(())
}

/// Marks, deletes or moves the accepted messages.
async fn after_delivery(
    session: &mut ImapSession,
    host: &str,
    action: &state::Action,
    uids: &[u32],
    uidplus: bool,
    can_move: bool,
) -> Result<()> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = mailbox::uid_set(uids);
    // each command must end with its tagged OK: a connection lost before it is an error (the
    // streaming forms of async-imap end quietly then, which would pass a lost STORE as done)
    if action.mark_seen {
        checked(
            session,
            host,
            &format!("UID STORE {set} +FLAGS.SILENT (\\Seen)"),
        )
        .await?;
    }
    match action.after {
        AfterDelivery::Keep => {}
        AfterDelivery::Move if can_move => {
            let dest = crate::imap::utf7::encode(action.move_to.as_deref().unwrap_or(""));
            copy_or_move(session, host, &set, &dest, true).await?;
        }
        AfterDelivery::Move | AfterDelivery::Delete => {
            if action.after == AfterDelivery::Move {
                let dest = crate::imap::utf7::encode(action.move_to.as_deref().unwrap_or(""));
                copy_or_move(session, host, &set, &dest, false).await?;
            }
            checked(
                session,
                host,
                &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
            )
            .await?;
            if uidplus {
                checked(session, host, &format!("UID EXPUNGE {set}")).await?;
            } else {
                checked(session, host, "EXPUNGE").await?;
            }
        }
    }
    Ok(())
}
