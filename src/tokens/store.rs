//! The tokens of one account: the set in memory, served to every thread; one refresh at a
//! time for all of them — and, when the tokens are shared ([`super::shared`]), for every
//! process using the mailbox; and the "tokens changed" mark the host is told about.
//!
//! What needs the provider (a refresh, a revocation) is given to this store as a function, so
//! the store knows nothing of OAuth2 and the transports depend on it alone.

use super::shared::{FileStore, Held, SharedStore};
use super::token_set::now_unix;
use super::{token_file, TokenSet};
use crate::error::{Error, Result, Status};
use crate::lang::Lang;
use crate::log::Level;
use crate::om_log;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

struct State {
    set: TokenSet,
    /// The refusal that applies to the refresh token held (not tried again until it changes).
    auth_failure: Option<(String, Error)>,
    /// An access token a mail server refused: not served again, the next call refreshes.
    rejected: Option<String>,
}

/// How an account's tokens are kept and refreshed.
pub struct TokenStore {
    /// The account's id: owner of the secrets registered for redaction, name in the log.
    owner: u64,
    client_id: String,
    token_url: String,
    margin: Duration,
    lang: Lang,
    state: Mutex<State>,
    /// One refresh at a time: per account, or per token file within this process.
    refresh: Arc<tokio::sync::Mutex<()>>,
    file: Option<Arc<FileStore>>,
    /// The host's store (C ABI token store callbacks), when it set one.
    host: RwLock<Option<Arc<dyn SharedStore>>>,
    /// The host's listener has a change to hear about.
    changed: AtomicBool,
    /// A set obtained on a library thread that a host-thread-only store has not saved yet.
    unsaved: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// True when `a` is a later set than `b`.
fn newer(a: &TokenSet, b: &TokenSet) -> bool {
    (a.version, a.updated_at) > (b.version, b.updated_at)
}

fn register_secrets(owner: u64, set: &TokenSet) {
    for (slot, s) in [
        ("access_token", &set.access_token),
        ("refresh_token", &set.refresh_token),
    ] {
        crate::redact::register(owner, slot, s.as_deref().unwrap_or(""));
    }
    for (slot, key) in [
        ("access_token:graph", "graph"),
        ("access_token:mail", "mail"),
    ] {
        let token = set.resources.get(key).map(|t| t.access_token.as_str());
        crate::redact::register(owner, slot, token.unwrap_or(""));
    }
}

impl TokenStore {
    /// A store for `client_id` at `token_url`; with `token_file`, the tokens are read from it
    /// (when it exists) and shared through it.
    pub fn new(
        owner: u64,
        client_id: &str,
        token_url: &str,
        margin: Duration,
        lang: Lang,
        token_file: Option<PathBuf>,
    ) -> Result<TokenStore> {
        let mut set = TokenSet::empty(client_id, token_url);
        let (file, refresh) = match token_file {
            Some(path) => {
                if let Some(stored) = token_file::read(&path)? {
                    set.check_import(&stored)
                        .map_err(|e| not_ours(&path.display().to_string(), e))?;
                    set = stored;
                }
                let mutex = super::file_lock::process_mutex(&path);
                (Some(Arc::new(FileStore { path })), mutex)
            }
            None => (None, Arc::default()),
        };
        register_secrets(owner, &set);
        Ok(TokenStore {
            owner,
            client_id: client_id.to_string(),
            token_url: token_url.to_string(),
            margin,
            lang,
            state: Mutex::new(State {
                set,
                auth_failure: None,
                rejected: None,
            }),
            refresh,
            file,
            host: RwLock::new(None),
            changed: AtomicBool::new(false),
            unsaved: AtomicBool::new(false),
        })
    }

    /// Makes the host's storage (its database) the place where the tokens are shared. Refused
    /// when the account has a token file, which is shared already.
    pub fn set_host_store(&self, store: Option<Arc<dyn SharedStore>>) -> Result<()> {
        if store.is_some() {
            self.check_host_store_allowed()?;
        }
        let old = std::mem::replace(
            &mut *self.host.write().unwrap_or_else(|e| e.into_inner()),
            store,
        );
        drop(old); // outside the lock: dropping may call the host's code
        Ok(())
    }

    /// Refuses a host store for an account with a token file (already shared and locked).
    pub fn check_host_store_allowed(&self) -> Result<()> {
        if self.file.is_some() {
            return Err(Error::wrong_state(self.lang.pick(
                "This account keeps its tokens in its token_file, which is already shared and locked between processes: remove token_file from the configuration to use your own token store",
                "Ce compte garde ses jetons dans son token_file, déjà partagé et verrouillé entre processus : retirez token_file de la configuration pour utiliser votre propre stockage de jetons",
            )));
        }
        Ok(())
    }

