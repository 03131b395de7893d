//! A message parsed into what a host files it by: addresses with decoded names, the decoded
//! subject, the date, the thread ids, the bodies in UTF-8 and the attachment list.

use super::security::{self, Protection};
use mail_parser::decoders::charsets::{map::charset_decoder, DecoderFnc};
use mail_parser::decoders::html::html_to_text;
use mail_parser::parsers::MessageStream;
use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// One address of an address header; `name` decoded (RFC 2047, any charset), absent when none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// The header fields a host files a message by: also what a mailbox listing shows without
/// downloading the message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Envelope {
    pub from: Vec<Mailbox>,
    pub sender: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    /// Decoded; absent when the message has none.
    pub subject: Option<String>,
    /// The Date header as RFC 3339 (with the sender's offset); absent when missing or unreadable.
    pub date: Option<String>,
    /// The same instant in Unix seconds.
    pub date_unix: Option<i64>,
    /// Without the angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
}

/// One attachment or inline part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// Its position in `attachments`: what om_message_attachment takes.
    pub index: u32,
    /// Decoded (RFC 2231 continuations and charsets, RFC 2047); absent when the part has none.
    pub file_name: Option<String>,
    /// `type/subtype`, lower case.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// Without the angle brackets (what `cid:` URLs of the HTML body name).
    pub content_id: Option<String>,
    /// `attachment`, `inline`, or absent when the part says neither.
    pub disposition: Option<String>,
    /// A message attached whole (message/rfc822): its bytes are the attached message.
    pub is_message: bool,
    /// Outlook's `winmail.dat` (TNEF).
    pub is_tnef: bool,
}

/// A parsed message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Parsed {
    #[serde(flatten)]
    pub envelope: Envelope,
    /// The plain-text body in UTF-8: its text parts in order (text around inline images, a
    /// mailing list's footer), derived from the HTML body when there is no text part. Text that
    /// is not UTF-8 though it says it is (or names no charset mail-parser knows) is read as
    /// Windows-1252.
    pub text: Option<String>,
    /// `text` was derived from the HTML body.
    pub text_from_html: bool,
    /// The HTML body in UTF-8, as sent.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// S/MIME or PGP encryption: the bodies are not readable here.
    pub encrypted: bool,
    pub signed: bool,
    /// `smime` or `pgp` when encrypted or signed.
    pub security: Option<&'static str>,
    /// An attachment is Outlook's `winmail.dat` (TNEF), which the library lists but does not
    /// unpack.
    pub has_tnef: bool,
    /// The bytes held no message header at all (not an RFC 5322 message): every field empty.
    pub unreadable: bool,
}

/// What to include; everything by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParseOptions {
    /// Include the text body.
    pub text: bool,
    /// Include the HTML body.
    pub html: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            text: true,
            html: true,
        }
    }
}

impl ParseOptions {
    pub fn parse(json: Option<&str>) -> crate::error::Result<ParseOptions> {
        match json.map(str::trim) {
            None | Some("") => Ok(ParseOptions::default()),
            Some(j) => crate::json::parse(j, "parse options", crate::Status::InvalidArgument),
        }
    }
}

/// mail-parser with every header it knows parsed.
pub(crate) fn parser() -> MessageParser {
    MessageParser::default()
}

/// `raw` read by mail-parser, unless it holds no header field at all: mail-parser takes any
/// leading bytes up to a line end for a field name (the start of a JPEG or ZIP file), and a
/// message that starts with its empty line for one without header; neither is a message.
pub(crate) fn read(raw: &[u8]) -> Option<Message<'_>> {
    parser().parse(raw).filter(|m| {
        m.parts.first().is_some_and(|root| {
            root.headers.iter().any(|h| {
                let name = h.name.as_str();
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            })
        })
    })
}

