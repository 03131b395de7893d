//! OAuth2: authorization flows, the token endpoint, provider errors and their hints.
//!
//! - [`authorize_url`]: the authorization URL (PKCE S256, state, preset parameters).
//! - [`code_flow`]: authorization code through the loopback [`listener`] or a pasted URL.
//! - [`device_flow`]: RFC 8628 device authorization grant.
//! - [`grants`]: refresh, client credentials, revocation.
//! - [`flow`]: the authorization in progress, its wait and cancel.

pub mod authorize_url;
pub mod browser;
pub mod client;
pub mod code_flow;
pub mod device_flow;
pub mod flow;
pub mod grants;
pub mod hints;
pub mod http;
pub mod listener;
pub mod provider_error;
pub mod result_page;
