//! Clubs: create, read, membership (join, leave, requests, removal), the
//! members' activities and the weekly leaderboard. A private club's
//! members, activities and leaderboard answer 404 to non-members.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::api::privacy::views_for;
use crate::api::views::{rfc3339, ActivityView};
use crate::auth::Caller;
use crate::domain::clubs::{
    ClubId, ClubRole, ClubTz, NewClub, RawNewClub, SortColumn, WeekChoice, WeekTotals,
};
use crate::domain::feed::{parse_per_page, FeedCursor};
use crate::domain::{now_ms, AthleteId, DomainError};
use crate::error::{ApiError, Code, FieldError};
use crate::leaderboards::club_boards::{BoardEntry, BoardError};
use crate::state::AppState;
use crate::store::clubs::{BoardClub, ClubFor, JoinOutcome, LeaveOutcome, MemberRow};

/// Most entries on one leaderboard page.
pub const MAX_LEADERBOARD_LIMIT: u64 = 100;
/// Most pending join requests listed at once.
const MAX_REQUESTS_LISTED: u32 = 200;

fn club_not_found() -> ApiError {
    ApiError::with(Code::ClubNotFound, "Club", "id", "not_found")
}

fn not_admin() -> ApiError {
    ApiError::with(Code::NotClubAdmin, "Club", "admin", "not_club_admin")
}

impl From<BoardError> for ApiError {
    fn from(e: BoardError) -> Self {
        match e {
            BoardError::Store(s) => s.into(),
            other => {
                tracing::warn!(error = %other, "club leaderboard unavailable");
                ApiError::unavailable(2)
            }
        }
    }
}

/// Validation errors, with the time zone's own code.
fn invalid_club(errors: Vec<DomainError>) -> ApiError {
    let code = if errors.iter().any(|e| e.code == "invalid_time_zone") {
        Code::InvalidTimeZone
    } else {
        Code::Invalid
    };
    let mut e = ApiError::new(code);
    e.errors = errors
        .into_iter()
        .map(|d| FieldError {
            resource: "Club".to_string(),
            field: d.field.to_string(),
            code: d.code.to_string(),
        })
        .collect();
    e
}

/// Strava's club shape, with the club's time zone and Pacer's `role`.
#[derive(Debug, Serialize)]
pub struct ClubView {
    pub id: i64,
    pub resource_state: u8,
    pub name: String,
    pub description: String,
    pub sport_type: &'static str,
    pub activity_types: Vec<&'static str>,
    pub club_type: &'static str,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub timezone: &'static str,
    pub private: bool,
    pub member_count: i64,
    pub featured: bool,
    pub verified: bool,
    pub url: String,
    /// "member", "pending" or null.
    pub membership: Option<&'static str>,
    pub admin: bool,
    pub owner: bool,
    pub owner_id: i64,
    pub created_at: String,
}

impl ClubView {
    pub fn of(c: ClubFor) -> ClubView {
        let club = c.club;
        let activity_types = match club.sport.only() {
            Some(s) => vec![s.as_str()],
            None => vec!["Ride", "Run"],
        };
        ClubView {
            id: club.id.0,
            resource_state: 3,
            url: format!("clubs/{}", club.id.0),
            name: club.name,
            description: club.description,
            sport_type: club.sport.as_str(),
            activity_types,
            club_type: "club",
            city: club.city,
            state: club.state,
            country: club.country,
            timezone: club.timezone.name(),
            private: club.private,
            member_count: club.member_count,
            featured: false,
            verified: false,
            membership: match (c.role, c.requested) {
                (Some(_), _) => Some("member"),
                (None, true) => Some("pending"),
                (None, false) => None,
            },
            admin: c.role.is_some_and(ClubRole::is_admin),
            owner: c.role == Some(ClubRole::Owner),
            owner_id: club.owner.0,
            created_at: rfc3339(club.created_ms),
        }
    }
}

#[derive(Debug, Serialize)]
struct MemberView {
    id: i64,
    resource_state: u8,
    firstname: String,
    lastname: String,
    membership: &'static str,
    admin: bool,
    owner: bool,
    joined_at: String,
}

