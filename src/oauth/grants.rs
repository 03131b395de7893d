//! The token-endpoint grants that need no user interaction: refresh, client credentials,
//! revocation. Each returns the new token set or a classified error.

use super::client::{build, map_request_error, token_set_from};
use super::hints::Grant;
use super::http::TokenHttp;
use crate::config::{Config, Provider};
use crate::error::{Error, Result};
use crate::tokens::TokenSet;
use oauth2::{RefreshToken, Scope, StandardRevocableToken};

fn scopes(config: &Config) -> Vec<Scope> {
    config.scopes.iter().cloned().map(Scope::new).collect()
}

/// Exchanges the refresh token for a new access token (and, with rotation, a new refresh token).
pub async fn refresh(config: &Config, http: &TokenHttp, current: &TokenSet) -> Result<TokenSet> {
    let rt = current
        .refresh_token
        .clone()
        .ok_or_else(|| super::hints::no_refresh_token(config.language))?;
    let client = build(config, None)?;
    let rt = RefreshToken::new(rt);
    let mut req = client
        .exchange_refresh_token(&rt)
        .map_err(|e| Error::config(e.to_string()))?;
    if config.provider == Provider::Office365 {
        // Microsoft v2 expects the scopes again on refresh
        req = req.add_scopes(scopes(config));
    }
    let resp = req
        .request_async(http)
        .await
        .map_err(|e| map_request_error(config, Grant::Refresh, e, |e| e))?;
    Ok(token_set_from(config, &resp, current))
}

/// Obtains an app-only token (client credentials grant).
pub async fn client_credentials(
    config: &Config,
    http: &TokenHttp,
    current: &TokenSet,
) -> Result<TokenSet> {
    let client = build(config, None)?;
    let resp = client
        .exchange_client_credentials()
        .map_err(|e| Error::config(e.to_string()))?
        .add_scopes(scopes(config))
        .request_async(http)
        .await
        .map_err(|e| map_request_error(config, Grant::ClientCredentials, e, |e| e))?;
    let mut set = token_set_from(config, &resp, current);
    set.refresh_token = None; // app-only access never uses one
    Ok(set)
}

/// Revokes the refresh token (else the access token) at the provider's revocation endpoint.
/// `Ok(false)` when the provider has none (Microsoft).
pub async fn revoke(config: &Config, http: &TokenHttp, current: &TokenSet) -> Result<bool> {
    if config.revocation_url.is_none() {
        return Ok(false);
    }
    let token = match (&current.refresh_token, &current.access_token) {
        (Some(rt), _) => StandardRevocableToken::RefreshToken(RefreshToken::new(rt.clone())),
        (None, Some(at)) => {
            StandardRevocableToken::AccessToken(oauth2::AccessToken::new(at.clone()))
        }
        (None, None) => return Ok(false),
    };
    let client = build(config, None)?;
    client
        .revoke_token(token)
        .map_err(|e| Error::config(e.to_string()))?
        .request_async(http)
        .await
        .map_err(|e| {
            map_request_error(config, Grant::Revoke, e, |e| {
                super::provider_error::ProviderError {
                    error: e.error().to_string(),
                    error_description: e.error_description().cloned(),
                    error_uri: e.error_uri().cloned(),
                    ..Default::default()
                }
            })
        })?;
    Ok(true)
}
