//! The registration check: the known mistakes in an app registration or a configuration, found
//! before the user clicks "authorize", each saying who must fix what.

use super::{AppType, Config, Flow, Provider};
use crate::config::redirect::LoopbackHost;
use crate::lang::Lang;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The flow will fail.
    Error,
    /// It may fail, or works badly.
    Warning,
    /// Worth knowing.
    Info,
}

/// Who must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    /// The admin of the Azure app registration (Entra ID).
    AzureAdmin,
    /// The admin of the Google Cloud project.
    GoogleAdmin,
    /// Whoever fills in the account settings in the host program.
    SettingsAdmin,
    /// Whoever runs the workstation (another program, the firewall).
    WorkstationAdmin,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// Stable identifier, e.g. `office365_web_without_secret`.
    pub id: &'static str,
    pub severity: Severity,
    pub who: Who,
    pub message: String,
}

/// Runs every check. `port_free` tells whether a fixed redirect port can be bound now.
pub fn check(config: &Config, port_free: impl Fn(&Config) -> Option<String>) -> Vec<Finding> {
    let l = config.language;
    let mut out = Vec::new();
    let mut add = |id, severity, who, en: String, fr: String| {
        out.push(Finding {
            id,
            severity,
            who,
            message: l.pick_string(en, fr),
        })
    };
    let secret = config.client_secret.is_some();
    let o365 = config.provider == Provider::Office365;
    let gmail = config.provider == Provider::Gmail;
    let tenant = config.tenant.as_deref().unwrap_or("");

    if o365 && config.app_type == Some(AppType::Web) && !secret && !config.is_app_only() {
        add(
            "office365_web_without_secret",
            Severity::Error,
            Who::SettingsAdmin,
            "The Azure app registration uses a \"Web\" redirect, which makes a confidential client: Microsoft requires the client secret (AADSTS7000218). Paste the secret's Value (not its ID) from \"Certificates & secrets\" into client_secret, or have the Azure admin register the redirect under \"Mobile and desktop applications\" and set app_type to \"desktop\".".into(),
            "L'inscription Azure utilise une redirection « Web », ce qui en fait un client confidentiel : Microsoft exige le secret client (AADSTS7000218). Collez la Valeur du secret (pas son ID) de « Certificats & secrets » dans client_secret, ou demandez à l'administrateur Azure d'inscrire la redirection sous « Applications mobiles et de bureau » et mettez app_type à « desktop ».".into(),
        );
    }
    if o365 && config.app_type == Some(AppType::Desktop) && secret {
        add(
            "office365_public_client_with_secret",
            Severity::Error,
            Who::SettingsAdmin,
            "The Azure registration is a public client (\"Mobile and desktop applications\"): it must not send a client secret (AADSTS700025). Remove client_secret, or register a \"Web\" redirect.".into(),
            "L'inscription Azure est un client public (« Applications mobiles et de bureau ») : il ne doit pas envoyer de secret client (AADSTS700025). Retirez client_secret, ou inscrivez une redirection « Web ».".into(),
        );
    }
    if o365 && config.is_app_only() && ["common", "organizations", "consumers"].contains(&tenant) {
        add(
            "office365_client_credentials_needs_tenant",
            Severity::Error,
            Who::SettingsAdmin,
            format!("App-only access (client credentials) needs the tenant's own token URL, not /{tenant} (AADSTS9001023). Set tenant to the directory (tenant) ID or domain shown in the Azure portal."),
            format!("L'accès application (client credentials) exige l'URL de jeton propre au locataire, pas /{tenant} (AADSTS9001023). Renseignez tenant avec l'ID de l'annuaire (locataire) ou le domaine affiché dans le portail Azure."),
        );
    }
    if o365 && tenant == "common" && !config.is_app_only() {
        add(
            "office365_common_tenant",
            Severity::Info,
            Who::SettingsAdmin,
            "The /common endpoint works only for multi-tenant app registrations; a single-tenant app gets AADSTS50194. If so, use the v2 URLs shown under \"Endpoints\" in the Azure portal (they contain the tenant ID).".into(),
            "Le point de terminaison /common ne fonctionne qu'avec une application multilocataire ; une application monolocataire obtient AADSTS50194. Dans ce cas, utilisez les URL v2 affichées sous « Points de terminaison » dans le portail Azure (elles contiennent l'ID du locataire).".into(),
        );
    }
    if o365 {
        for url in [config.authorize_url.as_ref(), Some(&config.token_url)]
            .into_iter()
            .flatten()
        {
            if url.host_str() == Some(super::preset::MICROSOFT_LOGIN_HOST)
                && !url.path().contains("/v2.0/")
            {
                add(
                    "office365_v1_endpoint",
                    Severity::Error,
                    Who::SettingsAdmin,
                    format!("{url} is a v1 endpoint: copy the \"OAuth 2.0 ... (v2)\" endpoints from the Azure portal."),
                    format!("{url} est un point de terminaison v1 : copiez les points de terminaison « OAuth 2.0 ... (v2) » du portail Azure."),
                );
                break;
            }
        }
    }
    // what one token request asks for (the consent may cover several resources)
    let outlook = config.token_scopes.iter().any(|s| {
        s.starts_with("https://outlook.office.com/")
            || s.starts_with("https://outlook.office365.com/")
    });
    let graph: Vec<&String> = config
        .token_scopes
        .iter()
        .filter(|s| {
            s.starts_with("https://graph.microsoft.com/")
                || (!s.contains("://")
                    && !["openid", "profile", "email", "offline_access"].contains(&s.as_str()))
        })
        .collect();
    if o365 && outlook && !graph.is_empty() {
        let list = graph
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        add(
            "office365_graph_and_outlook_scopes",
            Severity::Error,
            Who::SettingsAdmin,
            format!("The scopes mix Microsoft Graph ({list}) with Outlook scopes: one token serves one resource, Microsoft refuses the request (AADSTS700022). Remove {list} from the requested scopes (it may stay in the Azure permissions)."),
            format!("Les portées mélangent Microsoft Graph ({list}) et Outlook : un jeton ne sert qu'une ressource, Microsoft refuse la demande (AADSTS700022). Retirez {list} des portées demandées (elle peut rester dans les autorisations Azure)."),
        );
    }
    if o365 && !config.is_app_only() && !config.scopes.iter().any(|s| s == "offline_access") {
        add(
            "office365_no_offline_access",
            Severity::Warning,
            Who::SettingsAdmin,
            "Without the offline_access scope Microsoft issues no refresh token: the user would have to authorize again every hour.".into(),
            "Sans la portée offline_access, Microsoft ne délivre pas de jeton d'actualisation : l'utilisateur devrait s'autoriser de nouveau toutes les heures.".into(),
        );
    }
    if o365 && config.uses_graph() {
        let mut perms = Vec::new();
        for (server, perm) in [
            (&config.incoming, "Mail.ReadWrite"),
            (&config.outgoing, "Mail.Send"),
        ] {
            if server
                .as_ref()
                .is_some_and(|s| s.protocol == super::Protocol::Graph)
            {
                perms.push(perm);
            }
        }
        let perms = perms.join(", ");
        if config.is_app_only() {
            add(
                "office365_graph_application_permissions",
                Severity::Info,
                Who::AzureAdmin,
                format!("Microsoft Graph app-only: the app registration needs the Microsoft Graph APPLICATION permissions {perms} with admin consent granted; Exchange then lets the app into every mailbox unless an application access policy (or RBAC for Applications) limits it to the mailboxes it should use — recommended."),
                format!("Microsoft Graph en mode application : l'inscription d'application doit avoir les autorisations d'APPLICATION Microsoft Graph {perms} avec le consentement administrateur accordé ; Exchange laisse alors l'application accéder à toutes les boîtes, sauf si une stratégie d'accès des applications (ou RBAC for Applications) la limite aux boîtes utiles — recommandé."),
            );
        } else {
            add(
                "office365_graph_delegated_permissions",
                Severity::Info,
                Who::AzureAdmin,
                format!("Microsoft Graph: the app registration needs the DELEGATED Microsoft Graph permissions {perms} (API permissions → Microsoft Graph → Delegated); tenants that block user consent also need \"Grant admin consent\"."),
                format!("Microsoft Graph : l'inscription d'application doit avoir les autorisations DÉLÉGUÉES Microsoft Graph {perms} (Autorisations d'API → Microsoft Graph → Déléguées) ; les locataires qui bloquent le consentement des utilisateurs exigent aussi « Accorder le consentement administrateur »."),
            );
        }
    }
    if let Some(c) = &config.client_certificate {
        let t = &c.thumbprint;
        add(
            "certificate_credentials",
            Severity::Info,
            Who::AzureAdmin,
            format!("Certificate credentials: the app registration must have this certificate uploaded (Certificates & secrets → Certificates; SHA-256 thumbprint, base64url: {t}). Unlike a secret, nothing here expires before the certificate does."),
            format!("Identifiants par certificat : l'inscription d'application doit avoir ce certificat téléversé (Certificats & secrets → Certificats ; empreinte SHA-256, base64url : {t}). Contrairement à un secret, rien n'expire ici avant le certificat."),
        );
    } else if o365 && secret {
        add(
            "office365_secret_expires",
            Severity::Info,
            Who::AzureAdmin,
            "Client secrets expire (the portal offers 6 to 24 months): when it does, every user's mail stops with AADSTS7000222. Note the date, or use a certificate (client_certificate_file + client_key_file, or client_pfx_file).".into(),
            "Les secrets client expirent (le portail propose 6 à 24 mois) : ce jour-là, la messagerie de tous les utilisateurs s'arrête avec AADSTS7000222. Notez la date, ou utilisez un certificat (client_certificate_file + client_key_file, ou client_pfx_file).".into(),
        );
    }
    if let Some(sa) = &config.service_account {
        let id = if sa.key.client_id.is_empty() {
            sa.client_email.as_str()
        } else {
            sa.key.client_id.as_str()
        };
        let scopes = config.token_scopes.join(",");
        add(
            "service_account_delegation",
            Severity::Info,
            Who::GoogleAdmin,
            format!("Service account {}: the Google Workspace admin must grant domain-wide delegation to client ID {id} with the scopes {scopes} (Admin console → Security → API controls → Domain-wide delegation); it then acts as any user of the domain, here {}.", sa.client_email, sa.subject.as_deref().unwrap_or("?")),
            format!("Compte de service {} : l'administrateur Google Workspace doit accorder la délégation au niveau du domaine à l'ID client {id} avec les portées {scopes} (console d'administration → Sécurité → Commandes des API → Délégation au niveau du domaine) ; il agit alors comme n'importe quel utilisateur du domaine, ici {}.", sa.client_email, sa.subject.as_deref().unwrap_or("?")),
        );
    }
    if o365 && config.gmail_api.is_some() {
        add(
            "office365_with_gmail_api",
            Severity::Error,
            Who::SettingsAdmin,
            "The Gmail API serves Google mailboxes, not Microsoft 365: use \"imap\", \"pop3\", \"smtp\" or \"graph\" for an Office 365 account.".into(),
            "L'API Gmail sert les boîtes Google, pas Microsoft 365 : utilisez « imap », « pop3 », « smtp » ou « graph » pour un compte Office 365.".into(),
        );
    }
    if gmail && config.uses_graph() {
        add(
            "gmail_with_graph",
            Severity::Error,
            Who::SettingsAdmin,
            "Microsoft Graph serves Microsoft 365 mailboxes, not Gmail: use \"imap\", \"pop3\" or \"smtp\" for a Gmail account.".into(),
            "Microsoft Graph sert les boîtes Microsoft 365, pas Gmail : utilisez « imap », « pop3 » ou « smtp » pour un compte Gmail.".into(),
        );
    }
    if gmail && config.flow == Flow::DeviceCode {
        add(
            "gmail_device_flow",
            Severity::Error,
            Who::SettingsAdmin,
            "Google does not allow the Gmail scope (https://mail.google.com/) in the device flow (invalid_scope). Use the authorization_code flow (browser).".into(),
            "Google n'autorise pas la portée Gmail (https://mail.google.com/) avec le flux « device code » (invalid_scope). Utilisez le flux authorization_code (navigateur).".into(),
        );
    }
    if gmail && config.is_app_only() {
        add(
            "gmail_client_credentials",
            Severity::Error,
            Who::SettingsAdmin,
            "Google has no client-credentials grant for Gmail; use the authorization_code flow.".into(),
            "Google ne propose pas de flux client credentials pour Gmail ; utilisez le flux authorization_code.".into(),
        );
    }
    let user_flow = !matches!(config.flow, Flow::ServiceAccount | Flow::ClientCredentials);
    if gmail && !secret && user_flow {
        add(
            "gmail_no_secret",
            Severity::Warning,
            Who::SettingsAdmin,
            "Google \"Desktop app\" clients must send their client secret at the token endpoint (invalid_request otherwise): paste it into client_secret.".into(),
            "Les clients Google « Application de bureau » doivent envoyer leur code secret au point de jeton (invalid_request sinon) : collez-le dans client_secret.".into(),
        );
    }
    if gmail
        && user_flow
        && !config
            .extra_authorize_params
            .iter()
            .any(|(k, v)| k == "access_type" && v == "offline")
    {
        add(
            "gmail_no_offline",
            Severity::Warning,
            Who::SettingsAdmin,
            "Without access_type=offline Google issues no refresh token.".into(),
            "Sans access_type=offline, Google ne délivre pas de jeton d'actualisation.".into(),
        );
    }
    if gmail && user_flow {
        add(
            "gmail_testing_status",
            Severity::Info,
            Who::GoogleAdmin,
            "If the Google Cloud app's publishing status is \"Testing\", refresh tokens expire after 7 days and users must authorize again each week: publish the app (OAuth consent screen → Publish app).".into(),
            "Si l'application Google Cloud est au statut « Test », les jetons d'actualisation expirent au bout de 7 jours et les utilisateurs doivent s'autoriser chaque semaine : publiez l'application (Écran de consentement OAuth → Publier l'application).".into(),
        );
    }
    if o365 && config.redirect_uri.host == LoopbackHost::Ipv6 {
        add(
            "office365_ipv6_redirect",
            Severity::Error,
            Who::SettingsAdmin,
            "Microsoft does not accept http://[::1] as a redirect URI: use http://localhost:PORT/ or http://127.0.0.1:PORT/.".into(),
            "Microsoft n'accepte pas http://[::1] comme URI de redirection : utilisez http://localhost:PORT/ ou http://127.0.0.1:PORT/.".into(),
        );
    }
    if o365 && config.redirect_uri.port.is_none() && config.flow == Flow::AuthorizationCode {
        add(
            "office365_redirect_without_port",
            Severity::Warning,
            Who::SettingsAdmin,
            format!("The redirect URI {} has no port: a free port is chosen at run time. Microsoft ignores the port for localhost, but the URI sent must otherwise match the registered one exactly.", config.redirect_uri.configured),
            format!("L'URI de redirection {} n'a pas de port : un port libre est choisi à l'exécution. Microsoft ignore le port pour localhost, mais l'URI envoyée doit sinon être identique à celle inscrite.", config.redirect_uri.configured),
        );
    }
    if let (Some(written), Some(port)) =
        (config.redirect_uri.replaced_port, config.redirect_uri.port)
    {
        let sent = &config.redirect_uri.configured;
        let (severity, en_tail, fr_tail) = if o365
            && config.redirect_uri.host == LoopbackHost::Localhost
        {
            (Severity::Info, "Microsoft ignores the port of localhost redirects, so this works if the rest matches.", "Microsoft ignore le port des redirections localhost : cela fonctionne si le reste correspond.")
        } else {
            (
                Severity::Warning,
                "The provider must have this exact URI registered.",
                "Le fournisseur doit avoir exactement cette URI inscrite.",
            )
        };
        add(
            "redirect_port_differs",
            severity,
            Who::SettingsAdmin,
            format!("redirect_port {port} replaces the port {written} written in redirect_uri: the URI sent is {sent}. {en_tail}"),
            format!("redirect_port {port} remplace le port {written} écrit dans redirect_uri : l'URI envoyée est {sent}. {fr_tail}"),
        );
    }
    if config.flow == Flow::AuthorizationCode {
        if let Some(msg) = port_free(config) {
            let port = config.redirect_uri.port.unwrap_or(0);
            add(
                "redirect_port_busy",
                Severity::Error,
                Who::WorkstationAdmin,
                format!("The redirect port {port} is in use by another program on this computer ({msg}): close it, or register another port (e.g. http://localhost:3018/) in the app registration and in redirect_uri."),
                format!("Le port de redirection {port} est utilisé par un autre programme sur cet ordinateur ({msg}) : fermez-le, ou inscrivez un autre port (par ex. http://localhost:3018/) dans l'inscription de l'application et dans redirect_uri."),
            );
        }
    }
    if config.incoming.as_ref().is_some_and(|s| {
        s.auth == super::ServerAuth::Oauth2 && s.protocol != super::Protocol::Graph
    }) && config.sasl_user().is_none()
    {
        add(
            "no_mail_user",
            Severity::Error,
            Who::SettingsAdmin,
            "OAuth2 mail login needs the mailbox address: set email (or username / login_user).".into(),
            "La connexion OAuth2 à la messagerie a besoin de l'adresse de la boîte : renseignez email (ou username / login_user).".into(),
        );
    }
    out
}

/// Text of a list of findings, one per line, for logs and the CLI.
pub fn summary(findings: &[Finding], lang: Lang) -> String {
    if findings.is_empty() {
        return lang
            .pick("no problem found", "aucun problème détecté")
            .to_string();
    }
    findings
        .iter()
        .map(|f| format!("{:?}: {}", f.severity, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}
