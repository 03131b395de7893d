//! What an SMTP server sends while the session opens (greeting, EHLO reply), as
//! `smtp::connection::open` reads it back from what lettre received: `parse_replies`, then
//! `ehlo_info` (capabilities and SASL mechanisms) of each reply and `Reply::text`.
//!
//! Asserts: no panic (the bytes are anything the server sent, pipelined garbage included);
//! no more reply lines than input lines, every reply has a line and a code of at most three
//! digits, its text starts with the code; the capabilities are the lines after the first;
//! the mechanisms are upper case words of the AUTH lines.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::smtp::connection::{ehlo_info, parse_replies};

fuzz_target!(|data: &[u8]| {
    let replies = parse_replies(data);
    let lines = data.split(|&b| b == b'\n').count();
    assert!(replies.iter().map(|r| r.lines.len()).sum::<usize>() <= lines);
    for r in &replies {
        assert!(!r.lines.is_empty(), "{r:?}");
        assert!(r.code <= 999, "{r:?}");
        let text = r.text();
        assert!(text.starts_with(&r.code.to_string()), "{text:?}");
        let (caps, mechanisms) = ehlo_info(r);
        assert_eq!(caps.len(), r.lines.len() - 1);
        let auth_words: usize = caps
            .iter()
            .filter(|c| {
                c.split_whitespace()
                    .next()
                    .is_some_and(|k| k.to_ascii_uppercase().starts_with("AUTH"))
            })
            .map(|c| c.split_whitespace().count())
            .sum();
        assert!(
            mechanisms.len() <= auth_words,
            "{mechanisms:?} from {caps:?}"
        );
        for m in &mechanisms {
            assert_eq!(m, &m.to_ascii_uppercase());
        }
    }
});
