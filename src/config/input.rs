//! The configuration JSON as the host sends it, before presets are applied.
//!
//! Keys mirror what the admin fills in (see the CRM's setup sheet FTC030). Unknown keys and
//! wrong types are rejected with a message naming the key.

use crate::lang::Lang;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Gmail,
    Office365,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    AuthorizationCode,
    DeviceCode,
    ClientCredentials,
    /// A Google service account acting for a user of its domain (domain-wide delegation).
    ServiceAccount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body (Google, Microsoft).
    RequestBody,
    /// HTTP Basic authentication (RFC 6749 §2.3.1).
    Basic,
}

/// The platform of the app registration (Azure: "Web" makes a confidential client that must send
/// its secret; "Mobile and desktop applications" a public client that must not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppType {
    Web,
    Desktop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
    /// Microsoft Graph (HTTPS), incoming and outgoing.
    Graph,
    /// The Gmail API (HTTPS), incoming and outgoing.
    GmailApi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    Tls,
    Starttls,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerAuth {
    Oauth2,
    Password,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaslMechanism {
    Xoauth2,
    Oauthbearer,
}

/// Scopes as a JSON array or one space-separated string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ScopesInput {
    List(Vec<String>),
    Text(String),
}

impl ScopesInput {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            ScopesInput::List(v) => v,
            ScopesInput::Text(s) => s.split_whitespace().map(str::to_string).collect(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerInput {
    pub protocol: Option<Protocol>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<Security>,
    pub auth: Option<ServerAuth>,
    pub sasl_mechanism: Option<SaslMechanism>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccountOptions {
    /// "Se mettre en copie des mails envoyés": the account's own address as a hidden recipient.
    #[serde(default)]
    pub copy_to_self: bool,
    /// "En réception, filtrer les mails déjà acquis": fetch only mail not fetched before.
    #[serde(default = "default_true")]
    pub skip_fetched: bool,
    /// IMAP over implicit TLS: on a server already met in this process, send the OAuth2
    /// AUTHENTICATE right behind the TLS handshake, before the greeting, with the capabilities
    /// it announced then (one or two round trips fewer). `false` waits for the greeting (for a
    /// server that refuses clients talking first).
    #[serde(default = "default_true")]
    pub early_login: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigInput {
    pub provider: Provider,
    pub flow: Option<Flow>,
    /// Required, except for `service_account` (the key file has it).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_auth: Option<ClientAuth>,
    pub app_type: Option<AppType>,
    pub tenant: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub device_authorization_url: Option<String>,
    pub revocation_url: Option<String>,
    pub scopes: Option<ScopesInput>,
    pub extra_authorize_params: Option<BTreeMap<String, String>>,
    pub redirect_uri: Option<String>,
    pub redirect_port: Option<u16>,
    pub email: Option<String>,
    pub username: Option<String>,
    pub login_user: Option<String>,
    pub incoming: Option<ServerInput>,
    pub outgoing: Option<ServerInput>,
    pub timeout_secs: Option<u32>,
    pub authorize_timeout_secs: Option<u32>,
    pub refresh_margin_secs: Option<u32>,
    pub ca_certs_pem: Option<String>,
    pub ca_certs_file: Option<String>,
    pub language: Option<Lang>,
    pub open_browser: Option<bool>,
    pub browser_command: Option<Vec<String>>,
    pub token_file: Option<String>,
    pub state_file: Option<String>,
    pub allow_insecure_transport: Option<bool>,
    pub token_retries: Option<u32>,
    pub max_message_mb: Option<u32>,
    /// `"system"` (default), `"none"`, or `http://[user:password@]host:port` /
    /// `socks5://[user:password@]host:port` for every connection.
    pub proxy: Option<String>,
    pub options: Option<AccountOptions>,
    /// Microsoft Graph's base URL (default `https://graph.microsoft.com/v1.0`).
    pub graph_url: Option<String>,
    /// The Gmail API's base URL (default `https://gmail.googleapis.com/gmail/v1`) and its media
    /// upload URL (default: the same host's `/upload/gmail/v1`).
    pub gmail_api_url: Option<String>,
    pub gmail_upload_url: Option<String>,
    /// Scopes of the Graph token when it cannot be the account's main token (Office 365: set
    /// by the preset).
    pub graph_scopes: Option<ScopesInput>,
    /// Scopes of the mail servers' token when Graph has the main one.
    pub mail_scopes: Option<ScopesInput>,
    /// The mailbox Graph acts on for app-only accounts (`/users/{mailbox}`); default `email`.
    pub mailbox: Option<String>,
    /// `service_account`: the Google key file (path), or its JSON text.
    pub service_account_key_file: Option<String>,
    pub service_account_key: Option<String>,
    /// `service_account`: the user to act as (default `email`).
    pub subject: Option<String>,
    /// Certificate credentials instead of `client_secret`: the certificate (PEM) and its private
    /// key (PEM, PKCS#8 or PKCS#1).
    pub client_certificate_file: Option<String>,
    pub client_key_file: Option<String>,
    /// Or the certificate and key in one PFX / PKCS#12 file, with its password.
    pub client_pfx_file: Option<String>,
    pub client_pfx_password: Option<String>,
}

/// Parses the host's JSON, naming the offending key on error.
pub fn parse(json: &str) -> crate::Result<ConfigInput> {
    crate::json::parse(json, "configuration", crate::Status::InvalidConfig)
}
