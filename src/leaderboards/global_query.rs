//! The global leaderboards' query values, parsed once: sport, distance,
//! date range, place, gender, age group and paging. Pure (no actix, no
//! sqlx).

use chrono::{Datelike, TimeZone, Utc};

use crate::domain::athlete::Sex;
use crate::domain::best_efforts::DistanceKey;
use crate::domain::{DomainError, Sport};

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;
/// Pages beyond this are refused (10,000 entries deep at 100 a page).
pub const MAX_PAGE: u32 = 10_000;
/// Longest place filter, in characters (the profile's limit).
const MAX_PLACE_LEN: usize = 100;

/// Which efforts count: those that started in this UTC week (from Monday
/// 00:00), month, year, or ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateRange {
    ThisWeek,
    ThisMonth,
    ThisYear,
    All,
}

impl DateRange {
    pub const ALL: [DateRange; 4] = [
        DateRange::ThisWeek,
        DateRange::ThisMonth,
        DateRange::ThisYear,
        DateRange::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DateRange::ThisWeek => "this_week",
            DateRange::ThisMonth => "this_month",
            DateRange::ThisYear => "this_year",
            DateRange::All => "all",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The first epoch ms of the range holding `now_ms` (UTC).
    pub fn start_ms(self, now_ms: i64) -> i64 {
        let now = Utc
            .timestamp_millis_opt(now_ms)
            .single()
            .unwrap_or_default();
        let ms = |y: i32, m: u32| {
            Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                .single()
                .map_or(i64::MIN, |t| t.timestamp_millis())
        };
        match self {
            DateRange::ThisWeek => crate::changes::athlete_totals::week_start_ms(now_ms),
            DateRange::ThisMonth => ms(now.year(), now.month()),
            DateRange::ThisYear => ms(now.year(), 1),
            DateRange::All => i64::MIN,
        }
    }
}

/// Strava's age groups (segment leaderboards), by age this UTC year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgeGroup {
    To19,
    To24,
    To34,
    To44,
    To54,
    To64,
    To69,
    To74,
    From75,
}

impl AgeGroup {
    pub const ALL: [AgeGroup; 9] = [
        AgeGroup::To19,
        AgeGroup::To24,
        AgeGroup::To34,
        AgeGroup::To44,
        AgeGroup::To54,
        AgeGroup::To64,
        AgeGroup::To69,
        AgeGroup::To74,
        AgeGroup::From75,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgeGroup::To19 => "0_19",
            AgeGroup::To24 => "20_24",
            AgeGroup::To34 => "25_34",
            AgeGroup::To44 => "35_44",
            AgeGroup::To54 => "45_54",
            AgeGroup::To64 => "55_64",
            AgeGroup::To69 => "65_69",
            AgeGroup::To74 => "70_74",
            AgeGroup::From75 => "75_plus",
        }
    }

    /// The group of someone born in `birth_year`, in `year`.
    pub fn of(birth_year: i32, year: i32) -> AgeGroup {
        match year - birth_year {
            ..=19 => AgeGroup::To19,
            20..=24 => AgeGroup::To24,
            25..=34 => AgeGroup::To34,
            35..=44 => AgeGroup::To44,
            45..=54 => AgeGroup::To54,
            55..=64 => AgeGroup::To64,
            65..=69 => AgeGroup::To69,
            70..=74 => AgeGroup::To74,
            _ => AgeGroup::From75,
        }
    }
}

/// A place name as compared: trimmed, inner spaces collapsed, lower case.
pub fn place_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The place filter: any of country, state, city; state and city need
/// the country (state and city names repeat across countries).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaceFilter {
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
}

/// The query as sent (every value a string, so that a bad one gets a
/// field error rather than a generic one).
#[derive(Debug, Default, serde::Deserialize)]
pub struct RawQuery {
    pub sport_type: Option<String>,
    pub distance: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub gender: Option<String>,
    pub age_group: Option<String>,
    pub date_range: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardQuery {
    pub sport: Sport,
    pub distance: DistanceKey,
    pub range: DateRange,
    /// As entered (trimmed), for the answer.
    pub place: PlaceFilter,
    pub gender: Option<Sex>,
    pub age_group: Option<AgeGroup>,
    pub page: u32,
    pub per_page: u32,
}

fn number(
    raw: Option<&str>,
    field: &'static str,
    default: u32,
    max: u32,
) -> Result<u32, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(DomainError::invalid(field)),
        },
    }
}

fn blank_is_none(raw: Option<String>) -> Option<String> {
    raw.filter(|s| !s.trim().is_empty())
}

