//! Calls to a mail REST API (Microsoft Graph, the Gmail API) for one mailbox: the account's
//! token for the service's resource (refreshed once when the service refuses it), at most the
//! service's number of requests at a time per mailbox in this process, throttling answers
//! (429, 503, 504, or what the service says) waited out with `Retry-After` or exponential
//! backoff with jitter, both capped, bounded response sizes, and links followed only back to the
//! configured service.

use super::{Doing, Service};
use crate::account::Account;
use crate::error::{Error, Result, Status};
use crate::log::Level;
use crate::om_log;
use once_cell::sync::Lazy;
use reqwest::Method;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Most throttled answers one request waits through.
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
    /// Bytes of the given content type (a media upload).
    Raw(&'a [u8], &'static str),
}

/// An answer of the service.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                Status::ProtocolError,
                format!("the service answered JSON that cannot be read: {e}"),
            )
        })
    }
}

/// The semaphores of the mailboxes in use, shared by every account handle on one mailbox.
static PERMITS: Lazy<Mutex<HashMap<String, Weak<Semaphore>>>> = Lazy::new(Default::default);

fn permits_for(key: &str, n: usize) -> Arc<Semaphore> {
    let mut map = PERMITS.lock().unwrap_or_else(|e| e.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(s) = map.get(key).and_then(Weak::upgrade) {
        return s;
    }
    let s = Arc::new(Semaphore::new(n));
    map.insert(key.to_string(), Arc::downgrade(&s));
    s
}

/// A REST service for one account's mailbox.
pub struct Rest<'a> {
    pub account: &'a Account,
    service: &'static Service,
    http: reqwest::Client,
    /// The service root, e.g. `https://graph.microsoft.com/v1.0`.
    root: url::Url,
    /// The mailbox below the root: `me`, `users/{mailbox}`, `users/me`.
    mailbox_path: String,
    permits: Arc<Semaphore>,
    doing: Doing,
}

impl<'a> Rest<'a> {
    /// A client of `service` at `root` (`key` names the setting), for the mailbox at
    /// `mailbox_path` below it; `who` names the mailbox for the concurrency limit.
    pub fn new(
        account: &'a Account,
        service: &'static Service,
        doing: Doing,
        (root, key): (&str, &str),
        mailbox_path: String,
        who: &str,
    ) -> Result<Rest<'a>> {
        let root = crate::config::parse_url(key, root)?;
        let tls = crate::tls::client_config(account.config.ca_certs_pem.as_deref())?;
        let timeout = account.config.timeout;
        let http = account
            .config
            .proxy
            .apply(reqwest::Client::builder())?
            .tls_backend_preconfigured((*tls).clone())
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(service.max_concurrent)
            .user_agent(concat!("oauthmail/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::new(Status::TlsError, format!("cannot set up HTTPS: {e}")))?;
        Ok(Rest {
            account,
            service,
            http,
            permits: permits_for(
                &format!("{}|{}", root.as_str(), who.to_lowercase()),
                service.max_concurrent,
            ),
            root,
            mailbox_path,
            doing,
        })
    }

    /// The service root.
    pub fn root(&self) -> &url::Url {
        &self.root
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

    /// Refuses a link (`@odata.nextLink`, an upload URL, …) that leaves the configured service:
    /// the account's token is sent only there.
    fn check_link(&self, link: &str) -> Result<url::Url> {
        let u = url::Url::parse(link).map_err(|e| {
            Error::new(
                Status::ProtocolError,
                format!("{} gave a link that is not a URL ({e})", self.service.name),
            )
        })?;
        let same = u.scheme() == self.root.scheme()
            && u.host_str() == self.root.host_str()
            && u.port_or_known_default() == self.root.port_or_known_default();
        if !same {
            return Err(Error::new(
                Status::ProtocolError,
                format!(
                    "{} gave a link to another server ({}); it was not followed",
                    self.service.name,
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
        Err((self.service.map_error)(
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
            let (token, _) = self.account.access_token_for(self.service.resource).await?;
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
                Body::Raw(b, t) => rb.header("Content-Type", *t).body(b.to_vec()),
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
                        return Err(delivery_unknown(
                            self.service.name,
                            err,
                            self.account.config.language,
                        ));
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
                                format!("{}'s answer is larger than {limit} bytes (max_message_mb for a message)", self.service.name),
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
            if status == 401 && !refreshed && (self.service.refresh_on_401)(&data) {
                // expired early or revoked: one new token, then the answer stands
                self.account.reject_access_token(&token);
                refreshed = true;
                continue;
            }
            if !idempotent && (self.service.outcome_unknown)(status) {
                // a gateway timeout may come after the service did the work: for a send, its
                // effect is unknown, and it is not repeated
                let e = (self.service.map_error)(
                    status,
                    &data,
                    self.account.config.language,
                    self.doing,
                    self.account.config.is_app_only(),
                );
                return Err(delivery_unknown(
                    self.service.name,
                    e,
                    self.account.config.language,
                ));
            }
            if (self.service.throttled)(status, &data) && throttled < MAX_THROTTLED {
                throttled += 1;
                let wait = retry_after
                    .unwrap_or_else(|| Duration::from_millis(500) * 2u32.pow(throttled.min(6)))
                    .min(MAX_RETRY_AFTER)
                    + jitter();
                om_log!(
                    Level::Warn,
                    "{} answered HTTP {status} (throttled); waiting {} ms",
                    self.service.name,
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

impl Rest<'_> {
    /// PUTs one range of an attachment to an upload session's URL. That URL carries its own
    /// authorization (it may be on another host, e.g. Graph points at outlook.office.com): no token
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
                format!(
                    "{} gave an upload URL that is not a URL ({e})",
                    self.service.name
                ),
            )
        })?;
        if u.scheme() != self.root.scheme() {
            return Err(Error::new(
                Status::ProtocolError,
                format!(
                    "{} gave an upload URL that is not HTTPS; it was not used",
                    self.service.name
                ),
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
fn delivery_unknown(service: &str, e: Error, l: crate::lang::Lang) -> Error {
    Error {
        status: Status::DeliveryUnknown,
        message: l.pick_string(
            format!("{service}'s answer was lost (connection cut or gateway timeout) after the request was sent: the message may have been sent; it was not sent again ({})", e.message),
            format!("la réponse de {service} a été perdue (connexion coupée ou délai de passerelle dépassé) après l'envoi de la requête : le message a peut-être été envoyé ; il n'a pas été renvoyé ({})", e.message),
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
