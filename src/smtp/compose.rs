//! The outgoing message: the host's message JSON, validated and turned into RFC 5322 bytes.
//!
//! The host (e.g. the CRM sending a quote) describes the mail as JSON ([`MessageJson`]);
//! [`parse`] reads it, rejecting unknown keys and wrong types with the key's path, and
//! [`compose`] validates every field and builds the MIME message with lettre's builder:
//!
//! - text only → `text/plain`; html only → `text/html`; both → `multipart/alternative`;
//! - inline images (`cid:` references in the html) → the html inside `multipart/related`;
//! - attachments → everything inside `multipart/mixed`.
//!
//! Headers are UTF-8 with RFC 2047 encoded words where needed (display names, subject) and
//! attachment names use RFC 2231. `Bcc` never appears in the bytes: its addresses only go into
//! [`Composed::recipients`] (the SMTP envelope). Every validation error is
//! [`Status::InvalidArgument`](crate::Status::InvalidArgument) and starts with the path of the
//! offending field, e.g. `to[1]: "jean@" is not an email address`.

use crate::lang::Lang;
use base64::Engine as _;
use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest attachment (or inline image) accepted, in bytes (50 MiB), after decoding.
pub const MAX_ATTACHMENT_BYTES: u64 = 50 * 1024 * 1024;

/// The longest run of non-blank characters accepted in a header value (subject, extra
/// headers): longer would make a header line exceed the 998-character limit of RFC 5322.
const MAX_HEADER_WORD: usize = 900;

/// Addresses as a JSON array of strings or as one string.
///
/// In the one-string form, addresses may be separated by `,` or `;` (outside quotes and angle
/// brackets), and an empty or blank string means "no address" (legacy hosts send `"cc": ""`).
/// In the array form every element must be one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    One(String),
    List(Vec<String>),
}

impl Default for Addresses {
    fn default() -> Self {
        Addresses::List(Vec::new())
    }
}

impl<'de> Deserialize<'de> for Addresses {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AddressesVisitor;

        impl<'de> Visitor<'de> for AddressesVisitor {
            type Value = Addresses;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an address string or an array of address strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Addresses, E> {
                Ok(Addresses::One(v.to_string()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Addresses, E> {
                Ok(Addresses::One(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Addresses, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(Addresses::List(v))
            }
        }

        deserializer.deserialize_any(AddressesVisitor)
    }
}

impl Addresses {
    /// Each address with the path naming it in errors (`to[1]`, or `to` for the one-string form).
    fn items(&self, field: &str) -> Vec<(String, String)> {
        match self {
            Addresses::List(v) => v
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("{field}[{i}]"), s.clone()))
                .collect(),
            Addresses::One(s) => split_address_list(s)
                .into_iter()
                .map(|a| (field.to_string(), a))
                .collect(),
        }
    }
}

/// The message as the host describes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageJson {
    /// `"Jean Dupont <jean@example.com>"` or `"jean@example.com"`; the account's email when
    /// absent or blank.
    #[serde(default)]
    pub from: Option<String>,
    /// The `Sender` header (who actually sends on behalf of `from`); also the envelope sender.
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(default)]
    pub to: Option<Addresses>,
    #[serde(default)]
    pub cc: Option<Addresses>,
    /// Hidden recipients: in the envelope only, never in the message bytes.
    #[serde(default)]
    pub bcc: Option<Addresses>,
    #[serde(default)]
    pub reply_to: Option<Addresses>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Option<Vec<AttachmentJson>>,
    /// Images the html references as `cid:<content_id>`.
    #[serde(default)]
    pub inline: Option<Vec<InlineJson>>,
    /// Extra headers (`X-…`, `In-Reply-To`, `References`, …). Structural headers and those
    /// that have their own field are refused.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// `<id@domain>` (the angle brackets may be omitted); generated when absent.
    #[serde(default)]
    pub message_id: Option<String>,
    /// RFC 3339 (`2024-05-02T14:30:00+02:00`) or RFC 2822 (`Thu, 2 May 2024 14:30:00 +0200`);
    /// now when absent. Written in UTC.
    #[serde(default)]
    pub date: Option<String>,
}

/// A file attached to the message: exactly one of `path` and `base64`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentJson {
    /// The name the recipient sees.
    pub filename: String,
    /// Guessed from the filename's extension when absent (see [`guess_content_type`]).
    #[serde(default)]
    pub content_type: Option<String>,
    /// A file read when the message is composed.
    #[serde(default)]
    pub path: Option<String>,
    /// The content, base64 (standard alphabet, padded; line breaks and blanks are ignored).
    #[serde(default)]
    pub base64: Option<String>,
}

/// An image embedded in the html (`<img src="cid:logo">`): exactly one of `path` and `base64`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineJson {
    /// The id the html references after `cid:` (surrounding `<>` are accepted and removed).
    pub content_id: String,
    /// Guessed from `filename` or `path` when absent.
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub base64: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

/// A composed message, ready for SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The RFC 5322 message, CRLF line endings, no `Bcc` header.
    pub bytes: Vec<u8>,
    /// The `Message-ID` header's value, with its angle brackets: `<…@…>`.
    pub message_id: String,
    /// The envelope sender (`MAIL FROM`): the `sender` address if given, else the `from` one.
    pub envelope_from: String,
    /// The envelope recipients (`RCPT TO`): the to, cc and bcc addresses, in that order,
    /// without duplicates (compared case-insensitively).
    pub recipients: Vec<String>,
}

/// Reads the host's message JSON, naming the offending key on error.
pub fn parse(json: &str) -> crate::Result<MessageJson> {
    // Windows hosts sometimes write a BOM; serde would also accept an array for the struct.
    let json = json.strip_prefix('\u{feff}').unwrap_or(json);
    if !json.trim_start().starts_with('{') {
        return Err(crate::Error::invalid_argument(
            "message JSON: expected a JSON object ({\"from\": …, \"to\": …})",
        ));
    }
    crate::json::parse_at(json).map_err(|f| match f.path {
        Some(path) => crate::Error::invalid_argument(format!("{path}: {}", f.message)),
        None => crate::Error::invalid_argument(format!("message JSON: {}", f.message)),
    })
}

/// The MIME type for a file name's extension (case-insensitive), if known.
pub fn guess_content_type(filename: &str) -> Option<&'static str> {
    let ext = filename.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "zip" => "application/zip",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "ics" => "text/calendar",
        "eml" => "message/rfc822",
        _ => return None,
    })
}

/// Validates `msg` and builds the message.
///
/// `default_from` is the account's email, used when `msg.from` is absent. `lang` is the
/// language of error messages (the field paths stay as in the JSON).
pub fn compose(
    msg: &MessageJson,
    default_from: Option<&str>,
    lang: Lang,
) -> crate::Result<Composed> {
    compose_with(msg, default_from, lang, TextEncoding::SevenBit)
}

