//! Directory mode, for hosts that cannot take callbacks: each message becomes an .eml file,
//! written atomically (temporary file, then rename) under a stable name; the fetch state
//! advances only after the rename.

use super::{Control, MessageMeta};
use std::path::{Path, PathBuf};

/// `INBOX_1764000000_00000042.eml`: folder (made safe for file names), UIDVALIDITY, UID; POP3
/// `INBOX_<UIDL>.eml`; Graph `INBOX_<16 hex digits>.eml` (a fingerprint of the message id:
/// Graph ids are long and tell letters' case apart, which Windows file names do not). The same
/// message always gets the same name, so a re-delivery replaces the file.
pub fn file_name(meta: &MessageMeta<'_>) -> String {
    let folder: String = meta
        .folder
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if meta.protocol == crate::config::Protocol::Graph {
        let id = meta.uidl.unwrap_or("");
        return format!("{folder}_{:016x}.eml", crate::graph::seen::fingerprint(id));
    }
    match meta.uidl {
        // POP3: the UIDL is the message's stable name
        Some(uidl) => {
            let u: String = uidl
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{folder}_{u}.eml")
        }
        None => format!("{folder}_{}_{:08}.eml", meta.uidvalidity, meta.uid),
    }
}

/// Writes `data` to `dir/name` atomically (flushed to disk before the rename: the fetch state
/// advances right after).
pub fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<PathBuf> {
    let target = dir.join(name);
    crate::atomic_file::write(&target, data, true, false).map(|_| target)
}

/// A delivery function writing into `dir`; the names written are collected in `written`. With
/// `parse`, the parsed message ([`crate::message::parse`]) is written first as JSON beside it
/// (`<name>.json` for `<name>.eml`), so an .eml that exists always has its .json.
pub fn writer<'a>(
    dir: &'a Path,
    written: &'a mut Vec<String>,
    parse: bool,
) -> impl FnMut(&MessageMeta<'_>, &[u8]) -> Control + 'a {
    move |meta, data| {
        let name = file_name(meta);
        if parse {
            let json_name = format!("{}.json", name.trim_end_matches(".eml"));
            let parsed = crate::message::parse(data, &Default::default());
            let json = serde_json::to_vec(&parsed).unwrap_or_default();
            if let Err(e) = write_atomically(dir, &json_name, &json) {
                return Control::Fail(crate::Error::new(
                    crate::Status::IoError,
                    format!("cannot write {} in {}: {e}", json_name, dir.display()),
                ));
            }
        }
        match write_atomically(dir, &name, data) {
            Ok(_) => {
                written.push(name);
                Control::Continue
            }
            Err(e) => Control::Fail(crate::Error::new(
                crate::Status::IoError,
                format!("cannot write {} in {}: {e}", name, dir.display()),
            )),
        }
    }
}

#[cfg(test)]
mod graph_names {
    use super::*;
    use crate::config::Protocol;

    fn meta<'a>(uidl: &'a str, protocol: Protocol) -> MessageMeta<'a> {
        MessageMeta {
            uid: 0,
            uidl: Some(uidl),
            uidvalidity: 0,
            folder: "Clients/Société",
            internal_date: 0,
            flags: &[],
            size: 0,
            resync: false,
            protocol,
        }
    }

    #[test]
    fn graph_ids_differing_in_case_get_different_short_names() {
        let a = file_name(&meta("AAMkADAbC=", Protocol::Graph));
        let b = file_name(&meta("AAMkADabc=", Protocol::Graph));
        assert_ne!(a.to_lowercase(), b.to_lowercase());
        assert!(
            a.starts_with("Clients_Société_") && a.ends_with(".eml"),
            "{a}"
        );
        assert_eq!(a.len(), "Clients_Société_".len() + 16 + 4);
        assert_eq!(a, file_name(&meta("AAMkADAbC=", Protocol::Graph)), "stable");
        // POP3 keeps its names
        assert_eq!(
            file_name(&meta("abc.1", Protocol::Pop3)),
            "Clients_Société_abc_1.eml"
        );
    }
}
