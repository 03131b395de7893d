//! Waiting for new mail against a real Dovecot: IMAP IDLE woken by a message delivered into the
//! Maildir (Dovecot notices it through inotify), not woken by flag changes, re-issued when the
//! refresh period passes, cancelled from another thread at once, polling when asked; POP3 by
//! polling. Tokens validated at the real OAuth2 server.

mod common;

use common::capi::{init, Acc};
use common::mail::mail_sandbox;
use common::{authorized_as, serial};
use oauthmail::ffi::status::*;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn account(user: &str, protocol: &str, port_key: &str) -> Arc<Acc> {
    let m = mail_sandbox();
    Arc::new(authorized_as(
        "confidential-app",
        user,
        json!({"email": user, "incoming": {"protocol": protocol, "host": "127.0.0.1",
               "port": m.port(port_key), "security": "tls"}}),
    ))
}

/// om_wait_for_mail's answer and when it came back.
type Answer = (Result<serde_json::Value, common::capi::Failure>, Instant);

/// Runs om_wait_for_mail on another thread.
fn wait_in_thread(
    acc: &Arc<Acc>,
    options: &str,
    timeout_ms: u32,
) -> std::thread::JoinHandle<Answer> {
    let acc = acc.clone();
    let options = options.to_string();
    std::thread::spawn(move || {
        let r = acc.wait_for_mail(&options, timeout_ms);
        (r, Instant::now())
    })
}

/// Gives the waiting thread time to connect and enter IDLE (generous: busy machines).
fn settle() {
    std::thread::sleep(Duration::from_secs(3));
}

