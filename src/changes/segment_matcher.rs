//! `segment_matcher`: finds every completed activity's segment efforts,
//! as a consumer of the change log, and backfills new segments against
//! the activities that existed before them.
//!
//! - An activity that completes, arrives by upload or sync, or whose route,
//!   sport or start changes is matched again: its efforts are replaced in
//!   the consumer's transaction (committed with its log position, so a
//!   crash neither loses nor doubles them), with a `segment_effort_changes`
//!   row per affected (segment, athlete) slot. Deletion and visibility
//!   changes write their slot rows in their own transactions (the store).
//! - Candidates come from the in-memory spatial index
//!   (`domain::segments::index`); only their lines are read.
//! - Matching is CPU work: it runs on the blocking pool, never on an HTTP
//!   worker or an actor.
//! - A new segment is backfilled by one background task: activities of its
//!   sport whose box contains it (boxes kept by this consumer), a window of
//!   ids at a time, a few activities matched at once.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};
use tokio::sync::Notify;

use crate::changes::consumer::{Consumer, ConsumerError};
use crate::changes::event::{ChangeEvent, ChangeKind, Changed};
use crate::domain::activity::ActivityState;
use crate::domain::segments::index::{IndexedSegment, SegmentIndex};
use crate::domain::segments::matcher::{match_segment, PreparedTrack, ENDPOINT_RADIUS_M};
use crate::domain::segments::{BBox, SegmentId};
use crate::domain::{now_ms, ActivityId, AthleteId, Fix, Sport};
use crate::store::changes::Statement;
use crate::store::segments::{replace_efforts, BackfillResult, NewEffort, SegmentRow};
use crate::store::{DynStore, StoreError};

pub const NAME: &str = "segment_matcher";
/// Segment entries read per query when loading the index.
const INDEX_PAGE: u32 = 10_000;
/// How often the index picks up segments created on other nodes.
const INDEX_REFRESH: Duration = Duration::from_secs(10);
/// Activity ids looked at per backfill step.
const BACKFILL_WINDOW: u32 = 5_000;
/// Activities read and matched at once by the backfill: a few, so that
/// it never starves the requests of connections or the blocking pool.
const BACKFILL_CONCURRENCY: usize = 4;
/// Segments backfilled at once.
const BACKFILL_SEGMENTS: u32 = 8;
/// Poll for backfills created on other nodes (one here wakes it at once).
const BACKFILL_POLL: Duration = Duration::from_secs(5);

/// The index shared by the consumer, the backfill and the API (which adds
/// and removes segments as they are created and deleted).
pub struct SegmentMatching {
    index: RwLock<SegmentIndex>,
    /// The highest segment id loaded from the store.
    loaded: std::sync::atomic::AtomicI64,
    backfill: Notify,
}

