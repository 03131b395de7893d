//! The HTTP client behind every OAuth2 request: reqwest over rustls with the account's trust,
//! bounded response size, and bounded retries with backoff for network errors, 429 and 5xx.

use crate::config::Config;
use crate::error::{Error, Status};
use crate::log::Level;
use crate::om_log;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Largest response body read from an OAuth2 endpoint.
const MAX_BODY: usize = 1 << 20;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// An HTTP failure, with the status it maps to.
#[derive(Debug, Clone)]
pub struct HttpError(pub Error);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.full_text())
    }
}

impl std::error::Error for HttpError {}

pub struct TokenHttp {
    client: reqwest::Client,
    retries: u32,
}

impl TokenHttp {
    pub fn new(config: &Config) -> crate::Result<TokenHttp> {
        let tls = crate::tls::client_config(config.ca_certs_pem.as_deref())?;
        let client = config
            .proxy
            .apply(reqwest::Client::builder())?
            .tls_backend_preconfigured((*tls).clone())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("oauthmail/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::new(Status::TlsError, format!("cannot set up HTTPS: {e}")))?;
        Ok(TokenHttp {
            client,
            retries: config.token_retries,
        })
    }

    async fn execute(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, HttpError> {
        let url = request.uri().to_string();
        let host = request.uri().host().unwrap_or("").to_string();
        let mut attempt = 0u32;
        loop {
            let outcome = self.once(&request, &host).await;
            let retryable = match &outcome {
                Ok(resp) => {
                    let s = resp.status().as_u16();
                    s == 429 || (500..=599).contains(&s)
                }
                Err(e) => e.0.status == Status::NetworkError,
            };
            if !retryable || attempt >= self.retries {
                return match outcome {
                    Ok(resp)
                        if resp.status().is_server_error() || resp.status().as_u16() == 429 =>
                    {
                        Err(HttpError(server_error(&url, &resp)))
                    }
                    other => other,
                };
            }
            let wait = FIRST_BACKOFF * 2u32.pow(attempt);
            match &outcome {
                Ok(resp) => om_log!(
                    Level::Warn,
                    "{url} answered HTTP {}; retrying in {} ms",
                    resp.status().as_u16(),
                    wait.as_millis()
                ),
                Err(e) => om_log!(
                    Level::Warn,
                    "{url}: {e}; retrying in {} ms",
                    wait.as_millis()
                ),
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn once(
        &self,
        request: &oauth2::HttpRequest,
        host: &str,
    ) -> Result<oauth2::HttpResponse, HttpError> {
        let mut builder = self
            .client
            .request(request.method().clone(), request.uri().to_string())
            .body(request.body().clone());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        let mut resp = builder
            .send()
            .await
            .map_err(|e| HttpError(classify(&e, host)))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| HttpError(classify(&e, host)))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(HttpError(Error::new(
                    Status::ProtocolError,
                    format!("{host} sent a response larger than {MAX_BODY} bytes"),
                )));
            }
            body.extend_from_slice(&chunk);
        }
        om_log!(
            Level::Debug,
            "{} {} -> HTTP {}",
            request.method(),
            request.uri(),
            status.as_u16()
        );
        let mut out = oauth2::HttpResponse::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for TokenHttp {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

fn server_error(url: &str, resp: &oauth2::HttpResponse) -> Error {
    let snippet: String = String::from_utf8_lossy(resp.body())
        .chars()
        .take(200)
        .collect();
    Error::new(
        Status::NetworkError,
        format!(
            "{url} answered HTTP {} after retries: the provider is having trouble; try again later",
            resp.status().as_u16()
        ),
    )
    .with_detail(snippet.trim().to_string())
}

/// Maps a reqwest error: TLS failures, timeouts, connection failures.
pub fn classify(err: &reqwest::Error, host: &str) -> Error {
    if let Some(tls) = crate::tls::explain_tls_error(err, host) {
        return Error::new(Status::TlsError, tls);
    }
    if err.is_timeout() {
        return Error::new(
            Status::NetworkError,
            format!("{host} did not answer in time"),
        );
    }
    if err.is_connect() {
        let mut reason = String::new();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
        while let Some(e) = cur {
            reason = e.to_string();
            cur = e.source();
        }
        return Error::new(
            Status::NetworkError,
            format!(
                "cannot connect to {host} ({reason}); check the network, a proxy or the firewall"
            ),
        );
    }
    Error::new(
        Status::NetworkError,
        format!("HTTP request to {host} failed: {err}"),
    )
}
