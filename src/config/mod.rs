//! Account configuration: what the admin fills in, completed by the provider's preset.
//!
//! [`Config::from_json`] parses the host's JSON ([`input`]), applies the preset ([`preset`]) and
//! validates the result. [`masked`] renders the effective configuration with secrets hidden, and
//! [`registration`] looks for the known registration mistakes before the user clicks.

pub mod input;
pub mod masked;
pub mod preset;
pub mod redirect;
pub mod registration;
pub mod resource;

pub use input::{
    AccountOptions, AppType, ClientAuth, Flow, Protocol, Provider, SaslMechanism, Security,
    ServerAuth,
};
pub use redirect::RedirectUri;
pub use resource::Resource;

use crate::error::{Error, Result};
use crate::lang::Lang;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

/// A mail server, completed by the preset.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Server {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub auth: ServerAuth,
    pub sasl_mechanism: SaslMechanism,
    /// The login (SASL user); defaults to the account's `login_user`, `username` or `email`.
    pub username: Option<String>,
    pub password: Option<String>,
}

/// The effective configuration of one account.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub provider: Provider,
    pub flow: Flow,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub client_auth: ClientAuth,
    pub app_type: Option<AppType>,
    pub tenant: Option<String>,
    pub authorize_url: Option<Url>,
    pub token_url: Url,
    pub device_authorization_url: Option<Url>,
    pub revocation_url: Option<Url>,
    pub scopes: Vec<String>,
    pub extra_authorize_params: Vec<(String, String)>,
    pub redirect_uri: RedirectUri,
    pub email: Option<String>,
    pub username: Option<String>,
    pub login_user: Option<String>,
    pub incoming: Option<Server>,
    pub outgoing: Option<Server>,
    #[serde(serialize_with = "ser_secs")]
    pub timeout: Duration,
    #[serde(serialize_with = "ser_secs")]
    pub authorize_timeout: Duration,
    #[serde(serialize_with = "ser_secs")]
    pub refresh_margin: Duration,
    /// Extra trusted CA certificates (PEM), beside the operating system's store.
    pub ca_certs_pem: Option<String>,
    pub language: Lang,
    pub open_browser: bool,
    pub browser_command: Option<Vec<String>>,
    pub token_file: Option<String>,
    /// Keep the fetch state (what was fetched already) in this file.
    pub state_file: Option<String>,
    pub allow_insecure_transport: bool,
    pub token_retries: u32,
    /// Largest message fetched, in MiB (`max_message_mb`): the memory one message may take.
    pub max_message_mb: u32,
    /// How connections reach the servers (shown with its password hidden).
    pub proxy: crate::mail::proxy::Proxy,
    pub options: AccountOptions,
    /// Microsoft Graph, when a server's protocol is `graph`.
    pub graph: Option<GraphSettings>,
    /// The Gmail API, when a server's protocol is `gmail_api`.
    pub gmail_api: Option<GmailApiSettings>,
    /// The scopes of token requests for the account's main token (refresh, client credentials,
    /// and Microsoft's code exchange): `scopes` less the other resources' scopes, which the
    /// authorization asks consent for but one token request cannot mix.
    pub token_scopes: Vec<String>,
    /// Resources whose tokens are requested apart from the main token, with their scopes.
    pub resource_scopes: BTreeMap<Resource, Vec<String>>,
    /// `flow: service_account`: the key and the user.
    pub service_account: Option<ServiceAccountSettings>,
    /// Certificate credentials (a signed client assertion instead of the secret).
    #[serde(serialize_with = "ser_certificate")]
    pub client_certificate:
        Option<std::sync::Arc<crate::oauth::client_assertion::ClientCertificate>>,
}

/// The certificate as the masked configuration shows it: where from, and its thumbprint.
fn ser_certificate<S: serde::Serializer>(
    c: &Option<std::sync::Arc<crate::oauth::client_assertion::ClientCertificate>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match c {
        None => s.serialize_none(),
        Some(c) => serde_json::json!({"source": c.source, "x5t#S256": c.thumbprint}).serialize(s),
    }
}

/// A Google service account and the user it acts as.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceAccountSettings {
    /// The key file's content (the private key is never shown: not serialized).
    #[serde(skip)]
    pub key: crate::oauth::service_account::KeyFile,
    pub client_email: String,
    pub private_key_id: String,
    /// Where the key came from: the file's path, or "service_account_key".
    pub key_from: String,
    /// The user of the domain to act as (`sub`).
    pub subject: Option<String>,
}

/// Where the Gmail API is called.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GmailApiSettings {
    /// e.g. `https://gmail.googleapis.com/gmail/v1` (no trailing slash).
    pub url: String,
    /// e.g. `https://gmail.googleapis.com/upload/gmail/v1` (media uploads of large messages).
    pub upload_url: String,
}

