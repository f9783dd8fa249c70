//! Club boards held in this process: per board, each member's totals and
//! one order-statistic B-tree (`indexset`) per sort column, so that a page
//! and `me`'s rank cost a few microseconds at millions of members. Lost at
//! exit; rebuilt from the database on first read.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use dashmap::DashMap;

use super::club_boards::{BoardBackend, BoardEntry, BoardError, BoardKey, BoardPage};
use crate::domain::clubs::{SortColumn, WeekTotals};
use crate::domain::AthleteId;

/// A column's order: (negated score, athlete), ascending = best first.
type Column = indexset::BTreeSet<(i64, i64)>;

#[derive(Default)]
struct Board {
    ready: bool,
    /// Athletes set while the board was being loaded (newer than the load).
    touched: HashSet<AthleteId>,
    totals: HashMap<AthleteId, WeekTotals>,
    columns: [Column; 6],
}

/// Boards of fewer members are built on the worker (faster than the hop).
const BUILD_INLINE_BELOW: usize = 20_000;

impl Board {
    /// A ready-to-serve board of these totals: each column sorted first, as
    /// inserting in order appends to the B-tree's last node, several times
    /// faster than at random.
    fn built(rows: &[(AthleteId, WeekTotals)]) -> Board {
        let mut board = Board {
            totals: rows.iter().copied().collect(),
            ..Board::default()
        };
        for c in SortColumn::ALL {
            let mut keys: Vec<(i64, i64)> = rows
                .iter()
                .filter_map(|(a, t)| Some((-t.score(c)?, a.0)))
                .collect();
            keys.sort_unstable();
            let column = &mut board.columns[c.index()];
            for key in keys {
                column.insert(key);
            }
        }
        board
    }

    fn put(&mut self, athlete: AthleteId, totals: Option<WeekTotals>) {
        if let Some(old) = self.totals.remove(&athlete) {
            for c in SortColumn::ALL {
                if let Some(s) = old.score(c) {
                    self.columns[c.index()].remove(&(-s, athlete.0));
                }
            }
        }
        if let Some(new) = totals {
            for c in SortColumn::ALL {
                if let Some(s) = new.score(c) {
                    self.columns[c.index()].insert((-s, athlete.0));
                }
            }
            self.totals.insert(athlete, new);
        }
    }

    fn entry(&self, column: &Column, key: (i64, i64)) -> BoardEntry {
        let athlete = AthleteId(key.1);
        BoardEntry {
            // Ties share the rank: 1 + those with a strictly better score.
            rank: Some(column.rank(&(key.0, i64::MIN)) as u64 + 1),
            athlete,
            totals: self.totals.get(&athlete).copied().unwrap_or_default(),
        }
    }

    fn page(&self, c: SortColumn, offset: u64, limit: u64, me: Option<AthleteId>) -> BoardPage {
        let column = &self.columns[c.index()];
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(limit).unwrap_or(usize::MAX));
        let entries = (start..end.min(column.len()))
            .filter_map(|i| column.get_index(i))
            .map(|k| self.entry(column, *k))
            .collect();
        let me = me.and_then(|a| {
            let totals = self.totals.get(&a)?;
            Some(match totals.score(c) {
                Some(s) => self.entry(column, (-s, a.0)),
                None => BoardEntry {
                    rank: None,
                    athlete: a,
                    totals: *totals,
                },
            })
        });
        BoardPage {
            entry_count: column.len() as u64,
            entries,
            me,
        }
    }
}

#[derive(Default)]
pub struct EmbeddedBoards {
    boards: DashMap<BoardKey, Arc<RwLock<Board>>>,
}

impl EmbeddedBoards {
    pub fn new() -> Arc<EmbeddedBoards> {
        Arc::new(EmbeddedBoards::default())
    }

    fn board(&self, key: BoardKey) -> Option<Arc<RwLock<Board>>> {
        self.boards.get(&key).map(|b| b.value().clone())
    }
}

