//! Clubs and their weekly leaderboards: parsed values and the pure rules
//! (which activities count, in which local week, how each column ranks).
//! No actix, no sqlx.

use chrono::{Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::{text, DomainError, Sport};

/// A club's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ClubId(pub i64);

impl std::fmt::Display for ClubId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Which activities a club's leaderboard counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClubSport {
    Ride,
    Run,
    Any,
}

impl ClubSport {
    pub fn parse(s: &str) -> Result<ClubSport, DomainError> {
        match s {
            "Ride" | "RIDE" | "ride" | "cycling" => Ok(ClubSport::Ride),
            "Run" | "RUN" | "run" | "running" => Ok(ClubSport::Run),
            "Any" | "ANY" | "any" | "other" => Ok(ClubSport::Any),
            _ => Err(DomainError::invalid("sport_type")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClubSport::Ride => "Ride",
            ClubSport::Run => "Run",
            ClubSport::Any => "Any",
        }
    }

    /// Whether an activity of this sport counts on the club's board.
    pub fn counts(self, sport: Sport) -> bool {
        match self {
            ClubSport::Any => true,
            ClubSport::Ride => sport == Sport::Ride,
            ClubSport::Run => sport == Sport::Run,
        }
    }

    /// The activity sport the board counts (None: all).
    pub fn only(self) -> Option<Sport> {
        match self {
            ClubSport::Any => None,
            ClubSport::Ride => Some(Sport::Ride),
            ClubSport::Run => Some(Sport::Run),
        }
    }
}

/// A member's role. Owners are admins too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClubRole {
    Member,
    Admin,
    Owner,
}

impl ClubRole {
    pub fn parse(s: &str) -> Result<ClubRole, DomainError> {
        match s {
            "member" => Ok(ClubRole::Member),
            "admin" => Ok(ClubRole::Admin),
            "owner" => Ok(ClubRole::Owner),
            _ => Err(DomainError::invalid("role")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClubRole::Member => "member",
            ClubRole::Admin => "admin",
            ClubRole::Owner => "owner",
        }
    }

    pub fn is_admin(self) -> bool {
        self >= ClubRole::Admin
    }
}

/// An IANA time zone name, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClubTz(pub Tz);

impl ClubTz {
    pub fn parse(s: &str) -> Result<ClubTz, DomainError> {
        s.trim()
            .parse::<Tz>()
            .map(ClubTz)
            .map_err(|_| DomainError::new("timezone", "invalid_time_zone"))
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The start (UTC epoch ms) of the local week holding `t_ms`: Monday
    /// 00:00 in this zone (or the first local time after it, where
    /// midnight does not exist that day).
    pub fn week_start_ms(self, t_ms: i64) -> i64 {
        let Some(utc) = Utc.timestamp_millis_opt(t_ms).single() else {
            return t_ms;
        };
        let local = utc.with_timezone(&self.0);
        let monday =
            local.date_naive() - Duration::days(i64::from(local.weekday().num_days_from_monday()));
        self.local_midnight_ms(monday)
    }

    /// The start of the week after the one starting at `week_start_ms`.
    pub fn next_week_ms(self, week_start_ms: i64) -> i64 {
        // Mid-week of the next week, then back to its Monday: DST-proof.
        self.week_start_ms(week_start_ms + 10 * 86_400_000)
    }

    /// The start of the week before the one starting at `week_start_ms`.
    pub fn previous_week_ms(self, week_start_ms: i64) -> i64 {
        self.week_start_ms(week_start_ms - 3 * 86_400_000)
    }

    fn local_midnight_ms(self, day: chrono::NaiveDate) -> i64 {
        let midnight = day.and_time(NaiveTime::MIN);
        // A zone may skip midnight (a DST change at 00:00): the first
        // local instant of that day is an hour later.
        let at = self
            .0
            .from_local_datetime(&midnight)
            .earliest()
            .or_else(|| {
                self.0
                    .from_local_datetime(&(midnight + Duration::hours(1)))
                    .earliest()
            });
        match at {
            Some(t) => t.timestamp_millis(),
            None => midnight.and_utc().timestamp_millis(),
        }
    }
}

/// The two weeks a board keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeekChoice {
    This,
    Last,
}

impl WeekChoice {
    pub fn parse(s: &str) -> Result<WeekChoice, DomainError> {
        match s {
            "this" | "this_week" => Ok(WeekChoice::This),
            "last" | "last_week" => Ok(WeekChoice::Last),
            _ => Err(DomainError::invalid("week")),
        }
    }

    /// `[start, end)` of the chosen week in the zone, as of `now_ms`.
    pub fn range(self, tz: ClubTz, now_ms: i64) -> (i64, i64) {
        let this = tz.week_start_ms(now_ms);
        match self {
            WeekChoice::This => (this, tz.next_week_ms(this)),
            WeekChoice::Last => (tz.previous_week_ms(this), this),
        }
    }
}

/// A leaderboard's sort column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortColumn {
    Distance,
    MovingTime,
    ElevationGain,
    Activities,
    Longest,
    Pace,
}

