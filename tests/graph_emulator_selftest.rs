//! Self-test of the Microsoft Graph mail emulator (tests/sandbox/graph) and its fixture
//! (tests/common/graph.rs), against the real sandbox OAuth2 server and the mail sandbox's SMTP
//! sink. It tests the test tools, not the library.

mod common;

use base64::Engine as _;
use common::graph::{
    app_token, device_tokens, graph_emulator, refresh_tokens, token_request, GraphEmulator,
    GRAPH_READ_WRITE, GRAPH_SEND,
};
use common::{serial, sink};
use reqwest::blocking::Response;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Barrier, OnceLock};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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

fn get(g: &GraphEmulator, url: &str, token: &str) -> Answer {
    answer(g.request(Method::GET, url, Some(token)).send().unwrap())
}

fn send_json(g: &GraphEmulator, method: Method, url: &str, token: &str, body: Value) -> Answer {
    answer(
        g.request(method, url, Some(token))
            .json(&body)
            .send()
            .unwrap(),
    )
}

/// sendMail / create message in MIME form: base64 in lines of 76, as Microsoft's example.
fn mime_body(mime: &[u8]) -> String {
    let b = B64.encode(mime);
    b.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn post_mime(g: &GraphEmulator, url: &str, token: &str, mime: &[u8]) -> Answer {
    answer(
        g.request(Method::POST, url, Some(token))
            .header("content-type", "text/plain")
            .body(mime_body(mime))
            .send()
            .unwrap(),
    )
}

fn error_code(a: &Answer) -> &str {
    a.json["error"]["code"].as_str().unwrap_or("")
}

fn ids_of(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// Delegated token for graph-sender@example.test with Mail.ReadWrite and Mail.Send.
fn sender_token() -> &'static str {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| {
        let t = device_tokens(
            "graph-sender@example.test",
            &format!("openid offline_access email {GRAPH_READ_WRITE} {GRAPH_SEND}"),
        );
        t["access_token"].as_str().unwrap().to_string()
    })
}

fn start(g: &GraphEmulator) {
    g.reset();
}

