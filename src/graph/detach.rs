//! Messages too big for one Graph request (sendMail and draft creation take about 4 MB): the
//! largest attachments of the top-level multipart are taken out of the MIME until the rest
//! fits, to be added to the draft afterwards (an upload session each). The parts that stay are
//! kept byte for byte.

use mail_parser::{MessageParser, MimeHeaders};

/// An attachment taken out of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detached {
    pub name: String,
    pub content_type: String,
    /// Decoded content.
    pub bytes: Vec<u8>,
    pub inline: bool,
    pub content_id: Option<String>,
}

/// The size of `mime` once base64-encoded.
fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Splits `mime` so that its base64 fits in `max_encoded` bytes: the MIME left and the
/// attachments taken out, largest first. `None` when it cannot be done (not a multipart, or
/// what is left is still too big).
pub fn detach(mime: &[u8], max_encoded: usize) -> Option<(Vec<u8>, Vec<Detached>)> {
    let msg = MessageParser::default().parse(mime)?;
    let root = msg.parts.first()?;
    let kids = root.sub_parts()?;
    // candidates: top-level leaf parts with a name or an attachment disposition
    let mut candidates: Vec<(usize, usize, u32)> = Vec::new(); // (start, end, part id)
    for &id in kids {
        let part = msg.part(id)?;
        if part.is_multipart() || part.is_message() {
            continue;
        }
        let named = part.attachment_name().is_some()
            || part
                .content_disposition()
                .is_some_and(|d| d.is_attachment());
        if !named {
            continue;
        }
        let (start, end) =
            delimited_range(mime, part.offset_header as usize, part.offset_end as usize)?;
        candidates.push((start, end, id));
    }
    candidates.sort_by_key(|(s, e, _)| std::cmp::Reverse(e - s));
    let mut remove: Vec<(usize, usize, u32)> = Vec::new();
    let mut size = mime.len();
    for c in candidates {
        if encoded_len(size) <= max_encoded {
            break;
        }
        // a malformed message can give parts whose delimited ranges overlap: never cut twice
        if remove.iter().any(|r| c.0 < r.1 && r.0 < c.1) {
            continue;
        }
        size -= c.1 - c.0;
        remove.push(c);
    }
    if encoded_len(size) > max_encoded || remove.is_empty() {
        return None;
    }
    let mut detached = Vec::new();
    for &(_, _, id) in &remove {
        let part = msg.part(id)?;
        let content_type = part
            .content_type()
            .map(|t| match t.subtype() {
                Some(s) => format!("{}/{}", t.ctype(), s),
                None => t.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_string());
        detached.push(Detached {
            name: part
                .attachment_name()
                .map(str::to_string)
                .unwrap_or_else(|| format!("attachment-{}", detached.len() + 1)),
            content_type,
            bytes: part.contents().to_vec(),
            inline: part.content_disposition().is_some_and(|d| d.is_inline()),
            content_id: part.content_id().map(str::to_string),
        });
    }
    remove.sort_by_key(|(s, _, _)| *s);
    let mut out = Vec::with_capacity(size);
    let mut at = 0;
    for (s, e, _) in remove {
        out.extend_from_slice(&mime[at..s]);
        at = e;
    }
    out.extend_from_slice(&mime[at..]);
    if encoded_len(out.len()) > max_encoded {
        return None;
    }
    Some((out, detached))
}

/// The bytes of a part together with the delimiter line before it: from the line break that
/// ends the previous part (it belongs to the delimiter, RFC 2046) to the end of the part.
fn delimited_range(mime: &[u8], header: usize, end: usize) -> Option<(usize, usize)> {
    if header > mime.len() || end > mime.len() || end < header {
        return None;
    }
    // the delimiter line "--boundary" starts at the last "\n--" before the part's headers
    let before = &mime[..header];
    let dash = before.windows(3).rposition(|w| w == b"\n--")?;
    let start = if dash > 0 && mime[dash - 1] == b'\r' {
        dash - 1
    } else {
        dash
    };
    // the part ends before the line break that opens the next delimiter
    let mut stop = end;
    if mime[..stop].ends_with(b"\n") {
        stop -= 1;
        if mime[..stop].ends_with(b"\r") {
            stop -= 1;
        }
    }
    Some((start, stop.max(start)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn message(big: usize) -> Vec<u8> {
        let data: Vec<u8> = (0..big).map(|i| (i % 251) as u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "From: a@example.test\r\nTo: b@example.test\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n--XX\r\nContent-Type: application/pdf; name=\"quote.pdf\"\r\nContent-Disposition: attachment; filename=\"quote.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"small.csv\"\r\n\r\na,b\r\n--XX--\r\n",
            lines.join("\r\n")
        )
        .into_bytes()
    }

    #[test]
    fn the_biggest_attachment_leaves_the_rest_intact() {
        let m = message(300_000);
        let (rest, out) = detach(&m, 10_000).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "quote.pdf");
        assert_eq!(out[0].content_type, "application/pdf");
        assert_eq!(out[0].bytes.len(), 300_000);
        assert_eq!(out[0].bytes[1000], (1000 % 251) as u8);
        let text = String::from_utf8(rest).unwrap();
        let expected = "From: a@example.test\r\nTo: b@example.test\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n--XX\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"small.csv\"\r\n\r\na,b\r\n--XX--\r\n";
        assert_eq!(text, expected);
        // parses again as a proper multipart with the two parts left
        let again = MessageParser::default().parse(text.as_bytes()).unwrap();
        assert_eq!(again.parts[0].sub_parts().unwrap().len(), 2);
    }

    #[test]
    fn nothing_to_take_out_or_still_too_big() {
        assert!(detach(b"From: a\r\n\r\nplain body", 4).is_none());
        assert!(detach(&message(300_000), 100).is_none());
    }
}
