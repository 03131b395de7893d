//! Inputs the fuzz targets (fuzz/, `bash scripts/fuzz.sh`) found failing, each fed to the same
//! entry point as its target, with what must hold. No network, no sandbox: quick.
//!
//! To add one: the failing input is under `fuzz/artifacts/<target>/` (and printed in base64 by
//! scripts/fuzz.sh); copy its bytes here as a literal, call what the target calls, assert what
//! the target asserted (fuzz/README.md).

use oauthmail::imap::guard::{Guard, MAX_COMMAND_LITERAL};
use oauthmail::tokens::token_set::now_unix;
use oauthmail::tokens::TokenSet;
use std::time::Duration;
use tokio::io::AsyncReadExt;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Reads all of `data` through the IMAP guard; the error's text when it refuses.
fn guarded(data: &[u8], max_literal: Option<u64>) -> Result<Vec<u8>, String> {
    let mut g = Guard::new(data, Duration::from_secs(3600));
    if let Some(m) = max_literal {
        g.set_max_literal(m);
    }
    let mut out = Vec::new();
    block_on(g.read_to_end(&mut out))
        .map(|_| out)
        .map_err(|e| e.to_string())
}

// --- smtp_replies ----------------------------------------------------------------------------

/// A reply line whose third byte is inside a multi-byte character (here the U+FFFD of an
/// invalid byte) made `parse_replies` slice a `str` off a character boundary: a panic on the
/// bytes a server sent after its EHLO reply. Fixed in src/smtp/connection.rs.
/// Input (base64): `MjIwIG9rDQoyNTAgb2sNCjH/DQoxMsOpIHgNCg==`
#[test]
fn smtp_reply_line_cut_inside_a_character() {
    let input = b"220 ok\r\n250 ok\r\n1\xff\r\n12\xc3\xa9 x\r\n";
    let replies = oauthmail::smtp::connection::parse_replies(input);
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(codes, vec![220, 250]);
    for input in [
        &b"1\xff"[..],
        b"12\xc3\xa9",
        b"\xe2\x82\xac-",
        b"9\xf0\x9f\x93\x85",
    ] {
        assert!(oauthmail::smtp::connection::parse_replies(input).is_empty());
    }
}

// --- imap_guard ------------------------------------------------------------------------------

/// The guard refused a read after putting its bytes in the caller's buffer: tokio's
/// `read_to_end` asserts (debug builds) that a failed read reads nothing. Fixed in
/// src/imap/guard.rs (the read is rolled back).
/// Input (base64): `KiAxIEZFVENIIChCT0RZW10gezUwMDAwMDAwMH0NCg==`
#[test]
fn imap_guard_refusal_reads_nothing() {
    let input = b"* 1 FETCH (BODY[] {500000000}\r\n";
    let e = guarded(input, None).unwrap_err();
    assert!(e.contains("literal"), "{e}");
    let e = guarded(input, Some(192 << 20)).unwrap_err();
    assert!(e.contains("literal"), "{e}");
}

/// A literal's size written with enough leading zeros pushed the `{` out of the guard's
/// 32-byte tail: the announcement went unseen and async-imap (whose parser reads the number
/// with its zeros) would allocate the 500 MB. Fixed in src/imap/guard.rs (leading zeros are
/// not kept).
/// Input (base64): `KiAxIEZFVENIIChCT0RZW10gezAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA1MDAwMDAwMDB9DQo=`
#[test]
fn imap_guard_sees_a_zero_padded_literal_size() {
    let input = b"* 1 FETCH (BODY[] {0000000000000000000000000000000500000000}\r\n";
    assert!(guarded(input, None).is_err());
    assert!(guarded(input, Some(192 << 20)).is_err());
    // zeros still count as a size when they are all there is, and small sizes pass
    let ok = b"* 1 FETCH (BODY[] {0000000000000000000000000000000000000}\r\n)\r\n";
    assert_eq!(guarded(ok, None).unwrap(), ok.to_vec());
    let ok = b"* 1 FETCH (BODY[] {000000000000000000000000000000000005}\r\nab\ncd)\r\n";
    assert_eq!(guarded(ok, None).unwrap(), ok.to_vec());
    let big = format!("* 1 FETCH (BODY[] {{{:0>40}}}\r\n", MAX_COMMAND_LITERAL + 1);
    assert!(guarded(big.as_bytes(), None).is_err());
}

// --- token_json ------------------------------------------------------------------------------

fn office365() -> oauthmail::config::Config {
    oauthmail::config::Config::from_json(
        r#"{"provider":"office365","client_id":"c","client_secret":"s","tenant":"t1"}"#,
    )
    .unwrap()
}

