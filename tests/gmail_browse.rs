//! Browsing a mailbox over the Gmail API through the C functions (om_messages_list, _fetch,
//! _set_flags, _move, _copy, _delete, om_folder_create), against the Gmail API emulator
//! (tests/sandbox/gmail, written from Google's documentation) whose tokens are checked at the
//! sandbox OAuth2 server. What the calls did is read back from the emulator's own state
//! (labels of each message, user labels, stored bytes, the requests it answered).

mod common;

use base64::Engine as _;
use common::capi::{init, last_error, Acc, Failure};
use common::gmail::gmail_emulator;
use common::{authorized_as, serial};
use oauthmail::ffi::fetch::{om_message, OM_FETCH_CONTINUE, OM_FETCH_STOP};
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_void, CStr, CString};

fn account(user: &str) -> Acc {
    let g = gmail_emulator();
    authorized_as(
        "confidential-app",
        user,
        json!({
            "email": user,
            "scopes": "openid offline_access email mail",
            "gmail_api_url": g.base_url(),
            "gmail_upload_url": g.upload_url(),
            "incoming": {"protocol": "gmail_api"},
            "outgoing": {"protocol": "gmail_api"},
            "timeout_secs": 60,
        }),
    )
}

/// Seeds `(raw, labels, internalDate ms)`; the ids in order.
fn seed(user: &str, msgs: &[(Vec<u8>, Vec<&str>, u64)]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let list: Vec<Value> = msgs
        .iter()
        .map(|(raw, labels, at)| {
            json!({"raw_base64": b64.encode(raw), "labelIds": labels, "internalDate": at})
        })
        .collect();
    let v = gmail_emulator().seed_with(user, None, Value::Array(list));
    v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect()
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

fn ids_of(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn flags_of(m: &Value) -> Vec<String> {
    m["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// One message delivered by om_messages_fetch.
#[derive(Debug)]
struct Delivered {
    uid: u32,
    uidl: String,
    folder: String,
    flags: String,
    size: u64,
    internal_date: i64,
    parsed: Option<Value>,
    body: Vec<u8>,
}

struct Ctx<'a> {
    got: Vec<Delivered>,
    decide: &'a mut dyn FnMut(usize) -> i32,
}

unsafe extern "C" fn on_message(
    user_data: *mut c_void,
    m: *const om_message,
    data: *const u8,
    len: usize,
) -> i32 {
    let ctx = &mut *(user_data as *mut Ctx<'_>);
    let m = &*m;
    let s = |p: *const std::ffi::c_char| CStr::from_ptr(p).to_string_lossy().into_owned();
    ctx.got.push(Delivered {
        uid: m.uid,
        uidl: s(m.uidl),
        folder: s(m.folder),
        flags: s(m.flags),
        size: m.size,
        internal_date: m.internal_date,
        parsed: (!m.parsed_json.is_null())
            .then(|| serde_json::from_str(&s(m.parsed_json)).unwrap()),
        body: std::slice::from_raw_parts(data, len).to_vec(),
    });
    (ctx.decide)(ctx.got.len() - 1)
}

/// om_messages_fetch; `decide(i)` answers for the i-th delivered message.
fn fetch_chosen(
    acc: &Acc,
    selection: Value,
    decide: &mut dyn FnMut(usize) -> i32,
) -> (Result<u32, Failure>, Vec<Delivered>) {
    let s = CString::new(selection.to_string()).unwrap();
    let mut ctx = Ctx {
        got: Vec::new(),
        decide,
    };
    let mut n = 77u32;
    let st = unsafe {
        oauthmail::ffi::browse::om_messages_fetch(
            acc.h,
            s.as_ptr(),
            Some(on_message),
            &mut ctx as *mut Ctx<'_> as *mut c_void,
            &mut n,
        )
    };
    let r = if st == 0 {
        Ok(n)
    } else {
        Err((st, last_error()))
    };
    (r, ctx.got)
}

// ---------------------------------------------------------------------------- listing

/// What a seeded message of the listing test must list as.
struct Want {
    subject: String,
    from_name: Option<&'static str>,
    from_address: &'static str,
    internal_ms: u64,
    size: usize,
    attachment: bool,
    read: bool,
    starred: bool,
    keyword: bool,
}

const BASE_MS: u64 = 1_796_000_000_000; // 2026-11-29

fn listing_message(i: usize) -> (Vec<u8>, Want) {
    let date = format!("Tue, 01 Dec 2026 10:{i:02}:00 +0100");
    let common = format!(
        "Message-ID: <gb-{i}@example.test>\nDate: {date}\nTo: Jean Martin <jean@example.test>, achats@example.test\n"
    );
    let (head, body, subject, from_name, from_address, attachment) = match i % 5 {
        0 => (
            format!("From: Sender {i} <sender{i}@example.test>\nSubject: Devis {i}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b{i}\"\n"),
            format!("--b{i}\nContent-Type: text/plain; charset=utf-8\n\nVoici le devis.\n--b{i}\nContent-Type: application/pdf; name=\"devis-{i}.pdf\"\nContent-Disposition: attachment; filename=\"devis-{i}.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQKJSVFT0YK\n--b{i}--\n"),
            format!("Devis {i}"),
            Some("Sender"),
            "sender",
            true,
        ),
        1 => (
            format!("From: news@example.test\nSubject: Lettre {i}\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"a{i}\"\n"),
            format!("--a{i}\nContent-Type: text/plain\n\nBonjour.\n--a{i}\nContent-Type: text/html\n\n<p>Bonjour.</p>\n--a{i}--\n"),
            format!("Lettre {i}"),
            None,
            "news@example.test",
            false,
        ),
        2 => (
            // RFC 2047: Q-encoded name, B-encoded subject "Réunion à 10 h — n°{i}"
            format!(
                "From: =?UTF-8?Q?H=C3=A9l=C3=A8ne_Dupont?= <helene@example.test>\nSubject: =?UTF-8?B?{}?=\n",
                base64::engine::general_purpose::STANDARD.encode(format!("Réunion à 10 h — n°{i}"))
            ),
            "Ordre du jour.\n".to_string(),
            format!("Réunion à 10 h — n°{i}"),
            Some("Hélène Dupont"),
            "helene@example.test",
            false,
        ),
        3 => (
            // RFC 6532: raw UTF-8 in the header
            format!("From: Jürgen Groß <juergen@example.test>\nSubject: Grüße {i}\nContent-Type: text/plain; charset=utf-8\n"),
            "Schöne Grüße.\n".to_string(),
            format!("Grüße {i}"),
            Some("Jürgen Groß"),
            "juergen@example.test",
            false,
        ),
        _ => (
            format!("From: plain{i}@example.test\nSubject: Plain message {i}\nCc: =?ISO-8859-1?Q?Ren=E9e?= <renee@example.test>\nIn-Reply-To: <q-{i}@example.test>\nReferences: <q-0@example.test> <q-{i}@example.test>\n"),
            format!("Message {i}.\n"),
            format!("Plain message {i}"),
            None,
            "plain",
            false,
        ),
    };
    let raw = crlf(&format!("{common}{head}\n{body}"));
    let want = Want {
        subject,
        from_name,
        from_address,
        internal_ms: BASE_MS + i as u64 * 60_000,
        size: raw.len(),
        attachment,
        read: i.is_multiple_of(3),
        starred: i.is_multiple_of(4),
        keyword: i == 7,
    };
    (raw, want)
}

#[test]
fn listing_every_page_newest_first_with_envelopes_flags_and_attachments() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let user = "gbrowse-list@example.test";
    let mut seeded = Vec::new();
    let mut wants = Vec::new();
    for i in 0..23 {
        let (raw, w) = listing_message(i);
        let mut labels = vec!["INBOX"];
        if !w.read {
            labels.push("UNREAD");
        }
        if w.starred {
            labels.push("STARRED");
        }
        if w.keyword {
            labels.push("Projets/Été");
        }
        seeded.push((raw, labels, w.internal_ms));
        wants.push(w);
    }
    let ids = seed(user, &seeded);
    let acc = account(user);
    let labels_before: Vec<_> = ids.iter().map(|id| g.labels_of(user, id)).collect();

    // every page: each message once, newest first
    let (all, pages) = acc.list_all(json!({"limit": 10}));
    assert_eq!(pages, 3);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(ids_of(&all), newest_first);
    let first = acc.list(r#"{"limit": 10}"#).unwrap();
    assert_eq!(first["folder"], "INBOX");
    assert_eq!(first["uidvalidity"], 0);
    assert_eq!(first["total"], 23, "Gmail's resultSizeEstimate");
    assert_eq!(first["messages"].as_array().unwrap().len(), 10);
    assert!(first["next_cursor"].is_string());

    // each message as seeded
    for m in &all {
        let i = ids.iter().position(|id| m["id"] == *id).unwrap();
        let w = &wants[i];
        assert_eq!(m["uid"], 0);
        assert_eq!(m["subject"], w.subject.as_str(), "{m}");
        assert_eq!(m["message_id"], format!("gb-{i}@example.test"));
        assert_eq!(m["date"], format!("2026-12-01T10:{i:02}:00+01:00"));
        assert_eq!(m["date_unix"], 1_796_115_600 + i as u64 * 60);
        assert_eq!(m["internal_date"], w.internal_ms / 1000);
        assert_eq!(m["size"], w.size, "sizeEstimate: {m}");
        assert_eq!(m["has_attachments"], w.attachment, "{m}");
        let from = &m["from"][0];
        assert!(
            from["address"]
                .as_str()
                .unwrap()
                .starts_with(w.from_address),
            "{m}"
        );
        match w.from_name {
            Some("Sender") => assert_eq!(from["name"], format!("Sender {i}")),
            Some(n) => assert_eq!(from["name"], n, "decoded: {m}"),
            None => assert!(from["name"].is_null(), "{m}"),
        }
        assert_eq!(m["to"][0]["name"], "Jean Martin");
        assert_eq!(m["to"][1]["address"], "achats@example.test");
        let mut want_flags = Vec::new();
        if w.read {
            want_flags.push("\\Seen".to_string());
        }
        if w.starred {
            want_flags.push("\\Flagged".to_string());
        }
        if w.keyword {
            want_flags.push("Projets/Été".to_string());
        }
        assert_eq!(flags_of(m), want_flags, "{m}");
        if i % 5 == 4 {
            assert_eq!(m["cc"][0]["name"], "Renée");
            assert_eq!(m["in_reply_to"], json!([format!("q-{i}@example.test")]));
            assert_eq!(
                m["references"],
                json!(["q-0@example.test", format!("q-{i}@example.test")])
            );
        }
    }

    // a page of more than Gmail's page: several messages.list calls, the cursor lined up
    g.inject("page-size", "n=7");
    let p1 = acc.list(r#"{"limit": 20}"#).unwrap();
    assert_eq!(
        ids_of(p1["messages"].as_array().unwrap()),
        newest_first[..20]
    );
    let p2 = acc
        .list(&json!({"limit": 20, "cursor": p1["next_cursor"]}).to_string())
        .unwrap();
    assert_eq!(
        ids_of(p2["messages"].as_array().unwrap()),
        newest_first[20..]
    );
    assert!(p2["next_cursor"].is_null(), "the last page has no cursor");
    g.reset();

    // the has:attachment question only when a page holds non-text mail
    let plain = acc.list(r#"{"search": {"subject": "Plain"}}"#).unwrap();
    assert_eq!(plain["total"], 4);
    let asked = |needle: &str| {
        g.requests()
            .iter()
            .filter(|r| r["path"].as_str().unwrap_or("").contains(needle))
            .count()
    };
    assert_eq!(asked("has%3Aattachment"), 0, "{:?}", g.requests());
    acc.list("{}").unwrap();
    assert_eq!(asked("has%3Aattachment"), 1, "one question for the page");
    assert_eq!(
        asked("format=metadata"),
        4 + 23,
        "one metadata get per message"
    );

    // rate limits and a cut connection during a listing are waited out and repeated
    g.inject("throttle", "count=2&status=429");
    g.inject("cut", "count=1&when=mid_body");
    let again = acc.list(r#"{"limit": 100}"#).unwrap();
    assert_eq!(ids_of(again["messages"].as_array().unwrap()), newest_first);
    assert!(again["next_cursor"].is_null());
    let st = g.stats();
    assert!(
        st["throttled"].as_u64().unwrap() >= 2 && st["cut"].as_u64().unwrap() >= 1,
        "{st}"
    );
    g.reset();

    // listing changed nothing (nothing marked read)
    let labels_after: Vec<_> = ids.iter().map(|id| g.labels_of(user, id)).collect();
    assert_eq!(labels_before, labels_after);
}

// ---------------------------------------------------------------------------- criteria

fn day_ms(y: i32, m: u32, d: u32) -> u64 {
    // noon UTC of that day
    let days = days_from_civil(y, m, d);
    (days * 86_400 + 12 * 3600) as u64 * 1000
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[test]
fn search_criteria_become_gmail_queries() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let user = "gbrowse-search@example.test";
    let big_body: String = (0..400).map(|i| format!("ligne {i} du relevé\n")).collect();
    let msgs = vec![
        (
            crlf("From: Alice Martin <alice@example.test>\nTo: bob@example.test\nSubject: Devis menuiserie\nMessage-ID: <s0@example.test>\n\nLe prix est de 300 euros.\n"),
            vec!["INBOX", "UNREAD"],
            day_ms(2026, 1, 5),
        ),
        (
            crlf("From: =?UTF-8?Q?H=C3=A9l=C3=A8ne_Dupont?= <helene@example.test>\nTo: bob@example.test\nSubject: =?UTF-8?Q?R=C3=A9union_lundi?=\nMessage-ID: <s1@example.test>\n\nOrdre du jour.\n"),
            vec!["INBOX", "STARRED"],
            day_ms(2026, 1, 12),
        ),
        (
            crlf(&format!("From: carol@example.test\nTo: achats@example.test\nSubject: Facture\nMessage-ID: <s2@example.test>\n\n{big_body}")),
            vec!["INBOX", "UNREAD", "Clients"],
            day_ms(2026, 1, 20),
        ),
        (
            crlf("From: Alice Martin <alice@example.test>\nTo: bob@example.test\nSubject: Relance devis\nMessage-ID: <s3@example.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: text/plain\n\nCi-joint.\n--x\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"devis.pdf\"\n\n%PDF-1.4\n--x--\n"),
            vec!["INBOX", "Clients"],
            day_ms(2026, 2, 2),
        ),
        (
            crlf("From: dave@example.test\nTo: bob@example.test\nSubject: Hello\nMessage-ID: <s4@example.test>\n\nHi.\n"),
            vec!["INBOX", "UNREAD", "STARRED"],
            day_ms(2026, 2, 15),
        ),
    ];
    let ids = seed(user, &msgs);
    let acc = account(user);
    // (the messages found, as seed indexes ascending; total)
    let found = |search: Value| -> (Vec<usize>, u64) {
        let p = acc
            .list(&json!({"search": search}).to_string())
            .unwrap_or_else(|e| panic!("{search}: {e:?}"));
        let mut got: Vec<usize> = p["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| ids.iter().position(|id| m["id"] == *id).unwrap())
            .collect();
        got.sort_unstable();
        (got, p["total"].as_u64().unwrap())
    };
    let only = |search: Value| found(search).0;
    assert_eq!(found(json!({})), (vec![0, 1, 2, 3, 4], 5));
    assert_eq!(only(json!({"unseen": true})), [0, 2, 4]);
    assert_eq!(only(json!({"unseen": false})), [1, 3]);
    assert_eq!(only(json!({"flagged": true})), [1, 4]);
    assert_eq!(only(json!({"flagged": false})), [0, 2, 3]);
    assert_eq!(only(json!({"since": "2026-01-12"})), [1, 2, 3, 4]);
    assert_eq!(only(json!({"before": "2026-01-20"})), [0, 1]);
    assert_eq!(
        only(json!({"since": "2026-01-12", "before": "2026-02-02"})),
        [1, 2]
    );
    assert_eq!(only(json!({"from": "alice"})), [0, 3]);
    assert_eq!(
        only(json!({"from": "Hélène"})),
        [1],
        "decoded names searched"
    );
    assert_eq!(only(json!({"to": "achats"})), [2]);
    assert_eq!(only(json!({"subject": "devis"})), [0, 3]);
    assert_eq!(only(json!({"subject": "Réunion lundi"})), [1]);
    assert_eq!(only(json!({"text": "300 euros"})), [0], "full text");
    assert_eq!(only(json!({"larger": 5000})), [2]);
    assert_eq!(only(json!({"smaller": 5000})), [0, 1, 3, 4]);
    assert_eq!(only(json!({"keyword": "Clients"})), [2, 3]);
    assert_eq!(
        only(json!({"keyword": "clients"})),
        [2, 3],
        "label names ignore case"
    );
    assert_eq!(only(json!({"unseen": true, "from": "alice"})), [0]);
    assert_eq!(
        only(json!({"subject": "a \"quoted\" value"})),
        Vec::<usize>::new()
    );
    let none = acc
        .list(r#"{"search": {"keyword": "No such label"}}"#)
        .unwrap();
    assert_eq!(none["total"], 0);
    assert!(none["messages"].as_array().unwrap().is_empty() && none["next_cursor"].is_null());
    // a label is a folder
    let clients = acc.list(r#"{"folder": "Clients"}"#).unwrap();
    let listed = clients["messages"].as_array().unwrap();
    assert_eq!(ids_of(listed), [ids[3].clone(), ids[2].clone()]);
    assert_eq!(listed[0]["has_attachments"], true);
    assert_eq!(listed[1]["has_attachments"], false);
    assert_eq!(flags_of(&listed[0]), ["\\Seen", "Clients"]);

    // what the Gmail API cannot do, said before anything is asked
    let e = acc.list(r#"{"search": {"answered": true}}"#).unwrap_err();
    assert_eq!(e.0, OM_STATUS_UNSUPPORTED, "{}", e.1);
    assert!(e.1.contains("answered"), "{}", e.1);
    let e = acc.list(r#"{"order": "oldest_first"}"#).unwrap_err();
    assert_eq!(e.0, OM_STATUS_UNSUPPORTED, "{}", e.1);
    assert!(e.1.contains("newest"), "{}", e.1);
    let e = acc.list(r#"{"uids": "1:5"}"#).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{}", e.1);
    let e = acc.list(r#"{"folder": "No such folder"}"#).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{}", e.1);
    let e = acc.list(r#"{"cursor": "not-a-page-token"}"#).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{}", e.1);
    let p = acc
        .list(r#"{"limit": 1, "search": {"unseen": true}}"#)
        .unwrap();
    let cursor = p["next_cursor"].as_str().unwrap();
    let e = acc
        .list(&json!({"limit": 1, "cursor": cursor, "search": {"flagged": true}}).to_string())
        .unwrap_err();
    assert_eq!(
        e.0, OM_STATUS_INVALID_ARGUMENT,
        "a cursor of another search: {}",
        e.1
    );
    let e = acc.list(r#"{"search": {"since": "5 Jan"}}"#).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_CONFIG, "{}", e.1);
}

// ---------------------------------------------------------------------------- fetch

#[test]
fn chosen_messages_fetched_byte_exact_read_only_unless_mark_seen() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let user = "gbrowse-fetch@example.test";
    let msgs: Vec<(Vec<u8>, Vec<&str>, u64)> = (0..5)
        .map(|i| {
            (
                crlf(&format!("From: a@example.test\nTo: {user}\nSubject: =?UTF-8?Q?Pi=C3=A8ce_{i}?=\nMessage-ID: <gf-{i}@example.test>\n\nCorps {i}, avec des octets: \u{e9}\u{e8}.\n")),
                vec!["INBOX", "UNREAD", "Suivi"],
                BASE_MS + i * 1000,
            )
        })
        .collect();
    let ids = seed(user, &msgs);
    let acc = account(user);

    // chosen, in the order chosen; an unknown (well-formed) id is skipped
    let (n, got) = fetch_chosen(
        &acc,
        json!({"ids": [ids[2], ids[0], "00000000000000ff", ids[4]], "parse": true}),
        &mut |_| OM_FETCH_CONTINUE,
    );
    assert_eq!(n.unwrap(), 3);
    let order: Vec<&str> = got.iter().map(|d| d.uidl.as_str()).collect();
    assert_eq!(order, [&ids[2], &ids[0], &ids[4]]);
    for (d, i) in got.iter().zip([2usize, 0, 4]) {
        assert_eq!(d.body, msgs[i].0, "byte-exact");
        assert_eq!(d.body, g.raw(user, &ids[i]));
        assert_eq!((d.uid, d.size), (0, msgs[i].0.len() as u64));
        assert_eq!(d.folder, "INBOX");
        assert_eq!(d.flags, "Suivi", "unread, with its user label");
        assert_eq!(d.internal_date, ((BASE_MS + i as u64 * 1000) / 1000) as i64);
        assert_eq!(d.parsed.as_ref().unwrap()["subject"], format!("Pièce {i}"));
    }
    for id in &ids {
        assert!(
            g.labels_of(user, id)
                .unwrap()
                .contains(&"UNREAD".to_string()),
            "read without being marked read"
        );
    }

    // mark_seen: only what was accepted; the callback's STOP ends the call
    let (n, got) = fetch_chosen(
        &acc,
        json!({"ids": [ids[1], ids[3], ids[4]], "mark_seen": true}),
        &mut |i| {
            if i == 1 {
                OM_FETCH_STOP
            } else {
                OM_FETCH_CONTINUE
            }
        },
    );
    assert_eq!(n.unwrap(), 1);
    assert_eq!(got.len(), 2, "the second was handed, then STOP");
    let unread = |i: usize| {
        g.labels_of(user, &ids[i])
            .unwrap()
            .contains(&"UNREAD".to_string())
    };
    assert!(!unread(1), "accepted and marked read");
    assert!(unread(3) && unread(4), "not accepted: left unread");

    // the fetch state is not touched: om_fetch still delivers all five as new
    let (_, all) = acc.fetch("{}");
    assert_eq!(all.len(), 5);

    // refusals
    let (r, got) = fetch_chosen(&acc, json!({"ids": ["not an id!"]}), &mut |_| 0);
    assert_eq!(r.unwrap_err().0, OM_STATUS_INVALID_ARGUMENT);
    assert!(got.is_empty());
    let (r, _) = fetch_chosen(&acc, json!({"uids": [3]}), &mut |_| 0);
    assert_eq!(r.unwrap_err().0, OM_STATUS_INVALID_ARGUMENT);
    let (r, _) = fetch_chosen(&acc, json!({"ids": []}), &mut |_| 0);
    assert_eq!(r.unwrap_err().0, OM_STATUS_INVALID_ARGUMENT);
}

// ---------------------------------------------------------------------------- actions

#[test]
fn flags_labels_moves_copies_trash_and_folders_in_the_mailbox() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    g.reset();
    let user = "gbrowse-act@example.test";
    let msgs: Vec<(Vec<u8>, Vec<&str>, u64)> = (0..5)
        .map(|i| {
            (
                crlf(&format!("From: a@example.test\nTo: {user}\nSubject: act {i}\nMessage-ID: <ga-{i}@example.test>\n\nx\n")),
                vec!["INBOX", "UNREAD"],
                BASE_MS + i * 1000,
            )
        })
        .collect();
    let ids = seed(user, &msgs);
    let acc = account(user);
    let labels = |i: usize| -> BTreeSet<String> {
        g.labels_of(user, &ids[i]).unwrap().into_iter().collect()
    };
    let set = |l: &[&str]| -> BTreeSet<String> { l.iter().map(|s| s.to_string()).collect() };

    // seen, flagged and a new nested keyword (created with its parent)
    acc.set_flags(
        &json!({"ids": [ids[0], ids[1]], "add": ["seen", "\\Flagged", "Clients/Société"]})
            .to_string(),
    )
    .unwrap();
    let kw = g
        .label_id(user, "Clients/Société")
        .expect("the label was created");
    assert!(g.label_id(user, "Clients").is_some(), "its parent too");
    for i in [0, 1] {
        assert_eq!(labels(i), set(&["INBOX", "STARRED", &kw]));
    }
    assert_eq!(labels(2), set(&["INBOX", "UNREAD"]), "only the chosen ones");
    let page = acc.list(r#"{"limit": 5}"#).unwrap();
    let m0 = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == ids[0])
        .unwrap()
        .clone();
    assert_eq!(flags_of(&m0), ["\\Seen", "\\Flagged", "Clients/Société"]);
    // removed again; a keyword no label carries is nothing to remove
    acc.set_flags(
        &json!({"ids": [ids[0]], "remove": ["seen", "flagged", "clients/société", "Nowhere"]})
            .to_string(),
    )
    .unwrap();
    assert_eq!(labels(0), set(&["INBOX", "UNREAD"]));
    assert!(g.label_id(user, "Nowhere").is_none());
    acc.set_flags(&json!({"ids": [ids[0]], "remove": ["Nowhere"]}).to_string())
        .unwrap();

    // refused before anything changes
    for (opts, status) in [
        (
            json!({"ids": [ids[2]], "add": ["seen", "answered"]}),
            OM_STATUS_UNSUPPORTED,
        ),
        (
            json!({"ids": [ids[2]], "add": ["draft"]}),
            OM_STATUS_UNSUPPORTED,
        ),
        (
            json!({"ids": [ids[2]], "add": ["Important"]}),
            OM_STATUS_INVALID_ARGUMENT,
        ),
        (
            json!({"ids": [ids[2]], "add": ["seen"], "remove": ["seen"]}),
            OM_STATUS_INVALID_ARGUMENT,
        ),
        (
            json!({"uids": [1], "add": ["seen"]}),
            OM_STATUS_INVALID_ARGUMENT,
        ),
    ] {
        let e = acc.set_flags(&opts.to_string()).unwrap_err();
        assert_eq!(e.0, status, "{opts}: {}", e.1);
    }
    assert_eq!(labels(2), set(&["INBOX", "UNREAD"]));

    // copy: the label added (created when missing); the message stays in the inbox
    acc.copy_messages(&json!({"ids": [ids[2]], "to": "Archives/2026"}).to_string())
        .unwrap();
    let arch = g.label_id(user, "Archives/2026").unwrap();
    assert_eq!(labels(2), set(&["INBOX", "UNREAD", &arch]));
    // move: the inbox label swapped for the destination's
    acc.move_messages(&json!({"ids": [ids[3]], "to": "archives/2026"}).to_string())
        .unwrap();
    assert_eq!(labels(3), set(&["UNREAD", &arch]));
    let inbox = acc.list("{}").unwrap();
    assert!(!ids_of(inbox["messages"].as_array().unwrap()).contains(&ids[3]));
    let archived = acc.list(r#"{"folder": "Archives/2026"}"#).unwrap();
    assert_eq!(
        ids_of(archived["messages"].as_array().unwrap()),
        [ids[3].clone(), ids[2].clone()]
    );
    // and back, from that label to the inbox
    acc.move_messages(
        &json!({"folder": "Archives/2026", "ids": [ids[3]], "to": "INBOX"}).to_string(),
    )
    .unwrap();
    assert_eq!(labels(3), set(&["UNREAD", "INBOX"]));
    let e = acc
        .move_messages(&json!({"ids": [ids[3]], "to": "SENT"}).to_string())
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{}", e.1);
    let e = acc
        .move_messages(&json!({"folder": "Nowhere", "ids": [ids[3]], "to": "INBOX"}).to_string())
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{}", e.1);

    // delete = trash; again (already there) and an unknown id are fine
    acc.delete_messages(&json!({"ids": [ids[4]]}).to_string())
        .unwrap();
    assert_eq!(labels(4), set(&["UNREAD", "TRASH"]));
    acc.delete_messages(&json!({"ids": [ids[4], "00000000000000ff"]}).to_string())
        .unwrap();
    let trash = acc.list(r#"{"folder": "TRASH"}"#).unwrap();
    assert_eq!(
        ids_of(trash["messages"].as_array().unwrap()),
        [ids[4].clone()]
    );
    let inbox = acc.list("{}").unwrap();
    assert_eq!(inbox["total"], 4);

    // folders: nested names get their parents; existing ones (user or system) are fine
    acc.create_folder("Projets/Été/Août").unwrap();
    acc.create_folder("projets/été/août").unwrap();
    acc.create_folder("Inbox").unwrap();
    let names: BTreeMap<String, Value> = g
        .user_labels(user)
        .into_iter()
        .map(|l| (l["name"].as_str().unwrap().to_string(), l))
        .collect();
    for n in ["Projets", "Projets/Été", "Projets/Été/Août"] {
        assert!(names.contains_key(n), "{n} in {names:?}");
    }
    assert_eq!(
        names
            .keys()
            .filter(|n| n.to_lowercase().starts_with("projets"))
            .count(),
        3,
        "created once"
    );
    let folders = acc.folders().unwrap();
    assert!(folders
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "Projets/Été/Août"));
    let e = acc.create_folder("a//b").unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{}", e.1);
}

#[test]
fn waiting_for_mail_polls_the_newest_message() {
    let _s = serial();
    init();
    let g = gmail_emulator();
    let user = "gmail-wait@example.test";
    let mail = |n: u32| {
        format!("Message-ID: <wait-{n}@example.test>\r\nFrom: a@example.test\r\nTo: {user}\r\nSubject: wait {n}\r\n\r\nbody\r\n")
            .into_bytes()
    };
    g.seed(user, &["INBOX"], &[mail(1)]);
    let acc = std::sync::Arc::new(account(user));
    let a2 = acc.clone();
    let h = std::thread::spawn(move || a2.wait_for_mail(r#"{"poll_interval_secs": 1}"#, 120_000));
    std::thread::sleep(std::time::Duration::from_secs(3));
    g.seed(user, &["INBOX"], &[mail(2)]);
    let w = h.join().unwrap().unwrap();
    assert_eq!(
        (w["new_mail"].as_bool(), w["method"].as_str()),
        (Some(true), Some("poll")),
        "{w}"
    );
    let w = acc
        .wait_for_mail(r#"{"poll_interval_secs": 1}"#, 2500)
        .unwrap();
    assert_eq!(w["new_mail"], false, "{w}");
}
