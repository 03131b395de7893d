//! The Gmail API's error answers as our statuses, Google's text kept, with who must act.
//!
//! Google answers `{"error": {"code", "message", "errors": [{"message", "domain", "reason"}],
//! "status"}}`; decisions use the HTTP status and the first `reason`, never the wording.

use crate::error::{Error, Status};
use crate::lang::Lang;
use crate::rest::Doing;
use serde::Deserialize;

#[derive(Default, Deserialize)]
struct Body {
    error: Option<Inner>,
}

#[derive(Default, Deserialize)]
struct Inner {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<Item>,
    #[serde(default)]
    status: String,
}

#[derive(Default, Deserialize)]
struct Item {
    #[serde(default)]
    reason: String,
}

/// The first `reason`, the `status` and the message of an error body.
pub fn reason_and_message(body: &[u8]) -> (String, String, String) {
    match serde_json::from_slice::<Body>(body) {
        Ok(Body { error: Some(i) }) => (
            i.errors
                .first()
                .map(|e| e.reason.clone())
                .unwrap_or_default(),
            i.status,
            i.message,
        ),
        _ => (
            String::new(),
            String::new(),
            String::from_utf8_lossy(body)
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
        ),
    }
}

/// True for an answer to wait out and repeat: rate limits (429, or 403 with a rate reason)
/// and the server errors Google asks clients to retry with backoff.
pub fn throttled(status: u16, body: &[u8]) -> bool {
    match status {
        429 | 500 | 502 | 503 | 504 => true,
        403 => {
            let (reason, _, _) = reason_and_message(body);
            matches!(
                reason.as_str(),
                "rateLimitExceeded" | "userRateLimitExceeded" | "dailyLimitExceeded"
            )
        }
        _ => false,
    }
}

/// Maps an HTTP error answer of the Gmail API.
pub fn map(http_status: u16, body: &[u8], l: Lang, doing: Doing, _app_only: bool) -> Error {
    let (reason, status_name, message) = reason_and_message(body);
    let detail = match (reason.is_empty(), status_name.is_empty()) {
        (true, true) => format!("HTTP {http_status}: {message}"),
        _ => format!("HTTP {http_status} {reason} {status_name}: {message}").replace("  ", " "),
    };
    let scope = match doing {
        Doing::Read => "https://mail.google.com/ (or gmail.modify)",
        Doing::Send => "https://mail.google.com/ (or gmail.send)",
    };
    let (status, text, hint): (Status, String, String) = match (http_status, reason.as_str()) {
        (401, _) => (
            Status::AuthorizationRequired,
            l.pick("The Gmail API refused the access token, also after a refresh", "L'API Gmail a refusé le jeton d'accès, même actualisé").into(),
            l.pick("User: authorize again. A service account: check its key and delegation.", "Utilisateur : autorisez de nouveau. Compte de service : vérifiez sa clé et sa délégation.").into(),
        ),
        (403, "insufficientPermissions") | (403, "ACCESS_TOKEN_SCOPE_INSUFFICIENT") => (
            Status::AccessDenied,
            l.pick_string(format!("The authorization does not include the Gmail scope needed ({scope})"), format!("L'autorisation n'inclut pas la portée Gmail nécessaire ({scope})")),
            l.pick_string(
                format!("Settings admin: ask for {scope} in `scopes`, then the user authorizes again; for a service account the Workspace admin must delegate that scope."),
                format!("Administrateur des paramètres : demandez {scope} dans `scopes`, puis l'utilisateur autorise de nouveau ; pour un compte de service, l'administrateur Workspace doit déléguer cette portée."),
            ),
        ),
        (403, _) if message.to_ascii_lowercase().contains("delegation denied") => (
            Status::AccessDenied,
            l.pick("Google refused to let this account act on that mailbox", "Google refuse que ce compte agisse sur cette boîte").into(),
            l.pick("Settings admin: the mailbox must be the authorized user's own (or `subject` for a service account).", "Administrateur des paramètres : la boîte doit être celle de l'utilisateur autorisé (ou `subject` pour un compte de service).").into(),
        ),
        (400 | 403, "failedPrecondition") => (
            Status::Unsupported,
            l.pick("Gmail is not enabled for this account", "Gmail n'est pas activé pour ce compte").into(),
            l.pick("Google Workspace admin: turn Gmail on for this user (Apps → Google Workspace → Gmail); a service account must act as a user (`subject`).", "Administrateur Google Workspace : activez Gmail pour cet utilisateur (Applications → Google Workspace → Gmail) ; un compte de service doit agir au nom d'un utilisateur (`subject`).").into(),
        ),
        (404, _) => (
            Status::ProtocolError,
            l.pick("The Gmail API did not find the item (deleted meanwhile?)", "L'API Gmail n'a pas trouvé l'élément (supprimé entre-temps ?)").into(),
            String::new(),
        ),
        (413, _) => (
            Status::Unsupported,
            l.pick("The Gmail API refused the message as too large (35 MB at most)", "L'API Gmail a refusé le message, trop volumineux (35 Mo au plus)").into(),
            String::new(),
        ),
        (429, _) | (403, "rateLimitExceeded" | "userRateLimitExceeded" | "dailyLimitExceeded") => (
            Status::NetworkError,
            l.pick("The Gmail API kept refusing the requests over its rate limits; try again later", "L'API Gmail a continué à refuser les requêtes (limites de débit) ; réessayez plus tard").into(),
            String::new(),
        ),
        (s, _) if s >= 500 => (
            Status::NetworkError,
            l.pick("The Gmail API is having trouble; try again later", "L'API Gmail rencontre un problème ; réessayez plus tard").into(),
            String::new(),
        ),
        _ => (
            Status::ProtocolError,
            l.pick("The Gmail API refused the request", "L'API Gmail a refusé la requête").into(),
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

    fn body(code: u16, reason: &str, status: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"error": {"code": code, "message": message, "errors": [{"message": message, "domain": "usageLimits", "reason": reason}], "status": status}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn rate_limits_are_retried_permissions_are_not() {
        assert!(throttled(429, b""));
        assert!(throttled(
            403,
            &body(
                403,
                "userRateLimitExceeded",
                "PERMISSION_DENIED",
                "User-rate limit exceeded."
            )
        ));
        assert!(!throttled(
            403,
            &body(
                403,
                "insufficientPermissions",
                "PERMISSION_DENIED",
                "Request had insufficient authentication scopes."
            )
        ));
        let e = map(
            403,
            &body(
                403,
                "insufficientPermissions",
                "PERMISSION_DENIED",
                "Request had insufficient authentication scopes.",
            ),
            Lang::Fr,
            Doing::Send,
            false,
        );
        assert_eq!(e.status, Status::AccessDenied);
        assert!(e.detail.unwrap().contains("insufficientPermissions"));
        assert!(e.hint.unwrap().contains("gmail.send"));
    }
}
