//! What a listing answers: one page of messages described without downloading them.

use crate::message::Envelope;
use serde::Serialize;

/// One message of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// What the other browsing calls take in `ids`: the IMAP UID in decimal, the POP3 UIDL, the
    /// Graph or Gmail message id.
    pub id: String,
    /// IMAP: the UID; POP3: the message number in this session; Graph, Gmail API: 0.
    pub uid: u32,
    /// IMAP flags as the server names them (`\Seen`, `\Flagged`, keywords); Graph and Gmail:
    /// the same names mapped (`\Seen` when read, `\Flagged` when flagged/starred, categories or
    /// labels as keywords); POP3: none.
    pub flags: Vec<String>,
    /// Size in bytes as the server reports it.
    pub size: u64,
    /// When the server received it, Unix seconds (0 if unknown).
    pub internal_date: i64,
    /// The message has at least one attachment (IMAP: from BODYSTRUCTURE; POP3: told from the
    /// header's content type, multipart/mixed; Graph and Gmail: as they report it).
    pub has_attachments: bool,
    /// The parsed header fields.
    #[serde(flatten)]
    pub envelope: Envelope,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Page {
    pub folder: String,
    /// IMAP: the folder's UIDVALIDITY (pass it back with `uids` to act safely); else 0.
    pub uidvalidity: u32,
    /// How many messages match (all pages), when the server says it.
    pub total: Option<u64>,
    pub messages: Vec<Listed>,
    /// Pass it as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}
