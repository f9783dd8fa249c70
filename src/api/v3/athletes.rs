//! v3 athlete: the token's athlete, their weight, their stats.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Datelike;
use serde_json::{json, Value};

use super::{params, views, V3Caller};
use crate::domain::athlete::RawProfileUpdate;
use crate::domain::{now_ms, AthleteId, DomainError};
use crate::error::{ApiError, Code};
use crate::oauth::Scopes;
use crate::state::AppState;
use crate::store::oauth::WeekTotal;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/athlete", web::get().to(me))
        .route("/athlete", web::put().to(update))
        .route("/athletes/{id}/stats", web::get().to(stats));
}

async fn current(state: &AppState, caller: &V3Caller) -> Result<Value, ApiError> {
    let row = state
        .store
        .athlete(caller.athlete)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(views::athlete(
        &row,
        caller.scopes.allows(Scopes::PROFILE_READ_ALL),
    ))
}

/// `GET /athlete` (`read`; the detailed profile with `profile:read_all`).
async fn me(state: web::Data<AppState>, caller: V3Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    Ok(HttpResponse::Ok().json(current(&state, &caller).await?))
}

/// `PUT /athlete?weight=` (`profile:write`): Strava's only writable field.
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::PROFILE_WRITE)?;
    let p = params(&req, &body)?;
    let Some(weight) = p.get("weight") else {
        return Err(ApiError::invalid(
            "Athlete",
            [DomainError::missing("weight")],
        ));
    };
    let weight = weight
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|w| w.is_finite())
        .ok_or_else(|| ApiError::invalid("Athlete", [DomainError::invalid("weight")]))?;
    // The same edit as `PUT /api/v1/athlete` (Strava's `weight` is our
    // `weight_kg`).
    let raw = RawProfileUpdate {
        weight_kg: Some(Some(weight)),
        ..RawProfileUpdate::default()
    };
    let row = crate::api::athletes::update_profile(&state, caller.athlete, raw)
        .await
        .map_err(|mut e| {
            for f in &mut e.errors {
                if f.field == "weight_kg" {
                    f.field = "weight".to_string();
                }
            }
            e
        })?;
    Ok(HttpResponse::Ok().json(views::athlete(
        &row,
        caller.scopes.allows(Scopes::PROFILE_READ_ALL),
    )))
}

fn totals<'a>(weeks: impl Iterator<Item = &'a WeekTotal>) -> Value {
    let (mut count, mut distance, mut moving, mut elevation) = (0i64, 0.0, 0i64, 0.0);
    for w in weeks {
        count += w.activities;
        distance += w.distance;
        moving += w.moving_time;
        elevation += w.elevation_gain;
    }
    json!({
        "count": count,
        "distance": distance,
        "moving_time": moving,
        // Week totals keep moving time only.
        "elapsed_time": moving,
        "elevation_gain": elevation,
        "achievement_count": 0,
    })
}

/// `GET /athletes/{id}/stats` (`read`; the token's own athlete only, as
/// Strava): recent (the last 4 weeks), year-to-date and all-time totals
/// per sport, from the change log's weekly totals.
async fn stats(
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    if AthleteId(id.into_inner()) != caller.athlete {
        return Err(ApiError::with(
            Code::Forbidden,
            "Athlete",
            "id",
            "forbidden",
        ));
    }
    let weeks = state.store.week_totals(caller.athlete).await?;
    let (biggest_ride, biggest_climb) = state.store.biggest_ride(caller.athlete).await?;
    let now = now_ms();
    let recent_from = crate::changes::athlete_totals::week_start_ms(now)
        - 3 * crate::changes::athlete_totals::WEEK_MS;
    let year = chrono::Utc::now().year();
    let year_start = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(0, |d| d.and_utc().timestamp_millis());
    let sport = |s: &'static str| weeks.iter().filter(move |w| w.sport_type == s);
    let mut out = json!({
        "biggest_ride_distance": biggest_ride,
        "biggest_climb_elevation_gain": biggest_climb,
        "recent_swim_totals": totals(std::iter::empty()),
        "ytd_swim_totals": totals(std::iter::empty()),
        "all_swim_totals": totals(std::iter::empty()),
    });
    for (s, name) in [("Ride", "ride"), ("Run", "run")] {
        out[format!("recent_{name}_totals")] =
            totals(sport(s).filter(|w| w.week_start_ms >= recent_from));
        // Weeks that began before 1 January count from the year they began
        // in: the year-to-date figure leaves out such a week.
        out[format!("ytd_{name}_totals")] =
            totals(sport(s).filter(|w| w.week_start_ms >= year_start));
        out[format!("all_{name}_totals")] = totals(sport(s));
    }
    Ok(HttpResponse::Ok().json(out))
}
