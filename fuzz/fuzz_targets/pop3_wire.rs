//! What a POP3 server sends: the input is the server's side of a whole session.
//!
//! 1. The wire parser (`pop3::wire`): status lines (`parse_reply`), multi-line responses
//!    with dot-unstuffing (`Conn::multiline`), the listings' lines (`parse_two_numbers`,
//!    `parse_uidl`), read whole and in small chunks.
//! 2. The client over it (`pop3::client`): greeting and CAPA (`Pop3Client::handshake`), the
//!    login (`pop3::login`: XOAUTH2, OAUTHBEARER, USER/PASS or AUTH PLAIN), then STAT, UIDL,
//!    LIST, RETR, DELE, RSET, NOOP and QUIT, as a fetch does.
//!
//! Asserts: no panic; errors carry a message; the chunking changes nothing; a message body
//! is CRLF-terminated lines, within its limit; a UIDL id is 1-70 printable characters; every
//! command the client sends is one CRLF-terminated line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::config::{Protocol, SaslMechanism, Security, Server, ServerAuth};
use oauthmail::pop3::wire::{parse_reply, parse_two_numbers, parse_uidl, Conn, Reply};
use oauthmail::pop3::{login, Login, LoginError, Pop3Client};
use oauthmail::Status;
use oauthmail_fuzz::{block_on, check_error, small_chunk, Peer};

const LIMIT: usize = 2048;

fn check_body(body: &[u8], limit: usize) {
    assert!(
        body.len() <= limit,
        "{} bytes over a limit of {limit}",
        body.len()
    );
    assert!(body.is_empty() || body.ends_with(b"\r\n"));
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && body[i - 1] == b'\r', "a bare LF in a body");
        }
    }
}

/// Reads status lines and multi-line bodies in turn until the data ends; returns what was read
/// (errors as their status).
fn wire(data: &[u8], chunk: usize) -> Vec<Result<Vec<u8>, Status>> {
    block_on(async {
        let mut conn = Conn::new(Peer::new(data, chunk), "pop.fuzz");
        let mut out = Vec::new();
        for _ in 0..64 {
            let r = match conn.reply().await {
                Ok(Reply::Ok(t)) => {
                    assert_eq!(t.trim(), t);
                    let r = conn.multiline(LIMIT, "a response").await;
                    if let Ok(body) = &r {
                        check_body(body, LIMIT);
                    }
                    r
                }
                Ok(Reply::Err(t) | Reply::More(t)) => Ok(t.into_bytes()),
                Err(e) => Err(e),
            };
            match r {
                Ok(v) => out.push(Ok(v)),
                Err(e) => {
                    check_error(&e);
                    assert!(
                        conn.is_broken(),
                        "an error that leaves the connection usable: {e}"
                    );
                    // a broken connection refuses everything after
                    assert!(block_on(conn.send("NOOP")).is_err());
                    out.push(Err(e.status));
                    break;
                }
            }
        }
        out
    })
}

fn lines(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(r) = parse_reply(line) {
            let (prefix, t): (&[u8], &String) = match &r {
                Reply::Ok(t) => (b"+OK", t),
                Reply::Err(t) => (b"-ERR", t),
                Reply::More(t) => (b"+", t),
            };
            assert!(line[..prefix.len()].eq_ignore_ascii_case(prefix), "{r:?}");
            assert_eq!(t.trim(), t);
        }
        let text = String::from_utf8_lossy(line);
        let _ = parse_two_numbers(&text);
        if let Some((_, uid)) = parse_uidl(&text) {
            assert!((1..=70).contains(&uid.len()));
            assert!(uid.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{uid:?}");
        }
    }
}

fn server(mechanism: SaslMechanism) -> Server {
    Server {
        protocol: Protocol::Pop3,
        host: "pop.fuzz".into(),
        port: 995,
        security: Security::Tls,
        auth: ServerAuth::Oauth2,
        sasl_mechanism: mechanism,
        username: None,
        password: None,
    }
}