fn mailboxes(a: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(a) = a else { return Vec::new() };
    a.iter()
        .map(|m| Mailbox {
            name: m
                .name()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            address: m.address().map(|s| s.trim().to_string()),
        })
        .collect()
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// The header fields of `message` (also of a header-only message).
pub fn envelope(message: &Message<'_>) -> Envelope {
    let date = message.date().filter(|d| d.is_valid());
    Envelope {
        from: mailboxes(message.from()),
        sender: mailboxes(message.sender()),
        reply_to: mailboxes(message.reply_to()),
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        bcc: mailboxes(message.bcc()),
        subject: message.subject().map(str::to_string),
        date: date.map(|d| d.to_rfc3339()),
        date_unix: date.map(|d| d.to_timestamp()),
        message_id: message.message_id().map(str::to_string),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
    }
}

/// The header fields of a message's header block (a listing's `BODY.PEEK[HEADER]`, POP3 TOP).
pub fn envelope_of_header(header: &[u8]) -> Envelope {
    let Some(m) = parser().parse_headers(header) else {
        return Envelope::default();
    };
    match header_as_utf8(header, m.parts.first()) {
        Cow::Borrowed(_) => envelope(&m),
        Cow::Owned(fixed) => parser()
            .parse_headers(&fixed)
            .map_or_else(|| envelope(&m), |m| envelope(&m)),
    }
}

/// Windows-1252, the usual charset of raw 8-bit text that says it is UTF-8 or says nothing.
fn cp1252(bytes: &[u8]) -> String {
    match charset_decoder(b"windows-1252") {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// `part`'s declared charset when mail-parser has a decoder for it (UTF-8 has none: it is the
/// default).
fn declared_decoder(part: &MessagePart<'_>) -> Option<DecoderFnc> {
    part.content_type()
        .and_then(|ct| ct.attribute("charset"))
        .and_then(|c| charset_decoder(c.as_bytes()))
}

/// `header` with its lines that are not UTF-8 (raw 8-bit bytes, against RFC 5322 but common
/// from older software) read in the charset `root` declares for its body, else Windows-1252.
/// mail-parser would read them as UTF-8, every such byte becoming U+FFFD. Borrowed when every
/// line is UTF-8.
fn header_as_utf8<'h>(header: &'h [u8], root: Option<&MessagePart<'_>>) -> Cow<'h, [u8]> {
    if std::str::from_utf8(header).is_ok() {
        return Cow::Borrowed(header);
    }
    let decode: DecoderFnc = root.and_then(declared_decoder).unwrap_or(cp1252);
    let mut out = Vec::with_capacity(header.len() + header.len() / 4);
    for line in header.split_inclusive(|&b| b == b'\n') {
        match std::str::from_utf8(line) {
            Ok(_) => out.extend_from_slice(line),
            Err(_) => out.extend_from_slice(decode(line).as_bytes()),
        }
    }
    Cow::Owned(out)
}

/// The bytes of `part` as the sender attached them: transfer-decoded (base64,
/// quoted-printable) but not converted from their charset. mail-parser converts every text
/// part (an attached `.txt`, `.csv`, `.html`) to UTF-8, replacing bytes that are not in the
/// declared charset, so such parts are decoded again here from `raw`. A part whose transfer
/// encoding mail-parser gave up on (the last part of a message cut before its final boundary)
/// is decoded here too; when the encoding is really broken the part's raw text is kept.
pub(crate) fn part_bytes<'a>(raw: &'a [u8], part: &'a MessagePart<'_>) -> Cow<'a, [u8]> {
    if !matches!(part.body, PartType::Text(_) | PartType::Html(_)) {
        return Cow::Borrowed(part.contents());
    }
    let Some(body) = raw.get(part.offset_body as usize..part.offset_end as usize) else {
        return Cow::Borrowed(part.contents());
    };
    let cte = part.content_transfer_encoding().unwrap_or("");
    let (end, decoded) = if cte.eq_ignore_ascii_case("base64") {
        MessageStream::new(body).decode_base64_mime(b"")
    } else if cte.eq_ignore_ascii_case("quoted-printable") {
        MessageStream::new(body).decode_quoted_printable_mime(b"")
    } else {
        return Cow::Borrowed(body);
    };
    if end == usize::MAX {
        Cow::Borrowed(body)
    } else {
        decoded
    }
}

/// The text of a text part in UTF-8: mail-parser's, except when the part declares no charset
/// mail-parser can decode (none, UTF-8 or an unknown name) and its bytes are not UTF-8: then
/// they are read as Windows-1252 (Latin-1 sent as `charset=utf-8`) instead of as U+FFFD.
fn part_text(raw: &[u8], part: &MessagePart<'_>) -> Option<String> {
    let text = match &part.body {
        PartType::Text(t) | PartType::Html(t) => t,
        _ => return None,
    };
    if !text.contains('\u{fffd}') || declared_decoder(part).is_some() {
        return Some(text.to_string());
    }
    let bytes = part_bytes(raw, part);
    Some(match std::str::from_utf8(&bytes) {
        Ok(_) => text.to_string(),
        Err(_) => cp1252(&bytes),
    })
}

/// The parts of a body list (`text_body`, `html_body`) that hold text: mail-parser lists the
/// inline images of a message there too.
fn text_parts<'m, 'x>(
    message: &'m Message<'x>,
    ids: &'m [u32],
) -> impl Iterator<Item = &'m MessagePart<'x>> {
    ids.iter()
        .filter_map(|&id| message.parts.get(id as usize))
        .filter(|p| p.is_text())
}

/// The text of a part mail-parser could not place (see [`Strays`]), decoded here.
fn stray_text(raw: &[u8], part: &MessagePart<'_>) -> String {
    let bytes = part_bytes(raw, part);
    match declared_decoder(part) {
        Some(decode) => decode(&bytes),
        None => match std::str::from_utf8(&bytes) {
            Ok(s) => s.to_string(),
            Err(_) => cp1252(&bytes),
        },
    }
}

/// Bodies mail-parser lists as attachments because the message is malformed: a multipart
/// whose boundary is missing or never used (its whole body), or a body part cut
/// before its final boundary (a truncated message). A part counts when it is text (declared
/// `text/plain`, `text/html`, none, or an unsplit `multipart/*`), has no file name, is not
/// marked `attachment`, and the message has no body of its kind: then it is the body, not an
/// attachment. Part ids.
#[derive(Default)]
struct Strays {
    text: Option<u32>,
    html: Option<u32>,
}

fn strays(message: &Message<'_>) -> Strays {
    let mut s = Strays::default();
    let has_text = text_parts(message, &message.text_body).next().is_some();
    let has_html = text_parts(message, &message.html_body).any(|p| p.is_text_html());
    if has_text && has_html {
        return s;
    }
    for &id in &message.attachments {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        if !matches!(
            part.body,
            PartType::Text(_) | PartType::Html(_) | PartType::Binary(_)
        ) || part.attachment_name().is_some()
            || part
                .content_disposition()
                .is_some_and(|d| d.c_type.eq_ignore_ascii_case("attachment"))
        {
            continue;
        }
        let (multipart, html) = match part.content_type() {
            None => (false, false),
            Some(ct) if ct.c_type.eq_ignore_ascii_case("multipart") => (true, false),
            Some(ct) if ct.c_type.eq_ignore_ascii_case("text") => {
                match ct.c_subtype.as_deref().unwrap_or("plain") {
                    st if st.eq_ignore_ascii_case("html") => (false, true),
                    st if st.eq_ignore_ascii_case("plain") => (false, false),
                    _ => continue,
                }
            }
            Some(_) => continue,
        };
        let text_body = matches!(part.body, PartType::Text(_) | PartType::Html(_));
        if !(multipart || text_body && part.is_encoding_problem) {
            continue;
        }
        if html && !has_html && s.html.is_none() {
            s.html = Some(id);
        } else if !html && !has_text && s.text.is_none() {
            s.text = Some(id);
        }
    }
    s
}

/// The parts listed as attachments: mail-parser's attachments, bodies it could not place
/// excepted (see [`Strays`]). Their positions are the `index` of [`Attachment`].
pub(crate) fn attachment_parts<'m, 'x>(message: &'m Message<'x>) -> Vec<&'m MessagePart<'x>> {
    let s = strays(message);
    message
        .attachments
        .iter()
        .filter(|&&id| Some(id) != s.text && Some(id) != s.html)
        .filter_map(|&id| message.parts.get(id as usize))
        .collect()
}

fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match &ct.c_subtype {
            Some(st) => format!("{}/{}", ct.c_type, st).to_ascii_lowercase(),
            None => ct.c_type.to_ascii_lowercase(),
        },
        None if part.is_message() => "message/rfc822".into(),
        None => "application/octet-stream".into(),
    }
}

