//! A message from anywhere (`om_message_parse`, the fetch option `"parse": true`,
//! `om_message_attachment`, `om_message_save_attachments`): `message::parse` on the input's
//! bytes, each listed attachment by index (`message::attachments::attachment`), then every
//! attachment saved (`message::attachments::save_all`) into an empty directory of the target's
//! own; and `message::file_name::safe` on arbitrary strings (the input as text, each of its
//! lines, and every attachment name the parse decoded).
//!
//! Asserts: no panic; the parse serialises to JSON; every listed attachment comes out by its
//! index with the listed size, the next index is refused (InvalidArgument, with a message);
//! saving succeeds and writes exactly one new file per saved attachment (the inline ones left
//! out when the input's length is odd), each directly inside the directory, under a name that
//! passes the checks below, unique ignoring case, holding the attachment's bytes. `safe`
//! always gives a name that Windows and Unix accept: not empty, not `.`/`..`, no `<>:"/\|?*`,
//! no control or bidirectional-override character, no leading or trailing dot or space, no
//! reserved device name as its stem, at most `MAX_CHARS` characters and `MAX_BYTES` bytes, and
//! it is stable (`safe` of a safe name is that name).
//!
//! mail-parser's own consistency checks (`debug_assert!(false, "Invalid part ID…")` on some
//! malformed nestings) fire here, where everything is built with debug assertions; release
//! builds (the DLL) have none and go on with what was read. An input that trips one is
//! skipped; every other panic is still a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::message::attachments::{attachment, save_all};
use oauthmail::message::file_name::{safe, MAX_BYTES, MAX_CHARS};
use oauthmail::message::{parse, ParseOptions};
use oauthmail::Status;
use oauthmail_fuzz::check_error_status;
use std::cell::Cell;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Once, OnceLock};

/// The messages of mail-parser's `debug_assert!(false, …)` (mail-parser 0.11).
const MAIL_PARSER_DEBUG_ASSERTS: [&str; 5] = [
    "Invalid part ID, could not find message.",
    "Failed to restore parent message. Aborting.",
    "Invalid part ID, could not find multipart.",
    "This should not have happened.",
    "String full while decoding.",
];

thread_local! {
    static TRIPPED: Cell<bool> = const { Cell::new(false) };
}

/// Lets one of mail-parser's debug assertions unwind (to the `catch_unwind` of the target)
/// instead of aborting as libfuzzer-sys's panic hook does; any other panic goes to that hook.
fn let_mail_parser_debug_asserts_unwind() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_mail_parser = info
                .location()
                .is_some_and(|l| l.file().contains("mail-parser-"));
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if in_mail_parser && MAIL_PARSER_DEBUG_ASSERTS.contains(&message.as_str()) {
                TRIPPED.with(|t| t.set(true));
            } else {
                fuzzer_hook(info);
            }
        }));
    });
}

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

/// What every saved name must be: see the top of this file.
fn check_name(name: &str, from: &str) {
    assert!(
        !name.is_empty() && name != "." && name != "..",
        "{from:?} -> {name:?}"
    );
    assert!(
        !name.chars().any(|c| "<>:\"/\\|?*".contains(c)
            || c.is_control()
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
        "{from:?} -> {name:?}: a forbidden character"
    );
    let edge = |c: char| c == '.' || c.is_whitespace();
    assert!(
        !name.starts_with(edge) && !name.ends_with(edge),
        "{from:?} -> {name:?}: a leading or trailing dot or space"
    );
    let stem = name.split('.').next().unwrap_or("").trim_end();
    assert!(
        !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)),
        "{from:?} -> {name:?}: a reserved device name"
    );
    assert!(
        name.chars().count() <= MAX_CHARS && name.len() <= MAX_BYTES,
        "{from:?} -> {name:?}: too long ({} bytes)",
        name.len()
    );
}

/// `safe` of `name` (and of nothing), checked.
fn check_safe(name: &str) {
    let s = safe(Some(name), "attachment-1");
    check_name(&s, name);
    assert_eq!(safe(Some(&s), "attachment-1"), s, "not stable: {name:?}");
}

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        // scripts/fuzz.sh points TMPDIR to memory
        let d = std::env::temp_dir().join(format!("oauthmail-fuzz-message-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("the target's directory");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    // names first: the whole input as text, and each of its lines
    let text = String::from_utf8_lossy(data);
    check_safe(&text);
    for line in text.lines().take(64) {
        check_safe(line);
    }
    let_mail_parser_debug_asserts_unwind();
    TRIPPED.with(|t| t.set(false));
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| message(data))) {
        if !TRIPPED.with(|t| t.get()) {
            std::panic::resume_unwind(panic);
        }
    }
});

/// Parse, attachments by index, save: see the top of this file.
fn message(data: &[u8]) {
    let parsed = parse(data, &ParseOptions::default());
    serde_json::to_string(&parsed).expect("the parse as JSON");
    let listed = &parsed.attachments;
    for (i, a) in listed.iter().enumerate() {
        assert_eq!(a.index as usize, i);
        let bytes = attachment(data, a.index).expect("a listed attachment");
        assert_eq!(
            bytes.len() as u64,
            a.size,
            "attachment {i}: the listed size"
        );
        if let Some(n) = &a.file_name {
            check_safe(n);
        }
    }
    match attachment(data, listed.len() as u32) {
        Ok(_) => panic!("attachment {} of {} came out", listed.len(), listed.len()),
        Err(e) => check_error_status(&e, Status::InvalidArgument),
    }

    // save into an empty directory
    let d = dir();
    for e in std::fs::read_dir(d).expect("list the directory") {
        std::fs::remove_file(e.expect("an entry").path()).expect("empty the directory");
    }
    let inline = data.len().is_multiple_of(2);
    let saved = save_all(data, d, inline).expect("saving into an existing directory");
    let expected = listed
        .iter()
        .filter(|a| inline || a.disposition.as_deref() != Some("inline"))
        .count();
    assert_eq!(saved.len(), expected, "saved attachments");
    let mut seen = HashSet::new();
    for s in &saved {
        let path = PathBuf::from(&s.path);
        assert_eq!(
            path.parent(),
            Some(d.as_path()),
            "{} is not in the directory",
            s.path
        );
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 name");
        // " (n)" of a duplicate may pass the length limits a little
        let base = match (name.rfind(" ("), name.rfind(')')) {
            (Some(open), Some(close))
                if close > open && name[open + 2..close].parse::<u32>().is_ok() =>
            {
                format!("{}{}", &name[..open], &name[close + 1..])
            }
            _ => name.to_string(),
        };
        check_name(&base, s.attachment.file_name.as_deref().unwrap_or(""));
        assert!(
            name.len() <= 255 && name.encode_utf16().count() <= 255,
            "{name:?}"
        );
        assert!(
            seen.insert(name.to_lowercase()),
            "{name:?} twice ignoring case"
        );
        let want = attachment(data, s.attachment.index).expect("the saved attachment");
        assert_eq!(
            std::fs::read(&path).expect("read back"),
            want,
            "{name:?}: its bytes"
        );
    }
    let files = std::fs::read_dir(d).expect("list the directory").count();
    assert_eq!(files, saved.len(), "files written");
}
