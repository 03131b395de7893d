//! Browsing a Microsoft Graph mailbox through the C functions om_messages_list / _fetch /
//! _set_flags / _move / _copy / _delete and om_folder_create, against the Graph emulator
//! (tests/sandbox/graph: written from Microsoft's documentation), whose tokens are checked at
//! the sandbox OAuth2 server. What the library did is checked on the emulator's own state.

mod common;

use base64::Engine as _;
use common::capi::{init, last_error, Acc};
use common::graph::{graph_emulator, GRAPH_READ_WRITE, GRAPH_SEND};
use common::{authorized_as, serial};
use oauthmail::ffi::browse::*;
use oauthmail::ffi::fetch::{om_message, OM_FETCH_CONTINUE, OM_FETCH_STOP};
use oauthmail::ffi::library::om_string_free;
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::null_mut;

type Failure = (i32, String);

/// A delegated account of `user` reading through Graph (generous timeouts: busy machines).
fn graph_account(user: &str) -> Acc {
    let g = graph_emulator();
    authorized_as(
        "confidential-app",
        user,
        json!({
            "email": user,
            "graph_url": g.base_url(),
            "scopes": format!("openid offline_access email {GRAPH_READ_WRITE} {GRAPH_SEND}"),
            "incoming": {"protocol": "graph"},
            "outgoing": {"protocol": "graph"},
            "timeout_secs": 60,
        }),
    )
}

fn status(st: i32) -> Result<(), Failure> {
    if st == 0 {
        Ok(())
    } else {
        Err((st, last_error()))
    }
}

fn cstr(v: &Value) -> CString {
    CString::new(v.to_string()).unwrap()
}

fn list(acc: &Acc, options: Value) -> Result<Value, Failure> {
    let o = cstr(&options);
    let mut out: *mut c_char = null_mut();
    status(unsafe { om_messages_list(acc.h, o.as_ptr(), &mut out) })?;
    let s = unsafe { CStr::from_ptr(out) }
        .to_string_lossy()
        .into_owned();
    unsafe { om_string_free(out) };
    Ok(serde_json::from_str(&s).unwrap())
}

/// Every page of a listing (`limit` per page), following `next_cursor` to the end.
fn list_all(acc: &Acc, options: Value) -> Result<(Vec<Value>, Vec<Value>), Failure> {
    let mut pages = Vec::new();
    let mut messages = Vec::new();
    let mut options = options;
    for _ in 0..500 {
        let page = list(acc, options.clone())?;
        messages.extend(page["messages"].as_array().unwrap().iter().cloned());
        let next = page["next_cursor"].clone();
        pages.push(page);
        match next {
            Value::String(c) => options["cursor"] = json!(c),
            Value::Null => return Ok((pages, messages)),
            other => panic!("next_cursor {other}"),
        }
    }
    panic!("the listing did not end after 500 pages");
}

fn ids(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// One message om_messages_fetch handed over.
#[derive(Debug, Clone)]
struct Fetched {
    id: String,
    folder: String,
    flags: String,
    internal_date: i64,
    size: u64,
    body: Vec<u8>,
}

struct FetchCtx<'a> {
    got: Vec<Fetched>,
    decide: &'a mut dyn FnMut(&Fetched) -> i32,
}

