//! Self-test of the Gmail API emulator (tests/sandbox/gmail) and its fixture
//! (tests/common/gmail.rs), against the real sandbox OAuth2 server and the mail sandbox's SMTP
//! sink. It tests the test tools, not the library.

mod common;

use base64::Engine as _;
use common::gmail::{
    gmail_emulator, gmail_tokens, require_scopes, GmailEmulator, GMAIL_READONLY, GMAIL_SEND,
};
use common::graph::token_request;
use common::{serial, sink};
use reqwest::blocking::Response;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex, OnceLock};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// A delegated token with the sandbox's `mail` scope (Google's https://mail.google.com/).
const MAIL_SCOPE: &str = "openid offline_access email mail";

fn message(i: usize, to: &str, tag: &str) -> Vec<u8> {
    format!(
        "From: Sender {i} <sender{i}@example.test>\r\nTo: {to}\r\nSubject: {tag} message {i}\r\n\
         Message-ID: <{tag}-{i}-{}@example.test>\r\nDate: Mon, 1 Jan 2024 10:{:02}:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         Body of {tag} message {i}.\r\n",
        std::process::id(),
        i % 60
    )
    .into_bytes()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

fn answer(r: Response) -> Answer {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text:?}: {e}"))
    };
    Answer {
        status,
        headers,
        json,
    }
}

fn get(g: &GmailEmulator, url: &str, token: &str) -> Answer {
    answer(g.request(Method::GET, url, Some(token)).send().unwrap())
}

fn post(g: &GmailEmulator, url: &str, token: &str, body: Value) -> Answer {
    answer(
        g.request(Method::POST, url, Some(token))
            .json(&body)
            .send()
            .unwrap(),
    )
}

fn reason(a: &Answer) -> &str {
    a.json["error"]["errors"][0]["reason"]
        .as_str()
        .unwrap_or("")
}

fn message_of(a: &Answer) -> &str {
    a.json["error"]["message"].as_str().unwrap_or("")
}

