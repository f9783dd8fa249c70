//! Segment leaderboard filters (Strava's former parameters), parsed once:
//! gender, age group, weight class, date range, following, club, mine,
//! and the paging. Pure: the periods are computed from a given instant.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};

use super::athlete::Sex;
use super::DomainError;

/// Most entries on one page (Strava's limit).
pub const MAX_PER_PAGE: u32 = 200;
pub const DEFAULT_PER_PAGE: u32 = 10;
/// Strava answered the caller's entry with 2 on either side by default, at
/// most 15.
pub const DEFAULT_CONTEXT_ENTRIES: u32 = 2;
pub const MAX_CONTEXT_ENTRIES: u32 = 15;
/// Pages past this are refused: `page * per_page` stays far from overflow.
pub const MAX_PAGE: u32 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gender {
    M,
    F,
}

impl Gender {
    pub fn parse(s: &str) -> Result<Gender, DomainError> {
        match s {
            "M" | "m" => Ok(Gender::M),
            "F" | "f" => Ok(Gender::F),
            _ => Err(DomainError::invalid("gender")),
        }
    }

    /// Athletes who gave no sex, or X, are on no gender board.
    pub fn of(sex: Option<Sex>) -> Option<Gender> {
        match sex {
            Some(Sex::M) => Some(Gender::M),
            Some(Sex::F) => Some(Gender::F),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Gender::M => "M",
            Gender::F => "F",
        }
    }
}

/// Strava's age groups; the age is the query year minus the birth year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgeGroup {
    To19,
    From20To24,
    From25To34,
    From35To44,
    From45To54,
    From55To64,
    From65To69,
    From70To74,
    From75,
}

impl AgeGroup {
    const ALL: [(AgeGroup, &'static str); 9] = [
        (AgeGroup::To19, "0_19"),
        (AgeGroup::From20To24, "20_24"),
        (AgeGroup::From25To34, "25_34"),
        (AgeGroup::From35To44, "35_44"),
        (AgeGroup::From45To54, "45_54"),
        (AgeGroup::From55To64, "55_64"),
        (AgeGroup::From65To69, "65_69"),
        (AgeGroup::From70To74, "70_74"),
        (AgeGroup::From75, "75_plus"),
    ];

    /// Every group, youngest first.
    pub fn every() -> impl Iterator<Item = AgeGroup> {
        Self::ALL.into_iter().map(|(g, _)| g)
    }

    pub fn parse(s: &str) -> Result<AgeGroup, DomainError> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(g, _)| *g)
            .ok_or(DomainError::invalid("age_group"))
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(g, _)| *g == self)
            .map_or("", |(_, name)| name)
    }

    pub fn of_age(age: i32) -> AgeGroup {
        match age {
            i32::MIN..=19 => AgeGroup::To19,
            20..=24 => AgeGroup::From20To24,
            25..=34 => AgeGroup::From25To34,
            35..=44 => AgeGroup::From35To44,
            45..=54 => AgeGroup::From45To54,
            55..=64 => AgeGroup::From55To64,
            65..=69 => AgeGroup::From65To69,
            70..=74 => AgeGroup::From70To74,
            _ => AgeGroup::From75,
        }
    }

    /// The group in `year` of someone born in `birth_year`.
    pub fn in_year(birth_year: Option<i32>, year: i32) -> Option<AgeGroup> {
        birth_year.map(|b| AgeGroup::of_age(year - b))
    }
}

/// Strava's weight classes in kilograms (`0_54` is under 55 kg).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeightClass {
    To54,
    From55To64,
    From65To74,
    From75To84,
    From85To94,
    From95,
}

impl WeightClass {
    const ALL: [(WeightClass, &'static str); 6] = [
        (WeightClass::To54, "0_54"),
        (WeightClass::From55To64, "55_64"),
        (WeightClass::From65To74, "65_74"),
        (WeightClass::From75To84, "75_84"),
        (WeightClass::From85To94, "85_94"),
        (WeightClass::From95, "95_plus"),
    ];

    /// Every class, lightest first.
    pub fn every() -> impl Iterator<Item = WeightClass> {
        Self::ALL.into_iter().map(|(w, _)| w)
    }

    pub fn parse(s: &str) -> Result<WeightClass, DomainError> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(w, _)| *w)
            .ok_or(DomainError::invalid("weight_class"))
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(w, _)| *w == self)
            .map_or("", |(_, name)| name)
    }

    pub fn of_kg(kg: Option<f64>) -> Option<WeightClass> {
        let kg = kg.filter(|k| k.is_finite() && *k > 0.0)?;
        Some(if kg < 55.0 {
            WeightClass::To54
        } else if kg < 65.0 {
            WeightClass::From55To64
        } else if kg < 75.0 {
            WeightClass::From65To74
        } else if kg < 85.0 {
            WeightClass::From75To84
        } else if kg < 95.0 {
            WeightClass::From85To94
        } else {
            WeightClass::From95
        })
    }
}

/// Which efforts count, by their start. Periods are UTC calendar periods
/// (weeks start on Monday), the same for every viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DateRange {
    All,
    ThisYear,
    ThisMonth,
    ThisWeek,
    Today,
}

