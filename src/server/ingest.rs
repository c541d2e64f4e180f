//! Group commit for `POST /webhook`: every acknowledged delivery must be durable before its
//! 2xx, and a durable commit costs an fsync. One writer task per process takes the
//! deliveries the request handlers queued, stores up to [`MAX_BATCH`] of them in ONE
//! transaction (one fsync for all of them), then answers each handler.
//!
//! ```text
//! handler: verify, parse -> send (delivery, reply) --bounded channel--> writer
//! writer:  wait for one, take what else is queued (<= MAX_BATCH) -> one transaction -> replies
//! ```
//!
//! There is no timer: when the queue is empty the writer commits the single delivery it has
//! at once (light load keeps single-insert latency); under load, deliveries queue up while a
//! commit is in flight and the next batch takes them all. A full channel makes the handlers
//! wait (back-pressure), nothing is dropped. If a batch transaction fails, its deliveries are
//! stored one by one so one bad row does not fail the others; a delivery that still fails is
//! answered with the error (the handler answers 503: not acknowledged, GitHub shows the
//! failure and it can be redelivered).
//!
//! Duplicates are the store's call, the same in a batch as one by one: a delivery whose
//! (hook id, delivery id) or body (SHA-256) is already stored, or appears earlier in the same
//! batch, is answered `Duplicate` and is never stored twice, so two handlers racing with one
//! replayed body get one `New` between them whichever commit they land in.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Inserted, NewDelivery, Store, StoreError, StoreResult};

/// Deliveries stored in one transaction at most.
pub const MAX_BATCH: usize = 256;
/// Deliveries queued for the writer at most before handlers wait.
pub const QUEUE: usize = 4 * MAX_BATCH;

struct Job {
    delivery: NewDelivery,
    reply: oneshot::Sender<StoreResult<Inserted>>,
}

/// The handlers' side of the group-commit writer. Dropping it (with every clone) stops the
/// writer once it has answered what was queued.
#[derive(Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<Job>,
}

impl Ingest {
    /// Spawns the writer on the current Tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Ingest {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store, queue));
        Ingest { jobs }
    }

    /// Stores `delivery` durably (committed) and says whether it was new: the same answer
    /// as [`Store::insert_delivery`], batched with whatever else arrives meanwhile.
    pub async fn insert(&self, delivery: NewDelivery) -> StoreResult<Inserted> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { delivery, reply })
            .await
            .map_err(|_| StoreError::Invalid("the delivery writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Invalid("the delivery writer has stopped".into()))?
    }
}

async fn writer(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut batch: Vec<NewDelivery> = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    // Waits for at least one job, then takes what else is queued right now.
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        // A handler that gave up (its client disconnected) still gets its delivery stored:
        // GitHub may have sent it, and storing it is what a redelivery would do anyway.
        for job in jobs.drain(..) {
            batch.push(job.delivery);
            replies.push(job.reply);
        }
        match store.insert_deliveries(&batch).await {
            Ok(answers) if answers.len() == batch.len() => {
                for (reply, answer) in replies.drain(..).zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            outcome => {
                match outcome {
                    Err(error) => tracing::warn!(
                        %error,
                        batch = batch.len(),
                        "batch insert failed; inserting one by one"
                    ),
                    Ok(_) => {
                        tracing::error!("batch insert answered the wrong number of deliveries")
                    }
                }
                for (delivery, reply) in batch.iter().zip(replies.drain(..)) {
                    let _ = reply.send(store.insert_delivery(delivery).await);
                }
            }
        }
        batch.clear();
    }
}
