//! Redirect URLs, from the admin and from the browser:
//!
//! 1. the configured `redirect_uri` (with and without `redirect_port`):
//!    `config::redirect::RedirectUri::parse`, and the URI it sends for a chosen port;
//! 2. the final redirect URL the user pastes (`om_authorize_complete`), read as
//!    `authorize::code_flow::complete_with_url` does (`url::Url::parse` of the trimmed text, the
//!    query pairs), and for an `error=` redirect the provider error hints
//!    (`oauth::hints::classify`) and the page shown in the browser (`result_page::render`).
//!
//! Asserts: no panic; a refused `redirect_uri` is InvalidConfig naming the key; an accepted
//! one re-parses to the same host and path from what it sends; the result page never carries
//! markup from the URL (the provider's text is escaped).

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthmail::config::RedirectUri;
use oauthmail::oauth::hints::{classify, Grant};
use oauthmail::oauth::provider_error::ProviderError;
use oauthmail::oauth::result_page;
use oauthmail::Status;
use oauthmail_fuzz::{check_error, check_error_status, configs};
use std::collections::HashMap;

fn configured(text: &str) {
    for port_override in [None, Some(0), Some(3017)] {
        let r = match RedirectUri::parse(text, port_override) {
            Ok(r) => r,
            Err(e) => {
                check_error_status(&e, Status::InvalidConfig);
                assert!(e.message.contains("redirect_uri"), "{e}");
                continue;
            }
        };
        assert!(r.path.starts_with('/'), "{r:?}");
        if let (Some(p), Some(q)) = (port_override, r.port) {
            assert_eq!(p, q, "{r:?}");
        }
        // what is sent, for every port the listener may get, parses back the same
        for port in [1u16, 3017, 65535] {
            let sent = r.uri_for_port(port);
            let again = RedirectUri::parse(&sent, None)
                .unwrap_or_else(|e| panic!("{sent:?}, sent for {r:?}, is refused: {e}"));
            assert_eq!(
                (again.host, &again.path),
                (r.host, &r.path),
                "{sent:?} for {r:?}"
            );
            if r.port.is_none() {
                assert_eq!(again.port, Some(port), "{sent:?} for {r:?}");
            }
        }
        if port_override.is_none() {
            let again = RedirectUri::parse(&r.configured, None).expect("configured re-parses");
            assert_eq!(
                (again.host, again.port, &again.path),
                (r.host, r.port, &r.path)
            );
        }
    }
}

fn pasted(text: &str) {
    // complete_with_url
    let Ok(url) = url::Url::parse(text.trim()) else {
        return;
    };
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let Some(error) = params.get("error") else {
        return;
    };
    let pe = ProviderError {
        error: error.clone(),
        error_description: params.get("error_description").cloned(),
        error_uri: params.get("error_uri").cloned(),
        ..Default::default()
    };
    for config in configs() {
        let e = classify(config, Grant::Authorize, &pe);
        check_error(&e);
        let l = config.language;
        let empty = result_page::render(l, Err(""));
        for shown in [e.full_text(), e.message.clone()] {
            let page = result_page::render(l, Err(&shown));
            for c in ['<', '>', '"', '\''] {
                assert_eq!(
                    page.matches(c).count(),
                    empty.matches(c).count(),
                    "{c:?} from the URL reached the result page unescaped: {page}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // both come through the C ABI as UTF-8
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    configured(text);
    pasted(text);
});
