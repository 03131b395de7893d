//! Interactive authorization of an account: the flows that put a new grant's tokens into the
//! account. They sit above [`crate::account`] and use [`crate::oauth`] (URLs, the token
//! endpoint, the listener, the flow slot), which knows nothing of accounts.
//!
//! - [`code_flow`]: authorization code + PKCE through the system browser and the loopback
//!   listener, or the final redirect URL pasted by the user.
//! - [`device_flow`]: RFC 8628 device authorization grant.

pub mod code_flow;
pub mod device_flow;
