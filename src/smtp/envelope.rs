//! The SMTP envelope of a raw RFC 5322 message, and the bytes to transmit.
//!
//! - MAIL FROM: the `Sender` header if present, else the first `From` address (else the
//!   account's own address).
//! - RCPT TO: every address of `To`, `Cc` and `Bcc` (display names, groups, comments and
//!   folded headers handled), unless an explicit envelope is given; duplicates removed.
//! - The `Bcc` header fields are removed from the header section; every other byte is kept.
//! - "Copy me on sent mail": the account's own address as an extra recipient, no header.
//! - Addresses carrying CR, LF, NUL or a stray `<`/`>` are refused (header injection).

use crate::error::{Error, Result};
use lettre::address::{Address, Envelope};
use std::str::FromStr;

/// A message ready to go: its envelope and the bytes to transmit (Bcc removed, line ends as
/// given; the sender turns them into CRLF).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub envelope: Envelope,
    pub data: Vec<u8>,
    /// The `Message-ID` header's value, if any (with its angle brackets).
    pub message_id: Option<String>,
}

fn bad(field: &str, what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!("{field}: {what}"))
}

/// Checks one address string and makes it a lettre `Address`.
pub fn parse_address(field: &str, addr: &str) -> Result<Address> {
    if let Some(c) = addr.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
        return Err(bad(
            field,
            format!(
                "the address contains a forbidden character ({:?}): refused to prevent header or command injection",
                c
            ),
        ));
    }
    if addr.contains('<') || addr.contains('>') {
        return Err(bad(
            field,
            format!(
                "`{}` is not a plain address (it contains `<` or `>`)",
                short(addr)
            ),
        ));
    }
    let a = addr.trim();
    Address::from_str(a).map_err(|e| {
        bad(
            field,
            format!("`{}` is not a valid address ({e})", short(a)),
        )
    })
}

fn short(s: &str) -> String {
    s.chars().take(100).collect()
}

/// An explicit envelope from strings, each checked (the C ABI's way in).
pub fn envelope(from: Option<&str>, to: &[&str]) -> Result<Envelope> {
    let from = match from {
        Some(f) if !f.is_empty() => Some(parse_address("envelope from", f)?),
        _ => None,
    };
    let mut rcpt = Vec::new();
    for (i, t) in to.iter().enumerate() {
        let a = parse_address(&format!("envelope recipient #{}", i + 1), t)?;
        push_unique(&mut rcpt, a);
    }
    if rcpt.is_empty() {
        return Err(Error::invalid_argument(
            "envelope: no recipient: give at least one",
        ));
    }
    Envelope::new(from, rcpt).map_err(|e| Error::invalid_argument(format!("envelope: {e}")))
}

fn push_unique(list: &mut Vec<Address>, a: Address) {
    let s = a.to_string();
    if !list.iter().any(|b| b.to_string().eq_ignore_ascii_case(&s)) {
        list.push(a);
    }
}

/// Splits the message into its header lines (each with its line end) and the offset where the
/// header section ends (the blank line, included in neither).
fn header_lines(raw: &[u8]) -> (Vec<(usize, usize)>, usize) {
    let mut lines = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|p| pos + p + 1)
            .unwrap_or(raw.len());
        let line = &raw[pos..end];
        if line == b"\r\n" || line == b"\n" {
            return (lines, pos);
        }
        lines.push((pos, end));
        pos = end;
    }
    (lines, raw.len())
}

fn field_name(line: &[u8]) -> Option<&[u8]> {
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return None;
    }
    let colon = line.iter().position(|b| *b == b':')?;
    let name = &line[..colon];
    let name = name.strip_suffix(b" ").unwrap_or(name); // obsolete `Name :` form
    Some(name)
}

/// The header fields, unfolded: (name, value).
pub fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let (lines, _) = header_lines(raw);
    let mut out: Vec<(String, String)> = Vec::new();
    for (s, e) in lines {
        let line = &raw[s..e];
        let body = strip_eol(line);
        match field_name(line) {
            Some(name) => {
                let value = &body[(name.len() + 1).min(body.len())..];
                let value = value.strip_prefix(b":").unwrap_or(value);
                out.push((
                    String::from_utf8_lossy(name).trim().to_string(),
                    String::from_utf8_lossy(value).into_owned(),
                ));
            }
            None => {
                if let Some(last) = out.last_mut() {
                    // unfolding: the line end goes, the whitespace stays
                    last.1.push_str(&String::from_utf8_lossy(body));
                }
            }
        }
    }
    out
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// The message without its `Bcc` header fields (continuation lines included); everything
/// else byte for byte.
pub fn strip_bcc(raw: &[u8]) -> Vec<u8> {
    let (lines, _) = header_lines(raw);
    let mut out = Vec::with_capacity(raw.len());
    let mut last = 0;
    let mut dropping = false;
    for (s, e) in lines {
        let line = &raw[s..e];
        match field_name(line) {
            Some(name) => dropping = name.eq_ignore_ascii_case(b"bcc"),
            None if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') => {}
            None => dropping = false,
        }
        if dropping {
            out.extend_from_slice(&raw[last..s]);
            last = e;
        }
    }
    out.extend_from_slice(&raw[last..]);
    out
}

