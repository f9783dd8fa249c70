//! The activity events stream's fan-out: one reader of the change log per
//! node hands each event to the watchers who may see it. Per event it reads
//! the activity and the owner's friends once (current state, whatever the
//! number of watchers), so unfriending or a visibility change takes effect
//! at the next event. Each watcher has a bounded queue; one that falls
//! behind is dropped and told to reset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::changes::event::{ChangeEvent, ChangeKind, Changed};
use crate::domain::activity::Relation;
use crate::domain::{ActivityId, AthleteId};
use crate::store::{ActivityRow, DynStore, StoreResult};

/// What a watcher is told about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    Started,
    Completed,
    Updated,
    /// Deleted, or no longer visible to this watcher.
    Deleted,
}

impl FeedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Started => "activity_started",
            FeedKind::Completed => "activity_completed",
            FeedKind::Updated => "activity_updated",
            FeedKind::Deleted => "activity_deleted",
        }
    }
}

/// One delivery: the event, its meaning for this watcher and the activity
/// as it is now (None when deleted or no longer visible).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: Arc<ChangeEvent>,
    pub kind: FeedKind,
    pub activity: Option<Arc<ActivityRow>>,
}

/// What `viewer` (related to the owner by `relation`) hears of `event`,
/// given the activity's current row. Pure: the visibility rule in one place.
pub fn classify(
    event: &ChangeEvent,
    relation: Relation,
    row: Option<&ActivityRow>,
) -> Option<FeedKind> {
    if event.kind == ChangeKind::Deleted {
        return event
            .visibility
            .allows(relation)
            .then_some(FeedKind::Deleted);
    }
    // Gone since: its own deletion event follows.
    let row = row?;
    let visible = row.visibility.allows(relation);
    if !visible {
        // Visible before this change, hidden now: gone for this watcher.
        return (event.kind == ChangeKind::Updated && event.changed.contains(Changed::VISIBILITY))
            .then_some(FeedKind::Deleted);
    }
    Some(match event.kind {
        ChangeKind::Started => FeedKind::Started,
        ChangeKind::Completed | ChangeKind::Created => FeedKind::Completed,
        ChangeKind::Paused | ChangeKind::Resumed | ChangeKind::Updated => FeedKind::Updated,
        ChangeKind::Deleted => FeedKind::Deleted,
    })
}

struct Watcher {
    id: u64,
    tx: mpsc::Sender<Delivery>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    /// The last seq handed out: a new watcher gets everything after it.
    position: i64,
    watchers: HashMap<AthleteId, Vec<Watcher>>,
}

/// A subscription: deliveries after `position`.
pub struct Subscription {
    pub id: u64,
    pub position: i64,
    pub rx: mpsc::Receiver<Delivery>,
}

pub struct EventsHub {
    store: DynStore,
    registry: Mutex<Registry>,
    queue: usize,
}