/// The token endpoint's `expires_in` is an unsigned number of any size; converted with
/// `as i64` then added to now (src/oauth/client.rs `token_set_from`), u64::MAX became -1 (a
/// token expired before it was obtained: a refresh on every call) and values near i64::MAX
/// overflow (a panic in debug builds, a wrap in release). FAILS until src/oauth/client.rs
/// saturates (e.g. `i64::try_from(secs).unwrap_or(i64::MAX)` and `now.saturating_add`).
/// Input (base64): `eyJhY2Nlc3NfdG9rZW4iOiAiYXQiLCAidG9rZW5fdHlwZSI6ICJCZWFyZXIiLCAiZXhwaXJlc19pbiI6IDE4NDQ2NzQ0MDczNzA5NTUxNjE1fQ==`
#[test]
fn token_response_with_a_huge_expires_in() {
    let config = office365();
    for expires_in in [u64::MAX, i64::MAX as u64, i64::MAX as u64 - 1000, 1 << 62] {
        let input = format!(
            r#"{{"access_token": "at", "token_type": "Bearer", "expires_in": {expires_in}}}"#
        );
        let resp: oauth2::basic::BasicTokenResponse = serde_json::from_str(&input).unwrap();
        let before = now_unix();
        let previous = TokenSet::empty(&config.client_id, config.token_url.as_str());
        let set = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            oauthmail::oauth::client::token_set_from(&config, &resp, &previous)
        }))
        .unwrap_or_else(|_| panic!("token_set_from panicked for {input}"));
        let expires = set.expires_at.unwrap();
        assert!(
            expires >= before,
            "expires_in {expires_in}: expires_at {expires} is before now {before}"
        );
    }
}

/// A token set the host imports may carry any `expires_at`: `remaining_secs` subtracted now
/// from it (src/tokens/token_set.rs), overflowing below i64::MIN + now. FAILS until it
/// saturates (`e.saturating_sub(now)`).
/// Input (base64): `eyJmb3JtYXQiOiAxLCAidmVyc2lvbiI6IDEsICJ1cGRhdGVkX2F0IjogLTUsICJjbGllbnRfaWQiOiAiYyIsICJ0b2tlbl91cmwiOiAiaHR0cHM6Ly9pZHAvdCIsICJhY2Nlc3NfdG9rZW4iOiAiYXQiLCAiZXhwaXJlc19hdCI6IC05MjIzMzcyMDM2ODU0Nzc1ODA3fQ==`
#[test]
fn imported_token_set_expiring_near_i64_min_remaining_secs() {
    let input = r#"{"format": 1, "version": 1, "updated_at": -5, "client_id": "c", "token_url": "https://idp/t", "access_token": "at", "expires_at": -9223372036854775807}"#;
    let set = TokenSet::from_json(input).unwrap();
    let remaining = std::panic::catch_unwind(|| set.remaining_secs(now_unix()))
        .unwrap_or_else(|_| panic!("remaining_secs panicked (overflow)"));
    assert!(remaining.unwrap() < 0, "{remaining:?}");
}

/// The same set through the store's import and the token it serves: `cached` computed
/// `expires - now` (src/tokens/store.rs), overflowing the same way (in release builds it
/// wrapped to a huge lifetime: an expired token served as valid). FAILS until it saturates.
#[test]
fn imported_token_set_expiring_near_i64_min_is_not_served() {
    let input = r#"{"format": 1, "version": 1, "updated_at": -5, "client_id": "c", "token_url": "https://idp/t", "access_token": "at", "expires_at": -9223372036854775807}"#;
    let store = oauthmail::tokens::store::TokenStore::new(
        1,
        "c",
        "https://idp/t",
        Duration::from_secs(300),
        oauthmail::lang::Lang::En,
        None,
    )
    .unwrap();
    store.import_json(input, Duration::from_secs(1)).unwrap();
    let cached = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.cached()))
        .unwrap_or_else(|_| panic!("cached() panicked (overflow)"));
    assert_eq!(cached, None, "an expired access token is served");
}

// --- graph_detach ------------------------------------------------------------------------------

