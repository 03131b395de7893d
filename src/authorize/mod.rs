//! Interactive authorization of an account: the flows that put a new grant's tokens into the
//! account. They sit above [`crate::account`] and use [`crate::oauth`] (URLs, the token
//! endpoint, the listener, the flow slot), which knows nothing of accounts.
//!
//! - [`code_flow`]: authorization code + PKCE through the system browser and the loopback
//!   listener, or the final redirect URL pasted by the user.
//! - [`device_flow`]: RFC 8628 device authorization grant.

pub mod code_flow;
pub mod device_flow;

use crate::config::{Config, Flow};
use crate::error::{Error, Result};

/// Refuses an interactive authorization where nobody is asked: app-only accounts and service
/// accounts get their tokens from their credentials alone.
pub fn check_interactive(config: &Config) -> Result<()> {
    let l = config.language;
    match config.flow {
        Flow::ServiceAccount => Err(Error::wrong_state(l.pick(
            "A service account needs no authorization: its tokens come from its key",
            "Un compte de service n'a pas besoin d'autorisation : ses jetons viennent de sa clé",
        ))
        .with_hint(l.pick(
            "Nothing to do for the user: get a token, fetch or send directly.",
            "Rien à faire pour l'utilisateur : obtenez un jeton, relevez ou envoyez directement.",
        ))),
        Flow::ClientCredentials => Err(Error::wrong_state(l.pick(
            "An app-only (client_credentials) account needs no user authorization: its tokens come from its credentials",
            "Un compte en mode application (client_credentials) n'a pas besoin d'autorisation par un utilisateur : ses jetons viennent de ses identifiants",
        ))
        .with_hint(l.pick(
            "Nothing to do for the user: get a token, fetch or send directly.",
            "Rien à faire pour l'utilisateur : obtenez un jeton, relevez ou envoyez directement.",
        ))),
        _ => Ok(()),
    }
}
