//! The POP3 client against the real Dovecot of the mail sandbox, which validates tokens at the
//! real OAuth2 server: POP3S + XOAUTH2, STLS + OAUTHBEARER, a refused token (the error
//! challenge answered, no hang), a password login, DELE + QUIT; and STLS configured but not
//! offered (a hand-written fake server) → TlsError before any credential.

mod common;

use common::mail::mail_sandbox;
use common::{authorized_as, sandbox, serial};
use oauthmail::config::{Config, SaslMechanism, Server};
use oauthmail::pop3::{self, Login, LoginError, Pop3Session};
use oauthmail::Status;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

fn tls() -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read_to_string(&sandbox().ca_file).unwrap();
    oauthmail::tls::client_config(Some(&pem)).unwrap()
}

/// The incoming server of a custom-provider configuration, as the library completes it.
fn server(port: u16, security: &str, mechanism: &str) -> Server {
    let json = sandbox().config(
        "confidential-app",
        json!({"incoming": {"protocol": "pop3", "host": "127.0.0.1", "port": port,
                            "security": security, "sasl_mechanism": mechanism}}),
    );
    Config::from_json(&json).unwrap().incoming.unwrap()
}

/// A real access token whose email claim is `user`.
fn token_for(user: &str) -> String {
    common::capi::init();
    let acc = authorized_as("confidential-app", user, json!({"email": user}));
    acc.export()["access_token"].as_str().unwrap().to_string()
}

fn oauth(user: &str, token: &str, mechanism: SaslMechanism) -> Login {
    Login::OAuth {
        mechanism,
        user: user.to_string(),
        token: token.to_string(),
    }
}

async fn session(server: &Server, login: Login) -> Pop3Session {
    let (client, info) = pop3::open(server, tls(), TIMEOUT).await.unwrap();
    assert!(info.tls);
    match pop3::login(client, &info, server, login, false).await {
        Ok(s) => s,
        Err(LoginError::Refused(r)) => panic!("refused: {} {:?}", r.server_text, r.challenge),
        Err(LoginError::Unavailable(t)) => panic!("unavailable: {t}"),
        Err(LoginError::Failed(e)) => panic!("failed: {e}"),
    }
}

