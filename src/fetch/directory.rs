//! Directory mode, for hosts that cannot take callbacks: each message becomes an .eml file,
//! written atomically (temporary file, then rename) under a stable name; the fetch state
//! advances only after the rename.

use super::{Control, MessageMeta};
use std::path::{Path, PathBuf};

/// `INBOX_1764000000_00000042.eml`: folder (made safe for file names), UIDVALIDITY, UID. The
/// same message always gets the same name, so a re-delivery replaces the file.
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

/// A delivery function writing into `dir`; the names written are collected in `written`.
pub fn writer<'a>(
    dir: &'a Path,
    written: &'a mut Vec<String>,
) -> impl FnMut(&MessageMeta<'_>, &[u8]) -> Control + 'a {
    move |meta, data| {
        let name = file_name(meta);
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
