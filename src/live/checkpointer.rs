//! The single writer for live activities. Actors hand it their new fixes
//! and status changes; it writes whatever has queued up in one transaction,
//! so checkpoints are batched across actors and no arbiter waits on I/O.
//! A failed batch is kept and retried; writes that wait for a reply
//! (status changes, completion) fail fast with the store's error.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::domain::Fix;
use crate::store::{ActivityProgress, DynStore, RouteChunk, StoreError, StoreResult};

/// Queued writes before `try_checkpoint` refuses (the actor keeps its fixes).
pub const QUEUE_CAPACITY: usize = 65_536;
/// Most operations written in one transaction.
const MAX_BATCH: usize = 2_048;
const RETRY_EVERY: Duration = Duration::from_secs(1);

type Reply = oneshot::Sender<StoreResult<()>>;

enum Op {
    Chunk(RouteChunk),
    Progress(ActivityProgress, Option<Reply>),
    Complete(Box<ActivityProgress>, Vec<Fix>, Reply),
    Flush(Reply),
}

#[derive(Clone)]
pub struct Checkpointer {
    tx: mpsc::Sender<Op>,
}

impl Checkpointer {
    /// Starts the writer on the current runtime.
    pub fn start(store: DynStore) -> Checkpointer {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        actix::spawn(run(store, rx));
        Checkpointer { tx }
    }

    /// Queues new route points; gives them back when the queue is full.
    pub fn try_checkpoint(&self, chunk: RouteChunk) -> Result<(), RouteChunk> {
        match self.tx.try_send(Op::Chunk(chunk)) {
            Err(e) => match e.into_inner() {
                Op::Chunk(chunk) => Err(chunk),
                // Only the chunk sent here can come back.
                _ => Ok(()),
            },
            Ok(()) => Ok(()),
        }
    }

    /// Writes a status change (after any queued chunks) and waits for it.
    pub async fn save_progress(&self, progress: ActivityProgress) -> StoreResult<()> {
        let (reply, rx) = oneshot::channel();
        self.send(Op::Progress(progress, Some(reply)), rx).await
    }

    /// Writes the completed activity in one transaction and waits for it.
    pub async fn complete(&self, progress: ActivityProgress, route: Vec<Fix>) -> StoreResult<()> {
        let (reply, rx) = oneshot::channel();
        self.send(Op::Complete(Box::new(progress), route, reply), rx)
            .await
    }

    /// Writes everything queued so far.
    pub async fn flush(&self) -> StoreResult<()> {
        let (reply, rx) = oneshot::channel();
        self.send(Op::Flush(reply), rx).await
    }

    async fn send(&self, op: Op, rx: oneshot::Receiver<StoreResult<()>>) -> StoreResult<()> {
        self.tx.send(op).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Corrupt("the checkpoint writer stopped".to_string())
}

/// Chunks and progress not yet written, kept across failures.
#[derive(Default)]
struct Backlog {
    chunks: Vec<RouteChunk>,
    progress: Vec<ActivityProgress>,
    replies: Vec<Reply>,
}

impl Backlog {
    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.progress.is_empty() && self.replies.is_empty()
    }

    /// Writes the backlog. On failure the data stays for the next try and
    /// the waiting callers are told.
    async fn write(&mut self, store: &DynStore) -> StoreResult<()> {
        if self.chunks.is_empty() && self.progress.is_empty() {
            for reply in self.replies.drain(..) {
                let _ = reply.send(Ok(()));
            }
            return Ok(());
        }
        let result = store.checkpoint(&self.progress, &self.chunks).await;
        let result = match result {
            Err(StoreError::Unavailable(e)) => Err(StoreError::Unavailable(e)),
            // A bad row (say, its activity was deleted) must not block the
            // rest: write them one by one and drop what fails.
            Err(e) => {
                tracing::warn!(error = %e, "batched checkpoint failed; writing one by one");
                self.write_each(store).await
            }
            ok => ok,
        };
        match &result {
            Ok(()) => {
                self.chunks.clear();
                self.progress.clear();
                for reply in self.replies.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, chunks = self.chunks.len(), "checkpoint failed; will retry");
                for reply in self.replies.drain(..) {
                    let _ = reply.send(Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)));
                }
            }
        }
        result
    }

    async fn write_each(&mut self, store: &DynStore) -> StoreResult<()> {
        for p in std::mem::take(&mut self.progress) {
            match store.checkpoint(std::slice::from_ref(&p), &[]).await {
                Err(StoreError::Unavailable(e)) => {
                    self.progress.push(p);
                    return Err(StoreError::Unavailable(e));
                }
                Err(e) => {
                    tracing::error!(activity_id = %p.id, error = %e, "dropping progress that cannot be written")
                }
                Ok(()) => {}
            }
        }
        for c in std::mem::take(&mut self.chunks) {
            match store.checkpoint(&[], std::slice::from_ref(&c)).await {
                Err(StoreError::Unavailable(e)) => {
                    self.chunks.push(c);
                    return Err(StoreError::Unavailable(e));
                }
                Err(e) => {
                    tracing::error!(activity_id = %c.activity_id, error = %e, "dropping a chunk that cannot be written")
                }
                Ok(()) => {}
            }
        }
        Ok(())
    }
}

async fn run(store: DynStore, mut rx: mpsc::Receiver<Op>) {
    let mut backlog = Backlog::default();
    loop {
        let op = if backlog.is_empty() {
            match rx.recv().await {
                Some(op) => op,
                None => return,
            }
        } else {
            tokio::select! {
                op = rx.recv() => match op { Some(op) => op, None => return },
                _ = tokio::time::sleep(RETRY_EVERY) => {
                    let _ = backlog.write(&store).await;
                    continue;
                }
            }
        };
        let mut ops = vec![op];
        while ops.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        for op in ops {
            match op {
                Op::Chunk(chunk) => backlog.chunks.push(chunk),
                Op::Progress(progress, reply) => {
                    backlog.progress.push(progress);
                    backlog.replies.extend(reply);
                }
                Op::Flush(reply) => backlog.replies.push(reply),
                Op::Complete(progress, route, reply) => {
                    // Everything queued before the completion goes first.
                    let result = match backlog.write(&store).await {
                        Ok(()) => store.complete_activity(&progress, &route).await,
                        Err(e) => Err(e),
                    };
                    let _ = reply.send(result);
                }
            }
        }
        let _ = backlog.write(&store).await;
    }
}
