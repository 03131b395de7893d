//! The message composer, checked from the outside: the produced bytes are parsed back with a
//! small MIME reader written here (headers with unfolding, multipart boundaries, base64 and
//! quoted-printable bodies, RFC 2047 encoded words, RFC 2231 parameters) so that the checks do
//! not trust lettre's own view of what it wrote.

use base64::Engine as _;
use oauthmail::lang::Lang;
use oauthmail::smtp::compose::{compose, parse, Composed, MAX_ATTACHMENT_BYTES};
use oauthmail::Status;
use serde_json::{json, Value};

// ---- a tiny MIME reader --------------------------------------------------------------------

#[derive(Debug)]
struct Entity {
    /// (name, unfolded raw value), in order.
    headers: Vec<(String, String)>,
    /// The body as transmitted (still transfer-encoded).
    body: Vec<u8>,
}

impl Entity {
    fn parse(bytes: &[u8]) -> Entity {
        let split = find(bytes, b"\r\n\r\n").map(|i| (i, i + 4));
        let (head, body) = match split {
            Some((h, b)) => (&bytes[..h], bytes[b..].to_vec()),
            // A part with headers only (no body) or a body-less message.
            None => (bytes, Vec::new()),
        };
        let head = std::str::from_utf8(head).expect("headers are ASCII/UTF-8");
        assert!(head.is_ascii(), "non-ASCII header bytes: {head}");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                // Unfolding: the CRLF goes, the whitespace stays.
                headers
                    .last_mut()
                    .expect("continuation line first")
                    .1
                    .push_str(line);
            } else if !line.is_empty() {
                let (n, v) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header {line:?}"));
                headers.push((n.to_string(), v.trim_start().to_string()));
            }
        }
        Entity { headers, body }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// `type/subtype`, lowercased; text/plain when absent.
    fn mime_type(&self) -> String {
        self.header("Content-Type")
            .map(|v| v.split(';').next().unwrap().trim().to_ascii_lowercase())
            .unwrap_or_else(|| "text/plain".to_string())
    }

    fn content_type_param(&self, name: &str) -> Option<String> {
        params(self.header("Content-Type")?, name)
    }

    fn disposition_param(&self, name: &str) -> Option<String> {
        params(self.header("Content-Disposition")?, name)
    }

    fn parts(&self) -> Vec<Entity> {
        assert!(self.mime_type().starts_with("multipart/"), "not multipart");
        let boundary = self.content_type_param("boundary").expect("boundary");
        let delim = format!("\r\n--{boundary}");
        let mut body = b"\r\n".to_vec();
        body.extend_from_slice(&self.body);
        let mut parts = Vec::new();
        let mut rest: &[u8] = &body;
        // Skip the preamble.
        let first = find(rest, delim.as_bytes()).expect("first delimiter");
        rest = &rest[first + delim.len()..];
        loop {
            if rest.starts_with(b"--") {
                break; // close delimiter
            }
            // Rest of the delimiter line (transport padding) then CRLF.
            let eol = find(rest, b"\r\n").expect("delimiter line end");
            assert!(rest[..eol].iter().all(|b| *b == b' ' || *b == b'\t'));
            rest = &rest[eol + 2..];
            let end = find(rest, delim.as_bytes()).expect("next delimiter");
            parts.push(Entity::parse(&rest[..end]));
            rest = &rest[end + delim.len()..];
        }
        parts
    }

    /// The body after undoing the Content-Transfer-Encoding.
    fn decoded(&self) -> Vec<u8> {
        let cte = self
            .header("Content-Transfer-Encoding")
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        match cte.as_str() {
            "base64" => {
                let compact: Vec<u8> = self
                    .body
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("valid base64 body")
            }
            "quoted-printable" => qp_decode(&self.body),
            "7bit" | "8bit" | "binary" => self.body.clone(),
            other => panic!("unknown transfer encoding {other}"),
        }
    }

    fn decoded_text(&self) -> String {
        String::from_utf8(self.decoded()).expect("UTF-8 body")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A parameter of a structured header, handling quoted strings, RFC 2231 continuations
/// (`name*0*=utf-8''…; name*1*=…`) and RFC 2047 words inside quotes (`name="=?utf-8?b?…?="`).
fn params(value: &str, wanted: &str) -> Option<String> {
    let mut plain: Option<String> = None;
    let mut sections: Vec<(usize, bool, String)> = Vec::new();
    for p in split_params(value).into_iter().skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let v = unquote(v.trim());
        if k == wanted {
            plain = Some(rfc2047_decode(&v));
        } else if let Some(rest) = k.strip_prefix(&format!("{wanted}*")) {
            let (num, encoded) = match rest.strip_suffix('*') {
                Some(n) => (n, true),
                None => (rest, false),
            };
            let n: usize = if num.is_empty() {
                0
            } else {
                num.parse().unwrap()
            };
            sections.push((n, encoded || (num.is_empty() && rest.is_empty()), v));
        }
    }
    if sections.is_empty() {
        return plain;
    }
    sections.sort_by_key(|s| s.0);
    let mut bytes = Vec::new();
    for (i, (n, encoded, v)) in sections.iter().enumerate() {
        assert_eq!(*n, i, "RFC 2231 sections in sequence");
        let v = if i == 0 && *encoded {
            // charset'language'value
            let mut it = v.splitn(3, '\'');
            let charset = it.next().unwrap();
            assert!(charset.eq_ignore_ascii_case("utf-8"));
            it.next().unwrap();
            it.next().unwrap().to_string()
        } else {
            v.clone()
        };
        if *encoded {
            bytes.extend(percent_decode(&v));
        } else {
            bytes.extend(v.as_bytes());
        }
    }
    Some(String::from_utf8(bytes).expect("UTF-8 parameter"))
}