impl MemberView {
    fn of(m: MemberRow, membership: &'static str) -> MemberView {
        MemberView {
            id: m.athlete.0,
            resource_state: 2,
            firstname: m.firstname,
            lastname: m.lastname,
            membership,
            admin: m.role.is_admin(),
            owner: m.role == ClubRole::Owner,
            joined_at: rfc3339(m.joined_ms),
        }
    }
}

/// The club as the caller sees it; 404 when there is none.
pub async fn club_for(state: &AppState, id: i64, caller: AthleteId) -> Result<ClubFor, ApiError> {
    state
        .store
        .club_for(ClubId(id), caller)
        .await?
        .ok_or_else(club_not_found)
}

/// The club, if the caller may see its members, activities and board:
/// anyone for a public club, members for a private one (404 otherwise, so
/// that a private club's insides do not leak).
pub async fn readable(state: &AppState, id: i64, caller: AthleteId) -> Result<ClubFor, ApiError> {
    let c = club_for(state, id, caller).await?;
    if c.club.private && c.role.is_none() {
        return Err(club_not_found());
    }
    Ok(c)
}

/// The club, if the caller is one of its admins.
async fn administered(state: &AppState, id: i64, caller: AthleteId) -> Result<ClubFor, ApiError> {
    let c = readable(state, id, caller).await?;
    if !c.role.is_some_and(ClubRole::is_admin) {
        return Err(not_admin());
    }
    Ok(c)
}

fn board_club(c: &ClubFor) -> BoardClub {
    BoardClub {
        id: c.club.id,
        sport: c.club.sport,
        timezone: c.club.timezone,
    }
}

/// `POST /api/v1/clubs`
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<RawNewClub>,
) -> Result<HttpResponse, ApiError> {
    let new = NewClub::parse(body.into_inner()).map_err(invalid_club)?;
    let club = state.store.create_club(caller.id, &new, now_ms()).await?;
    let c = ClubFor {
        club,
        role: Some(ClubRole::Owner),
        requested: false,
    };
    // The owner is the first member: their weeks go on the boards.
    refresh_member(&state, &c, caller.id).await;
    Ok(HttpResponse::Created().json(ClubView::of(c)))
}

/// `GET /api/v1/clubs/{id}`: any club's profile (a private one's too, so
/// that athletes can ask to join).
pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let c = club_for(&state, id.into_inner(), caller.id).await?;
    Ok(HttpResponse::Ok().json(ClubView::of(c)))
}

/// `GET /api/v1/athlete/clubs`
pub async fn mine(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let clubs: Vec<ClubView> = state
        .store
        .clubs_of(caller.id)
        .await?
        .into_iter()
        .map(ClubView::of)
        .collect();
    Ok(HttpResponse::Ok().json(clubs))
}

#[derive(Debug, Deserialize)]
pub struct MembersQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    /// Keyset: the last athlete id of the previous page.
    after: Option<i64>,
}

/// `GET /api/v1/clubs/{id}/members?per_page=&after=` (or `page=`): members
/// in athlete id order. `after` (the `Link: rel="next"` header's) stays
/// fast at any depth; `page` counts from the start.
pub async fn members(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<MembersQuery>,
) -> Result<HttpResponse, ApiError> {
    let c = readable(&state, id.into_inner(), caller.id).await?;
    let per_page = parse_per_page(query.per_page).map_err(|e| invalid_club(vec![e]))?;
    let page = query.page.unwrap_or(1);
    if page == 0 {
        return Err(invalid_club(vec![DomainError::invalid("page")]));
    }
    let skip = if query.after.is_some() {
        0
    } else {
        u64::from(page - 1) * u64::from(per_page)
    };
    let rows = state
        .store
        .club_members(
            c.club.id,
            AthleteId(query.after.unwrap_or(i64::MIN)),
            skip,
            per_page,
        )
        .await?;
    let mut response = HttpResponse::Ok();
    if rows.len() == per_page as usize {
        if let Some(last) = rows.last() {
            response.insert_header((
                "Link",
                format!(
                    "</api/v1/clubs/{}/members?per_page={per_page}&after={}>; rel=\"next\"",
                    c.club.id.0, last.athlete.0
                ),
            ));
        }
    }
    let views: Vec<MemberView> = rows
        .into_iter()
        .map(|m| MemberView::of(m, "member"))
        .collect();
    Ok(response.json(views))
}