/// The addresses of an address-list header value (RFC 5322 §3.4): display names, quoted
/// strings, comments, angle addresses and groups.
pub fn parse_address_list(field: &str, value: &str) -> Result<Vec<String>> {
    if let Some(c) = value.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
        return Err(bad(
            field,
            format!("the header contains a forbidden character ({c:?})"),
        ));
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut angle: Option<String> = None;
    let mut in_angle = false;
    let mut in_group = false;
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    let finish = |cur: &mut String, angle: &mut Option<String>, out: &mut Vec<String>| {
        let a = match angle.take() {
            Some(a) => {
                // obsolete route: <@a,@b:user@c>
                match (a.trim_start().starts_with('@'), a.rfind(':')) {
                    (true, Some(p)) => a[p + 1..].trim().to_string(),
                    _ => a.trim().to_string(),
                }
            }
            None => cur.trim().to_string(),
        };
        cur.clear();
        if !a.is_empty() {
            out.push(a);
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                let target = if in_angle {
                    angle.get_or_insert_with(String::new)
                } else {
                    &mut cur
                };
                target.push('"');
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        target.push('\\');
                        i += 1;
                    }
                    target.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(bad(field, "unterminated quoted string"));
                }
                target.push('"');
            }
            '(' => {
                let mut depth = 0u32;
                while i < chars.len() {
                    match chars[i] {
                        '\\' => i += 1,
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                if depth != 0 {
                    return Err(bad(field, "unterminated comment"));
                }
                if !in_angle {
                    cur.push(' ');
                }
            }
            '<' if !in_angle => {
                if angle.is_some() {
                    return Err(bad(field, "two `<…>` in one address"));
                }
                in_angle = true;
                angle = Some(String::new());
            }
            '<' => return Err(bad(field, "`<` inside `<…>`")),
            '>' if in_angle => in_angle = false,
            '>' => return Err(bad(field, "`>` without `<`")),
            ':' if !in_angle && !in_group && angle.is_none() => {
                // group: the display name goes
                in_group = true;
                cur.clear();
            }
            ';' if !in_angle && in_group => {
                finish(&mut cur, &mut angle, &mut out);
                in_group = false;
            }
            ',' if !in_angle => finish(&mut cur, &mut angle, &mut out),
            _ => {
                if in_angle {
                    angle.get_or_insert_with(String::new).push(c);
                } else if angle.is_some() {
                    if !c.is_whitespace() {
                        return Err(bad(field, "text after `<…>`"));
                    }
                } else {
                    cur.push(c);
                }
            }
        }
        i += 1;
    }
    if in_angle {
        return Err(bad(field, "unterminated `<`"));
    }
    finish(&mut cur, &mut angle, &mut out);
    Ok(out)
}