#[test]
fn pop3s_xoauth2_uidl_retr_stat() {
    let _s = serial();
    let m = mail_sandbox();
    let user = "pop3-xoauth2@example.test";
    m.seed(user, 3, "INBOX", &["--seed", "p1"]);
    let token = token_for(user);
    let srv = server(m.port("pop3s_port"), "tls", "xoauth2");
    block_on(async {
        let (client, info) = pop3::open(&srv, tls(), TIMEOUT).await.unwrap();
        assert!(info.tls);
        assert!(info.greeting.starts_with("Dovecot"), "{}", info.greeting);
        assert!(info.mechanisms.iter().any(|m| m == "XOAUTH2"), "{info:?}");
        assert!(info.capabilities.iter().any(|c| c == "UIDL"), "{info:?}");
        let mut s = match pop3::login(
            client,
            &info,
            &srv,
            oauth(user, &token, SaslMechanism::Xoauth2),
            false,
        )
        .await
        {
            Ok(s) => s,
            Err(_) => panic!("login refused"),
        };
        let (count, size) = s.stat().await.unwrap();
        assert_eq!(count, 3);
        let uidl = s.uidl_all().await.unwrap();
        assert_eq!(uidl.iter().map(|u| u.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        // pop3_uidl_format = %08Xu%08Xv: 16 lower-case hex digits, all distinct
        for (_, uid) in &uidl {
            assert_eq!(uid.len(), 16, "{uid}");
        }
        assert_ne!(uidl[0].1, uidl[1].1);
        let list = s.list_all().await.unwrap();
        assert_eq!(list.iter().map(|l| l.1).sum::<u64>(), size);
        let msg = s.retr(1, 1 << 20, None).await.unwrap();
        let text = String::from_utf8_lossy(&msg);
        assert!(
            text.contains("Message-ID: <seed-p1-0@example.test>"),
            "{text}"
        );
        assert_eq!(
            msg.len() as u64,
            list[0].1,
            "LIST's size is RETR's byte count"
        );
        assert!(msg.ends_with(b"\r\n") && !msg.ends_with(b"\r\n.\r\n"));
        assert!(!msg.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
        // a limit below the message's size is refused, not grown past
        let e = s.retr(2, 100, None).await.unwrap_err();
        assert_eq!(e.status, Status::ProtocolError, "{e}");
    });
}

#[test]
fn stls_oauthbearer() {
    let _s = serial();
    let m = mail_sandbox();
    let user = "pop3-stls@example.test";
    m.seed(user, 2, "INBOX", &["--seed", "p2"]);
    let token = token_for(user);
    let srv = server(m.port("pop3_port"), "starttls", "oauthbearer");
    block_on(async {
        let (client, info) = pop3::open(&srv, tls(), TIMEOUT).await.unwrap();
        assert!(info.tls, "upgraded by STLS");
        assert!(
            info.mechanisms.iter().any(|m| m == "OAUTHBEARER"),
            "{info:?}"
        );
        let mut s = match pop3::login(
            client,
            &info,
            &srv,
            oauth(user, &token, SaslMechanism::Oauthbearer),
            false,
        )
        .await
        {
            Ok(s) => s,
            Err(_) => panic!("login refused"),
        };
        assert_eq!(s.stat().await.unwrap().0, 2);
        let msg = s.retr(2, 1 << 20, None).await.unwrap();
        assert!(String::from_utf8_lossy(&msg).contains("<seed-p2-1@example.test>"));
        s.quit().await.unwrap();
    });
}

#[test]
fn bad_token_is_refused_with_the_challenge() {
    let _s = serial();
    let m = mail_sandbox();
    for (port, security, mech, sasl) in [
        ("pop3s_port", "tls", "xoauth2", SaslMechanism::Xoauth2),
        (
            "pop3_port",
            "starttls",
            "oauthbearer",
            SaslMechanism::Oauthbearer,
        ),
    ] {
        let srv = server(m.port(port), security, mech);
        let r = block_on(async {
            tokio::time::timeout(Duration::from_secs(15), async {
                let (client, info) = pop3::open(&srv, tls(), TIMEOUT).await.unwrap();
                pop3::login(
                    client,
                    &info,
                    &srv,
                    oauth("pop3-bad@example.test", "not-a-valid-token", sasl),
                    false,
                )
                .await
            })
            .await
            .expect("the refusal came before the timeout: the challenge was answered")
        });
        match r {
            Err(LoginError::Refused(r)) => {
                assert!(
                    r.server_text.contains("Authentication failed"),
                    "{}",
                    r.server_text
                );
                let ch = r.challenge.expect("the challenge text");
                assert!(ch.contains("refused the token"), "{ch}");
                if sasl == SaslMechanism::Xoauth2 {
                    assert!(ch.contains("401"), "{ch}");
                } else {
                    assert!(ch.contains("invalid_token"), "{ch}");
                }
            }
            Err(LoginError::Unavailable(t)) => panic!("expected Refused, got unavailable: {t}"),
            Err(LoginError::Failed(e)) => panic!("expected Refused, got {e}"),
            Ok(_) => panic!("a bad token was accepted"),
        }
    }
}

#[test]
fn password_login() {
    let _s = serial();
    let m = mail_sandbox();
    m.seed("bob@example.test", 1, "INBOX", &[]);
    let srv = server(m.port("pop3s_port"), "tls", "xoauth2");
    block_on(async {
        let mut s = session(
            &srv,
            Login::Password {
                user: "bob@example.test".into(),
                password: "bob-password".into(),
            },
        )
        .await;
        assert!(s.stat().await.unwrap().0 >= 1);
        s.quit().await.unwrap();

        let (client, info) = pop3::open(&srv, tls(), TIMEOUT).await.unwrap();
        let r = pop3::login(
            client,
            &info,
            &srv,
            Login::Password {
                user: "bob@example.test".into(),
                password: "wrong".into(),
            },
            false,
        )
        .await;
        assert!(
            matches!(r, Err(LoginError::Refused(_))),
            "a wrong password is Refused"
        );
    });
}

#[test]
fn dele_and_quit_remove_the_message() {
    let _s = serial();
    let m = mail_sandbox();
    let user = "pop3-dele@example.test";
    m.seed(user, 3, "INBOX", &["--seed", "p3"]);
    let token = token_for(user);
    let srv = server(m.port("pop3s_port"), "tls", "xoauth2");
    block_on(async {
        let mut s = session(&srv, oauth(user, &token, SaslMechanism::Xoauth2)).await;
        let before = s.uidl_all().await.unwrap();
        assert_eq!(before.len(), 3);
        // marked, then the session dropped without QUIT: nothing removed (RFC 1939)
        s.dele(1).await.unwrap();
        drop(s);
        let mut s = session(&srv, oauth(user, &token, SaslMechanism::Xoauth2)).await;
        assert_eq!(s.stat().await.unwrap().0, 3);
        s.dele(1).await.unwrap();
        let e = s.dele(1).await.unwrap_err();
        assert_eq!(e.status, Status::ProtocolError);
        assert!(e.detail.is_some(), "the server's text is kept");
        s.quit().await.unwrap();

        let mut s = session(&srv, oauth(user, &token, SaslMechanism::Xoauth2)).await;
        let after = s.uidl_all().await.unwrap();
        assert_eq!(
            after.iter().map(|u| u.1.clone()).collect::<Vec<_>>(),
            before[1..].iter().map(|u| u.1.clone()).collect::<Vec<_>>()
        );
        let msg = s.retr(1, 1 << 20, None).await.unwrap();
        assert!(String::from_utf8_lossy(&msg).contains("<seed-p3-1@example.test>"));
        s.quit().await.unwrap();
    });
    assert_eq!(m.count(user, "INBOX"), 2);
}

#[test]
fn stls_required_but_not_offered_sends_no_credential() {
    let _s = serial();
    // A hand-written fake: no real server configuration of the sandbox offers POP3 without
    // STLS on a port where we would use it (Dovecot always offers STLS when TLS is set up).
    let (port, fake) = fake_server(b"+OK fake POP3 ready\r\n", |line| {
        Some(if line.eq_ignore_ascii_case("CAPA") {
            b"+OK\r\nUSER\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\n.\r\n"
        } else {
            b"-ERR no\r\n"
        })
    });
    let srv = server(port, "starttls", "xoauth2");
    let e = block_on(pop3::open(&srv, tls(), TIMEOUT)).unwrap_err();
    assert_eq!(e.status, Status::TlsError, "{e}");
    assert!(e.message.contains(&format!("127.0.0.1:{port}")), "{e}");
    let got = fake.join().unwrap();
    assert_eq!(got, vec!["CAPA".to_string()]);
    assert!(!got
        .iter()
        .any(|l| l.starts_with("USER") || l.starts_with("AUTH") || l.starts_with("PASS")));
}

/// A one-connection fake POP3 server on 127.0.0.1: sends `greeting`, then for each line
/// received writes `answer(line)` (nothing when `None`); returns the port and the lines.
fn fake_server(
    greeting: &'static [u8],
    answer: fn(&str) -> Option<&'static [u8]>,
) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut w = s.try_clone().unwrap();
        w.write_all(greeting).unwrap();
        let mut got = Vec::new();
        let mut r = BufReader::new(s);
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = line.trim_end().to_string();
            let a = answer(&line);
            got.push(line);
            if let Some(a) = a {
                let _ = w.write_all(a); // one write: the bytes arrive together
            }
        }
        got
    });
    (port, h)
}

