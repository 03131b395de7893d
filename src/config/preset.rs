//! Provider presets: what Google and Microsoft fix (endpoints, scopes, hosts, ports, extra
//! authorization parameters). Explicit keys in the configuration always win.

use super::input::{ConfigInput, ServerInput};
use super::{
    parse_url, AppType, ClientAuth, Config, Flow, GraphSettings, Protocol, Provider, RedirectUri,
    Resource, SaslMechanism, Security, Server, ServerAuth,
};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::time::Duration;

pub const GOOGLE_AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const GOOGLE_REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";
pub const GOOGLE_MAIL_SCOPE: &str = "https://mail.google.com/";
pub const MICROSOFT_LOGIN_HOST: &str = "login.microsoftonline.com";
pub const OUTLOOK_IMAP_SCOPE: &str = "https://outlook.office.com/IMAP.AccessAsUser.All";
pub const OUTLOOK_POP_SCOPE: &str = "https://outlook.office.com/POP.AccessAsUser.All";
pub const OUTLOOK_SMTP_SCOPE: &str = "https://outlook.office.com/SMTP.Send";
pub const OUTLOOK_APP_SCOPE: &str = "https://outlook.office365.com/.default";
pub const GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
pub const GMAIL_API_URL: &str = "https://gmail.googleapis.com/gmail/v1";
pub const GRAPH_READ_SCOPE: &str = "https://graph.microsoft.com/Mail.ReadWrite";
pub const GRAPH_SEND_SCOPE: &str = "https://graph.microsoft.com/Mail.Send";
pub const GRAPH_APP_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const OFFICE365_REDIRECT: &str = "http://localhost:3017/";
pub const LOOPBACK_REDIRECT: &str = "http://127.0.0.1/";

pub const DEFAULT_TIMEOUT_SECS: u32 = 60;
pub const DEFAULT_AUTHORIZE_TIMEOUT_SECS: u32 = 300;
pub const DEFAULT_REFRESH_MARGIN_SECS: u32 = 300;
pub const DEFAULT_TOKEN_RETRIES: u32 = 2;
/// Largest message fetched by default, in MiB: above Exchange Online's 150 MB with encoding in
/// a 64-bit process; in a 32-bit one (2 GB of address space, shared with the host) a size that
/// a fragmented heap can still give in one piece.
#[cfg(target_pointer_width = "64")]
pub const DEFAULT_MAX_MESSAGE_MB: u32 = 192;
#[cfg(not(target_pointer_width = "64"))]
pub const DEFAULT_MAX_MESSAGE_MB: u32 = 64;
/// The most `max_message_mb` may be set to.
#[cfg(target_pointer_width = "64")]
pub const MAX_MESSAGE_MB_CEILING: u32 = 1024;
#[cfg(not(target_pointer_width = "64"))]
pub const MAX_MESSAGE_MB_CEILING: u32 = 256;

/// Microsoft v2 endpoint for `tenant` (`authorize`, `token` or `devicecode`).
pub fn microsoft_url(tenant: &str, endpoint: &str) -> String {
    format!("https://{MICROSOFT_LOGIN_HOST}/{tenant}/oauth2/v2.0/{endpoint}")
}

/// The tenant segment of a pasted Microsoft v2 URL, e.g. `contoso.onmicrosoft.com`.
pub fn tenant_of_microsoft_url(url: &url::Url) -> Option<String> {
    if url.host_str()? != MICROSOFT_LOGIN_HOST {
        return None;
    }
    url.path_segments()?.next().map(str::to_string)
}

