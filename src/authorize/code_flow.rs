//! Authorization code + PKCE through the system browser and the loopback listener, or through
//! the final redirect URL pasted by the user when the listener cannot work (remote desktop,
//! firewall, no browser on this machine).

use crate::account::Account;
use crate::error::{Error, Result, Status};
use crate::lang::Lang;
use crate::log::Level;
use crate::oauth::authorize_url::new_request;
use crate::oauth::client::{build, map_request_error, token_set_from};
pub use crate::oauth::flow::PendingCode;
use crate::oauth::flow::{self, FlowHandle, FlowKind, FlowShared};
use crate::oauth::hints::{classify, Grant};
use crate::oauth::listener::{self, Listener};
use crate::oauth::provider_error::ProviderError;
use crate::oauth::result_page;
use crate::om_log;
use oauth2::{AuthorizationCode, PkceCodeVerifier};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Most requests one listener serves before giving up (favicons, retries, stray tabs).
const MAX_REQUESTS: u32 = 100;

/// Options of `om_authorize_start` (JSON; every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartOptions {
    /// Overrides the configuration's `open_browser`.
    pub open_browser: Option<bool>,
    /// false: do not start the loopback listener (the user will paste the final URL).
    pub listen: Option<bool>,
}

impl StartOptions {
    pub fn parse(json: Option<&str>) -> Result<StartOptions> {
        match json.map(str::trim) {
            None | Some("") => Ok(StartOptions::default()),
            Some(j) => crate::json::parse(j, "options", Status::InvalidConfig),
        }
    }
}

/// Starts an authorization: binds the listener, builds the URL, opens the browser.
/// Must run inside the runtime. Returns the JSON describing the attempt.
pub async fn start(account: &Arc<Account>, opts: StartOptions) -> Result<String> {
    let config = &account.config;
    super::check_interactive(config)?;
    if config.authorize_url.is_none() {
        return Err(Error::new(
            Status::Unsupported,
            "this account has no authorize_url: use the device or client-credentials flow",
        ));
    }
    account.flow.end_current().await;
    let listen = opts.listen.unwrap_or(true);
    let (listener, port) = if listen {
        let l = listener::bind(&config.redirect_uri, config.language)?;
        let p = l.port;
        (Some(l), p)
    } else {
        // nothing listens: the browser will show "cannot connect" with the URL to paste
        (None, config.redirect_uri.port.unwrap_or_else(free_port))
    };
    let redirect_uri = config.redirect_uri.uri_for_port(port);
    let req = new_request(config, &redirect_uri)?;
    crate::redact::register(account.id, "pkce_verifier", &req.verifier);
    let pending = Arc::new(PendingCode {
        state: req.state,
        verifier: req.verifier,
        redirect_uri: req.redirect_uri,
        path: config.redirect_uri.path.clone(),
        state_mismatches: AtomicU32::new(0),
    });
    let shared = flow::new_shared(&account.cancel_token());
    let task = match listener {
        Some(l) => Some(tokio::spawn(serve(
            account.clone(),
            l,
            pending.clone(),
            shared.clone(),
            config.authorize_timeout,
        ))),
        None => Some(tokio::spawn(expire(
            account.clone(),
            shared.clone(),
            config.authorize_timeout,
        ))),
    };
    account.flow.install(FlowHandle {
        kind: FlowKind::Code,
        shared,
        task,
        code: Some(pending.clone()),
    });
    om_log!(
        Level::Info,
        "account {}: authorization started, redirect {}",
        account.id,
        redirect_uri
    );
    let open = opts.open_browser.unwrap_or(config.open_browser);
    let browser = if open {
        Some(crate::oauth::browser::open(
            &req.url,
            config.browser_command.as_deref(),
        ))
    } else {
        None
    };
    let mut out = serde_json::json!({
        "authorization_url": req.url,
        "redirect_uri": redirect_uri,
        "listening": listen,
        "browser_opened": matches!(browser, Some(Ok(()))),
        "expires_in": config.authorize_timeout.as_secs(),
    });
    if let Some(Err(e)) = browser {
        out["browser_error"] = serde_json::Value::String(e.message);
    }
    Ok(out.to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(8400)
}

/// Without a listener the flow still ends at its deadline or on cancel.
async fn expire(account: Arc<Account>, shared: Arc<FlowShared>, limit: Duration) {
    tokio::select! {
        _ = shared.cancel.cancelled() => shared.finish(Err(cancelled(account.config.language))),
        _ = tokio::time::sleep(limit) => shared.finish(Err(timed_out(&account, limit, 0))),
    }
}

fn cancelled(l: Lang) -> Error {
    Error::new(
        Status::Cancelled,
        l.pick(
            "The authorization was cancelled",
            "L'autorisation a été annulée",
        ),
    )
}

fn timed_out(account: &Account, limit: Duration, mismatches: u32) -> Error {
    let l = account.config.language;
    let mut e = Error::new(
        Status::Timeout,
        l.pick_string(
            format!("No answer from the browser within {} s", limit.as_secs()),
            format!("Aucune réponse du navigateur en {} s", limit.as_secs()),
        ),
    )
    .with_hint(l.pick(
        "If the browser showed an error page after login, copy its full address and paste it (om_authorize_complete); check that the firewall or a proxy does not block the redirect to this computer.",
        "Si le navigateur a affiché une page d'erreur après la connexion, copiez son adresse complète et collez-la (om_authorize_complete) ; vérifiez que le pare-feu ou un proxy ne bloque pas la redirection vers cet ordinateur.",
    ));
    if mismatches > 0 {
        e = e.with_detail(l.pick_string(
            format!("{mismatches} redirect(s) with a wrong state were rejected (from an older authorization attempt?)"),
            format!("{mismatches} redirection(s) avec un state incorrect ont été rejetées (d'une tentative précédente ?)"),
        ));
    }
    e
}

/// Serves the listener until the flow finishes, times out or is cancelled.
async fn serve(
    account: Arc<Account>,
    mut listener: Listener,
    pending: Arc<PendingCode>,
    shared: Arc<FlowShared>,
    limit: Duration,
) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut served = 0u32;
    loop {
        let next = tokio::select! {
            _ = shared.cancel.cancelled() => {
                shared.finish(Err(cancelled(account.config.language)));
                return;
            }
            _ = tokio::time::sleep_until(deadline) => {
                shared.finish(Err(timed_out(&account, limit, pending.state_mismatches.load(Ordering::SeqCst))));
                return;
            }
            r = listener.next_request() => r,
        };
        let Ok(mut req) = next else { continue };
        served += 1;
        let done = tokio::select! {
            _ = shared.cancel.cancelled() => true,
            d = handle(&account, &pending, &shared, &mut req) => d,
        };
        if done || shared.is_finished() {
            return;
        }
        if served >= MAX_REQUESTS {
            shared.finish(Err(Error::new(
                Status::ProtocolError,
                "the redirect listener received too many unrelated requests and stopped",
            )));
            return;
        }
    }
}