/// How the text and HTML bodies of a composed message travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// 7-bit only: non-ASCII text goes quoted-printable (or base64), as any server takes it.
    SevenBit,
    /// Non-ASCII text as it is (`8bit`, lines of at most 998 bytes; else as for `SevenBit`):
    /// for a server that announced 8BITMIME. About a quarter smaller for accented text.
    EightBit,
}

/// [`compose`], with the text bodies in `encoding`.
pub fn compose_with(
    msg: &MessageJson,
    default_from: Option<&str>,
    lang: Lang,
    encoding: TextEncoding,
) -> crate::Result<Composed> {
    // Originator.
    // Blank strings count as absent (legacy hosts send `"from": ""`).
    let given = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
    let from = match (given(&msg.from), default_from) {
        (Some(f), _) => parse_mailbox("from", &f, lang)?,
        (None, Some(d)) if !d.trim().is_empty() => parse_mailbox("from", d, lang)?,
        (None, _) => {
            return Err(field_err(
                "from",
                lang.pick(
                    "missing (and the account has no email)",
                    "absent (et le compte n'a pas d'adresse email)",
                ),
            ))
        }
    };
    let sender = match given(&msg.sender) {
        Some(s) => Some(parse_mailbox("sender", &s, lang)?),
        None => None,
    };

    // Recipients.
    let to = parse_addresses("to", msg.to.as_ref(), lang)?;
    let cc = parse_addresses("cc", msg.cc.as_ref(), lang)?;
    let bcc = parse_addresses("bcc", msg.bcc.as_ref(), lang)?;
    let reply_to = parse_addresses("reply_to", msg.reply_to.as_ref(), lang)?;
    let mut recipients: Vec<Address> = Vec::new();
    for mb in to.iter().chain(&cc).chain(&bcc) {
        let a = &mb.email;
        if !recipients
            .iter()
            .any(|r| AsRef::<str>::as_ref(r).eq_ignore_ascii_case(a.as_ref()))
        {
            recipients.push(a.clone());
        }
    }
    if recipients.is_empty() {
        return Err(field_err(
            "to",
            lang.pick(
                "no recipient (to, cc and bcc are all empty)",
                "aucun destinataire (to, cc et bcc sont tous vides)",
            ),
        ));
    }

    // Header fields.
    let subject = match &msg.subject {
        Some(s) => {
            check_header_text("subject", s, lang)?;
            Some(s.clone())
        }
        None => None,
    };
    let date = match &msg.date {
        Some(d) => parse_date(d).ok_or_else(|| {
            field_err(
                "date",
                &lang.pick_string(
                    format!(
                        "{d:?} is not an RFC 3339 (2024-05-02T14:30:00+02:00) or RFC 2822 \
                         (Thu, 2 May 2024 14:30:00 +0200) date between 1970 and 9999"
                    ),
                    format!(
                        "{d:?} n'est pas une date RFC 3339 (2024-05-02T14:30:00+02:00) ou \
                         RFC 2822 (Thu, 2 May 2024 14:30:00 +0200) entre 1970 et 9999"
                    ),
                ),
            )
        })?,
        None => SystemTime::now(),
    };
    let message_id = match &msg.message_id {
        Some(id) => check_message_id(id, lang)?,
        None => generate_message_id(&from.email),
    };
    let extra_headers = check_extra_headers(msg.headers.as_ref(), lang)?;

    // Body parts.
    let text = match &msg.text {
        Some(t) => Some(check_body("text", t, lang)?),
        None => None,
    };
    let html = match &msg.html {
        Some(h) => Some(check_body("html", h, lang)?),
        None => None,
    };
    let inline = load_inline(msg.inline.as_deref().unwrap_or(&[]), lang)?;
    if !inline.is_empty() && html.is_none() {
        return Err(field_err(
            "inline",
            lang.pick(
                "inline images need an \"html\" body that references them as cid:…",
                "les images intégrées exigent un corps \"html\" qui les référence en cid:…",
            ),
        ));
    }
    let attachments = load_attachments(msg.attachments.as_deref().unwrap_or(&[]), lang)?;

    // A single part at the top of the message gets `top_level_body` (see there).
    let alone = attachments.is_empty();
    let plain = |t: String, top: bool| SinglePart::plain(text_body(t, top, encoding));
    let html_part = html.map(|h| {
        if inline.is_empty() {
            let top = alone && text.is_none();
            Part::Single(SinglePart::html(text_body(h, top, encoding)))
        } else {
            let mut related =
                MultiPart::related().singlepart(SinglePart::html(text_body(h, false, encoding)));
            for p in inline {
                related = related.singlepart(p);
            }
            Part::Multi(related)
        }
    });
    let body = match (text, html_part) {
        (Some(t), None) => Part::Single(plain(t, alone)),
        (None, Some(h)) => h,
        (Some(t), Some(h)) => {
            let alt = MultiPart::alternative().singlepart(plain(t, false));
            Part::Multi(match h {
                Part::Single(s) => alt.singlepart(s),
                Part::Multi(m) => alt.multipart(m),
            })
        }
        (None, None) => Part::Single(SinglePart::plain(String::new())),
    };
    let body = if attachments.is_empty() {
        body
    } else {
        let mut mixed = match body {
            Part::Single(s) => MultiPart::mixed().singlepart(s),
            Part::Multi(m) => MultiPart::mixed().multipart(m),
        };
        for a in attachments {
            mixed = mixed.singlepart(a);
        }
        Part::Multi(mixed)
    };

    // The message.
    let envelope_from = sender.as_ref().unwrap_or(&from).email.clone();
    let envelope = Envelope::new(Some(envelope_from.clone()), recipients.clone())
        .map_err(|e| crate::Error::invalid_argument(format!("to: {e}")))?;
    let mut b = Message::builder().from(from);
    if let Some(s) = sender {
        b = b.sender(s);
    }
    for mb in reply_to {
        b = b.reply_to(mb);
    }
    for mb in to {
        b = b.to(mb);
    }
    for mb in cc {
        b = b.cc(mb);
    }
    if let Some(s) = subject {
        b = b.subject(s);
    }
    b = b
        .date(date)
        .message_id(Some(message_id.clone()))
        .envelope(envelope);
    for (name, value) in extra_headers {
        b = b.raw_header(HeaderValue::new(name, value));
    }
    let message = match body {
        Part::Single(s) => b.singlepart(s),
        Part::Multi(m) => b.multipart(m),
    }
    .map_err(|e| {
        crate::Error::invalid_argument(lang.pick_string(
            format!("message: cannot build it: {e}"),
            format!("message : impossible de le construire : {e}"),
        ))
    })?;

    let bytes = message.formatted();
    // RFC 5322 §2.1.1: no line above 998 characters. Headers are folded at spaces; a single
    // word longer than that (a name or subject without any space) cannot be folded.
    if let Some(n) = bytes
        .split(|&c| c == b'\n')
        .map(|l| l.len().saturating_sub(1))
        .find(|&n| n > 998)
    {
        return Err(crate::Error::invalid_argument(lang.pick_string(
            format!("message: a header would make a line of {n} characters (at most 998): a name, subject or header value has a word that long without any space; shorten it"),
            format!("message : un en-tête ferait une ligne de {n} caractères (998 au plus) : un nom, un objet ou une valeur d'en-tête contient un mot aussi long sans espace ; raccourcissez-le"),
        )));
    }
    Ok(Composed {
        bytes,
        message_id,
        envelope_from: envelope_from.to_string(),
        recipients: recipients.iter().map(|a| a.to_string()).collect(),
    })
}