fn ids_of(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn send_json(g: &GmailEmulator, token: &str, mime: &[u8]) -> Answer {
    post(
        g,
        "/users/me/messages/send",
        token,
        json!({ "raw": B64URL.encode(mime) }),
    )
}

/// The access token of a device-flow login of `confidential-app` with `scope`, once per
/// (login, scope) in this test binary.
fn token_for(login: &str, scope: &str) -> String {
    static T: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let key = format!("{login} {scope}");
    let map = T.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(t) = map.lock().unwrap().get(&key) {
        return t.clone();
    }
    let v = gmail_tokens(login, scope);
    let t = v["access_token"].as_str().unwrap().to_string();
    map.lock().unwrap().insert(key, t.clone());
    t
}

fn start(g: &GmailEmulator) {
    g.reset();
}

/// Every history page from `start` (following nextPageToken), with `query` added; the pages.
fn history_pages(g: &GmailEmulator, token: &str, start: &str, query: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..100 {
        let mut url = format!("/users/me/history?startHistoryId={start}{query}");
        if let Some(t) = &page_token {
            url.push_str(&format!("&pageToken={t}"));
        }
        let a = get(g, &url, token);
        assert_eq!(a.status, 200, "{}", a.json);
        page_token = a.json["nextPageToken"].as_str().map(str::to_string);
        pages.push(a.json);
        if page_token.is_none() {
            return pages;
        }
    }
    panic!("more than 100 history pages");
}

fn added_ids(pages: &[Value]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p["history"].as_array().cloned().unwrap_or_default())
        .flat_map(|h| h["messagesAdded"].as_array().cloned().unwrap_or_default())
        .map(|a| a["message"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_pages_raw_formats_history_modify_and_expiry() {
    let _s = serial();
    let g = gmail_emulator();
    start(g);
    let user = "gmail-owner@example.test";
    let tok = token_for(user, MAIL_SCOPE);

    let p0 = get(g, "/users/me/profile", &tok);
    assert_eq!(p0.status, 200, "{}", p0.json);
    assert_eq!(p0.json["emailAddress"], json!(user));
    let h0 = p0.json["historyId"].as_str().unwrap().to_string();

    // 25 messages, one minute apart
    let msgs: Vec<Vec<u8>> = (0..25).map(|i| message(i, user, "list")).collect();
    let base: u64 = 1_700_000_000_000;
    let list: Vec<Value> = msgs
        .iter()
        .enumerate()
        .map(
            |(i, m)| json!({"raw_base64": B64.encode(m), "internalDate": base + i as u64 * 60_000}),
        )
        .collect();
    let seeded = g.seed_with(user, None, Value::Array(list));
    let ids: Vec<String> = seeded["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 25);
    assert!(
        ids.iter()
            .all(|i| i.len() == 16 && i.chars().all(|c| c.is_ascii_hexdigit())),
        "16 hex digits: {ids:?}"
    );

    // messages.list: newest first, pages of 10, 10 and 5
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut url = "/users/me/messages?labelIds=INBOX&maxResults=10".to_string();
    loop {
        let a = get(g, &url, &tok);
        assert_eq!(a.status, 200, "{}", a.json);
        sizes.push(ids_of(&a.json).len());
        seen.extend(ids_of(&a.json));
        assert!(a.json["messages"][0]["threadId"].is_string());
        match a.json["nextPageToken"].as_str() {
            Some(t) => {
                url = format!("/users/me/messages?labelIds=INBOX&maxResults=10&pageToken={t}")
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    // q: is:unread and after: (epoch seconds); messages 10..24
    let after = (base + 10 * 60_000) / 1000;
    let q = get(
        g,
        &format!("/users/me/messages?q=is:unread%20in:inbox%20after:{after}"),
        &tok,
    );
    assert_eq!(ids_of(&q.json), newest_first[..15].to_vec(), "{}", q.json);
    let none = get(g, "/users/me/messages?q=is:starred", &tok);
    assert_eq!(
        none.json,
        json!({"resultSizeEstimate": 0}),
        "no messages field"
    );

    // messages.get: raw is the exact bytes; minimal and metadata
    let raw = get(
        g,
        &format!("/users/me/messages/{}?format=raw", ids[3]),
        &tok,
    );
    assert_eq!(raw.status, 200, "{}", raw.json);
    let bytes = B64URL
        .decode(raw.json["raw"].as_str().unwrap().trim_end_matches('='))
        .unwrap();
    assert_eq!(bytes, msgs[3]);
    assert_eq!(raw.json["labelIds"], json!(["INBOX", "UNREAD"]));
    assert_eq!(
        raw.json["internalDate"],
        json!((base + 3 * 60_000).to_string())
    );
    assert_eq!(raw.json["sizeEstimate"], json!(msgs[3].len()));
    assert_eq!(raw.json["snippet"], json!("Body of list message 3."));
    assert!(raw.json["historyId"].is_string());
    let min = get(
        g,
        &format!("/users/me/messages/{}?format=minimal", ids[3]),
        &tok,
    );
    assert!(min.json.get("raw").is_none() && min.json.get("payload").is_none());
    let meta = get(
        g,
        &format!(
            "/users/me/messages/{}?format=metadata&metadataHeaders=Subject",
            ids[3]
        ),
        &tok,
    );
    assert_eq!(
        meta.json["payload"]["headers"],
        json!([{"name": "Subject", "value": "list message 3"}])
    );
    let full = get(g, &format!("/users/me/messages/{}", ids[3]), &tok);
    let data = full.json["payload"]["body"]["data"].as_str().unwrap();
    assert_eq!(
        B64URL.decode(data.trim_end_matches('=')).unwrap(),
        b"Body of list message 3.\r\n"
    );
    let missing = get(g, "/users/me/messages/0000000000000001", &tok);
    assert_eq!(missing.status, 404);
    assert_eq!(reason(&missing), "notFound");
    let bad = get(g, "/users/me/messages/not-an-id", &tok);
    assert_eq!((bad.status, message_of(&bad)), (400, "Invalid id value"));

    // history from the profile's historyId, in pages of 7: every message added, in order
    g.inject("page-size", "n=7");
    let pages = history_pages(g, &tok, &h0, "&historyTypes=messageAdded");
    assert_eq!(pages.len(), 4, "25 records in pages of 7");
    assert_eq!(added_ids(&pages), ids);
    let now = get(g, "/users/me/profile", &tok).json["historyId"].clone();
    assert_eq!(pages.last().unwrap()["historyId"], now);
    let h1 = now.as_str().unwrap().to_string();
    let more = g.seed(
        user,
        &["INBOX", "UNREAD"],
        &[message(25, user, "list"), message(26, user, "list")],
    );
    let pages = history_pages(g, &tok, &h1, "");
    assert_eq!(added_ids(&pages), more);
    let rec = &pages[0]["history"][0];
    assert_eq!(
        rec["messages"],
        json!([{"id": more[0], "threadId": more[0]}])
    );
    assert_eq!(
        rec["messagesAdded"][0]["message"]["labelIds"],
        json!(["INBOX", "UNREAD"])
    );

    // modify: UNREAD removed shows as labelsRemoved (also under labelId=UNREAD, not STARRED)
    let h2 = get(g, "/users/me/profile", &tok).json["historyId"]
        .as_str()
        .unwrap()
        .to_string();
    let m = post(
        g,
        &format!("/users/me/messages/{}/modify", ids[0]),
        &tok,
        json!({"removeLabelIds": ["UNREAD"]}),
    );
    assert_eq!(m.status, 200, "{}", m.json);
    assert_eq!(m.json["labelIds"], json!(["INBOX"]));
    let hist = history_pages(g, &tok, &h2, "&historyTypes=labelRemoved&labelId=UNREAD");
    let rec = &hist[0]["history"][0];
    assert_eq!(rec["labelsRemoved"][0]["labelIds"], json!(["UNREAD"]));
    assert_eq!(rec["labelsRemoved"][0]["message"]["id"], json!(ids[0]));
    assert_eq!(
        rec["labelsRemoved"][0]["message"]["labelIds"],
        json!(["INBOX"])
    );
    assert!(rec.get("messagesAdded").is_none());
    let other = history_pages(g, &tok, &h2, "&labelId=STARRED");
    assert!(other[0].get("history").is_none(), "{}", other[0]);
    // trash: TRASH added, INBOX removed; batchModify
    let t = post(
        g,
        &format!("/users/me/messages/{}/trash", ids[1]),
        &tok,
        json!({}),
    );
    assert_eq!(t.json["labelIds"], json!(["UNREAD", "TRASH"]));
    let b = post(
        g,
        "/users/me/messages/batchModify",
        &tok,
        json!({"ids": [ids[2], ids[3]], "addLabelIds": ["STARRED"]}),
    );
    assert_eq!(b.status, 204);
    let starred = get(
        g,
        "/users/me/messages?labelIds=STARRED&labelIds=INBOX",
        &tok,
    );
    assert_eq!(ids_of(&starred.json), vec![ids[3].clone(), ids[2].clone()]);

    // expired history: 404 with Google's body; the current historyId still works
    g.inject("expire-history", &format!("user={user}"));
    let gone = get(g, &format!("/users/me/history?startHistoryId={h0}"), &tok);
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.json,
        json!({"error": {"code": 404, "message": "Requested entity was not found.",
            "errors": [{"message": "Requested entity was not found.", "domain": "global", "reason": "notFound"}],
            "status": "NOT_FOUND"}})
    );
    let cur = get(g, "/users/me/profile", &tok).json["historyId"].clone();
    let empty = get(
        g,
        &format!("/users/me/history?startHistoryId={}", cur.as_str().unwrap()),
        &tok,
    );
    assert_eq!(empty.json, json!({"historyId": cur}));
    let st = g.stats();
    assert!(st["history_expired"].as_u64().unwrap() >= 1, "{st}");
    assert!(
        st["by_route"]["GET /history"].as_u64().unwrap() >= 8,
        "{st}"
    );
}

#[test]
fn labels_list_create_and_conflicts() {
    let _s = serial();
    let g = gmail_emulator();
    start(g);
    let user = "gmail-owner@example.test";
    let tok = token_for(user, MAIL_SCOPE);
    let l = get(g, "/users/me/labels", &tok);
    assert_eq!(l.status, 200, "{}", l.json);
    let names: Vec<&str> = l.json["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    for want in [
        "INBOX",
        "SENT",
        "DRAFT",
        "TRASH",
        "SPAM",
        "UNREAD",
        "STARRED",
        "IMPORTANT",
        "CATEGORY_PERSONAL",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let name = format!("Projets/Été {}", std::process::id());
    let c = post(g, "/users/me/labels", &tok, json!({"name": name}));
    assert_eq!(c.status, 200, "{}", c.json);
    let id = c.json["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("Label_"), "{id}");
    assert_eq!(c.json["name"], json!(name));
    assert_eq!(c.json["type"], json!("user"));
    for dup in [name.to_lowercase(), "Inbox".to_string()] {
        let d = post(g, "/users/me/labels", &tok, json!({"name": dup}));
        assert_eq!((d.status, reason(&d)), (409, "aborted"), "{}", d.json);
        assert_eq!(message_of(&d), "Label name exists or conflicts");
    }
    let seeded = g.seed(user, &[&name], &[message(0, user, "label")]);
    let inl = get(g, &format!("/users/me/messages?labelIds={id}"), &tok);
    assert_eq!(ids_of(&inl.json), seeded);
    let one = get(g, &format!("/users/me/labels/{id}"), &tok);
    assert_eq!(one.json["messagesTotal"], json!(1));
    assert_eq!(g.list(user, &name).len(), 1);
}

#[test]
fn send_json_is_relayed_without_bcc_and_kept_in_sent() {
    let _s = serial();
    let g = gmail_emulator();
    start(g);
    let user = "gmail-sender@example.test";
    let tok = token_for(user, MAIL_SCOPE);
    let msgid = format!("<gmail-send-{}@example.test>", std::process::id());
    let head = "From: Gmail Sender <gmail-sender@example.test>\r\nTo: Bob <bob@example.test>, \"X, Y\" <xy@example.test>\r\nCc: carol@example.test\r\n";
    let bcc = "Bcc: dave@example.test,\r\n eve@example.test\r\n";
    let tail = format!(
        "Subject: gmail send\r\nMessage-ID: {msgid}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n.a line starting with a dot\r\n"
    );
    let original = format!("{head}{bcc}{tail}");
    let a = send_json(g, &tok, original.as_bytes());
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["labelIds"], json!(["SENT"]));
    let id = a.json["id"].as_str().unwrap().to_string();
    assert!(a.json["threadId"].is_string());
    // relayed before the answer: the sink has it now
    let sunk = sink::sunk_with_id(&msgid, 1);
    assert_eq!(sunk.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&sunk[0].eml),
        format!("{head}{tail}"),
        "byte-exact, Bcc removed"
    );
    assert_eq!(
        sink::rcpt_to(&sunk[0]),
        vec![
            "bob@example.test",
            "carol@example.test",
            "dave@example.test",
            "eve@example.test",
            "xy@example.test"
        ]
    );
    assert_eq!(sink::mail_from(&sunk[0]), user);
    // the sent copy, Bcc kept, labelled SENT only
    let sent = g.list(user, "SENT");
    let copy = sent
        .iter()
        .find(|m| m["id"] == json!(id))
        .expect("SENT copy");
    assert_eq!(copy["labelIds"], json!(["SENT"]));
    assert_eq!(g.raw(user, &id), original.as_bytes());
    // a reply in the same thread
    let reply = format!(
        "From: {user}\r\nTo: bob@example.test\r\nSubject: Re: gmail send\r\nIn-Reply-To: {msgid}\r\n\
         Message-ID: <gmail-send-reply-{}@example.test>\r\n\r\nSee above.\r\n",
        std::process::id()
    );
    let r = post(
        g,
        "/users/me/messages/send",
        &tok,
        json!({"raw": B64URL.encode(reply.as_bytes()), "threadId": a.json["threadId"]}),
    );
    assert_eq!(r.json["threadId"], a.json["threadId"]);

    let noraw = post(g, "/users/me/messages/send", &tok, json!({}));
    assert_eq!((noraw.status, reason(&noraw)), (400, "badRequest"));
    let norcpt = send_json(
        g,
        &tok,
        b"From: x@example.test\r\nSubject: none\r\n\r\nx\r\n",
    );
    assert_eq!(
        (norcpt.status, message_of(&norcpt)),
        (400, "Recipient address required")
    );
    let big = vec![b'a'; 4 * 1024 * 1024]; // base64url: > 5 MB of JSON
    let too_big = send_json(g, &tok, &big);
    assert_eq!(too_big.status, 413, "{}", too_big.json);
    assert_eq!(g.stats()["sent"], json!(2));
}

/// A CRLF message of about `size` bytes with a base64 attachment (lines of 76).
fn big_message(user: &str, msgid: &str, size: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..size * 3 / 4)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect();
    let b64 = B64.encode(&data);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: {user}\r\nTo: bob@example.test\r\nSubject: big\r\nMessage-ID: {msgid}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n\
         See the attachment.\r\n--b1\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[test]
fn media_multipart_and_resumable_uploads_are_relayed_intact() {
    let _s = serial();
    let g = gmail_emulator();
    start(g);
    let user = "gmail-sender@example.test";
    let tok = token_for(user, MAIL_SCOPE);
    let send_url = format!("{}/users/me/messages/send", g.upload_url());

    // uploadType=media, 6 MB
    let msgid = format!("<gmail-media-{}@example.test>", std::process::id());
    let mime = big_message(user, &msgid, 6 * 1024 * 1024);
    assert!(mime.len() > 6_000_000);
    let a = answer(
        g.request(
            Method::POST,
            &format!("{send_url}?uploadType=media"),
            Some(&tok),
        )
        .header("content-type", "message/rfc822")
        .body(mime.clone())
        .send()
        .unwrap(),
    );
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["labelIds"], json!(["SENT"]));
    let sunk = sink::sunk_with_id(&msgid, 1);
    assert_eq!(sunk.len(), 1);
    assert!(sunk[0].eml == mime, "the 6 MB message arrived intact");
    assert_eq!(g.raw(user, a.json["id"].as_str().unwrap()), mime);
    let wrong = answer(
        g.request(
            Method::POST,
            &format!("{send_url}?uploadType=media"),
            Some(&tok),
        )
        .header("content-type", "application/octet-stream")
        .body(mime.clone())
        .send()
        .unwrap(),
    );
    assert_eq!((wrong.status, reason(&wrong)), (400, "badContent"));

    // uploadType=multipart: JSON metadata + message/rfc822
    let msgid2 = format!("<gmail-multipart-{}@example.test>", std::process::id());
    let small = format!(
        "From: {user}\r\nTo: bob@example.test\r\nSubject: multipart\r\nMessage-ID: {msgid2}\r\n\r\nsmall\r\n"
    );
    let body = format!(
        "--xyz\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{{}}\r\n--xyz\r\n\
         Content-Type: message/rfc822\r\n\r\n{small}\r\n--xyz--\r\n"
    );
    let m = answer(
        g.request(
            Method::POST,
            &format!("{send_url}?uploadType=multipart"),
            Some(&tok),
        )
        .header("content-type", "multipart/related; boundary=xyz")
        .body(body)
        .send()
        .unwrap(),
    );
    assert_eq!(m.status, 200, "{}", m.json);
    assert_eq!(sink::sunk_with_id(&msgid2, 1)[0].eml, small.as_bytes());

    // uploadType=resumable: start, three chunks (308 + Range), then the message
    let msgid3 = format!("<gmail-resumable-{}@example.test>", std::process::id());
    let mime3 = big_message(user, &msgid3, 1024 * 1024);
    let s = g
        .request(
            Method::POST,
            &format!("{send_url}?uploadType=resumable"),
            Some(&tok),
        )
        .header("x-upload-content-type", "message/rfc822")
        .header("x-upload-content-length", mime3.len().to_string())
        .header("content-length", "0")
        .send()
        .unwrap();
    assert_eq!(s.status().as_u16(), 200);
    let session = s.headers()["location"].to_str().unwrap().to_string();
    assert!(session.contains("upload_id="), "{session}");
    let chunk = 256 * 1024;
    let total = mime3.len();
    let put = |from: usize, to: usize| {
        g.http()
            .put(&session)
            .header("content-range", format!("bytes {from}-{}/{total}", to - 1))
            .body(mime3[from..to].to_vec())
            .send()
            .unwrap()
    };
    for k in 0..3 {
        let r = put(k * chunk, (k + 1) * chunk);
        assert_eq!(r.status().as_u16(), 308);
        assert_eq!(
            r.headers()["range"].to_str().unwrap(),
            format!("bytes=0-{}", (k + 1) * chunk - 1)
        );
    }
    let last = answer(put(3 * chunk, total));
    assert_eq!(last.status, 200, "{}", last.json);
    assert_eq!(last.json["labelIds"], json!(["SENT"]));
    assert_eq!(sink::sunk_with_id(&msgid3, 1)[0].eml, mime3);
    // a status query after the end: the same answer again
    let again = answer(
        g.http()
            .put(&session)
            .header("content-range", format!("bytes */{total}"))
            .header("content-length", "0")
            .send()
            .unwrap(),
    );
    assert_eq!((again.status, &again.json), (200, &last.json));

    // over 35 MB: 413
    let huge = vec![b'x'; 36_700_161];
    let over = answer(
        g.request(
            Method::POST,
            &format!("{send_url}?uploadType=media"),
            Some(&tok),
        )
        .header("content-type", "message/rfc822")
        .body(huge)
        .send()
        .unwrap(),
    );
    assert_eq!(over.status, 413, "{}", over.json);
    let st = g.stats();
    assert_eq!(st["sent"], json!(3), "{st}");
    assert_eq!(
        st["uploads"],
        json!({"media": 3, "multipart": 1, "resumable": 1})
    );
}

#[test]
fn throttling_bodies_and_per_user_concurrency() {
    let _s = serial();
    let g = gmail_emulator();
    start(g);
    let user = "gmail-owner@example.test";
    let tok = token_for(user, MAIL_SCOPE);
    let url = "/users/me/labels";
    let cases = [
        (
            "status=429&reason=rateLimitExceeded",
            429,
            "rateLimitExceeded",
            "usageLimits",
            "Rate Limit Exceeded",
            "RESOURCE_EXHAUSTED",
        ),
        (
            "status=403&reason=userRateLimitExceeded",
            403,
            "userRateLimitExceeded",
            "usageLimits",
            "User Rate Limit Exceeded",
            "PERMISSION_DENIED",
        ),
        (
            "status=403&reason=rateLimitExceeded",
            403,
            "rateLimitExceeded",
            "usageLimits",
            "Rate Limit Exceeded",
            "PERMISSION_DENIED",
        ),
        (
            "status=500",
            500,
            "backendError",
            "global",
            "Backend Error",
            "INTERNAL",
        ),
        (
            "status=503",
            503,
            "backendError",
            "global",
            "The service is currently unavailable.",
            "UNAVAILABLE",
        ),
    ];
    for (q, status, why, domain, msg, name) in cases {
        g.inject("throttle", &format!("count=1&{q}"));
        let a = get(g, url, &tok);
        assert_eq!(
            a.json,
            json!({"error": {"code": status, "message": msg,
                "errors": [{"message": msg, "domain": domain, "reason": why}], "status": name}}),
            "{q}"
        );
        assert!(
            !a.headers.contains_key("retry-after"),
            "no Retry-After unless asked"
        );
        assert_eq!(get(g, url, &tok).status, 200);
    }
    g.inject(
        "throttle",
        "count=1&status=429&reason=userRateLimitExceeded&retry_after=7",
    );
    let a = get(g, url, &tok);
    assert_eq!((a.status, reason(&a)), (429, "userRateLimitExceeded"));
    assert_eq!(a.headers["retry-after"].to_str().unwrap(), "7");
    assert!(
        message_of(&a).starts_with("User-rate limit exceeded.  Retry after "),
        "{}",
        a.json
    );

    // 12 requests at once for one user: at most 10 are served, the others get 429
    g.inject("delay", "count=12&ms=3000");
    let barrier = Arc::new(Barrier::new(12));
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let (b, tok) = (barrier.clone(), tok.clone());
            std::thread::spawn(move || {
                let g = gmail_emulator();
                b.wait();
                get(g, "/users/me/labels", &tok)
            })
        })
        .collect();
    let answers: Vec<Answer> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let throttled: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(
        throttled.len() >= 2,
        "statuses: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for a in &throttled {
        assert_eq!(reason(a), "rateLimitExceeded");
        assert_eq!(message_of(a), "Too many concurrent requests for user.");
        assert!(!a.headers.contains_key("retry-after"));
    }
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 429));
    let st = g.stats();
    assert_eq!(st["max_concurrency"][user], json!(10), "{st}");
    assert!(st["throttled_concurrency"].as_u64().unwrap() >= 2, "{st}");
    g.reset();
}

#[test]
fn authentication_delegation_and_scope_errors() {
    let _s = serial();
    let g = gmail_emulator();
    start(g);
    let user = "gmail-owner@example.test";
    let tok = token_for(user, MAIL_SCOPE);
    let none = answer(
        g.request(Method::GET, "/users/me/profile", None)
            .send()
            .unwrap(),
    );
    assert_eq!(none.status, 401);
    assert_eq!(none.json["error"]["status"], json!("UNAUTHENTICATED"));
    assert!(none.headers.contains_key("www-authenticate"));
    let garbage = get(g, "/users/me/profile", "no-such-token");
    assert_eq!(
        garbage.json,
        json!({"error": {"code": 401,
            "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError",
                "location": "Authorization", "locationType": "header"}],
            "status": "UNAUTHENTICATED"}})
    );
    // userId: me, or the token's own address (any case); another user is refused
    let own = get(g, "/users/GMAIL-Owner@example.test/profile", &tok);
    assert_eq!(own.status, 200, "{}", own.json);
    let other = get(g, "/users/someone-else@example.test/profile", &tok);
    assert_eq!((other.status, reason(&other)), (403, "forbidden"));
    assert_eq!(message_of(&other), format!("Delegation denied for {user}"));
    // a token acting for nobody (client credentials)
    let cc = token_request(&[
        ("grant_type", "client_credentials"),
        ("client_id", "cc-app"),
        ("client_secret", "cc-secret"),
        ("scope", "mail"),
    ]);
    let nobody = get(g, "/users/me/profile", cc["access_token"].as_str().unwrap());
    assert_eq!(
        (nobody.status, reason(&nobody), message_of(&nobody)),
        (400, "failedPrecondition", "Precondition check failed.")
    );
    // a token without any Gmail scope
    let plain = token_for("gmail-owner@example.test", "openid email");
    let refused = get(g, "/users/me/labels", &plain);
    assert_eq!(
        (refused.status, reason(&refused)),
        (403, "insufficientPermissions")
    );
    assert_eq!(refused.json["error"]["status"], json!("PERMISSION_DENIED"));
    // unknown routes are 404
    assert_eq!(get(g, "/users/me/nothing", &tok).status, 404);
}