impl SortColumn {
    pub const ALL: [SortColumn; 6] = [
        SortColumn::Distance,
        SortColumn::MovingTime,
        SortColumn::ElevationGain,
        SortColumn::Activities,
        SortColumn::Longest,
        SortColumn::Pace,
    ];

    pub fn parse(s: &str) -> Result<SortColumn, DomainError> {
        SortColumn::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(DomainError::invalid("sort"))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortColumn::Distance => "distance",
            SortColumn::MovingTime => "moving_time",
            SortColumn::ElevationGain => "elevation_gain",
            SortColumn::Activities => "activities",
            SortColumn::Longest => "longest",
            SortColumn::Pace => "pace",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Pace ranks only with at least this much distance in the week (m).
pub const PACE_MIN_DISTANCE_M: f64 = 1_000.0;

/// One athlete's totals for one club week.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct WeekTotals {
    pub activities: u32,
    /// Metres.
    pub distance: f64,
    /// Seconds.
    pub moving_time: i64,
    /// Metres.
    pub elevation_gain: f64,
    /// The longest single activity, metres.
    pub longest: f64,
}

/// What a counted activity brings to its week.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountedActivity {
    pub start_ms: i64,
    pub sport: Sport,
    pub distance: f64,
    pub moving_time: i64,
    pub elevation_gain: f64,
}

impl WeekTotals {
    pub fn add(&mut self, a: &CountedActivity) {
        self.activities += 1;
        self.distance += a.distance;
        self.moving_time += a.moving_time;
        self.elevation_gain += a.elevation_gain;
        self.longest = self.longest.max(a.distance);
    }

    /// Seconds per kilometre, when the week has enough distance to rank.
    pub fn pace(&self) -> Option<f64> {
        (self.distance >= PACE_MIN_DISTANCE_M && self.moving_time > 0)
            .then(|| self.moving_time as f64 / (self.distance / 1_000.0))
    }

    /// The column's score: higher ranks first; None keeps the athlete off
    /// that column (pace without 1 km). Whole units (decimetres, seconds,
    /// milliseconds per km) so that equal totals tie exactly everywhere.
    pub fn score(&self, column: SortColumn) -> Option<i64> {
        let dm = |m: f64| (m * 10.0).round() as i64;
        match column {
            SortColumn::Distance => Some(dm(self.distance)),
            SortColumn::MovingTime => Some(self.moving_time),
            SortColumn::ElevationGain => Some(dm(self.elevation_gain)),
            SortColumn::Activities => Some(i64::from(self.activities)),
            SortColumn::Longest => Some(dm(self.longest)),
            // Faster first: the negated milliseconds per km.
            SortColumn::Pace => self.pace().map(|p| -((p * 1_000.0).round() as i64)),
        }
    }

    /// The totals of the activities that count in `[from_ms, to_ms)`.
    pub fn of<'a>(
        activities: impl IntoIterator<Item = &'a CountedActivity>,
        sport: ClubSport,
        from_ms: i64,
        to_ms: i64,
    ) -> Option<WeekTotals> {
        let mut totals = WeekTotals::default();
        for a in activities {
            if sport.counts(a.sport) && a.start_ms >= from_ms && a.start_ms < to_ms {
                totals.add(a);
            }
        }
        (totals.activities > 0).then_some(totals)
    }
}

/// Longest club name, in characters.
pub const MAX_NAME_LEN: usize = 100;
pub const MAX_DESCRIPTION_LEN: usize = 2_000;
pub const MAX_PLACE_LEN: usize = 100;

/// `POST /api/v1/clubs` as sent.
#[derive(Debug, Default, Deserialize)]
pub struct RawNewClub {
    pub name: Option<String>,
    pub description: Option<String>,
    pub sport_type: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub timezone: Option<String>,
    pub private: Option<bool>,
}

/// A club to create, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewClub {
    pub name: String,
    pub description: String,
    pub sport: ClubSport,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub timezone: ClubTz,
    pub private: bool,
}

