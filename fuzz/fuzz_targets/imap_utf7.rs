//! IMAP mailbox names in modified UTF-7 (RFC 3501 §5.1.3): the names a server lists
//! (`imap::utf7::decode`) and the names the host gives (`imap::utf7::encode`).
//!
//! Asserts: no panic; `encode` writes printable ASCII only and `decode(encode(name)) == name`
//! for any name; decoding a wire name and encoding it again gives back a name that decodes the
//! same (invalid sequences are kept as they are).

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::imap::utf7::{decode, encode};

fuzz_target!(|data: &[u8]| {
    // the server's LIST reply is bytes; the library reads names as UTF-8 (lossy)
    let text = String::from_utf8_lossy(data);

    let wire = encode(&text);
    assert!(wire.bytes().all(|b| (b' '..=b'~').contains(&b)), "{wire:?}");
    assert_eq!(decode(&wire), text, "{text:?} encoded as {wire:?}");

    let name = decode(&text);
    assert_eq!(decode(&encode(&name)), name, "{text:?} decoded as {name:?}");
});