/// A malformed multipart (a part's body running into the next delimiter without its line
/// break) gave two attachments whose delimited byte ranges overlapped: cutting both sliced the
/// message backwards (a panic on a message the host asked to send through Graph). Fixed in
/// src/graph/detach.rs (overlapping ranges are never both cut; the result is measured again).
#[test]
fn graph_detach_overlapping_parts() {
    use base64::Engine;
    let input = base64::engine::general_purpose::STANDARD
        .decode("FEZyb206IGFAZXhhbXBsZS50ZXN0DQpUbzogYkBleGFtcGxlLnRlc3QNClN1YmplY3Q6IGJpZw0KTUlNRS1WZXJzaW9uOiAxLjANCkNvbnRlbnQtVHlwZTogbXVsdGlwYXJ0L21peGVkOyBib3VuZGFyeT0iWFgiDQoNCi0tWFgNCkNvbnRlbnQtVHlwZTogdGV4dC9wbGFpbg0KDQpIZWxsbw0KLS1YWA0KQ29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9wZGY7IG5hbWU9InEucGRmIg0KQ29udGVudC1EaXNwb3NpdGlvbjogYXR0YWNobWVudDsgZmlsZW5hbWU9InEucGRmIg0KQ29udGVudC1UcmFuc2Zlci1FbmNvZGluZzogYmFzZTY0DQoNCkFBRUNBd1FGQmdjSUNRb0xEQTBPRHhBUkVoTVVGUllYR0JrWFgNCkNvbnRlbnQtVHlwZTogdGV4dC9wbGFpbg0KDQpIZWxsbwPHLS1YWA0KQ29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9wZGY7IG5hbWU9InEucGRmIg0KQ29udGVudC1EaXNwb3NpdGlvbjogYXR0YWNobWVudDsgZmlsZW5hbWU9InEucGRmIg0KQ29udGVudC1UcmFuc2Zlci1FbmNvZGluZzogYmFzZTY0DQoNCkFBRUNBd1FGQmdjSUNRb0xEQTBPRHhBUkVoTVVGUllYR0JrYUd4d2RIaDhnSVNJakpDVW1KeWdwS2lzc0xTNHZNREV5TXpRMU5qYzQNCk9UbzdQRDArUDBCQlFrTkVSVVpIU0VsS1MweE5UazlRVVZKVFZGVldWMWhaV2x0Y1hWNWZZR0ZpWTJSbFptZG9hV3ByYkcxdWIzQngNCmMURnJvbTogYUBleGFtcGxlLnRlc3QNClRvOnlwZTogbXVsdGlwYXJ0L21peGVkOyBib3VuZGFyeT0iWFgiDQoNCi0tWFgNCkNvbnRlbnQtVHlwZTogdGV4dC9wbGFpbg0KDQpIZWxsbw0KLS1YWA0KQ29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9wZGY7IG5hbWU9InEucGRmIg0KQ29udGVudC1EaXNwb3NpdGlvbjogYXR0YWNobWVudDsgZmlsZW5hbWU9InEucGRmIg0KQ29udGVudC1UcmFuc2Zlci1FbmNvZGluZzogYmFzZTY0DQoNCkFBRUNBd1FGQmdjSUNRb0xEQTBPRHhBUkVoTVVGUllYR0JrWFgNCkNvbnRlbnQtVHlwZTogdGV4dC9wbGFpbg0KDQpIZWxsbw0KLS1YWA0KQ29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9wZGY7IG5hbWU9InEucGRmIg0KQ29udGVudC1EaXNwb3NpdGlvbjogYXR0YWNobWVudDsgZmlsZW5hbWU9InEucGRmIg0KQ29udGVudC1UcmFuc2Zlci1FbmNvZGluZzogYmFzZTY0DQoNCkFBRUNBd1FGQmdjSUNRb0xEQTBPRHhBUkVoTVVGUllYR0JrYUd4d2RIaDhnSVNJakpDVW1KeWdwS2lzc0xTNHZNREV5TXpRMU5qYzQNCk9UbzdQRDArUDBCQlFrTkVSVVpIU0VsS1MweE5Ua250LVRwbGFpbg0KDQpIcWxsbw0KLS1YWA0KQ29udGVudC1UeXBlOiBhcHBsaWNhdGlvbi9wZGY7IG5hbWU9InEucGRmIg0KQ29udGVudC1EaXNwb3NpdGkicS5wZGYiDQpDb250ZW50LVRyYW5zZmVyLUVuY29kaW5nOiBiYXNlNjQNCg0KQUFFQ0F3UUZCZ2NJQ1FvTERBME9EeEFSRWhNVUZSWVhHQmtYWA0KQ29udGVudC1UeXBlOiB0ZXh0L3BsYWluDQoNCkhlbGxvDQotLVhYDQpDb250ZW50LVR5cGU6IGFwcGxpY2F0aW9uL3BkZjsgbmFtZT0icS5wZGYiDQpDb250ZW50LURpc3Bvc2l0aW9uOiBhdHRhY2htZW50OyBmaWxlbmFtZT0icS5wZGYiDQpDb250ZW50LVRyVTFkYlgyTm5hMjl6ZDN0L2c0ZUxqDQo1T1htNStqcDZ1dnM3ZTd2OFBIeTgvVDE5dmY0K2ZyNy9QMysvd0FCQWdNRUJRWUhDQWtLQ3d3TkRnOFFFUklURkJVV0Z4Z1pHaHNjDQpIUjRmSUNFaUl5UWxKaWNvS1NvckxDMHVMekF4TWpNME5UWTNPRGs2T3p3OVBqOUFRVUpEUkVWR1IwaEpTa3RNVFU1UFVGRlNVMVJWDQpWbGRZV1ZwYlhGMWVBUUlEQkE/R0J3Z0pDZ3NNRFE0UEVCRVNFeFFWRmhjWUdSb2JIQjBlSHlBaElpTWtKU1luS0NrcUt5d3RMaTh3TVRJek5EVTJOemc1DQpPanM4UFQ0L1FFRkNtNnU3eTl2ci9Bd2NMRHhNWEd4OGpKeXN2TXpjN1AwTkgURnJvbTogYUBleGFtcGxlLnRlc3QNClRvOiBiQGV4YW1wbGUudGdzdA0KU3ViamVjdDogYmlnDQpNSU1FLVZlcnNpb246IDEuMA0KQ28AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAApDb250ZW50LVRyYW5zZmVyLUVuY29kaW5nOiBiYXNlNjQNCkNvbnRlbnQtVHlwZTogbXVsdGlwYXJ0L21peGVkOyBib3VuZGFyeT0xZVgyQmhZbU5mbitrWlelkZ64bHFhMkFnWUtEaHgB")
        .unwrap();
    let (limit, mime) = (usize::from(input[0]) * 64, &input[1..]);
    if let Some((rest, out)) = oauthmail::graph::detach::detach(mime, limit) {
        assert!(rest.len().div_ceil(3) * 4 <= limit);
        assert!(!out.is_empty());
    }
}

