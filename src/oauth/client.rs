//! The `oauth2` crate's client, built from an account's configuration, and the conversion of
//! its token responses into our [`TokenSet`].

use super::hints::{classify, Grant};
use super::http::HttpError;
use super::provider_error::ProviderError;
use crate::config::{ClientAuth, Config};
use crate::error::{Error, Status};
use crate::tokens::token_set::now_unix;
use crate::tokens::TokenSet;
use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenResponse,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, DeviceAuthorizationUrl, EndpointMaybeSet,
    EndpointNotSet, RequestTokenError, RevocationUrl, StandardRevocableToken, TokenResponse,
    TokenUrl,
};

pub type OmClient = oauth2::Client<
    ProviderError,
    BasicTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointMaybeSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Access-token lifetime assumed when the provider sends no `expires_in`.
pub const DEFAULT_LIFETIME_SECS: i64 = 3600;

/// The oauth2 client for `config`; `redirect_uri` is set by the code flow.
pub fn build(config: &Config, redirect_uri: Option<&str>) -> crate::Result<OmClient> {
    let bad =
        |key: &str, e: url::ParseError| Error::config(format!("configuration key `{key}`: {e}"));
    let mut client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
        .set_auth_uri_option(
            config
                .authorize_url
                .as_ref()
                .map(|u| AuthUrl::new(u.to_string()))
                .transpose()
                .map_err(|e| bad("authorize_url", e))?,
        )
        .set_token_uri_option(Some(
            TokenUrl::new(config.token_url.to_string()).map_err(|e| bad("token_url", e))?,
        ))
        .set_device_authorization_url_option(
            config
                .device_authorization_url
                .as_ref()
                .map(|u| DeviceAuthorizationUrl::new(u.to_string()))
                .transpose()
                .map_err(|e| bad("device_authorization_url", e))?,
        )
        .set_revocation_url_option(
            config
                .revocation_url
                .as_ref()
                .map(|u| RevocationUrl::new(u.to_string()))
                .transpose()
                .map_err(|e| bad("revocation_url", e))?,
        )
        .set_auth_type(match config.client_auth {
            ClientAuth::RequestBody => AuthType::RequestBody,
            ClientAuth::Basic => AuthType::BasicAuth,
        });
    if let Some(secret) = &config.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.clone()));
    }
    if let Some(uri) = redirect_uri {
        client = client.set_redirect_uri(
            oauth2::RedirectUrl::new(uri.to_string()).map_err(|e| bad("redirect_uri", e))?,
        );
    }
    Ok(client)
}

/// The parameters that authenticate the client by its certificate (a fresh signed
/// `client_assertion` for the token endpoint); none when it uses a secret or nothing.
pub fn assertion_params(config: &Config) -> crate::Result<Vec<(&'static str, String)>> {
    match &config.client_certificate {
        None => Ok(Vec::new()),
        Some(c) => Ok(vec![
            (
                "client_assertion_type",
                super::client_assertion::ASSERTION_TYPE.to_string(),
            ),
            (
                "client_assertion",
                c.assertion(&config.client_id, config.token_url.as_str())?,
            ),
        ]),
    }
}

/// A new token set from a token response; `previous` supplies the refresh token when the
/// response carries none (providers that do not rotate) and the version to grow.
pub fn token_set_from(config: &Config, resp: &BasicTokenResponse, previous: &TokenSet) -> TokenSet {
    let now = now_unix();
    let lifetime = resp
        .expires_in()
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(DEFAULT_LIFETIME_SECS);
    TokenSet {
        format: crate::tokens::token_set::FORMAT,
        version: previous.version.saturating_add(1),
        updated_at: now.max(previous.updated_at),
        client_id: config.client_id.clone(),
        token_url: config.token_url.to_string(),
        access_token: Some(resp.access_token().secret().clone()),
        expires_at: Some(now.saturating_add(lifetime)),
        refresh_token: resp
            .refresh_token()
            .map(|r| r.secret().clone())
            .or_else(|| previous.refresh_token.clone()),
        scope: resp
            .scopes()
            .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
        token_type: Some("Bearer".into()),
        resources: Default::default(),
    }
}

/// Maps an `oauth2` request error to ours.
pub fn map_request_error<TE>(
    config: &Config,
    grant: Grant,
    err: RequestTokenError<HttpError, TE>,
    to_provider: impl FnOnce(TE) -> ProviderError,
) -> Error
where
    TE: oauth2::ErrorResponse + 'static,
{
    match err {
        RequestTokenError::ServerResponse(e) => classify(config, grant, &to_provider(e)),
        RequestTokenError::Request(HttpError(e)) => e,
        RequestTokenError::Parse(e, body) => {
            let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            Error::new(
                Status::ProviderError,
                format!(
                    "the token endpoint {} sent a reply that is not an OAuth2 response ({e})",
                    config.token_url
                ),
            )
            .with_detail(snippet)
        }
        RequestTokenError::Other(msg) => Error::new(
            Status::ProviderError,
            format!(
                "the token endpoint {} sent an unexpected reply: {msg}",
                config.token_url
            ),
        ),
    }
}

/// For oauth2's standard error responses (device flow).
pub fn standard_to_provider<T: oauth2::ErrorResponseType + std::fmt::Display>(
    e: oauth2::StandardErrorResponse<T>,
) -> ProviderError {
    ProviderError {
        error: e.error().to_string(),
        error_description: e.error_description().cloned(),
        error_uri: e.error_uri().cloned(),
        ..Default::default()
    }
}
