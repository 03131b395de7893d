//! Readable explanations of an SMTP login refusal (English / French), keyed on the server's
//! reply: Office 365 `535 5.7.139` (SMTP AUTH disabled), `535 5.7.3` (token, scope or user
//! mismatch), `550 5.7.30` (basic authentication refused); Gmail `534` / `535`.

use crate::account::Account;
use crate::config::{Server, ServerAuth};
use crate::error::{Error, Status};
use crate::lang::Lang;
use crate::mail::login::Refused;

/// True when `text` carries the enhanced status code `code` (so that `5.7.3` does not match
/// `5.7.30`).
fn has_code(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(i, _)| {
        let before = text[..i].chars().last();
        let after = text[i + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit() || c == '.')
    })
}

/// The hint for a refusal `server_text` (e.g. `535 5.7.3 Authentication unsuccessful`).
pub fn login_hint(l: Lang, auth: ServerAuth, host: &str, server_text: &str) -> String {
    let gmail = host.to_ascii_lowercase().contains("gmail") || host.contains("google");
    if has_code(server_text, "5.7.139") {
        return l.pick(
            "SMTP AUTH is disabled for this tenant or mailbox: the Microsoft 365 admin must enable \"Authenticated SMTP\" for the mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false) and allow it for the tenant (Set-TransportConfig -SmtpClientAuthenticationDisabled $false).",
            "SMTP AUTH est désactivé pour ce locataire ou cette boîte : l'administrateur Microsoft 365 doit activer « SMTP authentifié » pour la boîte (Set-CASMailbox -SmtpClientAuthenticationDisabled $false) et l'autoriser pour le locataire (Set-TransportConfig -SmtpClientAuthenticationDisabled $false).",
        ).to_string();
    }
    if has_code(server_text, "5.7.30") {
        return l.pick(
            "Microsoft no longer accepts a password (basic authentication) for SMTP: set outgoing.auth to \"oauth2\" and authorize the account.",
            "Microsoft n'accepte plus de mot de passe (authentification de base) pour SMTP : mettez outgoing.auth à \"oauth2\" et autorisez le compte.",
        ).to_string();
    }
    if has_code(server_text, "5.7.3") {
        return l.pick(
            "The token, its scope or the user does not match: the token must include https://outlook.office.com/SMTP.Send, the login user must be the token's owner (for a shared mailbox, log in as the delegate and send from the shared address), and SMTP AUTH must be enabled for the mailbox.",
            "Le jeton, sa portée ou l'utilisateur ne correspondent pas : le jeton doit inclure https://outlook.office.com/SMTP.Send, l'utilisateur de connexion doit être le propriétaire du jeton (boîte partagée : se connecter comme le délégué et envoyer depuis l'adresse partagée), et SMTP AUTH doit être activé pour la boîte.",
        ).to_string();
    }
    let code = server_text.get(..3).unwrap_or("");
    if gmail && code == "534" {
        return l.pick(
            "Gmail asks for another sign-in method: with OAuth2 the token must carry the scope https://mail.google.com/; with a password Google requires OAuth2 (or an app password).",
            "Gmail demande une autre méthode de connexion : en OAuth2, le jeton doit porter la portée https://mail.google.com/ ; avec un mot de passe, Google exige OAuth2 (ou un mot de passe d'application).",
        ).to_string();
    }
    if gmail && code == "535" {
        return l.pick(
            "Gmail refused the credentials: the token must carry the scope https://mail.google.com/ and belong to the login user; Gmail no longer accepts the account password.",
            "Gmail a refusé les identifiants : le jeton doit porter la portée https://mail.google.com/ et appartenir à l'utilisateur de connexion ; Gmail n'accepte plus le mot de passe du compte.",
        ).to_string();
    }
    match auth {
        ServerAuth::Oauth2 => l.pick(
            "Check that the token's scopes include sending mail (Office 365: https://outlook.office.com/SMTP.Send; Gmail: https://mail.google.com/), that SMTP AUTH is enabled for the mailbox, and that the login user is the token's owner (for a shared mailbox log in as the delegate and send from the shared address).",
            "Vérifiez que les portées du jeton permettent l'envoi (Office 365 : https://outlook.office.com/SMTP.Send ; Gmail : https://mail.google.com/), que SMTP AUTH est activé pour la boîte, et que l'utilisateur de connexion est le propriétaire du jeton (boîte partagée : se connecter comme le délégué et envoyer depuis l'adresse partagée).",
        ).to_string(),
        _ => l.pick(
            "Check the user name and password; Gmail and Office 365 no longer accept passwords: use OAuth2.",
            "Vérifiez l'identifiant et le mot de passe ; Gmail et Office 365 n'acceptent plus les mots de passe : utilisez OAuth2.",
        ).to_string(),
    }
}

/// The error for a login the SMTP server refused (after the one token refresh).
pub fn refused(account: &Account, server: &Server, user: &str, r: &Refused) -> Error {
    let l = account.config.language;
    let host = &server.host;
    let mut detail = r.server_text.clone();
    if let Some(c) = &r.challenge {
        detail = format!("{detail} ({c})");
    }
    let message = match server.auth {
        ServerAuth::Oauth2 => l.pick_string(
            format!("{host} refused the OAuth2 SMTP login of {user}, even with a freshly refreshed token: {}", r.server_text),
            format!("{host} a refusé la connexion SMTP OAuth2 de {user}, même avec un jeton tout juste actualisé : {}", r.server_text),
        ),
        _ => l.pick_string(
            format!("{host} refused the SMTP login of {user}: {}", r.server_text),
            format!("{host} a refusé la connexion SMTP de {user} : {}", r.server_text),
        ),
    };
    Error::new(Status::LoginRejected, message)
        .with_detail(detail)
        .with_hint(login_hint(l, server.auth, host, &r.server_text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_by_code() {
        let h = |t: &str| login_hint(Lang::En, ServerAuth::Oauth2, "smtp.office365.com", t);
        assert!(
            h("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled")
                .contains("Set-CASMailbox")
        );
        assert!(h("535 5.7.3 Authentication unsuccessful").contains("SMTP.Send"));
        assert!(
            h("550 5.7.30 Basic authentication is not supported").contains("basic authentication")
        );
        let g = |t: &str| login_hint(Lang::Fr, ServerAuth::Oauth2, "smtp.gmail.com", t);
        assert!(g("534-5.7.9 Application-specific password required").contains("Gmail demande"));
        assert!(g("535 5.7.8 Username and Password not accepted").contains("Gmail a refusé"));
        assert!(has_code("535 5.7.3 x", "5.7.3"));
        assert!(!has_code("550 5.7.30 x", "5.7.3"));
        assert!(!has_code("535 5.7.139 x", "5.7.13"));
        assert!(login_hint(
            Lang::En,
            ServerAuth::Password,
            "mail.example",
            "535 5.7.8 failed"
        )
        .contains("password"));
    }
}
