use actix_web::{web, HttpResponse};
use chrono::Timelike;
use serde::Deserialize;

use crate::api::live::{live_snapshot, refusal, with_actor};
use crate::api::privacy::{views_for, Privacy};
use crate::api::views::ActivityView;
use crate::auth::Caller;
use crate::domain::activity::{ActivityState, Applied, Relation, StatusLog, Visibility};
use crate::domain::feed::{parse_per_page, FeedCursor, FeedMode};
use crate::domain::fix::{RawTime, MAX_FUTURE_SKEW_MS};
use crate::domain::{now_ms, ActivityId, AthleteId, DomainError, Sport};
use crate::error::{invalid, ApiError, Code};
use crate::live::{self, access::Waker, hub::ask, LiveError};
use crate::state::AppState;
use crate::store::{ActivityRow, NewActivityRow};

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
        .ok_or_else(|| ApiError::not_found("Activity"))?;
    let relation = relation(state, caller.id, AthleteId(row.athlete_id)).await?;
    let visibility = Visibility::parse(&row.visibility).map_err(ApiError::internal)?;
    if !visibility.allows(relation) {
        return Err(ApiError::not_found("Activity"));
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
        return Err(ApiError::with(
            Code::Forbidden,
            "Activity",
            "athlete",
            "not_owner",
        ));
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

pub fn default_name(sport: Sport, start_ms: i64) -> String {
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
    let start_ms = match body.start_date.as_ref().map(RawTime::to_millis) {
        None => Some(now),
        Some(Ok(t)) if t > now + MAX_FUTURE_SKEW_MS => {
            errors.push(DomainError::new("start_date", "future"));
            None
        }
        Some(Ok(t)) if t < 946_684_800_000 => {
            errors.push(DomainError::invalid("start_date"));
            None
        }
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            errors.push(DomainError::invalid("start_date"));
            None
        }
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
    let log = StatusLog::start(start_ms);
    let new = NewActivityRow {
        athlete_id: caller.id,
        external_id,
        name: name.unwrap_or_else(|| default_name(sport, start_ms)),
        sport_type: sport.as_str().to_string(),
        visibility: visibility.as_str().to_string(),
        start_ms,
        status_log: serde_json::to_string(log.entries()).map_err(ApiError::internal)?,
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
            let row = owned_activity(&state, &caller, id).await?;
            let entries = serde_json::from_str(&row.status_log).map_err(ApiError::internal)?;
            let mut log = StatusLog::from_entries(entries).map_err(ApiError::internal)?;
            if log
                .apply(target, at, now_ms())
                .map_err(invalid("Activity"))?
                != Applied::AlreadyRecorded
            {
                return Err(ApiError::conflict("Activity", "state", "complete"));
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
    let (row, relation) = visible_activity(state, caller, id).await?;
    let privacy = Privacy::for_relation(state, relation, AthleteId(row.athlete_id)).await?;
    let live = match row.state.as_str() {
        "COMPLETE" => None,
        _ => live_snapshot(state, &row).await,
    };
    let mut view = privacy.view(ActivityView::detailed(row));
    if let Some(live) = live {
        view.apply_live(&live.stats, &live.splits_metric);
    }
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
pub struct UpdateActivity {
    name: Option<String>,
    visibility: Option<String>,
}

/// `PUT /api/v1/activities/{id}` `{name?, visibility?}`
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateActivity>,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(id.into_inner());
    let row = owned_activity(&state, &caller, id).await?;
    let body = body.into_inner();
    let name = parse_name(body.name)
        .map_err(invalid("Activity"))?
        .unwrap_or(row.name);
    let visibility = match body.visibility.as_deref() {
        Some(v) => Visibility::parse(v)
            .map_err(invalid("Activity"))?
            .as_str()
            .to_string(),
        None => row.visibility,
    };
    state
        .store
        .update_activity_meta(id, &name, &visibility, now_ms())
        .await?;
    state.access.activity_changed(id);
    let row = state
        .store
        .activity(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Activity"))?;
    Ok(HttpResponse::Ok().json(Privacy::owner().view(ActivityView::detailed(row))))
}

/// `DELETE /api/v1/activities/{id}`
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(id.into_inner());
    owned_activity(&state, &caller, id).await?;
    if let Some(addr) = state.live.get(id) {
        let _ = ask(&addr, |reply| live::flush::Discard { reply }).await;
    }
    state.store.delete_activity(id).await?;
    state.access.activity_changed(id);
    Ok(HttpResponse::NoContent().finish())
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
