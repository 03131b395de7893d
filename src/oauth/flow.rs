//! The authorization in progress on an account (code or device flow): its outcome, which the
//! host waits for with a timeout, and its cancellation.

use crate::account::Account;
use crate::error::{Error, Result, Status};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    pub code: Option<Arc<super::code_flow::PendingCode>>,
}

/// Creates the shared part of a new flow, its cancellation a child of the account's.
pub fn new_shared(account: &Account) -> Arc<FlowShared> {
    let (tx, _) = watch::channel(None);
    Arc::new(FlowShared {
        outcome: tx,
        claimed: AtomicBool::new(false),
        cancel: account.cancel_token().child_token(),
    })
}

/// Ends the flow in progress, if any, and waits for its task (so its port is free again).
pub async fn end_current(account: &Account) {
    let old = account
        .flow
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
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

/// Installs a new flow as the account's current one.
pub fn install(account: &Account, handle: FlowHandle) {
    *account.flow.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
}

/// Waits up to `timeout` for the current flow's outcome: `Ok` (tokens stored), its error, or
/// `Pending` when time ran out first.
pub fn wait(account: &Account, timeout: Duration) -> Result<()> {
    let shared = current(account)?;
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
            account.config.language.pick(
                "The authorization is still in progress: call the wait function again",
                "L'autorisation est toujours en cours : rappelez la fonction d'attente",
            ),
        )),
    }
}

/// Cancels the current flow (its outcome becomes `Cancelled`); no error when none runs.
pub fn cancel(account: &Account) {
    let shared = account
        .flow
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|f| f.shared.clone());
    if let Some(s) = shared {
        s.finish(Err(Error::new(
            Status::Cancelled,
            account.config.language.pick(
                "The authorization was cancelled",
                "L'autorisation a été annulée",
            ),
        )));
    }
}

fn current(account: &Account) -> Result<Arc<FlowShared>> {
    account
        .flow
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|f| f.shared.clone())
        .ok_or_else(|| {
            Error::wrong_state(account.config.language.pick(
                "No authorization was started on this account: call om_authorize_start or om_device_start first",
                "Aucune autorisation n'a été lancée sur ce compte : appelez d'abord om_authorize_start ou om_device_start",
            ))
        })
}