unsafe extern "C" fn on_message(
    user_data: *mut c_void,
    m: *const om_message,
    data: *const u8,
    len: usize,
) -> i32 {
    let ctx = &mut *(user_data as *mut FetchCtx<'_>);
    let m = &*m;
    assert_eq!(m.uid, 0);
    assert_eq!(m.uidvalidity, 0);
    let f = Fetched {
        id: CStr::from_ptr(m.uidl).to_string_lossy().into_owned(),
        folder: CStr::from_ptr(m.folder).to_string_lossy().into_owned(),
        flags: CStr::from_ptr(m.flags).to_string_lossy().into_owned(),
        internal_date: m.internal_date,
        size: m.size,
        body: std::slice::from_raw_parts(data, len).to_vec(),
    };
    let code = (ctx.decide)(&f);
    ctx.got.push(f);
    code
}

fn fetch_with(
    acc: &Acc,
    selection: Value,
    decide: &mut dyn FnMut(&Fetched) -> i32,
) -> (Result<u32, Failure>, Vec<Fetched>) {
    let s = cstr(&selection);
    let mut ctx = FetchCtx {
        got: Vec::new(),
        decide,
    };
    let mut n = 0u32;
    let st = unsafe {
        om_messages_fetch(
            acc.h,
            s.as_ptr(),
            Some(on_message),
            &mut ctx as *mut FetchCtx<'_> as *mut c_void,
            &mut n,
        )
    };
    (status(st).map(|()| n), ctx.got)
}

fn fetch(acc: &Acc, selection: Value) -> (Result<u32, Failure>, Vec<Fetched>) {
    fetch_with(acc, selection, &mut |_| OM_FETCH_CONTINUE)
}

fn set_flags(acc: &Acc, options: Value) -> Result<(), Failure> {
    let o = cstr(&options);
    status(unsafe { om_messages_set_flags(acc.h, o.as_ptr()) })
}

fn move_to(acc: &Acc, options: Value) -> Result<(), Failure> {
    let o = cstr(&options);
    status(unsafe { om_messages_move(acc.h, o.as_ptr()) })
}

fn copy_to(acc: &Acc, options: Value) -> Result<(), Failure> {
    let o = cstr(&options);
    status(unsafe { om_messages_copy(acc.h, o.as_ptr()) })
}

fn delete(acc: &Acc, options: Value) -> Result<(), Failure> {
    let o = cstr(&options);
    status(unsafe { om_messages_delete(acc.h, o.as_ptr()) })
}

fn create_folder(acc: &Acc, name: &str) -> Result<(), Failure> {
    let n = CString::new(name).unwrap();
    status(unsafe { om_folder_create(acc.h, n.as_ptr(), 120_000) })
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// RFC 2822 date of `iso` in the time zone `offset_secs` east of UTC.
fn rfc2822(iso: &str, offset_secs: i32) -> String {
    chrono::DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(offset_secs).unwrap())
        .to_rfc2822()
}

fn unix(iso: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(iso)
        .unwrap()
        .timestamp()
}

/// A seeded message with its server state (`extra`: isRead, flagStatus, categories,
/// lastVerbExecuted) and its received time.
fn seed_item(mime: &[u8], received: &str, extra: Value) -> Value {
    let mut v = json!({
        "mime_base64": base64::engine::general_purpose::STANDARD.encode(mime),
        "receivedDateTime": received,
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// The emulator's view of a folder, by internetMessageId.
fn state_by_message_id(user: &str, folder: &str) -> BTreeMap<String, Value> {
    graph_emulator()
        .list(user, folder)
        .into_iter()
        .map(|m| (m["internetMessageId"].as_str().unwrap().to_string(), m))
        .collect()
}

// ------------------------------------------------------------------ listing

fn listing_message(i: usize, user: &str, received: &str) -> Vec<u8> {
    let name = format!("Zo\u{e9} Dupont {i}");
    let mut headers = format!(
        "From: =?UTF-8?B?{}?= <zoe{i}@example.test>\r\nTo: Alice <{user}>, bob@example.test\r\nCc: \"Carol, C.\" <carol@example.test>\r\nSubject: =?UTF-8?Q?Caf=C3=A9_n=C2=B0{i}?=\r\nDate: {}\r\nMessage-ID: <list-{i}@example.test>\r\nMIME-Version: 1.0\r\n",
        b64(&name),
        rfc2822(received, 3600)
    );
    if !i.is_multiple_of(2) {
        headers.push_str(&format!(
            "In-Reply-To: <list-{}@example.test>\r\nReferences: <root@example.test> <list-{}@example.test>\r\n",
            i - 1,
            i - 1
        ));
    }
    let body = if i.is_multiple_of(5) {
        format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the file, n\u{b0}{i}.\r\n--b{i}\r\nContent-Type: application/octet-stream; name=\"f{i}.bin\"\r\nContent-Disposition: attachment; filename=\"f{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--b{i}--\r\n"
        )
    } else {
        format!("Content-Type: text/plain; charset=utf-8\r\n\r\nMessage {i}: caf\u{e9}.\r\n")
    };
    format!("{headers}{body}").into_bytes()
}

#[test]
fn pages_give_every_message_once_in_order_with_its_envelope_flags_and_size() {
    let _s = serial();
    init();
    let g = graph_emulator();
    let user = "graph-browse-list@example.test";
    let n = 23;
    // received one day apart (and a minute more each), seeded out of order
    let received: Vec<String> = (0..n)
        .map(|i| format!("2026-01-{:02}T08:{:02}:00Z", i + 1, i))
        .collect();
    let mimes: Vec<Vec<u8>> = (0..n)
        .map(|i| listing_message(i, user, &received[i]))
        .collect();
    let order: Vec<usize> = (0..n).map(|k| (k * 7) % n).collect();
    let items: Vec<Value> = order
        .iter()
        .map(|&i| seed_item(&mimes[i], &received[i], json!({})))
        .collect();
    let seeded = g.seed_with(user, "inbox", Value::Array(items));
    let id_of: BTreeMap<String, usize> = seeded
        .iter()
        .zip(&order)
        .map(|(id, &i)| (id.clone(), i))
        .collect();
    let acc = graph_account(user);
    g.reset(); // the counters

    let (pages, messages) = list_all(&acc, json!({"limit": 5})).unwrap();
    assert_eq!(pages.len(), 5, "23 messages, 5 a page: {pages:?}");
    for p in &pages {
        assert_eq!(p["folder"], json!("INBOX"));
        assert_eq!(p["uidvalidity"], json!(0));
        assert_eq!(p["total"], json!(n), "the whole folder matches");
        assert!(p["messages"].as_array().unwrap().len() <= 5);
    }
    let got: Vec<usize> = ids(&messages).iter().map(|id| id_of[id]).collect();
    let newest_first: Vec<usize> = (0..n).rev().collect();
    assert_eq!(
        got, newest_first,
        "each message once, newest received first"
    );

    for m in &messages {
        let i = id_of[m["id"].as_str().unwrap()];
        assert_eq!(m["uid"], json!(0));
        assert_eq!(m["flags"], json!([]), "unread, unflagged: {m}");
        assert_eq!(m["size"], json!(mimes[i].len()), "{m}");
        assert_eq!(m["internal_date"], json!(unix(&received[i])));
        assert_eq!(m["has_attachments"], json!(i.is_multiple_of(5)), "{m}");
        // the envelope, as the header fields give it (om_message_parse's)
        let parsed = oauthmail::message::parse(&mimes[i], &Default::default());
        let want = serde_json::to_value(&parsed.envelope).unwrap();
        for key in [
            "from",
            "sender",
            "reply_to",
            "to",
            "cc",
            "bcc",
            "subject",
            "date_unix",
            "message_id",
            "in_reply_to",
            "references",
        ] {
            assert_eq!(m[key], want[key], "message {i}, `{key}`: {m}");
        }
        // the date in UTC (Graph's sentDateTime; the header had +01:00)
        let sent = chrono::DateTime::parse_from_rfc3339(&received[i]).unwrap();
        assert_eq!(
            m["date"],
            json!(sent.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        );
    }
    let m0 = messages
        .iter()
        .find(|m| id_of[m["id"].as_str().unwrap()] == 3)
        .unwrap();
    assert_eq!(
        m0["from"],
        json!([{"name": "Zo\u{e9} Dupont 3", "address": "zoe3@example.test"}])
    );
    assert_eq!(m0["subject"], json!("Caf\u{e9} n\u{b0}3"));
    assert_eq!(
        m0["to"],
        json!([{"name": "Alice", "address": user}, {"name": null, "address": "bob@example.test"}])
    );
    assert_eq!(
        m0["cc"],
        json!([{"name": "Carol, C.", "address": "carol@example.test"}])
    );
    assert_eq!(m0["in_reply_to"], json!(["list-2@example.test"]));
    assert_eq!(
        m0["references"],
        json!(["root@example.test", "list-2@example.test"])
    );

    // oldest first: the same messages the other way round, one request a page
    let (_, messages) = list_all(&acc, json!({"limit": 10, "order": "oldest_first"})).unwrap();
    let got: Vec<usize> = ids(&messages).iter().map(|id| id_of[id]).collect();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    // a listing reads nothing and marks nothing
    assert!(g
        .list(user, "inbox")
        .iter()
        .all(|m| m["isRead"] == json!(false)));
    assert_eq!(g.stats()["value_requests"], json!(0), "no MIME downloaded");

    // a page of 1000 holds all; a folder by its display path; an empty folder
    let all = list(&acc, json!({"limit": 1000})).unwrap();
    assert_eq!(all["messages"].as_array().unwrap().len(), n);
    assert!(all["next_cursor"].is_null());
    let empty = list(&acc, json!({"folder": "Archive"})).unwrap();
    assert_eq!(empty["messages"], json!([]));
    assert_eq!(empty["total"], json!(0));
}

// ------------------------------------------------------------------ search keys

struct Row {
    from: (&'static str, &'static str),
    subject: &'static str,
    body: &'static str,
    received: &'static str,
    read: bool,
    flagged: bool,
    categories: &'static [&'static str],
    verb: Option<i64>,
    big: bool,
    extra_to: Option<&'static str>,
}

const ROWS: &[Row] = &[
    Row {
        from: ("Alice", "alice@a.test"),
        subject: "invoice march",
        body: "hello",
        received: "2026-02-01T09:00:00Z",
        read: false,
        flagged: true,
        categories: &[],
        verb: None,
        big: false,
        extra_to: None,
    },
    Row {
        from: ("Bob", "bob@b.test"),
        subject: "meeting notes",
        body: "pineapple",
        received: "2026-02-03T09:00:00Z",
        read: true,
        flagged: false,
        categories: &["Clients"],
        verb: None,
        big: false,
        extra_to: None,
    },
    Row {
        from: ("Alice", "alice@a.test"),
        subject: "weekly report",
        body: "pineapple",
        received: "2026-02-05T09:00:00Z",
        read: false,
        flagged: false,
        categories: &["Clients"],
        verb: Some(102),
        big: false,
        extra_to: None,
    },
    Row {
        from: ("Bob", "bob@b.test"),
        subject: "invoice april",
        body: "hello",
        received: "2026-02-09T23:59:59Z",
        read: true,
        flagged: true,
        categories: &[],
        verb: None,
        big: true,
        extra_to: None,
    },
    Row {
        from: ("Carol", "carol@c.test"),
        subject: "lunch",
        body: "hello",
        received: "2026-02-10T00:00:00Z",
        read: false,
        flagged: false,
        categories: &["VIP"],
        verb: None,
        big: false,
        extra_to: None,
    },
    Row {
        from: ("Bob", "bob@b.test"),
        subject: "re: meeting notes",
        body: "hello",
        received: "2026-02-12T09:00:00Z",
        read: false,
        flagged: false,
        categories: &[],
        verb: Some(103),
        big: false,
        extra_to: Some("dave@d.test"),
    },
    Row {
        from: ("Alice", "alice@a.test"),
        subject: "invoice may",
        body: "pineapple",
        received: "2026-02-20T09:00:00Z",
        read: true,
        flagged: false,
        categories: &["clients"],
        verb: Some(104),
        big: false,
        extra_to: None,
    },
    Row {
        from: ("Carol", "carol@c.test"),
        subject: "party",
        body: "hello",
        received: "2026-03-01T09:00:00Z",
        read: false,
        flagged: true,
        categories: &[],
        verb: None,
        big: true,
        extra_to: None,
    },
];

fn row_mime(i: usize, r: &Row, user: &str) -> Vec<u8> {
    let to = match r.extra_to {
        Some(x) => format!("{user}, {x}"),
        None => user.to_string(),
    };
    let mut body = format!("{} number {i}\r\n", r.body);
    if r.big {
        for k in 0..600 {
            body.push_str(&format!(
                "filler line {k:04} of a large message, to pass 20000 bytes\r\n"
            ));
        }
    }
    format!(
        "From: {} <{}>\r\nTo: {to}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <row-{i}@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}",
        r.from.0,
        r.from.1,
        r.subject,
        rfc2822(r.received, 0)
    )
    .into_bytes()
}

fn word(haystack: &str, w: &str) -> bool {
    haystack.to_lowercase().contains(&w.to_lowercase())
}

/// The rows a search matches, newest received first (the Date header is the received time,
/// so Graph's search order — by sent time — is the same).
fn expected(search: &Value) -> Vec<usize> {
    let day = |k: &str| search[k].as_str().map(|d| unix(&format!("{d}T00:00:00Z")));
    let mut v: Vec<usize> = (0..ROWS.len())
        .filter(|&i| {
            let r = &ROWS[i];
            let t = unix(r.received);
            let size = if r.big { 30_000 } else { 500 };
            search["unseen"].as_bool().is_none_or(|u| u != r.read)
                && search["flagged"].as_bool().is_none_or(|f| f == r.flagged)
                && search["answered"]
                    .as_bool()
                    .is_none_or(|a| a == matches!(r.verb, Some(102 | 103)))
                && day("since").is_none_or(|d| t >= d)
                && day("before").is_none_or(|d| t < d)
                && search["keyword"]
                    .as_str()
                    .is_none_or(|k| r.categories.iter().any(|c| c.eq_ignore_ascii_case(k)))
                && search["larger"].as_u64().is_none_or(|n| size > n)
                && search["smaller"].as_u64().is_none_or(|n| size < n)
                && search["from"]
                    .as_str()
                    .is_none_or(|f| word(&format!("{} {}", r.from.0, r.from.1), f))
                && search["to"]
                    .as_str()
                    .is_none_or(|x| r.extra_to.is_some_and(|t| word(t, x)))
                && search["subject"]
                    .as_str()
                    .is_none_or(|s| word(r.subject, s))
                && search["text"]
                    .as_str()
                    .is_none_or(|s| word(&format!("{} {} {}", r.from.1, r.subject, r.body), s))
        })
        .collect();
    v.sort_by_key(|&i| std::cmp::Reverse(unix(ROWS[i].received)));
    v
}

#[test]
fn search_keys_select_the_right_messages_through_filter_or_search() {
    let _s = serial();
    init();
    let g = graph_emulator();
    let user = "graph-browse-search@example.test";
    let mimes: Vec<Vec<u8>> = ROWS
        .iter()
        .enumerate()
        .map(|(i, r)| row_mime(i, r, user))
        .collect();
    let items: Vec<Value> = ROWS
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut extra = json!({
                "isRead": r.read,
                "flagStatus": if r.flagged { "flagged" } else { "notFlagged" },
                "categories": r.categories,
            });
            if let Some(v) = r.verb {
                extra["lastVerbExecuted"] = json!(v);
            }
            seed_item(&mimes[i], r.received, extra)
        })
        .collect();
    let seeded = g.seed_with(user, "inbox", Value::Array(items));
    let row_of: BTreeMap<String, usize> = seeded
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i))
        .collect();
    for (i, r) in ROWS.iter().enumerate() {
        assert_eq!(
            r.big,
            mimes[i].len() > 20_000,
            "row {i}: {}",
            mimes[i].len()
        );
    }
    let acc = graph_account(user);

    // (search keys, answered by Graph alone: `total` given)
    let cases: Vec<(Value, bool)> = vec![
        (json!({}), true),
        (json!({"unseen": true}), true),
        (json!({"unseen": false}), true),
        (json!({"flagged": true}), true),
        (json!({"flagged": false}), true),
        (json!({"since": "2026-02-10"}), true),
        (json!({"before": "2026-02-10"}), true),
        (json!({"since": "2026-02-03", "before": "2026-02-12"}), true),
        (json!({"keyword": "CLIENTS"}), true),
        (json!({"larger": 20000}), true),
        (json!({"smaller": 20000, "unseen": true}), true),
        (json!({"answered": true}), false),
        (json!({"answered": false, "flagged": false}), false),
        (json!({"from": "bob@b.test"}), false),
        (json!({"from": "alice"}), false),
        (json!({"to": "dave@d.test"}), false),
        (json!({"subject": "invoice"}), false),
        (json!({"subject": "meeting notes"}), false),
        (json!({"text": "pineapple"}), false),
        (json!({"subject": "invoice", "unseen": true}), false),
        (json!({"subject": "invoice", "since": "2026-02-05"}), false),
        (json!({"from": "bob@b.test", "keyword": "clients"}), false),
        (json!({"subject": "invoice", "larger": 20000}), false),
        (
            json!({"text": "pineapple", "flagged": false, "before": "2026-02-20"}),
            false,
        ),
    ];
    for (search, exact) in &cases {
        let want = expected(search);
        assert!(
            !search.as_object().unwrap().is_empty() || want.len() == ROWS.len(),
            "{search}"
        );
        for limit in [2, 100] {
            let (pages, messages) =
                list_all(&acc, json!({"search": search, "limit": limit})).unwrap();
            let got: Vec<usize> = ids(&messages).iter().map(|id| row_of[id]).collect();
            assert_eq!(got, want, "search {search}, limit {limit}");
            let total = &pages[0]["total"];
            if *exact {
                assert_eq!(*total, json!(want.len()), "search {search}");
            } else {
                assert!(total.is_null(), "search {search}: no exact total ({total})");
            }
        }
    }
    // the flags as the listing shows them
    let all = list(&acc, json!({"limit": 100})).unwrap();
    let flags: BTreeMap<usize, Value> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (row_of[m["id"].as_str().unwrap()], m["flags"].clone()))
        .collect();
    assert_eq!(flags[&0], json!(["\\Flagged"]));
    assert_eq!(flags[&1], json!(["\\Seen", "Clients"]));
    assert_eq!(flags[&2], json!(["\\Answered", "Clients"]));
    assert_eq!(flags[&5], json!(["\\Answered"]));
    assert_eq!(
        flags[&6],
        json!(["\\Seen", "clients"]),
        "a forward is not an answer"
    );
    assert_eq!(flags[&7], json!(["\\Flagged"]));

    // text keys went to $search, the others to $filter with receivedDateTime first
    g.reset();
    list(
        &acc,
        json!({"search": {"unseen": true, "keyword": "clients"}}),
    )
    .unwrap();
    list(
        &acc,
        json!({"search": {"subject": "invoice", "unseen": true}}),
    )
    .unwrap();
    let reqs = g.requests();
    let paths: Vec<&str> = reqs
        .iter()
        .filter(|r| r["route"] == json!("GET /mailFolders/{id}/messages"))
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[0].contains("$filter=receivedDateTime"), "{paths:?}");
    assert!(
        paths[0].contains("$orderby=") && paths[0].contains("$count=true"),
        "{paths:?}"
    );
    assert!(paths[1].contains("$search="), "{paths:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("$search=") && (p.contains("$filter=") || p.contains("$orderby="))),
        "{paths:?}"
    );
    assert!(
        reqs.iter().all(|r| r["status"].as_u64().unwrap() < 400),
        "every request accepted: {reqs:?}"
    );

    // a checked key on search results: pages may come short, none is lost
    let (pages, messages) = list_all(
        &acc,
        json!({"search": {"from": "bob@b.test", "unseen": true}, "limit": 1}),
    )
    .unwrap();
    assert_eq!(
        ids(&messages)
            .iter()
            .map(|id| row_of[id])
            .collect::<Vec<_>>(),
        [5]
    );
    assert!(pages.len() <= 3, "{pages:?}");

    // what Graph cannot do, and cursors that do not fit
    let e = list(
        &acc,
        json!({"search": {"subject": "invoice"}, "order": "oldest_first"}),
    )
    .unwrap_err();
    assert_eq!(e.0, OM_STATUS_UNSUPPORTED, "{e:?}");
    assert!(e.1.contains("oldest_first"), "{e:?}");
    let first = list(&acc, json!({"search": {"unseen": true}, "limit": 1})).unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let e = list(&acc, json!({"search": {"unseen": false}, "cursor": cursor})).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "other keys: {e:?}");
    let e = list(
        &acc,
        json!({"folder": "Archive", "search": {"unseen": true}, "cursor": cursor}),
    )
    .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "another folder: {e:?}");
    let e = list(&acc, json!({"cursor": "not a cursor"})).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{e:?}");
    let next = list(
        &acc,
        json!({"folder": "inbox", "search": {"unseen": true}, "limit": 1, "cursor": cursor}),
    )
    .unwrap();
    assert_eq!(
        next["messages"].as_array().unwrap().len(),
        1,
        "INBOX = inbox"
    );
    let e = list(&acc, json!({"folder": "No Such Folder"})).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{e:?}");
    assert!(e.1.contains("No Such Folder"), "{e:?}");
    let e = list(&acc, json!({"uids": "1:5"})).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{e:?}");
}