fn write(board: &RwLock<Board>) -> std::sync::RwLockWriteGuard<'_, Board> {
    board
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl BoardBackend for EmbeddedBoards {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn begin_load(&self, key: BoardKey, _expires_ms: i64) -> Result<bool, BoardError> {
        let mut claimed = false;
        self.boards.entry(key).or_insert_with(|| {
            claimed = true;
            Arc::default()
        });
        Ok(claimed)
    }

    async fn finish_load(
        &self,
        key: BoardKey,
        rows: &[(AthleteId, WeekTotals)],
        _expires_ms: i64,
    ) -> Result<(), BoardError> {
        let Some(board) = self.board(key) else {
            return Ok(());
        };
        // Built outside the lock, so that reads (answering "not ready"
        // meanwhile) never wait for it; a big board on the blocking pool,
        // so that it never stalls the worker's other requests.
        let mut fresh = if rows.len() < BUILD_INLINE_BELOW {
            Board::built(rows)
        } else {
            let rows = rows.to_vec();
            tokio::task::spawn_blocking(move || Board::built(&rows))
                .await
                .map_err(|_| BoardError::Busy)?
        };
        let mut b = write(&board);
        // Athletes set during the load: theirs are newer than the load's.
        for athlete in std::mem::take(&mut b.touched) {
            let current = b.totals.get(&athlete).copied();
            fresh.put(athlete, current);
        }
        fresh.ready = true;
        *b = fresh;
        Ok(())
    }

    async fn abort_load(&self, key: BoardKey) -> Result<(), BoardError> {
        self.boards.remove_if(&key, |_, b| {
            !b.read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .ready
        });
        Ok(())
    }

    async fn set(
        &self,
        key: BoardKey,
        athlete: AthleteId,
        totals: Option<WeekTotals>,
        _expires_ms: i64,
    ) -> Result<(), BoardError> {
        let Some(board) = self.board(key) else {
            return Ok(());
        };
        let mut b = write(&board);
        if !b.ready {
            b.touched.insert(athlete);
        }
        b.put(athlete, totals);
        Ok(())
    }

    async fn page(
        &self,
        key: BoardKey,
        column: SortColumn,
        offset: u64,
        limit: u64,
        me: Option<AthleteId>,
    ) -> Result<Option<BoardPage>, BoardError> {
        let Some(board) = self.board(key) else {
            return Ok(None);
        };
        let b = board
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(b.ready.then(|| b.page(column, offset, limit, me)))
    }

    async fn evict_before(&self, before_ms: i64) {
        self.boards.retain(|k, _| k.week_start_ms >= before_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clubs::ClubId;

    fn totals(distance: f64, activities: u32) -> WeekTotals {
        WeekTotals {
            activities,
            distance,
            moving_time: (distance / 3.0) as i64,
            elevation_gain: 0.0,
            longest: distance,
        }
    }

    #[tokio::test]
    async fn ranks_ties_and_me() {
        let boards = EmbeddedBoards::default();
        let key = BoardKey {
            club: ClubId(1),
            week_start_ms: 0,
        };
        assert!(boards
            .page(key, SortColumn::Distance, 0, 10, None)
            .await
            .unwrap()
            .is_none());
        assert!(boards.begin_load(key, 0).await.unwrap());
        assert!(!boards.begin_load(key, 0).await.unwrap());
        // Set during the load: newer than what the load read.
        boards
            .set(key, AthleteId(3), Some(totals(9_000.0, 1)), 0)
            .await
            .unwrap();
        boards
            .finish_load(
                key,
                &[
                    (AthleteId(1), totals(5_000.0, 1)),
                    (AthleteId(2), totals(5_000.0, 2)),
                    (AthleteId(3), totals(1.0, 1)),
                    (AthleteId(4), totals(500.0, 1)),
                ],
                0,
            )
            .await
            .unwrap();
        let page = boards
            .page(key, SortColumn::Distance, 0, 10, Some(AthleteId(4)))
            .await
            .unwrap()
            .unwrap();
        let ranks: Vec<_> = page.entries.iter().map(|e| (e.athlete.0, e.rank)).collect();
        assert_eq!(
            ranks,
            [(3, Some(1)), (1, Some(2)), (2, Some(2)), (4, Some(4))]
        );
        assert_eq!(page.me.unwrap().rank, Some(4));
        let pace = boards
            .page(key, SortColumn::Pace, 0, 10, Some(AthleteId(4)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pace.entry_count, 3);
        assert_eq!(pace.me.unwrap().rank, None);
        boards.set(key, AthleteId(3), None, 0).await.unwrap();
        let page = boards
            .page(key, SortColumn::Distance, 1, 1, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(page.entry_count, 3);
        assert_eq!(page.entries[0].athlete, AthleteId(2));
    }
}
