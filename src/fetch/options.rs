//! Options of a fetch (JSON from the host).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// What to do with a message on the server once the host has accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AfterDelivery {
    #[default]
    Keep,
    Delete,
    Move,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FetchOptions {
    /// Folder to read (default INBOX); names such as `Clients/Société` work.
    pub folder: Option<String>,
    /// Only mail not fetched before (default: the account's `options.skip_fetched`).
    pub only_new: Option<bool>,
    /// At most this many messages in this call.
    pub max_messages: Option<u32>,
    /// Only mail received on or after this date (`YYYY-MM-DD`).
    pub since: Option<String>,
    /// Mark delivered messages as read (default: leave them unread).
    #[serde(default)]
    pub mark_seen: bool,
    #[serde(default)]
    pub after_delivery: AfterDelivery,
    /// Destination folder for `after_delivery: "move"`.
    pub move_to: Option<String>,
    /// Messages per UID FETCH (default 50).
    pub batch_size: Option<u32>,
    /// Bound on the whole fetch in milliseconds (default: none beyond the per-read timeout).
    pub timeout_ms: Option<u64>,
    /// Hand the parsed message ([`crate::message::parse`]) over beside the raw bytes.
    #[serde(default)]
    pub parse: bool,
}

impl FetchOptions {
    pub fn parse(json: Option<&str>) -> Result<FetchOptions> {
        let o: FetchOptions = match json.map(str::trim) {
            None | Some("") => FetchOptions::default(),
            Some(j) => crate::json::parse(j, "fetch options", crate::Status::InvalidConfig)?,
        };
        if o.after_delivery == AfterDelivery::Move && o.move_to.as_deref().unwrap_or("").is_empty()
        {
            return Err(Error::config(
                "fetch options key `move_to`: required with after_delivery \"move\"",
            ));
        }
        if let Some(d) = &o.since {
            imap_date(d)?;
        }
        if o.batch_size == Some(0) {
            return Err(Error::config(
                "fetch options key `batch_size`: must be at least 1",
            ));
        }
        Ok(o)
    }

    pub fn folder(&self) -> &str {
        self.folder
            .as_deref()
            .filter(|f| !f.is_empty())
            .unwrap_or("INBOX")
    }
}

/// `2026-02-01` → `1-Feb-2026` (IMAP SEARCH date).
pub fn imap_date(iso: &str) -> Result<String> {
    let bad = || {
        Error::config(format!(
            "fetch options key `since`: `{iso}` is not a date like 2026-02-01"
        ))
    };
    let parts: Vec<&str> = iso.split('-').collect();
    if parts.len() != 3 {
        return Err(bad());
    }
    let y: u32 = parts[0].parse().map_err(|_| bad())?;
    let m: usize = parts[1].parse().map_err(|_| bad())?;
    let d: u32 = parts[2].parse().map_err(|_| bad())?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return Err(bad());
    }
    Ok(format!("{d}-{}-{y}", MONTHS[m - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_dates() {
        assert_eq!(imap_date("2026-02-01").unwrap(), "1-Feb-2026");
        assert!(imap_date("01/02/2026").is_err());
        let e = FetchOptions::parse(Some(r#"{"folder":"X","colour":1}"#)).unwrap_err();
        assert!(e.message.contains("colour"), "{}", e.message);
        let e = FetchOptions::parse(Some(r#"{"after_delivery":"move"}"#)).unwrap_err();
        assert!(e.message.contains("move_to"));
        assert_eq!(FetchOptions::parse(None).unwrap().folder(), "INBOX");
    }
}