/// Completes `input` with the preset of its provider.
pub fn apply(input: ConfigInput) -> Result<Config> {
    let provider = input.provider;
    let flow = input.flow.unwrap_or(Flow::AuthorizationCode);
    let url = |key: &str, v: &Option<String>| v.as_deref().map(|s| parse_url(key, s)).transpose();
    let mut authorize_url = url("authorize_url", &input.authorize_url)?;
    let mut token_url = url("token_url", &input.token_url)?;
    let mut device_url = url("device_authorization_url", &input.device_authorization_url)?;
    let mut revocation_url = url("revocation_url", &input.revocation_url)?;
    let mut tenant = input.tenant.clone().filter(|t| !t.trim().is_empty());
    let service_account = service_account(&input, flow)?;
    let input_certificate = (
        input.client_certificate_file.clone(),
        input.client_key_file.clone(),
        input.client_pfx_file.clone(),
        input.client_pfx_password.clone(),
    );
    if let Some(sa) = &service_account {
        // the key file names its token endpoint; an explicit `token_url` wins
        if token_url.is_none() {
            if let Some(uri) = sa.key.token_uri.as_deref() {
                token_url = Some(parse_url("service_account_key: token_uri", uri)?);
            }
        }
    }
    let incoming_protocol = input
        .incoming
        .as_ref()
        .and_then(|s| s.protocol)
        .unwrap_or(Protocol::Imap);
    let protocols = Protocols {
        incoming: input.incoming.as_ref().map(|_| incoming_protocol),
        outgoing: input
            .outgoing
            .as_ref()
            .map(|s| s.protocol.unwrap_or(Protocol::Smtp)),
    };
    let mut office365_resources: Option<ResourceScopes> = None;

    let (default_scopes, default_extra, default_redirect, client_auth) = match provider {
        Provider::Gmail => {
            authorize_url.get_or_insert(parse_url("authorize_url", GOOGLE_AUTHORIZE_URL)?);
            token_url.get_or_insert(parse_url("token_url", GOOGLE_TOKEN_URL)?);
            revocation_url.get_or_insert(parse_url("revocation_url", GOOGLE_REVOKE_URL)?);
            (
                vec![GOOGLE_MAIL_SCOPE.to_string()],
                vec![
                    ("access_type".to_string(), "offline".to_string()),
                    ("prompt".to_string(), "consent".to_string()),
                ],
                LOOPBACK_REDIRECT,
                ClientAuth::RequestBody,
            )
        }
        Provider::Office365 => {
            if tenant.is_none() {
                tenant = token_url
                    .as_ref()
                    .or(authorize_url.as_ref())
                    .and_then(tenant_of_microsoft_url);
            }
            let t = tenant.clone().unwrap_or_else(|| "common".to_string());
            authorize_url
                .get_or_insert(parse_url("authorize_url", &microsoft_url(&t, "authorize"))?);
            token_url.get_or_insert(parse_url("token_url", &microsoft_url(&t, "token"))?);
            if device_url.is_none() {
                // the pasted token URL's sibling, or the tenant's
                let derived = token_url
                    .as_ref()
                    .map(|u| u.as_str())
                    .filter(|u| u.ends_with("/token"))
                    .map(|u| format!("{}devicecode", &u[..u.len() - "token".len()]));
                let d = derived.unwrap_or_else(|| microsoft_url(&t, "devicecode"));
                device_url = Some(parse_url("device_authorization_url", &d)?);
            }
            tenant = Some(t);
            let scopes = office365_scopes(flow, &protocols);
            office365_resources = Some(scopes.clone());
            let scopes = scopes.authorize;
            (scopes, vec![], OFFICE365_REDIRECT, ClientAuth::RequestBody)
        }
        Provider::Custom => {
            if token_url.is_none() {
                return Err(Error::config(
                    "configuration key `token_url`: required for a custom provider",
                ));
            }
            (vec![], vec![], LOOPBACK_REDIRECT, ClientAuth::Basic)
        }
    };

    let explicit_scopes = input.scopes.map(|s| s.into_vec()).filter(|v| !v.is_empty());
    let (token_scopes, mut resource_scopes) = match (&explicit_scopes, office365_resources) {
        (None, Some(r)) => (r.token, r.separate),
        (Some(explicit), _) => (explicit.clone(), BTreeMap::new()),
        (None, None) => (default_scopes.clone(), BTreeMap::new()),
    };
    for (resource, given) in [
        (Resource::Graph, input.graph_scopes),
        (Resource::Mail, input.mail_scopes),
    ] {
        if let Some(v) = given.map(|s| s.into_vec()).filter(|v| !v.is_empty()) {
            resource_scopes.insert(resource, v);
        }
    }
    let scopes = explicit_scopes.unwrap_or(default_scopes);
    let mut extra = default_extra;
    for (k, v) in input.extra_authorize_params.unwrap_or_default() {
        extra.retain(|(ek, _)| ek != &k);
        if !v.is_empty() {
            extra.push((k, v));
        }
    }
    if let Some(email) = input.email.as_deref().filter(|e| !e.is_empty()) {
        if provider != Provider::Custom && !extra.iter().any(|(k, _)| k == "login_hint") {
            extra.push(("login_hint".to_string(), email.to_string()));
        }
    }

    let redirect_uri = RedirectUri::parse(
        input.redirect_uri.as_deref().unwrap_or(default_redirect),
        input.redirect_port,
    )?;

    let graph_url = input
        .graph_url
        .as_deref()
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| GRAPH_URL.to_string());
    let graph_host = parse_url("graph_url", &graph_url)?;
    let gmail_url = input
        .gmail_api_url
        .as_deref()
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| GMAIL_API_URL.to_string());
    let gmail_host = parse_url("gmail_api_url", &gmail_url)?;
    let gmail_upload_url = match input.gmail_upload_url.as_deref().map(str::trim) {
        Some(u) if !u.is_empty() => u.trim_end_matches('/').to_string(),
        _ => {
            // Google's upload endpoint: the same host, /upload before the API's path
            let mut u = gmail_host.clone();
            u.set_path(&format!(
                "/upload{}",
                gmail_host.path().trim_end_matches('/')
            ));
            u.to_string().trim_end_matches('/').to_string()
        }
    };
    let host_of = |p: Option<Protocol>| {
        if p == Some(Protocol::GmailApi) {
            &gmail_host
        } else {
            &graph_host
        }
    };
    let incoming_host = host_of(input.incoming.as_ref().and(Some(incoming_protocol))).clone();
    let outgoing_host = host_of(input.outgoing.as_ref().and_then(|s| s.protocol)).clone();
    let incoming = input
        .incoming
        .map(|s| server(provider, "incoming", s, incoming_protocol, &incoming_host))
        .transpose()?;
    let outgoing = input
        .outgoing
        .map(|s| server(provider, "outgoing", s, Protocol::Smtp, &outgoing_host))
        .transpose()?;
    if let Some(s) = &outgoing {
        if !matches!(
            s.protocol,
            Protocol::Smtp | Protocol::Graph | Protocol::GmailApi
        ) {
            return Err(Error::config(
                "configuration key `outgoing.protocol`: use \"smtp\", \"graph\" or \"gmail_api\" for outgoing mail",
            ));
        }
    }
    if let Some(s) = &incoming {
        if s.protocol == Protocol::Smtp {
            return Err(Error::config(
                "configuration key `incoming.protocol`: use \"imap\", \"pop3\", \"graph\" or \"gmail_api\"",
            ));
        }
    }
    let uses_graph = [&incoming, &outgoing]
        .iter()
        .any(|s| s.as_ref().is_some_and(|s| s.protocol == Protocol::Graph));
    let uses_gmail_api = [&incoming, &outgoing]
        .iter()
        .any(|s| s.as_ref().is_some_and(|s| s.protocol == Protocol::GmailApi));
    let gmail_api = uses_gmail_api.then(|| super::GmailApiSettings {
        url: gmail_url.clone(),
        upload_url: gmail_upload_url.clone(),
    });
    let email = input.email.clone().filter(|s| !s.is_empty());
    let graph = uses_graph.then(|| GraphSettings {
        url: graph_url.clone(),
        mailbox: input
            .mailbox
            .clone()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .or_else(|| {
                (flow == Flow::ClientCredentials)
                    .then(|| email.clone())
                    .flatten()
            }),
    });

    let ca_certs_pem =
        match (input.ca_certs_pem, input.ca_certs_file) {
            (Some(pem), None) => Some(pem),
            (None, Some(path)) => Some(std::fs::read_to_string(&path).map_err(|e| {
                Error::config(format!(
                    "configuration key `ca_certs_file`: cannot read {path}: {e}"
                ))
            })?),
            (Some(_), Some(_)) => return Err(Error::config(
                "configuration keys `ca_certs_pem` and `ca_certs_file`: give one of them, not both",
            )),
            (None, None) => None,
        };

    let secs = |v: Option<u32>, d: u32| Duration::from_secs(u64::from(v.unwrap_or(d)));
    Ok(Config {
        provider,
        flow,
        client_id: match (&input.client_id, &service_account) {
            (Some(id), _) if !id.trim().is_empty() => id.trim().to_string(),
            (_, Some(sa)) if !sa.key.client_id.is_empty() => sa.key.client_id.clone(),
            (_, Some(sa)) => sa.client_email.clone(),
            _ => String::new(),
        },
        client_secret: input.client_secret.filter(|s| !s.is_empty()),
        client_auth: input.client_auth.unwrap_or(client_auth),
        app_type: input.app_type.or(match provider {
            // the CRM's sheet registers a "Web" redirect with a secret
            Provider::Office365 => Some(AppType::Web),
            _ => None,
        }),
        tenant,
        authorize_url,
        token_url: token_url.expect("set by every preset"),
        device_authorization_url: device_url,
        revocation_url,
        scopes,
        extra_authorize_params: extra,
        redirect_uri,
        email: input.email.filter(|s| !s.is_empty()),
        username: input.username.filter(|s| !s.is_empty()),
        login_user: input.login_user.filter(|s| !s.is_empty()),
        incoming,
        outgoing,
        timeout: secs(input.timeout_secs, DEFAULT_TIMEOUT_SECS),
        authorize_timeout: secs(input.authorize_timeout_secs, DEFAULT_AUTHORIZE_TIMEOUT_SECS),
        refresh_margin: secs(input.refresh_margin_secs, DEFAULT_REFRESH_MARGIN_SECS),
        ca_certs_pem,
        language: input.language.unwrap_or_default(),
        open_browser: input.open_browser.unwrap_or(true),
        browser_command: input.browser_command,
        token_file: input.token_file.filter(|s| !s.is_empty()),
        state_file: input.state_file.filter(|s| !s.is_empty()),
        allow_insecure_transport: input.allow_insecure_transport.unwrap_or(false),
        token_retries: input.token_retries.unwrap_or(DEFAULT_TOKEN_RETRIES).min(10),
        max_message_mb: input.max_message_mb.unwrap_or(DEFAULT_MAX_MESSAGE_MB),
        proxy: crate::mail::proxy::Proxy::parse(input.proxy.as_deref().unwrap_or(""))?,
        options: input.options.unwrap_or(super::AccountOptions {
            copy_to_self: false,
            skip_fetched: true,
            early_login: true,
        }),
        graph,
        gmail_api,
        token_scopes,
        resource_scopes,
        service_account,
        client_certificate: client_certificate(&input_certificate)?,
    })
}

