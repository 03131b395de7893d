//! Reading messages through the C ABI, called from Rust: om_message_parse, om_message_attachment
//! (+ om_buffer_free) and om_message_save_attachments on the corpus of `tests/corpus/` (its
//! README says what each message covers), field by field; a 25 MB attachment generated here;
//! bad arguments; the fetch path's `oauthmail::message::parse` giving the same JSON.
//!
//! Attachment bytes are compared with the bytes the corpus encoded: [`blob`] is the generator the
//! corpus's binary attachments were made with.

use oauthmail::ffi::last_error::om_last_error_message;
use oauthmail::ffi::library::om_string_free;
use oauthmail::ffi::message::{
    om_buffer_free, om_message_attachment, om_message_parse, om_message_save_attachments,
};
use oauthmail::ffi::status::{OM_STATUS_INVALID_ARGUMENT, OM_STATUS_IO_ERROR, OM_STATUS_OK};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

// ---- helpers ---------------------------------------------------------------------------------

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).unwrap_or_else(|e| panic!("tests/corpus/{name}: {e}"))
}

fn corpus_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    names
}

/// The bytes the corpus's binary attachments hold: `prefix` (a file signature), then a
/// deterministic pattern, `len` bytes in all (the same function wrote the corpus).
fn blob(prefix: &[u8], seed: usize, len: usize) -> Vec<u8> {
    let mut v = prefix.to_vec();
    let mut i = 0usize;
    while v.len() < len {
        v.push(((i * 7 + seed + i / 251) & 0xff) as u8);
        i += 1;
    }
    v
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(om_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn cstring(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// om_message_parse with `options` (None: NULL); the status must be OK.
fn parse_with(raw: &[u8], options: Option<&str>) -> Value {
    let opts = options.map(cstring);
    let mut out: *mut c_char = null_mut();
    let st = unsafe {
        om_message_parse(
            raw.as_ptr(),
            raw.len(),
            opts.as_ref().map_or(null(), |o| o.as_ptr()),
            &mut out,
        )
    };
    assert_eq!(st, OM_STATUS_OK, "om_message_parse: {}", last_error());
    assert!(!out.is_null());
    let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
    unsafe { om_string_free(out) };
    serde_json::from_str(&text).unwrap()
}

fn parse(raw: &[u8]) -> Value {
    parse_with(raw, None)
}

/// om_message_attachment: the bytes, or the status and the last error message.
fn attachment(raw: &[u8], index: u32) -> Result<Vec<u8>, (i32, String)> {
    let mut data = std::ptr::dangling_mut::<u8>();
    let mut len = usize::MAX;
    let st = unsafe { om_message_attachment(raw.as_ptr(), raw.len(), index, &mut data, &mut len) };
    if st != OM_STATUS_OK {
        assert!(data.is_null() && len == 0, "out-pointers reset on failure");
        return Err((st, last_error()));
    }
    assert!(!data.is_null(), "a valid pointer even for 0 bytes");
    let bytes = unsafe { std::slice::from_raw_parts(data, len) }.to_vec();
    unsafe { om_buffer_free(data) };
    Ok(bytes)
}

/// om_message_save_attachments into `dir`; the status must be OK. The JSON it returns.
fn save(raw: &[u8], dir: &Path, options: Option<&str>) -> Value {
    let d = cstring(dir.to_str().unwrap());
    let opts = options.map(cstring);
    let mut out: *mut c_char = null_mut();
    let st = unsafe {
        om_message_save_attachments(
            raw.as_ptr(),
            raw.len(),
            d.as_ptr(),
            opts.as_ref().map_or(null(), |o| o.as_ptr()),
            &mut out,
        )
    };
    assert_eq!(
        st,
        OM_STATUS_OK,
        "om_message_save_attachments: {}",
        last_error()
    );
    let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
    unsafe { om_string_free(out) };
    serde_json::from_str(&text).unwrap()
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "om-message-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }

    /// The names of the files in it, sorted.
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An address header as (name, address) pairs.
fn mailboxes<'a>(v: &'a Value, key: &str) -> Vec<(Option<&'a str>, Option<&'a str>)> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array: {v}"))
        .iter()
        .map(|m| (m["name"].as_str(), m["address"].as_str()))
        .collect()
}

fn text(v: &Value) -> &str {
    v["text"].as_str().unwrap_or_else(|| panic!("no text: {v}"))
}

fn html(v: &Value) -> &str {
    v["html"].as_str().unwrap_or_else(|| panic!("no html: {v}"))
}

/// The attachment entry om_message_parse must list.
#[allow(clippy::too_many_arguments)]
fn att(
    index: u32,
    file_name: Option<&str>,
    content_type: &str,
    size: usize,
    content_id: Option<&str>,
    disposition: Option<&str>,
    is_message: bool,
    is_tnef: bool,
) -> Value {
    json!({
        "index": index, "file_name": file_name, "content_type": content_type, "size": size,
        "content_id": content_id, "disposition": disposition, "is_message": is_message,
        "is_tnef": is_tnef,
    })
}

fn assert_no_protection(v: &Value) {
    assert_eq!(
        (
            &v["encrypted"],
            &v["signed"],
            &v["security"],
            &v["has_tnef"]
        ),
        (&json!(false), &json!(false), &Value::Null, &json!(false)),
        "{v}"
    );
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    serde_json::from_value(v[key].clone()).unwrap()
}

/// Windows's rules for one path component (the strictest of the hosts): what a saved name must
/// pass. Err says which rule fails.
fn windows_valid(name: &str) -> Result<(), String> {
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
    if name.is_empty() || name == "." || name == ".." {
        return Err("empty or a dot name".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| "<>:\"/\\|?*".contains(*c) || c.is_control())
    {
        return Err(format!("forbidden character {c:?}"));
    }
    if name
        .chars()
        .any(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    {
        return Err("a bidirectional override".into());
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err("trailing dot or space".into());
    }
    let stem = name.split('.').next().unwrap().trim_end_matches(' ');
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        return Err(format!("reserved device name {stem}"));
    }
    if name.encode_utf16().count() > 255 || name.len() > 255 {
        return Err(format!("too long ({} bytes)", name.len()));
    }
    Ok(())
}

/// Checks what om_message_save_attachments returned and wrote into `dir`: each path is a file
/// directly inside `dir` with a Windows-valid name, holding the attachment's bytes; names are
/// unique ignoring case. Returns the names, in the order of the JSON.
fn check_saved(raw: &[u8], dir: &Path, saved: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut lower = HashSet::new();
    for s in saved.as_array().unwrap() {
        let path = Path::new(s["path"].as_str().unwrap());
        assert_eq!(
            path.parent(),
            Some(dir),
            "{} is not directly in {}",
            path.display(),
            dir.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        windows_valid(&name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert!(
            lower.insert(name.to_lowercase()),
            "{name:?} twice ignoring case"
        );
        let canonical = std::fs::canonicalize(path).unwrap();
        assert!(canonical.starts_with(std::fs::canonicalize(dir).unwrap()));
        let want = attachment(raw, s["index"].as_u64().unwrap() as u32).unwrap();
        assert_eq!(
            std::fs::read(path).unwrap(),
            want,
            "{name}: the attachment's bytes"
        );
        assert_eq!(s["size"].as_u64().unwrap() as usize, want.len());
        names.push(name);
    }
    names
}

// ---- the whole corpus ------------------------------------------------------------------------

/// Every corpus file: CRLF only (git did not normalise it), parsed (never an error), each listed
/// attachment fetched by index with the listed size, the next index refused naming the count,
/// every attachment saved; the JSON has every documented key.
#[test]
fn every_corpus_message_parses_lists_and_saves() {
    let names = corpus_names();
    assert!(names.len() >= 27, "{names:?}");
    const KEYS: [&str; 21] = [
        "from",
        "sender",
        "reply_to",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "date_unix",
        "message_id",
        "in_reply_to",
        "references",
        "text",
        "text_from_html",
        "html",
        "attachments",
        "encrypted",
        "signed",
        "security",
        "has_tnef",
        "unreadable",
    ];
    for name in &names {
        let raw = corpus(name);
        for (i, &b) in raw.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && raw[i - 1] == b'\r', "{name}: a bare LF at {i}");
            }
        }
        let v = parse(&raw);
        let obj = v.as_object().unwrap();
        for k in KEYS {
            assert!(obj.contains_key(k), "{name}: no {k}");
        }
        assert_eq!(
            obj.len(),
            KEYS.len(),
            "{name}: keys {:?}",
            obj.keys().collect::<Vec<_>>()
        );
        assert_eq!(v["unreadable"], false, "{name}");
        let list = v["attachments"].as_array().unwrap();
        for (i, a) in list.iter().enumerate() {
            assert_eq!(a["index"], i, "{name}");
            let bytes = attachment(&raw, i as u32).unwrap_or_else(|e| panic!("{name} #{i}: {e:?}"));
            assert_eq!(
                a["size"].as_u64().unwrap() as usize,
                bytes.len(),
                "{name} #{i}"
            );
        }
        let (st, msg) = attachment(&raw, list.len() as u32).unwrap_err();
        assert_eq!(st, OM_STATUS_INVALID_ARGUMENT, "{name}");
        assert!(
            msg.contains(&format!("{} attachment", list.len())),
            "{name}: {msg}"
        );
        let dir = TempDir::new("all");
        let saved = save(&raw, &dir.0, None);
        assert_eq!(saved.as_array().unwrap().len(), list.len(), "{name}");
        let names = check_saved(&raw, &dir.0, &saved);
        assert_eq!(dir.files().len(), names.len(), "{name}: files written");
        // the listing part of each saved entry is the parse listing
        for (s, a) in saved.as_array().unwrap().iter().zip(list) {
            let mut s = s.clone();
            s.as_object_mut().unwrap().remove("path");
            assert_eq!(&s, a, "{name}");
        }
        // options leave the bodies out and nothing else
        let bare = parse_with(&raw, Some(r#"{"text": false, "html": false}"#));
        assert_eq!(
            (&bare["text"], &bare["html"]),
            (&Value::Null, &Value::Null),
            "{name}"
        );
        assert_eq!(bare["text_from_html"], false, "{name}");
        let mut with_bodies = v.clone();
        for k in ["text", "html"] {
            with_bodies[k] = Value::Null;
        }
        with_bodies["text_from_html"] = json!(false);
        assert_eq!(bare, with_bodies, "{name}");
    }
}

/// The fetch path (`"parse": true` of om_fetch, the `.json` of om_fetch_to_directory) calls
/// `oauthmail::message::parse` with the default options: the same JSON as om_message_parse.
#[test]
fn fetch_path_parse_gives_the_same_json() {
    for name in corpus_names() {
        let raw = corpus(&name);
        let direct = serde_json::to_value(oauthmail::message::parse(&raw, &Default::default()));
        assert_eq!(direct.unwrap(), parse(&raw), "{name}");
    }
}

// ---- one message at a time -------------------------------------------------------------------

#[test]
fn alternative_text_and_html() {
    let v = parse(&corpus("01-alternative.eml"));
    assert_eq!(
        mailboxes(&v, "from"),
        [(
            Some("Claire Dubois-Lefèvre"),
            Some("claire.dubois@example.fr")
        )]
    );
    assert_eq!(
        mailboxes(&v, "to"),
        [
            (Some("Martin, Jean"), Some("jean.martin@example.com")),
            (None, Some("sophie@example.com"))
        ]
    );
    assert_eq!(
        mailboxes(&v, "cc"),
        [(Some("Élodie Garnier"), Some("elodie.garnier@example.fr"))]
    );
    assert_eq!(
        mailboxes(&v, "reply_to"),
        [(Some("Service Ventes"), Some("ventes@example.fr"))]
    );
    assert!(mailboxes(&v, "sender").is_empty() && mailboxes(&v, "bcc").is_empty());
    assert_eq!(v["subject"], "Re: Devis n° 2024-117 – mise à jour");
    assert_eq!(v["date"], "2024-06-04T09:15:02+02:00");
    assert_eq!(v["date_unix"], 1717485302);
    assert_eq!(v["message_id"], "20240604091502.4F2A1@mail.example.fr");
    assert_eq!(ids(&v, "in_reply_to"), ["CAF=abc123@mail.gmail.com"]);
    assert_eq!(
        ids(&v, "references"),
        ["CAF=xyz000@mail.gmail.com", "CAF=abc123@mail.gmail.com"]
    );
    assert_eq!(
        text(&v),
        "Bonjour Jean,\r\n\r\nVoici la version révisée du devis : la remise passe à 12 %.\r\n\r\n\
         Cordialement,\r\nClaire\r\n"
    );
    assert_eq!(v["text_from_html"], false);
    assert!(html(&v).starts_with("<html><body><p>Bonjour Jean,</p>"));
    // the soft line breaks of the HTML part joined a word they had split
    assert!(html(&v).contains("<b>révisée</b> du devis") && html(&v).contains("<br>Claire</p>"));
    assert_eq!(v["attachments"], json!([]));
    assert_no_protection(&v);
}

#[test]
fn related_inline_images_named_by_cid() {
    let raw = corpus("02-related-inline-images.eml");
    let v = parse(&raw);
    let logo = blob(b"\x89PNG\r\n\x1a\n", 1, 1234);
    let sig = blob(b"\xff\xd8\xff\xe0\x00\x10JFIF", 2, 2345);
    let cgv = blob(b"%PDF-1.4\n", 3, 3456);
    assert_eq!(
        v["attachments"],
        json!([
            att(
                0,
                None,
                "image/png",
                1234,
                Some("logo@boutique.example"),
                Some("inline"),
                false,
                false
            ),
            att(
                1,
                Some("signature.jpg"),
                "image/jpeg",
                2345,
                Some("sig.jpg@01DAB6C2"),
                Some("inline"),
                false,
                false
            ),
            att(
                2,
                Some("Conditions générales.pdf"),
                "application/pdf",
                3456,
                None,
                Some("attachment"),
                false,
                false
            ),
        ])
    );
    // every cid: of the HTML body names a listed part
    let h = html(&v);
    for a in v["attachments"].as_array().unwrap()[..2].iter() {
        assert!(
            h.contains(&format!("cid:{}", a["content_id"].as_str().unwrap())),
            "{h}"
        );
    }
    assert_eq!(text(&v), "Votre commande 88412 a été expédiée.\r\n");
    assert_eq!(v["text_from_html"], false);
    assert_eq!(attachment(&raw, 0).unwrap(), logo);
    assert_eq!(attachment(&raw, 1).unwrap(), sig);
    assert_eq!(attachment(&raw, 2).unwrap(), cgv);

    let all = TempDir::new("related");
    let saved = save(&raw, &all.0, None);
    assert_eq!(
        check_saved(&raw, &all.0, &saved),
        ["attachment-1", "signature.jpg", "Conditions générales.pdf"]
    );
    // {"inline": false}: the images of the HTML body are left out
    let dir = TempDir::new("related-no-inline");
    let saved = save(&raw, &dir.0, Some(r#"{"inline": false}"#));
    assert_eq!(
        check_saved(&raw, &dir.0, &saved),
        ["Conditions générales.pdf"]
    );
    assert_eq!(saved[0]["index"], 2, "the index stays the parse listing's");
    assert_eq!(dir.files(), ["Conditions générales.pdf"]);
    assert_eq!(
        std::fs::read(dir.0.join("Conditions générales.pdf")).unwrap(),
        cgv
    );
}

/// The Windows-1252 bytes of the forwarded message's CSV attachment.
const CSV_1252: &[u8] =
    b"R\xe9f.;D\xe9signation;Prix\r\nA-12;Chaise \xab Confort \xbb;89,90 \x80\r\n\
B-07;Bureau ch\xeane;349,00 \x80\r\n";

#[test]
fn forwarded_message_is_one_attachment_holding_the_whole_message() {
    let raw = corpus("03-forwarded-rfc822.eml");
    let v = parse(&raw);
    assert_eq!(v["subject"], "Fwd: Commande n° 4471");
    assert_eq!(
        text(&v),
        "Pour saisie en comptabilite, voir le message transfere.\r\n"
    );
    // the attached message, as it is in the file between its part header and the boundary
    let start = find(&raw, b"filename=\"Commande 4471.eml\"\r\n\r\n") + 32;
    let end = find(&raw, b"\r\n--outer-a--");
    let inner = &raw[start..end];
    assert!(inner.starts_with(b"From: ") && inner.ends_with(b"--inner-b--"));
    assert_eq!(
        v["attachments"],
        json!([att(
            0,
            Some("Commande 4471.eml"),
            "message/rfc822",
            inner.len(),
            None,
            Some("attachment"),
            true,
            false
        )])
    );
    let bytes = attachment(&raw, 0).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(inner)
    );
    // the attached message reads as a message of its own, with its own attachment
    let f = parse(&bytes);
    assert_eq!(f["subject"], "Commande n° 4471");
    assert_eq!(
        mailboxes(&f, "from"),
        [(Some("Hélène Roux"), Some("helene.roux@fournisseur.example"))]
    );
    assert_eq!(f["date_unix"], 1717405365);
    assert_eq!(
        text(&f),
        "Veuillez trouver ci-joint le récapitulatif de la commande.\r\n"
    );
    assert_eq!(
        f["attachments"],
        json!([att(
            0,
            Some("commande-4471.csv"),
            "text/csv",
            CSV_1252.len(),
            None,
            Some("attachment"),
            false,
            false
        )])
    );
    // a text attachment comes out as sent: Windows-1252, not converted to UTF-8
    assert_eq!(attachment(&bytes, 0).unwrap(), CSV_1252);
    let dir = TempDir::new("forwarded");
    let saved = save(&raw, &dir.0, None);
    assert_eq!(check_saved(&raw, &dir.0, &saved), ["Commande 4471.eml"]);
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

#[test]
fn iso_8859_1_headers_and_8bit_body() {
    let v = parse(&corpus("04-iso-8859-1.eml"));
    assert_eq!(
        mailboxes(&v, "from"),
        [(Some("François Léger"), Some("francois.leger@example.fr"))]
    );
    assert_eq!(v["subject"], "Réunion déplacée");
    assert_eq!(v["date"], "2024-06-06T08:00:00+01:00");
    assert_eq!(v["date_unix"], 1717657200);
    assert_eq!(
        text(&v),
        "Bonjour,\r\n\r\nLa réunion de l'équipe commerciale est déplacée à jeudi.\r\n\
         Ça vous convient ?\r\n"
    );
    assert_eq!(v["html"], Value::Null);
    assert_eq!(v["attachments"], json!([]));
}

/// "Tarifs 2024 – “Offre d’été” : 1 250 € HT\r\n" in Windows-1252.
const TARIFS_1252: &[u8] = b"Tarifs 2024 \x96 \x93Offre d\x92\xe9t\xe9\x94 : 1 250 \x80 HT\r\n";

#[test]
fn windows_1252_euro_and_curly_quotes() {
    let raw = corpus("05-windows-1252.eml");
    let v = parse(&raw);
    assert_eq!(
        mailboxes(&v, "from"),
        [(Some("“Comptabilité”"), Some("compta@example.fr"))]
    );
    assert_eq!(v["subject"], "Facture – 1 250 €");
    assert_eq!(
        text(&v),
        "Le montant est de 1 250 € HT.\r\n“Offre spéciale” valable jusqu’au 30 juin.\r\n"
    );
    assert_eq!(
        v["attachments"],
        json!([att(
            0,
            Some("tarifs.txt"),
            "text/plain",
            TARIFS_1252.len(),
            None,
            Some("attachment"),
            false,
            false
        )])
    );
    assert_eq!(attachment(&raw, 0).unwrap(), TARIFS_1252);
}

#[test]
fn shift_jis_and_iso_2022_jp() {
    let v = parse(&corpus("06-shift-jis.eml"));
    assert_eq!(
        mailboxes(&v, "from"),
        [(Some("山田太郎"), Some("yamada@example.co.jp"))]
    );
    assert_eq!(
        mailboxes(&v, "to"),
        [(Some("田中一郎"), Some("tanaka@example.jp"))]
    );
    assert_eq!(v["subject"], "お見積りの件");
    assert_eq!(v["date"], "2024-06-10T10:30:00+09:00");
    assert_eq!(v["date_unix"], 1717983000);
    assert_eq!(
        text(&v),
        "田中様\r\n\r\nいつもお世話になっております。\r\nお見積りを添付いたします。\r\n"
    );
}

#[test]
fn utf8_encoded_words_b_and_q_split_subject_names_and_groups() {
    let v = parse(&corpus("07-utf8-encoded-words.eml"));
    assert_eq!(
        v["subject"], "Proposition commerciale – réf. ÉTÉ-2024 ✓ 日本語",
        "three encoded-words (B, Q, B) over three lines, the whitespace between them dropped"
    );
    assert_eq!(
        mailboxes(&v, "from"),
        [(Some("Zoë Müller"), Some("zoe.mueller@example.de"))]
    );
    assert_eq!(
        mailboxes(&v, "to"),
        [
            (Some("Søren Ødegård"), Some("soren@example.dk")),
            // an encoded-word inside a quoted string (not RFC 2047, common): decoded too
            (Some("André Dupont"), Some("andre.dupont@example.fr"))
        ]
    );
    // a group: its members (the group's name is not kept)
    assert_eq!(
        mailboxes(&v, "cc"),
        [
            (None, Some("anna@example.de")),
            (None, Some("bob@example.com"))
        ]
    );
    assert_eq!(v["date"], "2024-06-11T23:59:59-07:00");
    assert_eq!(v["date_unix"], 1718175599);
    assert_eq!(text(&v), "Grüße aus München 👍 – on se voit à Zürich ?\r\n");
}

/// "Données clients : Hélène, Noël, Zoé" in ISO-8859-1.
const FRANCAIS_LATIN1: &[u8] = b"Donn\xe9es clients : H\xe9l\xe8ne, No\xebl, Zo\xe9";

#[test]
fn rfc2231_continuations_and_charsets_in_file_names() {
    let raw = corpus("08-rfc2231-filenames.eml");
    let v = parse(&raw);
    assert_eq!(
        v["attachments"],
        json!([
            att(
                0,
                Some("Rapport annuel été 2024 final.pdf"),
                "application/pdf",
                2048,
                None,
                Some("attachment"),
                false,
                false
            ),
            att(
                1,
                Some("Chiffres d’affaires – T2.xlsx"),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                1500,
                None,
                Some("attachment"),
                false,
                false
            ),
            att(
                2,
                Some("français.txt"),
                "text/plain",
                FRANCAIS_LATIN1.len(),
                None,
                Some("attachment"),
                false,
                false
            ),
        ])
    );
    assert_eq!(attachment(&raw, 0).unwrap(), blob(b"%PDF-1.7\n", 4, 2048));
    assert_eq!(attachment(&raw, 1).unwrap(), blob(b"PK\x03\x04", 5, 1500));
    assert_eq!(attachment(&raw, 2).unwrap(), FRANCAIS_LATIN1);
    assert_eq!(text(&v), "Les trois documents sont joints.\r\n");
    let dir = TempDir::new("rfc2231");
    let saved = save(&raw, &dir.0, None);
    assert_eq!(
        check_saved(&raw, &dir.0, &saved),
        [
            "Rapport annuel été 2024 final.pdf",
            "Chiffres d’affaires – T2.xlsx",
            "français.txt"
        ]
    );
}

#[test]
fn quoted_printable_soft_line_breaks() {
    let v = parse(&corpus("09-quoted-printable.eml"));
    assert_eq!(v["subject"], "Relance : facture du mois de décembre");
    // a soft break inside a UTF-8 sequence (d=C3=<break>=A9cembre), =3D, trailing spaces
    // dropped, =20 kept
    assert_eq!(
        text(&v),
        "Madame, Monsieur, sauf erreur de notre part, la facture FA-2023-1207 du mois de \
         décembre reste impayée à ce jour ; merci de régulariser sous huit jours.\r\n\
         Total = 1 234,56 €\r\nLigne terminée par une espace codée \r\nFin.\r\n"
    );
}

#[test]
fn html_only_message_gets_a_text_derived_from_its_html() {
    let raw = corpus("10-html-only.eml");
    let v = parse(&raw);
    assert_eq!(v["subject"], "Nouveautés de juin");
    assert_eq!(v["text_from_html"], true);
    assert!(html(&v).contains("<h1>Nouveautés de juin</h1>"));
    let t = text(&v);
    assert!(t.contains("Nouveautés de juin"), "{t}");
    assert!(
        t.contains("Découvrez notre catalogue\u{a0}2024 & nos offres."),
        "{t}"
    );
    assert!(
        !t.contains('<') && !t.contains("color") && !t.contains("Newsletter"),
        "{t}"
    );
    // without the HTML in the answer, the text is still derived from it
    let v = parse_with(&raw, Some(r#"{"html": false}"#));
    assert_eq!(
        (v["html"].clone(), v["text_from_html"].clone()),
        (Value::Null, json!(true))
    );
    assert_eq!(text(&v), t);
    let v = parse_with(&raw, Some(r#"{"text": false}"#));
    assert_eq!(
        (v["text"].clone(), v["text_from_html"].clone()),
        (Value::Null, json!(false))
    );
}

#[test]
fn tnef_winmail_dat_is_flagged() {
    let tnef = blob(b"\x78\x9f\x3e\x22\x01\x02\x01\x06\x90\x08\x00", 6, 777);
    let raw = corpus("11-tnef-winmail.eml");
    let v = parse(&raw);
    assert_eq!(
        v["attachments"],
        json!([att(
            0,
            Some("winmail.dat"),
            "application/ms-tnef",
            777,
            None,
            Some("attachment"),
            false,
            true
        )])
    );
    assert_eq!(v["has_tnef"], true);
    assert_eq!(
        (&v["encrypted"], &v["signed"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(attachment(&raw, 0).unwrap(), tnef);
    assert_eq!(
        text(&v),
        "Le planning du troisieme trimestre est en piece jointe.\r\n"
    );
    // told by its name alone
    let raw = corpus("12-tnef-octet-stream.eml");
    let v = parse(&raw);
    assert_eq!(
        v["attachments"],
        json!([att(
            0,
            Some("WINMAIL.DAT"),
            "application/octet-stream",
            100,
            None,
            Some("attachment"),
            false,
            true
        )])
    );
    assert_eq!(v["has_tnef"], true);
    assert_eq!(attachment(&raw, 0).unwrap(), tnef[..100]);
}

#[test]
fn smime_signed() {
    let raw = corpus("13-smime-signed.eml");
    let v = parse(&raw);
    assert_eq!(
        (
            &v["signed"],
            &v["encrypted"],
            &v["security"],
            &v["has_tnef"]
        ),
        (&json!(true), &json!(false), &json!("smime"), &json!(false))
    );
    assert_eq!(v["subject"], "Contrat signé");
    assert_eq!(text(&v), "Le contrat est approuvé par la direction.\r\n");
    assert_eq!(
        v["attachments"],
        json!([att(
            0,
            Some("smime.p7s"),
            "application/pkcs7-signature",
            1658,
            None,
            Some("attachment"),
            false,
            false
        )])
    );
    let p7s = blob(
        b"\x30\x82\x06\x7a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02",
        7,
        1658,
    );
    assert_eq!(attachment(&raw, 0).unwrap(), p7s);
}

#[test]
fn smime_encrypted() {
    let raw = corpus("14-smime-encrypted.eml");
    let v = parse(&raw);
    assert_eq!(
        (&v["signed"], &v["encrypted"], &v["security"]),
        (&json!(false), &json!(true), &json!("smime"))
    );
    assert_eq!((&v["text"], &v["html"]), (&Value::Null, &Value::Null));
    assert_eq!(v["subject"], "Bulletin de paie juin 2024");
    assert_eq!(
        v["attachments"],
        json!([att(
            0,
            Some("smime.p7m"),
            "application/pkcs7-mime",
            2222,
            None,
            Some("attachment"),
            false,
            false
        )])
    );
    let p7m = blob(
        b"\x30\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03",
        8,
        2222,
    );
    assert_eq!(attachment(&raw, 0).unwrap(), p7m);
}

#[test]
fn pgp_mime_encrypted() {
    let raw = corpus("15-pgp-encrypted.eml");
    let v = parse(&raw);
    assert_eq!(
        (&v["signed"], &v["encrypted"], &v["security"]),
        (&json!(false), &json!(true), &json!("pgp"))
    );
    assert_eq!((&v["text"], &v["html"]), (&Value::Null, &Value::Null));
    assert_eq!(
        mailboxes(&v, "to"),
        [(Some("Bob"), Some("bob@example.org"))]
    );
    let list = v["attachments"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["content_type"], "application/pgp-encrypted");
    assert_eq!(list[1]["file_name"], "encrypted.asc");
    assert_eq!(attachment(&raw, 0).unwrap(), b"Version: 1\r\n");
    let armored = attachment(&raw, 1).unwrap();
    assert!(armored.starts_with(b"-----BEGIN PGP MESSAGE-----\r\n"));
    assert!(armored.ends_with(b"-----END PGP MESSAGE-----\r\n"));
}

#[test]
fn text_parts_around_inline_images_are_all_in_the_text() {
    let raw = corpus("27-inline-images-between-text.eml");
    let v = parse(&raw);
    assert_eq!(v["subject"], "Colis abîmé");
    assert_eq!(
        mailboxes(&v, "from"),
        [(Some("Maëlle Perrin"), Some("maelle.perrin@icloud.example"))]
    );
    // the message starts with an image: the text is still there, both of its parts
    assert_eq!(
        text(&v),
        "Voici la photo du colis abîmé à la livraison.\r\nEnvoye de mon iPhone"
    );
    assert_eq!(
        (&v["text_from_html"], &v["html"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(
        v["attachments"],
        json!([
            att(
                0,
                Some("IMG_0042.jpg"),
                "image/jpeg",
                900,
                None,
                Some("inline"),
                false,
                false
            ),
            att(
                1,
                Some("IMG_0043.jpg"),
                "image/jpeg",
                700,
                None,
                Some("inline"),
                false,
                false
            ),
        ])
    );
    assert_eq!(
        attachment(&raw, 0).unwrap(),
        blob(b"\xff\xd8\xff\xe1\x00\x18Exif", 10, 900)
    );
    assert_eq!(
        attachment(&raw, 1).unwrap(),
        blob(b"\xff\xd8\xff\xe1\x00\x18Exif", 11, 700)
    );
    // {"inline": false} leaves the photos out: they are inline
    let dir = TempDir::new("apple");
    assert_eq!(save(&raw, &dir.0, Some(r#"{"inline":false}"#)), json!([]));
}

// ---- malformed mail: what could be read, never an error --------------------------------------

#[test]
fn missing_final_boundary_still_decodes_the_last_attachment() {
    let raw = corpus("16-missing-final-boundary.eml");
    let v = parse(&raw);
    assert_eq!(v["subject"], "Devis 2024-204 (tronque)");
    assert_eq!(text(&v), "Le devis 2024-204 est joint.\r\n");
    assert_eq!(
        v["attachments"],
        json!([att(
            0,
            Some("devis-2024-204.pdf"),
            "application/pdf",
            1600,
            None,
            Some("attachment"),
            false,
            false
        )])
    );
    assert_eq!(attachment(&raw, 0).unwrap(), blob(b"%PDF-1.5\n", 9, 1600));
}

#[test]
fn truncated_alternative_keeps_both_bodies() {
    let raw = corpus("25-truncated-alternative.eml");
    let v = parse(&raw);
    assert_eq!(text(&v), "Votre ticket 5512 est résolu.\r\n");
    assert_eq!(v["text_from_html"], false);
    assert_eq!(
        html(&v),
        "<html><body><p>Votre ticket <b>5512</b> est résolu.</p>\r\n<p>L'équipe support</p>\r\n"
    );
    assert_eq!(
        v["attachments"],
        json!([]),
        "the cut HTML part is the HTML body"
    );
}

#[test]
fn multipart_without_a_usable_boundary_is_read_as_text() {
    let v = parse(&corpus("26-multipart-no-boundary.eml"));
    assert_eq!(text(&v), "Livraison prévue lundi entre 8 h et 12 h.\r\n");
    assert_eq!(v["attachments"], json!([]));
    // a boundary the body never uses: its whole body, MIME lines and all, is the text
    let v = parse(&corpus("17-wrong-boundary.eml"));
    let t = text(&v);
    assert!(
        t.starts_with("--another-boundary\r\n")
            && t.contains("Texte perdu entre deux délimiteurs.")
    );
    assert_eq!(v["attachments"], json!([]));
    assert_eq!(v["subject"], "Boundary mismatch");
}

#[test]
fn bad_base64_keeps_the_raw_text_and_the_next_part() {
    let raw = corpus("18-bad-base64.eml");
    let v = parse(&raw);
    assert_eq!(text(&v), "Document numerise le 24/06/2024.\r\n");
    let list = v["attachments"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (&list[0]["file_name"], &list[0]["content_type"]),
        (&json!("scan-0624.png"), &json!("image/png"))
    );
    // undecodable: the part's text as it is in the message
    let png = attachment(&raw, 0).unwrap();
    assert!(png.starts_with(b"iVBORw0KGgo") && png.windows(6).any(|w| w == b"!!!***"));
    assert_eq!(attachment(&raw, 1).unwrap(), blob(b"%PDF-1.5\n", 9, 300));
}

#[test]
fn wrong_or_unknown_charset_labels() {
    let raw = corpus("19-wrong-charset.eml");
    let v = parse(&raw);
    // Latin-1 bytes labelled UTF-8: read as Windows-1252, not as U+FFFD
    assert_eq!(
        text(&v),
        "Menu du jour : café gourmand et crème brûlée (12 €).\r\n"
    );
    // an unknown charset in an encoded-word: its ASCII read as is
    assert_eq!(v["subject"], "Menu du jour");
    // an attachment with an unknown charset: its bytes as sent
    assert_eq!(
        attachment(&raw, 0).unwrap(),
        b"Notes: caf\xe9, cr\xe8me br\xfbl\xe9e"
    );
    assert_eq!(v["attachments"][0]["file_name"], "notes.txt");
}

#[test]
fn raw_8bit_header_bytes() {
    let v = parse(&corpus("20-raw-8bit-headers.eml"));
    // UTF-8 (RFC 6532) as is; Latin-1 read as Windows-1252
    assert_eq!(v["subject"], "Réservation confirmée – chambre 12");
    assert_eq!(
        mailboxes(&v, "to"),
        [(Some("Jürgen Weiß"), Some("juergen@example.de"))]
    );
    assert_eq!(
        mailboxes(&v, "from"),
        [(Some("Hélène Duprè"), Some("helene@example.fr"))]
    );
    assert_eq!(v["message_id"], "resa-12@hotel.example");
    assert_eq!(text(&v), "Votre reservation est confirmee.\r\n");
    // the listing of a mailbox reads the header block the same way
    let raw = corpus("20-raw-8bit-headers.eml");
    let header = &raw[..find(&raw, b"\r\n\r\n") + 4];
    let e = serde_json::to_value(oauthmail::message::parsed::envelope_of_header(header)).unwrap();
    for k in ["from", "to", "subject", "date", "date_unix", "message_id"] {
        assert_eq!(e[k], v[k], "{k}");
    }
}

#[test]
fn missing_or_unreadable_date_and_ids() {
    let v = parse(&corpus("21-no-date.eml"));
    assert_eq!(
        (&v["date"], &v["date_unix"], &v["message_id"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(
        mailboxes(&v, "to"),
        [],
        "undisclosed-recipients:; is an empty group"
    );
    assert_eq!(v["subject"], "Rappel automatique");
    assert_eq!(text(&v), "Ceci est un rappel sans date ni Message-ID.\r\n");

    let v = parse(&corpus("22-bad-date.eml"));
    assert_eq!((&v["date"], &v["date_unix"]), (&Value::Null, &Value::Null));
    assert_eq!(v["message_id"], "no-angle-brackets@example.fr");
    assert_eq!(ids(&v, "in_reply_to"), ["pas un identifiant"]);
    assert_eq!(text(&v), "Le logiciel a ecrit une date illisible.\r\n");
}

#[test]
fn empty_body_and_empty_subject() {
    let v = parse(&corpus("23-empty-body.eml"));
    assert_eq!(v["subject"], Value::Null, "an empty Subject is no subject");
    assert_eq!(v["text"], "");
    assert_eq!(v["attachments"], json!([]));
    assert_eq!(v["date_unix"], 1719471600);
    assert_eq!(v["unreadable"], false);
}

#[test]
fn bytes_that_are_no_message() {
    // nothing; binary bytes mail-parser takes for a header name (JPEG, ZIP); a body without
    // any header
    let jpeg = blob(b"\xff\xd8\xff\xe0\x00\x10JFIF", 2, 2345);
    let zip = blob(b"PK\x03\x04\x14\x00", 5, 300);
    for raw in [
        &b""[..],
        &jpeg,
        &zip,
        b"\x00\x01\x02\xff\xfe",
        b"\r\n\r\nbody only\r\n",
    ] {
        let v = parse(raw);
        let empty = json!({
            "from": [], "sender": [], "reply_to": [], "to": [], "cc": [], "bcc": [],
            "subject": null, "date": null, "date_unix": null, "message_id": null,
            "in_reply_to": [], "references": [], "text": null, "text_from_html": false,
            "html": null, "attachments": [], "encrypted": false, "signed": false,
            "security": null, "has_tnef": false, "unreadable": true,
        });
        assert_eq!(v, empty, "{raw:?}");
        assert_eq!(
            attachment(raw, 0).unwrap_err().0,
            OM_STATUS_INVALID_ARGUMENT
        );
        let dir = TempDir::new("no-message");
        assert_eq!(save(raw, &dir.0, None), json!([]));
        assert!(dir.files().is_empty());
    }
}

// ---- hostile attachment names ---------------------------------------------------------------

#[test]
fn hostile_names_are_saved_inside_the_directory_under_safe_unique_names() {
    let raw = corpus("24-hostile-names.eml");
    let v = parse(&raw);
    let long = format!(
        "Proces-verbal de l'assemblee generale {}palongue.pdf",
        "tres ".repeat(50)
    );
    assert_eq!(long.len(), 300);
    let listed: Vec<Option<String>> = serde_json::from_value(
        v["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["file_name"].clone())
            .collect(),
    )
    .unwrap();
    let want: Vec<Option<&str>> = vec![
        Some("../../x.exe"),
        Some("..\\..\\evil.bat"),
        Some("CON"),
        Some("nul.txt"),
        Some("a:b.pdf"),
        Some(&long),
        Some("bell\u{7}tab\tnl\nesc\u{1b}.txt"),
        Some("rapport.pdf."),
        Some("facture.pdf"),
        Some("facture.pdf"),
        Some("Photo.JPG"),
        Some("photo.jpg"),
        Some("devis\u{202e}fdp.exe"),
        Some("  ...  "),
        None,
    ];
    assert_eq!(
        listed.iter().map(Option::as_deref).collect::<Vec<_>>(),
        want,
        "decoded as sent"
    );

    let dir = TempDir::new("hostile");
    // an existing file is never replaced
    std::fs::write(dir.0.join("facture.pdf"), b"already here").unwrap();
    let saved = save(&raw, &dir.0, None);
    let names = check_saved(&raw, &dir.0, &saved);
    let long_saved = &names[5];
    assert!(
        long_saved.starts_with("Proces-verbal de l'assemblee generale tres")
            && long_saved.ends_with(".pdf")
            && long_saved.chars().count() <= 120,
        "{long_saved}"
    );
    assert_eq!(
        names,
        [
            "_.._x.exe",
            "_.._evil.bat",
            "_CON",
            "_nul.txt",
            "a_b.pdf",
            long_saved.as_str(),
            "bell_tab_nl_esc_.txt",
            "rapport.pdf",
            "facture (2).pdf",
            "facture (3).pdf",
            "Photo.JPG",
            "photo (2).jpg",
            "devis_fdp.exe",
            "attachment-14",
            "attachment-15",
        ]
    );
    assert_eq!(
        std::fs::read(dir.0.join("facture.pdf")).unwrap(),
        b"already here"
    );
    assert_eq!(
        std::fs::read(dir.0.join("facture (2).pdf")).unwrap(),
        b"%PDF facture 1"
    );
    assert_eq!(
        dir.files().len(),
        16,
        "15 attachments + the file that was there"
    );
    // nothing escaped: the parent holds nothing of ours
    let parent = dir.0.parent().unwrap();
    assert!(!parent.join("x.exe").exists() && !parent.join("evil.bat").exists());

    // saving again: every name is taken, every file new
    let again = save(&raw, &dir.0, None);
    let names2 = check_saved(&raw, &dir.0, &again);
    assert_eq!(names2[0], "_.._x (2).exe");
    assert_eq!(names2[8], "facture (4).pdf");
    assert_eq!(dir.files().len(), 31);
    assert_eq!(std::fs::read(dir.0.join("_.._x.exe")).unwrap(), b"MZ-x");
}

#[test]
fn long_non_ascii_names_fit_every_file_system() {
    // 300 three-byte characters: within Windows's 255 UTF-16 units and Linux's 255 bytes
    let name = format!("{}.pdf", "見積書".repeat(100));
    let raw = format!(
        "From: a@example.jp\r\nSubject: long\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
         Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''{}\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n",
        name.bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    let v = parse(raw.as_bytes());
    assert_eq!(v["attachments"][0]["file_name"], name.as_str());
    let dir = TempDir::new("long");
    let saved = save(raw.as_bytes(), &dir.0, None);
    let names = check_saved(raw.as_bytes(), &dir.0, &saved);
    assert!(
        names[0].ends_with(".pdf") && names[0].len() <= 240,
        "{}",
        names[0]
    );
}

// ---- a 25 MB attachment ------------------------------------------------------------------------

#[test]
fn attachment_of_25_mb_comes_out_byte_exact() {
    use base64::Engine;
    const SIZE: usize = 25 * 1024 * 1024;
    // deterministic bytes (xorshift), every value present
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
    let mut raw = Vec::with_capacity(b64.len() * 78 / 76 + 1024);
    raw.extend_from_slice(
        b"From: Archives <archives@example.fr>\r\nTo: client@example.com\r\n\
          Subject: Sauvegarde\r\nDate: Mon, 01 Jul 2024 12:00:00 +0200\r\nMIME-Version: 1.0\r\n\
          Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\nLa sauvegarde est jointe.\r\n--big\r\n\
          Content-Type: application/octet-stream; name=\"sauvegarde.bin\"\r\n\
          Content-Disposition: attachment; filename=\"sauvegarde.bin\"\r\n\
          Content-Transfer-Encoding: base64\r\n\r\n",
    );
    for line in b64.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--big--\r\n");
    let v = parse(&raw);
    assert_eq!(
        v["attachments"],
        json!([att(
            0,
            Some("sauvegarde.bin"),
            "application/octet-stream",
            SIZE,
            None,
            Some("attachment"),
            false,
            false
        )])
    );
    assert_eq!(text(&v), "La sauvegarde est jointe.");
    let out = attachment(&raw, 0).unwrap();
    assert_eq!(out.len(), SIZE);
    assert!(
        out == data,
        "the 25 MB attachment differs from what was encoded"
    );
}

// ---- bad arguments ---------------------------------------------------------------------------

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let raw = corpus("02-related-inline-images.eml");
    unsafe {
        // om_message_parse
        let mut out: *mut c_char = std::ptr::dangling_mut();
        assert_eq!(
            om_message_parse(null(), 10, null(), &mut out),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert!(out.is_null(), "out_json reset");
        assert!(last_error().contains("data"), "{}", last_error());
        assert_eq!(
            om_message_parse(raw.as_ptr(), raw.len(), null(), null_mut()),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert!(last_error().contains("out_json"), "{}", last_error());
        for (opts, needle) in [
            ("{\"text\":", "parse options"),
            ("{\"colour\":true}", "colour"),
            ("{\"html\":1}", "html"),
        ] {
            let o = cstring(opts);
            assert_eq!(
                om_message_parse(raw.as_ptr(), raw.len(), o.as_ptr(), &mut out),
                OM_STATUS_INVALID_ARGUMENT
            );
            assert!(out.is_null());
            assert!(last_error().contains(needle), "{opts}: {}", last_error());
        }
        let bad_utf8 = b"{\"text\":\xff}\0";
        assert_eq!(
            om_message_parse(
                raw.as_ptr(),
                raw.len(),
                bad_utf8.as_ptr() as *const c_char,
                &mut out
            ),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert!(last_error().contains("options_json"), "{}", last_error());
        // NULL data with len 0: an empty message (nothing to read), not an error
        assert_eq!(om_message_parse(null(), 0, null(), &mut out), OM_STATUS_OK);
        let v: Value = serde_json::from_str(CStr::from_ptr(out).to_str().unwrap()).unwrap();
        om_string_free(out);
        assert_eq!(v["unreadable"], true);

        // om_message_attachment
        let mut data = std::ptr::dangling_mut::<u8>();
        let mut len = 7usize;
        assert_eq!(
            om_message_attachment(raw.as_ptr(), raw.len(), 0, null_mut(), &mut len),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert!(last_error().contains("out_data"), "{}", last_error());
        assert_eq!(
            om_message_attachment(raw.as_ptr(), raw.len(), 0, &mut data, null_mut()),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert_eq!(
            om_message_attachment(null(), 5, 0, &mut data, &mut len),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert!(data.is_null() && len == 0);
        assert!(last_error().contains("data"), "{}", last_error());
        assert_eq!(
            om_message_attachment(null(), 0, 0, &mut data, &mut len),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert!(last_error().contains("0 attachment"), "{}", last_error());
        assert_eq!(
            om_message_attachment(raw.as_ptr(), raw.len(), u32::MAX, &mut data, &mut len),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert!(
            last_error().contains(&u32::MAX.to_string()),
            "{}",
            last_error()
        );
        om_buffer_free(null_mut());

        // om_message_save_attachments
        let dir = TempDir::new("bad-args");
        let d = cstring(dir.0.to_str().unwrap());
        let mut out: *mut c_char = std::ptr::dangling_mut();
        assert_eq!(
            om_message_save_attachments(raw.as_ptr(), raw.len(), null(), null(), &mut out),
            OM_STATUS_INVALID_ARGUMENT
        );
        assert!(out.is_null());
        assert!(last_error().contains("directory"), "{}", last_error());
        assert_eq!(
            om_message_save_attachments(null(), 3, d.as_ptr(), null(), &mut out),
            OM_STATUS_INVALID_ARGUMENT
        );
        let missing = cstring(dir.0.join("missing").to_str().unwrap());
        assert_eq!(
            om_message_save_attachments(
                raw.as_ptr(),
                raw.len(),
                missing.as_ptr(),
                null(),
                &mut out
            ),
            OM_STATUS_IO_ERROR
        );
        assert!(last_error().contains("missing"), "{}", last_error());
        let not_utf8 = b"/tmp/\xff\0";
        assert_eq!(
            om_message_save_attachments(
                raw.as_ptr(),
                raw.len(),
                not_utf8.as_ptr() as *const c_char,
                null(),
                &mut out
            ),
            OM_STATUS_INVALID_ARGUMENT
        );
        for opts in ["{\"inline\":", "{\"inline\":\"no\"}", "{\"colour\":1}"] {
            let o = cstring(opts);
            assert_eq!(
                om_message_save_attachments(
                    raw.as_ptr(),
                    raw.len(),
                    d.as_ptr(),
                    o.as_ptr(),
                    &mut out
                ),
                OM_STATUS_INVALID_ARGUMENT,
                "{opts}"
            );
        }
        assert!(dir.files().is_empty(), "nothing written on a refusal");
        // out_json may be NULL: the files are still written
        assert_eq!(
            om_message_save_attachments(raw.as_ptr(), raw.len(), d.as_ptr(), null(), null_mut()),
            OM_STATUS_OK
        );
        assert_eq!(dir.files().len(), 3);
        // no message, nothing saved, no error
        assert_eq!(
            om_message_save_attachments(null(), 0, d.as_ptr(), null(), &mut out),
            OM_STATUS_OK
        );
        assert_eq!(CStr::from_ptr(out).to_str().unwrap(), "[]");
        om_string_free(out);
    }
}

#[test]
fn empty_attachment_is_a_valid_pointer_and_zero_bytes() {
    let raw = b"From: a@example.fr\r\nSubject: vide\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
        corps\r\n--b\r\nContent-Type: application/pdf\r\n\
        Content-Disposition: attachment; filename=vide.pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\r\n\r\n--b--\r\n";
    let v = parse(raw);
    assert_eq!(v["attachments"][0]["size"], 0);
    assert_eq!(attachment(raw, 0).unwrap(), b"");
    let dir = TempDir::new("empty");
    let saved = save(raw, &dir.0, None);
    assert_eq!(check_saved(raw, &dir.0, &saved), ["vide.pdf"]);
}