#[test]
fn bytes_injected_after_stls_are_refused() {
    let _s = serial();
    // hand-written fake: a real server never sends data after STLS's +OK (the attack is a
    // man in the middle appending cleartext that a careless client would read as protected)
    let (port, fake) = fake_server(b"+OK fake\r\n", |line| match line {
        "CAPA" => Some(b"+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
        "STLS" => Some(b"+OK Begin TLS\r\n+OK injected\r\n"),
        _ => Some(b"-ERR no\r\n"),
    });
    let srv = server(port, "starttls", "xoauth2");
    let e = block_on(pop3::open(&srv, tls(), TIMEOUT)).unwrap_err();
    assert_eq!(e.status, Status::ProtocolError, "{e}");
    assert!(e.message.contains("injected"), "{e}");
    assert_eq!(fake.join().unwrap(), vec!["CAPA", "STLS"]);
}

#[test]
fn silent_server_times_out() {
    let _s = serial();
    // hand-written fake: greets, then never answers
    let (port, fake) = fake_server(b"+OK fake\r\n", |_| None);
    let srv = server(port, "starttls", "xoauth2");
    let started = std::time::Instant::now();
    let e = block_on(pop3::open(&srv, tls(), Duration::from_secs(1))).unwrap_err();
    assert_eq!(e.status, Status::Timeout, "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(fake.join().unwrap(), vec!["CAPA"]);
}
