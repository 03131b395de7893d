//! Turns a provider's error into a status, a readable message and a hint saying who must do
//! what (provider-facts.md: Google's 7-day Testing tokens, the AADSTS codes admins meet).

use super::provider_error::ProviderError;
use crate::config::{Config, Provider};
use crate::error::{Error, Status};
use crate::lang::Lang;

/// What the failed request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The authorization response itself (redirect with `error=`).
    Authorize,
    AuthorizationCode,
    Refresh,
    DeviceCode,
    ClientCredentials,
    /// A Google service account's JWT-bearer grant (domain-wide delegation).
    ServiceAccount,
    Revoke,
}

pub use crate::tokens::store::no_refresh_token;

/// The status, message, provider text and hint for a provider error.
pub fn classify(config: &Config, grant: Grant, err: &ProviderError) -> Error {
    let l = config.language;
    let code = err.error.as_str();
    let aadsts = err.aadsts();
    let status = match (grant, code) {
        (_, "access_denied") => Status::AccessDenied,
        // the admin's setup (delegation, key, user) is wrong: nothing the user can do
        (Grant::ServiceAccount, "unauthorized_client") => Status::AccessDenied,
        // not the user's to fix by authorizing: the admin's key, user or clock
        (Grant::ServiceAccount, _) => Status::ProviderError,
        (Grant::DeviceCode, "expired_token") => Status::Timeout,
        (Grant::Refresh, "invalid_grant") => Status::AuthorizationRequired,
        (Grant::Refresh, "interaction_required" | "consent_required" | "login_required") => {
            Status::AuthorizationRequired
        }
        _ => Status::ProviderError,
    };
    let message = match (status, grant) {
        (Status::AccessDenied, _) => l.pick(
            "Access was denied at the provider (the user declined, or a policy refused)",
            "L'accès a été refusé chez le fournisseur (l'utilisateur a refusé, ou une règle l'interdit)",
        ),
        (_, Grant::ServiceAccount) => l.pick(
            "The token endpoint refused the service account's request for an access token",
            "Le point de jeton a refusé la demande de jeton d'accès du compte de service",
        ),
        (Status::AuthorizationRequired, _) => l.pick(
            "Authorization required: the provider no longer accepts the saved authorization; the user must authorize again",
            "Autorisation nécessaire : le fournisseur n'accepte plus l'autorisation enregistrée ; l'utilisateur doit s'autoriser de nouveau",
        ),
        (Status::Timeout, _) => l.pick(
            "The device code expired before the user finished",
            "Le code d'appareil a expiré avant que l'utilisateur termine",
        ),
        (_, Grant::Authorize) => l.pick(
            "The provider refused the authorization request",
            "Le fournisseur a refusé la demande d'autorisation",
        ),
        (_, Grant::Revoke) => l.pick(
            "The provider refused to revoke the token",
            "Le fournisseur a refusé de révoquer le jeton",
        ),
        _ => l.pick(
            "The provider's token endpoint refused the request",
            "Le point de jeton du fournisseur a refusé la demande",
        ),
    };
    let mut e = Error::new(status, message).with_detail(err.text());
    if let Some(h) = hint(
        config,
        grant,
        code,
        aadsts,
        l,
        err.error_description.as_deref().unwrap_or(""),
    ) {
        e = e.with_hint(h);
    }
    e
}

