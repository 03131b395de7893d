//! Fetching mail: only what was not fetched before, handed to the host one message at a time,
//! the state advancing only past messages the host accepted — so a crash, a cut connection or
//! an expired token never loses a message, and at most the one not yet accepted comes again.
//!
//! IMAP for now ([`crate::imap`]); the session is re-opened (with a fresh token) when the
//! server cuts it, and the fetch resumes where it stopped.

pub mod check;
pub mod connect;
pub mod directory;
pub mod options;
pub mod pop3;
pub mod state;

use crate::account::Account;
use crate::config::Protocol;
use crate::error::{Error, Result, Status};
use crate::imap::mailbox::{self, Message};
use crate::imap::ImapSession;
use crate::log::Level;
use crate::om_log;
use futures_util::StreamExt;
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
}

const MAX_RECONNECTS: u32 = 3;
const DEFAULT_BATCH: usize = 50;

/// Messages accepted in a session that failed before they were marked, moved or deleted.
#[derive(Default)]
struct Carry {
    uidvalidity: u32,
    uids: Vec<u32>,
}

impl Carry {
    fn note(&mut self, uidvalidity: u32, uids: &[u32]) {
        if self.uidvalidity != uidvalidity {
            self.uids.clear();
            self.uidvalidity = uidvalidity;
        }
        self.uids.extend_from_slice(uids);
    }
}

/// Errors after which a new session may succeed (the server cut us, a read timed out).
fn retryable(e: &Error) -> bool {
    matches!(e.status, Status::NetworkError | Status::Timeout)
}