    /// Where the tokens are shared: the host's store, else the token file.
    fn shared(&self) -> Option<Arc<dyn SharedStore>> {
        if let Some(h) = self.host.read().unwrap_or_else(|e| e.into_inner()).clone() {
            return Some(h);
        }
        self.file.clone().map(|f| f as Arc<dyn SharedStore>)
    }

    // ----- reading ---------------------------------------------------------------------------

    /// The main access token and its expiry if it stays valid for at least the refresh margin.
    pub fn cached(&self) -> Option<(String, i64)> {
        self.cached_for(None)
    }

    /// The access token for `resource` (`None`: the main one), as [`TokenStore::cached`].
    pub fn cached_for(&self, resource: Option<&str>) -> Option<(String, i64)> {
        let st = lock(&self.state);
        let (token, expires_at, obtained_at) = st.set.token_for(resource)?;
        if st.rejected.as_deref() == Some(token) {
            return None;
        }
        let expires = expires_at.unwrap_or(i64::MAX / 2);
        if expires.saturating_sub(now_unix()) > self.margin_secs(expires_at, obtained_at) {
            // room for a C string's NUL: handed to the host, this is the only copy
            let mut copy = String::with_capacity(token.len() + 1);
            copy.push_str(token);
            Some((copy, expires))
        } else {
            None
        }
    }

    /// The refresh margin, at most half the token's lifetime (a 10-minute token with a 5-minute
    /// margin would otherwise be refreshed on every call).
    fn margin_secs(&self, expires_at: Option<i64>, obtained_at: i64) -> i64 {
        let margin = self.margin.as_secs() as i64;
        match expires_at {
            Some(e) if e > obtained_at && obtained_at > 0 => {
                margin.min(e.saturating_sub(obtained_at) / 2)
            }
            _ => margin,
        }
    }

    pub fn snapshot(&self) -> TokenSet {
        lock(&self.state).set.clone()
    }

    /// The token set as JSON (secrets included: for the host's own storage).
    pub fn export_json(&self) -> String {
        lock(&self.state).set.to_json()
    }

    /// Marks `token` as refused by a mail server (revoked, or expired early): the next
    /// [`TokenStore::access_token`] refreshes instead of serving it again.
    pub fn reject(&self, token: &str) {
        let mut st = lock(&self.state);
        let held = st.set.access_token.as_deref() == Some(token)
            || st.set.resources.values().any(|t| t.access_token == token);
        if held {
            st.rejected = Some(token.to_string());
        }
    }

    // ----- changes ---------------------------------------------------------------------------

    /// Takes the "tokens changed" mark (true once per change).
    pub fn take_changed(&self) -> bool {
        // a plain load first: the hot path (nothing changed) writes no shared cache line
        self.changed.load(Ordering::Relaxed) && self.changed.swap(false, Ordering::SeqCst)
    }

    pub fn has_changed(&self) -> bool {
        self.changed.load(Ordering::Relaxed)
    }

    /// Installs `set` in memory, its version above the one held. Returns what was installed.
    fn put(&self, mut set: TokenSet, why: &str) -> TokenSet {
        register_secrets(self.owner, &set);
        let mut st = lock(&self.state);
        set.version = set.version.max(st.set.version.saturating_add(1));
        set.updated_at = set.updated_at.max(now_unix());
        if st.set.refresh_token != set.refresh_token {
            st.auth_failure = None;
        }
        st.set = set.clone();
        drop(st);
        self.changed.store(true, Ordering::SeqCst);
        om_log!(Level::Info, "account {}: tokens {why}", self.owner);
        set
    }

    /// Uses `latest` (read from the shared store) when it is later than the set held.
    fn adopt_if_newer(&self, latest: &TokenSet, from: &str) -> Result<bool> {
        let mut st = lock(&self.state);
        if !newer(latest, &st.set) {
            return Ok(false);
        }
        st.set.check_import(latest).map_err(|e| not_ours(from, e))?;
        register_secrets(self.owner, latest);
        if st.set.refresh_token != latest.refresh_token {
            st.auth_failure = None;
        }
        st.set = latest.clone();
        drop(st);
        self.changed.store(true, Ordering::SeqCst);
        om_log!(
            Level::Info,
            "account {}: newer tokens (version {}) taken from {from}",
            self.owner,
            latest.version
        );
        Ok(true)
    }

    fn adopt_held(&self, held: &Held) -> Result<()> {
        if let Some(latest) = &held.latest {
            self.adopt_if_newer(latest, &self.store_name())?;
        }
        Ok(())
    }

    fn store_name(&self) -> String {
        match (
            &self.file,
            self.host.read().map(|h| h.is_some()).unwrap_or(false),
        ) {
            (_, true) => self
                .lang
                .pick("the host's token store", "le stockage de jetons de l'hôte")
                .to_string(),
            (Some(f), _) => format!(
                "{} {}",
                self.lang.pick("the token file", "le fichier de jetons"),
                f.path.display()
            ),
            (None, _) => String::new(),
        }
    }