/// Who must fix what when Google refuses a service account: the Workspace admin (delegation),
/// the Google Cloud admin (the key), the settings admin (the user), the workstation (its clock).
fn service_account_hint(config: &Config, code: &str, description: &str, l: Lang) -> String {
    let sa = config.service_account.as_ref();
    let client_id = sa.map(|s| s.key.client_id.as_str()).unwrap_or("?");
    let email = sa.map(|s| s.key.client_email.as_str()).unwrap_or("?");
    let user = sa.and_then(|s| s.subject.as_deref()).unwrap_or("?");
    let scopes = config.token_scopes.join(",");
    let d = description.to_ascii_lowercase();
    if code == "unauthorized_client" {
        return l.pick_string(
            format!("Domain-wide delegation is not granted for these scopes: the Google Workspace admin must add client ID {client_id} with the scopes {scopes} in the Admin console (Security → Access and data control → API controls → Domain-wide delegation)."),
            format!("La délégation au niveau du domaine n'est pas accordée pour ces portées : l'administrateur Google Workspace doit ajouter l'ID client {client_id} avec les portées {scopes} dans la console d'administration (Sécurité → Accès et contrôle des données → Commandes des API → Délégation au niveau du domaine)."),
        );
    }
    if d.contains("signature")
        || d.contains("invalid_client")
        || d.contains("not found") && d.contains("key")
    {
        return l.pick_string(
            format!("The key file does not match the service account {email} (deleted, replaced, or another account's): the Google Cloud admin must create a new JSON key (IAM & Admin → Service accounts → Keys) and the settings admin install it."),
            format!("Le fichier de clé ne correspond pas au compte de service {email} (supprimée, remplacée, ou d'un autre compte) : l'administrateur Google Cloud doit créer une nouvelle clé JSON (IAM et administration → Comptes de service → Clés) et l'administrateur des paramètres l'installer."),
        );
    }
    if d.contains("iat")
        || d.contains("exp")
        || d.contains("timeframe")
        || d.contains("short-lived")
    {
        return l.pick(
            "Google finds the assertion's time wrong: this computer's clock is off; the workstation admin must set the clock right (automatic time).",
            "Google trouve l'heure de l'assertion incorrecte : l'horloge de cet ordinateur est décalée ; l'administrateur du poste doit la corriger (heure automatique).",
        )
        .to_string();
    }
    if d.contains("email") || d.contains("user") {
        return l.pick_string(
            format!("Google does not know the user {user} in the service account's domain: the settings admin must check `subject` (or `email`): a user of the Workspace domain."),
            format!("Google ne connaît pas l'utilisateur {user} dans le domaine du compte de service : l'administrateur des paramètres doit vérifier `subject` (ou `email`) : un utilisateur du domaine Workspace."),
        );
    }
    l.pick_string(
        format!("Check the service account setup: the key file of {email}, domain-wide delegation of client ID {client_id} for {scopes}, and the user {user}."),
        format!("Vérifiez la configuration du compte de service : le fichier de clé de {email}, la délégation au niveau du domaine de l'ID client {client_id} pour {scopes}, et l'utilisateur {user}."),
    )
}

