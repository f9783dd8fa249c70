use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::api::live::{live_snapshot, refusal, with_actor};
use crate::api::privacy::{views_for, Privacy};
use crate::api::views::ActivityView;
use crate::auth::Caller;
use crate::domain::activity::default_name;
use crate::domain::activity::{ActivityState, Applied, Relation, StatusLog, Visibility};
use crate::domain::completion::complete;
use crate::domain::feed::{parse_per_page, FeedCursor, FeedMode};
use crate::domain::fix::{RawTime, MAX_FUTURE_SKEW_MS};
use crate::domain::stats::Split;
use crate::domain::{now_ms, ActivityId, AthleteId, DomainError, Sport};
use crate::error::{invalid, ApiError, Code};
use crate::live::{self, access::Waker, hub::ask, LiveError};
use crate::state::AppState;
use crate::store::{ActivityEdit, ActivityProgress, ActivityRow, NewActivityRow, Recomputed};

/// How the caller stands to an activity's owner.
pub async fn relation(
    state: &AppState,
    caller: AthleteId,
    owner: AthleteId,
) -> Result<Relation, ApiError> {
    Ok(if caller == owner {
        Relation::Owner
    } else if state.store.are_friends(caller, owner).await? {
        Relation::Friend
    } else {
        Relation::Stranger
    })
}

/// The activity if the caller may see it; 404 otherwise, so that its
/// existence does not leak.
pub async fn visible_activity(
    state: &AppState,
    caller: &Caller,
    id: ActivityId,
) -> Result<(ActivityRow, Relation), ApiError> {
    let row = state
        .store
        .activity(id)
        .await?
        .ok_or_else(ApiError::activity_not_found)?;
    let relation = relation(state, caller.id, AthleteId(row.athlete_id)).await?;
    if !row.visibility.allows(relation) {
        return Err(ApiError::activity_not_found());
    }
    Ok((row, relation))
}

/// The activity if the caller owns it: 404 if they cannot see it, 403 if
/// they can but it is not theirs.
pub async fn owned_activity(
    state: &AppState,
    caller: &Caller,
    id: ActivityId,
) -> Result<ActivityRow, ApiError> {
    let (row, relation) = visible_activity(state, caller, id).await?;
    if relation != Relation::Owner {
        return Err(ApiError::not_owner());
    }
    Ok(row)
}

#[derive(Deserialize)]
pub struct CreateActivity {
    sport_type: Option<String>,
    /// The design's `RUN`/`RIDE`.
    #[serde(rename = "type")]
    activity_type: Option<String>,
    name: Option<String>,
    external_id: Option<String>,
    visibility: Option<String>,
    start_date: Option<RawTime>,
}

fn parse_name(name: Option<String>) -> Result<Option<String>, DomainError> {
    crate::domain::text::activity_name(name.as_deref())
}

/// `POST /api/v1/activities`: starts an activity. The same `external_id`
/// returns the existing activity (200) so offline clients can retry.
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateActivity>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let now = now_ms();
    let mut errors = Vec::new();
    let sport = match body.sport_type.as_deref().or(body.activity_type.as_deref()) {
        Some(s) => Sport::parse(s).map_err(|e| errors.push(e)).ok(),
        None => {
            errors.push(DomainError::missing("sport_type"));
            None
        }
    };
    let visibility = match body.visibility.as_deref() {
        Some(v) => Visibility::parse(v).map_err(|e| errors.push(e)).ok(),
        None => Some(Visibility::FollowersOnly),
    };
    let start_ms = match &body.start_date {
        None => Some(now),
        Some(raw) => parse_start(raw, now).map_err(|e| errors.push(e)).ok(),
    };
    let name = parse_name(body.name)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let external_id = crate::domain::text::external_id(body.external_id.as_deref(), false)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let (Some(sport), Some(visibility), Some(start_ms), true) =
        (sport, visibility, start_ms, errors.is_empty())
    else {
        return Err(ApiError::invalid("Activity", errors));
    };
    let new = NewActivityRow {
        athlete_id: caller.id,
        external_id,
        name: name.unwrap_or_else(|| default_name(sport, start_ms)),
        sport_type: sport,
        visibility,
        start_ms,
        status_log: StatusLog::start(start_ms),
        now_ms: now,
    };
    let (row, created) = state.store.create_activity(&new).await?;
    let view = ActivityView::detailed(row);
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// `GET /api/v1/activities/{id}`
pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    show_activity(&state, &caller, ActivityId(id.into_inner())).await
}

#[derive(Deserialize)]
pub struct ChangeState {
    state: String,
    at: Option<RawTime>,
}