#[test]
fn delta_pages_replay_value_read_move_delete_and_expiry() {
    let _s = serial();
    let g = graph_emulator();
    start(g);
    let mb = "delta-owner@example.test";
    let msgs: Vec<Vec<u8>> = (0..25).map(|i| message(i, mb, "delta")).collect();
    let ids = g.seed(mb, "inbox", &msgs);
    assert_eq!(ids.len(), 25);
    assert!(
        ids.iter().all(|i| i.len() >= 120),
        "long opaque ids: {ids:?}"
    );
    let tok = app_token();

    // first sync: 3 pages of 10, 10 and 5, in arrival order, then a deltaLink
    let first = format!(
        "/users/{mb}/mailFolders/inbox/messages/delta?$select=subject,isRead,internetMessageId"
    );
    let p1 = get(g, &first, &tok);
    assert_eq!(p1.status, 200, "{}", p1.json);
    let next1 = p1.json["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(next1.contains("$skiptoken="), "{next1}");
    assert!(p1.json.get("@odata.deltaLink").is_none());
    let p2 = get(g, &next1, &tok);
    let next2 = p2.json["@odata.nextLink"].as_str().unwrap().to_string();
    let p3 = get(g, &next2, &tok);
    let delta = p3.json["@odata.deltaLink"].as_str().unwrap().to_string();
    assert!(delta.contains("$deltatoken="), "{delta}");
    assert!(p3.json.get("@odata.nextLink").is_none());
    let pages = [&p1, &p2, &p3];
    assert_eq!(
        pages
            .iter()
            .map(|p| p.json["value"].as_array().unwrap().len())
            .collect::<Vec<_>>(),
        vec![10, 10, 5]
    );
    let seen: Vec<String> = pages.iter().flat_map(|p| ids_of(&p.json)).collect();
    assert_eq!(seen, ids);
    let item = &p1.json["value"][0];
    assert_eq!(item["@odata.type"], json!("#microsoft.graph.message"));
    assert_eq!(item["subject"], json!("delta message 0"));
    assert_eq!(item["isRead"], json!(false));
    assert!(item.get("body").is_none(), "$select kept: {item}");
    // a nextLink is replayable
    let again = get(g, &next1, &tok);
    assert_eq!(again.status, 200);
    assert_eq!(again.json, p2.json);

    // Prefer: odata.maxpagesize is honoured and echoed
    let small = answer(
        g.request(Method::GET, &first, Some(&tok))
            .header("Prefer", "odata.maxpagesize=7")
            .send()
            .unwrap(),
    );
    assert_eq!(small.json["value"].as_array().unwrap().len(), 7);
    assert_eq!(
        small.headers["preference-applied"].to_str().unwrap(),
        "odata.maxpagesize=7"
    );

    // $value: the exact MIME bytes
    let v = g
        .request(
            Method::GET,
            &format!("/users/{mb}/messages/{}/$value", ids[3]),
            Some(&tok),
        )
        .send()
        .unwrap();
    assert_eq!(v.status().as_u16(), 200);
    assert_eq!(v.bytes().unwrap().to_vec(), msgs[3]);

    // mark read, move, delete: the next round has exactly these, in change order
    let read = send_json(
        g,
        Method::PATCH,
        &format!("/users/{mb}/messages/{}", ids[0]),
        &tok,
        json!({"isRead": true}),
    );
    assert_eq!((read.status, &read.json["isRead"]), (200, &json!(true)));
    let archive = get(g, &format!("/users/{mb}/mailFolders/archive"), &tok);
    let moved = send_json(
        g,
        Method::POST,
        &format!("/users/{mb}/messages/{}/move", ids[1]),
        &tok,
        json!({"destinationId": "archive"}),
    );
    assert_eq!(moved.status, 201, "{}", moved.json);
    assert_ne!(
        moved.json["id"],
        json!(ids[1]),
        "a moved message gets a new id"
    );
    assert_eq!(moved.json["parentFolderId"], archive.json["id"]);
    let del = g
        .request(
            Method::DELETE,
            &format!("/users/{mb}/messages/{}", ids[2]),
            Some(&tok),
        )
        .send()
        .unwrap();
    assert_eq!(del.status().as_u16(), 204);
    let trash = g.list(mb, "deleteditems");
    assert_eq!(trash.len(), 1);
    assert_eq!(
        trash[0]["internetMessageId"],
        json!(format!("<delta-2-{}@example.test>", std::process::id()))
    );
    let gone = get(g, &format!("/users/{mb}/messages/{}", ids[1]), &tok);
    assert_eq!((gone.status, error_code(&gone)), (404, "ErrorItemNotFound"));

    let round2 = get(g, &delta, &tok);
    assert_eq!(round2.status, 200, "{}", round2.json);
    let vals = round2.json["value"].as_array().unwrap();
    assert_eq!(vals.len(), 3, "{}", round2.json);
    assert_eq!(vals[0]["id"], json!(ids[0]));
    assert_eq!(vals[0]["isRead"], json!(true));
    for (v, id) in vals[1..].iter().zip(&ids[1..3]) {
        assert_eq!(v["id"], json!(id));
        assert_eq!(v["@removed"]["reason"], json!("deleted"));
    }
    let delta2 = round2.json["@odata.deltaLink"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        get(g, &delta2, &tok).json["value"],
        json!([]),
        "nothing new"
    );

    // a tampered token is refused; an expired one answers 410 SyncStateNotFound
    let last = if delta2.ends_with('A') { "B" } else { "A" };
    let tampered = format!("{}{last}", &delta2[..delta2.len() - 1]);
    let t = get(g, &tampered, &tok);
    assert_eq!(t.status, 400, "{}", t.json);
    g.inject("expire-delta", "");
    let expired = get(g, &delta2, &tok);
    assert_eq!(
        (expired.status, error_code(&expired)),
        (410, "SyncStateNotFound")
    );
    assert!(expired.headers.contains_key("request-id"));
    let inner = &expired.json["error"]["innerError"];
    assert!(inner["request-id"].is_string() && inner["date"].is_string());

    let st = g.stats();
    assert!(st["delta_requests"].as_u64().unwrap() >= 9, "{st}");
    assert!(st["value_requests"].as_u64().unwrap() >= 1, "{st}");
}

#[test]
fn send_mail_is_relayed_to_the_sink_without_bcc() {
    let _s = serial();
    let g = graph_emulator();
    start(g);
    let tok = sender_token();
    let msgid = format!("<graph-send-{}@example.test>", std::process::id());
    let head = "From: Graph Sender <graph-sender@example.test>\r\nTo: Bob <bob@example.test>, \"X, Y\" <xy@example.test>\r\nCc: carol@example.test\r\n";
    let bcc = "Bcc: dave@example.test,\r\n eve@example.test\r\n";
    let tail = format!(
        "Subject: graph send\r\nMessage-ID: {msgid}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n.a line starting with a dot\r\n"
    );
    let original = format!("{head}{bcc}{tail}");
    let a = post_mime(g, "/me/sendMail", tok, original.as_bytes());
    assert_eq!(a.status, 202, "{}", a.json);
    assert_eq!(a.json, Value::Null, "202 has an empty body");
    // relayed before the 202: the sink has it now
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
    assert_eq!(sink::mail_from(&sunk[0]), "graph-sender@example.test");
    // a copy in Sent Items, Bcc kept
    let sent = g.list("graph-sender@example.test", "sentitems");
    let copy = sent
        .iter()
        .find(|m| m["internetMessageId"] == json!(msgid))
        .expect("copy in Sent Items");
    assert_eq!(
        g.mime("graph-sender@example.test", copy["id"].as_str().unwrap()),
        original.as_bytes()
    );

    let bad = answer(
        g.request(Method::POST, "/me/sendMail", Some(tok))
            .header("content-type", "text/plain")
            .body("not base64!")
            .send()
            .unwrap(),
    );
    assert_eq!(
        (bad.status, error_code(&bad)),
        (400, "ErrorMimeContentInvalidBase64String")
    );
    let big = vec![b'a'; 3 * 1024 * 1024 + 1024]; // base64: > 4 MB
    let too_big = post_mime(g, "/me/sendMail", tok, &big);
    assert_eq!(too_big.status, 413, "{}", too_big.json);
    assert_eq!(g.stats()["sent"], json!(1));
}

#[test]
fn audience_scopes_and_token_errors() {
    let _s = serial();
    let g = graph_emulator();
    start(g);
    let empty = answer(
        g.request(Method::GET, "/me/mailFolders", None)
            .send()
            .unwrap(),
    );
    assert_eq!(
        (
            empty.status,
            error_code(&empty),
            empty.json["error"]["message"].as_str().unwrap()
        ),
        (401, "InvalidAuthenticationToken", "Access token is empty.")
    );
    assert!(empty.headers.contains_key("www-authenticate"));
    let garbage = get(g, "/me/mailFolders", "no-such-token");
    assert_eq!(
        (garbage.status, error_code(&garbage)),
        (401, "InvalidAuthenticationToken")
    );

    // a token for the other resource ("mail" = Outlook IMAP/POP/SMTP)
    let cc = token_request(&[
        ("grant_type", "client_credentials"),
        ("client_id", "cc-app"),
        ("client_secret", "cc-secret"),
        ("scope", "mail"),
    ]);
    let wrong = get(
        g,
        "/users/x@example.test/mailFolders",
        cc["access_token"].as_str().unwrap(),
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.json["error"]["message"],
        json!("Access token validation failure. Invalid audience.")
    );

    // consent to both resources; the code/device exchange gives a token with both: refused;
    // a refresh narrowed to the Graph scope is accepted, but cannot send
    let both = device_tokens(
        "graph-narrow@example.test",
        &format!("openid offline_access email mail {GRAPH_READ_WRITE}"),
    );
    let r = get(g, "/me/mailFolders", both["access_token"].as_str().unwrap());
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json["error"]["message"],
        json!("Access token validation failure. Invalid audience.")
    );
    let narrow = refresh_tokens(
        both["refresh_token"].as_str().unwrap(),
        Some(GRAPH_READ_WRITE),
    );
    let nt = narrow["access_token"].as_str().unwrap();
    let ok = get(g, "/me/mailFolders", nt);
    assert_eq!(ok.status, 200, "{}", ok.json);
    assert_eq!(ok.json["value"].as_array().unwrap().len(), 7);
    let send = post_mime(
        g,
        "/me/sendMail",
        nt,
        &message(0, "bob@example.test", "nosend"),
    );
    assert_eq!((send.status, error_code(&send)), (403, "ErrorAccessDenied"));
    // delegated: only the user's own mailbox
    let other = get(g, "/users/bob@example.test/mailFolders", nt);
    assert_eq!(
        (other.status, error_code(&other)),
        (403, "ErrorAccessDenied")
    );
    let own = get(g, "/users/graph-narrow@example.test/mailFolders/inbox", nt);
    assert_eq!(own.status, 200, "{}", own.json);
}

