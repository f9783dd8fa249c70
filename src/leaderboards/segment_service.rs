//! The segment leaderboards service: every segment's boards
//! (`segment_boards`), the athletes' names and board attributes, and the
//! queries. Synchronous and cheap: handlers call it directly; the updates
//! come from `segment_updates`' workers. No lock is held across an await.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;

use crate::domain::leaderboard_filters::{LeaderboardQuery, Scope};
use crate::domain::AthleteId;
use crate::leaderboards::segment_boards::{
    Answer, Attributes, Effort, Filter, Paging, SegmentBoard,
};
use crate::store::segment_boards::BoardAthlete;

/// An athlete as the boards show them.
#[derive(Debug, Clone, PartialEq)]
pub struct AthleteInfo {
    pub name: String,
    pub attributes: Attributes,
}

impl From<&BoardAthlete> for AthleteInfo {
    fn from(a: &BoardAthlete) -> Self {
        AthleteInfo {
            name: format!("{} {}", a.firstname, a.lastname).trim().to_string(),
            attributes: Attributes {
                sex: a.sex,
                birth_year: a.birth_year,
                weight_kg: a.weight_kg,
            },
        }
    }
}

type Board = Arc<RwLock<SegmentBoard>>;

#[derive(Default)]
pub struct SegmentLeaderboards {
    boards: DashMap<i64, Board>,
    athletes: DashMap<AthleteId, AthleteInfo>,
    /// The segments where each athlete has a slot (to move their entries
    /// when their attributes change).
    slots_of: DashMap<AthleteId, Vec<i64>>,
    ready: AtomicBool,
}

/// Strava's `kom_rank`: the overall rank when it is in the top 10.
pub const KOM_RANK_TOP: u64 = 10;

fn read(b: &Board) -> std::sync::RwLockReadGuard<'_, SegmentBoard> {
    b.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write(b: &Board) -> std::sync::RwLockWriteGuard<'_, SegmentBoard> {
    b.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SegmentLeaderboards {
    pub fn new() -> SegmentLeaderboards {
        SegmentLeaderboards::default()
    }

    /// Whether the boards have been built from the database.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn knows_athlete(&self, athlete: AthleteId) -> bool {
        self.athletes.contains_key(&athlete)
    }

    pub fn athlete_name(&self, athlete: AthleteId) -> Option<String> {
        self.athletes.get(&athlete).map(|a| a.name.clone())
    }

    pub fn athlete(&self, athlete: AthleteId) -> Option<AthleteInfo> {
        self.athletes.get(&athlete).map(|a| a.clone())
    }

    /// New or changed athlete details; their entries move to the boards of
    /// their new attributes at once.
    pub fn set_athlete(&self, a: &BoardAthlete) {
        let info = AthleteInfo::from(a);
        let attributes = info.attributes;
        let changed = match self.athletes.insert(a.id, info) {
            Some(old) => old.attributes != attributes,
            None => false,
        };
        if changed {
            let segments = self
                .slots_of
                .get(&a.id)
                .map(|s| s.clone())
                .unwrap_or_default();
            for s in segments {
                if let Some(board) = self.board(s) {
                    write(&board).set_attributes(a.id, attributes);
                }
            }
        }
    }

    fn board(&self, segment: i64) -> Option<Board> {
        self.boards.get(&segment).map(|b| b.clone())
    }

    /// Replaces one (segment, athlete) slot with the athlete's current
    /// efforts there (none: the slot goes). Idempotent.
    pub fn replace_slot(
        &self,
        segment: i64,
        athlete: AthleteId,
        efforts: Vec<Effort>,
        now_ms: i64,
    ) {
        let attributes = self
            .athletes
            .get(&athlete)
            .map(|a| a.attributes)
            .unwrap_or_default();
        // Boards change only under their map entry's lock, so that an
        // emptied board is dropped from the map only while still empty.
        if efforts.is_empty() {
            let emptied = match self.boards.get_mut(&segment) {
                Some(entry) => {
                    let mut b = write(entry.value());
                    b.replace(athlete, efforts, attributes);
                    b.is_empty()
                }
                None => false,
            };
            if emptied {
                self.boards.remove_if(&segment, |_, b| read(b).is_empty());
            }
            if let Some(mut s) = self.slots_of.get_mut(&athlete) {
                s.retain(|x| *x != segment);
            }
            self.slots_of.remove_if(&athlete, |_, s| s.is_empty());
            return;
        }
        {
            let entry = self
                .boards
                .entry(segment)
                .or_insert_with(|| Arc::new(RwLock::new(SegmentBoard::new(now_ms))));
            let mut b = write(entry.value());
            if b.is_stale(now_ms) {
                b.roll(now_ms);
            }
            b.replace(athlete, efforts, attributes);
        }
        let mut s = self.slots_of.entry(athlete).or_default();
        if !s.contains(&segment) {
            s.push(segment);
        }
    }

    /// Whether the segment has any effort on its boards.
    pub fn has_board(&self, segment: i64) -> bool {
        self.boards.contains_key(&segment)
    }

    /// Answers a query. `members` are the athletes of a `following` or
    /// club scope (the caller's friends and the caller; a club's members).
    pub fn query(
        &self,
        segment: i64,
        q: &LeaderboardQuery,
        caller: AthleteId,
        members: &[AthleteId],
        now_ms: i64,
    ) -> Answer {
        let Some(board) = self.board(segment) else {
            return Answer::default();
        };
        if read(&board).is_stale(now_ms) {
            write(&board).roll(now_ms);
        }
        let b = read(&board);
        let filter = Filter {
            range: q.date_range,
            gender: q.gender,
            age: q.age_group,
            weight: q.weight_class,
        };
        let paging = Paging {
            page: q.page,
            per_page: q.per_page,
            context: q.context_entries,
        };
        match q.scope {
            Scope::Everyone => b.rank_everyone(&filter, caller, paging),
            Scope::Following | Scope::Club(_) => b.rank_among(members, &filter, caller, paging),
            Scope::Mine => b.rank_mine(caller, &filter, paging),
        }
    }

    /// `kom_rank` of an effort: its overall rank when it is the athlete's
    /// entry on the segment's board and in the top 10.
    pub fn kom_rank(&self, segment: i64, athlete: AthleteId, effort_id: i64) -> Option<u64> {
        let board = self.board(segment)?;
        let b = read(&board);
        let key = b.entry_of(athlete, &Filter::EVERYONE)?;
        if key.effort_id != effort_id {
            return None;
        }
        b.overall_rank(athlete).filter(|r| *r <= KOM_RANK_TOP)
    }

    /// Sizes for the benchmarks: (segments, athletes' slots, efforts,
    /// board entries).
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        let mut out = (self.boards.len(), 0, 0, 0);
        for b in self.boards.iter() {
            let b = read(b.value());
            out.1 += b.athletes();
            out.2 += b.efforts();
            out.3 += b.entries();
        }
        out
    }
}
