//! The clubs' store role: clubs, their members (approved only), join
//! requests, and the reads the weekly leaderboards are built from. The SQL
//! is in `clubs_sql.rs`, compiled for each backend like `sql.rs`.

use async_trait::async_trait;

use super::{ActivityRow, StoreResult};
use crate::domain::clubs::{
    ClubId, ClubRole, ClubSport, ClubTz, CountedActivity, NewClub, WeekTotals,
};
use crate::domain::feed::FeedCursor;
use crate::domain::AthleteId;

#[derive(Debug, Clone, PartialEq)]
pub struct ClubRow {
    pub id: ClubId,
    pub name: String,
    pub description: String,
    pub sport: ClubSport,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub timezone: ClubTz,
    pub private: bool,
    pub owner: AthleteId,
    pub member_count: i64,
    pub created_ms: i64,
}

/// A club as one athlete sees it: their role, or a pending request.
#[derive(Debug, Clone, PartialEq)]
pub struct ClubFor {
    pub club: ClubRow,
    pub role: Option<ClubRole>,
    pub requested: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    pub athlete: AthleteId,
    pub firstname: String,
    pub lastname: String,
    pub role: ClubRole,
    pub joined_ms: i64,
}

/// What the board needs of a club.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardClub {
    pub id: ClubId,
    pub sport: ClubSport,
    pub timezone: ClubTz,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined,
    AlreadyMember,
    /// A private club: the request waits for an admin.
    Requested,
    AlreadyRequested,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveOutcome {
    Left,
    /// Not a member (a pending request is withdrawn all the same).
    NotMember,
    /// The owner cannot leave their club.
    Owner,
}

#[async_trait]
pub trait ClubStore: Send + Sync {
    /// Creates the club with its creator as owner (its first member).
    async fn create_club(
        &self,
        owner: AthleteId,
        new: &NewClub,
        now_ms: i64,
    ) -> StoreResult<ClubRow>;
    /// The club, with the viewer's role or request.
    async fn club_for(&self, id: ClubId, viewer: AthleteId) -> StoreResult<Option<ClubFor>>;
    /// The athlete's clubs with their role, oldest membership first.
    async fn clubs_of(&self, athlete: AthleteId) -> StoreResult<Vec<ClubFor>>;
    /// Members with athlete ids above `after`, in id order (keyset paging;
    /// `skip` serves page numbers, slower deep in a big club).
    async fn club_members(
        &self,
        id: ClubId,
        after: AthleteId,
        skip: u64,
        limit: u32,
    ) -> StoreResult<Vec<MemberRow>>;
    /// The owner and admins, in athlete id order.
    async fn club_admins(&self, id: ClubId, skip: u64, limit: u32) -> StoreResult<Vec<MemberRow>>;
    /// Joins a public club, or asks to join a private one.
    async fn join_club(
        &self,
        id: ClubId,
        athlete: AthleteId,
        now_ms: i64,
    ) -> StoreResult<JoinOutcome>;
    async fn leave_club(&self, id: ClubId, athlete: AthleteId) -> StoreResult<LeaveOutcome>;
    /// Pending requests, oldest first, with the athletes' names.
    async fn join_requests(&self, id: ClubId, limit: u32) -> StoreResult<Vec<MemberRow>>;
    /// Makes a pending request a membership; false when there is none.
    async fn approve_request(
        &self,
        id: ClubId,
        athlete: AthleteId,
        now_ms: i64,
    ) -> StoreResult<bool>;
    /// Deletes a pending request; false when there is none.
    async fn decline_request(&self, id: ClubId, athlete: AthleteId) -> StoreResult<bool>;
    /// Removes a member who is not the owner; false when there is no such member.
    async fn remove_member(&self, id: ClubId, athlete: AthleteId) -> StoreResult<bool>;
    /// Members' completed activities the viewer may see, newest first.
    async fn club_activities(
        &self,
        id: ClubId,
        viewer: AthleteId,
        before: Option<FeedCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ActivityRow>>;
    /// Adds members in bulk (operators' provisioning and benchmarks);
    /// existing members are left as they are. Answers how many were added.
    async fn add_club_members(
        &self,
        id: ClubId,
        athletes: &[AthleteId],
        now_ms: i64,
    ) -> StoreResult<u64>;

    /// The boards' club settings.
    async fn board_club(&self, id: ClubId) -> StoreResult<Option<BoardClub>>;
    /// The clubs each athlete belongs to.
    async fn board_clubs_of(
        &self,
        athletes: &[AthleteId],
    ) -> StoreResult<Vec<(AthleteId, BoardClub)>>;
    /// The athletes' completed, not `only_me`, activities started at or
    /// after `since_ms`: what their board totals are computed from.
    async fn counted_activities(
        &self,
        athletes: &[AthleteId],
        since_ms: i64,
    ) -> StoreResult<Vec<(AthleteId, CountedActivity)>>;
    /// Every member's totals of the activities that count in
    /// `[from_ms, to_ms)` (one row per member with any): a board's rebuild.
    async fn club_week_totals(
        &self,
        id: ClubId,
        sport: ClubSport,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<(AthleteId, WeekTotals)>>;
    /// First and last names.
    async fn athlete_names(
        &self,
        ids: &[AthleteId],
    ) -> StoreResult<Vec<(AthleteId, String, String)>>;
    /// Which of the athletes are members (the board's last check).
    async fn members_among(
        &self,
        id: ClubId,
        athletes: &[AthleteId],
    ) -> StoreResult<Vec<AthleteId>>;
}