/// `PATCH /api/v1/activities/{id}` `{state, at?}`: pause, resume, complete.
/// The change goes through the activity's actor, which writes it before
/// the reply; a completion writes the whole activity in one transaction.
pub async fn change_state(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<ChangeState>,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(id.into_inner());
    let target = ActivityState::parse(&body.state).map_err(invalid("Activity"))?;
    let at = body
        .at
        .as_ref()
        .map(|t| t.to_millis().map_err(|_| DomainError::invalid("at")))
        .transpose()
        .map_err(invalid("Activity"))?;
    let athlete = caller.id;
    let result = with_actor(&state.live, id, Waker::Owner(athlete), |addr| async move {
        ask(&addr, |reply| live::change_state::ChangeState {
            athlete,
            state: target,
            at,
            reply,
        })
        .await?
    })
    .await;
    match result {
        Ok(_) => {}
        // A replayed change on a completed activity is a no-op; anything
        // else on it is not allowed.
        Err(LiveError::Completed) => {
            let mut log = owned_activity(&state, &caller, id).await?.status_log;
            if log
                .apply(target, at, now_ms())
                .map_err(invalid("Activity"))?
                != Applied::AlreadyRecorded
            {
                return Err(ApiError::activity_completed());
            }
        }
        Err(e) => return Err(refusal(&state, &caller, id, e).await),
    }
    show_activity(&state, &caller, id).await
}

/// The activity as the caller may see it, with live stats while in progress.
async fn show_activity(
    state: &AppState,
    caller: &Caller,
    id: ActivityId,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(activity_view(state, caller, id).await?))
}

/// The detailed view the caller may see (privacy applied, live stats
/// overlaid): what `GET /activities/{id}` shows, in v1 and v3.
pub async fn activity_view(
    state: &AppState,
    caller: &Caller,
    id: ActivityId,
) -> Result<ActivityView, ApiError> {
    let (row, relation) = visible_activity(state, caller, id).await?;
    let privacy = Privacy::for_relation(state, relation, AthleteId(row.athlete_id)).await?;
    let live = match row.state {
        ActivityState::Complete => None,
        ActivityState::Started | ActivityState::Paused => live_snapshot(state, &row).await,
    };
    let mut view = privacy.view(ActivityView::detailed(row));
    if let Some(live) = live {
        view.apply_live(&live.stats, &live.splits_metric);
    }
    Ok(view)
}

#[derive(Deserialize, Default)]
pub struct UpdateActivity {
    pub name: Option<String>,
    pub visibility: Option<String>,
    pub sport_type: Option<String>,
    #[serde(rename = "type")]
    pub activity_type: Option<String>,
    pub start_date: Option<RawTime>,
}

/// Splits equal but for JSON's last-digit rounding of stored ones.
fn same_splits(a: &[Split], b: &[Split]) -> bool {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(1.0);
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            (x.split, x.elapsed_time, x.moving_time) == (y.split, y.elapsed_time, y.moving_time)
                && close(x.distance, y.distance)
                && close(x.elevation_difference, y.elevation_difference)
                && close(x.average_speed, y.average_speed)
        })
}

/// A start time a client sent: not in the future, not before 2000.
fn parse_start(raw: &RawTime, now: i64) -> Result<i64, DomainError> {
    match raw.to_millis() {
        Ok(t) if t > now + MAX_FUTURE_SKEW_MS => Err(DomainError::new("start_date", "future")),
        Ok(t) if t >= 946_684_800_000 => Ok(t),
        _ => Err(DomainError::invalid("start_date")),
    }
}

/// `PUT /api/v1/activities/{id}` `{name?, visibility?, sport_type?,
/// start_date?}`. A new sport or start on a completed activity computes
/// it again (the one completion; a new start moves the route with it);
/// while it is recorded, only the name and visibility change (409).
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateActivity>,
) -> Result<HttpResponse, ApiError> {
    let row = apply_update(
        &state,
        &caller,
        ActivityId(id.into_inner()),
        body.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Privacy::owner().view(ActivityView::detailed(row))))
}

/// An owner's edit (v1 `PUT` and v3 `PUT`): answers the stored row.
pub async fn apply_update(
    state: &AppState,
    caller: &Caller,
    id: ActivityId,
    body: UpdateActivity,
) -> Result<ActivityRow, ApiError> {
    let row = owned_activity(state, caller, id).await?;
    let now = now_ms();
    let mut errors = Vec::new();
    let name = parse_name(body.name)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten()
        .unwrap_or_else(|| row.name.clone());
    let visibility = match body.visibility.as_deref() {
        Some(v) => Visibility::parse(v).map_err(|e| errors.push(e)).ok(),
        None => Some(row.visibility),
    };
    let sport = match body.sport_type.as_deref().or(body.activity_type.as_deref()) {
        Some(s) => Sport::parse(s).map_err(|e| errors.push(e)).ok(),
        None => Some(row.sport_type),
    };
    let start_ms = match &body.start_date {
        Some(raw) => parse_start(raw, now).map_err(|e| errors.push(e)).ok(),
        None => Some(row.start_ms),
    };
    let (Some(visibility), Some(sport), Some(start_ms), true) =
        (visibility, sport, start_ms, errors.is_empty())
    else {
        return Err(ApiError::invalid("Activity", errors));
    };
    let recomputed = if sport != row.sport_type || start_ms != row.start_ms {
        if row.state != ActivityState::Complete {
            let field = if sport != row.sport_type {
                "sport_type"
            } else {
                "start_date"
            };
            return Err(ApiError::with(
                Code::ActivityInProgress,
                "Activity",
                field,
                "in_progress",
            ));
        }
        let shift = start_ms - row.start_ms;
        let mut route = state.store.route(id).await?;
        for fix in &mut route {
            fix.t_ms = fix.t_ms.saturating_add(shift);
        }
        let log = row.status_log.shifted(shift);
        let done = complete(sport, &route, &log);
        let stats_changed = done.totals != row.totals || !same_splits(&done.splits, &row.splits);
        Some(Recomputed {
            progress: ActivityProgress::completed(id, log, done, now),
            route,
            cropped: false,
            stats_changed,
        })
    } else {
        None
    };
    let edit = ActivityEdit {
        name,
        sport_type: sport,
        visibility,
        start_ms,
        recomputed,
        now_ms: now,
    };
    if !state.store.update_activity(id, &edit).await? {
        return Err(ApiError::activity_not_found());
    }
    if visibility != row.visibility {
        state.access.activity_changed(id);
    }
    state
        .store
        .activity(id)
        .await?
        .ok_or_else(ApiError::activity_not_found)
}

