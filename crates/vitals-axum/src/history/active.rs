//! Writes the active alerts to the store before their transitions are delivered, in order,
//! off the sampling loop: one task takes each evaluation's set (a bounded queue), writes it on
//! a blocking thread, then hands the transitions on. A crash after a page therefore finds the
//! paged alert in the store at the next start (no second page), and one after a resolve does
//! not restore it.

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;
use vitals::AlertTransition;
use vitals_store::{ActiveAlert, Store};

/// Evaluations with transitions waiting to be written (one per sample interval at most; a
/// store stalled this long means delivery goes on unrecorded rather than waits).
const QUEUE: usize = 64;

struct Job {
    rows: Vec<ActiveAlert>,
    transitions: Vec<AlertTransition>,
}

/// The queue into the writer task, once started.
#[derive(Debug, Default)]
pub(crate) struct ActiveSaver {
    tx: OnceLock<mpsc::Sender<JobBox>>,
}

/// `Job` behind a box so the `Debug` of the saver needs none of its parts.
pub(crate) struct JobBox(Box<Job>);

impl std::fmt::Debug for JobBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobBox")
    }
}

impl ActiveSaver {
    /// Starts the writer on the current runtime; `deliver` gets each job's transitions after
    /// its write (or after a failed write, logged).
    pub(crate) fn start(
        &self,
        store: Arc<Store>,
        deliver: impl Fn(Vec<AlertTransition>) + Send + 'static,
    ) {
        let (tx, mut rx) = mpsc::channel::<JobBox>(QUEUE);
        if self.tx.set(tx).is_err() {
            return;
        }
        tokio::spawn(async move {
            while let Some(JobBox(job)) = rx.recv().await {
                let Job { rows, transitions } = *job;
                let store = Arc::clone(&store);
                let written =
                    tokio::task::spawn_blocking(move || store.set_active_alerts(&rows)).await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "active alerts not written"),
                    Err(e) => tracing::warn!(error = %e, "active alerts not written"),
                }
                deliver(transitions);
            }
        });
    }

    /// Queues one evaluation's active set and transitions; gives the transitions back when
    /// they cannot be queued (no writer, or it is this far behind), to be delivered now.
    pub(crate) fn save(
        &self,
        rows: Vec<ActiveAlert>,
        transitions: Vec<AlertTransition>,
    ) -> Option<Vec<AlertTransition>> {
        let Some(tx) = self.tx.get() else {
            return Some(transitions);
        };
        match tx.try_send(JobBox(Box::new(Job { rows, transitions }))) {
            Ok(()) => None,
            Err(
                mpsc::error::TrySendError::Full(JobBox(job))
                | mpsc::error::TrySendError::Closed(JobBox(job)),
            ) => {
                tracing::warn!("active alerts writer behind; delivering without recording");
                Some(job.transitions)
            }
        }
    }
}