#[test]
fn app_only_token_on_users_and_me() {
    let _s = serial();
    let g = graph_emulator();
    start(g);
    let mb = "app-target@example.test";
    g.seed(mb, "inbox", &[message(0, mb, "app")]);
    let tok = app_token();
    let inbox = get(g, &format!("/users/{mb}/mailFolders/inbox"), &tok);
    assert_eq!(inbox.status, 200, "{}", inbox.json);
    assert_eq!(inbox.json["displayName"], json!("Inbox"));
    assert_eq!(inbox.json["totalItemCount"], json!(1));
    assert_eq!(inbox.json["unreadItemCount"], json!(1));
    let upper = get(g, "/users/App-Target@Example.TEST/mailFolders/inbox", &tok);
    assert_eq!(
        upper.json["id"], inbox.json["id"],
        "UPN is case-insensitive"
    );
    let me = get(g, "/me/mailFolders", &tok);
    assert_eq!((me.status, error_code(&me)), (400, "BadRequest"));
    assert_eq!(
        me.json["error"]["message"],
        json!("/me request is only valid with delegated authentication flow.")
    );
    let nobody = get(g, "/users/nobody@example.test/mailFolders", &tok);
    assert_eq!(
        (nobody.status, error_code(&nobody)),
        (404, "ErrorInvalidUser")
    );
    g.inject("unlicensed", "mailbox=unlicensed@example.test");
    let unl = get(g, "/users/unlicensed@example.test/mailFolders", &tok);
    assert_eq!(
        (unl.status, error_code(&unl)),
        (404, "MailboxNotEnabledForRESTAPI")
    );
    g.inject("deny-app-mailbox", &format!("mailbox={mb}"));
    let denied = get(g, &format!("/users/{mb}/mailFolders"), &tok);
    assert_eq!(
        (denied.status, error_code(&denied)),
        (403, "ErrorAccessDenied")
    );
    assert!(denied.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("[RAOP]"));
    g.reset();
    assert_eq!(
        get(g, &format!("/users/{mb}/mailFolders"), &tok).status,
        200
    );
}

