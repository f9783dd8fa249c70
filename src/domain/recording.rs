//! The in-memory state of one activity being recorded live: its stored
//! route, the reorder window, rolling stats, the display smoother and the
//! ring of recent events that watchers resume from. Pure logic: the live
//! actor wraps it.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use super::activity::{ActivityState, ActivityTotals, Applied, StatusLog};
use super::completion::{self, CompletedActivity};
use super::route::Route;
use super::smoothing::{SmoothedPoint, Smoother};
use super::stats::{average_and_max, replay, PausedStats, Split};
use super::{ActivityId, AthleteId, DomainError, Fix, Sport};

/// Fixes this far (in fix time) behind the newest are put in order before
/// they reach the stats and the display.
pub const REORDER_WINDOW_MS: i64 = 3_000;
/// Recent events kept so a watcher can resume with `Last-Event-ID`.
pub const EVENT_RING: usize = 256;
/// Route fixes a new watcher's trail reaches back when the ring is empty.
pub const TRAIL_FIXES: usize = 128;
/// Route fixes a `reset` carries at most (5.5 hours at one fix a second):
/// a watcher that fell behind the ring gets the route, not a gap.
pub const RESET_TRAIL_FIXES: usize = 20_000;

/// An event for watchers, serialised once and shared by all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    /// Strictly increasing per activity; the SSE id.
    pub seq: u64,
    /// `point`, `stats`, `state` or `complete`.
    pub kind: &'static str,
    /// The event's JSON.
    pub data: Arc<str>,
}

/// What watchers see of the stats: rolling stats plus the status-log times.
/// Serialised flat: `state`, the totals' fields, then the current speed and
/// pace (by hand: `#[serde(flatten)]` goes through a map, on every fix
/// post's answer).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStats {
    pub state: ActivityState,
    pub totals: ActivityTotals,
    pub current_speed: f64,
    /// Seconds per km, while moving.
    pub current_pace: Option<f64>,
}

impl Serialize for LiveStats {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // Destructured: a field added to the totals fails to compile here.
        let ActivityTotals {
            distance,
            moving_time,
            active_time,
            elapsed_time,
            total_elevation_gain,
            max_speed,
            average_speed,
            elev_high,
            elev_low,
            point_count,
        } = &self.totals;
        let mut out = serializer.serialize_struct("LiveStats", 13)?;
        out.serialize_field("state", &self.state)?;
        out.serialize_field("distance", distance)?;
        out.serialize_field("moving_time", moving_time)?;
        out.serialize_field("active_time", active_time)?;
        out.serialize_field("elapsed_time", elapsed_time)?;
        out.serialize_field("total_elevation_gain", total_elevation_gain)?;
        out.serialize_field("max_speed", max_speed)?;
        out.serialize_field("average_speed", average_speed)?;
        out.serialize_field("elev_high", elev_high)?;
        out.serialize_field("elev_low", elev_low)?;
        out.serialize_field("point_count", point_count)?;
        out.serialize_field("current_speed", &self.current_speed)?;
        out.serialize_field("current_pace", &self.current_pace)?;
        out.end()
    }
}

#[derive(Serialize)]
struct PointData {
    seq: u64,
    t: i64,
    /// The fix this display point was computed from (`t` lags behind it).
    fix_t: i64,
    lat: f64,
    lng: f64,
    alt: Option<f32>,
    speed: f64,
}

/// A route fix shown as it is (trails retrace the route unsmoothed).
fn raw_point(fix: &Fix) -> SmoothedPoint {
    SmoothedPoint {
        t_ms: fix.t_ms,
        lat: fix.lat,
        lng: fix.lng,
        alt: fix.alt,
        speed: fix.speed.map_or(0.0, f64::from),
    }
}

