//! An attachment's bytes by index, or every attachment saved into a directory under safe,
//! unique names (see [`super::file_name`]).

use super::file_name;
use super::parsed::{attachment_of, attachment_parts, part_bytes, read, Attachment};
use crate::error::{Error, Result, Status};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// The decoded bytes of attachment `index` (as listed by [`super::parse`]) of `raw`; a message
/// attached whole gives the attached message's bytes.
pub fn attachment(raw: &[u8], index: u32) -> Result<Vec<u8>> {
    let message = read(raw);
    let parts = message.as_ref().map(attachment_parts).unwrap_or_default();
    let count = parts.len();
    match parts.get(index as usize) {
        Some(p) => Ok(part_bytes(raw, p).into_owned()),
        None => Err(Error::invalid_argument(format!(
            "the message has {count} attachment(s): index {index} does not exist"
        ))),
    }
}

/// One attachment written by [`save_all`].
#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    #[serde(flatten)]
    pub attachment: Attachment,
    /// The file written (UTF-8 path).
    pub path: String,
}

/// Writes every attachment of `raw` into `dir` (which must exist): names made safe and unique,
/// existing files never replaced; `inline` false skips the parts marked inline (images of the
/// HTML body). Stops at the first write error, keeping the files already written.
pub fn save_all(raw: &[u8], dir: &Path, inline: bool) -> Result<Vec<Saved>> {
    if !dir.is_dir() {
        return Err(Error::new(
            Status::IoError,
            format!("the directory {} does not exist", dir.display()),
        ));
    }
    let Some(message) = read(raw) else {
        return Ok(Vec::new());
    };
    let mut taken = Vec::new();
    let mut saved = Vec::new();
    for (i, part) in attachment_parts(&message).into_iter().enumerate() {
        let a = attachment_of(raw, i as u32, part);
        if !inline && a.disposition.as_deref() == Some("inline") {
            continue;
        }
        let fallback = if a.is_message {
            format!("message-{}.eml", i + 1)
        } else {
            format!("attachment-{}", i + 1)
        };
        let name = file_name::safe(a.file_name.as_deref(), &fallback);
        let io = |e: std::io::Error| {
            Error::new(
                Status::IoError,
                format!(
                    "cannot write the attachment `{name}` into {}",
                    dir.display()
                ),
            )
            .with_detail(e.to_string())
        };
        let (mut file, path) = file_name::create_unique(dir, &name, &mut taken).map_err(io)?;
        file.write_all(&part_bytes(raw, part))
            .and_then(|_| file.sync_all())
            .map_err(|e| {
                let _ = std::fs::remove_file(&path);
                io(e)
            })?;
        saved.push(Saved {
            attachment: a,
            path: path.to_string_lossy().into_owned(),
        });
    }
    Ok(saved)
}
