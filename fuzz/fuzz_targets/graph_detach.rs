//! A message too big for one Graph request, as the host gave it (any bytes): the largest
//! attachments of its top-level multipart are taken out (`graph::detach::detach`).
//!
//! Asserts: no panic; when it succeeds, what is left fits the limit once base64-encoded, at
//! least one attachment was taken out, and what is left is the message with whole byte ranges
//! removed (never a byte added or changed).

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::graph::detach::detach;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let limit = usize::from(data[0]) * 64;
    let mime = &data[1..];
    if let Some((rest, out)) = detach(mime, limit) {
        assert!(rest.len().div_ceil(3) * 4 <= limit);
        assert!(!out.is_empty());
        // `rest` is a subsequence of `mime`
        let mut it = mime.iter();
        assert!(rest.iter().all(|b| it.any(|c| c == b)));
    }
});
