//! One configured mail account: its configuration, its tokens, the authorization in progress,
//! and the cancellation of everything it is doing.
//!
//! Internally synchronised: every method may be called from any thread.

use crate::config::{Config, Resource};
use crate::error::{Error, Result, Status};
use crate::fetch::state::StateStore;
use crate::log::Level;
use crate::oauth::flow::FlowSlot;
use crate::oauth::{grants, http::TokenHttp};
use crate::om_log;
use crate::tokens::store::TokenStore;
use crate::tokens::TokenSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The host's token-changed callback, called with the exported token set JSON.
pub type TokenListener = Box<dyn Fn(&str) + Send + Sync>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct Account {
    pub id: u64,
    pub config: Config,
    pub(crate) http: TokenHttp,
    /// The tokens: what the transports depend on.
    pub tokens: TokenStore,
    pub(crate) flow: FlowSlot,
    cancel: Mutex<CancellationToken>,
    listener: Mutex<Option<TokenListener>>,
    /// What was fetched already, and what is left to do on the server.
    pub sync: StateStore,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Account {
    /// Creates an account from its configuration JSON; loads the token file if one is set.
    pub fn from_json(json: &str) -> Result<Arc<Account>> {
        Account::new(Config::from_json(json)?)
    }

    pub fn new(config: Config) -> Result<Arc<Account>> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let http = TokenHttp::new(&config)?;
        let tokens = TokenStore::new(
            id,
            &config.client_id,
            config.token_url.as_str(),
            config.refresh_margin,
            config.language,
            config.token_file.as_ref().map(PathBuf::from),
        )?;
        if let Some(secret) = &config.client_secret {
            crate::redact::register(id, "client_secret", secret);
        }
        for (slot, s) in [
            ("incoming_password", &config.incoming),
            ("outgoing_password", &config.outgoing),
        ] {
            if let Some(p) = s.as_ref().and_then(|s| s.password.as_ref()) {
                crate::redact::register(id, slot, p);
            }
        }
        if let Some(p) = config.proxy.configured().and_then(|p| p.password.as_ref()) {
            crate::redact::register(id, "proxy_password", p);
        }
        if let Some(sa) = &config.service_account {
            // the PEM's base64 body: the part that would show if a key ever reached a log
            let body: String = sa
                .key
                .private_key
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect();
            crate::redact::register(id, "service_account_key", &body);
        }
        let sync = StateStore::open(config.state_file.as_deref())?;
        let account = Arc::new(Account {
            id,
            config,
            http,
            tokens,
            flow: FlowSlot::default(),
            cancel: Mutex::new(CancellationToken::new()),
            listener: Mutex::new(None),
            sync,
        });
        om_log!(
            Level::Info,
            "account {} created ({:?}, client {})",
            id,
            account.config.provider,
            account.config.client_id
        );
        Ok(account)
    }

    // ----- cancellation and blocking calls -------------------------------------------------

    /// The token that the operations started now observe.
    pub fn cancel_token(&self) -> CancellationToken {
        lock(&self.cancel).clone()
    }

    /// Cancels every operation in progress on this account (authorization, refresh, …).
    /// Later operations are not affected.
    pub fn cancel_all(&self) {
        let old = std::mem::replace(&mut *lock(&self.cancel), CancellationToken::new());
        old.cancel();
        om_log!(Level::Info, "account {}: operations cancelled", self.id);
    }

    /// Runs `fut` on the shared runtime from a host thread, bounded by `timeout` and cancellable.
    pub fn run_blocking<T>(
        &self,
        timeout: Duration,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let cancel = self.cancel_token();
        let lang = self.config.language;
        crate::runtime::block_on(async move {
            tokio::select! {
                r = fut => r,
                _ = cancel.cancelled() => Err(Error::new(Status::Cancelled, lang.pick("The operation was cancelled", "L'opération a été annulée"))),
                _ = tokio::time::sleep(timeout) => Err(Error::new(Status::Timeout, lang.pick_string(
                    format!("The operation did not finish within {} ms", timeout.as_millis()),
                    format!("L'opération ne s'est pas terminée en {} ms", timeout.as_millis())))),
            }
        })?
    }

    /// The timeout for a call: `timeout_ms`, or the account's `timeout_secs` when 0.
    pub fn timeout_or_default(&self, timeout_ms: u32) -> Duration {
        if timeout_ms == 0 {
            self.config.timeout
        } else {
            Duration::from_millis(u64::from(timeout_ms))
        }
    }

    // ----- tokens ---------------------------------------------------------------------------

    /// How long to wait for the lock of shared tokens: three quarters of `timeout_secs`, so that
    /// a call bounded by that timeout ends with `TokensLocked` (saying why) rather than a bare
    /// `Timeout`.
    fn lock_wait(&self) -> Duration {
        self.config.timeout * 3 / 4
    }

    /// The access token and its expiry if it stays valid for at least the refresh margin.
    pub fn cached_token(&self) -> Option<(String, i64)> {
        self.tokens.cached()
    }

    /// Marks `token` as refused by a mail server: the next [`Account::access_token`] refreshes.
    pub fn reject_access_token(&self, token: &str) {
        self.tokens.reject(token)
    }

    /// Fails without any network when no token can be had (see [`TokenStore::check_can_refresh`]).
    pub fn check_can_refresh(&self) -> Result<()> {
        self.tokens
            .check_can_refresh(self.config.has_no_refresh_token())
    }

    /// Returns a token for the mail servers valid for at least the margin, refreshing (or, for
    /// app-only accounts, requesting) a new one if needed — once for all threads, and once for
    /// all processes when the tokens are shared.
    pub async fn access_token(&self) -> Result<(String, i64)> {
        self.access_token_for(Resource::Mail).await
    }

    /// The same for `resource`: the main token, or one kept apart when the configuration says
    /// this resource needs its own (Microsoft Graph beside Outlook).
    pub async fn access_token_for(&self, resource: Resource) -> Result<(String, i64)> {
        let app_only = self.config.has_no_refresh_token();
        let separate = self.config.separate_scopes(resource);
        let key = separate.map(|_| resource.key());
        self.tokens
            .access_token(key, app_only, self.lock_wait(), |current| async move {
                let r = match separate {
                    Some(scopes) => {
                        om_log!(
                            Level::Info,
                            "account {}: requesting an access token for {}",
                            self.id,
                            resource.key()
                        );
                        grants::resource_token(&self.config, &self.http, &current, resource, scopes)
                            .await
                    }
                    None if self.config.flow == crate::config::Flow::ServiceAccount => {
                        om_log!(
                            Level::Info,
                            "account {}: signing a service account assertion for a new token",
                            self.id
                        );
                        crate::oauth::service_account::token(
                            &self.config,
                            &self.http,
                            &current,
                            &self.config.token_scopes,
                        )
                        .await
                    }
                    None if app_only => {
                        grants::client_credentials(&self.config, &self.http, &current).await
                    }
                    None => {
                        om_log!(
                            Level::Info,
                            "account {}: refreshing the access token",
                            self.id
                        );
                        grants::refresh(&self.config, &self.http, &current).await
                    }
                };
                if let Err(e) = &r {
                    om_log!(
                        Level::Warn,
                        "account {}: token refresh failed: {}",
                        self.id,
                        e
                    );
                }
                r
            })
            .await
    }

    /// Installs the tokens of a completed authorization (saved where the tokens are shared).
    pub(crate) async fn store(&self, new_set: TokenSet, why: &str) -> Result<()> {
        self.tokens.install(new_set, self.lock_wait(), why).await
    }

    /// The token set as JSON (secrets included: for the host's own storage).
    pub fn export_tokens(&self) -> String {
        self.tokens.export_json()
    }

    pub fn token_set(&self) -> TokenSet {
        self.tokens.snapshot()
    }

    /// Imports a token set exported earlier (possibly by another workstation). An older set
    /// than the one held is refused with `StaleTokens`.
    pub fn import_tokens(&self, json: &str) -> Result<()> {
        self.tokens.import_json(json, self.lock_wait())
    }

    /// Revokes the tokens at the provider (where it has a revocation endpoint) and forgets them
    /// here and where they are shared. They are forgotten even when revocation fails.
    pub async fn revoke(&self) -> Result<bool> {
        let revoked = self
            .tokens
            .revoke(self.lock_wait(), |current| async move {
                grants::revoke(&self.config, &self.http, &current).await
            })
            .await?;
        om_log!(Level::Info, "account {}: tokens forgotten", self.id);
        revoked.map_err(|e| {
            let l = self.config.language;
            Error {
                message: l.pick_string(
                    format!("The tokens were deleted here, but the provider could not be told to revoke them: {}", e.message),
                    format!("Les jetons ont été supprimés ici, mais le fournisseur n'a pas pu être prévenu de les révoquer : {}", e.message),
                ),
                ..e
            }
        })
    }

    // ----- the host's token listener ----------------------------------------------------------

    pub fn set_token_listener(&self, listener: Option<TokenListener>) {
        *lock(&self.listener) = listener;
    }

    /// Saves to the host's token store what an authorization obtained on a library thread.
    /// Called on the host's thread after each call (it runs the host's store callbacks).
    pub fn save_pending_tokens(&self) -> Result<()> {
        if !self.tokens.has_unsaved() {
            return Ok(());
        }
        crate::runtime::block_on(self.tokens.flush_unsaved(self.lock_wait()))?
    }

    /// Calls the token listener on this (the host's) thread if the tokens changed since the last
    /// delivery. Runs outside every lock; a call back into this account from the listener gets
    /// `ReentrantCall`.
    pub fn deliver_notifications(&self) {
        if !self.tokens.take_changed() {
            return;
        }
        let json = self.export_tokens();
        let guard = lock(&self.listener);
        if let Some(l) = guard.as_ref() {
            self.as_callback(|| l(&json));
        }
    }

    /// True when the token listener has a change to hear about, or a change waits to be saved
    /// to the host's token store.
    pub fn has_pending_notification(&self) -> bool {
        self.tokens.has_changed() || self.tokens.has_unsaved()
    }

    /// True when this thread is inside a callback of any account.
    pub fn in_any_callback() -> bool {
        crate::callback_mark::in_any()
    }

    /// True when this thread is inside one of this account's callbacks.
    pub fn in_callback(&self) -> bool {
        crate::callback_mark::is(self.id)
    }

    /// Runs `f` (the host's code) marked as this account's callback.
    pub fn as_callback<T>(&self, f: impl FnOnce() -> T) -> T {
        crate::callback_mark::run_as(self.id, f)
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        crate::redact::forget_owner(self.id);
    }
}
