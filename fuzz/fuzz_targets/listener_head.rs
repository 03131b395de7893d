//! What a browser (or anything else on this machine) sends to the loopback redirect listener:
//! `oauth::listener::read_head` (the request line and headers, bounded), then the request
//! target split as `authorize::code_flow` does (path, query pairs).
//!
//! The input is the request's bytes, served whole and again in small chunks.
//!
//! Asserts: no panic; the same answer whatever the chunking; the answer is the request line's
//! method and target when the head is complete and the line says `HTTP/1.x`, else nothing;
//! never more read than the head's bound.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::oauth::listener::read_head;
use oauthmail_fuzz::{block_on, small_chunk, Peer};

/// `MAX_REQUEST_HEAD` in src/oauth/listener.rs, and the listener's read size.
const MAX_HEAD: usize = 16 * 1024;
const READ: usize = 1024;

/// What the listener must answer: the head is complete when a blank line arrives.
fn expected(data: &[u8]) -> Option<(String, String)> {
    let complete =
        data.windows(4).any(|w| w == b"\r\n\r\n") || data.windows(2).any(|w| w == b"\n\n");
    if !complete {
        return None;
    }
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let line = String::from_utf8_lossy(&data[..end]).into_owned();
    let line = line.strip_suffix('\r').unwrap_or(&line);
    let parts: Vec<&str> = line.split_whitespace().collect();
    match parts.as_slice() {
        [m, t, v, ..] if v.starts_with("HTTP/1.") => Some((m.to_string(), t.to_string())),
        _ => None,
    }
}

fn read(data: &[u8], chunk: usize) -> Option<(String, String)> {
    let mut peer = Peer::new(data, chunk);
    let head = block_on(read_head(&mut peer)).expect("the peer never fails");
    assert!(
        peer.consumed() <= MAX_HEAD + READ,
        "{} bytes read for one request head",
        peer.consumed()
    );
    head
}

fuzz_target!(|data: &[u8]| {
    let whole = read(data, usize::MAX);
    let split = read(data, small_chunk(data));
    if data.len() <= MAX_HEAD {
        assert_eq!(whole, split, "the chunking changed the answer");
        assert_eq!(whole, expected(data));
    }
    let Some((method, target)) = whole else {
        return;
    };
    assert!(!method.is_empty() && !target.is_empty());
    assert!(!method.contains(char::is_whitespace) && !target.contains(char::is_whitespace));
    // code_flow's handle()
    let (_path, query) = target.split_once('?').unwrap_or((&target, ""));
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let _ = (k.len(), v.len());
    }
});