impl DateRange {
    /// From the widest to the narrowest: each range holds the next.
    pub const ALL: [DateRange; 5] = [
        DateRange::All,
        DateRange::ThisYear,
        DateRange::ThisMonth,
        DateRange::ThisWeek,
        DateRange::Today,
    ];

    pub fn parse(s: &str) -> Result<DateRange, DomainError> {
        match s {
            "this_year" => Ok(DateRange::ThisYear),
            "this_month" => Ok(DateRange::ThisMonth),
            "this_week" => Ok(DateRange::ThisWeek),
            "today" => Ok(DateRange::Today),
            _ => Err(DomainError::invalid("date_range")),
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The starts of the periods containing one instant, and its year (for age
/// groups). Two instants in the same day have equal `Periods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    pub year: i32,
    /// Start of each `DateRange` in ms (`All`: `i64::MIN`).
    pub starts: [i64; 5],
}

impl Periods {
    pub fn at(now_ms: i64) -> Periods {
        let now = Utc
            .timestamp_millis_opt(now_ms)
            .single()
            .unwrap_or_else(Utc::now);
        let day = now.date_naive();
        let ms = |d: Option<NaiveDate>| {
            d.and_then(|d| d.and_hms_opt(0, 0, 0))
                .map_or(i64::MIN, |t| t.and_utc().timestamp_millis())
        };
        let week_start =
            day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()));
        Periods {
            year: day.year(),
            starts: [
                i64::MIN,
                ms(NaiveDate::from_ymd_opt(day.year(), 1, 1)),
                ms(NaiveDate::from_ymd_opt(day.year(), day.month(), 1)),
                ms(Some(week_start)),
                ms(Some(day)),
            ],
        }
    }

    pub fn start(&self, range: DateRange) -> i64 {
        self.starts[range.index()]
    }

    /// Whether an effort starting at `start_ms` falls in the range.
    pub fn contains(&self, range: DateRange, start_ms: i64) -> bool {
        start_ms >= self.start(range)
    }
}

/// Whose entries a leaderboard ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everyone's best.
    Everyone,
    /// The caller and their friends.
    Following,
    /// The members of a club.
    Club(i64),
    /// Every one of the caller's own efforts, ranked against each other.
    Mine,
}

/// A parsed leaderboard request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderboardQuery {
    pub gender: Option<Gender>,
    pub age_group: Option<AgeGroup>,
    pub weight_class: Option<WeightClass>,
    pub date_range: DateRange,
    pub scope: Scope,
    pub page: u32,
    pub per_page: u32,
    pub context_entries: u32,
}

/// The query string's values as sent.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct RawLeaderboardQuery {
    pub gender: Option<String>,
    pub age_group: Option<String>,
    pub weight_class: Option<String>,
    pub date_range: Option<String>,
    pub following: Option<String>,
    pub club_id: Option<String>,
    pub mine: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
    pub context_entries: Option<String>,
}

fn flag(v: &Option<String>, field: &'static str) -> Result<bool, DomainError> {
    match v.as_deref() {
        None | Some("false") | Some("0") | Some("") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(DomainError::invalid(field)),
    }
}

fn number(
    v: &Option<String>,
    field: &'static str,
    min: u32,
    max: u32,
    default: u32,
) -> Result<u32, DomainError> {
    match v.as_deref() {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if n < min => Err(DomainError::new(field, "too_small")),
            Ok(n) if n > max => Err(DomainError::new(field, "too_large")),
            Ok(n) => Ok(n),
            Err(_) => Err(DomainError::invalid(field)),
        },
    }
}

fn optional<T>(
    v: &Option<String>,
    parse: impl Fn(&str) -> Result<T, DomainError>,
) -> Result<Option<T>, DomainError> {
    match v.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => parse(s).map(Some),
    }
}