/// Certificate credentials from `client_certificate_file` + `client_key_file`, or
/// `client_pfx_file` + `client_pfx_password`.
fn client_certificate(
    files: &(
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
) -> Result<Option<std::sync::Arc<crate::oauth::client_assertion::ClientCertificate>>> {
    if let Some(pfx) = &files.2 {
        if files.0.is_some() || files.1.is_some() {
            return Err(Error::config(
                "configuration key `client_pfx_file`: give the PFX, or the certificate and key files, not both",
            ));
        }
        let data = std::fs::read(pfx).map_err(|e| {
            Error::config(format!(
                "configuration key `client_pfx_file`: cannot read {pfx}: {e}"
            ))
        })?;
        let c = crate::oauth::client_assertion::ClientCertificate::from_pfx(
            &data,
            files.3.as_deref().unwrap_or(""),
            pfx,
        )?;
        return Ok(Some(std::sync::Arc::new(c)));
    }
    let read = |key: &str, path: &str| {
        std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "configuration key `{key}`: cannot read {path}: {e}"
            ))
        })
    };
    match (&files.0, &files.1) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let c = crate::oauth::client_assertion::ClientCertificate::from_pem(
                &read("client_certificate_file", cert)?,
                &read("client_key_file", key)?,
                cert,
            )?;
            Ok(Some(std::sync::Arc::new(c)))
        }
        (Some(_), None) => Err(Error::config(
            "configuration key `client_key_file`: the certificate's private key (PEM) is needed with `client_certificate_file`",
        )),
        (None, Some(_)) => Err(Error::config(
            "configuration key `client_certificate_file`: the certificate (PEM) is needed with `client_key_file`",
        )),
    }
}