#[test]
fn throttling_injected_and_mailbox_concurrency() {
    let _s = serial();
    let g = graph_emulator();
    start(g);
    let mb = "throttle-owner@example.test";
    g.seed(mb, "inbox", &[message(0, mb, "throttle")]);
    let tok = app_token();
    let url = format!("/users/{mb}/mailFolders/inbox");
    for (status, code) in [
        (429, "TooManyRequests"),
        (503, "ServiceUnavailable"),
        (504, "GatewayTimeout"),
    ] {
        g.inject(
            "throttle",
            &format!("count=1&status={status}&retry_after=3"),
        );
        let a = get(g, &url, &tok);
        assert_eq!((a.status, error_code(&a)), (status, code));
        assert_eq!(a.headers["retry-after"].to_str().unwrap(), "3");
        assert_eq!(get(g, &url, &tok).status, 200);
    }

    // 5 requests at once on one mailbox: at most 4 are served, the 5th gets 429
    g.inject("delay", "count=5&ms=5000");
    let barrier = Arc::new(Barrier::new(5));
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let (b, tok, url) = (barrier.clone(), tok.clone(), url.clone());
            std::thread::spawn(move || {
                let g = graph_emulator();
                b.wait();
                get(g, &url, &tok)
            })
        })
        .collect();
    let answers: Vec<Answer> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let throttled: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(
        !throttled.is_empty(),
        "statuses: {:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for a in &throttled {
        assert_eq!(error_code(a), "ApplicationThrottled");
        assert_eq!(
            a.json["error"]["message"],
            json!("Application is over its MailboxConcurrency limit.")
        );
        assert_eq!(a.headers["retry-after"].to_str().unwrap(), "1");
    }
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 429));
    let st = g.stats();
    assert!(st["max_concurrency"][mb].as_u64().unwrap() <= 4, "{st}");
    assert!(st["throttled_concurrency"].as_u64().unwrap() >= 1, "{st}");
    g.reset();
}