/// Refuses, before any network, an account that cannot fetch: no incoming server, or POP3
/// (not available yet).
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
    if server.protocol == Protocol::Pop3 {
        return pop3::fetch(account, opts, deliver).await;
    }
    let folder = opts.folder().to_string();
    let user = connect::login_user(account, &server)?;
    let key = state::imap_key(&user, &server.host, server.port, &folder);
    let only_new = opts.only_new.unwrap_or(account.config.options.skip_fetched);
    let since = opts.since.as_deref().map(options::imap_date).transpose()?;
    let batch = opts.batch_size.map(|b| b as usize).unwrap_or(DEFAULT_BATCH);
    let mut summary = Summary {
        folder: folder.clone(),
        ..Default::default()
    };
    let mut attempt = 0;
    let mut carry = Carry::default();
    loop {
        let outcome = fetch_session(
            account,
            opts,
            &folder,
            &key,
            only_new,
            since.as_deref(),
            batch,
            deliver,
            &mut summary,
            &mut carry,
        )
        .await;
        if settle(account, outcome, &mut attempt, &mut summary)? {
            return Ok(summary);
        }
    }
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
            account.persist_sync_state()?;
            Ok(true)
        }
        Err(e) if retryable(&e) && *attempt < MAX_RECONNECTS => {
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
            let _ = account.persist_sync_state();
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn fetch_session(
    account: &Account,
    opts: &FetchOptions,
    folder: &str,
    key: &str,
    only_new: bool,
    since: Option<&str>,
    batch: usize,
    deliver: &mut dyn FnMut(&MessageMeta<'_>, &[u8]) -> Control,
    summary: &mut Summary,
    carry: &mut Carry,
) -> Result<()> {
    let (mut session, _) = connect::imap(account).await?;
    let host = account
        .config
        .incoming
        .as_ref()
        .map(|s| s.host.clone())
        .unwrap_or_default();
    let read_only = opts.after_delivery == AfterDelivery::Keep && !opts.mark_seen;
    let sel = mailbox::select(&mut session, &host, folder, read_only).await?;
    let previous = account.folder_state(key);
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
    if only_new {
        account.set_folder_state(
            key,
            FolderState {
                uidvalidity: sel.uid_validity,
                last_uid: last,
            },
        )?;
    }
    // nothing new: no search at all
    let nothing_new = sel.exists == 0 || sel.uid_next.is_some_and(|n| n <= last.saturating_add(1));
    let mut uids = if nothing_new && since.is_none() {
        Vec::new()
    } else {
        mailbox::uids_after(&mut session, &host, last, since).await?
    };
    let limit = opts
        .max_messages
        .map(|m| m.saturating_sub(summary.delivered) as usize);
    if let Some(l) = limit {
        if uids.len() > l {
            summary.remaining = (uids.len() - l) as u32;
            uids.truncate(l);
        }
    }
    // the capabilities matter only for deleting or moving: no extra round trip otherwise
    let (uidplus, can_move) = if (opts.after_delivery != AfterDelivery::Keep || opts.mark_seen)
        && (!uids.is_empty() || !carry.uids.is_empty())
    {
        let caps = session
            .capabilities()
            .await
            .map_err(crate::imap::session::map_err(&host))?;
        (caps.has_str("UIDPLUS"), caps.has_str("MOVE"))
    } else {
        (false, false)
    };
    // messages accepted in a session that failed before their after-delivery step
    if !carry.uids.is_empty() {
        if carry.uidvalidity == sel.uid_validity {
            after_delivery(&mut session, &host, opts, &carry.uids, uidplus, can_move).await?;
        }
        carry.uids.clear();
    }
    for chunk in uids.chunks(batch) {
        let mut stop: Option<(u32, Control)> = None;
        let accepted = mailbox::fetch(&mut session, &host, chunk, true, |m: Message<'_>| {
            let meta = MessageMeta {
                uid: m.uid,
                uidl: None,
                uidvalidity: sel.uid_validity,
                folder,
                internal_date: m.internal_date.unwrap_or(0),
                flags: &m.flags,
                size: u64::from(m.size),
                resync,
            };
            match deliver(&meta, m.body) {
                Control::Continue => {
                    if only_new {
                        account.set_folder_state(
                            key,
                            FolderState {
                                uidvalidity: sel.uid_validity,
                                last_uid: m.uid,
                            },
                        )?;
                    }
                    Ok(true)
                }
                other => {
                    stop = Some((m.uid, other));
                    Ok(false)
                }
            }
        })
        .await;
        let (accepted, outcome) = accepted;
        if let Some(&u) = accepted.last() {
            last = u;
        }
        summary.delivered += accepted.len() as u32;
        summary.last_uid = last;
        if let Err(e) = outcome {
            // accepted before the failure: their after-delivery step is done by the next session
            carry.note(sel.uid_validity, &accepted);
            return Err(e);
        }
        if let Err(e) =
            after_delivery(&mut session, &host, opts, &accepted, uidplus, can_move).await
        {
            carry.note(sel.uid_validity, &accepted);
            return Err(e);
        }
        match stop {
            None => {}
            Some((_, Control::Stop)) => {
                summary.stopped_by_callback = true;
                summary.remaining += uids.iter().filter(|u| **u > last).count() as u32;
                let _ = session.logout().await;
                return Ok(());
            }
            Some((uid, Control::Fail(e))) => {
                let _ = session.logout().await;
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
    let _ = session.logout().await;
    Ok(())
}

/// Marks, deletes or moves the accepted messages.
async fn after_delivery(
    session: &mut ImapSession,
    host: &str,
    opts: &FetchOptions,
    uids: &[u32],
    uidplus: bool,
    can_move: bool,
) -> Result<()> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = mailbox::uid_set(uids);
    let err = crate::imap::session::map_err(host);
    if opts.mark_seen {
        drain(
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                .await
                .map_err(&err)?,
        )
        .await?;
    }
    match opts.after_delivery {
        AfterDelivery::Keep => {}
        AfterDelivery::Move if can_move => {
            let dest = crate::imap::utf7::encode(opts.move_to.as_deref().unwrap_or(""));
            copy_or_move(session, host, &set, &dest, true).await?;
        }
        AfterDelivery::Move | AfterDelivery::Delete => {
            if opts.after_delivery == AfterDelivery::Move {
                let dest = crate::imap::utf7::encode(opts.move_to.as_deref().unwrap_or(""));
                copy_or_move(session, host, &set, &dest, false).await?;
            }
            drain(
                session
                    .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .await
                    .map_err(&err)?,
            )
            .await?;
            if uidplus {
                let s = session.uid_expunge(&set).await.map_err(&err)?;
                futures_util::pin_mut!(s);
                while let Some(r) = s.next().await {
                    r.map_err(&err)?;
                }
            } else {
                let s = session.expunge().await.map_err(&err)?;
                futures_util::pin_mut!(s);
                while let Some(r) = s.next().await {
                    r.map_err(&err)?;
                }
            }
        }
    }
    Ok(())
}

/// UID MOVE (or COPY) to `dest` (wire name), creating it when the server says TRYCREATE.
async fn copy_or_move(
    session: &mut ImapSession,
    host: &str,
    set: &str,
    dest: &str,
    mv: bool,
) -> Result<()> {
    let err = crate::imap::session::map_err(host);
    for attempt in 0..2 {
        let r = if mv {
            session.uid_mv(set, dest).await
        } else {
            session.uid_copy(set, dest).await
        };
        match r {
            Ok(()) => return Ok(()),
            Err(async_imap::error::Error::No(_)) if attempt == 0 => {
                // most often: the destination does not exist yet
                session.create(dest).await.map_err(&err)?;
            }
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}

async fn drain<S, T>(s: S) -> Result<()>
where
    S: futures_util::Stream<Item = async_imap::error::Result<T>>,
{
    futures_util::pin_mut!(s);
    while let Some(r) = s.next().await {
        r.map_err(|e| {
            Error::new(
                Status::ProtocolError,
                format!("server refused a flag change: {e}"),
            )
        })?;
    }
    Ok(())
}