// ------------------------------------------------------------------ fetch

fn plain(tag: &str, i: usize, user: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.test>\r\nTo: {user}\r\nSubject: {tag} {i}\r\nMessage-ID: <{tag}-{i}@example.test>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMessage {i} of {tag}: caf\u{e9}.\r\n.\r\n..leading dots\r\n"
    )
    .into_bytes()
}

#[test]
fn chosen_messages_are_fetched_byte_exact_unknown_ones_skipped_and_marked_read_when_asked() {
    let _s = serial();
    init();
    let g = graph_emulator();
    let user = "graph-browse-fetch@example.test";
    let mimes: Vec<Vec<u8>> = (0..5).map(|i| plain("fe", i, user)).collect();
    let items: Vec<Value> = mimes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            seed_item(
                m,
                &format!("2026-12-0{}T10:00:00Z", i + 1),
                json!({"flagStatus": if i == 3 { "flagged" } else { "notFlagged" }, "categories": if i == 3 { json!(["Clients"]) } else { json!([]) }}),
            )
        })
        .collect();
    let ids = g.seed_with(user, "inbox", Value::Array(items));
    let acc = graph_account(user);
    let unknown = "AAMkADunknownunknownunknownunknownunknownAAA=";

    let (r, got) = fetch(&acc, json!({"ids": [ids[3], unknown, ids[1], ids[3]]}));
    assert_eq!(r, Ok(2), "the unknown id skipped, the repeated one once");
    assert_eq!(got.len(), 2);
    for (f, i) in got.iter().zip([3, 1]) {
        assert_eq!(f.id, ids[i]);
        assert_eq!(f.body, mimes[i], "byte-exact");
        assert_eq!(f.body, g.mime(user, &ids[i]));
        assert_eq!(f.size, mimes[i].len() as u64);
        assert_eq!(f.folder, "INBOX");
        assert_eq!(
            f.internal_date,
            unix(&format!("2026-12-0{}T10:00:00Z", i + 1))
        );
    }
    assert_eq!(got[0].flags, "\\Flagged Clients");
    assert_eq!(got[1].flags, "");
    assert!(
        g.list(user, "inbox")
            .iter()
            .all(|m| m["isRead"] == json!(false)),
        "read without marking"
    );

    // mark_seen: what the callback accepted is marked read, not what it stopped at
    let (r, got) = fetch_with(
        &acc,
        json!({"folder": "Inbox", "ids": [ids[0], ids[2], ids[4]], "mark_seen": true}),
        &mut |f: &Fetched| {
            if f.body.windows(4).any(|w| w == b"fe 2") {
                OM_FETCH_STOP
            } else {
                OM_FETCH_CONTINUE
            }
        },
    );
    assert_eq!(r, Ok(1));
    assert_eq!(got.len(), 2, "the stopped one was handed over too");
    assert_eq!(got[0].folder, "Inbox");
    let state = state_by_message_id(user, "inbox");
    let read: BTreeSet<&str> = state
        .iter()
        .filter(|(_, m)| m["isRead"] == json!(true))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(read, BTreeSet::from(["<fe-0@example.test>"]));
    let (_, got) = fetch(&acc, json!({"ids": [ids[0]]}));
    assert_eq!(got[0].flags, "\\Seen");

    // a fetch touches no fetch state: om_fetch still delivers all five as new
    let (s, got) = acc.fetch("{}");
    assert_eq!(got.len(), 5, "{s}");

    // errors: an unknown folder; IMAP UIDs; nothing chosen
    let (r, got) = fetch(&acc, json!({"folder": "No Such Folder", "ids": [ids[0]]}));
    assert_eq!(r.unwrap_err().0, OM_STATUS_INVALID_ARGUMENT);
    assert!(got.is_empty());
    let (r, _) = fetch(&acc, json!({"uids": [1, 2]}));
    assert_eq!(r.unwrap_err().0, OM_STATUS_INVALID_ARGUMENT);
    let (r, _) = fetch(&acc, json!({"ids": []}));
    assert_eq!(r.unwrap_err().0, OM_STATUS_INVALID_ARGUMENT);
    let (r, got) = fetch(&acc, json!({"ids": [unknown]}));
    assert_eq!(r, Ok(0));
    assert!(got.is_empty());
}

