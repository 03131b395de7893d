//! What an IMAP server sends after login, as the session's guard sees it below async-imap:
//! `imap::guard::Guard` (a literal above the current limit, a line longer than `MAX_LINE`
//! end the session), with its default limit (`MAX_COMMAND_LITERAL`) and with the message
//! limit a FETCH read sets (`set_max_literal`), read whole and in small chunks.
//!
//! Asserts: no panic; the guard passes the bytes through unchanged, and a refused read reads
//! nothing; the chunking changes nothing; the guard refuses exactly the streams a reference
//! reading of its rule refuses (a literal `{N}` / `{N+}` announced at the end of a line, its
//! N bytes skipped; N read whatever its writing, e.g. leading zeros, up to the 32-bit
//! numbers of RFC 3501: beyond, IMAP parsers refuse the line anyway and the reference stops
//! comparing).

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::imap::guard::{Guard, MAX_COMMAND_LITERAL, MAX_LINE};
use oauthmail_fuzz::{block_on, small_chunk, Peer};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The message limit `fetch_reader` sets (the account's, at most Exchange Online's 150 MB
/// with encoding).
const MESSAGE_LIMIT: u64 = 192 << 20;

/// The reference: `Ok(true)` accepted, `Err(at)` refused after the byte at offset `at`,
/// `Ok(false)` unspecified (a size beyond RFC 3501's 32-bit numbers: not a literal to any
/// IMAP parser, which refuses the line).
fn reference(data: &[u8], max: u64) -> Result<bool, usize> {
    let mut literal_left: u64 = 0;
    let mut line: Vec<u8> = Vec::new();
    for (i, &b) in data.iter().enumerate() {
        if literal_left > 0 {
            literal_left -= 1;
            continue;
        }
        if b != b'\n' {
            line.push(b);
            if line.len() > MAX_LINE {
                return Err(i);
            }
            continue;
        }
        let l = line.strip_suffix(b"\r").unwrap_or(&line);
        if let Some(l) = l.strip_suffix(b"}") {
            let l = l.strip_suffix(b"+").unwrap_or(l);
            if let Some(open) = l.iter().rposition(|&c| c == b'{') {
                let digits = &l[open + 1..];
                if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                    let n = digits.iter().fold(0u64, |n, &d| {
                        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                    });
                    if n > u64::from(u32::MAX) {
                        return Ok(false);
                    }
                    if n > max {
                        return Err(i);
                    }
                    literal_left = n;
                }
            }
        }
        line.clear();
    }
    Ok(true)
}

fn guarded(data: &[u8], chunk: usize, max: u64) -> Result<(), usize> {
    // no progress limit: it is about time, and a fuzz run must not depend on the clock
    let mut g = Guard::new(Peer::new(data, chunk), Duration::from_secs(1 << 30));
    if max != MAX_COMMAND_LITERAL {
        g.set_max_literal(max);
    }
    let mut out = Vec::new();
    match block_on(g.read_to_end(&mut out)) {
        Ok(_) => {
            assert_eq!(out, data, "the guard changed the bytes");
            Ok(())
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            Err(g.get_ref().consumed())
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for max in [MAX_COMMAND_LITERAL, MESSAGE_LIMIT] {
        let want = reference(data, max);
        for chunk in [usize::MAX, small_chunk(data), 1] {
            match (guarded(data, chunk, max), want) {
                (_, Ok(false)) | (Ok(()), Ok(true)) => {}
                // the refusal comes with the read that brought the offending byte
                (Err(consumed), Err(at)) => assert!(
                    consumed > at && consumed <= at + chunk.min(data.len()),
                    "refused after {consumed} bytes read in chunks of {chunk}, the offending byte is at {at}"
                ),
                (got, want) => panic!(
                    "limit {max}: guard {got:?}, reference {want:?} (chunks of {chunk}) for {:?}",
                    String::from_utf8_lossy(data)
                ),
            }
        }
    }
});
