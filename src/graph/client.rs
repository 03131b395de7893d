//! Calls to Microsoft Graph for one mailbox: the Graph token of the account (refreshed once when
//! Graph refuses it), at most [`MAX_CONCURRENT`] requests at a time per mailbox in this process
//! (Exchange's limit), `Retry-After` honoured on 429/503/504 with a cap and backoff, bounded
//! response sizes, and links followed only back to the configured Graph service.

use super::errors::{self, Doing};
use crate::account::Account;
use crate::config::Resource;
use crate::error::{Error, Result, Status};
use crate::log::Level;
use crate::om_log;
use once_cell::sync::Lazy;
use reqwest::Method;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Exchange Online allows 4 concurrent requests per mailbox and app.
pub const MAX_CONCURRENT: usize = 4;
/// Most throttled answers (429/503/504) one request waits through.
const MAX_THROTTLED: u32 = 8;
/// The longest single wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Largest JSON answer read (a page of a delta query, a folder list).
const MAX_JSON: usize = 32 << 20;

/// A request body.
pub enum Body<'a> {
    None,
    Json(&'a [u8]),
    /// `text/plain`: the base64 MIME of a message (sendMail, draft creation).
    Text(&'a [u8]),
}

/// An answer of Graph.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                Status::ProtocolError,
                format!("Microsoft Graph answered JSON that cannot be read: {e}"),
            )
        })
    }
}

/// The semaphores of the mailboxes in use, shared by every account handle on one mailbox.
static PERMITS: Lazy<Mutex<HashMap<String, Weak<Semaphore>>>> = Lazy::new(Default::default);

fn permits_for(key: &str) -> Arc<Semaphore> {
    let mut map = PERMITS.lock().unwrap_or_else(|e| e.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(s) = map.get(key).and_then(Weak::upgrade) {
        return s;
    }
    let s = Arc::new(Semaphore::new(MAX_CONCURRENT));
    map.insert(key.to_string(), Arc::downgrade(&s));
    s
}

/// Graph for one account's mailbox.
pub struct Graph<'a> {
    pub account: &'a Account,
    http: reqwest::Client,
    /// The service root, e.g. `https://graph.microsoft.com/v1.0`.
    root: url::Url,
    /// `me` or `users/{mailbox}`, below the root.
    mailbox_path: String,
    permits: Arc<Semaphore>,
    doing: Doing,
}