/// Derives the envelope (unless `explicit`), removes the Bcc header, and adds `copy_to` (the
/// account's own address) as a hidden recipient.
pub fn prepare(
    raw: &[u8],
    explicit: Option<Envelope>,
    copy_to: Option<&str>,
    fallback_from: Option<&str>,
) -> Result<Prepared> {
    if raw.is_empty() {
        return Err(Error::invalid_argument("the message is empty"));
    }
    let fields = header_fields(raw);
    let message_id = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Message-ID"))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let (from, mut rcpt) = match explicit {
        Some(env) => {
            // check again: an Envelope may have been built without validation
            let from = match env.from() {
                Some(a) => Some(parse_address("envelope from", a.as_ref())?),
                None => None,
            };
            let mut rcpt = Vec::new();
            for (i, a) in env.to().iter().enumerate() {
                let a = parse_address(&format!("envelope recipient #{}", i + 1), a.as_ref())?;
                push_unique(&mut rcpt, a);
            }
            (from, rcpt)
        }
        None => {
            let first = |name: &str| -> Result<Option<Address>> {
                for (n, v) in &fields {
                    if n.eq_ignore_ascii_case(name) {
                        if let Some(a) = parse_address_list(name, v)?.first() {
                            return Ok(Some(parse_address(name, a)?));
                        }
                    }
                }
                Ok(None)
            };
            let from = match first("Sender")? {
                Some(a) => Some(a),
                None => first("From")?,
            };
            let from = match (from, fallback_from) {
                (Some(a), _) => Some(a),
                (None, Some(f)) => Some(parse_address("email", f)?),
                (None, None) => {
                    return Err(Error::invalid_argument(
                        "the message has no From header: cannot tell the sender",
                    ))
                }
            };
            let mut rcpt = Vec::new();
            for (n, v) in &fields {
                for name in ["To", "Cc", "Bcc"] {
                    if n.eq_ignore_ascii_case(name) {
                        for a in parse_address_list(name, v)? {
                            push_unique(&mut rcpt, parse_address(name, &a)?);
                        }
                    }
                }
            }
            (from, rcpt)
        }
    };
    if let Some(me) = copy_to {
        push_unique(&mut rcpt, parse_address("email (copy to self)", me)?);
    }
    if rcpt.is_empty() {
        return Err(Error::invalid_argument(
            "the message has no recipient (no To, Cc or Bcc address and no envelope)",
        ));
    }
    let envelope =
        Envelope::new(from, rcpt).map_err(|e| Error::invalid_argument(format!("envelope: {e}")))?;
    Ok(Prepared {
        envelope,
        data: strip_bcc(raw),
        message_id,
    })
}

/// The length of [`to_crlf`]'s output, without making it.
pub fn crlf_len(data: &[u8]) -> usize {
    let mut n = data.len();
    for (i, b) in data.iter().enumerate() {
        match b {
            b'\r' if data.get(i + 1) != Some(&b'\n') => n += 1,
            b'\n' if i == 0 || data[i - 1] != b'\r' => n += 1,
            _ => {}
        }
    }
    n
}