/// The body of a single-part message. lettre ends the message with a CRLF after the encoded
/// body; for 7bit, 8bit and quoted-printable that CRLF is part of the content, so one final line
/// break of the text is dropped here to have the recipient see the text exactly (base64 keeps
/// it: there the CRLF is not content).
fn top_level_body(text: String, encoding: TextEncoding) -> Body {
    match text.strip_suffix('\n') {
        Some(trimmed) => {
            let body = encoded_body(trimmed.to_string(), encoding);
            if body.encoding() == ContentTransferEncoding::Base64 {
                encoded_body(text, encoding)
            } else {
                body
            }
        }
        None => encoded_body(text, encoding),
    }
}

/// A text body: `top` when it is the whole message (see [`top_level_body`]).
fn text_body(text: String, top: bool, encoding: TextEncoding) -> Body {
    if top {
        top_level_body(text, encoding)
    } else {
        encoded_body(text, encoding)
    }
}

/// lettre's choice (7bit, quoted-printable or base64), or 8bit for non-ASCII text when allowed
/// and its lines fit in SMTP's 998 bytes (lettre's own chooser wants 76, which a paragraph
/// typed without line breaks never fits).
fn encoded_body(text: String, encoding: TextEncoding) -> Body {
    if encoding == TextEncoding::EightBit && !text.is_ascii() {
        let crlf = crate::smtp::envelope::to_crlf(text.as_bytes());
        // each piece split at LF keeps its CR: at most 998 bytes of text + CR
        let fits = crlf.split(|b| *b == b'\n').all(|l| l.len() <= 999) && !crlf.contains(&0);
        if fits {
            return Body::dangerous_pre_encoded(crlf, ContentTransferEncoding::EightBit);
        }
    }
    Body::new(text)
}

enum Part {
    Single(SinglePart),
    Multi(MultiPart),
}

/// An InvalidArgument error whose message starts with the field's path.
fn field_err(field: &str, msg: &str) -> crate::Error {
    crate::Error::invalid_argument(format!("{field}: {msg}"))
}

fn injection_msg(lang: Lang) -> &'static str {
    lang.pick(
        "contains a line break or NUL character (header injection refused)",
        "contient un saut de ligne ou un caractère NUL (injection d'en-tête refusée)",
    )
}

fn has_injection(s: &str) -> bool {
    s.contains(['\r', '\n', '\0'])
}

/// Splits the one-string form at `,` and `;` outside quotes, comments and angle brackets.
fn split_address_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped, mut angle, mut comment) = (false, false, false, 0u32);
    for c in s.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' if quoted || comment > 0 => escaped = true,
            '"' if comment == 0 => quoted = !quoted,
            '<' if !quoted && comment == 0 => angle = true,
            '>' if !quoted && comment == 0 => angle = false,
            '(' if !quoted => comment += 1,
            ')' if !quoted && comment > 0 => comment -= 1,
            ',' | ';' if !quoted && !angle && comment == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

fn parse_mailbox(field: &str, s: &str, lang: Lang) -> crate::Result<Mailbox> {
    if has_injection(s) {
        return Err(field_err(field, &format!("{s:?} {}", injection_msg(lang))));
    }
    s.trim().parse::<Mailbox>().map_err(|_| {
        field_err(
            field,
            &lang.pick_string(
                format!("{s:?} is not an email address"),
                format!("{s:?} n'est pas une adresse email"),
            ),
        )
    })
}

fn parse_addresses(
    field: &str,
    list: Option<&Addresses>,
    lang: Lang,
) -> crate::Result<Vec<Mailbox>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    list.items(field)
        .iter()
        .map(|(path, s)| parse_mailbox(path, s, lang))
        .collect()
}

/// Subject and extra header values: no line breaks, no control characters but tab, no word
/// too long for one header line.
fn check_header_text(field: &str, s: &str, lang: Lang) -> crate::Result<()> {
    if has_injection(s) {
        return Err(field_err(field, injection_msg(lang)));
    }
    if s.chars().any(|c| c.is_control() && c != '\t') {
        return Err(field_err(
            field,
            lang.pick(
                "contains a control character",
                "contient un caractère de contrôle",
            ),
        ));
    }
    if s.split([' ', '\t']).any(|w| w.len() > MAX_HEADER_WORD) {
        return Err(field_err(
            field,
            &lang.pick_string(
                format!("has a word longer than {MAX_HEADER_WORD} characters (a header line is limited to 998)"),
                format!("contient un mot de plus de {MAX_HEADER_WORD} caractères (une ligne d'en-tête est limitée à 998)"),
            ),
        ));
    }
    Ok(())
}

