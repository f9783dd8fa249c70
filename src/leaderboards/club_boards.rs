//! Club weekly leaderboards: one board per (club, local week), with every
//! member's totals and one rank order per sort column. Boards are updated
//! per athlete (`ClubBoards::refresh_athletes`, from the change log), never
//! recomputed for the whole club; a board not held (after a restart, or
//! never read) is rebuilt from the database on its first read.
//!
//! Two places hold them, behind `BoardBackend`: this process
//! (`club_embedded`) or Redis (`club_redis`, with `PACER_REDIS_URL`, shared
//! by every node).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::domain::clubs::{ClubId, SortColumn, WeekChoice, WeekTotals};
use crate::domain::{now_ms, AthleteId};
use crate::store::clubs::BoardClub;
use crate::store::{DynStore, StoreError};

/// One board: a club's week, by the UTC instant its local Monday starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BoardKey {
    pub club: ClubId,
    pub week_start_ms: i64,
}

/// A ranked line. `rank` is 1 + the athletes strictly ahead (ties share
/// a rank); None for `me` off this column (pace under 1 km).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardEntry {
    pub rank: Option<u64>,
    pub athlete: AthleteId,
    pub totals: WeekTotals,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoardPage {
    /// Athletes ranked on this column.
    pub entry_count: u64,
    pub entries: Vec<BoardEntry>,
    pub me: Option<BoardEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("redis: {0}")]
    Redis(String),
    #[error("the board is being rebuilt")]
    Busy,
    #[error("{0}")]
    Start(String),
}

/// One `set` of a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardChange {
    pub key: BoardKey,
    pub athlete: AthleteId,
    pub totals: Option<WeekTotals>,
    pub expires_ms: i64,
}

/// Where boards are held.
#[async_trait]
pub trait BoardBackend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Claims the board's rebuild: true when this caller must load it
    /// (it was neither held nor being loaded).
    async fn begin_load(&self, key: BoardKey, expires_ms: i64) -> Result<bool, BoardError>;
    /// Fills a board being loaded with the database's totals, except the
    /// athletes set meanwhile (theirs are newer), and makes it ready.
    async fn finish_load(
        &self,
        key: BoardKey,
        rows: &[(AthleteId, WeekTotals)],
        expires_ms: i64,
    ) -> Result<(), BoardError>;
    /// Gives up a claimed rebuild (the database failed).
    async fn abort_load(&self, key: BoardKey) -> Result<(), BoardError>;
    /// Sets (or with None removes) an athlete's totals on a board that is
    /// held or being loaded; a board not held is left alone (its rebuild
    /// reads the database, which already has the change).
    async fn set(
        &self,
        key: BoardKey,
        athlete: AthleteId,
        totals: Option<WeekTotals>,
        expires_ms: i64,
    ) -> Result<(), BoardError>;
    /// Several `set`s: Redis sends them in one pipeline (one round trip
    /// for a batch of the change log).
    async fn set_many(&self, changes: &[BoardChange]) -> Result<(), BoardError> {
        for c in changes {
            self.set(c.key, c.athlete, c.totals, c.expires_ms).await?;
        }
        Ok(())
    }
    /// A page of a ready board, with `me`; None while it is not ready.
    async fn page(
        &self,
        key: BoardKey,
        column: SortColumn,
        offset: u64,
        limit: u64,
        me: Option<AthleteId>,
    ) -> Result<Option<BoardPage>, BoardError>;
    /// Forgets boards whose week started before `before_ms`.
    async fn evict_before(&self, before_ms: i64);
}

/// Activities are read back this far to recompute an athlete's this and
/// last week in any time zone.
const LOOKBACK_MS: i64 = 16 * 86_400_000;
/// Boards outlive their week by this (so last week stays readable).
const KEEP_AFTER_WEEK_MS: i64 = 8 * 86_400_000;
/// Board changes per `set_many` call.
const SET_BATCH: usize = 1_000;
/// The longest a read waits for another caller's rebuild.
const LOAD_WAIT: Duration = Duration::from_secs(30);

/// The boards and how they are kept up to date.
pub struct ClubBoards {
    backend: Arc<dyn BoardBackend>,
    store: DynStore,
}

