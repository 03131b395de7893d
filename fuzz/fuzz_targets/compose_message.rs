//! The host's message JSON (`om_send_json`, `om_send_json_batch`): `smtp::compose::parse`,
//! then `smtp::compose::compose` (validation and the MIME message), then what
//! `outgoing::api::send_json` does with the result before any connection: the envelope
//! (`smtp::envelope::envelope`) and the bytes to transmit (`smtp::envelope::prepare`).
//! The composed bytes are also read back by the raw-message path (`prepare` without an
//! envelope, as `om_send_raw` would).
//!
//! Attachments given by `path` are read from this machine's files: the corpus uses `base64`.
//!
//! Asserts: no panic; every refusal is InvalidArgument with a message; a composed message
//! has CRLF line ends only, no NUL, lines of at most 998 bytes, a header section with only
//! the headers the JSON asked for (no injected one, never `Bcc`), a `<…@…>` Message-ID,
//! recipients without duplicates; it passes the envelope check and `prepare` unchanged; its
//! headers read back give the same sender and no recipient outside the envelope.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::lang::Lang;
use oauthmail::smtp::compose::{compose, parse, Composed, MessageJson};
use oauthmail::smtp::envelope::{envelope, header_fields, prepare};
use oauthmail::Status;
use oauthmail_fuzz::check_error_status;

const STRUCTURAL: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

fn header_section(bytes: &[u8]) -> &[u8] {
    match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => &bytes[..p + 2],
        None => bytes,
    }
}

fn check_bytes(msg: &MessageJson, c: &Composed) {
    let b = &c.bytes;
    assert!(!b.contains(&0), "a NUL in the message");
    for (i, &x) in b.iter().enumerate() {
        match x {
            b'\n' => assert!(i > 0 && b[i - 1] == b'\r', "a bare LF at {i}"),
            b'\r' => assert!(b.get(i + 1) == Some(&b'\n'), "a bare CR at {i}"),
            _ => {}
        }
    }
    for line in b.split(|&x| x == b'\n') {
        assert!(
            line.len() <= 999,
            "a line of {} bytes: {:?}",
            line.len(),
            String::from_utf8_lossy(&line[..80])
        );
    }
    let extra: Vec<&String> = msg.headers.iter().flat_map(|h| h.keys()).collect();
    for line in header_section(b).split(|&x| x == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line[0] == b' ' || line[0] == b'\t' {
            continue; // folded
        }
        let name = match line.iter().position(|&x| x == b':') {
            Some(p) => String::from_utf8_lossy(&line[..p]).into_owned(),
            None => panic!(
                "a header line without a name: {:?}",
                String::from_utf8_lossy(line)
            ),
        };
        assert!(
            STRUCTURAL.iter().any(|s| s.eq_ignore_ascii_case(&name))
                || extra.iter().any(|s| s.eq_ignore_ascii_case(&name)),
            "header {name:?} was not asked for (injected?): {:?}",
            String::from_utf8_lossy(header_section(b))
        );
    }
}

fn check_composed(msg: &MessageJson, c: &Composed) {
    check_bytes(msg, c);
    let id = &c.message_id;
    assert!(
        id.starts_with('<') && id.ends_with('>') && id.contains('@'),
        "{id:?}"
    );
    assert!(!c.recipients.is_empty());
    for (i, a) in c.recipients.iter().enumerate() {
        assert!(
            !c.recipients[..i].iter().any(|b| b.eq_ignore_ascii_case(a)),
            "{a} twice in {:?}",
            c.recipients
        );
    }

    // api::send_json
    let to: Vec<&str> = c.recipients.iter().map(String::as_str).collect();
    let env = envelope(Some(&c.envelope_from), &to)
        .unwrap_or_else(|e| panic!("composed, but its envelope is refused: {e}"));
    let p = prepare(&c.bytes, Some(env), None, None)
        .unwrap_or_else(|e| panic!("composed, but prepare refuses it: {e}"));
    assert_eq!(p.data, c.bytes, "prepare changed the composed bytes");
    assert_eq!(p.message_id.as_ref(), Some(&c.message_id));

    // the same bytes read as a raw message
    let fields = header_fields(&c.bytes);
    assert!(!fields.iter().any(|(n, _)| n.eq_ignore_ascii_case("bcc")));
    match prepare(&c.bytes, None, None, None) {
        Ok(raw) => {
            let from = raw.envelope.from().map(|a| a.to_string());
            assert!(
                from.as_deref()
                    .is_some_and(|f| f.eq_ignore_ascii_case(&c.envelope_from)),
                "sender read back {from:?}, composed {:?}",
                c.envelope_from
            );
            for a in raw.envelope.to() {
                let a = a.to_string();
                assert!(
                    c.recipients.iter().any(|r| r.eq_ignore_ascii_case(&a)),
                    "{a} read back from the headers, not a recipient of {:?}",
                    c.recipients
                );
            }
        }
        // only Bcc recipients: the headers name none
        Err(e) => assert!(
            msg.to.is_none() && msg.cc.is_none() || e.message.contains("no recipient"),
            "the composed headers do not read back: {e}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let msg = match parse(text) {
        Ok(m) => m,
        Err(e) => {
            check_error_status(&e, Status::InvalidArgument);
            return;
        }
    };
    for (default_from, lang) in [(Some("jean@example.com"), Lang::En), (None, Lang::Fr)] {
        match compose(&msg, default_from, lang) {
            Ok(c) => check_composed(&msg, &c),
            Err(e) => check_error_status(&e, Status::InvalidArgument),
        }
    }
});