fn point_data(seq: u64, fix_t: i64, p: &SmoothedPoint) -> PointData {
    PointData {
        seq,
        t: p.t_ms,
        fix_t,
        lat: p.lat,
        lng: p.lng,
        alt: p.alt,
        speed: p.speed,
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IngestCounts {
    pub accepted: u32,
    pub duplicates: u32,
}

#[derive(Debug, Clone)]
pub struct Recording {
    pub id: ActivityId,
    pub owner: AthleteId,
    pub sport: Sport,
    log: StatusLog,
    /// Every accepted fix, sorted by time, one per timestamp.
    route: Route,
    /// Accepted but not yet checkpointed.
    unsaved: Vec<Fix>,
    /// The reorder window, sorted by time.
    pending: Vec<Fix>,
    /// Time of the last fix released to the stats and display.
    released_ms: i64,
    /// The same pause-aware walk as the final stats, fed as fixes release.
    stats: PausedStats,
    /// Created on the first fix after start or after `compact`.
    smoother: Option<Box<Smoother>>,
    last_point: Option<SmoothedPoint>,
    /// The event id that carried `last_point`, and the fix it came from.
    last_point_seq: u64,
    last_point_fix_ms: i64,
    /// Events are built and kept only while someone watches: most live
    /// activities have no watcher, and the ring is their largest cost.
    watched: bool,
    events: VecDeque<LiveEvent>,
    next_seq: u64,
    /// Fixes were released while unwatched (no events were built for them).
    unseen: bool,
}

impl Recording {
    /// A recording resumed from the store: `route` is what was checkpointed.
    /// Event ids start at `first_seq`; pass something larger than any id a
    /// previous incarnation handed out (the hub uses the clock) so ids keep
    /// increasing across restarts.
    pub fn resume(
        id: ActivityId,
        owner: AthleteId,
        sport: Sport,
        log: StatusLog,
        mut route: Vec<Fix>,
        first_seq: u64,
    ) -> Self {
        route.sort_by_key(|f| f.t_ms);
        route.dedup_by_key(|f| f.t_ms);
        let mut log = log;
        if let Some(first) = route.first() {
            log.start_no_later_than(first.t_ms);
        }
        let mut recording = Recording {
            id,
            owner,
            sport,
            log,
            route: Route::default(),
            unsaved: Vec::new(),
            pending: Vec::new(),
            released_ms: i64::MIN,
            stats: PausedStats::new(sport),
            smoother: None,
            last_point: None,
            last_point_seq: 0,
            last_point_fix_ms: 0,
            watched: false,
            events: VecDeque::new(),
            next_seq: first_seq.max(1),
            unseen: false,
        };
        let pauses = recording.log.timer_off();
        for fix in &route {
            recording.release_one(fix, &pauses);
        }
        recording.route = Route::from_sorted(&route);
        recording
    }

    pub fn log(&self) -> &StatusLog {
        &self.log
    }

    pub fn state(&self) -> ActivityState {
        self.log.state()
    }

    pub fn route(&self) -> &Route {
        &self.route
    }

    pub fn last_point(&self) -> Option<&SmoothedPoint> {
        self.last_point.as_ref()
    }

    /// The newest smoothed position as a point event's JSON.
    pub fn position_json(&self) -> Option<String> {
        let point = self.last_point?;
        serde_json::to_string(&point_data(
            self.last_point_seq,
            self.last_point_fix_ms,
            &point,
        ))
        .ok()
    }

    /// The newest event id (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Stores new fixes (one per timestamp) and releases those the reorder
    /// window lets through. Answers the counts and the new events.
    ///
    /// A batch is sorted and merged into the route in one pass
    /// (`Route::merge`): resent fixes cost a lookup each, and fixes that land
    /// before ones already stored rewrite the route only from their block
    /// on, not the whole route and not a shift per fix.
    /// Fixes older than what the live stats have already seen (stragglers,
    /// or a chunk of an offline sync sent out of order) make the live stats
    /// be recomputed over the stored route, so they never depend on the
    /// order chunks arrived in.
    pub fn ingest(&mut self, fixes: &[Fix], now_ms: i64) -> (IngestCounts, Vec<LiveEvent>) {
        // Nearly every post is one fix, or a batch in order, after the
        // route's end: appended as it is, without a copy or a sort.
        let appends = fixes.first().is_none_or(|f| f.t_ms > self.route.end_ms())
            && fixes.windows(2).all(|w| w[0].t_ms < w[1].t_ms);
        let merged;
        let new: &[Fix] = if appends {
            self.route.append(fixes);
            fixes
        } else {
            let mut batch = fixes.to_vec();
            // Stable: the first fix of a timestamp wins, as for the route.
            batch.sort_by_key(|f| f.t_ms);
            batch.dedup_by_key(|f| f.t_ms);
            merged = self.route.merge(&batch);
            &merged
        };
        if let Some(first) = new.first() {
            // The activity starts at its first fix.
            self.log.start_no_later_than(first.t_ms);
        }
        let counts = IngestCounts {
            accepted: new.len() as u32,
            duplicates: (fixes.len() - new.len()) as u32,
        };
        let mut straggled = false;
        for fix in new {
            if fix.t_ms > self.released_ms {
                if self.pending.last().is_none_or(|p| p.t_ms < fix.t_ms) {
                    self.pending.push(*fix);
                } else {
                    let at = self.pending.partition_point(|p| p.t_ms < fix.t_ms);
                    self.pending.insert(at, *fix);
                }
            } else {
                // An older straggler: in the route, not the live view.
                straggled = true;
            }
        }
        self.unsaved.extend_from_slice(new);
        let newest = self.pending.last().map_or(i64::MIN, |f| f.t_ms);
        let mut events = self.release(newest.saturating_sub(REORDER_WINDOW_MS), now_ms);
        if straggled {
            self.rebuild_stats();
            if self.watched {
                events.push(self.push_event("stats", &self.live_stats(now_ms)));
            }
        }
        (counts, events)
    }

    /// Recomputes the live stats over the stored route up to the last
    /// released fix, honouring the status log's pauses (the same code as
    /// the final stats).
    fn rebuild_stats(&mut self) {
        let upto = self.released_ms;
        let n = self.route.partition_point(|f| f.t_ms <= upto);
        self.stats = replay(
            self.sport,
            self.route.range(0, n),
            &self.log.timer_off(),
            |_, _, _| {},
        );
    }

    /// Releases everything still in the reorder window (no newer fix came).
    pub fn flush_pending(&mut self, now_ms: i64) -> Vec<LiveEvent> {
        self.release(i64::MAX, now_ms)
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn release(&mut self, upto_ms: i64, now_ms: i64) -> Vec<LiveEvent> {
        let n = self.pending.partition_point(|f| f.t_ms <= upto_ms);
        if n == 0 {
            return Vec::new();
        }
        let pauses = self.log.timer_off();
        // Taken out while released, so the fixes need no copy of their own.
        let mut pending = std::mem::take(&mut self.pending);
        let mut points = Vec::new();
        for fix in pending.drain(..n) {
            let point = self.release_one(&fix, &pauses);
            // Unwatched: the stats and position advance, no events are built.
            if let (Some(point), true) = (point, self.watched) {
                points.push((fix.t_ms, point));
            }
        }
        self.pending = pending;
        if !self.watched {
            self.unseen = true;
            return Vec::new();
        }
        let stats = self.live_stats(now_ms);
        let mut events = Vec::with_capacity(points.len() + 1);
        for (fix_t, point) in points {
            let seq = self.next_seq;
            self.last_point_seq = seq;
            events.push(self.push_event("point", &point_data(seq, fix_t, &point)));
        }
        events.push(self.push_event("stats", &stats));
        events
    }

    /// Feeds one in-order fix to the stats (unless paused) and the display.
    fn release_one(&mut self, fix: &Fix, pauses: &[(i64, i64)]) -> Option<SmoothedPoint> {
        self.released_ms = fix.t_ms;
        if !self.stats.push(fix, pauses) {
            return None;
        }
        let point = self
            .smoother
            .get_or_insert_with(|| Box::new(Smoother::new()))
            .push(fix)?;
        self.last_point = Some(point);
        self.last_point_fix_ms = fix.t_ms;
        Some(point)
    }

    fn push_event<T: Serialize>(&mut self, kind: &'static str, data: &T) -> LiveEvent {
        let seq = self.next_seq;
        self.next_seq += 1;
        // Serialising plain structs of numbers cannot fail.
        let json = serde_json::to_string(data).unwrap_or_else(|_| "null".to_string());
        let event = LiveEvent {
            seq,
            kind,
            data: json.into(),
        };
        if self.watched {
            if self.events.len() == EVENT_RING {
                self.events.pop_front();
            }
            self.events.push_back(event.clone());
        }
        event
    }

    pub fn is_watched(&self) -> bool {
        self.watched
    }

    /// Starts or stops building events; stopping frees the ring. Starting
    /// after fixes went by unwatched skips an id, so that a watcher resuming
    /// from before gets a reset rather than a silent gap.
    pub fn set_watched(&mut self, watched: bool) {
        if !watched {
            self.events = VecDeque::new();
        } else if !self.watched && self.unseen {
            self.next_seq += 1;
            self.unseen = false;
        }
        self.watched = watched;
    }

    /// A new watcher's start: the ring while it holds events, otherwise a
    /// snapshot whose point events retrace the last route fixes.
    pub fn trail_events(&mut self, now_ms: i64) -> Vec<LiveEvent> {
        if !self.events.is_empty() {
            return self.events.iter().cloned().collect();
        }
        if self.last_point.is_none() {
            return self.snapshot_events(now_ms);
        }
        let (trail, _) = self.trail(TRAIL_FIXES);
        let mut out = Vec::with_capacity(trail.len() + 3);
        for fix in trail {
            let seq = self.next_seq;
            out.push(self.push_event("point", &point_data(seq, fix.t_ms, &raw_point(&fix))));
        }
        out.extend(self.snapshot_events(now_ms));
        out
    }

    /// The last `max` route fixes (outside pauses) before the newest
    /// smoothed point, and whether they reach back to the route's start.
    fn trail(&self, max: usize) -> (Vec<Fix>, bool) {
        let Some(point) = self.last_point else {
            return (Vec::new(), true);
        };
        let pauses = self.log.pauses();
        let upto = self.route.partition_point(|f| f.t_ms < point.t_ms);
        let from = upto.saturating_sub(max);
        let trail = self
            .route
            .range(from, upto)
            .filter(|f| !pauses.iter().any(|&(a, b)| f.t_ms >= a && f.t_ms < b))
            .copied()
            .collect();
        (trail, from == 0)
    }

    /// What a watcher that fell behind the ring gets instead of a silent
    /// gap: the route so far (its last `RESET_TRAIL_FIXES` fixes) ending
    /// at the newest smoothed point, as point JSON, and whether it reaches
    /// back to the start. The points carry the newest event id.
    pub fn reset_points(&self) -> (Vec<String>, bool) {
        let seq = self.last_seq();
        let (trail, from_start) = self.trail(RESET_TRAIL_FIXES);
        let mut points: Vec<String> = trail
            .iter()
            .filter_map(|f| serde_json::to_string(&point_data(seq, f.t_ms, &raw_point(f))).ok())
            .collect();
        if let Some(point) = self.last_point {
            points.extend(
                serde_json::to_string(&point_data(seq, self.last_point_fix_ms, &point)).ok(),
            );
        }
        (points, from_start)
    }

    /// The `reset` event for one watcher that fell behind: the trail
    /// (`reset_points`), the state and the stats. Its id is the newest
    /// event's, so the watcher resumes with the next one; it is not kept
    /// in the ring, being built for that watcher alone.
    pub fn reset_event(&self, now_ms: i64) -> LiveEvent {
        let (points, from_start) = self.reset_points();
        let entry = self.log.entries()[self.log.entries().len() - 1];
        let stats = serde_json::to_string(&self.live_stats(now_ms)).unwrap_or_default();
        let data = format!(
            r#"{{"state":{},"at":{},"from_start":{},"stats":{},"points":[{}]}}"#,
            serde_json::to_string(&entry.state).unwrap_or_default(),
            entry.at,
            from_start,
            stats,
            points.join(",")
        );
        LiveEvent {
            seq: self.last_seq(),
            kind: "reset",
            data: data.into(),
        }
    }

    /// Events after `seq`, or None when the ring no longer reaches back that
    /// far (the watcher needs a snapshot).
    pub fn events_after(&self, seq: u64) -> Option<Vec<LiveEvent>> {
        let oldest = self.events.front().map_or(self.next_seq, |e| e.seq);
        // `Poll { after: u64::MAX }` asks for the stats alone.
        if seq.saturating_add(1) < oldest {
            return None;
        }
        Some(
            self.events
                .iter()
                .filter(|e| e.seq > seq)
                .cloned()
                .collect(),
        )
    }

    /// Fresh `state`, `point` and `stats` events with the current values:
    /// what a watcher that fell too far behind starts again from.
    pub fn snapshot_events(&mut self, now_ms: i64) -> Vec<LiveEvent> {
        let entry = self.log.entries()[self.log.entries().len() - 1];
        let mut out = vec![self.push_event(
            "state",
            &serde_json::json!({"state": entry.state, "at": entry.at}),
        )];
        if let Some(point) = self.last_point {
            let seq = self.next_seq;
            self.last_point_seq = seq;
            let fix_t = self.last_point_fix_ms;
            out.push(self.push_event("point", &point_data(seq, fix_t, &point)));
        }
        let stats = self.live_stats(now_ms);
        out.push(self.push_event("stats", &stats));
        out
    }

    /// Frees what an idle activity does not need: the event ring (a resume
    /// gets a snapshot), the smoother and spare capacity. Keeps the route
    /// and stats.
    pub fn compact(&mut self) {
        self.events = VecDeque::new();
        self.smoother = None;
        self.route.shrink_to_fit();
        self.pending.shrink_to_fit();
        self.unsaved.shrink_to_fit();
    }

    /// Completed splits and the partial one.
    pub fn splits(&self) -> Vec<Split> {
        self.stats.stats().all_splits()
    }

    /// The rolling stats, as consistent as the final ones: moving ≤
    /// active ≤ elapsed, average ≤ maximum (see `completion::complete`).
    pub fn live_stats(&self, now_ms: i64) -> LiveStats {
        let s = self.stats.stats().snapshot();
        let active_time = self.log.active_time(now_ms);
        let moving_time = if s.point_count == 0 {
            active_time
        } else {
            s.moving_time.min(active_time)
        };
        let (average_speed, max_speed) = average_and_max(s.distance, moving_time, s.max_speed);
        LiveStats {
            state: self.log.state(),
            totals: ActivityTotals {
                distance: s.distance,
                moving_time,
                active_time,
                elapsed_time: self.log.elapsed_time(now_ms),
                total_elevation_gain: s.total_elevation_gain,
                max_speed,
                average_speed,
                elev_high: s.elev_high,
                elev_low: s.elev_low,
                point_count: self.route.len() as i64,
            },
            current_speed: s.current_speed,
            current_pace: s.current_pace,
        }
    }

    /// The checkpoint: fixes accepted since the last one.
    pub fn take_unsaved(&mut self) -> Vec<Fix> {
        // The next interval likely brings as many: room for them at once
        // rather than regrowing from nothing.
        let room = self.unsaved.len();
        std::mem::replace(&mut self.unsaved, Vec::with_capacity(room))
    }

    /// Puts back fixes whose checkpoint could not be handed over.
    pub fn restore_unsaved(&mut self, mut fixes: Vec<Fix>) {
        fixes.append(&mut self.unsaved);
        self.unsaved = fixes;
    }

    pub fn has_unsaved(&self) -> bool {
        !self.unsaved.is_empty()
    }

    /// Applies a status change. Pausing cuts the distance segment.
    pub fn apply_state(
        &mut self,
        state: ActivityState,
        at: Option<i64>,
        now_ms: i64,
    ) -> Result<(Applied, Vec<LiveEvent>), DomainError> {
        let applied = self.log.apply(state, at, now_ms)?;
        if applied == Applied::AlreadyRecorded {
            return Ok((applied, Vec::new()));
        }
        let mut events = Vec::new();
        if state == ActivityState::Complete {
            events.extend(self.flush_pending(now_ms));
        }
        let entry = self.log.entries()[self.log.entries().len() - 1];
        if entry.at < self.released_ms {
            // A replayed pause or resume behind the fixes the stats have
            // seen (offline sync): recompute them with the new pauses.
            self.rebuild_stats();
        }
        events.push(self.push_event(
            "state",
            &serde_json::json!({"state": entry.state, "at": entry.at}),
        ));
        events.push(self.push_event("stats", &self.live_stats(now_ms)));
        Ok((applied, events))
    }

    /// Undoes the last status change (its write failed).
    pub fn revert_state(&mut self, previous: StatusLog) {
        self.log = previous;
        if let Some(first) = self.route.first() {
            self.log.start_no_later_than(first.t_ms);
        }
    }

    /// The whole route, in order, and the final activity:
    /// [`completion::complete`] over that route and the status log, so
    /// stragglers count and the result does not depend on the order fixes
    /// arrived in. One copy of the route serves both (the completion writes
    /// the route too).
    pub fn finish(&self) -> (Vec<Fix>, CompletedActivity) {
        let route = self.route.to_vec();
        let done = completion::complete(self.sport, &route, &self.log);
        (route, done)
    }

    /// The `complete` event, sent last.
    pub fn complete_event(&mut self, summary: &serde_json::Value) -> LiveEvent {
        self.push_event("complete", summary)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn live_stats_serialise_flat_with_every_total() {
        let totals = ActivityTotals {
            distance: 1.5,
            elev_high: Some(3.0),
            point_count: 4,
            ..Default::default()
        };
        let stats = LiveStats {
            state: ActivityState::Started,
            totals,
            current_speed: 2.5,
            current_pace: None,
        };
        let json = serde_json::to_value(&stats).unwrap();
        let mut expected = serde_json::to_value(totals).unwrap();
        let map = expected.as_object_mut().unwrap();
        map.insert("state".into(), serde_json::to_value(stats.state).unwrap());
        map.insert("current_speed".into(), 2.5.into());
        map.insert("current_pace".into(), serde_json::Value::Null);
        assert_eq!(json, expected);
        let text = serde_json::to_string(&stats).unwrap();
        assert!(text.starts_with(r#"{"state":"#), "{text}");
        assert!(text.ends_with(r#""current_pace":null}"#), "{text}");
    }
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn fix(i: i64) -> Fix {
        // About 3.3 m/s north.
        Fix::new(T0 + i * 1000, 59.9 + i as f64 * 0.00003, 10.7)
    }

    /// A watched recording (it builds events).
    fn recording() -> Recording {
        let mut r = Recording::resume(
            ActivityId(1),
            AthleteId(1),
            Sport::Run,
            StatusLog::start(T0),
            Vec::new(),
            1,
        );
        r.set_watched(true);
        r
    }

    #[test]
    fn routes_have_less_than_a_step_of_spare_room() {
        let mut r = recording();
        for i in 0..2_000 {
            r.ingest(&[fix(i)], T0 + i * 1000);
        }
        let route = r.route();
        assert_eq!(route.len(), 2_000);
        assert_eq!(route.to_vec(), (0..2_000).map(fix).collect::<Vec<_>>());
        let spare = route.capacity() - route.len();
        assert!(spare < crate::domain::route::ROOM_STEP, "{spare}");
    }

    #[test]
    fn duplicates_are_counted_not_stored() {
        let mut r = recording();
        let (c, _) = r.ingest(&[fix(0), fix(1), fix(2)], T0 + 3000);
        assert_eq!(
            c,
            IngestCounts {
                accepted: 3,
                duplicates: 0
            }
        );
        let (c, _) = r.ingest(&[fix(1), fix(2), fix(3)], T0 + 4000);
        assert_eq!(
            c,
            IngestCounts {
                accepted: 1,
                duplicates: 2
            }
        );
        assert_eq!(r.route().len(), 4);
        assert_eq!(r.take_unsaved().len(), 4);
        assert!(!r.has_unsaved());
    }

    #[test]
    fn reorder_window_restores_order_and_stragglers_stay_in_route() {
        let mut in_order = recording();
        let mut shuffled = recording();
        let fixes: Vec<Fix> = (0..60).map(fix).collect();
        in_order.ingest(&fixes, T0 + 60_000);
        in_order.flush_pending(T0 + 60_000);
        // Swap neighbours: within the window.
        let mut swapped = fixes.clone();
        for pair in swapped.chunks_mut(2) {
            pair.swap(0, 1);
        }
        for f in &swapped {
            shuffled.ingest(std::slice::from_ref(f), T0 + 60_000);
        }
        shuffled.flush_pending(T0 + 60_000);
        assert_eq!(
            in_order.live_stats(T0 + 60_000),
            shuffled.live_stats(T0 + 60_000)
        );

        // Stragglers far behind are stored, not shown as points, and the
        // live stats are recomputed to include them (one stats event).
        let mut late = recording();
        late.ingest(&fixes[10..], T0 + 60_000);
        late.flush_pending(T0 + 60_000);
        let seq = late.last_seq();
        let (counts, events) = late.ingest(&fixes[..10], T0 + 60_000);
        assert_eq!(counts.accepted, 10);
        assert_eq!(events.iter().map(|e| e.kind).collect::<Vec<_>>(), ["stats"]);
        assert_eq!(late.last_seq(), seq + 1);
        assert_eq!(
            late.live_stats(T0 + 60_000),
            in_order.live_stats(T0 + 60_000)
        );
        assert_eq!(late.route().len(), 60);
        assert_eq!(late.finish().1, in_order.finish().1);
    }

    #[test]
    fn chunks_out_of_order_give_the_same_stats() {
        let fixes: Vec<Fix> = (0..3_000).map(fix).collect();
        let now = T0 + 4_000_000;
        let mut in_order = recording();
        for chunk in fixes.chunks(1_000) {
            in_order.ingest(chunk, now);
        }
        in_order.flush_pending(now);
        let mut shuffled = recording();
        for i in [2, 0, 2, 1, 0] {
            shuffled.ingest(&fixes[i * 1_000..(i + 1) * 1_000], now);
        }
        shuffled.flush_pending(now);
        assert_eq!(shuffled.route(), in_order.route());
        assert_eq!(shuffled.take_unsaved().len(), 3_000);
        // Live stats were recomputed when the older chunks landed.
        assert_eq!(shuffled.live_stats(now), in_order.live_stats(now));
        assert_eq!(shuffled.finish().1, in_order.finish().1);
        assert!(in_order.live_stats(now).totals.distance > 9_000.0);
    }

    #[test]
    fn events_have_increasing_ids_and_resume() {
        let mut r = recording();
        let mut all = Vec::new();
        for i in 0..20 {
            let (_, events) = r.ingest(&[fix(i)], T0 + i * 1000);
            all.extend(events);
        }
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(all.iter().any(|e| e.kind == "point"));
        assert_eq!(r.events_after(u64::MAX), Some(Vec::new()));
        let resume_from = all[5].seq;
        let rest = r.events_after(resume_from).unwrap();
        assert_eq!(rest, all[6..].to_vec());
        for i in 20..400 {
            r.ingest(&[fix(i)], T0 + i * 1000);
        }
        assert!(
            r.events_after(resume_from).is_none(),
            "ring no longer reaches back"
        );
        let snapshot = r.snapshot_events(T0 + 400_000);
        assert!(snapshot.iter().any(|e| e.kind == "point"));
        assert!(snapshot.iter().any(|e| e.kind == "stats"));
    }

    #[test]
    fn unwatched_recordings_build_no_events_and_a_new_watcher_gets_a_trail() {
        let mut r = recording();
        r.set_watched(false);
        for i in 0..300 {
            let (_, events) = r.ingest(&[fix(i)], T0 + i * 1000);
            assert!(events.is_empty());
        }
        assert_eq!(r.last_seq(), 0, "no events built");
        assert!(r.last_point().is_some(), "the position is still tracked");
        r.set_watched(true);
        let trail = r.trail_events(T0 + 300_000);
        let points: Vec<_> = trail.iter().filter(|e| e.kind == "point").collect();
        assert_eq!(points.len(), TRAIL_FIXES + 1, "trail plus the position");
        assert!(trail.windows(2).all(|w| w[0].seq < w[1].seq));
        let t = |e: &LiveEvent| {
            serde_json::from_str::<serde_json::Value>(&e.data).unwrap()["t"]
                .as_i64()
                .unwrap()
        };
        assert!(points.windows(2).all(|w| t(w[0]) < t(w[1])));
        // Watched now: new fixes build events, kept for resuming.
        let (_, events) = r.ingest(&[fix(300)], T0 + 301_000);
        assert!(events.iter().any(|e| e.kind == "point"));
        assert_eq!(
            r.events_after(trail[0].seq).map(|e| e.len()),
            Some(trail.len() - 1 + events.len())
        );
        r.set_watched(false);
        assert_eq!(r.events_after(trail[0].seq), None);
    }

    #[test]
    fn a_watcher_behind_the_ring_gets_a_reset_with_the_route() {
        let mut r = recording();
        r.ingest(&(0..10).map(fix).collect::<Vec<_>>(), T0 + 10_000);
        let seen = r.last_seq();
        for i in 10..600 {
            r.ingest(&[fix(i)], T0 + i * 1000);
        }
        r.flush_pending(T0 + 600_000);
        assert!(
            r.events_after(seen).is_none(),
            "the ring does not reach back"
        );
        let (points, from_start) = r.reset_points();
        assert!(from_start);
        let t = |p: &String| {
            serde_json::from_str::<serde_json::Value>(p).unwrap()["t"]
                .as_i64()
                .unwrap()
        };
        let times: Vec<i64> = points.iter().map(t).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        let until = *times.last().unwrap();
        assert!(until > T0 + 590_000);
        assert!((0..600)
            .map(|i| fix(i).t_ms)
            .filter(|&ft| ft < until)
            .all(|ft| times.contains(&ft)));
        let reset = r.reset_event(T0 + 600_000);
        assert_eq!((reset.kind, reset.seq), ("reset", r.last_seq()));
        assert_eq!(r.events_after(reset.seq), Some(Vec::new()));
    }

    #[test]
    fn fixes_that_went_by_unwatched_make_a_resume_reset() {
        let mut r = recording();
        r.ingest(&(0..10).map(fix).collect::<Vec<_>>(), T0 + 10_000);
        r.flush_pending(T0 + 10_000);
        let seen = r.last_seq();
        assert_eq!(r.events_after(seen), Some(Vec::new()));
        r.set_watched(false);
        r.ingest(&(10..20).map(fix).collect::<Vec<_>>(), T0 + 20_000);
        r.flush_pending(T0 + 20_000);
        r.set_watched(true);
        assert!(r.events_after(seen).is_none());
    }

    #[test]
    fn pause_excludes_fixes_and_gap() {
        let mut r = recording();
        r.ingest(&(0..10).map(fix).collect::<Vec<_>>(), T0 + 10_000);
        r.apply_state(ActivityState::Paused, Some(T0 + 9_500), T0 + 10_000)
            .unwrap();
        // Moved 300 m while paused (e.g. on a bus).
        let resumed: Vec<Fix> = (0..10).map(|i| fix(i + 100)).collect();
        r.apply_state(ActivityState::Started, Some(T0 + 99_500), T0 + 100_000)
            .unwrap();
        r.ingest(&resumed, T0 + 110_000);
        r.apply_state(ActivityState::Complete, Some(T0 + 110_000), T0 + 110_000)
            .unwrap();
        let stats = r.finish().1.totals;
        let live = r.live_stats(T0 + 110_000);
        assert!(stats.distance < 80.0, "{}", stats.distance);
        assert!((live.totals.distance - stats.distance).abs() < 1.0);
        assert_eq!(live.totals.active_time, 20);
        assert_eq!(live.totals.elapsed_time, 110);
    }

    /// A real ride streamed live (mixed batches, neighbours swapped, a
    /// pause and a resume) gives rolling stats equal to the final ones,
    /// and those equal an upload of the same fixes with the same log.
    #[test]
    fn live_rolling_stats_equal_the_final_and_the_upload() {
        let bytes =
            include_bytes!("../../tests/fixtures/recordings/corpus/sweat_4801048867_ride.fit");
        let parsed = crate::formats::parse(crate::formats::DataType::Fit, bytes).unwrap();
        let fixes = parsed.fixes;
        let t0 = fixes[0].t_ms;
        let mut r = Recording::resume(
            ActivityId(1),
            AthleteId(1),
            Sport::Ride,
            StatusLog::start(t0),
            Vec::new(),
            1,
        );
        let pause_at = fixes[fixes.len() / 3].t_ms - 500;
        let resume_at = fixes[fixes.len() / 2].t_ms - 500;
        let mut paused = false;
        let mut resumed = false;
        let mut i = 0;
        let mut size = 1;
        while i < fixes.len() {
            let end = (i + size).min(fixes.len());
            let mut batch = fixes[i..end].to_vec();
            batch.reverse();
            let now = fixes[end - 1].t_ms;
            if !paused && now >= pause_at {
                r.apply_state(ActivityState::Paused, Some(pause_at), now)
                    .unwrap();
                paused = true;
            }
            if !resumed && now >= resume_at {
                r.apply_state(ActivityState::Started, Some(resume_at), now)
                    .unwrap();
                resumed = true;
            }
            r.ingest(&batch, now);
            i = end;
            size = size % 13 + 1;
        }
        let end = fixes[fixes.len() - 1].t_ms;
        r.apply_state(ActivityState::Complete, Some(end), end)
            .unwrap();
        let live = r.live_stats(end);
        let done = r.finish().1;
        assert!(done.totals.distance > 10_000.0, "{}", done.totals.distance);
        assert!(
            (live.totals.distance - done.totals.distance).abs() < 1e-6,
            "live {} final {}",
            live.totals.distance,
            done.totals.distance
        );
        assert_eq!(live.totals.moving_time, done.totals.moving_time);
        let upload = crate::domain::completion::complete(Sport::Ride, &fixes, r.log());
        assert_eq!(upload, done);
    }
}