impl EventsHub {
    /// Starts the reader from the current end of the log; answers the
    /// hub and the reader's task.
    pub async fn start(
        store: DynStore,
        queue: usize,
        poll: Duration,
    ) -> StoreResult<(Arc<EventsHub>, tokio::task::JoinHandle<()>)> {
        let head = store.change_head().await?;
        let hub = Arc::new(EventsHub {
            store,
            registry: Mutex::new(Registry {
                position: head,
                ..Registry::default()
            }),
            queue: queue.max(1),
        });
        let reader = tokio::spawn(read_log(Arc::downgrade(&hub), poll));
        Ok((hub, reader))
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding it cannot leave the map half-changed.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a watcher for `athlete`; it receives every event after
    /// the returned position that it may see.
    pub fn subscribe(&self, athlete: AthleteId) -> Subscription {
        let (tx, rx) = mpsc::channel(self.queue);
        let mut reg = self.registry();
        reg.next_id += 1;
        let id = reg.next_id;
        reg.watchers
            .entry(athlete)
            .or_default()
            .push(Watcher { id, tx });
        Subscription {
            id,
            position: reg.position,
            rx,
        }
    }

    pub fn unsubscribe(&self, athlete: AthleteId, id: u64) {
        let mut reg = self.registry();
        if let Some(list) = reg.watchers.get_mut(&athlete) {
            list.retain(|w| w.id != id);
            if list.is_empty() {
                reg.watchers.remove(&athlete);
            }
        }
    }

    pub fn watchers(&self) -> usize {
        self.registry().watchers.values().map(Vec::len).sum()
    }

    /// Hands one event to its watchers. A full queue drops the watcher
    /// (its stream then sends `reset`).
    fn deliver(&self, event: ChangeEvent, row: Option<ActivityRow>, friends: &[AthleteId]) {
        let event = Arc::new(event);
        let row = row.map(Arc::new);
        let mut reg = self.registry();
        let owner = event.athlete_id;
        let audience = std::iter::once((owner, Relation::Owner))
            .chain(friends.iter().map(|f| (*f, Relation::Friend)));
        for (athlete, relation) in audience {
            let Some(list) = reg.watchers.get_mut(&athlete) else {
                continue;
            };
            let Some(kind) = classify(&event, relation, row.as_deref()) else {
                continue;
            };
            let activity = match kind {
                FeedKind::Deleted => None,
                _ => row.clone(),
            };
            list.retain(|w| {
                w.tx.try_send(Delivery {
                    event: event.clone(),
                    kind,
                    activity: activity.clone(),
                })
                .is_ok()
            });
            if list.is_empty() {
                reg.watchers.remove(&athlete);
            }
        }
        reg.position = reg.position.max(event.seq);
    }

    fn advance(&self, seq: i64) {
        let mut reg = self.registry();
        reg.position = reg.position.max(seq);
    }

    fn idle(&self) -> bool {
        self.registry().watchers.is_empty()
    }

    /// The activity and the owner's friends, as they are now.
    async fn audience(
        &self,
        id: ActivityId,
        owner: AthleteId,
    ) -> StoreResult<(Option<ActivityRow>, Vec<AthleteId>)> {
        let row = self.store.activity(id).await?;
        let friends = self.store.friend_ids(owner).await?;
        Ok((row, friends))
    }
}

async fn read_log(hub: std::sync::Weak<EventsHub>, poll: Duration) {
    let Some(mut wake) = hub.upgrade().map(|h| h.store.watch_changes()) else {
        return;
    };
    loop {
        let Some(hub) = hub.upgrade() else {
            return;
        };
        // Seen before reading: a commit from here on wakes the wait below.
        wake.borrow_and_update();
        let after = hub.registry().position;
        let events = match hub.store.changes_after(after, 1_000).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "events stream: reading the change log failed");
                drop(hub);
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        if events.is_empty() {
            drop(hub);
            let _ = tokio::time::timeout(poll, wake.changed()).await;
            continue;
        }
        for event in events {
            if hub.idle() {
                hub.advance(event.seq);
                continue;
            }
            // Retried until it works: skipping would be a silent gap.
            let (row, friends) = loop {
                match hub.audience(event.activity_id, event.athlete_id).await {
                    Ok(found) => break found,
                    Err(e) => {
                        tracing::warn!(error = %e, "events stream: reading an event's audience failed");
                        tokio::time::sleep(poll).await;
                    }
                }
            };
            hub.deliver(event, row, &friends);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::activity::Visibility;

    fn event(kind: ChangeKind, changed: Changed, visibility: Visibility) -> ChangeEvent {
        ChangeEvent {
            seq: 1,
            activity_id: ActivityId(1),
            athlete_id: AthleteId(1),
            version: 1,
            kind,
            changed,
            visibility,
            at_ms: 0,
        }
    }

    fn row(visibility: &str) -> ActivityRow {
        ActivityRow {
            id: 1,
            athlete_id: 1,
            athlete_username: "a".into(),
            athlete_firstname: "a".into(),
            athlete_lastname: "a".into(),
            external_id: None,
            name: "x".into(),
            sport_type: crate::domain::Sport::Run,
            visibility: Visibility::parse(visibility).unwrap(),
            state: crate::domain::activity::ActivityState::Started,
            start_ms: 0,
            completed_ms: None,
            status_log: crate::domain::activity::StatusLog::start(0),
            totals: Default::default(),
            splits: Vec::new(),
            summary_polyline: None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn friends_see_what_the_feed_shows() {
        let started = event(
            ChangeKind::Started,
            Changed::new_activity(),
            Visibility::Everyone,
        );
        let everyone = row("everyone");
        let only_me = row("only_me");
        assert_eq!(
            classify(&started, Relation::Friend, Some(&everyone)),
            Some(FeedKind::Started)
        );
        assert_eq!(classify(&started, Relation::Friend, Some(&only_me)), None);
        assert_eq!(
            classify(&started, Relation::Owner, Some(&only_me)),
            Some(FeedKind::Started)
        );
        // Deleted since: the deletion event says so.
        assert_eq!(classify(&started, Relation::Friend, None), None);
    }

    #[test]
    fn hiding_is_a_deletion_for_friends() {
        let hidden = event(ChangeKind::Updated, Changed::VISIBILITY, Visibility::OnlyMe);
        let only_me = row("only_me");
        assert_eq!(
            classify(&hidden, Relation::Friend, Some(&only_me)),
            Some(FeedKind::Deleted)
        );
        assert_eq!(
            classify(&hidden, Relation::Owner, Some(&only_me)),
            Some(FeedKind::Updated)
        );
        let renamed = event(ChangeKind::Updated, Changed::NAME, Visibility::OnlyMe);
        assert_eq!(classify(&renamed, Relation::Friend, Some(&only_me)), None);
    }

    #[test]
    fn deletions_follow_the_last_visibility() {
        let public = event(
            ChangeKind::Deleted,
            Changed::empty(),
            Visibility::FollowersOnly,
        );
        let private = event(ChangeKind::Deleted, Changed::empty(), Visibility::OnlyMe);
        assert_eq!(
            classify(&public, Relation::Friend, None),
            Some(FeedKind::Deleted)
        );
        assert_eq!(classify(&private, Relation::Friend, None), None);
        assert_eq!(
            classify(&private, Relation::Owner, None),
            Some(FeedKind::Deleted)
        );
    }
}