#[derive(Deserialize)]
pub struct Crop {
    start_date: Option<RawTime>,
    end_date: Option<RawTime>,
}

/// `POST /api/v1/activities/{id}/crop` `{start_date?, end_date?}`: cuts a
/// completed activity's route and timer to the span given (each end
/// defaults to the activity's own) and computes it again.
pub async fn crop(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<Crop>,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(id.into_inner());
    let row = owned_activity(&state, &caller, id).await?;
    let time = |raw: &Option<RawTime>, field: &'static str| {
        raw.as_ref()
            .map(|t| t.to_millis().map_err(|_| DomainError::invalid(field)))
            .transpose()
    };
    let mut errors = Vec::new();
    let from = time(&body.start_date, "start_date")
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let to = time(&body.end_date, "end_date")
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    if !errors.is_empty() {
        return Err(ApiError::invalid("Activity", errors));
    }
    if row.state != ActivityState::Complete {
        return Err(ApiError::with(
            Code::ActivityInProgress,
            "Activity",
            "state",
            "in_progress",
        ));
    }
    let log = row
        .status_log
        .cropped(from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX))
        .map_err(invalid("Activity"))?;
    let (start, end) = (log.start_ms(), log.completed_ms().unwrap_or(i64::MAX));
    let full = state.store.route(id).await?;
    let before = full.len();
    let route: Vec<_> = full
        .into_iter()
        .filter(|f| f.t_ms >= start && f.t_ms <= end)
        .collect();
    if before > 0 && route.is_empty() {
        return Err(ApiError::invalid(
            "Activity",
            [DomainError::new("start_date", "no_points")],
        ));
    }
    let cropped = route.len() != before || log != row.status_log;
    let done = complete(row.sport_type, &route, &log);
    let now = now_ms();
    let stats_changed = done.totals != row.totals || !same_splits(&done.splits, &row.splits);
    let edit = ActivityEdit {
        name: row.name,
        sport_type: row.sport_type,
        visibility: row.visibility,
        start_ms: start,
        recomputed: Some(Recomputed {
            progress: ActivityProgress::completed(id, log, done, now),
            route,
            cropped,
            stats_changed,
        }),
        now_ms: now,
    };
    if !state.store.update_activity(id, &edit).await? {
        return Err(ApiError::activity_not_found());
    }
    show_activity(&state, &caller, id).await
}

/// `DELETE /api/v1/activities/{id}`
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    delete_owned(&state, &caller, ActivityId(id.into_inner())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes the caller's activity (v1 and v3).
pub async fn delete_owned(
    state: &AppState,
    caller: &Caller,
    id: ActivityId,
) -> Result<(), ApiError> {
    owned_activity(state, caller, id).await?;
    if let Some(addr) = state.live.get(id) {
        let _ = ask(&addr, |reply| live::flush::Discard { reply }).await;
    }
    state.store.delete_activity(id).await?;
    state.access.activity_changed(id);
    Ok(())
}

#[derive(Deserialize)]
pub struct ListQuery {
    mode: Option<String>,
    per_page: Option<u32>,
    cursor: Option<String>,
}

/// `GET /api/v1/activities?mode=USER|FRIENDS|ALL&per_page=&cursor=`:
/// completed activities, newest first, keyset-paginated.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let mode =
        FeedMode::parse(query.mode.as_deref().unwrap_or("USER")).map_err(invalid("Activity"))?;
    let per_page = parse_per_page(query.per_page).map_err(invalid("Activity"))?;
    let cursor = query
        .cursor
        .as_deref()
        .map(FeedCursor::parse)
        .transpose()
        .map_err(invalid("Activity"))?;
    let mut rows = state
        .store
        .feed(caller.id, mode, cursor, per_page + 1)
        .await?;
    let next_cursor = if rows.len() > per_page as usize {
        rows.truncate(per_page as usize);
        rows.last().map(|r| {
            FeedCursor {
                start_ms: r.start_ms,
                id: r.id,
            }
            .encode()
        })
    } else {
        None
    };
    let activities = views_for(&state, caller.id, rows, ActivityView::summary).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"activities": activities, "next_cursor": next_cursor})))
}