/// Where and as whom Microsoft Graph is called.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GraphSettings {
    /// The service root, e.g. `https://graph.microsoft.com/v1.0` (no trailing slash).
    pub url: String,
    /// App-only accounts: the mailbox acted on (`/users/{mailbox}`); delegated ones use `/me`.
    pub mailbox: Option<String>,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl Config {
    /// Parses, completes and validates a configuration JSON.
    pub fn from_json(json: &str) -> Result<Config> {
        let input = input::parse(json)?;
        let config = preset::apply(input)?;
        config.validate()?;
        Ok(config)
    }

    /// The incoming server's host name ("" when there is none).
    pub fn incoming_host(&self) -> String {
        self.incoming
            .as_ref()
            .map(|s| s.host.clone())
            .unwrap_or_default()
    }

    /// The identity the mail servers see (SASL `user=`): `login_user`, else `username`, else
    /// `email`.
    pub fn sasl_user(&self) -> Option<&str> {
        self.login_user
            .as_deref()
            .or(self.username.as_deref())
            .or(self.email.as_deref())
    }

    /// The largest message fetched, in bytes.
    pub fn max_message_bytes(&self) -> u64 {
        u64::from(self.max_message_mb) << 20
    }

    /// The scopes of a separate token for `resource`, or `None` when the main token serves it.
    pub fn separate_scopes(&self, resource: Resource) -> Option<&[String]> {
        self.resource_scopes.get(&resource).map(Vec::as_slice)
    }

    /// True when the incoming or outgoing server is Microsoft Graph.
    pub fn uses_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// True when tokens come from the client-credentials grant (no user, no refresh token).
    pub fn is_app_only(&self) -> bool {
        self.flow == Flow::ClientCredentials
    }

    /// True when no refresh token is used: a new token is requested instead (client
    /// credentials, a service account's signed assertion).
    pub fn has_no_refresh_token(&self) -> bool {
        matches!(self.flow, Flow::ClientCredentials | Flow::ServiceAccount)
    }

    /// The single-line text values with the key that names each: none may hold a control
    /// character (a NUL would cut the value short in C, CR/LF would inject protocol lines).
    fn single_line_values(&self) -> Vec<(String, &str)> {
        let mut v: Vec<(String, &str)> = vec![("client_id".into(), self.client_id.as_str())];
        let opt = [
            ("client_secret", &self.client_secret),
            ("tenant", &self.tenant),
            ("email", &self.email),
            ("username", &self.username),
            ("login_user", &self.login_user),
            ("token_file", &self.token_file),
            ("state_file", &self.state_file),
        ];
        v.extend(
            opt.iter()
                .filter_map(|(k, val)| val.as_deref().map(|s| (k.to_string(), s))),
        );
        if let Some(m) = self.graph.as_ref().and_then(|g| g.mailbox.as_deref()) {
            v.push(("mailbox".into(), m));
        }
        v.extend(
            self.scopes
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("scopes[{i}]"), s.as_str())),
        );
        for (k, val) in &self.extra_authorize_params {
            v.push((format!("extra_authorize_params.{k}"), k.as_str()));
            v.push((format!("extra_authorize_params.{k}"), val.as_str()));
        }
        for (key, server) in [("incoming", &self.incoming), ("outgoing", &self.outgoing)] {
            if let Some(s) = server {
                v.push((format!("{key}.host"), s.host.as_str()));
                for (k, val) in [("username", &s.username), ("password", &s.password)] {
                    if let Some(val) = val {
                        v.push((format!("{key}.{k}"), val.as_str()));
                    }
                }
            }
        }
        if let Some(cmd) = &self.browser_command {
            v.extend(
                cmd.iter()
                    .enumerate()
                    .map(|(i, s)| (format!("browser_command[{i}]"), s.as_str())),
            );
        }
        v
    }

    fn validate(&self) -> Result<()> {
        for (key, value) in self.single_line_values() {
            if let Some(c) = value.chars().find(|c| c.is_control()) {
                return Err(Error::config(format!(
                    "configuration key `{key}`: contains the control character U+{:04X} (a line break, tab or NUL pasted with the value?); remove it",
                    c as u32
                )));
            }
        }
        if self.client_certificate.is_some() && self.flow == Flow::DeviceCode {
            return Err(Error::config(
                "configuration key `client_certificate_file`: certificate credentials are not supported with the device_code flow (a public client flow): use authorization_code or client_credentials",
            ));
        }
        if self.client_certificate.is_some() && self.client_secret.is_some() {
            return Err(Error::config(
                "configuration keys `client_secret` and `client_certificate_file`: give one of them, not both",
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(Error::config(
                "configuration key `client_id`: must not be empty",
            ));
        }
        for (key, url) in [
            ("authorize_url", self.authorize_url.as_ref()),
            ("token_url", Some(&self.token_url)),
            (
                "device_authorization_url",
                self.device_authorization_url.as_ref(),
            ),
            ("revocation_url", self.revocation_url.as_ref()),
        ] {
            if let Some(url) = url {
                check_endpoint(key, url, self.allow_insecure_transport)?;
            }
        }
        if let Some(g) = &self.gmail_api {
            for (key, u) in [
                ("gmail_api_url", &g.url),
                ("gmail_upload_url", &g.upload_url),
            ] {
                check_endpoint(key, &parse_url(key, u)?, self.allow_insecure_transport)?;
            }
        }
        if let Some(g) = &self.graph {
            let url = parse_url("graph_url", &g.url)?;
            check_endpoint("graph_url", &url, self.allow_insecure_transport)?;
            if self.is_app_only() && g.mailbox.is_none() {
                return Err(Error::config(
                    "configuration key `mailbox`: an app-only (client_credentials) account calls Microsoft Graph for one mailbox: give its address in `mailbox` or `email`",
                ));
            }
        }
        if self.flow == Flow::ServiceAccount {
            match &self.service_account {
                None => {
                    return Err(Error::config(
                        "flow `service_account`: give the key file in `service_account_key_file` (or its JSON in `service_account_key`)",
                    ))
                }
                Some(sa) if sa.subject.is_none() => {
                    return Err(Error::config(
                        "configuration key `subject`: the user the service account acts as (or `email`)",
                    ))
                }
                Some(_) if self.token_scopes.is_empty() => {
                    return Err(Error::config(
                        "configuration key `scopes`: a service account asks for its scopes itself (e.g. https://mail.google.com/, the ones delegated to it)",
                    ))
                }
                Some(_) => {}
            }
        }
        if self.flow == Flow::AuthorizationCode && self.authorize_url.is_none() {
            return Err(Error::config(
                "configuration key `authorize_url`: required for the authorization_code flow",
            ));
        }
        if self.flow == Flow::DeviceCode && self.device_authorization_url.is_none() {
            return Err(Error::config(
                "configuration key `device_authorization_url`: required for the device_code flow",
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::config(
                "configuration key `timeout_secs`: must be at least 1",
            ));
        }
        if !(1..=preset::MAX_MESSAGE_MB_CEILING).contains(&self.max_message_mb) {
            return Err(Error::config(format!(
                "configuration key `max_message_mb`: between 1 and {} (MiB)",
                preset::MAX_MESSAGE_MB_CEILING
            )));
        }
        if self.authorize_timeout.is_zero() {
            return Err(Error::config(
                "configuration key `authorize_timeout_secs`: must be at least 1",
            ));
        }
        if let Some(cmd) = &self.browser_command {
            if cmd.is_empty() || cmd[0].is_empty() {
                return Err(Error::config(
                    "configuration key `browser_command`: give the program and its arguments, e.g. [\"firefox\"]",
                ));
            }
        }
        for (key, server) in [("incoming", &self.incoming), ("outgoing", &self.outgoing)] {
            if let Some(s) = server {
                if s.host.trim().is_empty() {
                    return Err(Error::config(format!(
                        "configuration key `{key}.host`: required for a custom provider"
                    )));
                }
                if s.security == Security::None && !self.allow_insecure_transport {
                    return Err(Error::config(format!(
                        "configuration key `{key}.security`: \"none\" sends credentials in clear; set allow_insecure_transport to true to allow it (test servers only)"
                    )));
                }
                if s.auth == ServerAuth::Password && s.password.is_none() {
                    return Err(Error::config(format!(
                        "configuration key `{key}.password`: required when `{key}.auth` is \"password\""
                    )));
                }
            }
        }
        if let Some(pem) = &self.ca_certs_pem {
            crate::tls::parse_pem_certs(pem).map_err(|e| {
                Error::config(format!("configuration key `ca_certs_pem`: {}", e.message))
            })?;
        }
        Ok(())
    }
}

/// Endpoints are HTTPS; plain HTTP only on loopback with `allow_insecure_transport`.
fn check_endpoint(key: &str, url: &Url, allow_insecure: bool) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure => Ok(()),
        "http" => Err(Error::config(format!(
            "configuration key `{key}`: {url} is not HTTPS; tokens are only sent over TLS (set allow_insecure_transport for a local test server)"
        ))),
        other => Err(Error::config(format!(
            "configuration key `{key}`: unsupported scheme `{other}` in {url}"
        ))),
    }
}

/// Parses a URL-valued key, naming it on error.
pub(crate) fn parse_url(key: &str, value: &str) -> Result<Url> {
    Url::parse(value.trim()).map_err(|e| {
        Error::config(format!(
            "configuration key `{key}`: `{value}` is not a URL ({e})"
        ))
    })
}
