//! What has been fetched already, and what is still to be done on the server for messages the
//! host accepted: exported and imported as JSON for the host to persist, or kept in the
//! account's `state_file`.
//!
//! A mailbox is named by what identifies it — the login user and the folder (whose
//! UIDVALIDITY is kept beside), or the user for POP3 (whose UIDLs are kept) — not by how it is
//! reached: changing the port, the security or the spelling of the host name does not make
//! old mail new again.
//!
//! Format 2 (this one) keys entries `user/folder` (IMAP) and `user` (POP3), users in lower
//! case. Format 1 keyed them `imap://user@host:port/folder` and `pop3://user@host:port`; it is
//! still read, and converted.

use super::options::AfterDelivery;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

pub const FORMAT: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderState {
    pub uidvalidity: u32,
    /// Highest UID accepted by the host; everything at or below it was delivered.
    pub last_uid: u32,
}

/// What to do on the server with a message the host accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mark_seen: bool,
    pub after: AfterDelivery,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<String>,
}

impl Action {
    /// The action a fetch asks for, `None` when there is nothing to do.
    pub fn of(opts: &super::options::FetchOptions) -> Option<Action> {
        if !opts.mark_seen && opts.after_delivery == AfterDelivery::Keep {
            return None;
        }
        Some(Action {
            mark_seen: opts.mark_seen,
            after: opts.after_delivery,
            move_to: opts.move_to.clone(),
        })
    }
}

/// Accepted IMAP messages whose action is not confirmed done yet, by action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapPending {
    pub uidvalidity: u32,
    pub actions: Vec<PendingAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingAction {
    pub action: Action,
    pub uids: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncState {
    pub format: u32,
    /// Key: `user/folder`.
    #[serde(default)]
    pub imap: BTreeMap<String, FolderState>,
    /// Key: `user`; value: the UIDLs accepted and still on the server.
    #[serde(default)]
    pub pop3: BTreeMap<String, Vec<String>>,
    /// Key: `user/folder`: after-delivery actions still to do.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub imap_pending: BTreeMap<String, ImapPending>,
    /// Key: `user`: UIDLs accepted with "delete" whose deletion is not committed yet.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pop3_pending_delete: BTreeMap<String, Vec<String>>,
    /// Key: `user/folder`: Microsoft Graph's delta sync of the folder.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub graph: BTreeMap<String, GraphFolderState>,
    /// Key: `user/folder`: Graph messages accepted whose after-delivery action is not done yet.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub graph_pending: BTreeMap<String, Vec<GraphPending>>,
    /// Key: `user/label`: the Gmail API's sync of the label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gmail: BTreeMap<String, GmailLabelState>,
    /// Key: `user/label`: Gmail messages accepted whose after-delivery action is not done yet.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gmail_pending: BTreeMap<String, Vec<GraphPending>>,
}

/// Where a Gmail label's sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GmailLabelState {
    /// The mailbox's historyId from which new mail is read; none before the first full listing
    /// of the label ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<String>,
    /// A full listing under way: the historyId taken before it began (what comes after it is
    /// read from history once the listing is done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_from: Option<String>,
    /// Messages accepted since `history_id` (or during the listing): skipped when read again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<String>,
}

/// Where a Graph folder's sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphFolderState {
    /// The delta link to read next: a page's `@odata.nextLink` while a sync is under way, the
    /// `@odata.deltaLink` once it ended. Only replaced when every message of the page it
    /// produced was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Fingerprints of the messages delivered and still in the folder (8 bytes of SHA-256 of
    /// the id each, base64url): a delta query lists changed messages as well as new ones.
    #[serde(default)]
    pub seen: String,
}

/// Graph messages accepted with `action` that is not confirmed done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphPending {
    pub action: Action,
    pub ids: Vec<String>,
}

/// Format 1, read for conversion.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncStateV1 {
    #[allow(dead_code)]
    format: u32,
    #[serde(default)]
    imap: BTreeMap<String, FolderState>,
    #[serde(default)]
    pop3: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