// --- compose_message ---------------------------------------------------------------------------

/// A `from` name of one 1,100-character word: lettre folds headers at spaces only, so the
/// composed message had a 1,114-byte header line (RFC 5322 allows 998). Fixed in
/// src/smtp/compose.rs: such a message is refused, naming the limit.
#[test]
fn compose_refuses_a_header_word_longer_than_a_line() {
    use base64::Engine;
    let input = base64::engine::general_purpose::STANDARD
        .decode("eyJmcm9tIjogIkplYW4gRHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4d29yZCB3b3JkIHdvcmR4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh3b3JkIHdvcmQgd29yZHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHggeSB5IHkgeSB5IHkgeSB5IHkgeSB5IHkgeSB5IHkgeSB5IHkgeSB5IHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4dXBvbnQgPGplYW5AZXhhbXBsZXtjb20+IiwgInRvIjogWyJjbGllbnRAZXhhbXBsI2Uub3JnIl0sICJjYyI6ICJDb21wdGEgPGNvbXB0YUBleGFtcGxlLmNvbT47IHZlbnRlc0BleGFtcGxlLmNvbSIsICJiY2MiOiAiYXJjaGl2ZUBleGFtcGxlLmNvbSIsICJyZXBseV90byI6ICJub3JlcGx5QGV4YW1wbGUuY29tIiwgInN1YmplY3QiOiAiRGV2aXMgbsKwIDIwMjUtMDAxIOKAlCBTb2MyNi0wMDEg4oCUIFNvY2nDqXTDqSBHw6luw6lyYWxlIiwgInRleHQiOiAiQm9uam91cixcbnV2ZXJ6IG5vdHJlIGRldmlzLlxuIiwgImh0bWwiOiAiPHA+Qm9uam91ciw8L3A+PHA+VmV1aWxsZXogdHJvdXZlciBtcGxlLm9yZz4ifSwgImRhdGUiOiAiMjAyNi0wNS0wMlQxNDozMDowMCswMjowMCJ9")
        .unwrap();
    let text = String::from_utf8_lossy(&input);
    if let Ok(msg) = oauthmail::smtp::compose::parse(&text) {
        match oauthmail::smtp::compose::compose(
            &msg,
            Some("me@example.test"),
            oauthmail::lang::Lang::En,
        ) {
            Ok(c) => assert!(c.bytes.split(|&b| b == b'\n').all(|l| l.len() <= 999)),
            Err(e) => assert_eq!(e.status, oauthmail::Status::InvalidArgument, "{e}"),
        }
    }
}