    /// The floor for a new version: above the set held and the latest stored.
    fn floor(&self, held: Option<&Held>) -> u64 {
        let mine = lock(&self.state).set.version;
        held.and_then(|h| h.latest.as_ref())
            .map_or(mine, |l| l.version.max(mine))
    }

    // ----- refresh ---------------------------------------------------------------------------

    /// Fails without any network when no token can be had: no refresh token (user accounts), or
    /// the held refresh token was already refused. A token file is read again first (another
    /// process may have authorized or refreshed since).
    pub fn check_can_refresh(&self, app_only: bool) -> Result<()> {
        if app_only || self.host.read().map(|h| h.is_some()).unwrap_or(false) {
            return Ok(()); // the host's store can only be read under its lock
        }
        if let Some(f) = &self.file {
            if let Some(stored) = token_file::read(&f.path)? {
                self.adopt_if_newer(&stored, &self.store_name())?;
            }
        }
        self.fail_fast()
    }

    fn fail_fast(&self) -> Result<()> {
        let st = lock(&self.state);
        match (&st.auth_failure, &st.set.refresh_token) {
            (Some((rt, err)), Some(cur)) if rt == cur => Err(err.clone()),
            (_, Some(_)) => Ok(()),
            (_, None) => Err(no_refresh_token(self.lang)),
        }
    }

