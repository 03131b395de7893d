//! The device authorization grant (RFC 8628): the host shows a code and a URL, the user enters
//! it on any device, and the library polls the token endpoint honouring `interval` and
//! `slow_down` (the `oauth2` crate's poller) until the user is done, denies, or the code expires.

use crate::account::Account;
use crate::config::Provider;
use crate::error::{Error, Result, Status};
use crate::log::Level;
use crate::oauth::client::{build, map_request_error, standard_to_provider, token_set_from};
use crate::oauth::flow::{self, FlowHandle, FlowKind};
use crate::oauth::hints::Grant;
use crate::om_log;
use oauth2::{Scope, StandardDeviceAuthorizationResponse};
use std::sync::Arc;

/// Requests a device code and starts polling in the background. Must run inside the runtime.
pub async fn start(account: &Arc<Account>) -> Result<String> {
    check_supported(&account.config)?;
    let config = &account.config;
    account.flow.end_current().await;
    let client = build(config, None)?;
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .map_err(|e| Error::config(e.to_string()))?
        .add_scopes(config.scopes.iter().cloned().map(Scope::new))
        .request_async(&account.http)
        .await
        .map_err(|e| map_request_error(config, Grant::DeviceCode, e, |e| e))?;
    crate::redact::register(account.id, "device_code", details.device_code().secret());
    let out = serde_json::json!({
        "user_code": details.user_code().secret(),
        "verification_uri": details.verification_uri().as_str(),
        "verification_uri_complete": details.verification_uri_complete().map(|u| u.secret().clone()),
        "expires_in": details.expires_in().as_secs(),
        "interval": details.interval().as_secs(),
    });
    let shared = flow::new_shared(&account.cancel_token());
    let acc = account.clone();
    let sh = shared.clone();
    let task = tokio::spawn(async move {
        let result = tokio::select! {
            _ = sh.cancel.cancelled() => Err(Error::new(Status::Cancelled, acc.config.language.pick("The authorization was cancelled", "L'autorisation a été annulée"))),
            r = poll(&acc, &details) => r,
        };
        if sh.claim() {
            match &result {
                Ok(()) => om_log!(
                    Level::Info,
                    "account {}: device authorization complete",
                    acc.id
                ),
                Err(e) => om_log!(
                    Level::Warn,
                    "account {}: device authorization failed: {}",
                    acc.id,
                    e
                ),
            }
            sh.finish(result);
        }
    });
    account.flow.install(FlowHandle {
        kind: FlowKind::Device,
        shared,
        task: Some(task),
        code: None,
    });
    Ok(out.to_string())
}

/// Refuses, before any network, what cannot work: no device endpoint, or Gmail.
pub fn check_supported(config: &crate::config::Config) -> Result<()> {
    super::check_interactive(config)?;
    if config.device_authorization_url.is_none() {
        return Err(Error::new(
            Status::Unsupported,
            config.language.pick(
                "This provider has no device authorization endpoint (Google does not allow the Gmail scope in the device flow): use the browser authorization",
                "Ce fournisseur n'a pas de point d'autorisation d'appareil (Google n'autorise pas la portée Gmail dans ce flux) : utilisez l'autorisation par navigateur",
            ),
        ));
    }
    if config.provider == Provider::Gmail {
        return Err(Error::new(
            Status::Unsupported,
            "Google does not allow the Gmail scope (https://mail.google.com/) in the device flow: use the browser authorization",
        ));
    }
    Ok(())
}

async fn poll(account: &Account, details: &StandardDeviceAuthorizationResponse) -> Result<()> {
    let config = &account.config;
    let client = build(config, None)?;
    let resp = client
        .exchange_device_access_token(details)
        .map_err(|e| Error::config(e.to_string()))?
        .request_async(&account.http, tokio::time::sleep, None)
        .await
        .map_err(|e| map_request_error(config, Grant::DeviceCode, e, standard_to_provider))?;
    let set = token_set_from(config, &resp, &account.token_set());
    account.store(set, "obtained by device authorization").await
}