/// The service account of `flow: service_account`: its key file (path or JSON) and the user.
fn service_account(
    input: &ConfigInput,
    flow: Flow,
) -> Result<Option<super::ServiceAccountSettings>> {
    use crate::oauth::service_account::KeyFile;
    let (text, from) = match (&input.service_account_key_file, &input.service_account_key) {
        (Some(_), Some(_)) => {
            return Err(Error::config(
                "configuration keys `service_account_key_file` and `service_account_key`: give one of them, not both",
            ))
        }
        (Some(path), None) => (
            std::fs::read_to_string(path).map_err(|e| {
                Error::config(format!(
                    "configuration key `service_account_key_file`: cannot read {path}: {e}"
                ))
            })?,
            path.clone(),
        ),
        (None, Some(json)) => (json.clone(), "service_account_key".to_string()),
        (None, None) => return Ok(None),
    };
    if flow != Flow::ServiceAccount {
        return Err(Error::config(
            "configuration key `service_account_key_file`: only with `flow`: \"service_account\"",
        ));
    }
    let what = if from == "service_account_key" {
        "configuration key `service_account_key`".to_string()
    } else {
        format!("configuration key `service_account_key_file` ({from})")
    };
    let key = KeyFile::parse(&text, &what)?;
    let subject = input
        .subject
        .clone()
        .or_else(|| input.email.clone())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(Some(super::ServiceAccountSettings {
        client_email: key.client_email.clone(),
        private_key_id: key.private_key_id.clone(),
        key,
        key_from: from,
        subject,
    }))
}

