//! What a host asks when browsing: listing criteria, a selection of messages, flag changes.
//! Parsed from the host's JSON; each transport turns them into its own terms (IMAP SEARCH,
//! Graph `$filter`/`$search`, Gmail `q`).

use crate::error::{Error, Result};
use serde::Deserialize;

/// Search criteria; all given ones must match (AND). Dates are `YYYY-MM-DD` (the server's
/// idea of the day, as IMAP SEARCH has it); text matches are case-insensitive substrings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// true: only unread messages; false: only read ones.
    pub unseen: Option<bool>,
    /// true: only flagged (starred) messages; false: only unflagged ones.
    pub flagged: Option<bool>,
    /// true: only answered messages; false: only unanswered ones (IMAP).
    pub answered: Option<bool>,
    /// Received on or after this day.
    pub since: Option<String>,
    /// Received before this day.
    pub before: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    /// Anywhere in the header or body.
    pub text: Option<String>,
    /// Larger than this many bytes.
    pub larger: Option<u64>,
    /// Smaller than this many bytes.
    pub smaller: Option<u64>,
    /// Carries this keyword (IMAP keyword, Graph category, Gmail label).
    pub keyword: Option<String>,
}

/// Newest first (the default: what a mail window shows) or oldest first.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// A listing request: one page of the messages of `folder` matching `search` (and `uids`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Default INBOX.
    pub folder: Option<String>,
    #[serde(default)]
    pub search: Criteria,
    /// IMAP only: a UID set such as `1:500` or `7,9,20:*`.
    pub uids: Option<String>,
    /// Messages per page (default 100, at most 1000).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    #[serde(default)]
    pub order: Order,
    /// Bound on the call in milliseconds.
    pub timeout_ms: Option<u64>,
}

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// `2026-02-01` checked, for the key `key` of the listing options.
fn check_date(key: &str, value: &Option<String>) -> Result<()> {
    if let Some(d) = value {
        crate::fetch::options::imap_date(d).map_err(|_| {
            Error::config(format!(
                "list options key `search.{key}`: `{d}` is not a date like 2026-02-01"
            ))
        })?;
    }
    Ok(())
}

impl ListQuery {
    pub fn parse(json: Option<&str>) -> Result<ListQuery> {
        let q: ListQuery = match json.map(str::trim) {
            None | Some("") => ListQuery::default(),
            Some(j) => crate::json::parse(j, "list options", crate::Status::InvalidConfig)?,
        };
        if q.limit == Some(0) || q.limit.is_some_and(|l| l > MAX_LIMIT) {
            return Err(Error::config(format!(
                "list options key `limit`: between 1 and {MAX_LIMIT}"
            )));
        }
        check_date("since", &q.search.since)?;
        check_date("before", &q.search.before)?;
        if let Some(u) = &q.uids {
            if u.is_empty()
                || !u
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == ',' || c == '*')
            {
                return Err(Error::config(format!(
                    "list options key `uids`: `{u}` is not a UID set such as 1:500 or 7,9,20:*"
                )));
            }
        }
        Ok(q)
    }

    pub fn folder(&self) -> &str {
        folder_or_inbox(&self.folder)
    }

    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT) as usize
    }
}

fn folder_or_inbox(f: &Option<String>) -> &str {
    f.as_deref().filter(|f| !f.is_empty()).unwrap_or("INBOX")
}

/// Chosen messages of one folder: by `ids` (the `id` a listing gives: an IMAP UID in decimal,
/// a POP3 UIDL, a Graph or Gmail message id) or, IMAP only, by `uids`. `uidvalidity`, when
/// given, must still be the folder's (IMAP): else the UIDs may name other messages now, and the
/// call is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub folder: Option<String>,
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub uids: Vec<u32>,
    pub uidvalidity: Option<u32>,
    /// Bound on the call in milliseconds.
    pub timeout_ms: Option<u64>,
}

impl Selection {
    pub fn parse(json: &str, what: &str) -> Result<Selection> {
        let s: Selection = crate::json::parse(json, what, crate::Status::InvalidArgument)?;
        if s.ids.is_empty() && s.uids.is_empty() {
            return Err(Error::invalid_argument(format!(
                "{what}: no message chosen (`ids` or `uids`)"
            )));
        }
        if s.ids.len() + s.uids.len() > 100_000 {
            return Err(Error::invalid_argument(format!(
                "{what}: at most 100000 messages at a time"
            )));
        }
        Ok(s)
    }

