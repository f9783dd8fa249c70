//! The node's background tasks (change-log consumers, leaderboard syncs,
//! sweepers, the webhook deliverer), stopped together when the node stops.
//!
//! One mechanism: every task is registered here, and `stop` cancels the
//! token (tasks spawned here select on it), aborts whatever is still
//! running (tasks spawned elsewhere and adopted), and waits, bounded, for
//! every one of them to end. A task ends at one of its awaits, as at a
//! crash: each of them is written to survive that (consumers commit their
//! effects with their positions; deliveries are leased).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Background {
    token: CancellationToken,
    tasks: Mutex<Vec<(&'static str, AbortHandle)>>,
}

impl Background {
    pub fn new() -> Background {
        Background::default()
    }

    /// Cancelled when the node stops.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Spawns `task` on the current runtime; it is dropped at its next
    /// await once the node stops. The handle aborts it earlier.
    pub fn spawn<F>(&self, name: &'static str, task: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let token = self.token.clone();
        let handle = tokio::spawn(async move {
            tokio::select! {
                biased;
                _ = token.cancelled() => {}
                _ = task => {}
            }
        });
        self.adopt(name, handle)
    }

    /// As `spawn`, for a task that must stay on this thread (an actix
    /// arbiter's).
    pub fn spawn_local<F>(&self, name: &'static str, task: F) -> AbortHandle
    where
        F: Future<Output = ()> + 'static,
    {
        let token = self.token.clone();
        let handle = actix::spawn(async move {
            tokio::select! {
                biased;
                _ = token.cancelled() => {}
                _ = task => {}
            }
        });
        self.adopt(name, handle)
    }

    /// Registers a task spawned elsewhere: it is aborted when the node
    /// stops, and `stop` waits for its end.
    pub fn adopt<T>(&self, name: &'static str, handle: JoinHandle<T>) -> AbortHandle {
        let abort = handle.abort_handle();
        self.adopt_handle(name, abort.clone());
        abort
    }

    pub fn adopt_handle(&self, name: &'static str, handle: AbortHandle) {
        if self.is_stopping() {
            handle.abort();
        }
        let mut tasks = self.lock();
        // Ended tasks go, so the list stays as long as the running ones.
        tasks.retain(|(_, t)| !t.is_finished());
        tasks.push((name, handle));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, AbortHandle)>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tasks still running.
    pub fn live(&self) -> usize {
        self.lock().iter().filter(|(_, t)| !t.is_finished()).count()
    }

    /// The names of the tasks still running (for the log).
    pub fn running(&self) -> Vec<&'static str> {
        self.lock()
            .iter()
            .filter(|(_, t)| !t.is_finished())
            .map(|(n, _)| *n)
            .collect()
    }

    /// Stops every task and waits up to `within` for their ends; answers
    /// how many still run then (0 unless one is stuck outside an await).
    pub async fn stop(&self, within: Duration) -> usize {
        self.token.cancel();
        for (_, t) in self.lock().iter() {
            t.abort();
        }
        let deadline = Instant::now() + within;
        loop {
            let live = self.live();
            if live == 0 || Instant::now() >= deadline {
                if live > 0 {
                    tracing::warn!(tasks = ?self.running(), "background tasks still running after the stop");
                }
                return live;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Background {
    /// The last owner gone (a node built and dropped without its stop):
    /// nothing runs on.
    fn drop(&mut self) {
        self.token.cancel();
        for (_, t) in self.lock().iter() {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_ends_spawned_and_adopted_tasks() {
        let bg = Background::new();
        bg.spawn("forever", std::future::pending());
        bg.adopt(
            "adopted",
            tokio::spawn(async {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }),
        );
        bg.spawn("done", async {});
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(bg.live(), 2);
        assert_eq!(bg.stop(Duration::from_secs(2)).await, 0);
        assert_eq!(bg.live(), 0);
        // A task registered after the stop does not run on.
        let late = bg.spawn("late", std::future::pending());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(late.is_finished());
    }
}