#[derive(Debug, Deserialize)]
pub struct ActivitiesQuery {
    per_page: Option<u32>,
    cursor: Option<String>,
}

/// `GET /api/v1/clubs/{id}/activities?per_page=&cursor=`: members' recent
/// completed activities the caller may see (never another's `only_me`;
/// `followers_only` to friends), newest first, with privacy zones applied.
pub async fn activities(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<ActivitiesQuery>,
) -> Result<HttpResponse, ApiError> {
    let c = readable(&state, id.into_inner(), caller.id).await?;
    let per_page = parse_per_page(query.per_page).map_err(|e| invalid_club(vec![e]))?;
    let cursor = query
        .cursor
        .as_deref()
        .map(FeedCursor::parse)
        .transpose()
        .map_err(|e| invalid_club(vec![e]))?;
    let mut rows = state
        .store
        .club_activities(c.club.id, caller.id, cursor, per_page + 1)
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

/// Puts a member's weeks on the club's boards; a failure is logged (the
/// board's next rebuild reads the database, and the membership stands).
async fn refresh_member(state: &AppState, c: &ClubFor, athlete: AthleteId) {
    if let Err(e) = state.club_boards.joined(&board_club(c), athlete).await {
        tracing::warn!(club = c.club.id.0, athlete = athlete.0, error = %e, "club board not updated on join");
    }
}

async fn remove_from_boards(state: &AppState, c: &ClubFor, athlete: AthleteId) {
    if let Err(e) = state.club_boards.left(&board_club(c), athlete).await {
        tracing::warn!(club = c.club.id.0, athlete = athlete.0, error = %e, "club board not updated on leave");
    }
}

/// `POST /api/v1/clubs/{id}/join`: joins a public club; asks to join a
/// private one (`membership: "pending"` until an admin approves).
pub async fn join(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let c = club_for(&state, id.into_inner(), caller.id).await?;
    let outcome = state
        .store
        .join_club(c.club.id, caller.id, now_ms())
        .await?;
    let (active, membership) = match outcome {
        JoinOutcome::Joined => {
            refresh_member(&state, &c, caller.id).await;
            (true, "member")
        }
        JoinOutcome::AlreadyMember => (true, "member"),
        JoinOutcome::Requested | JoinOutcome::AlreadyRequested => (false, "pending"),
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "success": true,
        "active": active,
        "membership": membership,
    })))
}

/// `POST /api/v1/clubs/{id}/leave` (a pending request is withdrawn too).
pub async fn leave(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let c = club_for(&state, id.into_inner(), caller.id).await?;
    match state.store.leave_club(c.club.id, caller.id).await? {
        LeaveOutcome::Owner => {
            return Err(ApiError::with(
                Code::OwnerCannotLeave,
                "Club",
                "owner",
                "owner_cannot_leave",
            ))
        }
        LeaveOutcome::Left => remove_from_boards(&state, &c, caller.id).await,
        LeaveOutcome::NotMember => {}
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"success": true, "active": false})))
}

/// `GET /api/v1/clubs/{id}/requests`: pending requests (admins only).
pub async fn requests(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let c = administered(&state, id.into_inner(), caller.id).await?;
    let views: Vec<MemberView> = state
        .store
        .join_requests(c.club.id, MAX_REQUESTS_LISTED)
        .await?
        .into_iter()
        .map(|m| MemberView::of(m, "pending"))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

fn request_not_found() -> ApiError {
    ApiError::with(
        Code::JoinRequestNotFound,
        "ClubJoinRequest",
        "athlete_id",
        "not_found",
    )
}

/// `POST /api/v1/clubs/{id}/requests/{athlete_id}`: an admin approves.
pub async fn approve(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, athlete) = path.into_inner();
    let c = administered(&state, id, caller.id).await?;
    let athlete = AthleteId(athlete);
    if !state
        .store
        .approve_request(c.club.id, athlete, now_ms())
        .await?
    {
        return Err(request_not_found());
    }
    refresh_member(&state, &c, athlete).await;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "success": true,
        "athlete_id": athlete.0,
        "membership": "member",
    })))
}

