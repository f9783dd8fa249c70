//! Access changes, announced to open streams and sockets.
//!
//! Every path that can take a right away (unfriending, a visibility change,
//! a deletion, a revoked or expired token) announces it here after its
//! write. Each open stream holds an `AccessWatch` for what it depends on
//! and, when a change concerns it, runs its access check again. Nothing is
//! queried while access does not change.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::domain::{ActivityId, AthleteId};

/// Who wakes an activity's actor. A resident actor checks the owner on
/// each write; a non-resident one is loaded only for these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waker {
    /// Ingest, state changes, WebSocket: only the activity's owner.
    Owner(AthleteId),
    /// A watcher whose right to see the activity the caller has already
    /// checked (`visible_activity`).
    Watcher,
    /// The server itself (the auto-complete sweep).
    Server,
}

/// The outcome of running an access check again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// The right is gone: the stream is told `revoked`, the socket closed.
    Denied,
    /// The check could not run (the database is down): the stream ends
    /// without `revoked`, and reconnecting checks again.
    Unknown,
}

/// Changes a subscriber may fall behind by before it rechecks regardless.
const CHANGES_BUFFERED: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessChange {
    /// Two athletes are no longer friends (or a request between them ended).
    Unfriended(AthleteId, AthleteId),
    /// An activity's visibility changed, or it was deleted.
    Activity(ActivityId),
    /// A token (its SHA-256, hex) was revoked or expired.
    Token(Arc<str>),
}

pub struct AccessNotifier {
    tx: broadcast::Sender<AccessChange>,
}

impl Default for AccessNotifier {
    fn default() -> Self {
        AccessNotifier {
            tx: broadcast::channel(CHANGES_BUFFERED).0,
        }
    }
}

impl AccessNotifier {
    /// Subscribe before running the access check, so that a change made
    /// while the check runs is not missed.
    pub fn subscribe(&self) -> broadcast::Receiver<AccessChange> {
        self.tx.subscribe()
    }

    fn announce(&self, change: AccessChange) {
        // No subscriber (no open stream) is not an error.
        let _ = self.tx.send(change);
    }

    pub fn unfriended(&self, a: AthleteId, b: AthleteId) {
        self.announce(AccessChange::Unfriended(a, b));
    }

    /// The activity's visibility changed or it was deleted.
    pub fn activity_changed(&self, id: ActivityId) {
        self.announce(AccessChange::Activity(id));
    }

    /// A token was revoked, or expired: streams opened with it end.
    pub fn token_revoked(&self, token_hash: &str) {
        self.announce(AccessChange::Token(token_hash.into()));
    }
}

/// What one open stream's right to see depends on.
#[derive(Debug, Clone)]
pub struct AccessScope {
    pub viewer: AthleteId,
    pub owner: AthleteId,
    pub activity: ActivityId,
    pub token_hash: String,
}

impl AccessScope {
    /// A stream that depends on its token alone (the events stream: each
    /// event is checked against the friendships as it goes out). Its own
    /// athlete as owner, so that no unfriending concerns it, and no
    /// activity (ids start at 1).
    pub fn token(viewer: AthleteId, token_hash: String) -> AccessScope {
        AccessScope {
            viewer,
            owner: viewer,
            activity: ActivityId(0),
            token_hash,
        }
    }

    pub fn affected_by(&self, change: &AccessChange) -> bool {
        match change {
            AccessChange::Unfriended(a, b) => {
                self.viewer != self.owner
                    && ((*a == self.viewer && *b == self.owner)
                        || (*a == self.owner && *b == self.viewer))
            }
            AccessChange::Activity(id) => *id == self.activity,
            AccessChange::Token(hash) => **hash == *self.token_hash,
        }
    }
}

/// One stream's subscription, filtered to the changes that concern it.
pub struct AccessWatch {
    rx: broadcast::Receiver<AccessChange>,
    scope: AccessScope,
}

impl AccessWatch {
    pub fn new(rx: broadcast::Receiver<AccessChange>, scope: AccessScope) -> Self {
        AccessWatch { rx, scope }
    }

    /// Whether a change that concerns this stream is waiting (missed
    /// changes count as concerning it).
    pub fn try_changed(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(change) if self.scope.affected_by(&change) => return true,
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Waits for a change that concerns this stream. Never returns once the
    /// notifier is gone (the server is shutting down).
    pub async fn changed(&mut self) {
        loop {
            match self.rx.recv().await {
                Ok(change) if self.scope.affected_by(&change) => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> AccessScope {
        AccessScope {
            viewer: AthleteId(2),
            owner: AthleteId(1),
            activity: ActivityId(10),
            token_hash: "ab".into(),
        }
    }

    #[test]
    fn only_changes_that_concern_the_stream_count() {
        let s = scope();
        assert!(s.affected_by(&AccessChange::Unfriended(AthleteId(1), AthleteId(2))));
        assert!(s.affected_by(&AccessChange::Unfriended(AthleteId(2), AthleteId(1))));
        assert!(!s.affected_by(&AccessChange::Unfriended(AthleteId(1), AthleteId(3))));
        assert!(s.affected_by(&AccessChange::Activity(ActivityId(10))));
        assert!(!s.affected_by(&AccessChange::Activity(ActivityId(11))));
        assert!(s.affected_by(&AccessChange::Token("ab".into())));
        assert!(!s.affected_by(&AccessChange::Token("cd".into())));
        let own = AccessScope {
            viewer: AthleteId(1),
            ..scope()
        };
        assert!(!own.affected_by(&AccessChange::Unfriended(AthleteId(1), AthleteId(2))));
    }

    #[tokio::test]
    async fn watch_filters_and_lag_counts_as_a_change() {
        let notifier = AccessNotifier::default();
        let mut watch = AccessWatch::new(notifier.subscribe(), scope());
        assert!(!watch.try_changed());
        notifier.activity_changed(ActivityId(11));
        assert!(!watch.try_changed());
        notifier.token_revoked("ab");
        assert!(watch.try_changed());
        notifier.unfriended(AthleteId(1), AthleteId(2));
        watch.changed().await;
        for _ in 0..CHANGES_BUFFERED + 1 {
            notifier.activity_changed(ActivityId(11));
        }
        assert!(watch.try_changed(), "a lagged watcher rechecks");
    }
}