fn split_params(v: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut esc = false;
    for c in v.chars() {
        if esc {
            esc = false;
            out.last_mut().unwrap().push(c);
            continue;
        }
        match c {
            '\\' if quoted => esc = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        if c == '\\' && quoted {
            continue;
        }
        out.last_mut().unwrap().push(c);
    }
    out
}

fn unquote(v: &str) -> String {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn qp_decode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'=' if body[i + 1..].starts_with(b"\r\n") => i += 3, // soft line break
            b'=' => {
                let hex = std::str::from_utf8(&body[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).expect("QP escape"));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// RFC 2047: decodes `=?utf-8?b?…?=` and `=?utf-8?q?…?=` words; whitespace between two adjacent
/// encoded words is dropped, other text is kept as is.
fn rfc2047_decode(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    let mut pending_ws = String::new();
    let mut last_was_word = false;
    loop {
        let Some(start) = rest.find("=?") else {
            out.push_str(&pending_ws);
            out.push_str(rest);
            break;
        };
        let (before, after) = rest.split_at(start);
        let word = parse_encoded_word(after);
        match word {
            Some((decoded, len)) => {
                let only_ws = before.chars().all(|c| c == ' ' || c == '\t');
                if !(last_was_word && only_ws) {
                    out.push_str(&pending_ws);
                    out.push_str(before);
                }
                pending_ws.clear();
                out.push_str(&decoded);
                rest = &after[len..];
                last_was_word = true;
            }
            None => {
                out.push_str(&pending_ws);
                pending_ws.clear();
                out.push_str(before);
                out.push_str("=?");
                rest = &after[2..];
                last_was_word = false;
            }
        }
    }
    out
}

/// `=?charset?enc?text?=` at the start of `s` → (decoded, length).
fn parse_encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let mut it = inner.splitn(3, '?');
    let charset = it.next()?;
    let enc = it.next()?;
    let tail = it.next()?;
    let end = tail.find("?=")?;
    let text = &tail[..end];
    if !charset.eq_ignore_ascii_case("utf-8") || text.contains(' ') {
        return None;
    }
    let bytes = match enc {
        "b" | "B" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "q" | "Q" => {
            let t = text.replace('_', " ");
            qp_decode(t.as_bytes())
        }
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + enc.len() + 1 + end + 2;
    Some((String::from_utf8(bytes).ok()?, len))
}

/// An address header as a person reads it: encoded words decoded, quotes dropped.
fn display(v: &str) -> String {
    rfc2047_decode(v).replace('"', "")
}

// ---- helpers -------------------------------------------------------------------------------

fn compose_json(v: Value) -> Composed {
    let m = parse(&v.to_string()).unwrap_or_else(|e| panic!("parse: {e}"));
    compose(&m, Some("account@example.com"), Lang::En).unwrap_or_else(|e| panic!("compose: {e}"))
}

fn compose_err(v: Value) -> oauthmail::Error {
    match parse(&v.to_string()) {
        Ok(m) => compose(&m, None, Lang::En).expect_err("should fail"),
        Err(e) => e,
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Bytes like a binary PDF: the header, then every byte value, several times.
fn binary_pdf() -> Vec<u8> {
    let mut v = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    for _ in 0..7 {
        v.extend(0u8..=255);
    }
    v.extend(b"\r\n\r.\r\n\n\n--\r\n%%EOF");
    v
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// The bytes are valid for SMTP: ASCII, CRLF only, lines of at most 998 characters.
fn assert_wire_clean(bytes: &[u8]) {
    assert!(bytes.is_ascii(), "non-ASCII byte in the message");
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
        assert_ne!(b, 0, "NUL in message");
    }
    for line in bytes.split(|b| *b == b'\n') {
        assert!(line.len() <= 999, "line longer than 998");
    }
}

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

// ---- structure -----------------------------------------------------------------------------

#[test]
fn text_only_is_text_plain_and_decodes_back() {
    let text = "Bonjour Agnès,\nVeuillez trouver le devis n°42 – société Élan.\n€ 1 234,56 TTC\n";
    let c = compose_json(json!({"to": "jean@example.org", "subject": "Devis", "text": text}));
    assert_wire_clean(&c.bytes);
    let e = Entity::parse(&c.bytes);
    assert_eq!(e.mime_type(), "text/plain");
    assert_eq!(
        e.content_type_param("charset").unwrap().to_lowercase(),
        "utf-8"
    );
    assert_eq!(e.header("MIME-Version"), Some("1.0"));
    assert_eq!(e.decoded_text(), crlf(text));
    assert_eq!(e.header("From"), Some("account@example.com"));
}

#[test]
fn long_lines_and_windows_line_endings_decode_back() {
    let long = "é".repeat(300) + &"x".repeat(2000);
    let text = format!("ligne 1\r\n{long}\rligne 3\r\n");
    let c = compose_json(json!({"to": "jean@example.org", "text": text}));
    assert_wire_clean(&c.bytes);
    let e = Entity::parse(&c.bytes);
    assert_eq!(
        e.decoded_text(),
        format!("ligne 1\r\n{long}\r\nligne 3\r\n")
    );
}

#[test]
fn html_only_is_text_html() {
    let html = "<p>Société <b>Élan</b></p>";
    let c = compose_json(json!({"to": "jean@example.org", "html": html}));
    let e = Entity::parse(&c.bytes);
    assert_eq!(e.mime_type(), "text/html");
    // A single-part message must end with CRLF: a body without a final line break gets one.
    assert_eq!(e.decoded_text(), format!("{html}\r\n"));
}

#[test]
fn text_and_html_are_alternative() {
    let c = compose_json(json!({"to": "jean@example.org", "text": "Élan", "html": "<p>Élan</p>"}));
    assert_wire_clean(&c.bytes);
    let e = Entity::parse(&c.bytes);
    assert_eq!(e.mime_type(), "multipart/alternative");
    let parts = e.parts();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].mime_type(), "text/plain");
    assert_eq!(parts[0].decoded_text(), "Élan");
    assert_eq!(parts[1].mime_type(), "text/html");
    assert_eq!(parts[1].decoded_text(), "<p>Élan</p>");
}

#[test]
fn full_message_structure_and_exact_bytes() {
    let pdf = binary_pdf();
    let dir = std::env::temp_dir().join(format!("om-compose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv_path = dir.join("export.csv");
    let csv = "nom;montant\nÉlan;42\n".as_bytes().to_vec(); // bare LFs must survive
    std::fs::write(&csv_path, &csv).unwrap();

    let text = "Bonjour,\nle devis est joint.\n";
    let html = "<p>Bonjour,</p><img src=\"cid:logo@crm\"><p>le devis est joint.</p>";
    let c = compose_json(json!({
        "from": "Agnès Dupré <agnes@example.com>",
        "to": ["Jean Dupont <jean@example.org>"],
        "subject": "Devis n°42 – société Élan",
        "text": text,
        "html": html,
        "inline": [{"content_id": "<logo@crm>", "filename": "logo.png", "base64": b64(PNG)}],
        "attachments": [
            {"filename": "Devis n°42 – société Élan.pdf", "base64": b64(&pdf)},
            {"filename": "export.csv", "path": csv_path.to_str().unwrap()},
            {"filename": "données.bin", "content_type": "application/x-custom", "base64": b64(&[0, 1, 2, 255])}
        ]
    }));
    std::fs::remove_dir_all(&dir).ok();
    assert_wire_clean(&c.bytes);

    let top = Entity::parse(&c.bytes);
    assert_eq!(top.mime_type(), "multipart/mixed");
    let parts = top.parts();
    assert_eq!(parts.len(), 4);

    // mixed[0] = alternative[plain, related[html, png]]
    assert_eq!(parts[0].mime_type(), "multipart/alternative");
    let alt = parts[0].parts();
    assert_eq!(alt.len(), 2);
    assert_eq!(alt[0].mime_type(), "text/plain");
    assert_eq!(alt[0].decoded_text(), crlf(text));
    assert_eq!(alt[1].mime_type(), "multipart/related");
    let rel = alt[1].parts();
    assert_eq!(rel.len(), 2);
    assert_eq!(rel[0].mime_type(), "text/html");
    assert_eq!(rel[0].decoded_text(), html);
    assert_eq!(rel[1].mime_type(), "image/png");
    assert_eq!(rel[1].header("Content-ID"), Some("<logo@crm>"));
    assert!(rel[1]
        .header("Content-Disposition")
        .unwrap()
        .starts_with("inline"));
    assert_eq!(
        rel[1].disposition_param("filename").as_deref(),
        Some("logo.png")
    );
    assert_eq!(rel[1].decoded(), PNG);

    // The PDF: exact bytes, the name through RFC 2231 and through Content-Type's name=.
    assert_eq!(parts[1].mime_type(), "application/pdf");
    assert!(parts[1]
        .header("Content-Disposition")
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(
        parts[1].disposition_param("filename").as_deref(),
        Some("Devis n°42 – société Élan.pdf")
    );
    assert_eq!(
        parts[1].content_type_param("name").as_deref(),
        Some("Devis n°42 – société Élan.pdf")
    );
    assert_eq!(parts[1].decoded(), pdf);

    // The CSV read from a file: guessed type, bytes untouched (bare LF kept: base64).
    assert_eq!(parts[2].mime_type(), "text/csv");
    assert_eq!(
        parts[2].disposition_param("filename").as_deref(),
        Some("export.csv")
    );
    assert_eq!(parts[2].decoded(), csv);

    // The given content type is kept.
    assert_eq!(parts[3].mime_type(), "application/x-custom");
    assert_eq!(
        parts[3].disposition_param("filename").as_deref(),
        Some("données.bin")
    );
    assert_eq!(parts[3].decoded(), vec![0, 1, 2, 255]);

    // Headers.
    assert_eq!(
        rfc2047_decode(top.header("Subject").unwrap()),
        "Devis n°42 – société Élan"
    );
    assert!(top.header("Subject").unwrap().contains("=?utf-8?"));
    assert_eq!(
        rfc2047_decode(top.header("From").unwrap()),
        "Agnès Dupré <agnes@example.com>"
    );
    assert!(top.header("From").unwrap().contains("=?utf-8?"));
    assert_eq!(
        top.header("To").unwrap(),
        "\"Jean Dupont\" <jean@example.org>"
    );
    assert_eq!(c.envelope_from, "agnes@example.com");
    assert_eq!(c.recipients, vec!["jean@example.org"]);
}

#[test]
fn html_with_inline_without_text_is_related_at_top() {
    let c = compose_json(json!({
        "to": "jean@example.org",
        "html": "<img src=\"cid:a\"><img src=\"cid:b\">",
        "inline": [
            {"content_id": "a", "content_type": "image/png", "base64": b64(PNG)},
            {"content_id": "b", "base64": b64(b"GIF89a"), "filename": "b.gif"}
        ]
    }));
    let top = Entity::parse(&c.bytes);
    assert_eq!(top.mime_type(), "multipart/related");
    let parts = top.parts();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].mime_type(), "text/html");
    assert_eq!(parts[1].header("Content-ID"), Some("<a>"));
    assert_eq!(parts[1].decoded(), PNG);
    assert_eq!(parts[2].mime_type(), "image/gif");
    assert_eq!(parts[2].header("Content-ID"), Some("<b>"));
    assert_eq!(parts[2].decoded(), b"GIF89a");
}

#[test]
fn attachments_without_body_text() {
    let c = compose_json(json!({
        "to": "jean@example.org",
        "attachments": [{"filename": "a.txt", "base64": "SGVs\r\nbG8=\n"}]
    }));
    let top = Entity::parse(&c.bytes);
    assert_eq!(top.mime_type(), "multipart/mixed");
    let parts = top.parts();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].mime_type(), "text/plain");
    assert_eq!(parts[0].decoded_text(), "");
    assert_eq!(parts[1].mime_type(), "text/plain");
    assert_eq!(parts[1].decoded(), b"Hello");
}

#[test]
fn eml_attachment_is_7bit_when_possible_else_base64() {
    let eml = b"Subject: x\r\nFrom: a@b.c\r\n\r\nhi\r\n";
    let bad_eml = "Subject: é\n\nbare LF\n".as_bytes();
    let c = compose_json(json!({
        "to": "jean@example.org",
        "text": "t",
        "attachments": [
            {"filename": "a.eml", "base64": b64(eml)},
            {"filename": "b.eml", "base64": b64(bad_eml)}
        ]
    }));
    assert_wire_clean(&c.bytes);
    let parts = Entity::parse(&c.bytes).parts();
    assert_eq!(parts[1].mime_type(), "message/rfc822");
    assert_eq!(parts[1].header("Content-Transfer-Encoding"), Some("7bit"));
    assert_eq!(parts[1].decoded(), eml);
    assert_eq!(parts[2].header("Content-Transfer-Encoding"), Some("base64"));
    assert_eq!(parts[2].decoded(), bad_eml);
}

// ---- headers -------------------------------------------------------------------------------

#[test]
fn long_non_ascii_subject_and_names_round_trip() {
    let subject =
        "Devis n°42 – société Élan : proposition commerciale détaillée pour l'installation \
                   complète du système de gestion des réservations (révision n°3, août 2024) ✓";
    let name = "Zoë Françoise-Éléonore de la Tour d'Auvergne-Château-Thierry";
    let c = compose_json(json!({
        "to": [format!("{name} <z@example.org>"), "\"Dupont, Jean\" <jean@example.org>"],
        "cc": "Agnès Dupré <agnes@example.org>",
        "reply_to": "Service commercial <devis@example.com>",
        "subject": subject,
    }));
    assert_wire_clean(&c.bytes);
    let top = Entity::parse(&c.bytes);
    assert_eq!(rfc2047_decode(top.header("Subject").unwrap()), subject);
    assert_eq!(
        display(top.header("To").unwrap()),
        format!("{name} <z@example.org>, Dupont, Jean <jean@example.org>")
    );
    assert_eq!(
        rfc2047_decode(top.header("Cc").unwrap()),
        "Agnès Dupré <agnes@example.org>"
    );
    assert_eq!(
        display(top.header("Reply-To").unwrap()),
        "Service commercial <devis@example.com>"
    );
    assert_eq!(
        c.recipients,
        vec!["z@example.org", "jean@example.org", "agnes@example.org"]
    );
}

#[test]
fn rfc2047_test_decoder_handles_q_and_b() {
    assert_eq!(
        rfc2047_decode("=?utf-8?q?soci=C3=A9t=C3=A9_=C3=89lan?="),
        "société Élan"
    );
    assert_eq!(
        rfc2047_decode("=?UTF-8?B?w4lsYW4=?= =?utf-8?q?_x?= y"),
        "Élan x y"
    );
    assert_eq!(rfc2047_decode("a =?utf-8?b?w4k=?= b"), "a É b");
}

#[test]
fn bcc_is_not_in_the_bytes() {
    let c = compose_json(json!({
        "to": "jean@example.org",
        "bcc": ["Secret Person <secret@example.net>", "jean@example.org"],
        "text": "t"
    }));
    let text = String::from_utf8(c.bytes.clone())
        .unwrap()
        .to_ascii_lowercase();
    assert!(!text.contains("bcc"));
    assert!(!text.contains("secret"));
    assert_eq!(c.recipients, vec!["jean@example.org", "secret@example.net"]);
    assert_eq!(Entity::parse(&c.bytes).count("Bcc"), 0);
}

#[test]
fn message_id_given_is_kept_and_generated_otherwise() {
    let v = json!({"to": "jean@example.org", "message_id": "<devis-42.v3@crm.example.com>", "text": "t"});
    let a = compose_json(v.clone());
    let b = compose_json(v);
    assert_eq!(a.message_id, "<devis-42.v3@crm.example.com>");
    assert_eq!(b.message_id, a.message_id);
    let top = Entity::parse(&a.bytes);
    assert_eq!(
        top.header("Message-ID"),
        Some("<devis-42.v3@crm.example.com>")
    );
    assert_eq!(top.count("Message-ID"), 1);

    let g1 = compose_json(json!({"to": "jean@example.org"}));
    let g2 = compose_json(json!({"to": "jean@example.org"}));
    assert_ne!(g1.message_id, g2.message_id);
    assert!(g1.message_id.starts_with('<') && g1.message_id.ends_with("@example.com>"));
    assert_eq!(
        Entity::parse(&g1.bytes).header("Message-ID"),
        Some(g1.message_id.as_str())
    );
    assert!(Entity::parse(&g1.bytes).header("Date").is_some());
}

#[test]
fn date_given_is_written_in_utc() {
    let c =
        compose_json(json!({"to": "jean@example.org", "date": "Thu, 2 May 2024 14:30:00 +0200"}));
    assert_eq!(
        Entity::parse(&c.bytes).header("Date"),
        Some("Thu, 02 May 2024 12:30:00 +0000")
    );
}

#[test]
fn extra_headers_are_written() {
    let c = compose_json(json!({
        "to": "jean@example.org",
        "headers": {"X-CRM-Document": "Devis 42 — Élan", "References": "<a@b> <c@d>"}
    }));
    let top = Entity::parse(&c.bytes);
    assert_eq!(
        rfc2047_decode(top.header("X-CRM-Document").unwrap()),
        "Devis 42 — Élan"
    );
    assert_eq!(top.header("References"), Some("<a@b> <c@d>"));
}

// ---- refusals ------------------------------------------------------------------------------

#[test]
fn header_injection_is_refused_everywhere() {
    let base = json!({"from": "a@example.com", "to": "jean@example.org"});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("from", json!("a@example.com\r\nBcc: x@evil.net"), "from: "),
        ("sender", json!("s@example.com\nX: y"), "sender: "),
        (
            "to",
            json!(["ok@example.org", "jean@example.org\r\nBcc: x@evil.net"]),
            "to[1]: ",
        ),
        ("cc", json!("Jean\r\n <jean@example.org>"), "cc: "),
        ("bcc", json!(["x@example.org\u{0}"]), "bcc[0]: "),
        ("reply_to", json!(["r@example.org\r"]), "reply_to[0]: "),
        ("subject", json!("Devis\r\nBcc: x@evil.net"), "subject: "),
        (
            "message_id",
            json!("<a@b>\r\nBcc: x@evil.net"),
            "message_id: ",
        ),
        (
            "headers",
            json!({"X-A": "v\r\nBcc: x@evil.net"}),
            "headers[\"X-A\"]: ",
        ),
        (
            "headers",
            json!({"X-A": "v\nBcc: x@evil.net"}),
            "headers[\"X-A\"]: ",
        ),
        (
            "headers",
            json!({"X-Bad\r\nBcc": "x@evil.net"}),
            "headers[\"X-Bad\\r\\nBcc\"]: ",
        ),
        (
            "attachments",
            json!([{"filename": "a\r\nb.pdf", "base64": "QQ=="}]),
            "attachments[0].filename: ",
        ),
        (
            "attachments",
            json!([{"filename": "a.pdf", "content_type": "application/pdf\r\nBcc: x", "base64": "QQ=="}]),
            "attachments[0].content_type: ",
        ),
    ];
    for (key, value, prefix) in cases {
        let mut v = base.clone();
        v[key] = value;
        if key == "message_id" || key == "subject" {
            v["text"] = json!("t");
        }
        let e = compose_err(v);
        assert_eq!(e.status, Status::InvalidArgument, "{key}: {e}");
        assert!(
            e.message.starts_with(prefix),
            "{key}: expected {prefix:?}, got {:?}",
            e.message
        );
    }
}

#[test]
fn structural_headers_cannot_be_overridden() {
    for name in [
        "Bcc",
        "bcc",
        "Content-Type",
        "content-transfer-encoding",
        "MIME-Version",
        "From",
        "To",
        "Subject",
        "Message-Id",
        "Date",
        "Content-Disposition",
    ] {
        let e = compose_err(
            json!({"from": "a@example.com", "to": "jean@example.org", "headers": {name: "x"}}),
        );
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(
            e.message.starts_with(&format!("headers[{name:?}]: ")),
            "{name}: {}",
            e.message
        );
    }
}

#[test]
fn every_error_names_its_field() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"to": "jean@example.org"}),
            "from: missing (and the account has no email)",
        ),
        (
            json!({"from": "a@example.com", "to": ["jean@example.org", "jean@"]}),
            "to[1]: \"jean@\" is not an email address",
        ),
        (
            json!({"from": "a@example.com", "to": "jean@example.org; jean@"}),
            "to: \"jean@\" is not an email address",
        ),
        (json!({"from": "a@example.com"}), "to: no recipient"),
        (
            json!({"from": "a@example.com", "to": [], "cc": "", "bcc": []}),
            "to: no recipient",
        ),
        (
            json!({"from": "not an address", "to": "jean@example.org"}),
            "from: \"not an address\" is not an email address",
        ),
        (
            json!({"from": "a@example.com", "sender": "x", "to": "j@example.org"}),
            "sender: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "cc": ["ok@example.org", "@x"]}),
            "cc[1]: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "bcc": "x@"}),
            "bcc: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "reply_to": ["y"]}),
            "reply_to[0]: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "date": "demain"}),
            "date: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "message_id": "pas d'arobase"}),
            "message_id: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "text": "a\u{0}b"}),
            "text: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "html": "a\u{0}b"}),
            "html: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "headers": {"X-Bad\r\n": "v"}}),
            "headers[\"X-Bad\\r\\n\"]: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "headers": {"X:Y": "v"}}),
            "headers[\"X:Y\"]: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "headers": {"": "v"}}),
            "headers[\"\"]: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "attachments": [{"filename": "x.pdf", "path": "C:\\x.pdf"}]}),
            "attachments[0].path: cannot read C:\\x.pdf: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "attachments": [{"filename": "a", "base64": "QQ=="}, {"filename": "x.pdf", "base64": "not base64!"}]}),
            "attachments[1].base64: not valid base64",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "attachments": [{"filename": "x.pdf", "base64": "QQ==", "path": "/x"}]}),
            "attachments[0]: give either \"path\" or \"base64\", not both",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "attachments": [{"filename": "x.pdf"}]}),
            "attachments[0]: \"path\" or \"base64\" is required",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "attachments": [{"filename": "", "base64": "QQ=="}]}),
            "attachments[0].filename: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "attachments": [{"filename": "a", "base64": "QQ==", "content_type": "pdf"}]}),
            "attachments[0].content_type: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "text": "t", "inline": [{"content_id": "a", "content_type": "image/png", "base64": "QQ=="}]}),
            "inline: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "html": "h", "inline": [{"content_id": "a b", "content_type": "image/png", "base64": "QQ=="}]}),
            "inline[0].content_id: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "html": "h", "inline": [{"content_id": "a", "base64": "QQ=="}]}),
            "inline[0].content_type: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "html": "h", "inline": [{"content_id": "a", "content_type": "image/png", "base64": "Q"}]}),
            "inline[0].base64: ",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "html": "h", "inline": [{"content_id": "a", "content_type": "image/png", "path": "/nonexistent/x.png"}]}),
            "inline[0].path: cannot read /nonexistent/x.png: ",
        ),
        // Parse errors: unknown keys and wrong types, with the path.
        (
            json!({"from": "a@example.com", "To": "j@example.org"}),
            "To: unknown field `To`",
        ),
        (
            json!({"from": "a@example.com", "to": ["j@example.org", 42]}),
            "to[1]: invalid type",
        ),
        (
            json!({"from": "a@example.com", "to": {"a": 1}}),
            "to: invalid type",
        ),
        (
            json!({"from": 7, "to": "j@example.org"}),
            "from: invalid type",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "attachments": [{"filename": "a", "base64": "QQ==", "size": 1}]}),
            "attachments[0].size: unknown field",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "attachments": {"filename": "a"}}),
            "attachments: invalid type",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "inline": [{"base64": "QQ=="}]}),
            "inline[0]: missing field `content_id`",
        ),
        (
            json!({"from": "a@example.com", "to": "j@example.org", "headers": ["X-A"]}),
            "headers: invalid type",
        ),
    ];
    for (v, prefix) in cases {
        let e = compose_err(v.clone());
        assert_eq!(e.status, Status::InvalidArgument, "{v}: {e}");
        assert!(
            e.message.starts_with(prefix),
            "{v}\n expected prefix {prefix:?}\n got {:?}",
            e.message
        );
    }
}