pub(crate) fn attachment_of(raw: &[u8], index: u32, part: &MessagePart<'_>) -> Attachment {
    Attachment {
        index,
        file_name: part.attachment_name().map(str::to_string),
        content_type: content_type(part),
        size: part_bytes(raw, part).len() as u64,
        content_id: part
            .content_id()
            .map(|c| c.trim_matches(|ch| ch == '<' || ch == '>').to_string()),
        disposition: part
            .content_disposition()
            .map(|d| d.c_type.to_ascii_lowercase()),
        is_message: part.is_message(),
        is_tnef: security::is_tnef(part),
    }
}

/// Parses `raw` (RFC 5322 bytes from any source). Never fails: malformed mail gives what could be
/// read, and bytes that are no message at all give `unreadable` with every field empty.
///
/// Shaped beyond mail-parser's answer: attachments are the bytes as sent (`part_bytes`);
/// bodies of a malformed message that mail-parser lists as attachments are bodies (`Strays`);
/// raw 8-bit header lines and mislabelled text are read as Windows-1252 rather than as U+FFFD
/// (`header_as_utf8`, `part_text`).
pub fn parse(raw: &[u8], options: &ParseOptions) -> Parsed {
    let Some(message) = read(raw) else {
        return Parsed {
            unreadable: true,
            ..Default::default()
        };
    };
    let root = message.parts.first();
    let header = raw
        .get(..root.map_or(0, |r| r.offset_body as usize))
        .unwrap_or_default();
    let envelope = match header_as_utf8(header, root) {
        Cow::Borrowed(_) => envelope(&message),
        Cow::Owned(fixed) => parser()
            .parse_headers(&fixed)
            .map_or_else(|| envelope(&message), |m| envelope(&m)),
    };
    let strays = strays(&message);
    let stray = |id: Option<u32>| id.and_then(|id| message.parts.get(id as usize));
    let html = text_parts(&message, &message.html_body)
        .find(|p| p.is_text_html())
        .and_then(|p| part_text(raw, p))
        .or_else(|| stray(strays.html).map(|p| stray_text(raw, p)));
    // every text part of the text body, in order (an inline image between two text parts,
    // a mailing list's footer part); HTML parts there are the text body of an HTML-only message
    let mut text: Option<String> = None;
    let mut text_from_html = false;
    for p in text_parts(&message, &message.text_body) {
        let Some(t) = part_text(raw, p) else { continue };
        let t = if p.is_text_html() {
            text_from_html = true;
            html_to_text(&t)
        } else {
            t
        };
        match &mut text {
            None => text = Some(t),
            Some(all) => {
                if !all.is_empty() && !all.ends_with('\n') {
                    all.push_str("\r\n");
                }
                all.push_str(&t);
            }
        }
    }
    if text.is_none() {
        (text, text_from_html) = match stray(strays.text) {
            Some(p) => (Some(stray_text(raw, p)), false),
            None => (html.as_deref().map(html_to_text), html.is_some()),
        };
    }
    let attachments: Vec<Attachment> = attachment_parts(&message)
        .into_iter()
        .enumerate()
        .map(|(i, p)| attachment_of(raw, i as u32, p))
        .collect();
    let Protection {
        encrypted,
        signed,
        scheme,
    } = security::protection(&message);
    Parsed {
        envelope,
        text: if options.text { text } else { None },
        text_from_html: options.text && text_from_html,
        html: if options.html { html } else { None },
        has_tnef: attachments.iter().any(|a| a.is_tnef),
        attachments,
        encrypted,
        signed,
        security: scheme,
        unreadable: false,
    }
}
