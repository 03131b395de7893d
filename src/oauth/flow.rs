//! The authorization in progress on an account (code or device flow): its outcome, which the
//! host waits for with a timeout, and its cancellation. The account holds a [`FlowSlot`]; this
//! module knows nothing of accounts (the flows that fill the slot do).

use crate::error::{Error, Result, Status};
use crate::lang::Lang;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub type Outcome = Option<Result<(), Error>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Code,
    Device,
}

/// What both the background task and a pasted-URL completion share.
pub struct FlowShared {
    outcome: watch::Sender<Outcome>,
    /// Set by whoever completes the flow first; later completions are refused.
    claimed: AtomicBool,
    pub cancel: CancellationToken,
}

impl FlowShared {
    /// Claims the right to complete the flow; false if someone already did.
    pub fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::SeqCst)
    }

    /// Publishes the outcome (once) and stops the background task.
    pub fn finish(&self, outcome: Result<(), Error>) {
        self.outcome.send_if_modified(|o| {
            if o.is_none() {
                *o = Some(outcome);
                true
            } else {
                false
            }
        });
        self.cancel.cancel();
    }

    pub fn is_finished(&self) -> bool {
        self.outcome.borrow().is_some()
    }
}

pub struct FlowHandle {
    pub kind: FlowKind,
    pub shared: Arc<FlowShared>,
    pub task: Option<JoinHandle<()>>,
    /// For the code flow: the attempt's state, verifier and redirect URI.
    pub code: Option<Arc<PendingCode>>,
}

/// What a code flow attempt must remember until the redirect comes back.
pub struct PendingCode {
    pub state: String,
    pub verifier: String,
    pub redirect_uri: String,
    /// The path the provider redirects to.
    pub path: String,
    /// Redirects seen with a wrong or missing state.
    pub state_mismatches: AtomicU32,
}

/// The flow in progress on one account, if any.
#[derive(Default)]
pub struct FlowSlot(Mutex<Option<FlowHandle>>);

/// Creates the shared part of a new flow, its cancellation a child of `parent` (the account's).
pub fn new_shared(parent: &CancellationToken) -> Arc<FlowShared> {
    let (tx, _) = watch::channel(None);
    Arc::new(FlowShared {
        outcome: tx,
        claimed: AtomicBool::new(false),
        cancel: parent.child_token(),
    })
}

impl FlowSlot {
    pub fn lock(&self) -> MutexGuard<'_, Option<FlowHandle>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the flow in progress, if any, and waits for its task (so its port is free again).
    pub async fn end_current(&self) {
        let old = self.lock().take();
        if let Some(mut old) = old {
            old.shared.finish(Err(Error::new(
                Status::Cancelled,
                "replaced by a new authorization",
            )));
            if let Some(task) = old.task.take() {
                let _ = task.await;
            }
        }
    }

    /// Installs a new flow as the current one.
    pub fn install(&self, handle: FlowHandle) {
        *self.lock() = Some(handle);
    }

    /// Waits up to `timeout` for the current flow's outcome: `Ok` (tokens stored), its error,
    /// or `Pending` when time ran out first.
    pub fn wait(&self, timeout: Duration, l: Lang) -> Result<()> {
        let shared = self.current(l)?;
        let mut rx = shared.outcome.subscribe();
        let outcome = crate::runtime::block_on(async move {
            let waited = tokio::time::timeout(timeout, rx.wait_for(|o| o.is_some())).await;
            match waited {
                Ok(Ok(o)) => o.clone(),
                _ => None,
            }
        })?;
        match outcome {
            Some(r) => r,
            None => Err(Error::new(
                Status::Pending,
                l.pick(
                    "The authorization is still in progress: call the wait function again",
                    "L'autorisation est toujours en cours : rappelez la fonction d'attente",
                ),
            )),
        }
    }

    /// Cancels the current flow (its outcome becomes `Cancelled`); no error when none runs.
    pub fn cancel(&self, l: Lang) {
        let shared = self.lock().as_ref().map(|f| f.shared.clone());
        if let Some(s) = shared {
            s.finish(Err(Error::new(
                Status::Cancelled,
                l.pick(
                    "The authorization was cancelled",
                    "L'autorisation a été annulée",
                ),
            )));
        }
    }

    fn current(&self, l: Lang) -> Result<Arc<FlowShared>> {
        self.lock().as_ref().map(|f| f.shared.clone()).ok_or_else(|| {
            Error::wrong_state(l.pick(
                "No authorization was started on this account: call om_authorize_start or om_device_start first",
                "Aucune autorisation n'a été lancée sur ce compte : appelez d'abord om_authorize_start ou om_device_start",
            ))
        })
    }
}