/// Answers one request; true when it completed the flow.
async fn handle(
    account: &Arc<Account>,
    pending: &PendingCode,
    shared: &FlowShared,
    req: &mut listener::Request,
) -> bool {
    let l = account.config.language;
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (req.target.clone(), String::new()),
    };
    if req.method != "GET" {
        let _ = listener::respond(&mut req.stream, 405, "text/plain", "method not allowed").await;
        return false;
    }
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if path != pending.path || !(params.contains_key("code") || params.contains_key("error")) {
        // favicon.ico, a prefetch, a stray tab: not for us
        let _ = listener::respond(&mut req.stream, 404, "text/plain", "not found").await;
        return false;
    }
    let outcome = complete(account, pending, shared, &params).await;
    let (status, page) = match &outcome {
        Completion::Done(Ok(())) => (200, result_page::render(l, Ok(()))),
        Completion::Done(Err(e)) => (200, result_page::render(l, Err(&e.full_text()))),
        Completion::Rejected(e) => (400, result_page::render(l, Err(&e.message))),
    };
    let _ = listener::respond(&mut req.stream, status, "text/html; charset=utf-8", &page).await;
    matches!(outcome, Completion::Done(_))
}

enum Completion {
    /// The flow ended with this outcome.
    Done(Result<(), Error>),
    /// This redirect was refused (wrong state, already done); the flow goes on.
    Rejected(Error),
}