fn hint(
    config: &Config,
    grant: Grant,
    code: &str,
    aadsts: Option<i64>,
    l: Lang,
    err_description: &str,
) -> Option<String> {
    let tenant = config.tenant.as_deref().unwrap_or("organizations");
    let client = &config.client_id;
    let s = |en: &str, fr: &str| Some(l.pick(en, fr).to_string());
    if let Some(n) = aadsts {
        match n {
            700082 | 70008 => return s(
                "The refresh token expired after a long inactivity (AADSTS700082): the user must authorize again.",
                "Le jeton d'actualisation a expiré après une longue inactivité (AADSTS700082) : l'utilisateur doit s'autoriser de nouveau.",
            ),
            50173 => return s(
                "The user's password was changed or the sessions were revoked (AADSTS50173): the user must authorize again.",
                "Le mot de passe de l'utilisateur a changé ou ses sessions ont été révoquées (AADSTS50173) : l'utilisateur doit s'autoriser de nouveau.",
            ),
            70043 => return s(
                "A Conditional Access sign-in frequency policy ended the session (AADSTS70043): the user must authorize again; the Azure admin can review the policy.",
                "Une stratégie d'accès conditionnel (fréquence de connexion) a mis fin à la session (AADSTS70043) : l'utilisateur doit s'autoriser de nouveau ; l'administrateur Azure peut revoir la stratégie.",
            ),
            50076 | 50079 => return s(
                "Multi-factor authentication is required (AADSTS50076): the user must authorize again in the browser.",
                "L'authentification multifacteur est exigée (AADSTS50076) : l'utilisateur doit s'autoriser de nouveau dans le navigateur.",
            ),
            7000222 => return s(
                "The client secret has expired (AADSTS7000222): the Azure admin must create a new secret under \"Certificates & secrets\" and paste its Value into client_secret.",
                "Le secret client a expiré (AADSTS7000222) : l'administrateur Azure doit créer un nouveau secret dans « Certificats & secrets » et coller sa Valeur dans client_secret.",
            ),
            7000215 => return s(
                "The client secret is wrong (AADSTS7000215): paste the secret's Value, not its Secret ID.",
                "Le secret client est incorrect (AADSTS7000215) : collez la Valeur du secret, pas son ID.",
            ),
            7000218 => return s(
                "The registration is confidential (\"Web\" redirect) and requires the client secret (AADSTS7000218): paste it into client_secret, or register the redirect under \"Mobile and desktop applications\".",
                "L'inscription est confidentielle (redirection « Web ») et exige le secret client (AADSTS7000218) : collez-le dans client_secret, ou inscrivez la redirection sous « Applications mobiles et de bureau ».",
            ),
            700025 => return s(
                "The registration is a public client: remove client_secret (AADSTS700025).",
                "L'inscription est un client public : retirez client_secret (AADSTS700025).",
            ),
            65001 | 90094 => {
                let url = format!(
                    "https://login.microsoftonline.com/{tenant}/adminconsent?client_id={client}"
                );
                return Some(l.pick_string(
                    format!("Consent is missing (AADSTS65001): a tenant admin must grant consent once at {url}"),
                    format!("Le consentement manque (AADSTS65001) : un administrateur du locataire doit l'accorder une fois sur {url}"),
                ));
            }
            50011 => {
                let r = &config.redirect_uri.configured;
                return Some(l.pick_string(
                    format!("The redirect URI does not match the registration (AADSTS50011): the Azure admin must register exactly {r} (platform \"Web\" or \"Mobile and desktop\"), or redirect_uri must be changed to the registered one."),
                    format!("L'URI de redirection ne correspond pas à l'inscription (AADSTS50011) : l'administrateur Azure doit inscrire exactement {r} (plateforme « Web » ou « Mobile et bureau »), ou redirect_uri doit être remplacée par celle inscrite."),
                ));
            }
            700016 => return s(
                "The application (client) ID is not known in this tenant (AADSTS700016): check client_id and the tenant in the URLs.",
                "L'ID d'application (client) est inconnu dans ce locataire (AADSTS700016) : vérifiez client_id et le locataire dans les URL.",
            ),
            50194 => return s(
                "The app is single-tenant and cannot use /common (AADSTS50194): use the v2 URLs containing the tenant ID.",
                "L'application est monolocataire et ne peut pas utiliser /common (AADSTS50194) : utilisez les URL v2 contenant l'ID du locataire.",
            ),
            9001023 => return s(
                "Client credentials need the tenant's own token URL (AADSTS9001023): set tenant to the directory ID.",
                "Le flux client credentials exige l'URL de jeton du locataire (AADSTS9001023) : renseignez tenant avec l'ID de l'annuaire.",
            ),
            700022 | 28000 => return s(
                "The request mixes scopes of several resources, e.g. Graph User.Read with Outlook (AADSTS700022): request only the Outlook scopes.",
                "La demande mélange des portées de plusieurs ressources, par ex. Graph User.Read avec Outlook (AADSTS700022) : ne demandez que les portées Outlook.",
            ),
            54005 => return s(
                "The authorization code was already used (AADSTS54005): start the authorization again.",
                "Le code d'autorisation a déjà été utilisé (AADSTS54005) : recommencez l'autorisation.",
            ),
            _ => {}
        }
    }
    if grant == Grant::ServiceAccount {
        return Some(service_account_hint(config, code, err_description, l));
    }
    match (code, grant, config.provider) {
        ("invalid_grant", Grant::Refresh, Provider::Gmail) => s(
            "Google refused the refresh token. If the Google Cloud app's publishing status is \"Testing\", its refresh tokens expire after 7 days: the Google admin must publish the app (OAuth consent screen → Publish app), then the user authorizes again. Other causes: the user changed the password, revoked access, or the token was unused for 6 months.",
            "Google a refusé le jeton d'actualisation. Si l'application Google Cloud est au statut « Test », ses jetons expirent au bout de 7 jours : l'administrateur Google doit publier l'application (Écran de consentement OAuth → Publier l'application), puis l'utilisateur s'autorise de nouveau. Autres causes : mot de passe changé, accès révoqué, jeton inutilisé depuis 6 mois.",
        ),
        ("invalid_grant", Grant::Refresh, _) => s(
            "The refresh token was revoked, expired, or already replaced (if several workstations share these tokens, reload the newest ones): the user must authorize again.",
            "Le jeton d'actualisation a été révoqué, a expiré ou a déjà été remplacé (si plusieurs postes partagent ces jetons, rechargez les plus récents) : l'utilisateur doit s'autoriser de nouveau.",
        ),
        ("invalid_grant", Grant::AuthorizationCode, _) => s(
            "The authorization code was refused (already used, expired, or the redirect URI or PKCE verifier did not match): start the authorization again.",
            "Le code d'autorisation a été refusé (déjà utilisé, expiré, ou URI de redirection / vérificateur PKCE différent) : recommencez l'autorisation.",
        ),
        ("invalid_client", _, _) => s(
            "The provider does not accept the client ID or secret: the admin must check client_id and client_secret (and client_auth: request_body or basic).",
            "Le fournisseur n'accepte pas l'ID ou le secret client : l'administrateur doit vérifier client_id et client_secret (et client_auth : request_body ou basic).",
        ),
        ("unauthorized_client", _, _) => s(
            "The app registration does not allow this grant type: the admin must enable it (Azure: \"Allow public client flows\" for device code).",
            "L'inscription de l'application n'autorise pas ce type de flux : l'administrateur doit l'activer (Azure : « Autoriser les flux de clients publics » pour le device code).",
        ),
        ("invalid_scope", Grant::DeviceCode, Provider::Gmail) => s(
            "Google does not allow the Gmail scope in the device flow: use the browser (authorization_code) flow.",
            "Google n'autorise pas la portée Gmail avec le flux « device code » : utilisez le flux navigateur (authorization_code).",
        ),
        ("invalid_scope", _, _) => s(
            "The provider refused the requested scopes: the admin must check the scopes and the app's API permissions.",
            "Le fournisseur a refusé les portées demandées : l'administrateur doit vérifier les portées et les autorisations d'API de l'application.",
        ),
        ("access_denied", _, _) => s(
            "Authorize again and accept the requested access; if a policy blocks it, ask the tenant admin.",
            "Recommencez l'autorisation en acceptant l'accès demandé ; si une règle le bloque, adressez-vous à l'administrateur.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod service_account_tests {
    use super::*;

    fn refused(code: &str, description: &str) -> Error {
        let config = Config::from_json(
            r#"{"provider":"custom","flow":"client_credentials","client_id":"c","token_url":"https://idp.example/token","language":"fr"}"#,
        )
        .unwrap();
        let pe = ProviderError {
            error: code.to_string(),
            error_description: Some(description.to_string()),
            ..Default::default()
        };
        classify(&config, Grant::ServiceAccount, &pe)
    }

    #[test]
    fn each_refusal_names_who_must_act() {
        // an assertion Google finds out of time: the workstation's clock
        let e = refused("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
        assert_eq!(e.status, Status::ProviderError);
        assert!(e.hint.as_deref().unwrap().contains("horloge"), "{e:?}");
        assert!(e.detail.unwrap().contains("short-lived"));
        let e = refused("invalid_grant", "Invalid JWT Signature.");
        assert!(e.hint.unwrap().contains("clé JSON"));
        let e = refused("unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.");
        assert_eq!(e.status, Status::AccessDenied);
        assert!(e.hint.unwrap().contains("Délégation au niveau du domaine"));
        let e = refused("invalid_grant", "Invalid email or User ID");
        assert!(e.hint.unwrap().contains("`subject`"));
    }
}