impl<'a> Graph<'a> {
    pub fn new(account: &'a Account, doing: Doing) -> Result<Graph<'a>> {
        let settings = account.config.graph.as_ref().ok_or_else(|| {
            Error::config("no server of this account uses Microsoft Graph (`protocol`: \"graph\")")
        })?;
        let root = crate::config::parse_url("graph_url", &settings.url)?;
        let mailbox_path = match &settings.mailbox {
            Some(m) => format!(
                "users/{}",
                url::form_urlencoded::byte_serialize(m.as_bytes()).collect::<String>()
            ),
            None => "me".to_string(),
        };
        let who = settings
            .mailbox
            .clone()
            .or_else(|| account.config.sasl_user().map(str::to_string))
            .unwrap_or_else(|| format!("account {}", account.id))
            .to_lowercase();
        let tls = crate::tls::client_config(account.config.ca_certs_pem.as_deref())?;
        let timeout = account.config.timeout;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(MAX_CONCURRENT)
            .user_agent(concat!("oauthmail/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::new(Status::TlsError, format!("cannot set up HTTPS: {e}")))?;
        Ok(Graph {
            account,
            http,
            permits: permits_for(&format!("{}|{who}", root.as_str())),
            root,
            mailbox_path,
            doing,
        })
    }

    /// The URL of `path` below the mailbox, e.g. `mailFolders/inbox`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.root.as_str().trim_end_matches('/'),
            self.mailbox_path,
            path
        )
    }

    /// Refuses a link (`@odata.nextLink`, …) that leaves the configured Graph service: the
    /// account's token is sent only there.
    fn check_link(&self, link: &str) -> Result<url::Url> {
        let u = url::Url::parse(link).map_err(|e| {
            Error::new(
                Status::ProtocolError,
                format!("Microsoft Graph gave a link that is not a URL ({e})"),
            )
        })?;
        let same = u.scheme() == self.root.scheme()
            && u.host_str() == self.root.host_str()
            && u.port_or_known_default() == self.root.port_or_known_default();
        if !same {
            return Err(Error::new(
                Status::ProtocolError,
                format!(
                    "Microsoft Graph gave a link to another server ({}); it was not followed",
                    u.host_str().unwrap_or("?")
                ),
            ));
        }
        Ok(u)
    }

    /// GET with JSON answer; error statuses mapped.
    pub async fn get_json(&self, url: &str, prefer: Option<&str>) -> Result<serde_json::Value> {
        let extra: Vec<(&str, &str)> = prefer.map(|p| ("Prefer", p)).into_iter().collect();
        let r = self
            .call(Method::GET, url, Body::None, &extra, MAX_JSON, true)
            .await?;
        self.expect_ok(&r)?;
        r.json()
    }

    /// The error for a non-2xx answer.
    pub fn expect_ok(&self, r: &Reply) -> Result<()> {
        if (200..300).contains(&r.status) {
            return Ok(());
        }
        Err(errors::map(
            r.status,
            &r.body,
            self.account.config.language,
            self.doing,
            self.account.config.is_app_only(),
        ))
    }

    /// One request, retried through throttling and once through a refused token. `idempotent`:
    /// it may be sent again after a network failure (never for a send: its effect is unknown
    /// once the request left). Any status is returned; `limit` bounds the body read.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Body<'_>,
        extra_headers: &[(&str, &str)],
        limit: usize,
        idempotent: bool,
    ) -> Result<Reply> {
        let target = self.check_link(url)?;
        let host = target.host_str().unwrap_or("").to_string();
        let mut throttled = 0u32;
        let mut network = 0u32;
        let mut refreshed = false;
        loop {
            let permit =
                self.permits.acquire().await.map_err(|_| {
                    Error::new(Status::Cancelled, "the mailbox's requests were closed")
                })?;
            let (token, _) = self.account.access_token_for(Resource::Graph).await?;
            let mut rb = self
                .http
                .request(method.clone(), target.clone())
                .bearer_auth(&token)
                .header("Accept", "application/json");
            for (k, v) in extra_headers {
                rb = rb.header(*k, *v);
            }
            rb = match &body {
                Body::None => rb,
                Body::Json(b) => rb
                    .header("Content-Type", "application/json")
                    .body(b.to_vec()),
                Body::Text(b) => rb.header("Content-Type", "text/plain").body(b.to_vec()),
            };
            let mut resp = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    let err = crate::oauth::http::classify(&e, &host);
                    drop(permit);
                    let safe = idempotent || e.is_connect();
                    if safe && network < 2 && err.status == Status::NetworkError {
                        network += 1;
                        om_log!(Level::Warn, "{method} {host}: {err}; trying again");
                        tokio::time::sleep(Duration::from_millis(300 << network)).await;
                        continue;
                    }
                    if !safe {
                        return Err(delivery_unknown(err, self.account.config.language));
                    }
                    return Err(err);
                }
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let mut data = Vec::new();
            let mut cut: Option<Error> = None;
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        if data.len() + c.len() > limit {
                            return Err(Error::new(
                                Status::Unsupported,
                                format!("Microsoft Graph's answer is larger than {limit} bytes (max_message_mb for a message)"),
                            ));
                        }
                        data.extend_from_slice(&c);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        cut = Some(crate::oauth::http::classify(&e, &host));
                        break;
                    }
                }
            }
            drop(permit);
            om_log!(Level::Debug, "{method} {} -> HTTP {status}", target.path());
            if status == 401 && !refreshed {
                let (_, message) = errors::code_and_message(&data);
                if !message.to_ascii_lowercase().contains("audience") {
                    // expired early or revoked: one new token, then the answer stands
                    self.account.reject_access_token(&token);
                    refreshed = true;
                    continue;
                }
            }
            if status == 504 && !idempotent {
                // a gateway timeout may come after the service did the work: for a send, its
                // effect is unknown, and it is not repeated
                let e = errors::map(
                    status,
                    &data,
                    self.account.config.language,
                    self.doing,
                    self.account.config.is_app_only(),
                );
                return Err(delivery_unknown(e, self.account.config.language));
            }
            if matches!(status, 429 | 503 | 504) && throttled < MAX_THROTTLED {
                throttled += 1;
                let wait = retry_after
                    .unwrap_or_else(|| Duration::from_millis(500) * 2u32.pow(throttled.min(6)))
                    .min(MAX_RETRY_AFTER)
                    + jitter();
                om_log!(
                    Level::Warn,
                    "Microsoft Graph answered HTTP {status} (throttled); waiting {} ms",
                    wait.as_millis()
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            if let Some(err) = cut {
                // the status arrived: for a 2xx without the body we needed, read it again
                if idempotent && network < 2 {
                    network += 1;
                    om_log!(Level::Warn, "{method} {host}: {err}; trying again");
                    continue;
                }
                if !(200..300).contains(&status) || idempotent {
                    return Err(err);
                }
            }
            return Ok(Reply { status, body: data });
        }
    }
}

