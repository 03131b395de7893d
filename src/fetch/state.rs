//! What has been fetched already, per folder: UIDVALIDITY and the highest UID the host accepted
//! (IMAP). Exported and imported as JSON for the host to persist.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderState {
    pub uidvalidity: u32,
    /// Highest UID accepted by the host; everything at or below it was delivered.
    pub last_uid: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncState {
    pub format: u32,
    /// Key: `imap://user@host:port/folder`.
    #[serde(default)]
    pub imap: BTreeMap<String, FolderState>,
    /// Key: `pop3://user@host:port`; value: the UIDLs accepted and still on the server.
    #[serde(default)]
    pub pop3: BTreeMap<String, Vec<String>>,
}

impl SyncState {
    pub fn new() -> SyncState {
        SyncState {
            format: 1,
            ..Default::default()
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_json(json: &str) -> Result<SyncState> {
        let s: SyncState = crate::json::parse(json, "sync state", crate::Status::InvalidArgument)?;
        if s.format != 1 {
            return Err(Error::invalid_argument(format!(
                "sync state JSON: format {} is not supported",
                s.format
            )));
        }
        Ok(s)
    }
}

/// The state key of a POP3 mailbox.
pub fn pop3_key(user: &str, host: &str, port: u16) -> String {
    format!("pop3://{user}@{host}:{port}")
}

/// The state key of a folder.
pub fn imap_key(user: &str, host: &str, port: u16, folder: &str) -> String {
    format!("imap://{user}@{host}:{port}/{folder}")
}
