//! OAuth2 without accounts: the authorization URL, the token endpoint, provider errors and their
//! hints, the loopback listener and browser, and the slot of the authorization in progress. The
//! flows that drive them for an account are in [`crate::authorize`].
//!
//! - [`authorize_url`]: the authorization URL (PKCE S256, state, preset parameters).
//! - [`listener`], [`browser`], [`result_page`]: the loopback redirect and what the user sees.
//! - [`grants`]: refresh, a token per resource, client credentials, revocation.
//! - [`flow`]: the authorization in progress, its wait and cancel.

pub mod authorize_url;
pub mod browser;
pub mod client;
pub mod client_assertion;
pub mod flow;
pub mod grants;
pub mod hints;
pub mod http;
pub mod jwt;
pub mod listener;
pub mod provider_error;
pub mod result_page;
pub mod service_account;
