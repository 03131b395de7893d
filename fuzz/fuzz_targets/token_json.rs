//! Token JSON from outside, three readers of the same text:
//!
//! 1. the token set the host imports (`om_tokens_import`): `TokenSet::from_json`, then the
//!    store's real import path (`TokenStore::import_json`) and what it serves (`cached`);
//! 2. the provider's token response (the token endpoint's JSON, as the `oauth2` crate reads
//!    it) turned into a token set (`oauth::client::token_set_from`);
//! 3. the provider's error response (`ProviderError`) with its hints (`oauth::hints::classify`).
//!
//! Asserts: no panic (overflow checks are on); a refused set is InvalidArgument with a
//! message; every set survives `to_json` → `from_json` unchanged; an imported set is served
//! back by `export_json`; a token from a response never expires before it was obtained.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth2::basic::BasicTokenResponse;
use oauthmail::oauth::client::token_set_from;
use oauthmail::oauth::hints::{classify, Grant};
use oauthmail::oauth::provider_error::ProviderError;
use oauthmail::tokens::store::TokenStore;
use oauthmail::tokens::token_set::{now_unix, FORMAT};
use oauthmail::tokens::TokenSet;
use oauthmail::Status;
use oauthmail_fuzz::{check_error, check_error_status, configs};
use std::time::Duration;

fn round_trip(set: &TokenSet) {
    let json = set.to_json();
    let back = TokenSet::from_json(&json)
        .unwrap_or_else(|e| panic!("to_json gave {json:?}, which from_json refuses: {e}"));
    assert_eq!(&back, set, "round trip through {json:?}");
    assert_eq!(back.to_json(), json);
}

fn import(text: &str, set: &TokenSet) {
    let _ = set.remaining_secs(now_unix());
    let store = TokenStore::new(
        7,
        &set.client_id,
        &set.token_url,
        Duration::from_secs(300),
        oauthmail::lang::Lang::En,
        None,
    )
    .expect("a store without a token file");
    match store.import_json(text, Duration::from_secs(1)) {
        Ok(()) => {
            assert_eq!(&store.snapshot(), set);
            assert_eq!(store.export_json(), set.to_json());
            if let Some((token, expires)) = store.cached() {
                assert_eq!(Some(&token), set.access_token.as_ref());
                assert_eq!(expires, set.expires_at.unwrap_or(i64::MAX / 2));
            }
        }
        // older than the empty set the store starts with (version 0, updated_at 0)
        Err(e) => {
            check_error_status(&e, Status::StaleTokens);
            assert!((set.version, set.updated_at) < (0, 0), "{e}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    // 1. the host's token set
    match TokenSet::from_json(text) {
        Ok(set) => {
            assert_eq!(set.format, FORMAT);
            round_trip(&set);
            set.check_import(&set).expect("a set may replace itself");
            import(text, &set);
        }
        Err(e) => check_error_status(&e, Status::InvalidArgument),
    }

    // 2. the provider's token response
    if let Ok(resp) = serde_json::from_str::<BasicTokenResponse>(text) {
        let before = now_unix();
        for config in configs() {
            let previous = TokenSet::empty(&config.client_id, config.token_url.as_str());
            let set = token_set_from(config, &resp, &previous);
            let expires = set.expires_at.expect("a response's set has an expiry");
            assert!(
                expires >= before,
                "a token that expired before it was obtained: expires_at {expires}, now {before}"
            );
            round_trip(&set);
        }
    }

    // 3. the provider's error response
    if let Ok(pe) = serde_json::from_str::<ProviderError>(text) {
        let _ = pe.text();
        let _ = pe.aadsts();
        for config in configs() {
            for grant in [
                Grant::Authorize,
                Grant::AuthorizationCode,
                Grant::Refresh,
                Grant::DeviceCode,
                Grant::ClientCredentials,
                Grant::Revoke,
            ] {
                check_error(&classify(config, grant, &pe));
            }
        }
    }
});