/// The protocols of the servers configured.
struct Protocols {
    incoming: Option<Protocol>,
    outgoing: Option<Protocol>,
}

impl Protocols {
    fn resource(p: Protocol) -> Resource {
        if p == Protocol::Graph {
            Resource::Graph
        } else {
            Resource::Mail
        }
    }

    /// The resource of the main token: the incoming server's, else the outgoing one's.
    fn main(&self) -> Resource {
        self.incoming
            .or(self.outgoing)
            .map_or(Resource::Mail, Self::resource)
    }

    fn any(&self, p: Protocol) -> bool {
        self.incoming == Some(p) || self.outgoing == Some(p)
    }
}

/// Office 365's scopes: what the authorization asks consent for (every resource needed), the
/// main token's scopes and the other resource's, never mixed in one token request.
#[derive(Clone)]
struct ResourceScopes {
    authorize: Vec<String>,
    token: Vec<String>,
    separate: BTreeMap<Resource, Vec<String>>,
}

fn office365_scopes(flow: Flow, p: &Protocols) -> ResourceScopes {
    let graph_used = p.any(Protocol::Graph);
    let mut by_resource: BTreeMap<Resource, Vec<String>> = BTreeMap::new();
    if flow == Flow::ClientCredentials {
        if graph_used {
            by_resource.insert(Resource::Graph, vec![GRAPH_APP_SCOPE.to_string()]);
        }
        if !graph_used || p.any(Protocol::Imap) || p.any(Protocol::Pop3) || p.any(Protocol::Smtp) {
            by_resource.insert(Resource::Mail, vec![OUTLOOK_APP_SCOPE.to_string()]);
        }
    } else {
        let mut outlook = Vec::new();
        let mut graph = Vec::new();
        match p.incoming {
            Some(Protocol::Graph) => graph.push(GRAPH_READ_SCOPE),
            Some(Protocol::Pop3) => outlook.push(OUTLOOK_POP_SCOPE),
            Some(_) => outlook.push(OUTLOOK_IMAP_SCOPE),
            None if !graph_used => outlook.push(OUTLOOK_IMAP_SCOPE),
            None => {}
        }
        match p.outgoing {
            Some(Protocol::Graph) => graph.push(GRAPH_SEND_SCOPE),
            Some(_) => outlook.push(OUTLOOK_SMTP_SCOPE),
            None if !graph_used => outlook.push(OUTLOOK_SMTP_SCOPE),
            None => {}
        }
        for (r, v) in [(Resource::Mail, outlook), (Resource::Graph, graph)] {
            if !v.is_empty() {
                let mut v: Vec<String> = v.into_iter().map(str::to_string).collect();
                v.push("offline_access".to_string());
                by_resource.insert(r, v);
            }
        }
    }
    let main = if by_resource.contains_key(&p.main()) {
        p.main()
    } else {
        *by_resource.keys().next().unwrap_or(&Resource::Mail)
    };
    let token = by_resource.remove(&main).unwrap_or_default();
    let mut authorize: Vec<String> = token.clone();
    if flow != Flow::ClientCredentials {
        // one consent for every resource (Microsoft allows several in /authorize)
        for v in by_resource.values() {
            for s in v {
                if !authorize.contains(s) {
                    authorize.insert(authorize.len().saturating_sub(1), s.clone());
                }
            }
        }
    }
    ResourceScopes {
        authorize,
        token,
        separate: by_resource,
    }
}