/// The message with every line ending in CRLF (bare LF and bare CR become CRLF).
pub fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(e: &Envelope) -> Vec<String> {
        e.to().iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn address_lists() {
        let l = |v| parse_address_list("To", v).unwrap();
        assert_eq!(l("a@b.c"), vec!["a@b.c"]);
        assert_eq!(
            l("\"Doe, John\" <john@x.org>, Jane <jane@y.org> (work), k@z.org (K)"),
            vec!["john@x.org", "jane@y.org", "k@z.org"]
        );
        assert_eq!(
            l("Team: a@x.org, \"B\" <b@x.org>; c@x.org"),
            vec!["a@x.org", "b@x.org", "c@x.org"]
        );
        assert_eq!(l("undisclosed-recipients:;"), Vec::<String>::new());
        assert_eq!(l("<@relay.org,@r2.org:u@x.org>"), vec!["u@x.org"]);
        assert_eq!(l("\"a<b>\" <q@x.org>"), vec!["q@x.org"]);
        assert_eq!(l("=?UTF-8?Q?Ren=C3=A9?= <rene@x.org>"), vec!["rene@x.org"]);
        assert!(parse_address_list("To", "<a@b.c").is_err());
        assert!(parse_address_list("To", "a@b.c>").is_err());
        assert!(parse_address_list("To", "<a<b@c.d>>").is_err());
        assert!(parse_address_list("To", "a@b.c\r\nBcc: x@y.z").is_err());
        assert!(parse_address_list("To", "a@b.c\0").is_err());
    }

    #[test]
    fn address_checks_name_the_field() {
        let e = parse_address("envelope recipient #2", "a@b.c\r\nBcc: x@y.z").unwrap_err();
        assert_eq!(e.status, crate::Status::InvalidArgument);
        assert!(e.message.contains("envelope recipient #2"), "{}", e.message);
        assert!(parse_address("To", "a@b.c>").is_err());
        assert!(parse_address("To", "not an address").is_err());
        assert!(envelope(Some("a@b.c"), &["x@y.z\nRCPT TO:<e@f.g>"]).is_err());
        assert!(envelope(Some("a@b.c"), &[]).is_err());
        let env = envelope(Some("a@b.c"), &["x@y.z", "X@y.z", "w@y.z"]).unwrap();
        assert_eq!(addrs(&env), vec!["x@y.z", "w@y.z"]);
    }

    #[test]
    fn derives_the_envelope_and_removes_bcc() {
        let raw = b"From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>,\r\n  carol@example.test\r\nCc: \"D, E\" <de@example.test>\r\nBcc: hidden@example.test,\r\n\tother@example.test\r\nSubject: hi\r\nMessage-ID: <m1@example.test>\r\n\r\nBcc: not a header\r\nbody\r\n";
        let p = prepare(raw, None, None, None).unwrap();
        assert_eq!(p.envelope.from().unwrap().to_string(), "alice@example.test");
        assert_eq!(
            addrs(&p.envelope),
            vec![
                "bob@example.test",
                "carol@example.test",
                "de@example.test",
                "hidden@example.test",
                "other@example.test"
            ]
        );
        assert_eq!(p.message_id.as_deref(), Some("<m1@example.test>"));
        assert_eq!(
            p.data,
            b"From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>,\r\n  carol@example.test\r\nCc: \"D, E\" <de@example.test>\r\nSubject: hi\r\nMessage-ID: <m1@example.test>\r\n\r\nBcc: not a header\r\nbody\r\n".to_vec()
        );
    }

    #[test]
    fn lf_messages_and_sender() {
        let raw = b"Sender: shared@example.test\nFrom: Boss <boss@example.test>\nbcc: h@example.test\nTo: t@example.test\n\nbody\n";
        let p = prepare(raw, None, None, None).unwrap();
        assert_eq!(
            p.envelope.from().unwrap().to_string(),
            "shared@example.test"
        );
        assert_eq!(addrs(&p.envelope), vec!["h@example.test", "t@example.test"]);
        assert_eq!(
            p.data,
            b"Sender: shared@example.test\nFrom: Boss <boss@example.test>\nTo: t@example.test\n\nbody\n".to_vec()
        );
        assert_eq!(to_crlf(&p.data), b"Sender: shared@example.test\r\nFrom: Boss <boss@example.test>\r\nTo: t@example.test\r\n\r\nbody\r\n".to_vec());
        assert_eq!(to_crlf(b"a\r\nb\nc\rd"), b"a\r\nb\r\nc\r\nd".to_vec());
        for m in [
            &b"a\r\nb\nc\rd"[..],
            b"\n\n\r\r\r\n",
            b"\r",
            b"",
            b"x\n\r",
            b"\r\n\n\r",
        ] {
            assert_eq!(crlf_len(m), to_crlf(m).len(), "{m:?}");
        }
    }

    #[test]
    fn copy_to_self_explicit_envelope_and_no_recipient() {
        let raw = b"From: a@example.test\r\nTo: b@example.test\r\n\r\nx";
        let p = prepare(raw, None, Some("me@example.test"), None).unwrap();
        assert_eq!(
            addrs(&p.envelope),
            vec!["b@example.test", "me@example.test"]
        );
        assert_eq!(p.data, raw.to_vec(), "no header added");
        // already a recipient: not twice
        let p = prepare(raw, None, Some("B@example.test"), None).unwrap();
        assert_eq!(addrs(&p.envelope), vec!["b@example.test"]);
        // explicit envelope wins over the headers
        let env = envelope(Some("bounce@example.test"), &["z@example.test"]).unwrap();
        let p = prepare(raw, Some(env), None, None).unwrap();
        assert_eq!(
            p.envelope.from().unwrap().to_string(),
            "bounce@example.test"
        );
        assert_eq!(addrs(&p.envelope), vec!["z@example.test"]);
        // no recipient
        let e = prepare(
            b"From: a@example.test\r\nSubject: x\r\n\r\nx",
            None,
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.status, crate::Status::InvalidArgument);
        let e = prepare(
            b"From: a@example.test\r\nTo: undisclosed-recipients:;\r\n\r\nx",
            None,
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.status, crate::Status::InvalidArgument);
        // no From: the account's address, else refused
        let p = prepare(
            b"To: b@example.test\r\n\r\nx",
            None,
            None,
            Some("me@example.test"),
        )
        .unwrap();
        assert_eq!(p.envelope.from().unwrap().to_string(), "me@example.test");
        assert!(prepare(b"To: b@example.test\r\n\r\nx", None, None, None).is_err());
        // injection through a header: a bare CR inside a To field
        let e = prepare(
            b"From: a@example.test\r\nTo: b@example.test\rRCPT TO:<x@y.z>\r\n\r\nx",
            None,
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(e.status, crate::Status::InvalidArgument);
        assert!(e.message.starts_with("To"), "{}", e.message);
    }

    #[test]
    fn a_message_without_body_or_blank_line() {
        let raw = b"From: a@example.test\r\nBcc: b@example.test\r\n";
        let p = prepare(raw, None, None, None).unwrap();
        assert_eq!(p.data, b"From: a@example.test\r\n".to_vec());
        assert_eq!(addrs(&p.envelope), vec!["b@example.test"]);
    }
}
