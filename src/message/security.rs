//! Whether a message is encrypted or signed (S/MIME, PGP) and whether it carries an Outlook
//! `winmail.dat` (TNEF), told from its MIME structure — the library does not decrypt or check
//! signatures: the host is told so it can hand the message to a tool that does.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use serde::Serialize;

/// What the message's structure says about its protection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Protection {
    /// The content is encrypted (S/MIME enveloped data, PGP/MIME or an inline PGP message).
    pub encrypted: bool,
    /// The content carries a signature (S/MIME or PGP).
    pub signed: bool,
    /// `smime`, `pgp` or none.
    pub scheme: Option<&'static str>,
}

fn is(part: &MessagePart<'_>, ctype: &str, subtype: &str) -> bool {
    part.is_content_type(ctype, subtype)
}

fn attribute<'a>(part: &'a MessagePart<'_>, name: &str) -> Option<&'a str> {
    part.content_type().and_then(|ct| ct.attribute(name))
}

/// Looks at every part (nested messages excepted: their protection is their own).
pub fn protection(message: &Message<'_>) -> Protection {
    let mut p = Protection::default();
    for part in &message.parts {
        if is(part, "multipart", "signed") {
            p.signed = true;
            let proto = attribute(part, "protocol")
                .unwrap_or("")
                .to_ascii_lowercase();
            p.scheme = Some(if proto.contains("pgp") {
                "pgp"
            } else {
                "smime"
            });
        } else if is(part, "multipart", "encrypted") {
            p.encrypted = true;
            p.scheme = Some("pgp");
        } else if is(part, "application", "pkcs7-mime") || is(part, "application", "x-pkcs7-mime") {
            let kind = attribute(part, "smime-type")
                .unwrap_or("")
                .to_ascii_lowercase();
            if kind == "signed-data" {
                p.signed = true;
            } else {
                // enveloped-data, authEnveloped-data, or unsaid (then it is almost always that)
                p.encrypted = true;
            }
            p.scheme = Some("smime");
        } else if let PartType::Text(text) = &part.body {
            if text.contains("-----BEGIN PGP MESSAGE-----") {
                p.encrypted = true;
                p.scheme = Some("pgp");
            } else if text.contains("-----BEGIN PGP SIGNED MESSAGE-----") {
                p.signed = true;
                p.scheme = Some("pgp");
            }
        }
    }
    p
}

/// An Outlook rich-text wrapper: `winmail.dat` or a TNEF content type.
pub fn is_tnef(part: &MessagePart<'_>) -> bool {
    is(part, "application", "ms-tnef")
        || is(part, "application", "vnd.ms-tnef")
        || part
            .attachment_name()
            .is_some_and(|n| n.eq_ignore_ascii_case("winmail.dat"))
}
