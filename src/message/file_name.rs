//! File names for attachments that are safe on every host: whatever the sender wrote
//! (`../../x.exe`, `CON`, `a:b`, 300 characters, control characters, a trailing dot), the name
//! stays inside the directory, is valid on Windows (the strictest rules) and on Unix, and is
//! unique in the directory — an existing file is never replaced.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Longest name kept, in characters (Windows allows 255 UTF-16 units per component; this leaves
/// room for the " (n)" of a duplicate and for long directory paths).
pub const MAX_CHARS: usize = 120;

/// Longest name kept, in UTF-8 bytes: Linux and most Unix file systems allow 255 bytes per
/// component, which 120 characters of CJK text (3 bytes each) would pass; this leaves room for
/// the " (n)" of a duplicate.
pub const MAX_BYTES: usize = 240;

/// Device names Windows reserves in every directory, with or without an extension (Microsoft's
/// list: the superscript digits count as digits there, and the console's names are reserved
/// too).
const RESERVED: [&str; 32] = [
    "CON",
    "PRN",
    "AUX",
    "NUL",
    "COM0",
    "COM1",
    "COM2",
    "COM3",
    "COM4",
    "COM5",
    "COM6",
    "COM7",
    "COM8",
    "COM9",
    "COM\u{b9}",
    "COM\u{b2}",
    "COM\u{b3}",
    "LPT0",
    "LPT1",
    "LPT2",
    "LPT3",
    "LPT4",
    "LPT5",
    "LPT6",
    "LPT7",
    "LPT8",
    "LPT9",
    "LPT\u{b9}",
    "LPT\u{b2}",
    "LPT\u{b3}",
    "CONIN$",
    "CONOUT$",
];

fn forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*')
        // bidirectional overrides hide a name's real extension (`invoice<U+202E>fdp.exe`)
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// `name` made safe: forbidden characters become `_`, no path separators (so no `..` can
/// climb), no leading or trailing dots and spaces, reserved device names prefixed with `_`, at
/// most [`MAX_CHARS`] characters and [`MAX_BYTES`] bytes keeping the extension. `fallback`
/// when nothing is left.
pub fn safe(name: Option<&str>, fallback: &str) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .map(|c| if forbidden(c) { '_' } else { c })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    // shortened before the checks: cutting `CON` followed by 200 spaces leaves `CON`, and
    // cutting 200 `?` followed by a letter leaves only `_`
    let mut s = shorten(trimmed, MAX_CHARS, MAX_BYTES);
    if s.chars().all(|c| c == '_' || c == '.') {
        s = fallback.to_string();
    }
    if reserved(&s) {
        // room for the `_`
        format!("_{}", shorten(&s, MAX_CHARS - 1, MAX_BYTES - 1))
    } else {
        s
    }
}

/// `name`'s stem (up to its first dot, trailing spaces dropped as Windows does) is a device name.
fn reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end();
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem))
}

/// At most `max` characters and `max_bytes` bytes, the extension (up to 16 characters) kept.
fn shorten(s: &str, max: usize, max_bytes: usize) -> String {
    if s.chars().count() <= max && s.len() <= max_bytes {
        return s.to_string();
    }
    let ext = match s.rfind('.') {
        Some(i) if s[i..].chars().count() <= 16 => &s[i..],
        _ => "",
    };
    let (mut chars, mut bytes) = (ext.chars().count(), ext.len());
    let stem: String = s
        .chars()
        .take_while(|c| {
            chars += 1;
            bytes += c.len_utf8();
            chars <= max && bytes <= max_bytes
        })
        .collect();
    let stem = stem.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{stem}{ext}")
}

/// `name` with ` (n)` before its extension.
fn numbered(name: &str, n: u32) -> String {
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{} ({n}){}", &name[..i], &name[i..]),
        _ => format!("{name} ({n})"),
    }
}

/// Creates a new file for `name` in `dir`: `name`, else `name (2)`, `name (3)`… — never an
/// existing file (nor a link: creation is exclusive), and never a name already in `taken`
/// (compared ignoring case, as Windows does). Returns the file and its path; adds the name to
/// `taken`.
pub fn create_unique(
    dir: &Path,
    name: &str,
    taken: &mut Vec<String>,
) -> std::io::Result<(File, PathBuf)> {
    for n in 1..10_000u32 {
        let candidate = if n == 1 {
            name.to_string()
        } else {
            numbered(name, n)
        };
        let lower = candidate.to_lowercase();
        if taken.contains(&lower) {
            continue;
        }
        let path = dir.join(&candidate);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => {
                taken.push(lower);
                return Ok((f, path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("no free name for {name}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn hostile_names_become_portable() {
        assert_eq!(safe(Some("../../x.exe"), "a"), "_.._x.exe");
        assert_eq!(safe(Some("..\\..\\x.exe"), "a"), "_.._x.exe");
        assert_eq!(safe(Some("CON"), "a"), "_CON");
        assert_eq!(safe(Some("con.txt"), "a"), "_con.txt");
        assert_eq!(safe(Some("lpt9 .pdf"), "a"), "_lpt9 .pdf");
        assert_eq!(safe(Some("a:b"), "a"), "a_b");
        assert_eq!(safe(Some("report.pdf."), "a"), "report.pdf");
        assert_eq!(safe(Some(" .hidden "), "a"), "hidden");
        assert_eq!(safe(Some("tab\there\u{7}"), "a"), "tab_here_");
        assert_eq!(safe(Some(".."), "attachment-1"), "attachment-1");
        assert_eq!(safe(Some("///"), "attachment-1"), "attachment-1");
        assert_eq!(safe(None, "attachment-2"), "attachment-2");
        assert_eq!(safe(Some("devis\u{202e}fdp.exe"), "a"), "devis_fdp.exe");
        let long = format!("{}.docx", "é".repeat(300));
        let s = safe(Some(&long), "a");
        assert_eq!(s.chars().count(), super::MAX_CHARS);
        assert!(s.ends_with(".docx"));
        assert_eq!(
            safe(Some("Société – devis n°3.pdf"), "a"),
            "Société – devis n°3.pdf"
        );
        // 3-byte characters: the byte limit (Unix) comes before the character limit
        let s = safe(Some(&format!("{}.pdf", "日".repeat(300))), "a");
        assert!(s.len() <= super::MAX_BYTES && s.ends_with(".pdf"), "{s}");
        assert_eq!(s.chars().count(), 4 + (super::MAX_BYTES - 4) / 3);
        assert_eq!(safe(Some("COM\u{b9}.txt"), "a"), "_COM\u{b9}.txt");
        assert_eq!(safe(Some("conout$"), "a"), "_conout$");
        assert_eq!(safe(Some("lpt0.log"), "a"), "_lpt0.log");
        // a reserved name left by the shortening, and a reserved name with a long extension
        assert_eq!(safe(Some(&format!("NUL{}x", " ".repeat(200))), "a"), "_NUL");
        assert_eq!(safe(Some(&format!("{}x", "?".repeat(200))), "a"), "a");
        let s = safe(Some(&format!("con.{}", "x".repeat(200))), "a");
        assert!(
            s.starts_with("_con.xxx") && s.chars().count() == super::MAX_CHARS,
            "{s}"
        );
    }
}
