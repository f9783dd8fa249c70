//! The activity lifecycle: states, visibility and the status log that the
//! three durations are derived from.

use serde::{Deserialize, Serialize};

use super::fix::MAX_FUTURE_SKEW_MS;
use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActivityState {
    Started,
    Paused,
    Complete,
}

impl ActivityState {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "STARTED" => Ok(Self::Started),
            "PAUSED" => Ok(Self::Paused),
            "COMPLETE" => Ok(Self::Complete),
            _ => Err(DomainError::invalid("state")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::Paused => "PAUSED",
            Self::Complete => "COMPLETE",
        }
    }
}

/// Who may see an activity. `followers_only` means friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Everyone,
    FollowersOnly,
    OnlyMe,
}

impl Visibility {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "everyone" => Ok(Self::Everyone),
            "followers_only" => Ok(Self::FollowersOnly),
            "only_me" => Ok(Self::OnlyMe),
            _ => Err(DomainError::invalid("visibility")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Everyone => "everyone",
            Self::FollowersOnly => "followers_only",
            Self::OnlyMe => "only_me",
        }
    }

    /// Whether a viewer with this relation to the owner may see the activity.
    pub fn allows(self, relation: Relation) -> bool {
        match relation {
            Relation::Owner => true,
            Relation::Friend => self != Visibility::OnlyMe,
            Relation::Stranger => self == Visibility::Everyone,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Owner,
    Friend,
    Stranger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEntry {
    pub state: ActivityState,
    /// Epoch milliseconds.
    pub at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Appended,
    /// The same entry was already in the log: a retried or replayed request.
    AlreadyRecorded,
}

/// An activity's figures (Strava's names and units: metres, seconds, m/s).
/// One struct for the stored row, the API views and the live stats, so
/// none copies them field by field.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ActivityTotals {
    pub distance: f64,
    /// Moving time, never more than `active_time`.
    pub moving_time: i64,
    /// Time the timer ran (the status log's started intervals).
    pub active_time: i64,
    pub elapsed_time: i64,
    pub total_elevation_gain: f64,
    pub max_speed: f64,
    /// distance / moving_time.
    pub average_speed: f64,
    pub elev_high: Option<f64>,
    pub elev_low: Option<f64>,
    /// Route points recorded.
    pub point_count: i64,
}

/// The ordered (state, time) log. Always starts with STARTED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StatusLog(Vec<StatusEntry>);

/// Durations count the clock's whole seconds (`t` on the second grid, as
/// the `time` stream and moving time do), so moving time, which adds up
/// steps between fixes inside the timer's intervals, never exceeds the
/// active time, nor that the elapsed time.
fn clock_second(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

impl StatusLog {
    pub fn start(at_ms: i64) -> Self {
        StatusLog(vec![StatusEntry {
            state: ActivityState::Started,
            at: at_ms,
        }])
    }

    /// Rebuilds a stored log, rejecting one that breaks the invariants.
    pub fn from_entries(entries: Vec<StatusEntry>) -> Result<Self, DomainError> {
        let mut iter = entries.into_iter();
        let first = iter.next().ok_or(DomainError::invalid("status_log"))?;
        if first.state != ActivityState::Started {
            return Err(DomainError::invalid("status_log"));
        }
        let mut log = StatusLog::start(first.at);
        for entry in iter {
            log.apply(entry.state, Some(entry.at), i64::MAX - MAX_FUTURE_SKEW_MS)?;
        }
        Ok(log)
    }

    /// Reads a stored log (JSON entries), checking its invariants.
    pub fn from_json(stored: &str) -> Result<Self, DomainError> {
        let entries: Vec<StatusEntry> =
            serde_json::from_str(stored).map_err(|_| DomainError::invalid("status_log"))?;
        StatusLog::from_entries(entries)
    }

    /// The stored form: the entries as JSON.
    pub fn to_json(&self) -> String {
        // Entries are plain numbers and enum names: serialising cannot fail.
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".to_string())
    }

    /// The same log moved in time by `delta_ms` (a corrected start).
    pub fn shifted(&self, delta_ms: i64) -> StatusLog {
        StatusLog(
            self.0
                .iter()
                .map(|e| StatusEntry {
                    state: e.state,
                    at: e.at.saturating_add(delta_ms),
                })
                .collect(),
        )
    }

    /// The state in effect at `t` (the start's before it).
    fn state_at(&self, t: i64) -> ActivityState {
        self.0
            .iter()
            .take_while(|e| e.at <= t)
            .last()
            .map_or(ActivityState::Started, |e| e.state)
    }

    /// The log of a completed activity cut to `[from, to]` (a crop): it
    /// starts at `from`, keeps the pauses inside and completes at `to`.
    /// Both are first clamped to the activity's own span.
    pub fn cropped(&self, from: i64, to: i64) -> Result<StatusLog, DomainError> {
        let end = self
            .completed_ms()
            .ok_or(DomainError::new("state", "in_progress"))?;
        let (from, to) = (from.max(self.start_ms()), to.min(end));
        if from >= to {
            return Err(DomainError::new("end_date", "before_start"));
        }
        let mut log = StatusLog::start(from);
        let far = i64::MAX - MAX_FUTURE_SKEW_MS;
        if self.state_at(from) == ActivityState::Paused {
            log.apply(ActivityState::Paused, Some(from), far)?;
        }
        for e in self.0.iter().filter(|e| e.at > from && e.at < to) {
            if e.state != ActivityState::Complete {
                log.apply(e.state, Some(e.at), far)?;
            }
        }
        log.apply(ActivityState::Complete, Some(to), far)?;
        Ok(log)
    }

    pub fn entries(&self) -> &[StatusEntry] {
        &self.0
    }

    fn last(&self) -> StatusEntry {
        // The log is never empty: every constructor starts it with STARTED.
        self.0[self.0.len() - 1]
    }

    pub fn state(&self) -> ActivityState {
        self.last().state
    }

    pub fn start_ms(&self) -> i64 {
        self.0[0].at
    }

    pub fn completed_ms(&self) -> Option<i64> {
        let last = self.last();
        (last.state == ActivityState::Complete).then_some(last.at)
    }

    /// Moves the start back to `at_ms` when that is earlier: an activity
    /// starts at its first fix, so fixes recorded before the app created it
    /// (or before the `start_date` it gave) count for time as they do for
    /// distance. Answers whether the start moved.
    pub fn start_no_later_than(&mut self, at_ms: i64) -> bool {
        if at_ms >= self.0[0].at {
            return false;
        }
        self.0[0].at = at_ms;
        true
    }

    /// Appends a transition. `at` defaults to `now_ms`.
    pub fn apply(
        &mut self,
        state: ActivityState,
        at: Option<i64>,
        now_ms: i64,
    ) -> Result<Applied, DomainError> {
        let last = self.last();
        if let Some(at) = at {
            if self.0.iter().any(|e| e.state == state && e.at == at) {
                return Ok(Applied::AlreadyRecorded);
            }
        } else if state == last.state {
            return Ok(Applied::AlreadyRecorded);
        }
        let at = at.unwrap_or(now_ms.max(last.at));
        if at > now_ms + MAX_FUTURE_SKEW_MS {
            return Err(DomainError::new("at", "future"));
        }
        if at < last.at {
            return Err(DomainError::new("at", "before_previous"));
        }
        use ActivityState::*;
        let allowed = matches!(
            (last.state, state),
            (Started, Paused) | (Paused, Started) | (Started, Complete) | (Paused, Complete)
        );
        if !allowed {
            return Err(DomainError::new("state", "invalid_transition"));
        }
        self.0.push(StatusEntry { state, at });
        Ok(Applied::Appended)
    }

    /// Wall clock from start to completion (or to `now_ms` while in progress).
    pub fn elapsed_time(&self, now_ms: i64) -> i64 {
        let end = self.completed_ms().unwrap_or(now_ms);
        (clock_second(end) - clock_second(self.start_ms())).max(0)
    }

    /// The sum of the non-paused intervals.
    pub fn active_time(&self, now_ms: i64) -> i64 {
        let mut total = 0;
        let mut running_since = None;
        for entry in &self.0 {
            match (entry.state, running_since) {
                (ActivityState::Started, None) => running_since = Some(entry.at),
                (ActivityState::Paused | ActivityState::Complete, Some(since)) => {
                    total += clock_second(entry.at) - clock_second(since);
                    running_since = None;
                }
                _ => {}
            }
        }
        if let Some(since) = running_since {
            total += clock_second(now_ms.max(since)) - clock_second(since);
        }
        total
    }

    /// When the timer was stopped after the start, `[from, to)`: the pauses
    /// and, once complete, from the completion on. Fixes in them count
    /// neither distance nor time.
    pub fn timer_off(&self) -> Vec<(i64, i64)> {
        let mut off = self.pauses();
        if let Some(end) = self.completed_ms() {
            match off.last_mut() {
                // Completed while paused: the pause never ends.
                Some(last) if last.1 == end => last.1 = i64::MAX,
                _ => off.push((end, i64::MAX)),
            }
        }
        off
    }

    /// The paused intervals `[from, to)`; an open pause runs to `i64::MAX`.
    pub fn pauses(&self) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut paused_since = None;
        for entry in &self.0 {
            match entry.state {
                ActivityState::Paused => paused_since = Some(entry.at),
                ActivityState::Started | ActivityState::Complete => {
                    if let Some(since) = paused_since.take() {
                        out.push((since, entry.at));
                    }
                }
            }
        }
        if let Some(since) = paused_since {
            out.push((since, i64::MAX));
        }
        out
    }
}

/// The name an activity gets when none is given: the part of the day
/// (UTC) and the sport, as Strava names them ("Morning Run").
pub fn default_name(sport: super::Sport, start_ms: i64) -> String {
    use chrono::Timelike;
    let hour = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(start_ms)
        .map(|d| d.hour())
        .unwrap_or(12);
    let part = match hour {
        5..=11 => "Morning",
        12..=16 => "Afternoon",
        17..=20 => "Evening",
        _ => "Night",
    };
    format!("{part} {}", sport.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn design_pause_example() {
        // 10 min running, a 5 min pause, 5 min running.
        let t0 = 1_700_000_000_000;
        let mut log = StatusLog::start(t0);
        log.apply(ActivityState::Paused, Some(t0 + 10 * MIN), t0 + 30 * MIN)
            .unwrap();
        log.apply(ActivityState::Started, Some(t0 + 15 * MIN), t0 + 30 * MIN)
            .unwrap();
        log.apply(ActivityState::Complete, Some(t0 + 20 * MIN), t0 + 30 * MIN)
            .unwrap();
        assert_eq!(log.active_time(t0 + 30 * MIN), 900);
        assert_eq!(log.elapsed_time(t0 + 30 * MIN), 1200);
        assert_eq!(log.pauses(), vec![(t0 + 10 * MIN, t0 + 15 * MIN)]);
    }

    #[test]
    fn rejects_bad_transitions_and_times() {
        let t0 = 1_700_000_000_000;
        let mut log = StatusLog::start(t0);
        assert_eq!(
            log.apply(ActivityState::Paused, Some(t0 - 1), t0),
            Err(DomainError::new("at", "before_previous"))
        );
        assert_eq!(
            log.apply(ActivityState::Paused, Some(t0 + 2 * MIN), t0),
            Err(DomainError::new("at", "future"))
        );
        assert_eq!(
            log.apply(ActivityState::Started, Some(t0 + 1), t0 + 1),
            Err(DomainError::new("state", "invalid_transition"))
        );
        log.apply(ActivityState::Complete, Some(t0 + 5), t0 + 5)
            .unwrap();
        assert_eq!(
            log.apply(ActivityState::Paused, Some(t0 + 6), t0 + 6),
            Err(DomainError::new("state", "invalid_transition"))
        );
    }

    #[test]
    fn replays_are_idempotent() {
        let t0 = 1_700_000_000_000;
        let mut log = StatusLog::start(t0);
        assert_eq!(
            log.apply(ActivityState::Paused, Some(t0 + MIN), t0 + MIN),
            Ok(Applied::Appended)
        );
        assert_eq!(
            log.apply(ActivityState::Started, Some(t0 + 2 * MIN), t0 + 2 * MIN),
            Ok(Applied::Appended)
        );
        assert_eq!(
            log.apply(ActivityState::Paused, Some(t0 + MIN), t0 + 3 * MIN),
            Ok(Applied::AlreadyRecorded)
        );
        assert_eq!(
            log.apply(ActivityState::Started, None, t0 + 3 * MIN),
            Ok(Applied::AlreadyRecorded)
        );
        assert_eq!(log.entries().len(), 3);
        let round_trip = StatusLog::from_entries(log.entries().to_vec()).unwrap();
        assert_eq!(round_trip, log);
        assert_eq!(StatusLog::from_json(&log.to_json()).unwrap(), log);
    }

    #[test]
    fn stored_logs_that_break_the_invariants_are_refused() {
        assert!(StatusLog::from_json("not json").is_err());
        assert!(StatusLog::from_json("[]").is_err());
        assert!(StatusLog::from_json(r#"[{"state":"PAUSED","at":1}]"#).is_err());
        assert!(
            StatusLog::from_json(r#"[{"state":"STARTED","at":5},{"state":"PAUSED","at":1}]"#)
                .is_err()
        );
    }

    #[test]
    fn a_shifted_log_keeps_its_durations() {
        let t0 = 1_700_000_000_000;
        let mut log = StatusLog::start(t0);
        log.apply(ActivityState::Paused, Some(t0 + MIN), t0 + MIN)
            .unwrap();
        log.apply(ActivityState::Complete, Some(t0 + 3 * MIN), t0 + 3 * MIN)
            .unwrap();
        let moved = log.shifted(-3_600_000);
        assert_eq!(moved.start_ms(), t0 - 3_600_000);
        assert_eq!(moved.completed_ms(), Some(t0 + 3 * MIN - 3_600_000));
        assert_eq!(moved.active_time(0), log.active_time(0));
        assert_eq!(moved.elapsed_time(0), log.elapsed_time(0));
    }

    #[test]
    fn a_crop_keeps_the_pauses_inside() {
        let t0 = 1_700_000_000_000;
        let mut log = StatusLog::from_entries(vec![
            StatusEntry {
                state: ActivityState::Started,
                at: t0,
            },
            StatusEntry {
                state: ActivityState::Paused,
                at: t0 + 10 * MIN,
            },
            StatusEntry {
                state: ActivityState::Started,
                at: t0 + 15 * MIN,
            },
            StatusEntry {
                state: ActivityState::Complete,
                at: t0 + 30 * MIN,
            },
        ])
        .unwrap();
        let cut = log.cropped(t0 + 5 * MIN, t0 + 20 * MIN).unwrap();
        assert_eq!(cut.start_ms(), t0 + 5 * MIN);
        assert_eq!(cut.completed_ms(), Some(t0 + 20 * MIN));
        assert_eq!(cut.pauses(), vec![(t0 + 10 * MIN, t0 + 15 * MIN)]);
        assert_eq!(cut.active_time(0), 600);
        // Starting inside the pause: paused from the new start.
        let cut = log.cropped(t0 + 12 * MIN, i64::MAX).unwrap();
        assert_eq!(cut.pauses(), vec![(t0 + 12 * MIN, t0 + 15 * MIN)]);
        assert_eq!(cut.completed_ms(), Some(t0 + 30 * MIN));
        assert!(log.cropped(t0 + 20 * MIN, t0 + 20 * MIN).is_err());
        log.0.pop();
        assert!(log.cropped(t0, t0 + MIN).is_err(), "in progress");
    }

    #[test]
    fn in_progress_times_run_to_now() {
        let t0 = 1_700_000_000_000;
        let log = StatusLog::start(t0);
        assert_eq!(log.elapsed_time(t0 + 90_400), 90);
        assert_eq!(log.active_time(t0 + 90_600), 90);
        // Whole seconds of the clock: 0.9 s to 2.1 s spans two of them.
        let log = StatusLog::start(t0 + 900);
        assert_eq!(log.active_time(t0 + 2_100), 2);
        assert_eq!(log.elapsed_time(t0 + 2_100), 2);
        assert_eq!(log.elapsed_time(t0), 0);
    }

    #[test]
    fn visibility_rules() {
        assert!(Visibility::OnlyMe.allows(Relation::Owner));
        assert!(!Visibility::OnlyMe.allows(Relation::Friend));
        assert!(Visibility::FollowersOnly.allows(Relation::Friend));
        assert!(!Visibility::FollowersOnly.allows(Relation::Stranger));
        assert!(Visibility::Everyone.allows(Relation::Stranger));
    }

    #[test]
    fn the_start_moves_back_to_an_earlier_fix_and_the_timer_stops_at_completion() {
        let t0 = 1_700_000_000_000;
        let mut log = StatusLog::start(t0);
        assert!(!log.start_no_later_than(t0 + 5_000));
        assert!(log.start_no_later_than(t0 - 9_000));
        assert_eq!(log.start_ms(), t0 - 9_000);
        log.apply(ActivityState::Paused, Some(t0 + MIN), t0 + MIN)
            .unwrap();
        log.apply(ActivityState::Started, Some(t0 + 2 * MIN), t0 + 2 * MIN)
            .unwrap();
        assert_eq!(log.timer_off(), log.pauses());
        log.apply(ActivityState::Complete, Some(t0 + 3 * MIN), t0 + 3 * MIN)
            .unwrap();
        assert_eq!(log.elapsed_time(0), 189);
        assert_eq!(
            log.timer_off(),
            vec![(t0 + MIN, t0 + 2 * MIN), (t0 + 3 * MIN, i64::MAX)]
        );
        // Completed while paused: stopped from the pause on.
        let mut log = StatusLog::start(t0);
        log.apply(ActivityState::Paused, Some(t0 + MIN), t0 + MIN)
            .unwrap();
        log.apply(ActivityState::Complete, Some(t0 + 2 * MIN), t0 + 2 * MIN)
            .unwrap();
        assert_eq!(log.timer_off(), vec![(t0 + MIN, i64::MAX)]);
    }
}