#[test]
fn cut_connections_and_send_exemption() {
    let _s = serial();
    let g = graph_emulator();
    start(g);
    let mb = "cut-owner@example.test";
    let msgs = vec![message(0, mb, "cut")];
    let ids = g.seed(mb, "inbox", &msgs);
    let tok = app_token();
    let value_url = format!("/users/{mb}/messages/{}/$value", ids[0]);
    let fetch = || {
        g.request(Method::GET, &value_url, Some(&tok))
            .send()
            .and_then(|r| r.bytes())
    };
    for when in ["before", "after_headers", "mid_body"] {
        g.inject("cut", &format!("count=1&when={when}"));
        assert!(fetch().is_err(), "cut {when}");
        assert_eq!(fetch().unwrap().to_vec(), msgs[0], "after cut {when}");
    }
    assert_eq!(g.stats()["cut"], json!(3));

    // sendMail is not cut unless send=1; then the message is sent and only the answer is lost
    g.inject("cut", "count=1&when=before");
    let id1 = format!("<graph-cut-a-{}@example.test>", std::process::id());
    let m1 = format!(
        "From: {mb}\r\nTo: bob@example.test\r\nSubject: cut a\r\nMessage-ID: {id1}\r\n\r\nx\r\n"
    );
    assert_eq!(
        post_mime(g, &format!("/users/{mb}/sendMail"), &tok, m1.as_bytes()).status,
        202
    );
    assert!(fetch().is_err(), "the pending cut hit the next request");
    g.inject("cut", "count=1&when=before&send=1");
    let id2 = format!("<graph-cut-b-{}@example.test>", std::process::id());
    let m2 = format!(
        "From: {mb}\r\nTo: bob@example.test\r\nSubject: cut b\r\nMessage-ID: {id2}\r\n\r\ny\r\n"
    );
    let lost = g
        .request(Method::POST, &format!("/users/{mb}/sendMail"), Some(&tok))
        .header("content-type", "text/plain")
        .body(mime_body(m2.as_bytes()))
        .send();
    assert!(lost.is_err(), "the answer to sendMail was cut");
    assert_eq!(
        sink::sunk_with_id(&id2, 1).len(),
        1,
        "but the message went out"
    );
    let sent = g.list(mb, "sentitems");
    assert!(sent.iter().any(|m| m["internetMessageId"] == json!(id2)));
    assert_eq!(g.stats()["sent"], json!(2));
}