#[test]
fn idle_wakes_on_new_mail_not_on_flag_changes() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "wait-idle@example.test";
    m.seed(user, 3, "INBOX", &[]);
    let acc = account(user, "imap", "imaps_port");

    // a flag change on another connection does not wake it: the time runs out
    let h = wait_in_thread(&acc, "{}", 8000);
    settle();
    let other = account(user, "imap", "imaps_port");
    let uid = other.list(r#"{"limit": 1}"#).unwrap()["messages"][0]["uid"].clone();
    other
        .set_flags(&json!({"uids": [uid], "add": ["flagged"]}).to_string())
        .unwrap();
    let (r, _) = h.join().unwrap();
    let w = r.unwrap();
    assert_eq!(
        (w["new_mail"].as_bool(), w["method"].as_str()),
        (Some(false), Some("idle")),
        "{w}"
    );

    // a message delivered wakes it, long before its time is up
    let h = wait_in_thread(&acc, "{}", 120_000);
    settle();
    let delivered = Instant::now();
    m.seed(user, 1, "INBOX", &["--new"]);
    let (r, back) = h.join().unwrap();
    let w = r.unwrap();
    assert_eq!(w["new_mail"], true, "{w}");
    assert_eq!(w["method"], "idle");
    let took = back.duration_since(delivered);
    eprintln!("IDLE woke {} ms after the delivery", took.as_millis());
    assert!(took < Duration::from_secs(30), "woken after {took:?}");

    // re-issued every second, it still wakes on mail that arrives after several re-issues
    let h = wait_in_thread(&acc, r#"{"idle_refresh_secs": 1}"#, 120_000);
    settle();
    std::thread::sleep(Duration::from_secs(2));
    m.seed(user, 1, "INBOX", &["--new"]);
    let (r, _) = h.join().unwrap();
    assert_eq!(r.unwrap()["new_mail"], true);

    // polling when asked
    let h = wait_in_thread(
        &acc,
        r#"{"poll_only": true, "poll_interval_secs": 1}"#,
        120_000,
    );
    settle();
    m.seed(user, 1, "INBOX", &["--new"]);
    let (r, _) = h.join().unwrap();
    let w = r.unwrap();
    assert_eq!(
        (w["new_mail"].as_bool(), w["method"].as_str()),
        (Some(true), Some("poll")),
        "{w}"
    );

    // mail that arrived before the wait started is not new to it
    let w = acc.wait_for_mail("{}", 1500).unwrap();
    assert_eq!(w["new_mail"], false);
}

#[test]
fn idle_is_cancelled_from_another_thread_at_once() {
    let _s = serial();
    init();
    let user = "wait-cancel@example.test";
    mail_sandbox().seed(user, 1, "INBOX", &[]);
    let acc = account(user, "imap", "imaps_port");
    let h = wait_in_thread(&acc, "{}", 600_000);
    settle();
    let asked = Instant::now();
    acc.cancel_all();
    let (r, back) = h.join().unwrap();
    assert_eq!(r.unwrap_err().0, OM_STATUS_CANCELLED);
    let took = back.duration_since(asked);
    assert!(took < Duration::from_secs(5), "cancelled after {took:?}");
    // the account still works afterwards
    let w = acc.wait_for_mail("{}", 500).unwrap();
    assert_eq!(w["new_mail"], false);
    // bad options and folders
    let e = acc
        .wait_for_mail(r#"{"poll_interval_secs": 0}"#, 500)
        .unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_CONFIG);
    let e = acc.wait_for_mail(r#"{"folder": "Nope"}"#, 500).unwrap_err();
    assert_eq!(e.0, OM_STATUS_INVALID_ARGUMENT);
}

#[test]
fn pop3_waits_by_polling() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "wait-pop3@example.test";
    m.seed(user, 2, "INBOX", &[]);
    let acc = account(user, "pop3", "pop3s_port");
    let h = wait_in_thread(&acc, r#"{"poll_interval_secs": 1}"#, 120_000);
    settle();
    m.seed(user, 1, "INBOX", &["--new"]);
    let (r, _) = h.join().unwrap();
    let w = r.unwrap();
    assert_eq!(
        (w["new_mail"].as_bool(), w["method"].as_str()),
        (Some(true), Some("poll")),
        "{w}"
    );
    let w = acc
        .wait_for_mail(r#"{"poll_interval_secs": 1}"#, 2500)
        .unwrap();
    assert_eq!(w["new_mail"], false);
}

/// A TCP proxy in front of `upstream` that cuts its first connection `after` it was accepted and
/// holds the second one `hold` before connecting it (TLS passes through: it only forwards
/// bytes). Hand-written: no real server cuts on demand.
fn cutting_proxy(upstream: u16, after: Duration, hold: Duration) -> u16 {
    use std::net::{Shutdown, TcpListener, TcpStream};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, c) in l.incoming().take(20).enumerate() {
            let Ok(c) = c else { continue };
            if n == 1 {
                std::thread::sleep(hold);
            }
            let Ok(s) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let pipe = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                })
            };
            pipe(c.try_clone().unwrap(), s.try_clone().unwrap());
            pipe(s.try_clone().unwrap(), c.try_clone().unwrap());
            if n == 0 {
                std::thread::spawn(move || {
                    std::thread::sleep(after);
                    let _ = c.shutdown(Shutdown::Both);
                    let _ = s.shutdown(Shutdown::Both);
                });
            }
        }
    });
    port
}

#[test]
fn idle_survives_a_cut_connection_and_still_sees_mail_that_arrived_meanwhile() {
    let _s = serial();
    init();
    let m = mail_sandbox();
    let user = "wait-cut@example.test";
    m.seed(user, 1, "INBOX", &[]);
    let tokens = account(user, "imap", "imaps_port");
    // cut at 3 s, the next connection held until about 7 s: mail arriving at 5 s arrives while
    // the wait has no connection
    let port = cutting_proxy(
        m.port("imaps_port"),
        Duration::from_secs(3),
        Duration::from_secs(3),
    );
    let acc = Arc::new(
        Acc::new(&common::sandbox().config(
            "confidential-app",
            json!({"email": user, "incoming": {"protocol": "imap", "host": "127.0.0.1",
                   "port": port, "security": "tls"}}),
        ))
        .unwrap(),
    );
    acc.import(&tokens.export()).unwrap();
    let h = wait_in_thread(&acc, "{}", 120_000);
    std::thread::sleep(Duration::from_secs(5));
    m.seed(user, 1, "INBOX", &["--new"]);
    let (r, _) = h.join().unwrap();
    let w = r.unwrap();
    assert_eq!(w["new_mail"], true, "{w}");
    assert!(w["reconnects"].as_u64().unwrap() >= 1, "{w}");
}