/// `POST /api/v1/clubs/{id}/requests/{athlete_id}/decline` (or `DELETE
/// /api/v1/clubs/{id}/requests/{athlete_id}`): an admin declines.
pub async fn decline(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, athlete) = path.into_inner();
    let c = administered(&state, id, caller.id).await?;
    if !state
        .store
        .decline_request(c.club.id, AthleteId(athlete))
        .await?
    {
        return Err(request_not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/v1/clubs/{id}/members/{athlete_id}`: an admin removes a
/// member (not the owner).
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, athlete) = path.into_inner();
    let c = administered(&state, id, caller.id).await?;
    let athlete = AthleteId(athlete);
    if !state.store.remove_member(c.club.id, athlete).await? {
        return Err(ApiError::with(
            Code::ClubMemberNotFound,
            "ClubMember",
            "athlete_id",
            "not_found",
        ));
    }
    remove_from_boards(&state, &c, athlete).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct LeaderboardQuery {
    week: Option<String>,
    sort: Option<String>,
    limit: Option<u64>,
    page: Option<u64>,
}

#[derive(Debug, Serialize)]
struct EntryView {
    rank: Option<u64>,
    athlete_id: i64,
    athlete_name: String,
    /// Metres.
    distance: f64,
    /// Seconds.
    moving_time: i64,
    /// Metres.
    elevation_gain: f64,
    activities: u32,
    /// The longest activity, metres.
    longest: f64,
    /// Seconds per kilometre (null under 1 km).
    pace: Option<f64>,
}

fn local_time(tz: ClubTz, ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t
            .with_timezone(&tz.0)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        None => rfc3339(ms),
    }
}

/// `GET /api/v1/clubs/{id}/leaderboard?week=this|last&sort=&limit=&page=`
pub async fn leaderboard(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<LeaderboardQuery>,
) -> Result<HttpResponse, ApiError> {
    let c = readable(&state, id.into_inner(), caller.id).await?;
    let mut errors = Vec::new();
    let week = WeekChoice::parse(query.week.as_deref().unwrap_or("this"))
        .map_err(|e| errors.push(e))
        .ok();
    let sort = SortColumn::parse(query.sort.as_deref().unwrap_or("distance"))
        .map_err(|e| errors.push(e))
        .ok();
    let limit = query.limit.unwrap_or(10);
    if !(1..=MAX_LEADERBOARD_LIMIT).contains(&limit) {
        errors.push(DomainError::invalid("limit"));
    }
    let page = query.page.unwrap_or(1);
    if page == 0 || page > 1_000_000 {
        errors.push(DomainError::invalid("page"));
    }
    let (Some(week), Some(sort), true) = (week, sort, errors.is_empty()) else {
        return Err(ApiError::invalid("ClubLeaderboard", errors));
    };
    let (from, to, board) = state
        .club_boards
        .page(
            &board_club(&c),
            week,
            sort,
            (page - 1) * limit,
            limit,
            Some(caller.id),
        )
        .await?;
    let ids: Vec<AthleteId> = board
        .entries
        .iter()
        .chain(board.me.iter())
        .map(|e| e.athlete)
        .collect();
    let names: std::collections::HashMap<AthleteId, String> = state
        .store
        .athlete_names(&ids)
        .await?
        .into_iter()
        .map(|(id, first, last)| (id, format!("{first} {last}").trim().to_string()))
        .collect();
    let view = |e: &BoardEntry| {
        let t: WeekTotals = e.totals;
        EntryView {
            rank: e.rank,
            athlete_id: e.athlete.0,
            athlete_name: names.get(&e.athlete).cloned().unwrap_or_default(),
            distance: t.distance,
            moving_time: t.moving_time,
            elevation_gain: t.elevation_gain,
            activities: t.activities,
            longest: t.longest,
            pace: t.pace(),
        }
    };
    let entries: Vec<EntryView> = board.entries.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "club_id": c.club.id.0,
        "week_start": local_time(c.club.timezone, from),
        "week_end": local_time(c.club.timezone, to),
        "timezone": c.club.timezone.name(),
        "sort": sort.as_str(),
        "page": page,
        "limit": limit,
        "entry_count": board.entry_count,
        "entries": entries,
        "me": board.me.as_ref().map(view),
    })))
}