/// Text and html bodies: no NUL; line endings normalized to `\n` (lettre writes CRLF).
fn check_body(field: &str, s: &str, lang: Lang) -> crate::Result<String> {
    if s.contains('\0') {
        return Err(field_err(
            field,
            lang.pick("contains a NUL character", "contient un caractère NUL"),
        ));
    }
    Ok(s.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Headers the host may not set through `headers`, with the field to use instead, if any.
const RESERVED_HEADERS: &[(&str, Option<&str>)] = &[
    ("From", Some("from")),
    ("Sender", Some("sender")),
    ("To", Some("to")),
    ("Cc", Some("cc")),
    ("Bcc", Some("bcc")),
    ("Reply-To", Some("reply_to")),
    ("Subject", Some("subject")),
    ("Date", Some("date")),
    ("Message-ID", Some("message_id")),
    ("MIME-Version", None),
    ("Content-Type", None),
    ("Content-Transfer-Encoding", None),
    ("Content-Disposition", None),
    ("Content-ID", None),
    ("Content-Length", None),
    ("Return-Path", None),
    ("Received", None),
];

fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 76
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

fn check_extra_headers(
    headers: Option<&BTreeMap<String, String>>,
    lang: Lang,
) -> crate::Result<Vec<(HeaderName, String)>> {
    let mut out: Vec<(HeaderName, String)> = Vec::new();
    let Some(headers) = headers else {
        return Ok(out);
    };
    for (name, value) in headers {
        let field = format!("headers[{name:?}]");
        if !valid_header_name(name) {
            return Err(field_err(
                &field,
                &lang.pick_string(
                    format!("{name:?} is not a valid header name (1 to 76 printable ASCII characters, no colon or space)"),
                    format!("{name:?} n'est pas un nom d'en-tête valide (1 à 76 caractères ASCII imprimables, sans deux-points ni espace)"),
                ),
            ));
        }
        if let Some((reserved, instead)) = RESERVED_HEADERS
            .iter()
            .find(|(r, _)| r.eq_ignore_ascii_case(name))
        {
            let msg = match instead {
                Some(f) => lang.pick_string(
                    format!("{reserved} cannot be set through \"headers\": use the \"{f}\" field"),
                    format!("{reserved} ne peut pas être défini par \"headers\" : utilisez le champ \"{f}\""),
                ),
                None => lang.pick_string(
                    format!("{reserved} is set by oauthmail from the message structure and cannot be overridden"),
                    format!("{reserved} est défini par oauthmail d'après la structure du message et ne peut pas être remplacé"),
                ),
            };
            return Err(field_err(&field, &msg));
        }
        if let Some((other, _)) = out.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(field_err(
                &field,
                &lang.pick_string(
                    format!(
                        "duplicate of {:?} (header names ignore case)",
                        other.to_string()
                    ),
                    format!(
                        "doublon de {:?} (les noms d'en-tête ignorent la casse)",
                        other.to_string()
                    ),
                ),
            ));
        }
        check_header_text(&field, value, lang)?;
        let hn = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| field_err(&field, &format!("{name:?} is not a valid header name")))?;
        out.push((hn, value.clone()));
    }
    Ok(out)
}

/// `<id@domain>` or `id@domain`: printable ASCII, no blanks, one `@` inside.
fn check_message_id(id: &str, lang: Lang) -> crate::Result<String> {
    if has_injection(id) {
        return Err(field_err("message_id", injection_msg(lang)));
    }
    let trimmed = id.trim();
    let inner = trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed);
    let ok = inner
        .split_once('@')
        .is_some_and(|(l, r)| !l.is_empty() && !r.is_empty() && !r.contains('@'))
        && inner.len() <= MAX_HEADER_WORD
        && inner.bytes().all(|b| {
            (33..=126).contains(&b) && !b"<>\"\\(),;:".contains(&b) || b == b'[' || b == b']'
        });
    if !ok {
        return Err(field_err(
            "message_id",
            &lang.pick_string(
                format!("{id:?} is not a message id (expected <unique-part@domain>)"),
                format!("{id:?} n'est pas un identifiant de message (attendu : <partie-unique@domaine>)"),
            ),
        ));
    }
    Ok(format!("<{inner}>"))
}

/// `<uuid@domain-of-from>` with a random (v4-style) UUID.
fn generate_message_id(from: &Address) -> String {
    let token = oauth2::CsrfToken::new_random_len(16);
    let uuid = match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.secret()) {
        Ok(mut b) if b.len() == 16 => {
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        }
        // URL-safe base64 is valid in a message id as it is.
        _ => token.secret().clone(),
    };
    format!("<{uuid}@{}>", message_id_domain(from.domain()))
}