#[test]
fn cut_connections_and_send_exemption() {
    let _s = serial();
    let g = gmail_emulator();
    start(g);
    let user = "gmail-sender@example.test";
    let tok = token_for(user, MAIL_SCOPE);
    let fetch = || {
        g.request(Method::GET, "/users/me/labels", Some(&tok))
            .send()
            .and_then(|r| r.bytes())
    };
    for when in ["before", "after_headers", "mid_body"] {
        g.inject("cut", &format!("count=1&when={when}"));
        assert!(fetch().is_err(), "cut {when}");
        assert!(fetch().is_ok(), "after cut {when}");
    }
    // sends are not cut unless send=1; then the message goes out and only the answer is lost
    g.inject("cut", "count=1&when=before");
    let id1 = format!("<gmail-cut-a-{}@example.test>", std::process::id());
    let m1 = format!(
        "From: {user}\r\nTo: bob@example.test\r\nSubject: cut a\r\nMessage-ID: {id1}\r\n\r\nx\r\n"
    );
    assert_eq!(send_json(g, &tok, m1.as_bytes()).status, 200);
    assert!(fetch().is_err(), "the pending cut hit the next request");
    g.inject("cut", "count=1&when=before&send=1");
    let id2 = format!("<gmail-cut-b-{}@example.test>", std::process::id());
    let m2 = format!(
        "From: {user}\r\nTo: bob@example.test\r\nSubject: cut b\r\nMessage-ID: {id2}\r\n\r\ny\r\n"
    );
    let lost = g
        .request(Method::POST, "/users/me/messages/send", Some(&tok))
        .json(&json!({"raw": B64URL.encode(m2.as_bytes())}))
        .send();
    assert!(lost.is_err(), "the answer to send was cut");
    assert_eq!(
        sink::sunk_with_id(&id2, 1).len(),
        1,
        "but the message went out"
    );
    let q = get(
        g,
        &format!(
            "/users/me/messages?q=rfc822msgid:{}",
            id2.trim_matches(|c| c == '<' || c == '>')
        ),
        &tok,
    );
    assert_eq!(ids_of(&q.json).len(), 1, "and is in SENT: {}", q.json);
    assert_eq!(g.stats()["cut"], json!(5));
}

