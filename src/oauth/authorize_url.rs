//! The authorization URL: response_type=code, client_id, state, PKCE S256 challenge, the exact
//! redirect URI, scopes and the preset's extra parameters.

use super::client::build;
use crate::config::Config;
use crate::error::{Error, Result};
use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope};

/// The secrets of one authorization attempt.
pub struct AuthorizationRequest {
    pub url: String,
    pub state: String,
    pub verifier: String,
    pub redirect_uri: String,
}

/// A new request with a random state (32 bytes) and PKCE verifier (32 bytes, S256).
pub fn new_request(config: &Config, redirect_uri: &str) -> Result<AuthorizationRequest> {
    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = CsrfToken::new_random_len(32).secret().clone();
    with_secrets(config, redirect_uri, state, verifier.secret().clone())
}

/// The request for given `state` and `verifier` (tests pin them to compare exact URLs).
pub fn with_secrets(
    config: &Config,
    redirect_uri: &str,
    state: String,
    verifier: String,
) -> Result<AuthorizationRequest> {
    let client = build(config, Some(redirect_uri))?;
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
    let st = state.clone();
    let mut req = client
        .authorize_url(move || CsrfToken::new(st))
        .map_err(|e| Error::config(format!("configuration key `authorize_url`: {e}")))?
        .add_scopes(config.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    for (k, v) in &config.extra_authorize_params {
        req = req.add_extra_param(k.clone(), v.clone());
    }
    let (url, _) = req.url();
    Ok(AuthorizationRequest {
        url: url.to_string(),
        state,
        verifier,
        redirect_uri: redirect_uri.to_string(),
    })
}
