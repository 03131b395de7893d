//! Browsing over POP3 against a real Dovecot: listings from TOP (no download), paged by UIDL,
//! header criteria matched by the library, size criteria, chosen messages by UIDL, DELE; what
//! POP3 cannot do is refused with a status that says so.

mod common;

use common::capi::{init, Acc};
use common::mail::mail_sandbox;
use common::{authorized_as, serial};
use oauthmail::ffi::status::*;
use serde_json::json;
use std::collections::BTreeSet;

fn account(user: &str) -> Acc {
    let m = mail_sandbox();
    authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "incoming": {"protocol": "pop3", "host": "127.0.0.1",
               "port": m.port("pop3s_port"), "security": "tls"}}),
    )
}

#[test]
fn pop3_listing_criteria_fetch_and_delete() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "browse-pop3@example.test";
    m.seed(
        user,
        35,
        "INBOX",
        &["--seed", "5", "--subject-prefix", "Facture"],
    );
    let acc = account(user);

    let (all, pages) = acc.list_all(json!({"limit": 10}));
    assert_eq!((all.len(), pages), (35, 4));
    let uidls: BTreeSet<String> = all
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(uidls.len(), 35);
    // newest first by default: the last seeded comes first
    assert_eq!(all[0]["subject"], "Facture 35");
    assert_eq!(all[34]["subject"], "Facture 1");
    assert_eq!(all[34]["from"][0]["address"], "sender0@example.test");
    assert_eq!(all[34]["message_id"], "seed-5-0@example.test");
    assert_eq!(all[34]["date_unix"], 1_704_067_200);
    assert!(all[0]["size"].as_u64().unwrap() > 1000);
    assert_eq!(all[0]["flags"], json!([]));
    let first = acc.list(r#"{"limit": 10}"#).unwrap();
    assert_eq!(first["total"], 35);
    let (asc, _) = acc.list_all(json!({"limit": 20, "order": "oldest_first"}));
    assert_eq!(asc[0]["subject"], "Facture 1");

    // header criteria, matched here over TOP
    let subset = |search: serde_json::Value| -> Vec<String> {
        let (l, _) = acc.list_all(json!({"search": search, "limit": 7}));
        l.iter()
            .map(|m| m["subject"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(subset(json!({"subject": "facture 3"})).len(), 7, "3, 30–35");
    assert_eq!(subset(json!({"from": "SENDER4@"})), vec!["Facture 5"]);
    assert_eq!(subset(json!({"before": "2024-01-02"})).len(), 35);
    assert_eq!(subset(json!({"since": "2024-01-02"})).len(), 0);
    assert_eq!(subset(json!({"larger": 100_000})).len(), 0);
    // what POP3 cannot do
    for bad in [
        json!({"search": {"unseen": true}}),
        json!({"search": {"text": "x"}}),
        json!({"folder": "Sent"}),
        json!({"uids": "1:5"}),
    ] {
        let e = acc.list(&bad.to_string()).unwrap_err();
        assert_eq!(e.0, OM_STATUS_INVALID_CONFIG, "{bad}: {}", e.1);
    }
    let id = |i: usize| all[i]["id"].as_str().unwrap().to_string();
    let e = acc
        .set_flags(&json!({"ids": [id(0)], "add": ["seen"]}).to_string())
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_UNSUPPORTED);
    let e = acc
        .move_messages(&json!({"ids": [id(0)], "to": "X"}).to_string())
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_UNSUPPORTED);
    assert_eq!(acc.create_folder("X").unwrap_err().0, OM_STATUS_UNSUPPORTED);

    // chosen by UIDL; unknown ones skipped; UIDs refused
    let (n, got) = acc.fetch_chosen(&json!({"ids": [id(34), "no-such-uidl", id(0)]}).to_string());
    assert_eq!(n.unwrap(), 2);
    assert_eq!(got[0].header("Subject").unwrap(), "Facture 1");
    assert_eq!(got[1].header("Subject").unwrap(), "Facture 35");
    assert_eq!(got[0].uidl, id(34));
    let (n, _) = acc.fetch_chosen(r#"{"uids": [1]}"#);
    assert_eq!(n.unwrap_err().0, OM_STATUS_INVALID_ARGUMENT);

    // DELE, committed
    acc.delete_messages(&json!({"ids": [id(0), id(1)]}).to_string())
        .unwrap();
    assert_eq!(m.count(user, "INBOX"), 33);
    let (left, _) = acc.list_all(json!({"limit": 100}));
    assert_eq!(left.len(), 33);
    assert_eq!(left[0]["subject"], "Facture 33");
    // the fetch state was not touched: om_fetch still delivers all
    let (_, got) = acc.fetch("{}");
    assert_eq!(got.len(), 33);
}