impl RawLeaderboardQuery {
    /// Every bad value is reported, each under its field. `following`,
    /// `club_id` and `mine` choose whose entries are ranked: at most one.
    pub fn parse(&self) -> Result<LeaderboardQuery, Vec<DomainError>> {
        let mut errors = Vec::new();
        fn keep<T>(errors: &mut Vec<DomainError>, r: Result<T, DomainError>) -> Option<T> {
            r.map_err(|e| errors.push(e)).ok()
        }
        let gender = keep(&mut errors, optional(&self.gender, Gender::parse)).flatten();
        let age_group = keep(&mut errors, optional(&self.age_group, AgeGroup::parse)).flatten();
        let weight_class = keep(
            &mut errors,
            optional(&self.weight_class, WeightClass::parse),
        )
        .flatten();
        let date_range = keep(&mut errors, optional(&self.date_range, DateRange::parse))
            .flatten()
            .unwrap_or(DateRange::All);
        let following = keep(&mut errors, flag(&self.following, "following")).unwrap_or(false);
        let mine = keep(&mut errors, flag(&self.mine, "mine")).unwrap_or(false);
        let club = keep(
            &mut errors,
            optional(&self.club_id, |s| {
                s.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or(DomainError::invalid("club_id"))
            }),
        )
        .flatten();
        let page = keep(&mut errors, number(&self.page, "page", 1, MAX_PAGE, 1)).unwrap_or(1);
        let per_page = keep(
            &mut errors,
            number(
                &self.per_page,
                "per_page",
                1,
                MAX_PER_PAGE,
                DEFAULT_PER_PAGE,
            ),
        )
        .unwrap_or(DEFAULT_PER_PAGE);
        let context_entries = keep(
            &mut errors,
            number(
                &self.context_entries,
                "context_entries",
                0,
                MAX_CONTEXT_ENTRIES,
                DEFAULT_CONTEXT_ENTRIES,
            ),
        )
        .unwrap_or(DEFAULT_CONTEXT_ENTRIES);
        let scope = match (following, club, mine) {
            (false, None, false) => Scope::Everyone,
            (true, None, false) => Scope::Following,
            (false, Some(c), false) => Scope::Club(c),
            (false, None, true) => Scope::Mine,
            _ => {
                errors.push(DomainError::new("scope", "conflicting_filters"));
                Scope::Everyone
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(LeaderboardQuery {
            gender,
            age_group,
            weight_class,
            date_range,
            scope,
            page,
            per_page,
            context_entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawLeaderboardQuery {
        let mut r = RawLeaderboardQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "gender" => r.gender = v,
                "age_group" => r.age_group = v,
                "weight_class" => r.weight_class = v,
                "date_range" => r.date_range = v,
                "following" => r.following = v,
                "club_id" => r.club_id = v,
                "mine" => r.mine = v,
                "page" => r.page = v,
                "per_page" => r.per_page = v,
                "context_entries" => r.context_entries = v,
                _ => {}
            }
        }
        r
    }

    #[test]
    fn defaults_and_values() {
        let q = raw(&[]).parse().unwrap();
        assert_eq!(q.scope, Scope::Everyone);
        assert_eq!((q.page, q.per_page, q.context_entries), (1, 10, 2));
        let q = raw(&[
            ("gender", "F"),
            ("age_group", "75_plus"),
            ("weight_class", "0_54"),
            ("date_range", "this_week"),
            ("club_id", "7"),
            ("per_page", "200"),
        ])
        .parse()
        .unwrap();
        assert_eq!(q.gender, Some(Gender::F));
        assert_eq!(q.age_group, Some(AgeGroup::From75));
        assert_eq!(q.weight_class, Some(WeightClass::To54));
        assert_eq!(q.date_range, DateRange::ThisWeek);
        assert_eq!(q.scope, Scope::Club(7));
        assert_eq!(q.per_page, 200);
    }

    #[test]
    fn bad_values_name_their_fields() {
        let e = raw(&[
            ("gender", "Q"),
            ("age_group", "18_30"),
            ("per_page", "201"),
            ("page", "0"),
            ("context_entries", "x"),
            ("date_range", "yesterday"),
        ])
        .parse()
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "gender",
                "age_group",
                "date_range",
                "page",
                "per_page",
                "context_entries"
            ]
        );
        let e = raw(&[("mine", "true"), ("following", "true")])
            .parse()
            .unwrap_err();
        assert_eq!(e[0].code, "conflicting_filters");
    }

    #[test]
    fn groups_and_classes() {
        assert_eq!(AgeGroup::in_year(Some(2007), 2026), Some(AgeGroup::To19));
        assert_eq!(
            AgeGroup::in_year(Some(2006), 2026),
            Some(AgeGroup::From20To24)
        );
        assert_eq!(AgeGroup::in_year(Some(1951), 2026), Some(AgeGroup::From75));
        assert_eq!(
            AgeGroup::in_year(Some(1952), 2026),
            Some(AgeGroup::From70To74)
        );
        assert_eq!(WeightClass::of_kg(Some(54.9)), Some(WeightClass::To54));
        assert_eq!(
            WeightClass::of_kg(Some(55.0)),
            Some(WeightClass::From55To64)
        );
        assert_eq!(WeightClass::of_kg(Some(95.0)), Some(WeightClass::From95));
        assert_eq!(WeightClass::of_kg(None), None);
        for (g, s) in AgeGroup::ALL {
            assert_eq!(AgeGroup::parse(s), Ok(g));
            assert_eq!(g.as_str(), s);
        }
    }

    #[test]
    fn periods() {
        // Wednesday 2026-11-25 13:00 UTC.
        let p = Periods::at(1_795_611_600_000);
        assert_eq!(p.year, 2026);
        assert_eq!(p.start(DateRange::Today), 1_795_564_800_000);
        // Monday 2026-11-23.
        assert_eq!(p.start(DateRange::ThisWeek), 1_795_392_000_000);
        assert_eq!(p.start(DateRange::ThisMonth), 1_793_491_200_000);
        assert_eq!(p.start(DateRange::ThisYear), 1_767_225_600_000);
        assert!(p.contains(DateRange::All, i64::MIN));
        assert!(!p.contains(DateRange::Today, 1_795_564_799_999));
    }
}