impl NewClub {
    /// Every problem at once.
    pub fn parse(raw: RawNewClub) -> Result<NewClub, Vec<DomainError>> {
        let mut errors = Vec::new();
        let mut keep = |r: Result<Option<String>, DomainError>| match r {
            Ok(v) => v,
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let name = match raw.name.as_deref().map(str::trim) {
            None => {
                keep(Err(DomainError::missing("name")));
                None
            }
            Some("") => {
                keep(Err(DomainError::new("name", "blank")));
                None
            }
            Some(n) => keep(text::optional(Some(n), "name", MAX_NAME_LEN)),
        };
        let description = keep(text::optional(
            raw.description.as_deref(),
            "description",
            MAX_DESCRIPTION_LEN,
        ));
        let country = keep(text::optional(
            raw.country.as_deref(),
            "country",
            MAX_PLACE_LEN,
        ));
        let state = keep(text::optional(raw.state.as_deref(), "state", MAX_PLACE_LEN));
        let city = keep(text::optional(raw.city.as_deref(), "city", MAX_PLACE_LEN));
        let sport = match raw.sport_type.as_deref() {
            None => Some(ClubSport::Any),
            Some(s) => match ClubSport::parse(s) {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        let timezone = match raw.timezone.as_deref() {
            None => Some(ClubTz(Tz::UTC)),
            Some(s) => match ClubTz::parse(s) {
                Ok(t) => Some(t),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        match (name, sport, timezone) {
            (Some(name), Some(sport), Some(timezone)) if errors.is_empty() => Ok(NewClub {
                name,
                description: description.unwrap_or_default(),
                sport,
                country,
                state,
                city,
                timezone,
                private: raw.private.unwrap_or(false),
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn auckland_week_starts_at_local_monday_midnight() {
        let tz = ClubTz::parse("Pacific/Auckland").unwrap();
        // Monday 2026-11-30 00:30 NZDT (+13) = Sunday 11:30 UTC.
        let t = ms("2026-11-30T00:30:00+13:00");
        assert_eq!(tz.week_start_ms(t), ms("2026-11-30T00:00:00+13:00"));
        // 23:59 Sunday local is the week before.
        let before = ms("2026-11-29T23:59:00+13:00");
        assert_eq!(tz.week_start_ms(before), ms("2026-11-23T00:00:00+13:00"));
        assert_eq!(
            tz.next_week_ms(ms("2026-11-23T00:00:00+13:00")),
            ms("2026-11-30T00:00:00+13:00")
        );
        assert_eq!(
            tz.previous_week_ms(ms("2026-11-30T00:00:00+13:00")),
            ms("2026-11-23T00:00:00+13:00")
        );
    }

    #[test]
    fn weeks_across_a_dst_change_are_not_seven_days() {
        let tz = ClubTz::parse("Europe/Oslo").unwrap();
        // DST ends on Sunday 2026-10-25: that week is 7 days + 1 hour.
        let start = ms("2026-10-19T00:00:00+02:00");
        assert_eq!(tz.next_week_ms(start), ms("2026-10-26T00:00:00+01:00"));
        assert_eq!(tz.next_week_ms(start) - start, 7 * 86_400_000 + 3_600_000);
    }

    #[test]
    fn time_zones_and_sports_parse() {
        assert!(ClubTz::parse("Europe/Oslo").is_ok());
        assert_eq!(
            ClubTz::parse("Mars/Olympus").unwrap_err().code,
            "invalid_time_zone"
        );
        assert_eq!(ClubSport::parse("Any").unwrap(), ClubSport::Any);
        assert!(ClubSport::parse("Swim").is_err());
        assert!(ClubSport::Any.counts(Sport::Run));
        assert!(!ClubSport::Ride.counts(Sport::Run));
    }

    #[test]
    fn totals_and_scores() {
        let a = |start_ms, sport, distance, moving_time| CountedActivity {
            start_ms,
            sport,
            distance,
            moving_time,
            elevation_gain: 10.0,
        };
        let list = [
            a(10, Sport::Run, 900.0, 300),
            a(20, Sport::Run, 5_000.0, 1_500),
            a(30, Sport::Ride, 20_000.0, 2_400),
            a(100, Sport::Run, 1.0, 1),
        ];
        let t = WeekTotals::of(&list, ClubSport::Run, 0, 100).unwrap();
        assert_eq!(t.activities, 2);
        assert_eq!(t.distance, 5_900.0);
        assert_eq!(t.longest, 5_000.0);
        assert_eq!(t.score(SortColumn::Distance), Some(59_000));
        // 1800 s over 5.9 km.
        assert_eq!(
            t.score(SortColumn::Pace),
            Some(-((1_800.0 / 5.9 * 1_000.0f64).round() as i64))
        );
        let short = WeekTotals::of(&list[..1], ClubSport::Any, 0, 100).unwrap();
        assert_eq!(short.score(SortColumn::Pace), None);
        assert!(WeekTotals::of(&list, ClubSport::Ride, 40, 100).is_none());
    }

    #[test]
    fn new_club_reports_every_problem() {
        let errors = NewClub::parse(RawNewClub {
            name: Some("  ".into()),
            sport_type: Some("Swim".into()),
            timezone: Some("Nowhere/Land".into()),
            ..Default::default()
        })
        .unwrap_err();
        let codes: Vec<_> = errors.iter().map(|e| (e.field, e.code)).collect();
        assert!(codes.contains(&("name", "blank")));
        assert!(codes.contains(&("sport_type", "invalid")));
        assert!(codes.contains(&("timezone", "invalid_time_zone")));
        let ok = NewClub::parse(RawNewClub {
            name: Some("Oslo Runners".into()),
            timezone: Some("Europe/Oslo".into()),
            sport_type: Some("Run".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.sport, ClubSport::Run);
        assert!(!ok.private);
    }
}