    /// A token valid for at least the margin: the one held, else one another process stored,
    /// else a new one from `obtain` (a refresh, or for app-only accounts a new token), given the
    /// set held. Concurrent callers share one refresh; with a shared store, processes too, and
    /// waiting for the store's lock is bounded by `wait`.
    ///
    /// `resource` names a token kept apart from the main one (`None`: the main token); `obtain`
    /// then returns the whole set with that resource's new token in it.
    pub async fn access_token<F, Fut>(
        &self,
        resource: Option<&str>,
        app_only: bool,
        wait: Duration,
        obtain: F,
    ) -> Result<(String, i64)>
    where
        F: FnOnce(TokenSet) -> Fut,
        Fut: Future<Output = Result<TokenSet>>,
    {
        if let Some(t) = self.cached_for(resource) {
            return Ok(t);
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(t) = self.cached_for(resource) {
            return Ok(t); // another caller refreshed while we waited
        }
        let held = match self.shared() {
            Some(s) => Some(s.lock(wait, self.lang).await?),
            None => None,
        };
        if let Some(h) = &held {
            self.adopt_held(h)?;
            if let Some(t) = self.cached_for(resource) {
                // another process refreshed: nothing to do here
                if let Some(h) = held {
                    h.release(None)?;
                }
                return Ok(t);
            }
        }
        if !app_only {
            self.fail_fast()?;
        }
        let current = self.snapshot();
        let floor = self.floor(held.as_ref());
        match obtain(current.clone()).await {
            Ok(mut new_set) => {
                new_set.version = floor.saturating_add(1);
                let installed = self.put(new_set, "refreshed");
                if let Some(h) = held {
                    h.release(Some(&installed))
                        .map_err(|e| self.unsaved_error(e))?;
                }
                self.cached_for(resource).ok_or_else(|| {
                    Error::new(
                        Status::ProviderError,
                        "the provider returned an access token that is already expired",
                    )
                })
            }
            Err(e) => {
                if e.status == Status::AuthorizationRequired {
                    if let Some(rt) = &current.refresh_token {
                        lock(&self.state).auth_failure = Some((rt.clone(), e.clone()));
                    }
                }
                Err(e)
            }
        }
    }

    fn unsaved_error(&self, e: Error) -> Error {
        Error {
            message: self.lang.pick_string(
                format!("The tokens were refreshed but could not be saved to {}: other programs sharing them will have to authorize again unless this one saves them later ({})", self.store_name(), e.message),
                format!("Les jetons ont été actualisés mais n'ont pas pu être enregistrés dans {} : les autres programmes qui les partagent devront autoriser de nouveau, sauf si celui-ci les enregistre plus tard ({})", self.store_name(), e.message),
            ),
            ..e
        }
    }

    // ----- other changes ---------------------------------------------------------------------

    /// Installs a set obtained by an authorization (a new grant): it wins over whatever is
    /// stored. Saved to a token file at once; to a host-thread-only store by the next
    /// [`TokenStore::flush_unsaved`].
    pub async fn install(&self, set: TokenSet, wait: Duration, why: &str) -> Result<()> {
        let _one_at_a_time = self.refresh.lock().await;
        match self.shared() {
            Some(s) if !s.host_thread_only() => {
                let held = s.lock(wait, self.lang).await?;
                let mut set = set;
                set.version = set.version.max(self.floor(Some(&held)).saturating_add(1));
                let installed = self.put(set, why);
                held.release(Some(&installed))
            }
            Some(_) => {
                self.put(set, why);
                self.unsaved.store(true, Ordering::SeqCst);
                Ok(())
            }
            None => {
                self.put(set, why);
                Ok(())
            }
        }
    }

    /// Saves to the host's store a set that [`TokenStore::install`] could not save from a
    /// library thread. Runs on a host thread (the C ABI calls it after each call).
    pub async fn flush_unsaved(&self, wait: Duration) -> Result<()> {
        if !self.unsaved.load(Ordering::SeqCst) {
            return Ok(());
        }
        let _one_at_a_time = self.refresh.lock().await;
        let Some(s) = self.shared() else {
            self.unsaved.store(false, Ordering::SeqCst);
            return Ok(());
        };
        if !self.unsaved.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let result = async {
            let held = s.lock(wait, self.lang).await?;
            let mut set = self.snapshot();
            let stored = held.latest.as_ref().map_or(0, |l| l.version);
            if stored >= set.version {
                set.version = stored.saturating_add(1);
                set = self.put(set, "renumbered above the stored set");
            }
            held.release(Some(&set))
        }
        .await;
        if result.is_err() {
            self.unsaved.store(true, Ordering::SeqCst); // tried again on the next call
        }
        result.map_err(|e| self.unsaved_error(e))
    }

    /// True when a set waits for [`TokenStore::flush_unsaved`].
    pub fn has_unsaved(&self) -> bool {
        self.unsaved.load(Ordering::Relaxed)
    }

    /// Imports a set exported earlier (by the host's storage, another workstation). An older
    /// set than the one held — or than the one in the token file — is refused (`StaleTokens`).
    pub fn import_json(&self, json: &str, wait: Duration) -> Result<()> {
        let incoming = TokenSet::from_json(json)?;
        register_secrets(self.owner, &incoming);
        let held = match &self.file {
            Some(f) => {
                let held = f.lock_blocking(wait, self.lang)?;
                self.adopt_held(&held)?;
                Some(held)
            }
            None => None,
        };
        let mut st = lock(&self.state);
        st.set.check_import(&incoming)?;
        if let Some(h) = held {
            h.release(Some(&incoming))?;
        }
        if st.set.refresh_token != incoming.refresh_token {
            st.auth_failure = None;
        }
        st.set = incoming;
        Ok(())
    }

    /// Revokes (through `revoke`, given the newest set) and forgets the tokens: memory, and the
    /// shared store, which keeps an empty set with a higher version so that every process
    /// sharing it stops using them. Forgotten even when revocation fails (its error is kept).
    pub async fn revoke<F, Fut>(&self, wait: Duration, revoke: F) -> Result<Result<bool>>
    where
        F: FnOnce(TokenSet) -> Fut,
        Fut: Future<Output = Result<bool>>,
    {
        let _one_at_a_time = self.refresh.lock().await;
        let held = match self.shared() {
            Some(s) => Some(s.lock(wait, self.lang).await?),
            None => None,
        };
        if let Some(h) = &held {
            self.adopt_held(h)?;
        }
        let current = self.snapshot();
        let revoked = revoke(current.clone()).await;
        let mut empty = TokenSet::empty(&self.client_id, &self.token_url);
        empty.version = self.floor(held.as_ref()).saturating_add(1);
        empty.updated_at = now_unix().max(current.updated_at);
        let installed = self.put(empty, "forgotten");
        lock(&self.state).auth_failure = None;
        self.unsaved.store(false, Ordering::SeqCst);
        if let Some(h) = held {
            h.release(Some(&installed))?;
        }
        Ok(revoked)
    }
}

fn not_ours(from: &str, e: Error) -> Error {
    Error::new(
        Status::IoError,
        format!(
            "the tokens in {from} do not belong to this account: {}",
            e.message
        ),
    )
}

/// No refresh token is held (never authorized, revoked, or the provider issued none).
pub fn no_refresh_token(l: Lang) -> Error {
    Error::new(
        Status::AuthorizationRequired,
        l.pick(
            "Authorization required: there is no refresh token for this account",
            "Autorisation nécessaire : ce compte n'a pas de jeton d'actualisation",
        ),
    )
    .with_hint(l.pick(
        "The user must authorize once (the host calls om_authorize_start, or om_device_start); if tokens are kept in the host's database, import them with om_tokens_import first.",
        "L'utilisateur doit s'autoriser une fois (l'application appelle om_authorize_start, ou om_device_start) ; si les jetons sont conservés dans la base de l'application, importez-les d'abord avec om_tokens_import.",
    ))
}
