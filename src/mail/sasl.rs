//! SASL mechanisms for mail servers: XOAUTH2 (Google, Microsoft), OAUTHBEARER (RFC 7628),
//! PLAIN (RFC 4616) — and the answer to an OAuth failure challenge, which a client must send
//! so the server ends the exchange with its reason instead of waiting for the timeout.

/// `user=<user>\x01auth=Bearer <token>\x01\x01` (before base64).
pub fn xoauth2(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// `n,a=<user>,\x01host=<host>\x01port=<port>\x01auth=Bearer <token>\x01\x01`.
pub fn oauthbearer(user: &str, host: &str, port: u16, token: &str) -> Vec<u8> {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// `\0<user>\0<password>`.
pub fn plain(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

/// The answer to an OAuth error challenge: empty for XOAUTH2, a single 0x01 for OAUTHBEARER.
pub fn error_ack(oauthbearer: bool) -> &'static [u8] {
    if oauthbearer {
        b"\x01"
    } else {
        b""
    }
}

/// The server's error challenge as readable text (it is JSON, e.g.
/// `{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}`).
pub fn describe_challenge(challenge: &[u8]) -> String {
    let text = String::from_utf8_lossy(challenge).trim().to_string();
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => {
            let status = v.get("status").and_then(|s| s.as_str()).unwrap_or("?");
            let scope = v.get("scope").and_then(|s| s.as_str());
            match scope {
                Some(sc) => format!("the server refused the token (status {status}, scope {sc})"),
                None => format!("the server refused the token (status {status})"),
            }
        }
        Err(_) => format!("the server refused the token ({text})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_formats() {
        assert_eq!(
            xoauth2("a@b.c", "T"),
            b"user=a@b.c\x01auth=Bearer T\x01\x01"
        );
        assert_eq!(
            oauthbearer("a,=b@c", "imap.example", 993, "T"),
            b"n,a=a=2C=3Db@c,\x01host=imap.example\x01port=993\x01auth=Bearer T\x01\x01"
        );
        assert_eq!(plain("u", "p"), b"\0u\0p");
        assert_eq!(error_ack(true), b"\x01");
        assert!(error_ack(false).is_empty());
        assert_eq!(
            describe_challenge(
                br#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#
            ),
            "the server refused the token (status 401, scope https://mail.google.com/)"
        );
    }
}