impl SyncState {
    pub fn new() -> SyncState {
        SyncState {
            format: FORMAT,
            ..Default::default()
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_json(json: &str) -> Result<SyncState> {
        use crate::json::parse;
        let what = "sync state";
        let status = crate::Status::InvalidArgument;
        let format: FormatOnly = parse(json, what, status)?;
        match format.format {
            FORMAT => parse(json, what, status),
            1 => Ok(SyncState::from_v1(parse(json, what, status)?)),
            n => Err(Error::invalid_argument(format!(
                "sync state JSON: format {n} is not supported (this library reads formats 1 and {FORMAT})"
            ))),
        }
    }

    /// Records that `uid` (in a folder of `uidvalidity`) awaits `action`.
    pub fn add_pending(&mut self, key: &str, uidvalidity: u32, action: &Action, uid: u32) {
        let p = self
            .imap_pending
            .entry(key.to_string())
            .or_insert_with(|| ImapPending {
                uidvalidity,
                actions: Vec::new(),
            });
        if p.uidvalidity != uidvalidity {
            p.uidvalidity = uidvalidity;
            p.actions.clear();
        }
        match p.actions.iter_mut().find(|a| &a.action == action) {
            Some(a) => a.uids.push(uid),
            None => p.actions.push(PendingAction {
                action: action.clone(),
                uids: vec![uid],
            }),
        }
    }

    /// Records that `action` was done for `uids`; true when something changed.
    pub fn remove_pending(&mut self, key: &str, action: &Action, uids: &[u32]) -> bool {
        let Some(p) = self.imap_pending.get_mut(key) else {
            return false;
        };
        let before: usize = p.actions.iter().map(|a| a.uids.len()).sum();
        for a in p.actions.iter_mut().filter(|a| &a.action == action) {
            a.uids.retain(|u| !uids.contains(u));
        }
        p.actions.retain(|a| !a.uids.is_empty());
        let after: usize = p.actions.iter().map(|a| a.uids.len()).sum();
        if p.actions.is_empty() {
            self.imap_pending.remove(key);
        }
        after != before
    }

    /// Records that Graph message `id` awaits `action`.
    pub fn add_graph_pending(&mut self, key: &str, action: &Action, id: &str) {
        add_pending_id(&mut self.graph_pending, key, action, id)
    }

    /// Records that `action` was done for Graph messages `ids`; true when something changed.
    pub fn remove_graph_pending(&mut self, key: &str, action: &Action, ids: &[String]) -> bool {
        remove_pending_ids(&mut self.graph_pending, key, action, ids)
    }

    /// Records that Gmail message `id` awaits `action`.
    pub fn add_gmail_pending(&mut self, key: &str, action: &Action, id: &str) {
        add_pending_id(&mut self.gmail_pending, key, action, id)
    }

    /// Records that `action` was done for Gmail messages `ids`; true when something changed.
    pub fn remove_gmail_pending(&mut self, key: &str, action: &Action, ids: &[String]) -> bool {
        remove_pending_ids(&mut self.gmail_pending, key, action, ids)
    }

    fn from_v1(v1: SyncStateV1) -> SyncState {
        let mut s = SyncState::new();
        for (k, f) in v1.imap {
            let key = match k.strip_prefix("imap://").and_then(|r| r.split_once('/')) {
                Some((authority, folder)) => imap_key(user_of(authority), folder),
                None => k,
            };
            // two spellings of one server: keep the furthest progress
            let e = s.imap.entry(key).or_insert(f);
            if e.uidvalidity == f.uidvalidity && f.last_uid > e.last_uid {
                *e = f;
            }
        }
        for (k, seen) in v1.pop3 {
            let key = match k.strip_prefix("pop3://") {
                Some(authority) => pop3_key(user_of(authority)),
                None => k,
            };
            let e = s.pop3.entry(key).or_default();
            for u in seen {
                if !e.contains(&u) {
                    e.push(u);
                }
            }
        }
        s
    }
}

/// Records that message `id` (an id-named message: Graph, Gmail) awaits `action`.
fn add_pending_id(
    map: &mut BTreeMap<String, Vec<GraphPending>>,
    key: &str,
    action: &Action,
    id: &str,
) {
    let list = map.entry(key.to_string()).or_default();
    match list.iter_mut().find(|p| &p.action == action) {
        Some(p) => p.ids.push(id.to_string()),
        None => list.push(GraphPending {
            action: action.clone(),
            ids: vec![id.to_string()],
        }),
    }
}

/// Records that `action` was done for `ids`; true when something changed.
fn remove_pending_ids(
    map: &mut BTreeMap<String, Vec<GraphPending>>,
    key: &str,
    action: &Action,
    ids: &[String],
) -> bool {
    let Some(list) = map.get_mut(key) else {
        return false;
    };
    let before: usize = list.iter().map(|p| p.ids.len()).sum();
    for p in list.iter_mut().filter(|p| &p.action == action) {
        p.ids.retain(|i| !ids.contains(i));
    }
    list.retain(|p| !p.ids.is_empty());
    let after: usize = list.iter().map(|p| p.ids.len()).sum();
    if list.is_empty() {
        map.remove(key);
    }
    after != before
}

/// `user@host:port` → `user` (the user may itself hold an `@`).
fn user_of(authority: &str) -> &str {
    authority.rsplit_once('@').map_or(authority, |(u, _)| u)
}

/// The state key of a POP3 mailbox.
pub fn pop3_key(user: &str) -> String {
    user.to_lowercase()
}

/// The state key of a folder (INBOX is case-insensitive in IMAP).
pub fn imap_key(user: &str, folder: &str) -> String {
    let folder = if folder.eq_ignore_ascii_case("INBOX") {
        "INBOX"
    } else {
        folder
    };
    format!("{}/{folder}", user.to_lowercase())
}

/// The fetch state of one account, with its optional file (rewritten atomically after every
/// change, so a crash of the host re-delivers at most the message not yet accepted).
pub struct StateStore {
    state: Mutex<SyncState>,
    file: Option<PathBuf>,
}

impl StateStore {
    /// Reads `file` when it exists.
    pub fn open(file: Option<&str>) -> Result<StateStore> {
        let state = match file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => SyncState::from_json(&text).map_err(|e| {
                    Error::new(
                        crate::Status::IoError,
                        format!("the fetch state file {path} is damaged ({}): delete it (mail already fetched may then come again)", e.message),
                    )
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => SyncState::new(),
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot read the fetch state file {path}"),
                        &e,
                    ))
                }
            },
            None => SyncState::new(),
        };
        Ok(StateStore {
            state: Mutex::new(state),
            file: file.map(PathBuf::from),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&SyncState) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the state; `f` returns whether it changed anything, and then the file (if any)
    /// is rewritten.
    pub fn update(&self, f: impl FnOnce(&mut SyncState) -> bool) -> Result<()> {
        let mut s = self.lock();
        if f(&mut s) {
            self.write(&s, false)
        } else {
            Ok(())
        }
    }

    /// Flushes the file to disk (end of a fetch).
    pub fn persist(&self) -> Result<()> {
        let s = self.lock();
        self.write(&s, true)
    }

    fn write(&self, s: &SyncState, durable: bool) -> Result<()> {
        match &self.file {
            Some(path) => crate::atomic_file::write(path, s.to_json().as_bytes(), durable, true)
                .map_err(|e| {
                    Error::io(
                        format!("cannot write the fetch state file {}", path.display()),
                        &e,
                    )
                }),
            None => Ok(()),
        }
    }

    pub fn export_json(&self) -> String {
        self.lock().to_json()
    }

    /// Replaces the state by one the host kept (format 1 is converted).
    pub fn import_json(&self, json: &str) -> Result<()> {
        let new = SyncState::from_json(json)?;
        let mut s = self.lock();
        *s = new;
        self.write(&s, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_1_keys_are_converted_to_the_mailbox_identity() {
        let v1 = r#"{"format":1,
            "imap":{"imap://Jean@Contoso.com@outlook.office365.com:993/INBOX":{"uidvalidity":7,"last_uid":42},
                    "imap://jean@contoso.com@OUTLOOK.office365.com:143/INBOX":{"uidvalidity":7,"last_uid":40},
                    "imap://jean@contoso.com@outlook.office365.com:993/Clients/Société":{"uidvalidity":9,"last_uid":3}},
            "pop3":{"pop3://Jean@contoso.com@pop:995":["a","b"],"pop3://jean@contoso.com@POP:110":["b","c"]}}"#;
        let s = SyncState::from_json(v1).unwrap();
        assert_eq!(s.format, FORMAT);
        assert_eq!(
            s.imap[&imap_key("jean@contoso.com", "inbox")],
            FolderState {
                uidvalidity: 7,
                last_uid: 42
            }
        );
        assert_eq!(s.imap["jean@contoso.com/Clients/Société"].last_uid, 3);
        assert_eq!(s.imap.len(), 2);
        assert_eq!(s.pop3["jean@contoso.com"], vec!["a", "b", "c"]);
        // format 2 round trip
        assert_eq!(SyncState::from_json(&s.to_json()).unwrap(), s);
        let e = SyncState::from_json(r#"{"format":3}"#).unwrap_err();
        assert!(e.message.contains("format 3"), "{}", e.message);
        let e =
            SyncState::from_json(r#"{"format":2,"imap":{"k":{"uidvalidity":"x"}}}"#).unwrap_err();
        assert!(e.message.contains("uidvalidity"), "{}", e.message);
    }

    #[test]
    fn pending_actions_are_grouped_and_removed() {
        let mut s = SyncState::new();
        let del = Action {
            mark_seen: false,
            after: AfterDelivery::Delete,
            move_to: None,
        };
        let seen = Action {
            mark_seen: true,
            after: AfterDelivery::Keep,
            move_to: None,
        };
        s.add_pending("u/INBOX", 7, &del, 1);
        s.add_pending("u/INBOX", 7, &del, 2);
        s.add_pending("u/INBOX", 7, &seen, 3);
        assert_eq!(s.imap_pending["u/INBOX"].actions.len(), 2);
        assert_eq!(SyncState::from_json(&s.to_json()).unwrap(), s);
        assert!(s.remove_pending("u/INBOX", &del, &[1, 2]));
        assert!(!s.remove_pending("u/INBOX", &del, &[1]));
        assert!(s.remove_pending("u/INBOX", &seen, &[3]));
        assert!(s.imap_pending.is_empty());
        // a new UIDVALIDITY makes the old UIDs meaningless
        s.add_pending("u/INBOX", 7, &del, 1);
        s.add_pending("u/INBOX", 8, &del, 5);
        assert_eq!(s.imap_pending["u/INBOX"].actions[0].uids, vec![5]);
    }
}