/// The from address's domain in ASCII (IDNA for internationalized domains), else `localhost`.
fn message_id_domain(domain: &str) -> String {
    let plain = |d: &str| {
        !d.is_empty()
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    if plain(domain) {
        return domain.to_ascii_lowercase();
    }
    match url::Host::parse(domain) {
        Ok(url::Host::Domain(d)) if plain(&d) => d,
        _ => "localhost".to_string(),
    }
}

/// Reads an attachment's or inline image's content from `path` or `base64`.
fn load_content(
    field: &str,
    path: Option<&str>,
    b64: Option<&str>,
    lang: Lang,
) -> crate::Result<Vec<u8>> {
    let too_big = |f: &str, size: u64| {
        field_err(
            f,
            &lang.pick_string(
                format!(
                    "{size} bytes is more than the {} MB allowed per attachment",
                    MAX_ATTACHMENT_BYTES / (1024 * 1024)
                ),
                format!(
                    "{size} octets dépasse les {} Mo permis par pièce jointe",
                    MAX_ATTACHMENT_BYTES / (1024 * 1024)
                ),
            ),
        )
    };
    match (path, b64) {
        (Some(p), None) => {
            let f = format!("{field}.path");
            let cannot_read = |e: &std::io::Error| {
                field_err(
                    &f,
                    &lang.pick_string(
                        format!("cannot read {p}: {e}"),
                        format!("impossible de lire {p} : {e}"),
                    ),
                )
            };
            if p.trim().is_empty() || p.contains('\0') {
                return Err(field_err(
                    &f,
                    lang.pick("empty or invalid path", "chemin vide ou invalide"),
                ));
            }
            let meta = std::fs::metadata(p).map_err(|e| cannot_read(&e))?;
            if !meta.is_file() {
                return Err(field_err(
                    &f,
                    &lang.pick_string(
                        format!("cannot read {p}: not a file"),
                        format!("impossible de lire {p} : ce n'est pas un fichier"),
                    ),
                ));
            }
            if meta.len() > MAX_ATTACHMENT_BYTES {
                return Err(too_big(&f, meta.len()));
            }
            let bytes = std::fs::read(p).map_err(|e| cannot_read(&e))?;
            if bytes.len() as u64 > MAX_ATTACHMENT_BYTES {
                return Err(too_big(&f, bytes.len() as u64));
            }
            Ok(bytes)
        }
        (None, Some(b)) => {
            let f = format!("{field}.base64");
            let compact: String = b.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let estimate = (compact.len() as u64 / 4) * 3;
            if estimate > MAX_ATTACHMENT_BYTES + 3 {
                return Err(too_big(&f, estimate));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| {
                    field_err(
                        &f,
                        &lang.pick_string(
                            format!("not valid base64 ({e})"),
                            format!("base64 invalide ({e})"),
                        ),
                    )
                })?;
            if bytes.len() as u64 > MAX_ATTACHMENT_BYTES {
                return Err(too_big(&f, bytes.len() as u64));
            }
            Ok(bytes)
        }
        (Some(_), Some(_)) => Err(field_err(
            field,
            lang.pick(
                "give either \"path\" or \"base64\", not both",
                "donnez \"path\" ou \"base64\", pas les deux",
            ),
        )),
        (None, None) => Err(field_err(
            field,
            lang.pick(
                "\"path\" or \"base64\" is required",
                "\"path\" ou \"base64\" est obligatoire",
            ),
        )),
    }
}

fn parse_content_type(field: &str, ct: &str, lang: Lang) -> crate::Result<ContentType> {
    let bad = || {
        field_err(
            field,
            &lang.pick_string(
                format!("{ct:?} is not a MIME type (e.g. application/pdf)"),
                format!("{ct:?} n'est pas un type MIME (par ex. application/pdf)"),
            ),
        )
    };
    if has_injection(ct) || ct.chars().any(|c| c.is_control()) {
        return Err(field_err(field, injection_msg(lang)));
    }
    let parsed = ContentType::parse(ct.trim()).map_err(|_| bad())?;
    if ct.trim().to_ascii_lowercase().starts_with("multipart/") {
        return Err(field_err(
            field,
            lang.pick(
                "multipart types cannot be attached (attach the file as message/rfc822 or application/octet-stream)",
                "les types multipart ne peuvent pas être joints (joignez le fichier en message/rfc822 ou application/octet-stream)",
            ),
        ));
    }
    Ok(parsed)
}

fn check_filename(field: &str, name: &str, lang: Lang) -> crate::Result<()> {
    if name.trim().is_empty() {
        return Err(field_err(field, lang.pick("empty", "vide")));
    }
    if name.chars().count() > 255 {
        return Err(field_err(
            field,
            lang.pick("longer than 255 characters", "plus de 255 caractères"),
        ));
    }
    if has_injection(name) {
        return Err(field_err(field, injection_msg(lang)));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(field_err(
            field,
            lang.pick(
                "contains a control character",
                "contient un caractère de contrôle",
            ),
        ));
    }
    Ok(())
}

/// Adds a `name` parameter (RFC 2047 encoded words when needed) to the content type, for mail
/// clients that ignore the RFC 2231 `filename*` of `Content-Disposition` (older Outlook
/// versions). Keeps the type as given when it already has a name or when the result does not
/// parse.
fn content_type_with_name(ct_str: &str, filename: &str) -> Option<ContentType> {
    let lower = ct_str.to_ascii_lowercase();
    if lower
        .split(';')
        .skip(1)
        .any(|p| p.trim_start().starts_with("name="))
    {
        return None;
    }
    let plain = filename.len() <= 60
        && filename
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    let value = if plain {
        filename.to_string()
    } else {
        // Encoded words of at most 75 characters: 45 bytes of UTF-8 each, cut on char boundaries.
        let mut words = Vec::new();
        let mut chunk = String::new();
        for c in filename.chars() {
            if chunk.len() + c.len_utf8() > 45 {
                words.push(std::mem::take(&mut chunk));
            }
            chunk.push(c);
        }
        if !chunk.is_empty() {
            words.push(chunk);
        }
        words
            .iter()
            .map(|w| {
                format!(
                    "=?utf-8?b?{}?=",
                    base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    ContentType::parse(&format!("{}; name=\"{value}\"", ct_str.trim())).ok()
}

/// The body of an attachment: base64, except message/rfc822 which RFC 2046 §5.2.1 wants in
/// 7bit (when its content allows it: ASCII, CRLF line endings, lines of at most 998).
fn attachment_body(bytes: Vec<u8>, content_type: &str) -> Body {
    let is_message = content_type
        .trim()
        .to_ascii_lowercase()
        .starts_with("message/");
    if is_message && is_7bit_clean(&bytes) {
        return Body::dangerous_pre_encoded(bytes, ContentTransferEncoding::SevenBit);
    }
    Body::new_with_encoding(bytes, ContentTransferEncoding::Base64).unwrap_or_else(|b| {
        Body::dangerous_pre_encoded(base64_lines(&b), ContentTransferEncoding::Base64)
    })
}

fn base64_lines(b: &[u8]) -> Vec<u8> {
    let s = base64::engine::general_purpose::STANDARD.encode(b);
    let mut out = Vec::with_capacity(s.len() + s.len() / 38);
    for (i, chunk) in s.as_bytes().chunks(76).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(chunk);
    }
    out
}

fn is_7bit_clean(b: &[u8]) -> bool {
    if b.iter().any(|&c| c == 0 || c > 127) {
        return false;
    }
    // CRLF only, lines of at most 998 characters.
    let breaks = b.iter().filter(|&&c| c == b'\n').count();
    b.split(|&c| c == b'\n').enumerate().all(|(i, line)| {
        let last = i == breaks;
        let content = if last {
            line
        } else {
            match line.strip_suffix(b"\r") {
                Some(l) => l,
                None => return false,
            }
        };
        !content.contains(&b'\r') && content.len() <= 998
    })
}

fn load_attachments(list: &[AttachmentJson], lang: Lang) -> crate::Result<Vec<SinglePart>> {
    let mut out = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        let field = format!("attachments[{i}]");
        check_filename(&format!("{field}.filename"), &a.filename, lang)?;
        let ct_str = match &a.content_type {
            Some(ct) => ct.as_str(),
            None => guess_content_type(&a.filename).unwrap_or("application/octet-stream"),
        };
        let ct = parse_content_type(&format!("{field}.content_type"), ct_str, lang)?;
        let ct = content_type_with_name(ct_str, &a.filename).unwrap_or(ct);
        let bytes = load_content(&field, a.path.as_deref(), a.base64.as_deref(), lang)?;
        let body = attachment_body(bytes, ct_str);
        out.push(Attachment::new(a.filename.clone()).body(body, ct));
    }
    Ok(out)
}

fn load_inline(list: &[InlineJson], lang: Lang) -> crate::Result<Vec<SinglePart>> {
    let mut out = Vec::with_capacity(list.len());
    let mut ids: Vec<String> = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let field = format!("inline[{i}]");
        let id_field = format!("{field}.content_id");
        let raw = a.content_id.trim();
        let id = raw
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(raw);
        if has_injection(&a.content_id) {
            return Err(field_err(&id_field, injection_msg(lang)));
        }
        let id_ok = !id.is_empty()
            && id.len() <= 200
            && id
                .bytes()
                .all(|b| (33..=126).contains(&b) && !b"<>\"\\()".contains(&b));
        if !id_ok {
            return Err(field_err(
                &id_field,
                &lang.pick_string(
                    format!("{:?} is not a valid content id (printable ASCII, no blanks, quotes, parentheses or angle brackets)", a.content_id),
                    format!("{:?} n'est pas un content id valide (ASCII imprimable, sans blancs, guillemets, parenthèses ni chevrons)", a.content_id),
                ),
            ));
        }
        if ids.iter().any(|x| x.eq_ignore_ascii_case(id)) {
            return Err(field_err(
                &id_field,
                &lang.pick_string(
                    format!("{id:?} is used twice"),
                    format!("{id:?} est utilisé deux fois"),
                ),
            ));
        }
        ids.push(id.to_string());
        if let Some(name) = &a.filename {
            check_filename(&format!("{field}.filename"), name, lang)?;
        }
        let ct_str = match &a.content_type {
            Some(ct) => ct.as_str(),
            None => {
                let guess = a
                    .filename
                    .as_deref()
                    .and_then(guess_content_type)
                    .or_else(|| a.path.as_deref().and_then(guess_content_type));
                match guess {
                    Some(g) => g,
                    None => {
                        return Err(field_err(
                            &format!("{field}.content_type"),
                            lang.pick(
                                "required (it cannot be guessed from \"filename\" or \"path\")",
                                "obligatoire (impossible de le deviner d'après \"filename\" ou \"path\")",
                            ),
                        ))
                    }
                }
            }
        };
        let ct = parse_content_type(&format!("{field}.content_type"), ct_str, lang)?;
        let bytes = load_content(&field, a.path.as_deref(), a.base64.as_deref(), lang)?;
        let body = attachment_body(bytes, ct_str);
        let att = match &a.filename {
            Some(name) => Attachment::new_inline_with_name(id.to_string(), name.clone()),
            None => Attachment::new_inline(id.to_string()),
        };
        out.push(att.body(body, ct));
    }
    Ok(out)
}

// ---- dates -------------------------------------------------------------------------------

/// RFC 3339 or RFC 2822 → a time between 1970 and 9999 (lettre panics outside).
fn parse_date(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let secs = parse_rfc3339(s).or_else(|| parse_rfc2822(s))?;
    if !(0..253_402_300_800).contains(&secs) {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs(secs as u64))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn to_epoch(y: i64, mo: i64, d: i64, h: i64, mi: i64, sec: i64, offset_min: i64) -> Option<i64> {
    if !(1..=12).contains(&mo)
        || d < 1
        || d > days_in_month(y, mo)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    let sec = sec.min(59); // leap second
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60)
}

fn num(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    if s.len() < 20 || !s.is_ascii() {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let sep = rest.as_bytes()[0];
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    let rest = &rest[1..];
    let y = num(&date[0..4], 4)?;
    let mo = num(&date[5..7], 2)?;
    let d = num(&date[8..10], 2)?;
    if &date[4..5] != "-" || &date[7..8] != "-" {
        return None;
    }
    if rest.len() < 9 || &rest[2..3] != ":" || &rest[5..6] != ":" {
        return None;
    }
    let h = num(&rest[0..2], 2)?;
    let mi = num(&rest[3..5], 2)?;
    let sec = num(&rest[6..8], 2)?;
    let mut zone = &rest[8..];
    if let Some(frac) = zone.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        zone = &frac[n..];
    }
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if zone.len() != 6 || &zone[3..4] != ":" {
                return None;
            }
            let oh = num(&zone[1..3], 2)?;
            let om = num(&zone[4..6], 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
    };
    to_epoch(y, mo, d, h, mi, sec, offset)
}

fn parse_rfc2822(s: &str) -> Option<i64> {
    // Drop a trailing comment such as "(CEST)".
    let s = match s.find('(') {
        Some(i) if s.trim_end().ends_with(')') => &s[..i],
        _ => s,
    };
    let s = match s.split_once(',') {
        Some((day, rest)) => {
            const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            if !DAYS.contains(&day.trim().to_ascii_lowercase().as_str()) {
                return None;
            }
            rest
        }
        None => s,
    };
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 5 {
        return None;
    }
    let d = match parts[0].len() {
        1 => num(parts[0], 1)?,
        _ => num(parts[0], 2)?,
    };
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mo = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(parts[1]))? as i64
        + 1;
    let y = num(parts[2], 4)?;
    let t: Vec<&str> = parts[3].split(':').collect();
    let (h, mi, sec) = match t.as_slice() {
        [h, m] => (num(h, 2)?, num(m, 2)?, 0),
        [h, m, s] => (num(h, 2)?, num(m, 2)?, num(s, 2)?),
        _ => return None,
    };
    let zone = parts[4];
    let offset = match zone.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        _ => {
            let sign = match zone.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh = num(zone.get(1..3)?, 2)?;
            let mm = num(zone.get(3..5)?, 2)?;
            if zone.len() != 5 || mm > 59 {
                return None;
            }
            sign * (hh * 60 + mm)
        }
    };
    to_epoch(y, mo, d, h, mi, sec, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn msg(json: &str) -> MessageJson {
        parse(json).unwrap()
    }

    fn text_of(c: &Composed) -> String {
        String::from_utf8(c.bytes.clone()).unwrap()
    }

    fn headers_of(c: &Composed) -> String {
        let t = text_of(c);
        t.split("\r\n\r\n").next().unwrap().to_string()
    }

    fn err(json: &str) -> crate::Error {
        let m = parse(json).unwrap();
        compose(&m, None, Lang::En).unwrap_err()
    }

    #[test]
    fn minimal_text_message() {
        let m =
            msg(r#"{"from":"a@example.com","to":"b@example.org","subject":"Hi","text":"Hello"}"#);
        let c = compose(&m, None, Lang::En).unwrap();
        let h = headers_of(&c);
        assert!(h.contains("From: a@example.com\r\n"), "{h}");
        assert!(h.contains("To: b@example.org\r\n"), "{h}");
        assert!(h.contains("Subject: Hi\r\n"), "{h}");
        assert!(h.contains("MIME-Version: 1.0\r\n"), "{h}");
        assert!(h.contains("Content-Type: text/plain; charset=utf-8"), "{h}");
        assert!(h.contains("Date: "), "{h}");
        assert!(c.message_id.starts_with('<') && c.message_id.ends_with("@example.com>"));
        assert!(
            h.contains(&format!("Message-ID: {}\r\n", c.message_id)),
            "{h}"
        );
        assert_eq!(c.envelope_from, "a@example.com");
        assert_eq!(c.recipients, vec!["b@example.org"]);
    }

    #[test]
    fn generated_message_id_is_uuid_like() {
        let m = msg(r#"{"to":"b@example.org"}"#);
        let c = compose(&m, Some("Moi <me@Société.fr>"), Lang::En).unwrap();
        let id = c.message_id.trim_start_matches('<').trim_end_matches('>');
        let (uuid, domain) = id.split_once('@').unwrap();
        assert_eq!(domain, "xn--socit-esab.fr");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        let c2 = compose(&m, Some("me@example.com"), Lang::En).unwrap();
        assert_ne!(c.message_id, c2.message_id);
    }

    #[test]
    fn message_id_given_is_kept() {
        let m = msg(
            r#"{"from":"a@example.com","to":"b@example.org","message_id":"devis-42@crm.example.com"}"#,
        );
        let c = compose(&m, None, Lang::En).unwrap();
        assert_eq!(c.message_id, "<devis-42@crm.example.com>");
        assert!(headers_of(&c).contains("Message-ID: <devis-42@crm.example.com>\r\n"));
        let e = err(r#"{"from":"a@example.com","to":"b@example.org","message_id":"no at sign"}"#);
        assert!(e.message.starts_with("message_id: "), "{}", e.message);
    }

    #[test]
    fn bcc_only_in_recipients() {
        let m = msg(
            r#"{"from":"a@example.com","to":["b@example.org"],"cc":"c@example.org; B@example.org","bcc":["hidden@example.net"],"text":"x"}"#,
        );
        let c = compose(&m, None, Lang::En).unwrap();
        assert_eq!(
            c.recipients,
            vec!["b@example.org", "c@example.org", "hidden@example.net"]
        );
        assert!(!text_of(&c).contains("hidden@"));
        assert!(!text_of(&c).to_ascii_lowercase().contains("bcc:"));
    }

    #[test]
    fn bcc_only_message_is_allowed() {
        let m = msg(r#"{"from":"a@example.com","bcc":"hidden@example.net","text":"x"}"#);
        let c = compose(&m, None, Lang::En).unwrap();
        assert_eq!(c.recipients, vec!["hidden@example.net"]);
    }

    #[test]
    fn sender_is_the_envelope_from() {
        let m = msg(
            r#"{"from":"Boss <boss@example.com>","sender":"assistant@example.com","to":"b@example.org"}"#,
        );
        let c = compose(&m, None, Lang::En).unwrap();
        assert_eq!(c.envelope_from, "assistant@example.com");
        assert!(headers_of(&c).contains("Sender: assistant@example.com\r\n"));
    }

    #[test]
    fn address_errors_name_the_field() {
        let e = err(r#"{"from":"a@example.com","to":["b@example.org","jean@"]}"#);
        assert_eq!(e.status, Status::InvalidArgument);
        assert_eq!(e.message, r#"to[1]: "jean@" is not an email address"#);
        let e = err(r#"{"from":"a@example.com","to":"b@example.org, nope"}"#);
        assert_eq!(e.message, r#"to: "nope" is not an email address"#);
        let e = err(r#"{"from":"a@example.com","to":"b@example.org","reply_to":["x"]}"#);
        assert!(e.message.starts_with("reply_to[0]: "), "{}", e.message);
        let e = err(r#"{"to":"b@example.org"}"#);
        assert_eq!(e.message, "from: missing (and the account has no email)");
        let e = err(r#"{"from":"a@example.com","to":"","cc":[]}"#);
        assert!(e.message.starts_with("to: no recipient"), "{}", e.message);
        let m = msg(r#"{"from":"a@example.com","to":"x"}"#);
        let e = compose(&m, None, Lang::Fr).unwrap_err();
        assert_eq!(e.message, r#"to: "x" n'est pas une adresse email"#);
    }

    #[test]
    fn injection_in_addresses_is_refused() {
        for bad in [
            "b@example.org\r\nBcc: evil@example.net",
            "Evil\n <b@example.org>",
            "b@example.org\u{0}",
        ] {
            let m = MessageJson {
                from: Some("a@example.com".into()),
                to: Some(Addresses::List(vec!["ok@example.org".into(), bad.into()])),
                ..Default::default()
            };
            let e = compose(&m, None, Lang::En).unwrap_err();
            assert_eq!(e.status, Status::InvalidArgument);
            assert!(e.message.starts_with("to[1]: "), "{}", e.message);
            assert!(e.message.contains("header injection"), "{}", e.message);
        }
        let m = MessageJson {
            from: Some("a@example.com\r\nX: y".into()),
            to: Some(Addresses::One("b@example.org".into())),
            ..Default::default()
        };
        assert!(compose(&m, None, Lang::En)
            .unwrap_err()
            .message
            .starts_with("from: "));
    }

    #[test]
    fn subject_injection_is_refused() {
        let m = MessageJson {
            from: Some("a@example.com".into()),
            to: Some(Addresses::One("b@example.org".into())),
            subject: Some("Hi\r\nBcc: evil@example.net".into()),
            ..Default::default()
        };
        let e = compose(&m, None, Lang::En).unwrap_err();
        assert!(e.message.starts_with("subject: "), "{}", e.message);
    }

    #[test]
    fn extra_headers() {
        let m = msg(
            r#"{"from":"a@example.com","to":"b@example.org","headers":{"X-CRM-Id":"D-42","In-Reply-To":"<x@y>"}}"#,
        );
        let c = compose(&m, None, Lang::En).unwrap();
        let h = headers_of(&c);
        assert!(h.contains("X-CRM-Id: D-42\r\n"), "{h}");
        assert!(h.contains("In-Reply-To: <x@y>\r\n"), "{h}");

        let e = err(r#"{"from":"a@example.com","to":"b@example.org","headers":{"X-Bad\r\n":"v"}}"#);
        assert!(
            e.message.starts_with(r#"headers["X-Bad\r\n"]: "#),
            "{}",
            e.message
        );
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","headers":{"X-A":"v\r\nBcc: e@x.net"}}"#,
        );
        assert!(
            e.message.starts_with(r#"headers["X-A"]: "#),
            "{}",
            e.message
        );
        assert!(e.message.contains("header injection"));
        for name in ["bcc", "Content-Type", "MIME-Version", "From", "message-id"] {
            let e = err(&format!(
                r#"{{"from":"a@example.com","to":"b@example.org","headers":{{"{name}":"v"}}}}"#
            ));
            assert!(
                e.message.starts_with(&format!("headers[\"{name}\"]: ")),
                "{}",
                e.message
            );
        }
        let e =
            err(r#"{"from":"a@example.com","to":"b@example.org","headers":{"X-A":"1","x-a":"2"}}"#);
        assert!(e.message.contains("duplicate"), "{}", e.message);
        let e = err(r#"{"from":"a@example.com","to":"b@example.org","headers":{"X A":"1"}}"#);
        assert!(
            e.message.starts_with(r#"headers["X A"]: "#),
            "{}",
            e.message
        );
    }

    #[test]
    fn parse_errors_name_the_path() {
        let e = parse(r#"{"from":"a@example.com","to":["b@example.org", 3]}"#).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(
            e.message.starts_with("to[1]: invalid type"),
            "{}",
            e.message
        );
        let e = parse(r#"{"from":"a@example.com","tos":[]}"#).unwrap_err();
        assert!(e.message.starts_with("tos: unknown field"), "{}", e.message);
        let e = parse(r#"{"attachments":[{"filename":"a","pathh":"x"}]}"#).unwrap_err();
        assert!(
            e.message.starts_with("attachments[0].pathh: unknown field"),
            "{}",
            e.message
        );
        let e = parse(r#"{"attachments":[{"path":"x"}]}"#).unwrap_err();
        assert!(
            e.message
                .starts_with("attachments[0]: missing field `filename`"),
            "{}",
            e.message
        );
        let e = parse(r#"{"to": 5}"#).unwrap_err();
        assert!(e.message.starts_with("to: invalid type"), "{}", e.message);
        let e = parse(r#"{"headers":{"X":1}}"#).unwrap_err();
        assert!(
            e.message.starts_with("headers.X: invalid type"),
            "{}",
            e.message
        );
        let e = parse(r#"{"from": "#).unwrap_err();
        assert!(e.message.starts_with("message JSON: "), "{}", e.message);
    }

    #[test]
    fn attachment_errors_name_the_field() {
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","attachments":[{"filename":"x.pdf","path":"C:\\x.pdf"}]}"#,
        );
        assert!(
            e.message
                .starts_with(r"attachments[0].path: cannot read C:\x.pdf: "),
            "{}",
            e.message
        );
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","attachments":[{"filename":"x.pdf","base64":"@@@"}]}"#,
        );
        assert!(
            e.message
                .starts_with("attachments[0].base64: not valid base64"),
            "{}",
            e.message
        );
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","attachments":[{"filename":"x.pdf","base64":"QQ=","path":"x"}]}"#,
        );
        assert!(
            e.message.starts_with("attachments[0]: give either"),
            "{}",
            e.message
        );
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","attachments":[{"filename":"x.pdf"}]}"#,
        );
        assert!(e.message.starts_with("attachments[0]: "), "{}", e.message);
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","attachments":[{"filename":"x","base64":"QQ==","content_type":"nonsense"}]}"#,
        );
        assert!(
            e.message.starts_with("attachments[0].content_type: "),
            "{}",
            e.message
        );
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","attachments":[{"filename":"x","base64":"QQ==","content_type":"multipart/mixed"}]}"#,
        );
        assert!(
            e.message.starts_with("attachments[0].content_type: "),
            "{}",
            e.message
        );
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","attachments":[{"filename":"a\r\nb","base64":"QQ=="}]}"#,
        );
        assert!(
            e.message.starts_with("attachments[0].filename: "),
            "{}",
            e.message
        );
        // Unpadded base64 is refused (strict decoding).
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","attachments":[{"filename":"x","base64":"QQ"}]}"#,
        );
        assert!(
            e.message.starts_with("attachments[0].base64: "),
            "{}",
            e.message
        );
    }

    #[test]
    fn inline_errors_name_the_field() {
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","text":"t","inline":[{"content_id":"logo","base64":"QQ==","content_type":"image/png"}]}"#,
        );
        assert!(e.message.starts_with("inline: "), "{}", e.message);
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","html":"h","inline":[{"content_id":"lo go","base64":"QQ==","content_type":"image/png"}]}"#,
        );
        assert!(
            e.message.starts_with("inline[0].content_id: "),
            "{}",
            e.message
        );
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","html":"h","inline":[{"content_id":"logo","base64":"QQ=="}]}"#,
        );
        assert!(
            e.message.starts_with("inline[0].content_type: "),
            "{}",
            e.message
        );
        let e = err(
            r#"{"from":"a@example.com","to":"b@example.org","html":"h","inline":[{"content_id":"a","base64":"QQ==","filename":"a.png"},{"content_id":"<A>","base64":"QQ==","filename":"a.png"}]}"#,
        );
        assert!(
            e.message.starts_with("inline[1].content_id: "),
            "{}",
            e.message
        );
    }

    #[test]
    fn structure() {
        let base = r#""from":"a@example.com","to":"b@example.org""#;
        let ct = |extra: &str| {
            let c = compose(&msg(&format!("{{{base},{extra}}}")), None, Lang::En).unwrap();
            let h = headers_of(&c);
            h.lines()
                .find(|l| l.starts_with("Content-Type:"))
                .unwrap()
                .to_string()
        };
        assert!(ct(r#""text":"t""#).contains("text/plain"));
        assert!(ct(r#""html":"<p>h</p>""#).contains("text/html"));
        assert!(ct(r#""text":"t","html":"h""#).contains("multipart/alternative"));
        assert!(ct(
            r#""html":"h","inline":[{"content_id":"l","filename":"l.png","base64":"QQ=="}]"#
        )
        .contains("multipart/related"));
        assert!(
            ct(r#""text":"t","attachments":[{"filename":"a.pdf","base64":"QQ=="}]"#)
                .contains("multipart/mixed")
        );
    }

    #[test]
    fn content_type_guess() {
        assert_eq!(guess_content_type("Devis.PDF"), Some("application/pdf"));
        assert_eq!(guess_content_type("a.jpeg"), Some("image/jpeg"));
        assert_eq!(guess_content_type("a.eml"), Some("message/rfc822"));
        assert_eq!(guess_content_type("noext"), None);
        assert_eq!(guess_content_type("a.bin"), None);
    }

    #[test]
    fn dates() {
        let t = |s: &str| parse_date(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs());
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("2024-05-02T14:30:00+02:00"), Some(1_714_653_000));
        assert_eq!(t("2024-05-02 12:30:00.123z"), Some(1_714_653_000));
        assert_eq!(t("Thu, 2 May 2024 14:30:00 +0200"), Some(1_714_653_000));
        assert_eq!(t("02 May 2024 12:30:00 GMT"), Some(1_714_653_000));
        assert_eq!(
            t("Thu, 02 May 2024 14:30 +0200 (CEST)"),
            Some(1_714_653_000)
        );
        assert_eq!(t("2024-02-30T00:00:00Z"), None);
        assert_eq!(t("1969-12-31T23:59:59Z"), None);
        assert_eq!(t("yesterday"), None);
        let m = msg(
            r#"{"from":"a@example.com","to":"b@example.org","date":"2024-05-02T14:30:00+02:00"}"#,
        );
        let c = compose(&m, None, Lang::En).unwrap();
        assert!(headers_of(&c).contains("Date: Thu, 02 May 2024 12:30:00 +0000\r\n"));
        let e =
            err(r#"{"from":"a@example.com","to":"b@example.org","date":"1900-01-01T00:00:00Z"}"#);
        assert!(e.message.starts_with("date: "), "{}", e.message);
    }

    #[test]
    fn split_lists() {
        assert_eq!(
            split_address_list(r#""Dupont, Jean" <j@x.fr>; a@b.c ,, "x;y" <x@y.z>"#),
            vec![r#""Dupont, Jean" <j@x.fr>"#, "a@b.c", r#""x;y" <x@y.z>"#]
        );
        assert!(split_address_list("  ").is_empty());
    }

    #[test]
    fn seven_bit_clean() {
        assert!(is_7bit_clean(b"a\r\nb\r\n"));
        assert!(!is_7bit_clean(b"a\nb"));
        assert!(!is_7bit_clean(b"a\rb"));
        assert!(!is_7bit_clean("é".as_bytes()));
        assert!(!is_7bit_clean(&[b'a'; 999]));
        assert!(is_7bit_clean(&[b'a'; 998]));
    }
}