impl Graph<'_> {
    /// PUTs one range of an attachment to an upload session's URL. That URL carries its own
    /// authorization (Graph may point it at another host, e.g. outlook.office.com): no token
    /// is sent; it must use the same scheme as the service (HTTPS). Repeated on network errors
    /// and throttling (a range may be sent again).
    pub async fn upload_range(
        &self,
        upload_url: &str,
        range: std::ops::Range<usize>,
        total: usize,
        bytes: &[u8],
    ) -> Result<Reply> {
        let u = url::Url::parse(upload_url).map_err(|e| {
            Error::new(
                Status::ProtocolError,
                format!("Microsoft Graph gave an upload URL that is not a URL ({e})"),
            )
        })?;
        if u.scheme() != self.root.scheme() {
            return Err(Error::new(
                Status::ProtocolError,
                "Microsoft Graph gave an upload URL that is not HTTPS; it was not used",
            ));
        }
        let host = u.host_str().unwrap_or("").to_string();
        let mut tries = 0u32;
        loop {
            tries += 1;
            let permit =
                self.permits.acquire().await.map_err(|_| {
                    Error::new(Status::Cancelled, "the mailbox's requests were closed")
                })?;
            let sent = self
                .http
                .put(u.clone())
                .header(
                    "Content-Range",
                    format!("bytes {}-{}/{total}", range.start, range.end - 1),
                )
                .header("Content-Type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await;
            let result = match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    match resp.bytes().await {
                        Ok(b) => Ok((status, retry_after, b.to_vec())),
                        Err(e) => Err(crate::oauth::http::classify(&e, &host)),
                    }
                }
                Err(e) => Err(crate::oauth::http::classify(&e, &host)),
            };
            drop(permit);
            match result {
                Ok((status, retry_after, body))
                    if matches!(status, 429 | 503 | 504) && tries <= MAX_THROTTLED =>
                {
                    let wait = retry_after
                        .unwrap_or_else(|| Duration::from_millis(500) * 2u32.pow(tries.min(6)))
                        .min(MAX_RETRY_AFTER)
                        + jitter();
                    let _ = body;
                    tokio::time::sleep(wait).await;
                }
                Ok((status, _, body)) => return Ok(Reply { status, body }),
                Err(e) if tries <= 2 => {
                    om_log!(Level::Warn, "upload to {host}: {e}; trying again");
                    tokio::time::sleep(Duration::from_millis(300 << tries)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A request whose answer was lost after it left: its effect (a send) is unknown.
fn delivery_unknown(e: Error, l: crate::lang::Lang) -> Error {
    Error {
        status: Status::DeliveryUnknown,
        message: l.pick_string(
            format!("Microsoft Graph's answer was lost (connection cut or gateway timeout) after the request was sent: the message may have been sent; it was not sent again ({})", e.message),
            format!("la réponse de Microsoft Graph a été perdue (connexion coupée ou délai de passerelle dépassé) après l'envoi de la requête : le message a peut-être été envoyé ; il n'a pas été renvoyé ({})", e.message),
        ),
        ..e
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let now = crate::tokens::token_set::now_unix();
    Some(Duration::from_secs(
        u64::try_from(at.timestamp().saturating_sub(now)).unwrap_or(0),
    ))
}

/// Up to 250 ms, so that throttled clients do not all come back at once.
fn jitter() -> Duration {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(u64::from(n % 250))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