/// A whole session as a fetch runs it; returns what happened, step by step.
async fn run(peer: &mut Peer, which: u8) -> Vec<String> {
    let mut seen = Vec::new();
    let (client, info) = match Pop3Client::handshake(peer, "pop.fuzz", true).await {
        Ok(c) => c,
        Err(e) => {
            check_error(&e);
            return vec![format!("handshake {:?}", e.status)];
        }
    };
    let oauth = |mechanism| Login::OAuth {
        mechanism,
        user: "jean@example.com".into(),
        token: "ya29.token".into(),
    };
    let (mechanism, creds) = match which {
        0 => (SaslMechanism::Xoauth2, oauth(SaslMechanism::Xoauth2)),
        1 => (
            SaslMechanism::Oauthbearer,
            oauth(SaslMechanism::Oauthbearer),
        ),
        _ => (
            SaslMechanism::Xoauth2,
            Login::Password {
                user: "jean".into(),
                password: "secret".into(),
            },
        ),
    };
    let mut s = match login(client, &info, &server(mechanism), creds, false).await {
        Ok(s) => s,
        Err(LoginError::Failed(e)) => {
            check_error(&e);
            return vec![format!("login {:?}", e.status)];
        }
        Err(LoginError::Refused(r)) => return vec![format!("refused {r:?}")],
        Err(LoginError::Unavailable(text)) => return vec![format!("unavailable {text:?}")],
    };
    macro_rules! step {
        ($name:expr, $call:expr) => {
            match $call {
                Ok(v) => v,
                Err(e) => {
                    check_error(&e);
                    seen.push(format!("{} {:?}", $name, e.status));
                    return seen;
                }
            }
        };
    }
    seen.push(format!("STAT {:?}", step!("STAT", s.stat().await)));
    let uids = step!("UIDL", s.uidl_all().await);
    for (_, uid) in &uids {
        assert!((1..=70).contains(&uid.len()), "{uid:?}");
    }
    seen.push(format!("UIDL {uids:?}"));
    let list = step!("LIST", s.list_all().await);
    seen.push(format!("LIST {list:?}"));
    // as a fetch does: the size LIST gave, checked against the limit before RETR
    let size = list.iter().find(|(n, _)| *n == 1).map(|(_, size)| *size);
    let body = step!("RETR", s.retr(1, LIMIT, size).await);
    check_body(&body, LIMIT);
    seen.push(format!("RETR {body:?}"));
    step!("DELE", s.dele(1).await);
    step!("RSET", s.rset().await);
    step!("NOOP", s.noop().await);
    step!("QUIT", s.quit().await);
    seen.push("QUIT ok".into());
    seen
}

/// [`run`] on the data served in chunks; what happened and what the client wrote.
fn session(data: &[u8], chunk: usize, which: u8) -> (Vec<String>, Vec<u8>) {
    let mut peer = Peer::new(data, chunk);
    let seen = block_on(run(&mut peer, which));
    commands_are_lines(&peer.written);
    (seen, peer.written)
}

fn commands_are_lines(written: &[u8]) {
    for cmd in written.split_inclusive(|&b| b == b'\n') {
        assert!(cmd.ends_with(b"\r\n"), "a command without CRLF: {cmd:?}");
        assert!(!cmd[..cmd.len() - 2].contains(&b'\r') && !cmd[..cmd.len() - 2].contains(&0));
    }
}

fuzz_target!(|data: &[u8]| {
    lines(data);
    let small = small_chunk(data);
    assert_eq!(
        wire(data, usize::MAX),
        wire(data, small),
        "the chunking changed the wire's reading"
    );
    for which in 0..3 {
        let a = session(data, usize::MAX, which);
        let b = session(data, small, which);
        assert_eq!(a, b, "the chunking changed the session");
    }
});
