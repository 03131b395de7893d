//! Browsing a real Dovecot over IMAP (tokens validated at the real OAuth2 server): listing pages
//! without downloading (envelopes, flags, sizes, attachment presence), search criteria, chosen
//! messages fetched, flags set and cleared, moves, copies, deletions and folder creation checked
//! in the server's Maildir, 10,000 messages listed with one UID SEARCH and one UID FETCH per
//! page (counted by a byte-forwarding proxy on Dovecot's plain-text listener, which only
//! forwards and reads the commands).

mod common;

use common::capi::{init, Acc};
use common::mail::mail_sandbox;
use common::traffic::forwarding_proxy;
use common::{authorized_as, sandbox, serial};
use oauthmail::ffi::status::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn account(user: &str) -> Acc {
    let m = mail_sandbox();
    authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "incoming": {"protocol": "imap", "host": "127.0.0.1",
               "port": m.port("imaps_port"), "security": "tls"}}),
    )
}

/// Messages written as files and seeded with seed.py --eml (after `count` generated ones).
fn seed_with(user: &str, count: u32, folder: &str, emls: &[&str], extra: &[&str]) {
    let dir = tempdir();
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    for (i, e) in emls.iter().enumerate() {
        let p = dir.join(format!("{i}.eml"));
        std::fs::write(&p, e.replace('\n', "\r\n")).unwrap();
        args.push("--eml".into());
        args.push(p.to_string_lossy().into_owned());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    mail_sandbox().seed(user, count, folder, &refs);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "om-browse-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const WITH_ATTACHMENT: &str = "Message-ID: <att-1@example.test>
Date: Tue, 01 Dec 2026 09:30:00 +0100
From: =?UTF-8?Q?Soci=C3=A9t=C3=A9_Dupont?= <contact@dupont.example>
To: Jean Martin <jean@example.test>, achats@example.test
Cc: =?ISO-8859-1?Q?Ren=E9e?= <renee@example.test>
Subject: =?UTF-8?B?RGV2aXMgbsKwMzQgLSBTb2Npw6l0w6k=?=
In-Reply-To: <question-7@example.test>
References: <question-1@example.test> <question-7@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"b1\"

--b1
Content-Type: text/plain; charset=utf-8

Voici le devis.
--b1
Content-Type: application/pdf; name=\"devis.pdf\"
Content-Disposition: attachment; filename=\"devis.pdf\"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8PC9S
b290IDEgMCBSPj4KJSVFT0YK
--b1--
";

const INLINE_ONLY: &str = "Message-ID: <inline-1@example.test>
Date: Tue, 01 Dec 2026 10:00:00 +0000
From: newsletter@example.test
To: jean@example.test
Subject: Inline image only
MIME-Version: 1.0
Content-Type: multipart/related; boundary=\"r1\"

--r1
Content-Type: text/html; charset=utf-8

<p>Logo: <img src=\"cid:logo@x\"></p>
--r1
Content-Type: image/png; name=\"logo.png\"
Content-Disposition: inline; filename=\"logo.png\"
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--r1--
";

fn ids(list: &[Value]) -> Vec<u64> {
    list.iter().map(|m| m["uid"].as_u64().unwrap()).collect()
}

#[test]
fn listing_pages_envelopes_and_search() {
    let _s = serial();
    init();
    let user = "browse-list@example.test";
    // 120 generated (2024-01-01, one a minute; From "Sender i%50"; Subject "Quote i+1"), 30
    // of them read, then two real-shaped ones (received now)
    seed_with(user, 90, "INBOX", &[], &["--subject-prefix", "Quote"]);
    seed_with(
        user,
        30,
        "INBOX",
        &[],
        &["--subject-prefix", "Quote", "--seen"],
    );
    seed_with(user, 0, "INBOX", &[WITH_ATTACHMENT, INLINE_ONLY], &[]);
    let acc = account(user);

    // every page, newest first: each message once, UIDs descending
    let (all, pages) = acc.list_all(json!({"limit": 50}));
    assert_eq!((all.len(), pages), (122, 3));
    let uids = ids(&all);
    assert!(uids.windows(2).all(|w| w[0] > w[1]), "{uids:?}");
    let first = acc.list(r#"{"limit": 50}"#).unwrap();
    assert_eq!(first["total"], 122);
    assert!(first["uidvalidity"].as_u64().unwrap() > 0);
    // oldest first: the same messages in the other order
    let (asc, _) = acc.list_all(json!({"limit": 40, "order": "oldest_first"}));
    let mut rev = ids(&asc);
    rev.reverse();
    assert_eq!(rev, uids);

    // envelopes: decoded names and subject, dates, ids, attachment presence, flags, size
    // (Dovecot numbers the files it finds in one scan in its own order: find them by id)
    let by_mid = |mid: &str| -> Value {
        all.iter()
            .find(|m| m["message_id"] == mid)
            .unwrap_or_else(|| panic!("no {mid}"))
            .clone()
    };
    let att = &by_mid("att-1@example.test");
    assert_eq!(att["subject"], "Devis n°34 - Société");
    assert_eq!(att["from"][0]["name"], "Société Dupont");
    assert_eq!(att["from"][0]["address"], "contact@dupont.example");
    assert_eq!(att["to"][1]["address"], "achats@example.test");
    assert_eq!(att["cc"][0]["name"], "Renée");
    assert_eq!(att["date"], "2026-12-01T09:30:00+01:00");
    assert_eq!(att["date_unix"], 1_796_113_800);
    assert_eq!(att["message_id"], "att-1@example.test");
    assert_eq!(att["in_reply_to"], json!(["question-7@example.test"]));
    assert_eq!(
        att["references"],
        json!(["question-1@example.test", "question-7@example.test"])
    );
    assert_eq!(att["has_attachments"], true);
    assert!(att["size"].as_u64().unwrap() > 500);
    assert_eq!(att["id"], att["uid"].to_string());
    let inline = &by_mid("inline-1@example.test");
    assert_eq!(inline["subject"], "Inline image only");
    assert_eq!(
        inline["has_attachments"], false,
        "inline images are not attachments"
    );
    let oldest = asc.iter().find(|m| m["subject"] == "Quote 1").unwrap();
    assert_eq!(oldest["subject"], "Quote 1");
    assert_eq!(oldest["from"][0]["name"], "Sender 0");
    assert_eq!(oldest["date_unix"], 1_704_067_200);
    assert_eq!(oldest["internal_date"], 1_704_067_200);
    assert_eq!(oldest["has_attachments"], false);
    assert_eq!(oldest["flags"], json!([]));
    // listing marks nothing read
    let again = acc
        .list(r#"{"limit": 5, "search": {"unseen": true}}"#)
        .unwrap();
    assert_eq!(again["total"], 92);

    // criteria
    let count = |search: Value| -> u64 {
        let p = acc
            .list(&json!({"search": search, "limit": 1}).to_string())
            .unwrap();
        p["total"].as_u64().unwrap()
    };
    assert_eq!(count(json!({"unseen": false})), 30);
    assert_eq!(count(json!({"from": "sender7@"})), 3); // i = 7, 57, 107
    let with_2 = (1..=120)
        .filter(|i: &u32| i.to_string().starts_with('2'))
        .count() as u64;
    assert_eq!(count(json!({"subject": "Quote 2"})), with_2);
    assert_eq!(count(json!({"subject": "société"})), 1, "non-ASCII search");
    assert_eq!(count(json!({"text": "Voici le devis"})), 1);
    assert_eq!(count(json!({"since": "2025-01-01"})), 2);
    assert_eq!(count(json!({"before": "2025-01-01"})), 120);
    assert_eq!(
        count(json!({"smaller": 800})),
        1,
        "the inline-image one, ~500 bytes"
    );
    assert_eq!(count(json!({"larger": 100_000})), 0);
    assert_eq!(count(json!({"larger": 800, "smaller": 100_000})), 121);
    assert_eq!(count(json!({"to": "achats@"})), 1);
    assert_eq!(
        count(json!({"unseen": true, "from": "sender7@"})),
        2,
        "107 is read"
    );
    let p = acc
        .list(r#"{"uids": "1:10", "order": "oldest_first"}"#)
        .unwrap();
    assert_eq!(
        ids(p["messages"].as_array().unwrap()),
        (1..=10).collect::<Vec<u64>>()
    );
    let none = acc
        .list(r#"{"search": {"subject": "no such subject"}}"#)
        .unwrap();
    assert_eq!(
        (
            none["total"].as_u64(),
            none["messages"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
    assert!(none["next_cursor"].is_null());

    // refusals name the key
    let e = acc.list(r#"{"limit": 0}"#).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_CONFIG);
    assert!(e.1.contains("limit"), "{}", e.1);
    let e = acc
        .list(r#"{"search": {"since": "01/02/2026"}}"#)
        .unwrap_err();
    assert!(e.1.contains("search.since"), "{}", e.1);
    let e = acc.list(r#"{"search": {"colour": "red"}}"#).unwrap_err();
    assert!(e.1.contains("colour"), "{}", e.1);
    let e = acc.list(r#"{"folder": "No such folder"}"#).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT);
    let e = acc.list(r#"{"cursor": "u1.5"}"#).unwrap_err();
    assert_eq!(
        e.0, OM_STATUS_INVALID_ARGUMENT,
        "a cursor of another UIDVALIDITY: {}",
        e.1
    );
}

/// Maildir flag letters of the message whose Message-ID is `mid` (Dovecot writes them on STORE).
fn maildir_flags(user: &str, folder: &str, mid: &str) -> Option<String> {
    let dir = mail_sandbox().maildir(user, folder);
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(dir.join(sub)).ok()?.flatten() {
            let data = std::fs::read(e.path()).unwrap_or_default();
            if String::from_utf8_lossy(&data).contains(&format!("Message-ID: <{mid}>")) {
                let name = e.file_name().to_string_lossy().into_owned();
                return Some(name.split(":2,").nth(1).unwrap_or("").to_string());
            }
        }
    }
    None
}

fn maildir_keywords(user: &str) -> String {
    std::fs::read_to_string(
        mail_sandbox()
            .maildir(user, "INBOX")
            .join("dovecot-keywords"),
    )
    .unwrap_or_default()
}

#[test]
fn chosen_messages_flags_moves_copies_deletes_and_folders() {
    let _s = serial();
    init();
    let user = "browse-act@example.test";
    let m = mail_sandbox();
    m.seed(user, 12, "INBOX", &["--seed", "77"]);
    let acc = account(user);
    let page = acc.list(r#"{"order": "oldest_first"}"#).unwrap();
    let v = page["uidvalidity"].as_u64().unwrap();
    let list = page["messages"].as_array().unwrap().clone();
    let uid = |i: usize| list[i]["uid"].as_u64().unwrap();
    let mid = |i: usize| format!("seed-77-{i}@example.test");

    // fetch chosen, byte-exact with the server's copy, read without marking read
    let (n, got) = acc.fetch_chosen(&json!({"ids": [list[3]["id"], list[1]["id"]]}).to_string());
    assert_eq!(n.unwrap(), 2);
    assert_eq!(
        got.iter().map(|g| g.uid as u64).collect::<Vec<_>>(),
        vec![uid(1), uid(3)]
    );
    assert_eq!(
        got[0].header("Message-ID").unwrap(),
        format!("<{}>", mid(1))
    );
    assert_eq!(got[0].size as usize, got[0].body.len());
    assert_eq!(maildir_flags(user, "INBOX", &mid(1)).unwrap(), "", "peeked");
    // mark_seen and parse
    let (n, got) = acc.fetch_chosen(
        &json!({"uids": [uid(2)], "uidvalidity": v, "mark_seen": true, "parse": true}).to_string(),
    );
    assert_eq!((n.unwrap(), got.len()), (1, 1));
    assert_eq!(maildir_flags(user, "INBOX", &mid(2)).unwrap(), "S");
    // an id that no longer exists is skipped; a stale UIDVALIDITY is refused
    let (n, _) = acc.fetch_chosen(r#"{"uids": [999999]}"#);
    assert_eq!(n.unwrap(), 0);
    let (n, _) = acc.fetch_chosen(&json!({"uids": [uid(0)], "uidvalidity": v + 1}).to_string());
    assert_eq!(n.unwrap_err().0, OM_STATUS_INVALID_ARGUMENT);
    let (n, _) = acc.fetch_chosen(r#"{"ids": ["AAMkAD=="]}"#);
    assert_eq!(n.unwrap_err().0, OM_STATUS_INVALID_ARGUMENT);

    // flags and keywords, verified in Dovecot's Maildir
    acc.set_flags(
        &json!({"uids": [uid(4), uid(5)], "add": ["flagged", "seen", "crm-filed"]}).to_string(),
    )
    .unwrap();
    assert!(maildir_keywords(user).contains("crm-filed"));
    let f = maildir_flags(user, "INBOX", &mid(4)).unwrap();
    assert!(f.contains('F') && f.contains('S') && f.contains('a'), "{f}");
    acc.set_flags(
        &json!({"uids": [uid(5)], "remove": ["\\Seen", "crm-filed"], "add": ["answered"]})
            .to_string(),
    )
    .unwrap();
    assert_eq!(maildir_flags(user, "INBOX", &mid(5)).unwrap(), "FR");
    let kw = acc.list(r#"{"search": {"keyword": "crm-filed"}}"#).unwrap();
    assert_eq!(ids(kw["messages"].as_array().unwrap()), vec![uid(4)]);
    let flagged = acc
        .list(r#"{"search": {"flagged": true}, "order": "oldest_first"}"#)
        .unwrap();
    let fl = &flagged["messages"];
    assert_eq!(ids(fl.as_array().unwrap()), vec![uid(4), uid(5)]);
    assert!(fl[0]["flags"]
        .as_array()
        .unwrap()
        .contains(&json!("crm-filed")));
    let e = acc
        .set_flags(&json!({"uids": [uid(4)], "add": ["\\Deleted"]}).to_string())
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT);
    let e = acc
        .set_flags(&json!({"uids": [uid(4)], "add": ["a b"]}).to_string())
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT);
    let e = acc
        .set_flags(&json!({"uids": [uid(4)]}).to_string())
        .unwrap_err();
    assert!(e.1.contains("add"), "{}", e.1);

    // move into a folder that does not exist yet (created), copy, delete
    let dest = "Clients/Société 2026";
    acc.move_messages(&json!({"uids": [uid(6), uid(7)], "to": dest}).to_string())
        .unwrap();
    assert_eq!(m.count(user, dest), 2);
    assert_eq!(m.count(user, "INBOX"), 10);
    assert!(maildir_flags(user, dest, &mid(6)).is_some());
    assert!(maildir_flags(user, "INBOX", &mid(6)).is_none());
    acc.copy_messages(&json!({"ids": [list[8]["id"]], "to": dest}).to_string())
        .unwrap();
    assert_eq!((m.count(user, dest), m.count(user, "INBOX")), (3, 10));
    acc.delete_messages(&json!({"uids": [uid(9), uid(10)], "uidvalidity": v}).to_string())
        .unwrap();
    assert_eq!(m.count(user, "INBOX"), 8);
    assert!(maildir_flags(user, "INBOX", &mid(9)).is_none());
    // browsing another folder: what was moved is there
    let there = acc
        .list(&json!({"folder": dest, "order": "oldest_first"}).to_string())
        .unwrap();
    let subjects: Vec<&str> = there["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        vec![mid(6).as_str(), mid(7).as_str(), mid(8).as_str()]
    );
    let e = acc.delete_messages(r#"{"ids": []}"#).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT);
    let e = acc
        .move_messages(&json!({"uids": [uid(0)], "to": " "}).to_string())
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT);

    // folders: created with parents, again is fine; the fetch state is untouched by all this
    acc.create_folder("Projets/Été/Devis").unwrap();
    acc.create_folder("Projets/Été/Devis").unwrap();
    let names: BTreeSet<String> = acc
        .folders()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains("Projets/Été/Devis"), "{names:?}");
    let (summary, got) = acc.fetch("{}");
    assert_eq!(got.len(), 8, "{summary}");
}

// ------------------------------------------------------------------------------------------
// 10,000 messages through a command-reading proxy

#[test]
fn ten_thousand_messages_one_search_and_one_fetch_per_page() {
    let _s = serial();
    init();
    let user = "browse-10k@example.test";
    let m = mail_sandbox();
    let seeded = m.seed(user, 10_000, "INBOX", &["--size-kb", "4"]);
    let mailbox_bytes = seeded["bytes"].as_u64().unwrap();
    let tokens = account(user);
    let (port, traffic) = forwarding_proxy(m.info["direct_ports"]["imap"].as_u64().unwrap() as u16);
    let acc = Acc::new(&sandbox().config(
        "confidential-app",
        json!({"email": user, "allow_insecure_transport": true,
               "incoming": {"protocol": "imap", "host": "127.0.0.1", "port": port, "security": "none"}}),
    ))
    .unwrap();
    acc.import(&tokens.export()).unwrap();

    let (all, pages) = acc.list_all(json!({"limit": 1000}));
    assert_eq!(pages, 10);
    let distinct: BTreeSet<u64> = ids(&all).into_iter().collect();
    assert_eq!((all.len(), distinct.len()), (10_000, 10_000));
    let t = traffic.lock().unwrap();
    assert_eq!(t.client.len(), 10, "one connection per page");
    for (i, conn) in t.client.iter().enumerate() {
        let text = String::from_utf8_lossy(conn);
        let count = |what: &str| text.lines().filter(|l| l.contains(what)).count();
        assert_eq!(count(" UID SEARCH "), 1, "page {i}: {text}");
        assert_eq!(count(" UID FETCH "), 1, "page {i}");
        assert!(
            !text.contains("BODY.PEEK[]") && !text.contains("BODY[]"),
            "no body read"
        );
    }
    // headers only: far less than the mailbox
    assert!(
        t.server_bytes < mailbox_bytes / 3,
        "{} bytes read for a {mailbox_bytes}-byte mailbox",
        t.server_bytes
    );
    drop(t);
    // a search over the 10,000: Sender 3 wrote every 50th
    let p = acc
        .list(r#"{"search": {"from": "sender3@"}, "limit": 1000}"#)
        .unwrap();
    assert_eq!(
        (p["total"].as_u64(), p["messages"].as_array().unwrap().len()),
        (Some(200), 200)
    );
}