impl SegmentMatching {
    pub fn new() -> Arc<SegmentMatching> {
        Arc::new(SegmentMatching {
            index: RwLock::new(SegmentIndex::new()),
            loaded: std::sync::atomic::AtomicI64::new(0),
            backfill: Notify::new(),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, SegmentIndex> {
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, SegmentIndex> {
        self.index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A segment was created: indexed now (before its backfill starts, so
    /// every activity is either matched by its change event or backfilled).
    pub fn added(&self, row: &SegmentRow) {
        if let Some(entry) = indexed(row) {
            self.write().insert(entry);
        }
        self.backfill.notify_one();
    }

    pub fn removed(&self, id: SegmentId) {
        self.write().remove(id);
    }

    /// Loads segments with ids above the highest loaded.
    pub async fn refresh(&self, store: &DynStore) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        loop {
            let after = self.loaded.load(Ordering::Acquire);
            let page = store
                .segment_index_entries(SegmentId(after), INDEX_PAGE)
                .await?;
            let Some(last) = page.last().map(|s| s.id.0) else {
                return Ok(());
            };
            {
                let mut index = self.write();
                for s in page {
                    if !index.contains(s.id) {
                        index.insert(s);
                    }
                }
            }
            self.loaded.fetch_max(last, Ordering::AcqRel);
        }
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The candidates for a track.
    fn candidates(&self, sport: Sport, fixes: &[Fix]) -> Vec<SegmentId> {
        self.read().candidates(sport, fixes)
    }
}

fn indexed(row: &SegmentRow) -> Option<IndexedSegment> {
    let points = row.shape.points();
    let (first, last) = (points.first()?, points.last()?);
    Some(IndexedSegment {
        id: row.id,
        sport: row.sport,
        start: (first.lat, first.lng),
        end: (last.lat, last.lng),
        bbox: row.shape.stats().bbox,
    })
}

/// Matches a route against segments (on the blocking pool).
async fn match_route(
    segments: Vec<SegmentRow>,
    sport: Sport,
    route: Arc<Vec<Fix>>,
    timer_off: Vec<(i64, i64)>,
) -> Result<Vec<NewEffort>, ConsumerError> {
    tokio::task::spawn_blocking(move || {
        let track = PreparedTrack::new(sport, &route, &timer_off);
        let mut out = Vec::new();
        for s in &segments {
            if s.sport != sport {
                continue;
            }
            for e in match_segment(s.id, s.shape.points(), s.shape.stats().distance, &track) {
                out.push(NewEffort {
                    segment_id: e.segment_id,
                    start_ms: e.start_ms,
                    elapsed_ms: e.elapsed_ms,
                    moving_ms: e.moving_ms,
                    start_index: e.start_index as i64,
                    end_index: e.end_index as i64,
                    distance: e.distance,
                });
            }
        }
        out
    })
    .await
    .map_err(|e| ConsumerError::Failed(format!("matching task: {e}")))
}

fn route_box(sport: Sport, route: &[Fix]) -> Option<(Sport, BBox)> {
    BBox::of(route.iter().map(|f| (f.lat, f.lng))).map(|b| (sport, b))
}

pub struct SegmentMatcher {
    pub partitions: u32,
    pub matching: Arc<SegmentMatching>,
}

impl SegmentMatcher {
    /// Whether the event may change the activity's efforts.
    fn rematches(e: &ChangeEvent) -> bool {
        match e.kind {
            ChangeKind::Completed | ChangeKind::Created => true,
            ChangeKind::Updated => e
                .changed
                .intersects(Changed::ROUTE | Changed::SPORT | Changed::START_DATE | Changed::STATE),
            _ => false,
        }
    }

    async fn effects_for(
        &self,
        store: &DynStore,
        id: ActivityId,
        athlete: AthleteId,
    ) -> Result<Vec<Statement>, ConsumerError> {
        let Some(row) = store.activity(id).await? else {
            return Ok(Vec::new());
        };
        if row.state != ActivityState::Complete {
            return Ok(Vec::new());
        }
        let route = Arc::new(store.route(id).await?);
        let old: Vec<SegmentId> = {
            let mut seen = HashSet::new();
            store
                .activity_efforts(id)
                .await?
                .into_iter()
                .map(|e| e.segment_id)
                .filter(|s| seen.insert(*s))
                .collect()
        };
        let candidates = {
            let route = route.clone();
            let matching = self.matching.clone();
            let sport = row.sport_type;
            tokio::task::spawn_blocking(move || matching.candidates(sport, &route))
                .await
                .map_err(|e| ConsumerError::Failed(format!("candidate task: {e}")))?
        };
        let efforts = if candidates.is_empty() {
            Vec::new()
        } else {
            let segments = store.segments_by_id(&candidates).await?;
            match_route(
                segments,
                row.sport_type,
                route.clone(),
                row.status_log.timer_off(),
            )
            .await?
        };
        Ok(replace_efforts(
            id,
            athlete,
            route_box(row.sport_type, &route),
            &efforts,
            &old,
            now_ms(),
        ))
    }
}

#[async_trait]
impl Consumer for SegmentMatcher {
    fn name(&self) -> &'static str {
        NAME
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }

    async fn apply(
        &self,
        store: &DynStore,
        events: &[ChangeEvent],
    ) -> Result<Vec<Statement>, ConsumerError> {
        // The current state is read, so one match per activity per batch.
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for e in events.iter().filter(|e| Self::rematches(e)) {
            if seen.insert(e.activity_id) {
                out.extend(self.effects_for(store, e.activity_id, e.athlete_id).await?);
            }
        }
        Ok(out)
    }
}

/// Keeps the index fresh and runs the backfills, for as long as the node.
pub fn start_background(
    store: DynStore,
    matching: Arc<SegmentMatching>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let refresher = {
        let store = store.clone();
        let matching = matching.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(INDEX_REFRESH).await;
                if let Err(e) = matching.refresh(&store).await {
                    tracing::warn!(error = %e, "refreshing the segment index failed");
                }
            }
        })
    };
    let backfiller = tokio::spawn(async move {
        loop {
            match backfill_round(&store).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "segment backfill failed; retrying"),
            }
            let _ = tokio::time::timeout(BACKFILL_POLL, matching.backfill.notified()).await;
        }
    });
    vec![refresher, backfiller]
}

