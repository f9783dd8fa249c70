//! Every store call has a deadline. The database bounds a statement
//! itself (`STATEMENT_TIMEOUT`), but a link that silently holds bytes
//! leaves the client waiting for an answer that never comes (no client
//! keepalive in sqlx): past its deadline a call is dropped (its transaction
//! rolls back) and the store counts as unavailable (503).
//!
//! A new `Store` method gets one line in the list below.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use super::*;

/// A call's deadline: a little over one statement's timeout, so that the
/// database's own timeout (with its clear error) normally comes first.
pub const CALL_DEADLINE: Duration = Duration::from_secs(8);
/// Bulk writes (an upload's import, a completion, provisioning) run several
/// large statements in one transaction.
pub const BULK_DEADLINE: Duration = Duration::from_secs(60);

pub struct Deadline(pub DynStore);

async fn within<T>(limit: Duration, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "database call ran past its deadline"
            );
            Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut))
        }
    }
}

macro_rules! with_deadlines {
    ($( $limit:ident fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        #[async_trait]
        impl Store for Deadline {
            fn backend(&self) -> &'static str {
                self.0.backend()
            }
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    within($limit, self.0.$name($($arg),*)).await
                }
            )*
        }
    };
}

with_deadlines! {
    CALL_DEADLINE fn ping(&self) -> StoreResult<()>;
    CALL_DEADLINE fn close(&self) -> StoreResult<()>;
    CALL_DEADLINE fn create_athlete(&self, new: &NewAthleteRow) -> StoreResult<AthleteRow>;
    CALL_DEADLINE fn athlete(&self, id: AthleteId) -> StoreResult<Option<AthleteRow>>;
    CALL_DEADLINE fn credentials(&self, username: &str) -> StoreResult<Option<(AthleteRow, String)>>;
    CALL_DEADLINE fn insert_token(&self, token_hash: &str, athlete: AthleteId, now_ms: i64) -> StoreResult<()>;
    CALL_DEADLINE fn token_owner(&self, token_hash: &str) -> StoreResult<Option<(AthleteId, i64)>>;
    CALL_DEADLINE fn touch_token(&self, token_hash: &str, now_ms: i64) -> StoreResult<()>;
    CALL_DEADLINE fn purge_expired_tokens(&self, athlete: AthleteId, before_ms: i64) -> StoreResult<()>;
    CALL_DEADLINE fn revoke_token(&self, token_hash: &str) -> StoreResult<()>;
    CALL_DEADLINE fn request_friend(&self, from: AthleteId, to: AthleteId, now_ms: i64) -> StoreResult<FriendOutcome>;
    CALL_DEADLINE fn friends(&self, id: AthleteId) -> StoreResult<Vec<AthleteRow>>;
    CALL_DEADLINE fn incoming_friend_requests(&self, id: AthleteId) -> StoreResult<Vec<AthleteRow>>;
    CALL_DEADLINE fn remove_friend(&self, a: AthleteId, b: AthleteId) -> StoreResult<bool>;
    CALL_DEADLINE fn are_friends(&self, a: AthleteId, b: AthleteId) -> StoreResult<bool>;
    CALL_DEADLINE fn search_athletes(&self, viewer: AthleteId, search: &AthleteSearch, limit: u32, offset: u32) -> StoreResult<Vec<AthleteMatch>>;
    CALL_DEADLINE fn create_activity(&self, new: &NewActivityRow) -> StoreResult<(ActivityRow, bool)>;
    CALL_DEADLINE fn activity(&self, id: ActivityId) -> StoreResult<Option<ActivityRow>>;
    BULK_DEADLINE fn update_activity(&self, id: ActivityId, edit: &ActivityEdit) -> StoreResult<bool>;
    CALL_DEADLINE fn delete_activity(&self, id: ActivityId) -> StoreResult<()>;
    CALL_DEADLINE fn in_progress_activities(&self) -> StoreResult<Vec<ActivityRow>>;
    CALL_DEADLINE fn stale_in_progress(&self, before_ms: i64, after_id: i64, limit: u32) -> StoreResult<Vec<ActivityId>>;
    CALL_DEADLINE fn live_activities_of_friends(&self, viewer: AthleteId) -> StoreResult<Vec<ActivityRow>>;
    CALL_DEADLINE fn feed(&self, viewer: AthleteId, mode: FeedMode, after: Option<FeedCursor>, limit: u32) -> StoreResult<Vec<ActivityRow>>;
    CALL_DEADLINE fn checkpoint(&self, progress: &[ActivityProgress], chunks: &[RouteChunk]) -> StoreResult<()>;
    BULK_DEADLINE fn complete_activity(&self, progress: &ActivityProgress, route: &[Fix]) -> StoreResult<()>;
    CALL_DEADLINE fn route(&self, id: ActivityId) -> StoreResult<Vec<Fix>>;
    CALL_DEADLINE fn checkpointed_route(&self, id: ActivityId) -> StoreResult<(Vec<Fix>, i64)>;
    BULK_DEADLINE fn import_activity(&self, upload: &NewUploadRow, imported: &ImportedActivity) -> StoreResult<UploadRow>;
    CALL_DEADLINE fn failed_upload(&self, upload: &NewUploadRow, error: &str) -> StoreResult<UploadRow>;
    CALL_DEADLINE fn upload(&self, id: i64) -> StoreResult<Option<UploadRow>>;
    BULK_DEADLINE fn provision(&self, batch: &ProvisionBatch) -> StoreResult<Vec<Provisioned>>;
}