#[test]
fn readonly_and_send_only_tokens_are_limited() {
    require_scopes(&[GMAIL_READONLY, GMAIL_SEND]);
    let _s = serial();
    let g = gmail_emulator();
    start(g);
    let user = "gmail-limited@example.test";
    let ro = token_for(user, &format!("openid email {GMAIL_READONLY}"));
    assert_eq!(get(g, "/users/me/messages", &ro).status, 200);
    let refused = send_json(
        g,
        &ro,
        format!("From: {user}\r\nTo: bob@example.test\r\nSubject: ro\r\n\r\nx\r\n").as_bytes(),
    );
    assert_eq!(refused.status, 403, "{}", refused.json);
    assert_eq!(reason(&refused), "insufficientPermissions");
    assert_eq!(
        message_of(&refused),
        "Request had insufficient authentication scopes."
    );
    assert_eq!(refused.json["error"]["status"], json!("PERMISSION_DENIED"));
    let so = token_for(user, &format!("openid email {GMAIL_SEND}"));
    let sent = send_json(
        g,
        &so,
        format!("From: {user}\r\nTo: bob@example.test\r\nSubject: so\r\n\r\nx\r\n").as_bytes(),
    );
    assert_eq!(sent.status, 200, "{}", sent.json);
    assert_eq!(get(g, "/users/me/messages", &so).status, 403);
}