// ------------------------------------------------------------------ flags

#[test]
fn flags_and_categories_are_set_and_cleared_on_the_server() {
    let _s = serial();
    init();
    let g = graph_emulator();
    let user = "graph-browse-flags@example.test";
    let mimes: Vec<Vec<u8>> = (0..3).map(|i| plain("fl", i, user)).collect();
    let ids = g.seed(user, "inbox", &mimes);
    let acc = graph_account(user);
    let state =
        |i: usize| state_by_message_id(user, "inbox")[&format!("<fl-{i}@example.test>")].clone();

    set_flags(
        &acc,
        json!({"ids": [ids[0], ids[1]], "add": ["\\Seen", "flagged", "Clients", "VIP"]}),
    )
    .unwrap();
    for i in [0, 1] {
        let s = state(i);
        assert_eq!(s["isRead"], json!(true), "{s}");
        assert_eq!(s["flagStatus"], json!("flagged"), "{s}");
        assert_eq!(s["categories"], json!(["Clients", "VIP"]), "{s}");
    }
    assert_eq!(state(2)["isRead"], json!(false));
    assert_eq!(state(2)["flagStatus"], json!("notFlagged"));

    // removing: flag and one category; a keyword already there (other case) is not doubled
    set_flags(
        &acc,
        json!({"ids": [ids[0]], "add": ["clients"], "remove": ["\\Flagged", "vip"]}),
    )
    .unwrap();
    let s = state(0);
    assert_eq!(s["flagStatus"], json!("notFlagged"), "{s}");
    assert_eq!(s["categories"], json!(["Clients"]), "{s}");
    assert_eq!(s["isRead"], json!(true));
    assert_eq!(
        state(1)["categories"],
        json!(["Clients", "VIP"]),
        "untouched"
    );
    set_flags(&acc, json!({"ids": [ids[1]], "remove": ["seen"]})).unwrap();
    assert_eq!(state(1)["isRead"], json!(false));
    assert_eq!(state(1)["flagStatus"], json!("flagged"));

    // the listing shows it
    let page = list(&acc, json!({})).unwrap();
    let by_id: BTreeMap<&str, &Value> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), &m["flags"]))
        .collect();
    assert_eq!(*by_id[ids[0].as_str()], json!(["\\Seen", "Clients"]));
    assert_eq!(
        *by_id[ids[1].as_str()],
        json!(["\\Flagged", "Clients", "VIP"])
    );
    assert_eq!(*by_id[ids[2].as_str()], json!([]));

    // what Graph cannot set is refused before anything changes
    for f in ["\\Answered", "draft"] {
        let e = set_flags(&acc, json!({"ids": [ids[2]], "add": ["seen", f]})).unwrap_err();
        assert_eq!(e.0, OM_STATUS_UNSUPPORTED, "{f}: {e:?}");
        assert!(
            e.1.to_lowercase()
                .contains(&f.trim_start_matches('\\').to_lowercase()),
            "{e:?}"
        );
    }
    assert_eq!(state(2)["isRead"], json!(false));
    // a message gone is skipped; a keyword IMAP could not hold is refused
    set_flags(
        &acc,
        json!({"ids": ["AAMkADunknownunknownunknownunknownunknownAAA=", ids[2]], "add": ["seen"]}),
    )
    .unwrap();
    assert_eq!(state(2)["isRead"], json!(true));
    let e = set_flags(&acc, json!({"ids": [ids[2]], "add": ["two words"]})).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{e:?}");
    let e = set_flags(
        &acc,
        json!({"ids": [ids[2]], "add": ["seen"], "folder": "Nope"}),
    )
    .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{e:?}");
}