#[async_trait]
impl changes::ChangeLog for Deadline {
    async fn changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<crate::changes::event::ChangeEvent>> {
        within(CALL_DEADLINE, self.0.changes_after(after, limit)).await
    }
    async fn changes_for_circle(
        &self,
        athlete: AthleteId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<crate::changes::event::ChangeEvent>> {
        within(
            CALL_DEADLINE,
            self.0.changes_for_circle(athlete, after, limit),
        )
        .await
    }
    async fn change_head(&self) -> StoreResult<i64> {
        within(CALL_DEADLINE, self.0.change_head()).await
    }
    async fn change_tail(&self) -> StoreResult<i64> {
        within(CALL_DEADLINE, self.0.change_tail()).await
    }
    fn watch_changes(&self) -> tokio::sync::watch::Receiver<i64> {
        self.0.watch_changes()
    }
    async fn consumer_positions(
        &self,
        consumer: &str,
        partitions: u32,
        start: i64,
    ) -> StoreResult<Vec<i64>> {
        within(
            CALL_DEADLINE,
            self.0.consumer_positions(consumer, partitions, start),
        )
        .await
    }
    async fn commit_consumer(
        &self,
        consumer: &str,
        partition: u32,
        to: i64,
        effects: &[changes::Statement],
        now_ms: i64,
    ) -> StoreResult<changes::Committed> {
        within(
            CALL_DEADLINE,
            self.0
                .commit_consumer(consumer, partition, to, effects, now_ms),
        )
        .await
    }
    async fn commit_consumer_from(
        &self,
        consumer: &str,
        partition: u32,
        from: i64,
        to: i64,
        effects: &[changes::Statement],
        now_ms: i64,
    ) -> StoreResult<changes::Committed> {
        within(
            CALL_DEADLINE,
            self.0
                .commit_consumer_from(consumer, partition, from, to, effects, now_ms),
        )
        .await
    }
    async fn consumer_position(&self, consumer: &str, partition: u32) -> StoreResult<Option<i64>> {
        within(CALL_DEADLINE, self.0.consumer_position(consumer, partition)).await
    }
    async fn prune_changes(&self, before_ms: i64) -> StoreResult<u64> {
        within(BULK_DEADLINE, self.0.prune_changes(before_ms)).await
    }
    async fn friend_ids(&self, athlete: AthleteId) -> StoreResult<Vec<AthleteId>> {
        within(CALL_DEADLINE, self.0.friend_ids(athlete)).await
    }
}

#[async_trait]
impl privacy::PrivacyStore for Deadline {
    async fn privacy_zones(&self, athlete: AthleteId) -> StoreResult<Vec<privacy::ZoneRow>> {
        within(CALL_DEADLINE, self.0.privacy_zones(athlete)).await
    }
    async fn add_privacy_zone(
        &self,
        athlete: AthleteId,
        entered: &crate::domain::privacy::ZoneInput,
        hidden: &crate::domain::privacy::HiddenCircle,
        max: u32,
        now_ms: i64,
    ) -> StoreResult<privacy::ZoneAdded> {
        // One event per activity of the athlete: a bulk write.
        within(
            BULK_DEADLINE,
            self.0
                .add_privacy_zone(athlete, entered, hidden, max, now_ms),
        )
        .await
    }
    async fn delete_privacy_zone(
        &self,
        athlete: AthleteId,
        id: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        within(
            BULK_DEADLINE,
            self.0.delete_privacy_zone(athlete, id, now_ms),
        )
        .await
    }
    async fn move_privacy_zone(
        &self,
        athlete: AthleteId,
        id: i64,
        entered: &crate::domain::privacy::ZoneInput,
        hidden: &crate::domain::privacy::HiddenCircle,
        now_ms: i64,
    ) -> StoreResult<Option<privacy::ZoneRow>> {
        within(
            BULK_DEADLINE,
            self.0
                .move_privacy_zone(athlete, id, entered, hidden, now_ms),
        )
        .await
    }
    async fn create_share(&self, new: &privacy::NewShare) -> StoreResult<privacy::ShareRow> {
        within(CALL_DEADLINE, self.0.create_share(new)).await
    }
    async fn open_shares(
        &self,
        athlete: AthleteId,
        now_ms: i64,
    ) -> StoreResult<Vec<privacy::ShareRow>> {
        within(CALL_DEADLINE, self.0.open_shares(athlete, now_ms)).await
    }
    async fn share_by_hash(&self, token_hash: &str) -> StoreResult<Option<privacy::ShareRow>> {
        within(CALL_DEADLINE, self.0.share_by_hash(token_hash)).await
    }
    async fn revoke_share(
        &self,
        athlete: AthleteId,
        id: i64,
        now_ms: i64,
    ) -> StoreResult<Option<privacy::ShareRow>> {
        within(CALL_DEADLINE, self.0.revoke_share(athlete, id, now_ms)).await
    }
    async fn activities_recorded_between(
        &self,
        athlete: AthleteId,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<ActivityId>> {
        within(
            CALL_DEADLINE,
            self.0.activities_recorded_between(athlete, from_ms, to_ms),
        )
        .await
    }
}

#[async_trait]
impl devices::DeviceStore for Deadline {
    async fn create_device(
        &self,
        new: &devices::NewDeviceRow,
        limit: u32,
    ) -> StoreResult<Option<devices::DeviceRow>> {
        within(CALL_DEADLINE, self.0.create_device(new, limit)).await
    }
    async fn devices_of(&self, athlete: AthleteId) -> StoreResult<Vec<devices::DeviceRow>> {
        within(CALL_DEADLINE, self.0.devices_of(athlete)).await
    }
    async fn device_by_token(&self, token_hash: &str) -> StoreResult<Option<devices::DeviceRow>> {
        within(CALL_DEADLINE, self.0.device_by_token(token_hash)).await
    }
    async fn delete_device(
        &self,
        athlete: AthleteId,
        id: devices::DeviceId,
    ) -> StoreResult<Option<String>> {
        within(CALL_DEADLINE, self.0.delete_device(athlete, id)).await
    }
    async fn set_device_activity(
        &self,
        id: devices::DeviceId,
        activity: Option<ActivityId>,
        floor_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()> {
        within(
            CALL_DEADLINE,
            self.0.set_device_activity(id, activity, floor_ms, now_ms),
        )
        .await
    }
    async fn devices_with_open_activity(&self, limit: u32) -> StoreResult<Vec<devices::DeviceRow>> {
        within(CALL_DEADLINE, self.0.devices_with_open_activity(limit)).await
    }
}

#[async_trait]
impl segment_boards::SegmentBoardStore for Deadline {
    async fn slot_change_head(&self) -> StoreResult<i64> {
        within(CALL_DEADLINE, self.0.slot_change_head()).await
    }
    async fn slot_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<segment_boards::SlotChange>> {
        within(CALL_DEADLINE, self.0.slot_changes_after(after, limit)).await
    }
    async fn prune_slot_changes(&self, up_to: i64, before_ms: i64) -> StoreResult<u64> {
        within(BULK_DEADLINE, self.0.prune_slot_changes(up_to, before_ms)).await
    }
    async fn board_efforts_after(
        &self,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<segment_boards::BoardEffort>> {
        within(CALL_DEADLINE, self.0.board_efforts_after(after_id, limit)).await
    }
    async fn slot_efforts(
        &self,
        segment_id: i64,
        athletes: &[AthleteId],
    ) -> StoreResult<Vec<segment_boards::BoardEffort>> {
        within(CALL_DEADLINE, self.0.slot_efforts(segment_id, athletes)).await
    }
    async fn board_athletes(
        &self,
        ids: &[AthleteId],
    ) -> StoreResult<Vec<segment_boards::BoardAthlete>> {
        within(CALL_DEADLINE, self.0.board_athletes(ids)).await
    }
    async fn athletes_changed_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<segment_boards::BoardAthlete>> {
        within(
            CALL_DEADLINE,
            self.0.athletes_changed_since(since_ms, limit),
        )
        .await
    }
    async fn segment_exists(&self, segment_id: i64) -> StoreResult<bool> {
        within(CALL_DEADLINE, self.0.segment_exists(segment_id)).await
    }
    async fn club_member_ids(
        &self,
        club_id: i64,
    ) -> StoreResult<Option<segment_boards::ClubMembers>> {
        within(CALL_DEADLINE, self.0.club_member_ids(club_id)).await
    }
}

#[async_trait]
impl segments::SegmentStore for Deadline {
    async fn create_segment(
        &self,
        new: &segments::NewSegment,
    ) -> StoreResult<segments::SegmentRow> {
        within(CALL_DEADLINE, self.0.create_segment(new)).await
    }
    async fn segment(
        &self,
        id: crate::domain::segments::SegmentId,
    ) -> StoreResult<Option<segments::SegmentRow>> {
        within(CALL_DEADLINE, self.0.segment(id)).await
    }
    async fn segments_by_id(
        &self,
        ids: &[crate::domain::segments::SegmentId],
    ) -> StoreResult<Vec<segments::SegmentRow>> {
        within(CALL_DEADLINE, self.0.segments_by_id(ids)).await
    }
    async fn segment_index_entries(
        &self,
        after: crate::domain::segments::SegmentId,
        limit: u32,
    ) -> StoreResult<Vec<crate::domain::segments::index::IndexedSegment>> {
        within(CALL_DEADLINE, self.0.segment_index_entries(after, limit)).await
    }
    async fn rename_segment(
        &self,
        id: crate::domain::segments::SegmentId,
        name: &str,
        now_ms: i64,
    ) -> StoreResult<Option<segments::SegmentRow>> {
        within(CALL_DEADLINE, self.0.rename_segment(id, name, now_ms)).await
    }
    async fn delete_segment(
        &self,
        id: crate::domain::segments::SegmentId,
        now_ms: i64,
    ) -> StoreResult<bool> {
        // Every effort of the segment goes, with a queue row per slot.
        within(BULK_DEADLINE, self.0.delete_segment(id, now_ms)).await
    }
    async fn explore_segments(
        &self,
        bounds: &crate::domain::segments::BBox,
        sport: Sport,
        limit: u32,
    ) -> StoreResult<Vec<segments::SegmentRow>> {
        within(CALL_DEADLINE, self.0.explore_segments(bounds, sport, limit)).await
    }
    async fn star_segment(
        &self,
        athlete: AthleteId,
        id: crate::domain::segments::SegmentId,
        starred: bool,
        now_ms: i64,
    ) -> StoreResult<bool> {
        within(
            CALL_DEADLINE,
            self.0.star_segment(athlete, id, starred, now_ms),
        )
        .await
    }
    async fn is_starred(
        &self,
        athlete: AthleteId,
        id: crate::domain::segments::SegmentId,
    ) -> StoreResult<bool> {
        within(CALL_DEADLINE, self.0.is_starred(athlete, id)).await
    }
    async fn star_count(&self, id: crate::domain::segments::SegmentId) -> StoreResult<i64> {
        within(CALL_DEADLINE, self.0.star_count(id)).await
    }
    async fn starred_segments(
        &self,
        athlete: AthleteId,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<segments::SegmentRow>> {
        within(
            CALL_DEADLINE,
            self.0.starred_segments(athlete, limit, offset),
        )
        .await
    }
    async fn effort(
        &self,
        id: crate::domain::segments::EffortId,
    ) -> StoreResult<Option<segments::EffortRow>> {
        within(CALL_DEADLINE, self.0.effort(id)).await
    }
    async fn activity_efforts(
        &self,
        activity: ActivityId,
    ) -> StoreResult<Vec<segments::EffortRow>> {
        within(CALL_DEADLINE, self.0.activity_efforts(activity)).await
    }
    async fn efforts(
        &self,
        query: &segments::EffortQuery,
    ) -> StoreResult<Vec<segments::EffortRow>> {
        within(CALL_DEADLINE, self.0.efforts(query)).await
    }
    async fn activity_version(&self, id: ActivityId) -> StoreResult<Option<i64>> {
        within(CALL_DEADLINE, self.0.activity_version(id)).await
    }
    async fn pending_backfills(
        &self,
        limit: u32,
    ) -> StoreResult<Vec<(crate::domain::segments::SegmentId, ActivityId)>> {
        within(CALL_DEADLINE, self.0.pending_backfills(limit)).await
    }
    async fn backfill_candidates(
        &self,
        sport: Sport,
        bounds: &crate::domain::segments::BBox,
        after: ActivityId,
        limit: u32,
    ) -> StoreResult<(Vec<segments::BackfillCandidate>, Option<ActivityId>)> {
        within(
            CALL_DEADLINE,
            self.0.backfill_candidates(sport, bounds, after, limit),
        )
        .await
    }
    async fn commit_backfill(
        &self,
        segment: crate::domain::segments::SegmentId,
        to: ActivityId,
        done: bool,
        results: &[segments::BackfillResult],
        now_ms: i64,
    ) -> StoreResult<ActivityId> {
        within(
            BULK_DEADLINE,
            self.0.commit_backfill(segment, to, done, results, now_ms),
        )
        .await
    }
}

#[async_trait]
impl clubs::ClubStore for Deadline {
    async fn create_club(
        &self,
        owner: AthleteId,
        new: &crate::domain::clubs::NewClub,
        now_ms: i64,
    ) -> StoreResult<clubs::ClubRow> {
        within(CALL_DEADLINE, self.0.create_club(owner, new, now_ms)).await
    }
    async fn club_for(
        &self,
        id: crate::domain::clubs::ClubId,
        viewer: AthleteId,
    ) -> StoreResult<Option<clubs::ClubFor>> {
        within(CALL_DEADLINE, self.0.club_for(id, viewer)).await
    }
    async fn clubs_of(&self, athlete: AthleteId) -> StoreResult<Vec<clubs::ClubFor>> {
        within(CALL_DEADLINE, self.0.clubs_of(athlete)).await
    }
    async fn club_members(
        &self,
        id: crate::domain::clubs::ClubId,
        after: AthleteId,
        skip: u64,
        limit: u32,
    ) -> StoreResult<Vec<clubs::MemberRow>> {
        within(CALL_DEADLINE, self.0.club_members(id, after, skip, limit)).await
    }
    async fn club_admins(
        &self,
        id: crate::domain::clubs::ClubId,
        skip: u64,
        limit: u32,
    ) -> StoreResult<Vec<clubs::MemberRow>> {
        within(CALL_DEADLINE, self.0.club_admins(id, skip, limit)).await
    }
    async fn join_club(
        &self,
        id: crate::domain::clubs::ClubId,
        athlete: AthleteId,
        now_ms: i64,
    ) -> StoreResult<clubs::JoinOutcome> {
        within(CALL_DEADLINE, self.0.join_club(id, athlete, now_ms)).await
    }
    async fn leave_club(
        &self,
        id: crate::domain::clubs::ClubId,
        athlete: AthleteId,
    ) -> StoreResult<clubs::LeaveOutcome> {
        within(CALL_DEADLINE, self.0.leave_club(id, athlete)).await
    }
    async fn join_requests(
        &self,
        id: crate::domain::clubs::ClubId,
        limit: u32,
    ) -> StoreResult<Vec<clubs::MemberRow>> {
        within(CALL_DEADLINE, self.0.join_requests(id, limit)).await
    }
    async fn approve_request(
        &self,
        id: crate::domain::clubs::ClubId,
        athlete: AthleteId,
        now_ms: i64,
    ) -> StoreResult<bool> {
        within(CALL_DEADLINE, self.0.approve_request(id, athlete, now_ms)).await
    }
    async fn decline_request(
        &self,
        id: crate::domain::clubs::ClubId,
        athlete: AthleteId,
    ) -> StoreResult<bool> {
        within(CALL_DEADLINE, self.0.decline_request(id, athlete)).await
    }
    async fn remove_member(
        &self,
        id: crate::domain::clubs::ClubId,
        athlete: AthleteId,
    ) -> StoreResult<bool> {
        within(CALL_DEADLINE, self.0.remove_member(id, athlete)).await
    }
    async fn club_activities(
        &self,
        id: crate::domain::clubs::ClubId,
        viewer: AthleteId,
        before: Option<FeedCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ActivityRow>> {
        within(
            CALL_DEADLINE,
            self.0.club_activities(id, viewer, before, limit),
        )
        .await
    }
    async fn add_club_members(
        &self,
        id: crate::domain::clubs::ClubId,
        athletes: &[AthleteId],
        now_ms: i64,
    ) -> StoreResult<u64> {
        within(BULK_DEADLINE, self.0.add_club_members(id, athletes, now_ms)).await
    }
    async fn board_club(
        &self,
        id: crate::domain::clubs::ClubId,
    ) -> StoreResult<Option<clubs::BoardClub>> {
        within(CALL_DEADLINE, self.0.board_club(id)).await
    }
    async fn board_clubs_of(
        &self,
        athletes: &[AthleteId],
    ) -> StoreResult<Vec<(AthleteId, clubs::BoardClub)>> {
        within(CALL_DEADLINE, self.0.board_clubs_of(athletes)).await
    }
    async fn counted_activities(
        &self,
        athletes: &[AthleteId],
        since_ms: i64,
    ) -> StoreResult<Vec<(AthleteId, crate::domain::clubs::CountedActivity)>> {
        within(CALL_DEADLINE, self.0.counted_activities(athletes, since_ms)).await
    }
    async fn club_week_totals(
        &self,
        id: crate::domain::clubs::ClubId,
        sport: crate::domain::clubs::ClubSport,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<(AthleteId, crate::domain::clubs::WeekTotals)>> {
        // A board's rebuild reads a whole club's week.
        within(
            BULK_DEADLINE,
            self.0.club_week_totals(id, sport, from_ms, to_ms),
        )
        .await
    }
    async fn athlete_names(
        &self,
        ids: &[AthleteId],
    ) -> StoreResult<Vec<(AthleteId, String, String)>> {
        within(CALL_DEADLINE, self.0.athlete_names(ids)).await
    }
    async fn members_among(
        &self,
        id: crate::domain::clubs::ClubId,
        athletes: &[AthleteId],
    ) -> StoreResult<Vec<AthleteId>> {
        within(CALL_DEADLINE, self.0.members_among(id, athletes)).await
    }
}

#[async_trait]
impl oauth::OAuthStore for Deadline {
    async fn create_app(
        &self,
        new: &oauth::NewApp,
        limit: u32,
    ) -> StoreResult<Option<oauth::AppRow>> {
        within(CALL_DEADLINE, self.0.create_app(new, limit)).await
    }
    async fn apps_of(&self, owner: AthleteId) -> StoreResult<Vec<oauth::AppRow>> {
        within(CALL_DEADLINE, self.0.apps_of(owner)).await
    }
    async fn app(&self, id: i64) -> StoreResult<Option<(oauth::AppRow, String)>> {
        within(CALL_DEADLINE, self.0.app(id)).await
    }
    async fn delete_app(&self, owner: AthleteId, id: i64) -> StoreResult<bool> {
        within(CALL_DEADLINE, self.0.delete_app(owner, id)).await
    }
    async fn insert_code(&self, code: &oauth::NewCode) -> StoreResult<()> {
        within(CALL_DEADLINE, self.0.insert_code(code)).await
    }
    async fn take_code(&self, code_hash: &str, now_ms: i64) -> StoreResult<Option<oauth::CodeRow>> {
        within(CALL_DEADLINE, self.0.take_code(code_hash, now_ms)).await
    }
    async fn grant_tokens(
        &self,
        code: &oauth::CodeRow,
        pair: &oauth::NewTokenPair,
    ) -> StoreResult<()> {
        within(CALL_DEADLINE, self.0.grant_tokens(code, pair)).await
    }
    async fn refresh_tokens(
        &self,
        app_id: i64,
        refresh_hash: &str,
        pair: &oauth::NewTokenPair,
    ) -> StoreResult<Option<oauth::AppTokenRow>> {
        within(
            CALL_DEADLINE,
            self.0.refresh_tokens(app_id, refresh_hash, pair),
        )
        .await
    }
    async fn app_token(&self, access_hash: &str) -> StoreResult<Option<oauth::AppTokenRow>> {
        within(CALL_DEADLINE, self.0.app_token(access_hash)).await
    }
    async fn deauthorize(&self, app_id: i64, athlete: AthleteId, now_ms: i64) -> StoreResult<bool> {
        within(CALL_DEADLINE, self.0.deauthorize(app_id, athlete, now_ms)).await
    }
    async fn athlete_activities(
        &self,
        page: &oauth::ActivityPage,
    ) -> StoreResult<Vec<ActivityRow>> {
        within(CALL_DEADLINE, self.0.athlete_activities(page)).await
    }
    async fn week_totals(&self, athlete: AthleteId) -> StoreResult<Vec<oauth::WeekTotal>> {
        within(CALL_DEADLINE, self.0.week_totals(athlete)).await
    }
    async fn biggest_ride(&self, athlete: AthleteId) -> StoreResult<(Option<f64>, Option<f64>)> {
        within(CALL_DEADLINE, self.0.biggest_ride(athlete)).await
    }
    async fn activity_details(&self, id: i64) -> StoreResult<Option<oauth::ActivityDetails>> {
        within(CALL_DEADLINE, self.0.activity_details(id)).await
    }
    async fn activity_flags(&self, ids: &[i64]) -> StoreResult<Vec<(i64, bool, bool)>> {
        within(CALL_DEADLINE, self.0.activity_flags(ids)).await
    }
    async fn set_activity_details(
        &self,
        id: i64,
        details: &oauth::ActivityDetails,
    ) -> StoreResult<()> {
        within(CALL_DEADLINE, self.0.set_activity_details(id, details)).await
    }
}

#[async_trait]
impl best_efforts::BestEffortStore for Deadline {
    async fn update_profile(
        &self,
        athlete: AthleteId,
        update: &crate::domain::athlete::ProfileUpdate,
        now_ms: i64,
    ) -> StoreResult<Option<AthleteRow>> {
        within(
            CALL_DEADLINE,
            self.0.update_profile(athlete, update, now_ms),
        )
        .await
    }
    async fn activity_best_efforts(
        &self,
        activity: ActivityId,
    ) -> StoreResult<Vec<best_efforts::BestEffortRow>> {
        within(CALL_DEADLINE, self.0.activity_best_efforts(activity)).await
    }
    async fn athlete_board_efforts(
        &self,
        athlete: AthleteId,
    ) -> StoreResult<Vec<best_efforts::BoardEffort>> {
        within(CALL_DEADLINE, self.0.athlete_board_efforts(athlete)).await
    }
    async fn board_athlete(
        &self,
        athlete: AthleteId,
    ) -> StoreResult<Option<best_efforts::BoardAthlete>> {
        within(CALL_DEADLINE, self.0.board_athlete(athlete)).await
    }
    async fn board_athletes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<best_efforts::BoardAthlete>> {
        within(CALL_DEADLINE, self.0.board_athletes_after(after, limit)).await
    }
    async fn best_board_efforts_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, best_efforts::BoardEffort)>> {
        within(CALL_DEADLINE, self.0.best_board_efforts_after(after, limit)).await
    }
    async fn board_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, AthleteId)>> {
        within(CALL_DEADLINE, self.0.board_changes_after(after, limit)).await
    }
    async fn board_change_head(&self) -> StoreResult<i64> {
        within(CALL_DEADLINE, self.0.board_change_head()).await
    }
    async fn board_change_tail(&self) -> StoreResult<i64> {
        within(CALL_DEADLINE, self.0.board_change_tail()).await
    }
    async fn prune_board_changes(&self, before_ms: i64) -> StoreResult<u64> {
        within(BULK_DEADLINE, self.0.prune_board_changes(before_ms)).await
    }
    async fn effort_backfill_position(&self) -> StoreResult<Option<(i64, i64)>> {
        within(CALL_DEADLINE, self.0.effort_backfill_position()).await
    }
    async fn effort_backfill_candidates(
        &self,
        after: i64,
        upto: i64,
        limit: u32,
    ) -> StoreResult<Vec<(ActivityId, AthleteId, i64)>> {
        within(
            BULK_DEADLINE,
            self.0.effort_backfill_candidates(after, upto, limit),
        )
        .await
    }
    async fn commit_effort_backfill(
        &self,
        from: i64,
        to: i64,
        effects: &[changes::Statement],
        now_ms: i64,
    ) -> StoreResult<bool> {
        within(
            BULK_DEADLINE,
            self.0.commit_effort_backfill(from, to, effects, now_ms),
        )
        .await
    }
}

#[async_trait]
impl webhooks::WebhookStore for Deadline {
    async fn create_subscription(
        &self,
        app_id: i64,
        callback_url: &str,
        now_ms: i64,
    ) -> StoreResult<Option<webhooks::SubscriptionRow>> {
        within(
            CALL_DEADLINE,
            self.0.create_subscription(app_id, callback_url, now_ms),
        )
        .await
    }
    async fn subscriptions_of_app(
        &self,
        app_id: i64,
    ) -> StoreResult<Vec<webhooks::SubscriptionRow>> {
        within(CALL_DEADLINE, self.0.subscriptions_of_app(app_id)).await
    }
    async fn delete_subscription(&self, app_id: i64, id: i64) -> StoreResult<bool> {
        within(CALL_DEADLINE, self.0.delete_subscription(app_id, id)).await
    }
    async fn webhook_targets(
        &self,
        athlete: AthleteId,
    ) -> StoreResult<Vec<webhooks::WebhookTarget>> {
        within(CALL_DEADLINE, self.0.webhook_targets(athlete)).await
    }
    async fn lease_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<webhooks::DeliveryRow>> {
        within(
            CALL_DEADLINE,
            self.0.lease_deliveries(now_ms, lease_until_ms, limit),
        )
        .await
    }
    async fn finish_delivery(&self, id: i64) -> StoreResult<()> {
        within(CALL_DEADLINE, self.0.finish_delivery(id)).await
    }
    async fn retry_delivery(
        &self,
        id: i64,
        attempts: i64,
        next_attempt_ms: i64,
        error: &str,
    ) -> StoreResult<()> {
        within(
            CALL_DEADLINE,
            self.0.retry_delivery(id, attempts, next_attempt_ms, error),
        )
        .await
    }
    async fn pending_deliveries(&self) -> StoreResult<i64> {
        within(CALL_DEADLINE, self.0.pending_deliveries()).await
    }
}