/// One step of every pending backfill; true while work remains (the
/// background task's loop, public for the backfill benchmark).
pub async fn backfill_round(store: &DynStore) -> Result<bool, ConsumerError> {
    let pending = store.pending_backfills(BACKFILL_SEGMENTS).await?;
    if pending.is_empty() {
        return Ok(false);
    }
    for (segment, after) in pending {
        backfill_step(store, segment, after).await?;
    }
    Ok(true)
}

async fn backfill_step(
    store: &DynStore,
    id: SegmentId,
    after: ActivityId,
) -> Result<(), ConsumerError> {
    let Some(segment) = store.segment(id).await? else {
        return Ok(());
    };
    let inner = segment.shape.stats().bbox.grown(-ENDPOINT_RADIUS_M);
    let (candidates, last) = store
        .backfill_candidates(segment.sport, &inner, after, BACKFILL_WINDOW)
        .await?;
    let Some(last) = last else {
        store
            .commit_backfill(id, after, true, &[], now_ms())
            .await?;
        return Ok(());
    };
    let segment = Arc::new(segment);
    let results: Vec<Result<Option<BackfillResult>, ConsumerError>> = stream::iter(candidates)
        .map(|c| {
            let store = store.clone();
            let segment = segment.clone();
            let activity = c.activity_id;
            async move {
                match backfill_one(&store, &segment, c).await {
                    // A row that does not decode is skipped, not retried
                    // for ever (the store logs it as corrupt).
                    Err(ConsumerError::Store(e @ StoreError::Decode { .. })) => {
                        tracing::warn!(activity = activity.0, error = %e, "backfill skips an activity");
                        Ok(None)
                    }
                    other => other,
                }
            }
        })
        .buffered(BACKFILL_CONCURRENCY)
        .collect()
        .await;
    let mut done = Vec::with_capacity(results.len());
    for r in results {
        if let Some(r) = r? {
            done.push(r);
        }
    }
    store
        .commit_backfill(id, last, false, &done, now_ms())
        .await?;
    Ok(())
}

/// One activity of a backfill step: its efforts on the segment.
async fn backfill_one(
    store: &DynStore,
    segment: &Arc<SegmentRow>,
    c: crate::store::segments::BackfillCandidate,
) -> Result<Option<BackfillResult>, ConsumerError> {
    {
        {
            let Some(version) = store.activity_version(c.activity_id).await? else {
                return Ok(None);
            };
            let Some(row) = store.activity(c.activity_id).await? else {
                return Ok(None);
            };
            let route = Arc::new(store.route(c.activity_id).await?);
            let bounds = if c.has_bounds {
                None
            } else {
                route_box(row.sport_type, &route)
            };
            let efforts = match_route(
                vec![(**segment).clone()],
                row.sport_type,
                route,
                row.status_log.timer_off(),
            )
            .await?;
            Ok(Some(BackfillResult {
                activity_id: c.activity_id,
                athlete_id: AthleteId(row.athlete_id),
                version,
                bounds,
                efforts,
            }))
        }
    }
}