impl ClubBoards {
    pub fn new(
        backend: Arc<dyn BoardBackend>,
        store: DynStore,
        background: &crate::background::Background,
    ) -> Arc<ClubBoards> {
        let boards = Arc::new(ClubBoards { backend, store });
        let evicting = Arc::downgrade(&boards);
        background.spawn("leaderboards.club_evict", async move {
            loop {
                tokio::time::sleep(Duration::from_secs(600)).await;
                let Some(b) = evicting.upgrade() else { return };
                b.backend.evict_before(now_ms() - LOOKBACK_MS).await;
            }
        });
        boards
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    fn weeks(club: &BoardClub, now: i64) -> [(BoardKey, i64, i64); 2] {
        [WeekChoice::This, WeekChoice::Last].map(|w| {
            let (from, to) = w.range(club.timezone, now);
            (
                BoardKey {
                    club: club.id,
                    week_start_ms: from,
                },
                from,
                to,
            )
        })
    }

    /// Recomputes the athletes' this and last week once from the database
    /// and sets them on every board of every club they belong to.
    pub async fn refresh_athletes(&self, athletes: &[AthleteId]) -> Result<(), BoardError> {
        if athletes.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let clubs = self.store.board_clubs_of(athletes).await?;
        if clubs.is_empty() {
            return Ok(());
        }
        let mut activities: HashMap<AthleteId, Vec<_>> = HashMap::new();
        for (a, act) in self
            .store
            .counted_activities(athletes, now - LOOKBACK_MS)
            .await?
        {
            activities.entry(a).or_default().push(act);
        }
        let mut changes = Vec::with_capacity(clubs.len() * 2);
        for (athlete, club) in clubs {
            let mine = activities.get(&athlete).map_or(&[][..], Vec::as_slice);
            for (key, from, to) in Self::weeks(&club, now) {
                changes.push(BoardChange {
                    key,
                    athlete,
                    totals: WeekTotals::of(mine, club.sport, from, to),
                    expires_ms: to + KEEP_AFTER_WEEK_MS,
                });
            }
        }
        for batch in changes.chunks(SET_BATCH) {
            self.backend.set_many(batch).await?;
        }
        Ok(())
    }

    /// New members (an operator's bulk add): their this and last week go
    /// on the club's boards, read from the database once per chunk.
    pub async fn joined_many(
        &self,
        club: &BoardClub,
        athletes: &[AthleteId],
    ) -> Result<(), BoardError> {
        let now = now_ms();
        for chunk in athletes.chunks(SET_BATCH / 2) {
            let mut activities: HashMap<AthleteId, Vec<_>> = HashMap::new();
            for (a, act) in self
                .store
                .counted_activities(chunk, now - LOOKBACK_MS)
                .await?
            {
                activities.entry(a).or_default().push(act);
            }
            let mut changes = Vec::with_capacity(chunk.len() * 2);
            for &athlete in chunk {
                let mine = activities.get(&athlete).map_or(&[][..], Vec::as_slice);
                for (key, from, to) in Self::weeks(club, now) {
                    changes.push(BoardChange {
                        key,
                        athlete,
                        totals: WeekTotals::of(mine, club.sport, from, to),
                        expires_ms: to + KEEP_AFTER_WEEK_MS,
                    });
                }
            }
            self.backend.set_many(&changes).await?;
        }
        Ok(())
    }

    /// A new member's this and last week go on the club's boards.
    pub async fn joined(&self, club: &BoardClub, athlete: AthleteId) -> Result<(), BoardError> {
        let now = now_ms();
        let acts: Vec<_> = self
            .store
            .counted_activities(&[athlete], now - LOOKBACK_MS)
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        for (key, from, to) in Self::weeks(club, now) {
            let totals = WeekTotals::of(&acts, club.sport, from, to);
            self.backend
                .set(key, athlete, totals, to + KEEP_AFTER_WEEK_MS)
                .await?;
        }
        Ok(())
    }

    /// A member who left comes off the club's boards.
    pub async fn left(&self, club: &BoardClub, athlete: AthleteId) -> Result<(), BoardError> {
        for (key, _, to) in Self::weeks(club, now_ms()) {
            self.backend
                .set(key, athlete, None, to + KEEP_AFTER_WEEK_MS)
                .await?;
        }
        Ok(())
    }

    /// A page of the club's board for the week, rebuilt from the database
    /// first when it is not held. Entries of athletes who are no longer
    /// members (a leave racing an update) are taken off and the page read
    /// again.
    pub async fn page(
        &self,
        club: &BoardClub,
        week: WeekChoice,
        column: SortColumn,
        offset: u64,
        limit: u64,
        me: Option<AthleteId>,
    ) -> Result<(i64, i64, BoardPage), BoardError> {
        let (from, to) = week.range(club.timezone, now_ms());
        let key = BoardKey {
            club: club.id,
            week_start_ms: from,
        };
        let expires = to + KEEP_AFTER_WEEK_MS;
        let deadline = Instant::now() + LOAD_WAIT;
        for _ in 0..3 {
            let page = self
                .ready_page(
                    club,
                    key,
                    (from, to),
                    column,
                    offset,
                    limit,
                    me,
                    deadline,
                    expires,
                )
                .await?;
            let shown: Vec<AthleteId> = page
                .entries
                .iter()
                .chain(page.me.iter())
                .map(|e| e.athlete)
                .collect();
            if shown.is_empty() {
                return Ok((from, to, page));
            }
            let members: HashSet<AthleteId> = self
                .store
                .members_among(club.id, &shown)
                .await?
                .into_iter()
                .collect();
            let gone: Vec<AthleteId> = shown.into_iter().filter(|a| !members.contains(a)).collect();
            if gone.is_empty() {
                return Ok((from, to, page));
            }
            for a in gone {
                tracing::debug!(
                    club = club.id.0,
                    athlete = a.0,
                    "former member taken off a board"
                );
                self.backend.set(key, a, None, expires).await?;
            }
        }
        Err(BoardError::Busy)
    }

    #[allow(clippy::too_many_arguments)]
    async fn ready_page(
        &self,
        club: &BoardClub,
        key: BoardKey,
        (from, to): (i64, i64),
        column: SortColumn,
        offset: u64,
        limit: u64,
        me: Option<AthleteId>,
        deadline: Instant,
        expires: i64,
    ) -> Result<BoardPage, BoardError> {
        loop {
            if let Some(page) = self.backend.page(key, column, offset, limit, me).await? {
                return Ok(page);
            }
            if self.backend.begin_load(key, expires).await? {
                // A task of its own: a request that goes away mid-load must
                // not leave the board claimed and never ready.
                let load = tokio::spawn(load_board(
                    self.backend.clone(),
                    self.store.clone(),
                    *club,
                    key,
                    (from, to),
                    expires,
                ));
                load.await.map_err(|_| BoardError::Busy)??;
                continue;
            }
            if Instant::now() > deadline {
                return Err(BoardError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Loads a board from the database (the caller has claimed it); on a
/// failure the claim is dropped so that the next read tries again.
async fn load_board(
    backend: Arc<dyn BoardBackend>,
    store: DynStore,
    club: BoardClub,
    key: BoardKey,
    (from, to): (i64, i64),
    expires: i64,
) -> Result<(), BoardError> {
    let started = Instant::now();
    let loaded = match store.club_week_totals(club.id, club.sport, from, to).await {
        Ok(rows) => backend
            .finish_load(key, &rows, expires)
            .await
            .map(|()| rows.len()),
        Err(e) => Err(e.into()),
    };
    match loaded {
        Ok(athletes) => {
            tracing::info!(
                club = club.id.0,
                week_start_ms = from,
                athletes,
                ms = started.elapsed().as_millis() as u64,
                backend = backend.name(),
                "club board rebuilt from the database"
            );
            Ok(())
        }
        Err(e) => {
            let _ = backend.abort_load(key).await;
            Err(e)
        }
    }
}

/// Builds the boards this node uses (Redis when configured) and registers
/// their change-log consumer.
pub async fn start(
    config: &crate::config::Config,
    store: &DynStore,
    changes: &crate::changes::Changes,
) -> Result<Arc<ClubBoards>, BoardError> {
    let backend: Arc<dyn BoardBackend> = match &config.redis_url {
        Some(url) => super::club_redis::RedisBoards::connect(url, &config.redis_prefix).await?,
        None => super::club_embedded::EmbeddedBoards::new(),
    };
    let boards = ClubBoards::new(backend, store.clone(), changes.background());
    changes
        .register(Arc::new(super::club_consumer::ClubBoardsConsumer {
            boards: boards.clone(),
            partitions: crate::changes::PARTITIONS,
        }))
        .await
        .map_err(|e| BoardError::Start(format!("cannot start the consumer: {e}")))?;
    tracing::info!(backend = boards.backend_name(), "club leaderboards ready");
    Ok(boards)
}
