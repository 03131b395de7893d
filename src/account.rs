//! One configured mail account: its configuration, its tokens, the authorization in progress,
//! and the cancellation of everything it is doing.
//!
//! Internally synchronised: every method may be called from any thread.

use crate::config::Config;
use crate::error::{Error, Result, Status};
use crate::fetch::state::{FolderState, SyncState};
use crate::log::Level;
use crate::oauth::flow::FlowHandle;
use crate::oauth::{grants, http::TokenHttp};
use crate::om_log;
use crate::tokens::token_set::now_unix;
use crate::tokens::{token_file, TokenSet};
use std::cell::Cell;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The host's token-changed callback, called with the exported token set JSON.
pub type TokenListener = Box<dyn Fn(&str) + Send + Sync>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The account whose callback this thread is running, if any.
    static IN_CALLBACK: Cell<u64> = const { Cell::new(0) };
}

struct TokenState {
    set: TokenSet,
    /// The refresh failure that applies to the refresh token held (no retry until it changes).
    auth_failure: Option<(String, Error)>,
    /// An access token a mail server refused: not served again, the next call refreshes.
    rejected: Option<String>,
}

pub struct Account {
    pub id: u64,
    pub config: Config,
    pub(crate) http: TokenHttp,
    tokens: Mutex<TokenState>,
    refresh_lock: tokio::sync::Mutex<()>,
    pub(crate) flow: Mutex<Option<FlowHandle>>,
    cancel: Mutex<CancellationToken>,
    listener: Mutex<Option<TokenListener>>,
    notify_pending: AtomicBool,
    /// What was fetched already, per folder.
    sync: Mutex<SyncState>,
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
        let mut set = TokenSet::empty(&config.client_id, config.token_url.as_str());
        if let Some(path) = &config.token_file {
            if let Some(stored) = token_file::read(&PathBuf::from(path))? {
                set.check_import(&stored).map_err(|e| {
                    Error::new(
                        Status::IoError,
                        format!(
                            "the token file {path} does not belong to this account: {}",
                            e.message
                        ),
                    )
                })?;
                set = stored;
            }
        }
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
        register_token_secrets(id, &set);
        let sync = match &config.state_file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => SyncState::from_json(&text).map_err(|e| {
                    Error::new(
                        Status::IoError,
                        format!("the fetch state file {path} is damaged ({}): delete it (mail already fetched may then come again)", e.message),
                    )
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => SyncState::new(),
                Err(e) => return Err(Error::io(format!("cannot read the fetch state file {path}"), &e)),
            },
            None => SyncState::new(),
        };
        let account = Arc::new(Account {
            id,
            config,
            http,
            tokens: Mutex::new(TokenState {
                set,
                auth_failure: None,
                rejected: None,
            }),
            refresh_lock: tokio::sync::Mutex::new(()),
            flow: Mutex::new(None),
            cancel: Mutex::new(CancellationToken::new()),
            listener: Mutex::new(None),
            notify_pending: AtomicBool::new(false),
            sync: Mutex::new(sync),
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

    /// The access token and its expiry if it stays valid for at least the refresh margin.
    pub fn cached_token(&self) -> Option<(String, i64)> {
        let st = lock(&self.tokens);
        let set = &st.set;
        let token = set.access_token.as_ref()?;
        if st.rejected.as_ref() == Some(token) {
            return None;
        }
        let now = now_unix();
        let expires = set.expires_at.unwrap_or(i64::MAX / 2);
        if expires - now > self.margin_secs(set) {
            Some((token.clone(), expires))
        } else {
            None
        }
    }

    /// The refresh margin, at most half the token's lifetime (a 10-minute token with a 5-minute
    /// margin would otherwise be refreshed on every call).
    fn margin_secs(&self, set: &TokenSet) -> i64 {
        let margin = self.config.refresh_margin.as_secs() as i64;
        match set.expires_at {
            Some(e) if e > set.updated_at && set.updated_at > 0 => {
                margin.min((e - set.updated_at) / 2)
            }
            _ => margin,
        }
    }

    /// Marks `token` as refused by a mail server (revoked, or expired early): the next
    /// [`Account::access_token`] refreshes instead of serving it again.
    pub fn reject_access_token(&self, token: &str) {
        let mut st = lock(&self.tokens);
        if st.set.access_token.as_deref() == Some(token) {
            st.rejected = Some(token.to_string());
        }
    }

    /// Fails without any network when no token can be had: no refresh token (user accounts), or
    /// the held refresh token was already refused.
    pub fn check_can_refresh(&self) -> Result<()> {
        if self.config.is_app_only() {
            return Ok(());
        }
        let st = lock(&self.tokens);
        match (&st.auth_failure, &st.set.refresh_token) {
            (Some((rt, err)), Some(cur)) if rt == cur => Err(err.clone()),
            (_, Some(_)) => Ok(()),
            (_, None) => Err(crate::oauth::hints::no_refresh_token(self.config.language)),
        }
    }

    /// Returns a token valid for at least the margin, refreshing (or, for app-only accounts,
    /// requesting) a new one if needed. Concurrent callers share one refresh.
    pub async fn access_token(&self) -> Result<(String, i64)> {
        if let Some(t) = self.cached_token() {
            return Ok(t);
        }
        let _one_at_a_time = self.refresh_lock.lock().await;
        if let Some(t) = self.cached_token() {
            return Ok(t); // another caller refreshed while we waited
        }
        let current = {
            let st = lock(&self.tokens);
            if let (Some((rt, err)), Some(cur)) = (&st.auth_failure, &st.set.refresh_token) {
                if rt == cur {
                    return Err(err.clone());
                }
            }
            st.set.clone()
        };
        let result = if self.config.is_app_only() {
            grants::client_credentials(&self.config, &self.http, &current).await
        } else {
            om_log!(
                Level::Info,
                "account {}: refreshing the access token",
                self.id
            );
            grants::refresh(&self.config, &self.http, &current).await
        };
        match result {
            Ok(new_set) => {
                self.store(new_set, "refreshed")?;
                self.cached_token().ok_or_else(|| {
                    Error::new(
                        Status::ProviderError,
                        "the provider returned an access token that is already expired",
                    )
                })
            }
            Err(e) => {
                if e.status == Status::AuthorizationRequired {
                    if let Some(rt) = &current.refresh_token {
                        lock(&self.tokens).auth_failure = Some((rt.clone(), e.clone()));
                    }
                }
                om_log!(
                    Level::Warn,
                    "account {}: token refresh failed: {}",
                    self.id,
                    e
                );
                Err(e)
            }
        }
    }

    /// Replaces the token set by a newer one from the provider: version grows, the token file
    /// is rewritten, the host's listener is notified on its next call.
    pub(crate) fn store(&self, mut new_set: TokenSet, why: &str) -> Result<()> {
        register_token_secrets(self.id, &new_set);
        let mut st = lock(&self.tokens);
        new_set.version = new_set.version.max(st.set.version + 1);
        new_set.updated_at = new_set.updated_at.max(now_unix());
        if let Some(path) = &self.config.token_file {
            token_file::write(&PathBuf::from(path), &new_set)?;
        }
        st.set = new_set;
        st.auth_failure = None;
        drop(st);
        self.notify_pending.store(true, Ordering::SeqCst);
        om_log!(Level::Info, "account {}: tokens {why}", self.id);
        Ok(())
    }

    /// The token set as JSON (secrets included: for the host's own storage).
    pub fn export_tokens(&self) -> String {
        lock(&self.tokens).set.to_json()
    }

    pub fn token_set(&self) -> TokenSet {
        lock(&self.tokens).set.clone()
    }

    /// Imports a token set exported earlier (possibly by another workstation). An older set
    /// than the one held is refused with `StaleTokens`.
    pub fn import_tokens(&self, json: &str) -> Result<()> {
        let incoming = TokenSet::from_json(json)?;
        register_token_secrets(self.id, &incoming);
        let mut st = lock(&self.tokens);
        st.set.check_import(&incoming)?;
        if let Some(path) = &self.config.token_file {
            token_file::write(&PathBuf::from(path), &incoming)?;
        }
        st.set = incoming;
        st.auth_failure = None;
        Ok(())
    }

    /// Revokes the tokens at the provider (where it has a revocation endpoint) and forgets them
    /// here: memory and token file. The tokens are forgotten even when revocation fails.
    pub async fn revoke(&self) -> Result<bool> {
        let _one_at_a_time = self.refresh_lock.lock().await;
        let current = self.token_set();
        let revoked = grants::revoke(&self.config, &self.http, &current).await;
        let mut empty = TokenSet::empty(&self.config.client_id, self.config.token_url.as_str());
        empty.version = current.version + 1;
        empty.updated_at = now_unix().max(current.updated_at);
        {
            let mut st = lock(&self.tokens);
            st.set = empty;
            st.auth_failure = None;
        }
        if let Some(path) = &self.config.token_file {
            token_file::delete(&PathBuf::from(path))?;
        }
        self.notify_pending.store(true, Ordering::SeqCst);
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

    // ----- fetch state -----------------------------------------------------------------------

    pub fn folder_state(&self, key: &str) -> Option<FolderState> {
        lock(&self.sync).imap.get(key).copied()
    }

    /// Records what was fetched; with a `state_file`, writes it at once (atomically), so a
    /// crash of the host re-delivers at most the message not yet accepted.
    pub fn set_folder_state(&self, key: &str, state: FolderState) -> Result<()> {
        let mut sync = lock(&self.sync);
        if sync.imap.get(key) == Some(&state) {
            return Ok(());
        }
        sync.imap.insert(key.to_string(), state);
        self.write_state_file(&sync, false)
    }

    /// The POP3 UIDLs accepted before, for the mailbox `key`.
    pub fn pop3_seen(&self, key: &str) -> Vec<String> {
        lock(&self.sync).pop3.get(key).cloned().unwrap_or_default()
    }

    pub fn set_pop3_seen(&self, key: &str, seen: Vec<String>) -> Result<()> {
        let mut sync = lock(&self.sync);
        sync.pop3.insert(key.to_string(), seen);
        self.write_state_file(&sync, false)
    }

    /// Adds one accepted UIDL (and rewrites the state file, if any).
    pub fn add_pop3_seen(&self, key: &str, uidl: &str) -> Result<()> {
        let mut sync = lock(&self.sync);
        sync.pop3
            .entry(key.to_string())
            .or_default()
            .push(uidl.to_string());
        self.write_state_file(&sync, false)
    }

    /// Flushes the state file to disk (end of a fetch).
    pub fn persist_sync_state(&self) -> Result<()> {
        let sync = lock(&self.sync);
        self.write_state_file(&sync, true)
    }

    fn write_state_file(&self, sync: &SyncState, durable: bool) -> Result<()> {
        match &self.config.state_file {
            Some(path) => crate::atomic_file::write(
                std::path::Path::new(path),
                sync.to_json().as_bytes(),
                durable,
                true,
            )
            .map_err(|e| Error::io(format!("cannot write the fetch state file {path}"), &e)),
            None => Ok(()),
        }
    }

    /// What was fetched already, as JSON for the host to keep.
    pub fn export_sync_state(&self) -> String {
        lock(&self.sync).to_json()
    }

    /// Replaces the fetch state by one the host kept.
    pub fn import_sync_state(&self, json: &str) -> Result<()> {
        let s = SyncState::from_json(json)?;
        let mut sync = lock(&self.sync);
        *sync = s;
        self.write_state_file(&sync, true)
    }

    // ----- the host's token listener ----------------------------------------------------------

    pub fn set_token_listener(&self, listener: Option<TokenListener>) {
        *lock(&self.listener) = listener;
    }

    /// Calls the token listener on this (the host's) thread if the tokens changed since the last
    /// delivery. Runs outside every lock; a call back into this account from the listener gets
    /// `ReentrantCall`.
    pub fn deliver_notifications(&self) {
        // a plain load first: the hot path (nothing changed) writes no shared cache line
        if !self.notify_pending.load(Ordering::Relaxed)
            || !self.notify_pending.swap(false, Ordering::SeqCst)
        {
            return;
        }
        let json = self.export_tokens();
        let guard = lock(&self.listener);
        if let Some(l) = guard.as_ref() {
            IN_CALLBACK.with(|c| c.set(self.id));
            l(&json);
            IN_CALLBACK.with(|c| c.set(0));
        }
    }

    /// True when the token listener has a change to hear about.
    pub fn has_pending_notification(&self) -> bool {
        self.notify_pending.load(Ordering::Relaxed)
    }

    /// True when this thread is inside a callback of any account.
    pub fn in_any_callback() -> bool {
        IN_CALLBACK.with(|c| c.get()) != 0
    }

    /// True when this thread is inside one of this account's callbacks.
    pub fn in_callback(&self) -> bool {
        IN_CALLBACK.with(|c| c.get()) == self.id
    }

    /// Runs `f` marked as this account's callback (for callbacks other than the token listener).
    pub fn as_callback<T>(&self, f: impl FnOnce() -> T) -> T {
        let prev = IN_CALLBACK.with(|c| c.replace(self.id));
        let r = f();
        IN_CALLBACK.with(|c| c.set(prev));
        r
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        crate::redact::forget_owner(self.id);
    }
}

fn register_token_secrets(owner: u64, set: &TokenSet) {
    for (slot, s) in [
        ("access_token", &set.access_token),
        ("refresh_token", &set.refresh_token),
    ] {
        crate::redact::register(owner, slot, s.as_deref().unwrap_or(""));
    }
}