impl BoardQuery {
    /// Validates every parameter, collecting all errors.
    pub fn parse(raw: RawQuery) -> Result<BoardQuery, Vec<DomainError>> {
        let mut errors = Vec::new();
        let sport = match blank_is_none(raw.sport_type).as_deref().map(Sport::parse) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                errors.push(e);
                None
            }
            None => {
                errors.push(DomainError::missing("sport_type"));
                None
            }
        };
        let distance = match (sport, blank_is_none(raw.distance)) {
            (_, None) => {
                errors.push(DomainError::missing("distance"));
                None
            }
            (Some(sport), Some(d)) => DistanceKey::parse(sport, d.trim())
                .map_err(|e| errors.push(e))
                .ok(),
            (None, Some(_)) => None,
        };
        let range = match blank_is_none(raw.date_range).as_deref().map(str::trim) {
            None => Some(DateRange::All),
            Some(r) => {
                let found = DateRange::ALL.into_iter().find(|d| d.as_str() == r);
                if found.is_none() {
                    errors.push(DomainError::invalid("date_range"));
                }
                found
            }
        };
        let gender = match blank_is_none(raw.gender).as_deref().map(str::trim) {
            None => None,
            Some(g) => Sex::parse_optional(Some(g))
                .map_err(|_| errors.push(DomainError::invalid("gender")))
                .ok()
                .flatten(),
        };
        let age_group = match blank_is_none(raw.age_group).as_deref().map(str::trim) {
            None => None,
            Some(a) => {
                let found = AgeGroup::ALL.into_iter().find(|g| g.as_str() == a);
                if found.is_none() {
                    errors.push(DomainError::invalid("age_group"));
                }
                found
            }
        };
        let mut place_text = |value: Option<String>, field| {
            crate::domain::text::optional(value.as_deref(), field, MAX_PLACE_LEN)
                .map_err(|e| errors.push(e))
                .ok()
                .flatten()
        };
        let place = PlaceFilter {
            country: place_text(raw.country, "country"),
            state: place_text(raw.state, "state"),
            city: place_text(raw.city, "city"),
        };
        if place.country.is_none() && (place.state.is_some() || place.city.is_some()) {
            errors.push(DomainError::missing("country"));
        }
        let page = number(raw.page.as_deref(), "page", 1, MAX_PAGE)
            .map_err(|e| errors.push(e))
            .ok();
        let per_page = number(
            raw.per_page.as_deref(),
            "per_page",
            DEFAULT_PER_PAGE,
            MAX_PER_PAGE,
        )
        .map_err(|e| errors.push(e))
        .ok();
        match (sport, distance, range, page, per_page) {
            (Some(sport), Some(distance), Some(range), Some(page), Some(per_page))
                if errors.is_empty() =>
            {
                Ok(BoardQuery {
                    sport,
                    distance,
                    range,
                    place,
                    gender,
                    age_group,
                    page,
                    per_page,
                })
            }
            _ => Err(errors),
        }
    }

    /// Index of the first entry of the page.
    pub fn offset(&self) -> usize {
        (self.page as usize - 1) * self.per_page as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<BoardQuery, Vec<DomainError>> {
        let s: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        BoardQuery::parse(
            actix_web::web::Query::<RawQuery>::from_query(&s)
                .unwrap()
                .into_inner(),
        )
    }

    fn fields(r: Result<BoardQuery, Vec<DomainError>>) -> Vec<(&'static str, &'static str)> {
        r.unwrap_err().iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn parses_a_full_query() {
        let b = q(&[
            ("sport_type", "Run"),
            ("distance", "5k"),
            ("country", "Norway"),
            ("city", " Oslo "),
            ("gender", "F"),
            ("age_group", "25_34"),
            ("date_range", "this_month"),
            ("page", "2"),
            ("per_page", "50"),
        ])
        .unwrap();
        assert_eq!(b.distance, DistanceKey::K5);
        assert_eq!(b.place.city.as_deref(), Some("Oslo"));
        assert_eq!(
            (b.gender, b.age_group),
            (Some(Sex::F), Some(AgeGroup::To34))
        );
        assert_eq!((b.range, b.offset()), (DateRange::ThisMonth, 50));
        let d = q(&[("sport_type", "Ride"), ("distance", "100k")]).unwrap();
        assert_eq!((d.range, d.page, d.per_page), (DateRange::All, 1, 20));
    }

    #[test]
    fn refuses_bad_filters_with_their_fields() {
        assert_eq!(
            fields(q(&[("sport_type", "Ride"), ("distance", "marathon")])),
            [("distance", "invalid")]
        );
        assert_eq!(
            fields(q(&[("distance", "5k")])),
            [("sport_type", "missing")]
        );
        assert_eq!(
            fields(q(&[
                ("sport_type", "Run"),
                ("distance", "5k"),
                ("city", "Oslo"),
                ("gender", "Q"),
                ("age_group", "30_40"),
                ("date_range", "yesterday"),
                ("page", "0"),
                ("per_page", "1000"),
            ])),
            [
                ("date_range", "invalid"),
                ("gender", "invalid"),
                ("age_group", "invalid"),
                ("country", "missing"),
                ("page", "invalid"),
                ("per_page", "invalid"),
            ]
        );
        assert_eq!(
            fields(q(&[
                ("sport_type", "Run"),
                ("distance", "5k"),
                ("country", "No%00rway")
            ])),
            [("country", "invalid_character")]
        );
    }

    #[test]
    fn ranges_and_ages() {
        // 2024-06-05 12:00 UTC, a Wednesday.
        let now = 1_717_588_800_000;
        assert_eq!(DateRange::ThisWeek.start_ms(now), 1_717_372_800_000);
        assert_eq!(DateRange::ThisMonth.start_ms(now), 1_717_200_000_000);
        assert_eq!(DateRange::ThisYear.start_ms(now), 1_704_067_200_000);
        assert_eq!(AgeGroup::of(2000, 2026), AgeGroup::To34);
        assert_eq!(AgeGroup::of(2010, 2026), AgeGroup::To19);
        assert_eq!(AgeGroup::of(1940, 2026), AgeGroup::From75);
        assert_eq!(place_key("  New   York "), "new york");
    }
}