#[test]
fn malformed_json_is_invalid_argument() {
    for bad in ["", "{", "[]", "\"x\"", "{\"to\": }"] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument, "{bad}");
        assert!(
            e.message.starts_with("message JSON: "),
            "{bad}: {}",
            e.message
        );
    }
}

#[test]
fn bom_is_accepted() {
    let m = parse("\u{feff}{\"to\": \"j@example.org\"}").unwrap();
    assert!(m.to.is_some());
}

#[test]
fn errors_in_french_keep_the_field_path() {
    let m = parse(r#"{"to": ["jean@"]}"#).unwrap();
    let e = compose(&m, Some("a@example.com"), Lang::Fr).unwrap_err();
    assert_eq!(e.message, "to[0]: \"jean@\" n'est pas une adresse email");
    let e = compose(
        &parse(r#"{"to": "j@example.org"}"#).unwrap(),
        None,
        Lang::Fr,
    )
    .unwrap_err();
    assert!(e.message.starts_with("from: absent"), "{}", e.message);
}

#[test]
fn too_large_attachment_is_refused() {
    let dir = std::env::temp_dir().join(format!("om-compose-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.pdf");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(MAX_ATTACHMENT_BYTES + 1).unwrap(); // sparse: cheap
    drop(f);
    let e = compose_err(json!({
        "from": "a@example.com", "to": "j@example.org",
        "attachments": [{"filename": "big.pdf", "path": path.to_str().unwrap()}]
    }));
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(
        e.message.starts_with("attachments[0].path: "),
        "{}",
        e.message
    );
    assert!(e.message.contains("50 MB"), "{}", e.message);

    // base64 too long: refused before decoding.
    let big = "A".repeat((MAX_ATTACHMENT_BYTES as usize / 3) * 4 + 8);
    let e = compose_err(json!({
        "from": "a@example.com", "to": "j@example.org",
        "attachments": [{"filename": "big.pdf", "base64": big}]
    }));
    assert!(
        e.message.starts_with("attachments[0].base64: "),
        "{}",
        e.message
    );
}

#[test]
fn default_from_is_used_and_validated() {
    let m = parse(r#"{"to": "j@example.org"}"#).unwrap();
    let c = compose(&m, Some("Compte <compte@example.com>"), Lang::En).unwrap();
    assert_eq!(c.envelope_from, "compte@example.com");
    let e = compose(&m, Some("nope"), Lang::En).unwrap_err();
    assert!(e.message.starts_with("from: "), "{}", e.message);
    let e = compose(&m, Some(""), Lang::En).unwrap_err();
    assert!(e.message.starts_with("from: missing"), "{}", e.message);
    let m = parse(r#"{"from": " ", "sender": "", "to": "j@example.org"}"#).unwrap();
    let c = compose(&m, Some("compte@example.com"), Lang::En).unwrap();
    assert_eq!(c.envelope_from, "compte@example.com");
}
