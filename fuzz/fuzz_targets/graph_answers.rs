//! What the HTTPS mail APIs answer where the library reads it without serde types: an error
//! body of Microsoft Graph (`graph::errors::code_and_message`, then `map` for each status
//! class) and of the Gmail API (`gmail::errors::reason_and_message`, `throttled`, `map`), and
//! the fingerprints of delivered messages stored in the fetch state (`graph::seen::Seen`).
//!
//! Asserts: no panic; an error always maps to a failure status with the HTTP status in its
//! detail; the detail stays short when the body is not Graph's JSON; fingerprints read back
//! re-encode to something that decodes to the same set.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::graph::errors::{code_and_message, map, Doing};
use oauthmail::graph::seen::Seen;
use oauthmail::lang::Lang;

fuzz_target!(|data: &[u8]| {
    let (code, message) = code_and_message(data);
    if code.is_empty() {
        assert!(message.chars().count() <= 200, "{message:?}");
    }
    for status in [400u16, 401, 403, 404, 410, 413, 429, 500, 503, 504] {
        for doing in [Doing::Read, Doing::Send] {
            let e = map(status, data, Lang::Fr, doing, status % 2 == 0);
            assert_ne!(e.status, oauthmail::Status::Ok);
            assert!(
                e.detail
                    .as_deref()
                    .unwrap_or("")
                    .contains(&status.to_string()),
                "{e:?}"
            );
        }
    }
    let (reason, status_name, gmessage) = oauthmail::gmail::errors::reason_and_message(data);
    let error_json = data.windows(7).any(|w| w == b"\"error\"");
    if !error_json && reason.is_empty() && status_name.is_empty() {
        assert!(gmessage.chars().count() <= 200, "{gmessage:?}");
    }
    for status in [400u16, 401, 403, 404, 413, 429, 500, 503] {
        let _ = oauthmail::gmail::errors::throttled(status, data);
        let e = oauthmail::gmail::errors::map(status, data, Lang::En, Doing::Send, false);
        assert_ne!(e.status, oauthmail::Status::Ok);
        assert!(
            e.detail
                .as_deref()
                .unwrap_or("")
                .contains(&status.to_string()),
            "{e:?}"
        );
    }
    let text = String::from_utf8_lossy(data);
    let seen = Seen::decode(&text);
    assert_eq!(Seen::decode(&seen.encode()), seen);
});