fn server(
    provider: Provider,
    key: &str,
    s: ServerInput,
    default_protocol: Protocol,
    graph_url: &url::Url,
) -> Result<Server> {
    let protocol = s.protocol.unwrap_or(default_protocol);
    if matches!(protocol, Protocol::Graph | Protocol::GmailApi) {
        if s.host.is_some() || s.port.is_some() || s.security.is_some() {
            let url_key = if protocol == Protocol::Graph {
                "graph_url"
            } else {
                "gmail_api_url"
            };
            return Err(Error::config(format!(
                "configuration key `{key}`: an HTTPS API has no host, port or security to set (give `{url_key}` for another endpoint)"
            )));
        }
        return Ok(Server {
            protocol,
            host: graph_url.host_str().unwrap_or_default().to_string(),
            port: graph_url.port_or_known_default().unwrap_or(443),
            security: if graph_url.scheme() == "https" {
                Security::Tls
            } else {
                Security::None
            },
            auth: ServerAuth::Oauth2,
            sasl_mechanism: SaslMechanism::Xoauth2,
            username: s.username.filter(|u| !u.is_empty()),
            password: None,
        });
    }
    let preset_host = match (provider, protocol) {
        (Provider::Gmail, Protocol::Imap) => Some(("imap.gmail.com", 993, Security::Tls)),
        (Provider::Gmail, Protocol::Pop3) => Some(("pop.gmail.com", 995, Security::Tls)),
        (Provider::Gmail, Protocol::Smtp) => Some(("smtp.gmail.com", 465, Security::Tls)),
        (Provider::Office365, Protocol::Imap) => {
            Some(("outlook.office365.com", 993, Security::Tls))
        }
        (Provider::Office365, Protocol::Pop3) => {
            Some(("outlook.office365.com", 995, Security::Tls))
        }
        (Provider::Office365, Protocol::Smtp) => {
            Some(("smtp.office365.com", 587, Security::Starttls))
        }
        (Provider::Custom, _) | (_, Protocol::Graph | Protocol::GmailApi) => None,
    };
    let host = s
        .host
        .filter(|h| !h.trim().is_empty())
        .or_else(|| preset_host.map(|p| p.0.to_string()))
        .unwrap_or_default();
    let security = s.security.unwrap_or(match (s.port, preset_host) {
        (Some(587), _) | (Some(143), _) | (Some(110), _) => Security::Starttls,
        (Some(_), _) => Security::Tls,
        (None, Some(p)) => p.2,
        (None, None) => Security::Tls,
    });
    let port = match s.port {
        Some(0) => {
            return Err(Error::config(format!(
                "configuration key `{key}.port`: must not be 0"
            )))
        }
        Some(p) => p,
        None => match (preset_host, protocol, security) {
            (Some(p), _, sec) if sec == p.2 => p.1,
            (_, Protocol::Imap, Security::Tls) => 993,
            (_, Protocol::Imap, _) => 143,
            (_, Protocol::Pop3, Security::Tls) => 995,
            (_, Protocol::Pop3, _) => 110,
            (_, Protocol::Smtp, Security::Tls) => 465,
            (_, Protocol::Smtp, _) => 587,
            (_, Protocol::Graph | Protocol::GmailApi, _) => 443,
        },
    };
    Ok(Server {
        protocol,
        host: host.trim().to_string(),
        port,
        security,
        auth: s.auth.unwrap_or(ServerAuth::Oauth2),
        sasl_mechanism: s.sasl_mechanism.unwrap_or(SaslMechanism::Xoauth2),
        username: s.username.filter(|u| !u.is_empty()),
        password: s.password.filter(|p| !p.is_empty()),
    })
}
