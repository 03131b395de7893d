//! Microsoft Graph's error answers as our statuses: the service's code and message kept as the
//! detail, and a hint saying who must fix what (in the account's language).
//!
//! Graph answers `{"error": {"code": "...", "message": "...", "innerError": {...}}}`.

use crate::error::{Error, Status};
use crate::lang::Lang;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
struct Body {
    error: Option<Inner>,
}

#[derive(Debug, Default, Deserialize)]
struct Inner {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Graph's error code and message from a response body (empty when it has none).
pub fn code_and_message(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<Body>(body) {
        Ok(Body { error: Some(i) }) => (i.code, i.message),
        _ => (
            String::new(),
            String::from_utf8_lossy(body)
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
        ),
    }
}

pub use crate::rest::Doing;

/// Maps an HTTP error answer of Graph. `app_only`: the account uses application permissions.
pub fn map(http_status: u16, body: &[u8], l: Lang, doing: Doing, app_only: bool) -> Error {
    let (code, message) = code_and_message(body);
    let detail = if code.is_empty() {
        format!("HTTP {http_status}: {message}")
    } else {
        format!("HTTP {http_status} {code}: {message}")
    };
    let lower = message.to_ascii_lowercase();
    let permission = match doing {
        Doing::Read => "Mail.ReadWrite",
        Doing::Send => "Mail.Send",
    };
    let (status, text, hint) = match (http_status, code.as_str()) {
        (401, _) if lower.contains("audience") => (
            Status::LoginRejected,
            l.pick_string(
                "Microsoft Graph refused the access token: it was issued for another resource".into(),
                "Microsoft Graph a refusé le jeton d'accès : il a été délivré pour une autre ressource".into(),
            ),
            l.pick_string(
                "Settings admin: the Graph token must be requested with Graph scopes (https://graph.microsoft.com/...) only; do not set `scopes` by hand for a Graph account, the office365 preset asks for the right ones.".into(),
                "Administrateur des paramètres : le jeton Graph doit être demandé avec les seules portées Graph (https://graph.microsoft.com/...) ; ne renseignez pas `scopes` à la main pour un compte Graph, le préréglage office365 demande les bonnes.".into(),
            ),
        ),
        (401, _) => (
            Status::AuthorizationRequired,
            l.pick_string(
                "Microsoft Graph refused the access token, also after a refresh".into(),
                "Microsoft Graph a refusé le jeton d'accès, même actualisé".into(),
            ),
            l.pick_string(
                "User: authorize again. If it keeps failing, the Azure admin should check that the app registration has the Microsoft Graph permissions Mail.ReadWrite and Mail.Send.".into(),
                "Utilisateur : autorisez de nouveau. Si l'échec persiste, l'administrateur Azure doit vérifier que l'inscription d'application a les autorisations Microsoft Graph Mail.ReadWrite et Mail.Send.".into(),
            ),
        ),
        (403, "ErrorSendAsDenied") => (
            Status::AccessDenied,
            l.pick_string(
                "Exchange refused to send as the message's From address".into(),
                "Exchange a refusé d'envoyer au nom de l'adresse From du message".into(),
            ),
            l.pick_string(
                "Send with the mailbox's own address, or ask the Exchange admin to grant this user \"Send As\" on that address.".into(),
                "Envoyez avec l'adresse de la boîte elle-même, ou demandez à l'administrateur Exchange d'accorder à cet utilisateur « Envoyer en tant que » sur cette adresse.".into(),
            ),
        ),
        (403, _) if app_only && (lower.contains("accesspolicy") || lower.contains("raop") || lower.contains("rbac")) => (
            Status::AccessDenied,
            l.pick_string(
                "Exchange's application access policy does not let this app use this mailbox".into(),
                "La stratégie d'accès des applications d'Exchange n'autorise pas cette application sur cette boîte".into(),
            ),
            l.pick_string(
                "Exchange admin: add the mailbox to the group the app's application access policy (or RBAC for Applications scope) allows, or use another mailbox.".into(),
                "Administrateur Exchange : ajoutez la boîte au groupe autorisé par la stratégie d'accès de l'application (ou l'étendue RBAC for Applications), ou utilisez une autre boîte.".into(),
            ),
        ),
        (403, _) if app_only => (
            Status::AccessDenied,
            l.pick_string(
                format!("Microsoft Graph denied the application access ({permission} application permission)"),
                format!("Microsoft Graph a refusé l'accès à l'application (autorisation d'application {permission})"),
            ),
            l.pick_string(
                format!("Azure admin: add the Microsoft Graph application permission {permission} to the app registration and click \"Grant admin consent\"."),
                format!("Administrateur Azure : ajoutez l'autorisation d'application Microsoft Graph {permission} à l'inscription d'application et cliquez sur « Accorder le consentement administrateur »."),
            ),
        ),
        (403, _) => (
            Status::AccessDenied,
            l.pick_string(
                format!("Microsoft Graph denied access: the authorization does not include {permission}"),
                format!("Microsoft Graph a refusé l'accès : l'autorisation n'inclut pas {permission}"),
            ),
            l.pick_string(
                format!("Azure admin: add the delegated Microsoft Graph permission {permission} to the app registration (and grant admin consent if the tenant requires it); then the user authorizes again."),
                format!("Administrateur Azure : ajoutez l'autorisation déléguée Microsoft Graph {permission} à l'inscription d'application (et accordez le consentement administrateur si le locataire l'exige) ; puis l'utilisateur autorise de nouveau."),
            ),
        ),
        (404, "MailboxNotEnabledForRESTAPI") | (404, "MailboxNotEnabledForRESTAPIOrO365") => (
            Status::Unsupported,
            l.pick_string(
                "This mailbox cannot be used through Microsoft Graph (inactive, unlicensed, or hosted on-premises)".into(),
                "Cette boîte ne peut pas être utilisée par Microsoft Graph (inactive, sans licence ou hébergée sur site)".into(),
            ),
            l.pick_string(
                "Microsoft 365 admin: assign an Exchange Online license to the user; for an on-premises mailbox use IMAP/SMTP instead of Graph.".into(),
                "Administrateur Microsoft 365 : attribuez une licence Exchange Online à l'utilisateur ; pour une boîte sur site, utilisez IMAP/SMTP plutôt que Graph.".into(),
            ),
        ),
        (404, "ErrorInvalidUser") | (404, "Request_ResourceNotFound") | (404, "ResourceNotFound") => (
            Status::InvalidConfig,
            l.pick_string(
                "Microsoft Graph does not know this mailbox".into(),
                "Microsoft Graph ne connaît pas cette boîte".into(),
            ),
            l.pick_string(
                "Settings admin: check `mailbox` (or `email`): the user principal name or address of an Exchange Online mailbox of this tenant.".into(),
                "Administrateur des paramètres : vérifiez `mailbox` (ou `email`) : le nom d'utilisateur principal ou l'adresse d'une boîte Exchange Online de ce locataire.".into(),
            ),
        ),
        (404, _) => (
            Status::ProtocolError,
            l.pick_string(
                "Microsoft Graph did not find the item (deleted meanwhile?)".into(),
                "Microsoft Graph n'a pas trouvé l'élément (supprimé entre-temps ?)".into(),
            ),
            String::new(),
        ),
        (413, _) => (
            Status::Unsupported,
            l.pick_string(
                "Microsoft Graph refused the request as too large".into(),
                "Microsoft Graph a refusé la requête, trop volumineuse".into(),
            ),
            String::new(),
        ),
        (429, _) | (503, _) | (504, _) => (
            Status::NetworkError,
            l.pick_string(
                "Microsoft Graph kept throttling the requests; try again later".into(),
                "Microsoft Graph a continué à limiter les requêtes ; réessayez plus tard".into(),
            ),
            String::new(),
        ),
        (s, _) if s >= 500 => (
            Status::NetworkError,
            l.pick_string(
                "Microsoft Graph is having trouble; try again later".into(),
                "Microsoft Graph rencontre un problème ; réessayez plus tard".into(),
            ),
            String::new(),
        ),
        (400, c) if c.starts_with("ErrorMimeContent") => (
            Status::InvalidArgument,
            l.pick_string(
                "Microsoft Graph refused the message's MIME content".into(),
                "Microsoft Graph a refusé le contenu MIME du message".into(),
            ),
            String::new(),
        ),
        _ => (
            Status::ProtocolError,
            l.pick_string(
                "Microsoft Graph refused the request".into(),
                "Microsoft Graph a refusé la requête".into(),
            ),
            String::new(),
        ),
    };
    let e = Error::new(status, text).with_detail(detail);
    if hint.is_empty() {
        e
    } else {
        e.with_hint(hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"error": {"code": code, "message": message, "innerError": {"date": "x"}}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn codes_become_statuses_with_the_service_text_kept() {
        let e = map(
            403,
            &body(
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ),
            Lang::En,
            Doing::Send,
            false,
        );
        assert_eq!(e.status, Status::AccessDenied);
        assert!(e
            .detail
            .as_deref()
            .unwrap()
            .contains("ErrorAccessDenied: Access is denied"));
        assert!(e.hint.as_deref().unwrap().contains("Mail.Send"));
        let e = map(403, &body("ErrorAccessDenied", "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings."), Lang::Fr, Doing::Read, true);
        assert!(e.message.contains("stratégie d'accès"), "{}", e.message);
        let e = map(
            401,
            &body(
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            ),
            Lang::En,
            Doing::Read,
            false,
        );
        assert_eq!(e.status, Status::LoginRejected);
        let e = map(
            404,
            &body(
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            ),
            Lang::En,
            Doing::Read,
            false,
        );
        assert_eq!(e.status, Status::Unsupported);
        assert!(e.hint.unwrap().contains("license"));
        let e = map(
            502,
            b"<html>bad gateway</html>",
            Lang::En,
            Doing::Read,
            false,
        );
        assert_eq!(e.status, Status::NetworkError);
        assert!(e.detail.unwrap().contains("bad gateway"));
    }
}