#[test]
fn folders_list_page_create_and_conflict() {
    let _s = serial();
    let g = graph_emulator();
    start(g);
    let tok = sender_token();
    for name in ["Projects", "Receipts", "Travel", "Zeta"] {
        let a = send_json(
            g,
            Method::POST,
            "/me/mailFolders",
            tok,
            json!({"displayName": name}),
        );
        assert!(a.status == 201 || a.status == 409, "{}", a.json);
    }
    let dup = send_json(
        g,
        Method::POST,
        "/me/mailFolders",
        tok,
        json!({"displayName": "projects"}),
    );
    assert_eq!((dup.status, error_code(&dup)), (409, "ErrorFolderExists"));
    let p1 = get(g, "/me/mailFolders", tok);
    assert_eq!(p1.json["value"].as_array().unwrap().len(), 10);
    let p2 = get(g, p1.json["@odata.nextLink"].as_str().unwrap(), tok);
    let names: Vec<&str> = p1.json["value"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2.json["value"].as_array().unwrap())
        .map(|f| f["displayName"].as_str().unwrap())
        .collect();
    for want in [
        "Inbox",
        "Sent Items",
        "Drafts",
        "Deleted Items",
        "Archive",
        "Junk Email",
        "Outbox",
        "Projects",
        "Zeta",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(p2.json.get("@odata.nextLink").is_none());
    let inbox = get(g, "/me/mailFolders/inbox", tok);
    let child = send_json(
        g,
        Method::POST,
        &format!(
            "/me/mailFolders/{}/childFolders",
            inbox.json["id"].as_str().unwrap()
        ),
        tok,
        json!({"displayName": "Sub"}),
    );
    assert!(child.status == 201 || child.status == 409, "{}", child.json);
    let kids = get(g, "/me/mailFolders/inbox/childFolders", tok);
    let sub = &kids.json["value"][0];
    assert_eq!(sub["displayName"], json!("Sub"));
    assert_eq!(sub["parentFolderId"], inbox.json["id"]);
    assert_eq!(
        get(g, "/me/mailFolders/inbox", tok).json["childFolderCount"],
        json!(1)
    );
    let seeded = g.seed(
        "graph-sender@example.test",
        "Inbox/Sub",
        &[message(1, "x@example.test", "sub")],
    );
    let sub_msgs = get(
        g,
        &format!(
            "/me/mailFolders/{}/messages/delta",
            sub["id"].as_str().unwrap()
        ),
        tok,
    );
    assert_eq!(ids_of(&sub_msgs.json), seeded);
}

#[test]
fn large_message_draft_upload_session_and_send() {
    let _s = serial();
    let g = graph_emulator();
    start(g);
    let mb = "big-sender@example.test";
    g.seed(mb, "inbox", &[]);
    let tok = app_token();
    let msgid = format!("<graph-big-{}@example.test>", std::process::id());
    let mime = format!(
        "From: {mb}\r\nTo: bob@example.test\r\nSubject: big\r\nMessage-ID: {msgid}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n"
    );
    let draft = post_mime(g, &format!("/users/{mb}/messages"), &tok, mime.as_bytes());
    assert_eq!(draft.status, 201, "{}", draft.json);
    assert_eq!(draft.json["isDraft"], json!(true));
    let id = draft.json["id"].as_str().unwrap();
    let data: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let us = send_json(
        g,
        Method::POST,
        &format!("/users/{mb}/messages/{id}/attachments/createUploadSession"),
        &tok,
        json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": data.len(), "contentType": "application/octet-stream"}}),
    );
    assert_eq!(us.status, 201, "{}", us.json);
    assert_eq!(us.json["nextExpectedRanges"], json!(["0-"]));
    let upload = us.json["uploadUrl"].as_str().unwrap();
    let put = |from: usize, to: usize, auth: bool| {
        let mut rb = g
            .http()
            .put(upload)
            .header("content-type", "application/octet-stream")
            .header(
                "content-range",
                format!("bytes {from}-{}/{}", to - 1, data.len()),
            )
            .body(data[from..to].to_vec());
        if auth {
            rb = rb.bearer_auth(&tok);
        }
        rb.send().unwrap()
    };
    assert_eq!(
        put(0, 3_000_000, true).status().as_u16(),
        401,
        "no Authorization on uploadUrl"
    );
    let r1 = answer(put(0, 3_000_000, false));
    assert_eq!(
        (r1.status, &r1.json["nextExpectedRanges"]),
        (200, &json!(["3000000"]))
    );
    let r2 = put(3_000_000, data.len(), false);
    assert_eq!(r2.status().as_u16(), 201);
    assert!(r2.headers().contains_key("location"));
    let sent = answer(
        g.request(
            Method::POST,
            &format!("/users/{mb}/messages/{id}/send"),
            Some(&tok),
        )
        .header("content-length", "0")
        .send()
        .unwrap(),
    );
    assert_eq!(sent.status, 202, "{}", sent.json);
    let sunk = sink::sunk_with_id(&msgid, 1);
    assert_eq!(sunk.len(), 1);
    let eml = String::from_utf8(sunk[0].eml.clone()).unwrap();
    let at = eml.find("filename=\"big.bin\"").expect("attachment part");
    let start_b64 = at + eml[at..].find("\r\n\r\n").unwrap() + 4;
    let end_b64 = start_b64 + eml[start_b64..].find("\r\n--").unwrap();
    let b64: String = eml[start_b64..end_b64].split("\r\n").collect();
    assert_eq!(B64.decode(b64).unwrap(), data);
    assert!(eml.contains("See the attachment."));
    assert!(g.list(mb, "drafts").is_empty());
    assert!(g
        .list(mb, "sentitems")
        .iter()
        .any(|m| m["internetMessageId"] == json!(msgid)));
}