    pub fn folder(&self) -> &str {
        folder_or_inbox(&self.folder)
    }

    /// The IMAP UIDs chosen (from `uids`, and from `ids` that are decimal numbers), ascending,
    /// without repeats; an id that is not a UID is refused.
    pub fn imap_uids(&self) -> Result<Vec<u32>> {
        let mut v = self.uids.clone();
        for id in &self.ids {
            match id.trim().parse::<u32>() {
                Ok(u) if u > 0 => v.push(u),
                _ => {
                    return Err(Error::invalid_argument(format!(
                        "`{id}` is not an IMAP UID (a listing's `id` or `uid`)"
                    )))
                }
            }
        }
        if v.contains(&0) {
            return Err(Error::invalid_argument("UID 0 does not exist"));
        }
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    /// The string ids chosen (POP3 UIDLs, Graph and Gmail ids); `uids` are refused there.
    pub fn string_ids(&self, transport: &str) -> Result<Vec<String>> {
        if !self.uids.is_empty() {
            return Err(Error::invalid_argument(format!(
                "{transport} has no UIDs: choose messages by the `ids` a listing gives"
            )));
        }
        let mut v = self.ids.clone();
        v.dedup();
        Ok(v)
    }
}

/// Flags to add and to remove: `seen`, `flagged`, `answered`, `draft` (or their IMAP names
/// `\Seen`…), anything else a keyword (IMAP keyword, Graph category, Gmail label).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagChange {
    #[serde(flatten)]
    pub selection: Selection,
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A flag as the host names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    Seen,
    Flagged,
    Answered,
    Draft,
    Keyword(String),
}

impl Flag {
    pub fn of(name: &str) -> Result<Flag> {
        let n = name.trim();
        let bare = n.trim_start_matches('\\').to_ascii_lowercase();
        Ok(match bare.as_str() {
            "seen" | "read" => Flag::Seen,
            "flagged" | "starred" => Flag::Flagged,
            "answered" => Flag::Answered,
            "draft" => Flag::Draft,
            _ if n.starts_with('\\') || n.is_empty() => {
                return Err(Error::invalid_argument(format!(
                    "`{n}` is not a flag this library sets (seen, flagged, answered, draft, or a keyword)"
                )))
            }
            _ => {
                if n.chars().any(|c| {
                    c.is_control() || matches!(c, '(' | ')' | '{' | ' ' | '%' | '*' | '"' | ']')
                }) {
                    return Err(Error::invalid_argument(format!(
                        "the keyword `{n}` has a character IMAP keywords cannot hold"
                    )));
                }
                Flag::Keyword(n.to_string())
            }
        })
    }

    /// The IMAP flag.
    pub fn imap(&self) -> String {
        match self {
            Flag::Seen => "\\Seen".into(),
            Flag::Flagged => "\\Flagged".into(),
            Flag::Answered => "\\Answered".into(),
            Flag::Draft => "\\Draft".into(),
            Flag::Keyword(k) => k.clone(),
        }
    }
}

impl FlagChange {
    pub fn parse(json: &str) -> Result<FlagChange> {
        let c: FlagChange =
            crate::json::parse(json, "flag options", crate::Status::InvalidArgument)?;
        if c.add.is_empty() && c.remove.is_empty() {
            return Err(Error::invalid_argument(
                "flag options: nothing to change (`add` or `remove`)",
            ));
        }
        if c.selection.ids.is_empty() && c.selection.uids.is_empty() {
            return Err(Error::invalid_argument(
                "flag options: no message chosen (`ids` or `uids`)",
            ));
        }
        c.flags()?;
        Ok(c)
    }

    /// (to add, to remove), checked.
    pub fn flags(&self) -> Result<(Vec<Flag>, Vec<Flag>)> {
        let add = self
            .add
            .iter()
            .map(|f| Flag::of(f))
            .collect::<Result<_>>()?;
        let remove = self
            .remove
            .iter()
            .map(|f| Flag::of(f))
            .collect::<Result<_>>()?;
        Ok((add, remove))
    }
}
