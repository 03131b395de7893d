//! Resources an access token is for. Microsoft issues a token for one resource at a time: the
//! Outlook one (IMAP, POP, SMTP) or Microsoft Graph; one refresh token gets tokens for each
//! resource the user consented to. Google's tokens serve the Gmail API and IMAP alike.

use serde::Serialize;

/// What a transport needs a token for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    /// The mail servers (IMAP, POP3, SMTP with XOAUTH2 / OAUTHBEARER).
    Mail,
    /// Microsoft Graph.
    Graph,
}

impl Resource {
    /// The key of this resource's tokens in the token set.
    pub fn key(self) -> &'static str {
        match self {
            Resource::Mail => "mail",
            Resource::Graph => "graph",
        }
    }
}

/// The scope prefix of Microsoft Graph.
pub const GRAPH_SCOPE_PREFIX: &str = "https://graph.microsoft.com/";

/// The scopes that only ask for identity or a refresh token, valid with any resource.
pub fn is_identity_scope(scope: &str) -> bool {
    matches!(scope, "openid" | "profile" | "email" | "offline_access")
}
