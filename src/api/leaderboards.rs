//! `GET /api/v1/leaderboards`: the global best-effort leaderboards, served
//! from this node's in-process boards; and the best efforts in an
//! activity's detailed view.

use std::collections::HashSet;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::domain::{now_ms, AthleteId};
use crate::error::{ApiError, Code, FieldError};
use crate::leaderboards::global::Entry;
use crate::leaderboards::global_query::{BoardQuery, RawQuery};
use crate::state::AppState;
use crate::store::best_efforts::BestEffortRow;

/// A reference in Strava's `{id, resource_state}` form.
#[derive(Debug, Serialize)]
pub struct Ref {
    pub id: i64,
    pub resource_state: u8,
}

/// One best effort in Strava's shape (seconds and metres).
#[derive(Debug, Serialize)]
pub struct BestEffortView {
    pub id: i64,
    pub resource_state: u8,
    pub name: &'static str,
    pub activity: Ref,
    pub athlete: Ref,
    pub elapsed_time: i64,
    pub moving_time: i64,
    pub start_date: String,
    /// Pacer keeps no activity time zone: the same instant in UTC.
    pub start_date_local: String,
    pub distance: f64,
    pub start_index: i64,
    pub end_index: i64,
    pub pr_rank: Option<i64>,
    pub achievements: [(); 0],
}

fn secs(ms: i64) -> i64 {
    (ms + 500).div_euclid(1000)
}

impl From<BestEffortRow> for BestEffortView {
    fn from(r: BestEffortRow) -> Self {
        BestEffortView {
            id: r.id,
            resource_state: 2,
            name: r.distance.name(),
            activity: Ref {
                id: r.activity_id.0,
                resource_state: 1,
            },
            athlete: Ref {
                id: r.athlete_id.0,
                resource_state: 1,
            },
            elapsed_time: secs(r.elapsed_ms),
            moving_time: secs(r.moving_ms),
            start_date: rfc3339(r.start_ms),
            start_date_local: rfc3339(r.start_ms),
            distance: r.distance.metres(),
            start_index: r.start_index,
            end_index: r.end_index,
            pr_rank: r.pr_rank,
            achievements: [],
        }
    }
}

#[derive(Debug, Serialize)]
struct EntryView {
    rank: usize,
    athlete_id: i64,
    athlete_name: String,
    elapsed_time: i64,
    moving_time: i64,
    start_date: String,
    start_date_local: String,
    /// None when the activity is for the athlete's friends only and the
    /// caller is not one.
    activity_id: Option<i64>,
    distance: f64,
}

#[derive(Debug, Serialize)]
struct Filters<'a> {
    country: Option<&'a str>,
    state: Option<&'a str>,
    city: Option<&'a str>,
    gender: Option<&'static str>,
    age_group: Option<&'static str>,
}

/// `GET /api/v1/leaderboards?sport_type=Run|Ride&distance=5k&country=&state=
/// &city=&gender=&age_group=&date_range=&page=&per_page=`: one entry per
/// athlete (their best under the filters), ranked by whole seconds (ties
/// share a rank), and the caller's own entry as `me`.
pub async fn global(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<RawQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = BoardQuery::parse(query.into_inner()).map_err(|errors| {
        let mut e = ApiError::new(Code::InvalidLeaderboardFilter);
        e.errors = errors
            .into_iter()
            .map(|d| FieldError {
                resource: "Leaderboard".to_string(),
                field: d.field.to_string(),
                code: d.code.to_string(),
            })
            .collect();
        e
    })?;
    let Some(boards) = state.global_boards.boards() else {
        let mut e = ApiError::new(Code::LeaderboardsLoading);
        e.retry_after = Some(2);
        return Err(e);
    };
    let answer = boards.query(&q, caller.id, now_ms());
    // Who may follow a link to a friends-only activity.
    let hides_link = answer
        .entries
        .iter()
        .chain(&answer.me)
        .any(|e| e.best.followers_only && e.athlete_id != caller.id);
    let friends: HashSet<AthleteId> = if hides_link {
        state
            .store
            .friend_ids(caller.id)
            .await?
            .into_iter()
            .collect()
    } else {
        HashSet::new()
    };
    let view = |e: &Entry| EntryView {
        rank: e.rank,
        athlete_id: e.athlete_id.0,
        athlete_name: e.athlete_name.clone(),
        elapsed_time: i64::from(crate::leaderboards::global::seconds(e.best.elapsed_ms)),
        moving_time: secs(e.best.moving_ms),
        start_date: rfc3339(e.best.start_ms),
        start_date_local: rfc3339(e.best.start_ms),
        activity_id: (!e.best.followers_only
            || e.athlete_id == caller.id
            || friends.contains(&e.athlete_id))
        .then_some(e.best.activity_id),
        distance: q.distance.metres(),
    };
    let entries: Vec<EntryView> = answer.entries.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "sport_type": q.sport.as_str(),
        "distance": q.distance.as_str(),
        "distance_name": q.distance.name(),
        "distance_m": q.distance.metres(),
        "date_range": q.range.as_str(),
        "filters": Filters {
            country: q.place.country.as_deref(),
            state: q.place.state.as_deref(),
            city: q.place.city.as_deref(),
            gender: q.gender.map(|g| g.as_str()),
            age_group: q.age_group.map(|a| a.as_str()),
        },
        "entry_count": answer.entry_count,
        "page": q.page,
        "per_page": q.per_page,
        "entries": entries,
        "me": answer.me.as_ref().map(view),
    })))
}

/// The activity's best efforts as shown on its page.
pub async fn best_efforts_of(
    state: &AppState,
    activity: crate::domain::ActivityId,
) -> Result<Vec<BestEffortView>, ApiError> {
    Ok(state
        .store
        .activity_best_efforts(activity)
        .await?
        .into_iter()
        .map(BestEffortView::from)
        .collect())
}
