//! `GET /api/v1/segments/{id}/leaderboard`: Strava's former segment
//! leaderboard, served from memory (`leaderboards::segment_service`).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::domain::activity::Visibility;
use crate::domain::athlete::Sex;
use crate::domain::leaderboard_filters::{RawLeaderboardQuery, Scope};
use crate::domain::{now_ms, AthleteId};
use crate::error::{ApiError, Code};
use crate::leaderboards::segment_boards::Ranked;
use crate::state::AppState;

/// Seconds a client waits while the boards are being built at start.
const WARMING_RETRY_AFTER_S: u64 = 1;

#[derive(Debug, Serialize)]
pub struct EntryView {
    pub rank: u64,
    pub athlete_id: i64,
    /// None for a `followers_only` effort seen by someone not the
    /// athlete's friend.
    pub athlete_name: Option<String>,
    pub athlete_gender: Option<&'static str>,
    pub elapsed_time: i64,
    pub moving_time: i64,
    pub start_date: String,
    pub start_date_local: String,
    pub effort_id: i64,
    pub activity_id: i64,
}

#[derive(Debug, Serialize)]
pub struct LeaderboardView {
    pub entry_count: u64,
    pub entries: Vec<EntryView>,
}

fn club_not_found() -> ApiError {
    ApiError::with(Code::ClubNotFound, "Club", "id", "not_found")
}

/// `GET /api/v1/segments/{id}/leaderboard`
pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    raw: web::Query<RawLeaderboardQuery>,
) -> Result<HttpResponse, ApiError> {
    let segment = id.into_inner();
    let q = raw
        .parse()
        .map_err(|errors| ApiError::invalid("Leaderboard", errors))?;
    if !state.store.segment_exists(segment).await? {
        return Err(crate::api::segments::segment_not_found());
    }
    let boards = &state.segment_boards;
    if !boards.is_ready() {
        return Err(ApiError::unavailable(WARMING_RETRY_AFTER_S));
    }
    let mut friends: Option<Vec<AthleteId>> = None;
    let members = match q.scope {
        Scope::Following => {
            let mut f = state.store.friend_ids(caller.id).await?;
            friends = Some(f.clone());
            f.push(caller.id);
            f
        }
        Scope::Club(club) => {
            let club = state
                .store
                .club_member_ids(club)
                .await?
                .ok_or_else(club_not_found)?;
            // A private club's board is for its members only.
            if club.private && !club.members.contains(&caller.id) {
                return Err(club_not_found());
            }
            club.members
        }
        Scope::Everyone | Scope::Mine => Vec::new(),
    };
    let answer = boards.query(segment, &q, caller.id, &members, now_ms());
    // Names of followers-only efforts are for the athlete's friends.
    let hidden =
        |r: &Ranked| r.effort.visibility == Visibility::FollowersOnly && r.athlete != caller.id;
    if friends.is_none() && answer.entries.iter().any(hidden) {
        friends = Some(state.store.friend_ids(caller.id).await?);
    }
    let friends = friends.unwrap_or_default();
    let entries = answer
        .entries
        .iter()
        .map(|r| {
            let info = boards.athlete(r.athlete);
            let name_shown = !hidden(r) || friends.contains(&r.athlete);
            EntryView {
                rank: r.rank,
                athlete_id: r.athlete.0,
                athlete_name: info.as_ref().filter(|_| name_shown).map(|i| i.name.clone()),
                athlete_gender: info.and_then(|i| match i.attributes.sex {
                    Some(Sex::M) => Some("M"),
                    Some(Sex::F) => Some("F"),
                    Some(Sex::X) => Some("X"),
                    None => None,
                }),
                elapsed_time: r.effort.elapsed_s(),
                moving_time: (r.effort.moving_ms + 500).div_euclid(1000),
                start_date: rfc3339(r.effort.start_ms),
                start_date_local: rfc3339(r.effort.start_ms),
                effort_id: r.effort.id,
                activity_id: r.effort.activity_id.0,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(LeaderboardView {
        entry_count: answer.entry_count,
        entries,
    }))
}

impl crate::api::segment_efforts::EffortView {
    /// Fills `kom_rank` from the boards: the effort's overall rank when it
    /// is its athlete's entry and in the top 10.
    pub fn ranked(
        mut self,
        boards: &crate::leaderboards::segment_service::SegmentLeaderboards,
    ) -> Self {
        self.kom_rank = boards
            .kom_rank(self.segment.id, AthleteId(self.athlete_id), self.id)
            .and_then(|r| i64::try_from(r).ok());
        self
    }
}