/// Checks the redirect's state, then stores the tokens or the provider's error.
async fn complete(
    account: &Arc<Account>,
    pending: &PendingCode,
    shared: &FlowShared,
    params: &HashMap<String, String>,
) -> Completion {
    let l = account.config.language;
    if params.get("state").map(String::as_str) != Some(pending.state.as_str()) {
        pending.state_mismatches.fetch_add(1, Ordering::SeqCst);
        om_log!(
            Level::Warn,
            "account {}: redirect with a wrong or missing state rejected",
            account.id
        );
        return Completion::Rejected(Error::new(
            Status::StateMismatch,
            l.pick(
                "This redirect does not belong to the authorization in progress (wrong or missing state) and was ignored. Start the authorization again from the application if needed.",
                "Cette redirection n'appartient pas à l'autorisation en cours (state incorrect ou absent) et a été ignorée. Relancez l'autorisation depuis l'application si besoin.",
            ),
        ));
    }
    if !shared.claim() {
        return Completion::Rejected(Error::wrong_state(l.pick(
            "This authorization was already completed.",
            "Cette autorisation est déjà terminée.",
        )));
    }
    let result = if let Some(err) = params.get("error") {
        let pe = ProviderError {
            error: err.clone(),
            error_description: params.get("error_description").cloned(),
            error_uri: params.get("error_uri").cloned(),
            ..Default::default()
        };
        Err(classify(&account.config, Grant::Authorize, &pe))
    } else {
        let code = params.get("code").cloned().unwrap_or_default();
        crate::redact::register(account.id, "authorization_code", &code);
        exchange(account, pending, code).await
    };
    match &result {
        Ok(()) => om_log!(
            Level::Info,
            "account {}: authorization complete",
            account.id
        ),
        Err(e) => om_log!(
            Level::Warn,
            "account {}: authorization failed: {}",
            account.id,
            e
        ),
    }
    shared.finish(result.clone());
    Completion::Done(result)
}

async fn exchange(account: &Account, pending: &PendingCode, code: String) -> Result<()> {
    let config = &account.config;
    let client = build(config, Some(&pending.redirect_uri))?;
    let mut request = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Error::config(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
    let main_scopes = config.token_scopes.join(" ");
    for (k, v) in crate::oauth::client::assertion_params(config)? {
        request = request.add_extra_param(k, v);
    }
    if config.token_scopes != config.scopes {
        // consent covered several resources: Microsoft issues a token for one, named here
        request = request.add_extra_param("scope", main_scopes);
    }
    let resp = request
        .request_async(&account.http)
        .await
        .map_err(|e| map_request_error(config, Grant::AuthorizationCode, e, |e| e))?;
    let previous = account.token_set();
    let mut set = token_set_from(config, &resp, &previous);
    if resp_refresh_missing(&resp) {
        set.refresh_token = None; // a new authorization: never keep an older refresh token
        om_log!(
            Level::Warn,
            "account {}: the provider issued no refresh token (offline access not granted?)",
            account.id
        );
    }
    account.store(set, "obtained by authorization").await
}

fn resp_refresh_missing(resp: &oauth2::basic::BasicTokenResponse) -> bool {
    use oauth2::TokenResponse;
    resp.refresh_token().is_none()
}

/// Completes the code flow in progress with the final redirect URL pasted by the user.
pub async fn complete_with_url(account: &Arc<Account>, redirect_url: &str) -> Result<()> {
    let l = account.config.language;
    let (pending, shared) = {
        let guard = account.flow.lock();
        match guard.as_ref() {
            Some(f) if f.kind == FlowKind::Code => (f.code.clone(), f.shared.clone()),
            _ => (None, flow::new_shared(&account.cancel_token())),
        }
    };
    let Some(pending) = pending else {
        return Err(Error::wrong_state(l.pick(
            "No browser authorization is in progress: call om_authorize_start first",
            "Aucune autorisation par navigateur n'est en cours : appelez d'abord om_authorize_start",
        )));
    };
    if shared.is_finished() {
        return Err(Error::wrong_state(l.pick(
            "This authorization has already ended: start a new one",
            "Cette autorisation est déjà terminée : lancez-en une nouvelle",
        )));
    }
    let url = url::Url::parse(redirect_url.trim()).map_err(|e| {
        Error::invalid_argument(format!(
            "the pasted text is not a URL ({e}): copy the whole address from the browser"
        ))
    })?;
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    if !(params.contains_key("code") || params.contains_key("error")) {
        return Err(Error::invalid_argument(l.pick(
            "The pasted address contains neither a code nor an error: copy the address of the page the browser showed after the login",
            "L'adresse collée ne contient ni code ni erreur : copiez l'adresse de la page affichée par le navigateur après la connexion",
        )));
    }
    match complete(account, &pending, &shared, &params).await {
        Completion::Done(r) => r,
        Completion::Rejected(e) => Err(e),
    }
}