/// A service account's access token (JWT-bearer grant at the sandbox), acting for `sub` (domain-
/// wide delegation) or for itself (`None`).
fn service_account_token(sub: Option<&str>, scope: &str) -> Value {
    let sb = common::sandbox();
    let key = sb.info["service_account_key_file"]
        .as_str()
        .unwrap_or_else(|| panic!("the sandbox names no service_account_key_file: {}", sb.info));
    let mut claims = json!({
        "iss": sb.url("service_account_email"),
        "scope": scope,
        "aud": sb.url("token_endpoint"),
        "iat": "now",
        "exp": "now+3600",
    });
    if let Some(s) = sub {
        claims["sub"] = json!(s);
    }
    let out = std::process::Command::new("node")
        .arg(common::repo().join("tests/sandbox/sign-jwt.mjs"))
        .args(["--key", key, "--claims", &claims.to_string()])
        .output()
        .expect("run sign-jwt.mjs");
    assert!(out.status.success(), "sign-jwt.mjs failed");
    let jwt = String::from_utf8(out.stdout).unwrap().trim().to_string();
    token_request(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", &jwt),
    ])
}

#[test]
fn service_account_tokens_act_for_the_impersonated_user() {
    let _s = serial();
    let g = gmail_emulator();
    start(g);
    let user = "gmail-robot-target@example.test";
    let t = service_account_token(Some(user), "mail");
    let tok = t["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("JWT-bearer grant: {t}"));
    let p = get(g, "/users/me/profile", tok);
    assert_eq!(p.status, 200, "{}", p.json);
    assert_eq!(p.json["emailAddress"], json!(user));
    let ids = g.seed(user, &["INBOX"], &[message(0, user, "robot")]);
    let l = get(g, &format!("/users/{user}/messages"), tok);
    assert_eq!(ids_of(&l.json), ids);
    let other = get(g, "/users/someone-else@example.test/messages", tok);
    assert_eq!((other.status, reason(&other)), (403, "forbidden"));
    // the service account's own token (no user): Google's failedPrecondition
    let own = service_account_token(None, "mail");
    let a = get(
        g,
        "/users/me/profile",
        own["access_token"].as_str().unwrap(),
    );
    assert_eq!(
        (a.status, reason(&a)),
        (400, "failedPrecondition"),
        "{}",
        a.json
    );
}