// ------------------------------------------------------------------ move, copy, delete, folders

#[test]
fn move_copy_delete_and_create_folder_change_the_mailbox_as_asked() {
    let _s = serial();
    init();
    let g = graph_emulator();
    let user = "graph-browse-move@example.test";
    let mimes: Vec<Vec<u8>> = (0..5).map(|i| plain("mv", i, user)).collect();
    let ids = g.seed(user, "inbox", &mimes);
    let acc = graph_account(user);
    g.reset(); // the counters
    let in_folder = |folder: &str| -> BTreeSet<String> {
        state_by_message_id(user, folder).into_keys().collect()
    };
    let mid = |i: usize| format!("<mv-{i}@example.test>");
    let unknown = "AAMkADunknownunknownunknownunknownunknownAAA=";

    // move into a folder that does not exist yet (created, parents included)
    move_to(
        &acc,
        json!({"folder": "INBOX", "ids": [ids[0], unknown, ids[1]], "to": "Projects/2026"}),
    )
    .unwrap();
    assert_eq!(in_folder("Projects/2026"), BTreeSet::from([mid(0), mid(1)]));
    assert_eq!(in_folder("inbox"), BTreeSet::from([mid(2), mid(3), mid(4)]));
    // listed and fetched there under their new ids, unchanged
    let moved = list(&acc, json!({"folder": "Projects/2026"})).unwrap();
    let moved_ids = ids_of_page(&moved);
    assert_eq!(moved_ids.len(), 2);
    assert!(
        moved_ids.iter().all(|id| !ids.contains(id)),
        "Exchange gives new ids"
    );
    let (r, got) = fetch(&acc, json!({"folder": "Projects/2026", "ids": moved_ids}));
    assert_eq!(r, Ok(2));
    let bodies: BTreeSet<Vec<u8>> = got.into_iter().map(|f| f.body).collect();
    assert_eq!(bodies, BTreeSet::from([mimes[0].clone(), mimes[1].clone()]));
    // the old ids are gone: skipped
    let (r, _) = fetch(&acc, json!({"ids": [ids[0]]}));
    assert_eq!(r, Ok(0));

    // copy: the original stays; a well-known folder by its name
    copy_to(&acc, json!({"ids": [ids[2]], "to": "Archive"})).unwrap();
    assert_eq!(in_folder("archive"), BTreeSet::from([mid(2)]));
    assert!(in_folder("inbox").contains(&mid(2)));
    assert_eq!(g.stats()["copies"], json!(1));

    // delete: to Deleted Items
    delete(&acc, json!({"ids": [ids[3], unknown]})).unwrap();
    assert_eq!(in_folder("inbox"), BTreeSet::from([mid(2), mid(4)]));
    assert!(in_folder("deleteditems").contains(&mid(3)));

    // folders: created with their parents, twice is fine, listed by display path
    create_folder(&acc, "Clients/Soci\u{e9}t\u{e9}/Zo\u{e9}").unwrap();
    create_folder(&acc, "clients/SOCI\u{c9}T\u{c9}/zo\u{e9}").unwrap();
    create_folder(&acc, "Inbox/Sub").unwrap();
    let paths: Vec<String> = g
        .folders(user)
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    for p in [
        "Clients",
        "Clients/Soci\u{e9}t\u{e9}",
        "Clients/Soci\u{e9}t\u{e9}/Zo\u{e9}",
        "Inbox/Sub",
        "Projects/2026",
    ] {
        assert_eq!(
            paths.iter().filter(|x| *x == p).count(),
            1,
            "{p} in {paths:?}"
        );
    }
    move_to(
        &acc,
        json!({"ids": [ids[4]], "to": "Clients/Soci\u{e9}t\u{e9}/Zo\u{e9}"}),
    )
    .unwrap();
    assert_eq!(
        in_folder("Clients/Soci\u{e9}t\u{e9}/Zo\u{e9}"),
        BTreeSet::from([mid(4)])
    );
    let e = create_folder(&acc, "/").unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{e:?}");

    // refusals: an unknown source folder, UIDs, no destination
    let e = move_to(
        &acc,
        json!({"folder": "Nope", "ids": [ids[2]], "to": "Archive"}),
    )
    .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{e:?}");
    let e = copy_to(&acc, json!({"uids": [3], "to": "Archive"})).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{e:?}");
    let e = delete(&acc, json!({"folder": "Nope", "ids": [ids[2]]})).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT, "{e:?}");
    assert!(in_folder("inbox").contains(&mid(2)), "nothing done");
}

