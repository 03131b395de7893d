//! The token-endpoint grants that need no user interaction: refresh, client credentials,
//! revocation. Each returns the new token set or a classified error.

use super::client::{assertion_params, build, map_request_error, token_set_from};
use super::hints::Grant;
use super::http::TokenHttp;
use super::provider_error::ProviderError;
use crate::config::ClientAuth;
use crate::config::{Config, Provider};
use crate::error::{Error, Result};
use crate::tokens::TokenSet;
use oauth2::{RefreshToken, Scope};

/// The scopes of token requests for the main token (never two resources at once).
fn scopes(config: &Config) -> Vec<Scope> {
    config
        .token_scopes
        .iter()
        .cloned()
        .map(Scope::new)
        .collect()
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
    for (k, v) in assertion_params(config)? {
        req = req.add_extra_param(k, v);
    }
    let resp = req
        .request_async(http)
        .await
        .map_err(|e| map_request_error(config, Grant::Refresh, e, |e| e))?;
    let mut set = token_set_from(config, &resp, current);
    // the other resources' tokens stay valid: same grant
    set.resources = current.resources.clone();
    Ok(set)
}

/// An access token for another resource than the main one (Microsoft Graph beside Outlook):
/// the refresh token redeemed with that resource's `scopes` (rotated like any refresh), or
/// for app-only accounts a client-credentials request with them. The main token is kept.
pub async fn resource_token(
    config: &Config,
    http: &TokenHttp,
    current: &TokenSet,
    resource: crate::config::Resource,
    scopes: &[String],
) -> Result<TokenSet> {
    let client = build(config, None)?;
    let scopes = scopes.iter().cloned().map(Scope::new);
    let mut extra = assertion_params(config)?;
    let resp = if config.is_app_only() {
        let mut req = client
            .exchange_client_credentials()
            .map_err(|e| Error::config(e.to_string()))?
            .add_scopes(scopes);
        for (k, v) in extra.drain(..) {
            req = req.add_extra_param(k, v);
        }
        req.request_async(http)
            .await
            .map_err(|e| map_request_error(config, Grant::ClientCredentials, e, |e| e))?
    } else {
        let rt = current
            .refresh_token
            .clone()
            .ok_or_else(|| super::hints::no_refresh_token(config.language))?;
        let rt = RefreshToken::new(rt);
        let mut req = client
            .exchange_refresh_token(&rt)
            .map_err(|e| Error::config(e.to_string()))?
            .add_scopes(scopes);
        for (k, v) in extra.drain(..) {
            req = req.add_extra_param(k, v);
        }
        req.request_async(http)
            .await
            .map_err(|e| map_request_error(config, Grant::Refresh, e, |e| e))?
    };
    let fresh = token_set_from(config, &resp, current);
    let mut set = current.clone();
    set.version = fresh.version;
    set.updated_at = fresh.updated_at;
    if !config.is_app_only() {
        set.refresh_token = fresh.refresh_token;
    }
    set.resources.insert(
        resource.key().to_string(),
        crate::tokens::token_set::ResourceToken {
            access_token: fresh.access_token.unwrap_or_default(),
            expires_at: fresh.expires_at.unwrap_or(fresh.updated_at),
            obtained_at: crate::tokens::token_set::now_unix(),
            scope: fresh.scope,
        },
    );
    Ok(set)
}

/// Obtains an app-only token (client credentials grant).
pub async fn client_credentials(
    config: &Config,
    http: &TokenHttp,
    current: &TokenSet,
) -> Result<TokenSet> {
    let client = build(config, None)?;
    let mut req = client
        .exchange_client_credentials()
        .map_err(|e| Error::config(e.to_string()))?
        .add_scopes(scopes(config));
    for (k, v) in assertion_params(config)? {
        req = req.add_extra_param(k, v);
    }
    let resp = req
        .request_async(http)
        .await
        .map_err(|e| map_request_error(config, Grant::ClientCredentials, e, |e| e))?;
    let mut set = token_set_from(config, &resp, current);
    set.refresh_token = None; // app-only access never uses one
    set.resources = current.resources.clone();
    Ok(set)
}

/// Revokes the refresh token (else the access token) at the provider's revocation endpoint
/// (RFC 7009). `Ok(false)` when the provider has none (Microsoft) or there is nothing to revoke.
///
/// The request is built here rather than by the `oauth2` crate, which refuses a plain-HTTP
/// endpoint even where the configuration allows one (`allow_insecure_transport`, checked by
/// [`Config`] validation).
pub async fn revoke(config: &Config, http: &TokenHttp, current: &TokenSet) -> Result<bool> {
    use oauth2::AsyncHttpClient;
    let Some(url) = &config.revocation_url else {
        return Ok(false);
    };
    let (token, hint) = match (&current.refresh_token, &current.access_token) {
        (Some(rt), _) => (rt.as_str(), "refresh_token"),
        (None, Some(at)) => (at.as_str(), "access_token"),
        (None, None) => return Ok(false),
    };
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token)
        .append_pair("token_type_hint", hint);
    let mut request = oauth2::http::Request::builder()
        .method(oauth2::http::Method::POST)
        .uri(url.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    match config.client_auth {
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: both parts form-encoded, then base64
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!(
                "{}:{}",
                enc(&config.client_id),
                enc(config.client_secret.as_deref().unwrap_or(""))
            );
            use base64::Engine;
            request = request.header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
            );
        }
        ClientAuth::RequestBody => {
            form.append_pair("client_id", &config.client_id);
            if let Some(secret) = &config.client_secret {
                form.append_pair("client_secret", secret);
            }
        }
    }
    let request = request
        .body(form.finish().into_bytes())
        .map_err(|e| Error::config(format!("configuration key `revocation_url`: {e}")))?;
    let resp = http.call(request).await.map_err(|e| e.0)?;
    if resp.status().is_success() {
        return Ok(true);
    }
    let pe =
        serde_json::from_slice::<ProviderError>(resp.body()).unwrap_or_else(|_| ProviderError {
            error: format!("HTTP {}", resp.status().as_u16()),
            error_description: Some(
                String::from_utf8_lossy(resp.body())
                    .chars()
                    .take(200)
                    .collect(),
            ),
            ..Default::default()
        });
    Err(super::hints::classify(config, Grant::Revoke, &pe))
}