fn ids_of_page(page: &Value) -> Vec<String> {
    ids(page["messages"].as_array().unwrap())
}

// ------------------------------------------------------------------ the emulator's Graph rules

/// What the listing avoids, the emulator refuses as Graph does (so the tests above would see a
/// client that sent it).
#[test]
fn the_emulator_refuses_search_with_filter_or_orderby_and_an_inefficient_filter() {
    let _s = serial();
    init();
    let g = graph_emulator();
    let user = "graph-browse-rules@example.test";
    let ids = g.seed(user, "inbox", &[plain("ru", 0, user), plain("ru", 1, user)]);
    let acc = graph_account(user);
    let (token, _) = acc.token(60_000).unwrap();
    let get = |query: &str| -> (u16, Value) {
        let r = g
            .request(
                reqwest::Method::GET,
                &format!("/me/mailFolders/inbox/messages?{query}"),
                Some(&token),
            )
            .send()
            .unwrap();
        let st = r.status().as_u16();
        (st, serde_json::from_str(&r.text().unwrap()).unwrap())
    };
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_string();
    let (st, v) = get("$search=\"ru\"&$filter=isRead eq false");
    assert_eq!((st, code(&v).as_str()), (400, "SearchWithFilter"), "{v}");
    let (st, v) = get("$search=\"ru\"&$orderby=receivedDateTime desc");
    assert_eq!((st, code(&v).as_str()), (400, "SearchWithOrderBy"), "{v}");
    let (st, v) = get("$filter=isRead eq false&$orderby=receivedDateTime desc");
    assert_eq!((st, code(&v).as_str()), (400, "InefficientFilter"), "{v}");
    let (st, v) = get(
        "$filter=receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false&$orderby=receivedDateTime desc&$count=true",
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["@odata.count"], json!(2));
    let (st, v) = get("$search=\"ru\"&$count=true&$top=1");
    assert_eq!(st, 200, "{v}");
    assert!(v.get("@odata.count").is_none(), "{v}");
    assert!(
        v["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken="),
        "{v}"
    );
    let (st, v) = get("$filter=contains(subject,'ru')");
    assert_eq!(
        (st, code(&v).as_str()),
        (400, "ErrorInvalidUrlQueryFilter"),
        "{v}"
    );
    // copy: a new message, the original stays
    let r = g
        .request(
            reqwest::Method::POST,
            &format!("/me/messages/{}/copy", ids[0]),
            Some(&token),
        )
        .json(&json!({"destinationId": "archive"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let copy: Value = r.json().unwrap();
    assert_ne!(copy["id"], json!(ids[0]));
    assert_eq!(g.list(user, "inbox").len(), 2);
    assert_eq!(g.list(user, "archive").len(), 1);
}

#[test]
fn waiting_for_mail_polls_the_newest_message() {
    let _s = serial();
    init();
    let g = graph_emulator();
    let user = "graph-wait@example.test";
    let mail = |n: u32| {
        format!("Message-ID: <wait-{n}@example.test>\r\nFrom: a@example.test\r\nTo: {user}\r\nSubject: wait {n}\r\n\r\nbody\r\n")
            .into_bytes()
    };
    g.seed(user, "inbox", &[mail(1)]);
    let acc = std::sync::Arc::new(graph_account(user));
    let a2 = acc.clone();
    let h = std::thread::spawn(move || a2.wait_for_mail(r#"{"poll_interval_secs": 1}"#, 120_000));
    std::thread::sleep(std::time::Duration::from_secs(3));
    g.seed(user, "inbox", &[mail(2)]);
    let w = h.join().unwrap().unwrap();
    assert_eq!(
        (w["new_mail"].as_bool(), w["method"].as_str()),
        (Some(true), Some("poll")),
        "{w}"
    );
    // nothing new: the time runs out
    let w = acc
        .wait_for_mail(r#"{"poll_interval_secs": 1}"#, 2500)
        .unwrap();
    assert_eq!(w["new_mail"], false, "{w}");
}
