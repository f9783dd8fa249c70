//! The in-memory segment leaderboards: what rank queries are served from.
//! The database holds the truth (`segment_efforts`); this is rebuilt from it
//! at start and kept current slot by slot (`segment_updates`).
//!
//! Per segment, each athlete has a *slot*: all their efforts on it, with
//! the activity's visibility. From a slot follow the athlete's *entries*:
//! their best visible effort (not `only_me`) in each date range, placed on
//! the boards of: everyone, their gender, their age group, their weight
//! class, and their *leaf* (gender × age group × weight class, unknowns
//! included: each athlete is on exactly one leaf per range). Each board is
//! an order-statistic B-tree (`indexset`). A filter with its own board is
//! a few index lookups; any other combination (gender with age group or
//! weight class, age group with weight class) is the merge of the leaves
//! it covers (at most 10): an entry's rank is the sum of the entries ahead
//! of it on each leaf, a page a k-way merge from its first position.
//! Replacing a slot removes its old entries (recomputed from the old slot,
//! so nothing else is stored per entry) and places the new ones: applying
//! the same slot twice is the same as once.

use std::collections::HashMap;

use indexset::BTreeSet;

use crate::domain::activity::Visibility;
use crate::domain::athlete::Sex;
use crate::domain::leaderboard_filters::{AgeGroup, DateRange, Gender, Periods, WeightClass};
use crate::domain::{ActivityId, AthleteId};

/// One effort as the boards keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effort {
    pub id: i64,
    pub activity_id: ActivityId,
    pub start_ms: i64,
    pub elapsed_ms: i64,
    pub moving_ms: i64,
    pub visibility: Visibility,
}

impl Effort {
    /// The elapsed time as shown (whole seconds, as Strava): ranks and ties
    /// follow the times people see.
    pub fn elapsed_s(&self) -> i64 {
        (self.elapsed_ms + 500).div_euclid(1000)
    }

    fn key(&self, athlete: AthleteId) -> EntryKey {
        EntryKey {
            elapsed_s: self.elapsed_s(),
            start_ms: self.start_ms,
            effort_id: self.id,
            athlete: athlete.0,
        }
    }

    /// Counts on boards others see: `only_me` efforts only in `mine`.
    fn on_boards(&self) -> bool {
        self.visibility != Visibility::OnlyMe
    }
}

/// An entry's place on a board: by elapsed time, then the earlier effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryKey {
    pub elapsed_s: i64,
    pub start_ms: i64,
    pub effort_id: i64,
    pub athlete: i64,
}

impl EntryKey {
    /// Sorts before every entry with this elapsed time (ties' first rank).
    fn first_with(elapsed_s: i64) -> EntryKey {
        EntryKey {
            elapsed_s,
            start_ms: i64::MIN,
            effort_id: i64::MIN,
            athlete: i64::MIN,
        }
    }
}

/// The athlete's details that decide their boards.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Attributes {
    pub sex: Option<Sex>,
    pub birth_year: Option<i32>,
    pub weight_kg: Option<f64>,
}

impl Attributes {
    fn classes(&self, year: i32) -> Classes {
        Classes {
            gender: Gender::of(self.sex),
            age: AgeGroup::in_year(self.birth_year, year),
            weight: WeightClass::of_kg(self.weight_kg),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Classes {
    gender: Option<Gender>,
    age: Option<AgeGroup>,
    weight: Option<WeightClass>,
}

/// The attribute part of a board's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Group {
    Any,
    Age(AgeGroup),
    Weight(WeightClass),
    /// With the key's gender (`None`: unknown here, not "any"), one
    /// athlete's exact classes.
    Leaf(Option<AgeGroup>, Option<WeightClass>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct BoardKey {
    range: DateRange,
    gender: Option<Gender>,
    group: Group,
}

impl Classes {
    /// The (gender, group) pairs whose boards hold this athlete.
    fn boards(&self) -> impl Iterator<Item = (Option<Gender>, Group)> {
        [
            Some((None, Group::Any)),
            self.gender.map(|g| (Some(g), Group::Any)),
            self.age.map(|a| (None, Group::Age(a))),
            self.weight.map(|w| (None, Group::Weight(w))),
            Some((self.gender, Group::Leaf(self.age, self.weight))),
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Debug, Clone)]
struct Slot {
    efforts: Vec<Effort>,
    attributes: Attributes,
}

impl Slot {
    /// The best effort shown on boards within the range.
    fn best(&self, periods: &Periods, range: DateRange) -> Option<&Effort> {
        self.efforts
            .iter()
            .filter(|e| e.on_boards() && periods.contains(range, e.start_ms))
            .min_by_key(|e| (e.elapsed_s(), e.start_ms, e.id))
    }
}

/// Which entries a query ranks (after the scope is resolved to athletes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    pub range: DateRange,
    pub gender: Option<Gender>,
    pub age: Option<AgeGroup>,
    pub weight: Option<WeightClass>,
}

impl Filter {
    pub const EVERYONE: Filter = Filter {
        range: DateRange::All,
        gender: None,
        age: None,
        weight: None,
    };

    fn admits(&self, c: &Classes) -> bool {
        (self.gender.is_none() || self.gender == c.gender)
            && (self.age.is_none() || self.age == c.age)
            && (self.weight.is_none() || self.weight == c.weight)
    }

    /// The boards whose union is exactly this filter's entries: its own
    /// board if one is kept, else the leaves it covers.
    fn boards(&self) -> Vec<BoardKey> {
        let range = self.range;
        let own = |gender, group| {
            vec![BoardKey {
                range,
                gender,
                group,
            }]
        };
        match (self.gender, self.age, self.weight) {
            (g, None, None) => own(g, Group::Any),
            (None, Some(a), None) => own(None, Group::Age(a)),
            (None, None, Some(w)) => own(None, Group::Weight(w)),
            (g, a, w) => {
                let genders: Vec<Option<Gender>> = match g {
                    Some(_) => vec![g],
                    None => vec![None, Some(Gender::M), Some(Gender::F)],
                };
                let ages: Vec<Option<AgeGroup>> = match a {
                    Some(_) => vec![a],
                    None => std::iter::once(None)
                        .chain(AgeGroup::every().map(Some))
                        .collect(),
                };
                let weights: Vec<Option<WeightClass>> = match w {
                    Some(_) => vec![w],
                    None => std::iter::once(None)
                        .chain(WeightClass::every().map(Some))
                        .collect(),
                };
                let mut keys = Vec::with_capacity(genders.len() * ages.len() * weights.len());
                for &gender in &genders {
                    for &age in &ages {
                        for &weight in &weights {
                            keys.push(BoardKey {
                                range,
                                gender,
                                group: Group::Leaf(age, weight),
                            });
                        }
                    }
                }
                keys
            }
        }
    }
}

/// Paging of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
    /// The caller's entry with this many on either side, besides the page.
    pub context: u32,
}

/// One ranked entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranked {
    pub rank: u64,
    pub athlete: AthleteId,
    pub effort: Effort,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    pub entry_count: u64,
    pub entries: Vec<Ranked>,
}

/// One segment's slots and boards.
pub struct SegmentBoard {
    periods: Periods,
    slots: HashMap<AthleteId, Slot>,
    boards: HashMap<BoardKey, BTreeSet<EntryKey>>,
}

impl SegmentBoard {
    pub fn new(now_ms: i64) -> SegmentBoard {
        SegmentBoard {
            periods: Periods::at(now_ms),
            slots: HashMap::new(),
            boards: HashMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Athletes with at least one effort here (any visibility).
    pub fn athletes(&self) -> usize {
        self.slots.len()
    }

    pub fn efforts(&self) -> usize {
        self.slots.values().map(|s| s.efforts.len()).sum()
    }

    /// Entries held on all boards (the serving structure's size).
    pub fn entries(&self) -> usize {
        self.boards.values().map(BTreeSet::len).sum()
    }

    /// Every (board, entry) a slot puts on the boards, in the ranges picked.
    fn placements(
        periods: &Periods,
        athlete: AthleteId,
        slot: &Slot,
        ranges: &[DateRange],
        out: &mut Vec<(BoardKey, EntryKey)>,
    ) {
        let classes = slot.attributes.classes(periods.year);
        for &range in ranges {
            let Some(best) = slot.best(periods, range) else {
                continue;
            };
            let key = best.key(athlete);
            for (gender, group) in classes.boards() {
                out.push((
                    BoardKey {
                        range,
                        gender,
                        group,
                    },
                    key,
                ));
            }
        }
    }

    fn apply(&mut self, remove: &[(BoardKey, EntryKey)], insert: &[(BoardKey, EntryKey)]) {
        for (board, key) in remove {
            if let Some(set) = self.boards.get_mut(board) {
                set.remove(key);
                if set.is_empty() {
                    self.boards.remove(board);
                }
            }
        }
        for (board, key) in insert {
            self.boards.entry(*board).or_default().insert(*key);
        }
    }

    /// Replaces the athlete's slot with their current efforts (none: the
    /// slot goes). Idempotent.
    pub fn replace(&mut self, athlete: AthleteId, efforts: Vec<Effort>, attributes: Attributes) {
        let mut old = Vec::new();
        if let Some(slot) = self.slots.get(&athlete) {
            Self::placements(&self.periods, athlete, slot, &DateRange::ALL, &mut old);
        }
        let mut new = Vec::new();
        if efforts.is_empty() {
            self.slots.remove(&athlete);
        } else {
            let slot = Slot {
                efforts,
                attributes,
            };
            Self::placements(&self.periods, athlete, &slot, &DateRange::ALL, &mut new);
            self.slots.insert(athlete, slot);
        }
        // Entries in both stay put.
        let unchanged: Vec<_> = old.iter().filter(|p| new.contains(p)).copied().collect();
        old.retain(|p| !unchanged.contains(p));
        new.retain(|p| !unchanged.contains(p));
        self.apply(&old, &new);
    }

    /// New attributes for an athlete with a slot here (sex, age, weight).
    pub fn set_attributes(&mut self, athlete: AthleteId, attributes: Attributes) {
        if let Some(slot) = self.slots.get(&athlete) {
            if slot.attributes != attributes {
                let efforts = slot.efforts.clone();
                self.replace(athlete, efforts, attributes);
            }
        }
    }

    /// Whether the boards were built for other periods than `now`'s (a new
    /// day, week, month or year began): then `roll` must run first.
    pub fn is_stale(&self, now_ms: i64) -> bool {
        self.periods != Periods::at(now_ms)
    }

    /// Moves the boards to `now`'s periods: the ranges whose start moved
    /// are rebuilt from the slots (all of them in a new year: age groups
    /// move too).
    pub fn roll(&mut self, now_ms: i64) {
        let next = Periods::at(now_ms);
        if next == self.periods {
            return;
        }
        let ranges: Vec<DateRange> = if next.year != self.periods.year {
            DateRange::ALL.to_vec()
        } else {
            DateRange::ALL
                .into_iter()
                .filter(|r| next.start(*r) != self.periods.start(*r))
                .collect()
        };
        self.boards.retain(|k, _| !ranges.contains(&k.range));
        self.periods = next;
        let mut placed = Vec::new();
        for (athlete, slot) in &self.slots {
            Self::placements(&self.periods, *athlete, slot, &ranges, &mut placed);
        }
        self.apply(&[], &placed);
    }

    fn effort_of(&self, key: &EntryKey) -> Option<Ranked> {
        let athlete = AthleteId(key.athlete);
        let slot = self.slots.get(&athlete)?;
        let effort = slot.efforts.iter().find(|e| e.id == key.effort_id)?;
        Some(Ranked {
            rank: 0,
            athlete,
            effort: *effort,
        })
    }

    /// The athlete's entry under the filter, if they have one.
    pub fn entry_of(&self, athlete: AthleteId, filter: &Filter) -> Option<EntryKey> {
        let slot = self.slots.get(&athlete)?;
        if !filter.admits(&slot.attributes.classes(self.periods.year)) {
            return None;
        }
        slot.best(&self.periods, filter.range)
            .map(|e| e.key(athlete))
    }

    /// Everyone's best under the filter.
    pub fn rank_everyone(&self, filter: &Filter, caller: AthleteId, paging: Paging) -> Answer {
        let sets: Vec<&BTreeSet<EntryKey>> = filter
            .boards()
            .iter()
            .filter_map(|k| self.boards.get(k))
            .collect();
        let merged = Merged { sets };
        let n = merged.len();
        let mut keys: Vec<EntryKey> = Vec::new();
        let first = page_positions(paging, n).next();
        if let Some(p) = first {
            if let Some(start) = merged.select(p) {
                keys.extend(merged.forward(&merged.cursors(&start), paging.per_page as usize));
            }
        }
        if let Some(key) = self.entry_of(caller, filter) {
            if paging.context > 0 && merged.contains(&key) {
                let at = merged.cursors(&key);
                let c = paging.context as usize;
                keys.extend(merged.backward(&at, c));
                keys.extend(merged.forward(&at, c + 1));
            } else if merged.contains(&key) {
                keys.push(key);
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let entries = keys
            .iter()
            .filter_map(|key| {
                let mut r = self.effort_of(key)?;
                r.rank = merged.rank(&EntryKey::first_with(key.elapsed_s)) as u64 + 1;
                Some(r)
            })
            .collect();
        Answer {
            entry_count: n as u64,
            entries,
        }
    }

    /// The listed athletes' bests under the filter (following, a club).
    pub fn rank_among(
        &self,
        athletes: &[AthleteId],
        filter: &Filter,
        caller: AthleteId,
        paging: Paging,
    ) -> Answer {
        let mut keys: Vec<EntryKey> = athletes
            .iter()
            .filter_map(|a| self.entry_of(*a, filter))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        self.rank_sorted(&keys, caller, paging)
    }

    /// All of the athlete's own efforts under the filter, `only_me` ones
    /// included, ranked against each other.
    pub fn rank_mine(&self, athlete: AthleteId, filter: &Filter, paging: Paging) -> Answer {
        let Some(slot) = self.slots.get(&athlete) else {
            return Answer::default();
        };
        if !filter.admits(&slot.attributes.classes(self.periods.year)) {
            return Answer::default();
        }
        let mut keys: Vec<EntryKey> = slot
            .efforts
            .iter()
            .filter(|e| self.periods.contains(filter.range, e.start_ms))
            .map(|e| e.key(athlete))
            .collect();
        keys.sort_unstable();
        let n = keys.len();
        let positions = page_positions(paging, n);
        let entries = positions
            .filter_map(|p| {
                let key = keys.get(p)?;
                let effort = slot.efforts.iter().find(|e| e.id == key.effort_id)?;
                Some(Ranked {
                    rank: keys.partition_point(|k| k.elapsed_s < key.elapsed_s) as u64 + 1,
                    athlete,
                    effort: *effort,
                })
            })
            .collect();
        Answer {
            entry_count: n as u64,
            entries,
        }
    }

    /// Ranks sorted entries (one per athlete), with the caller's context.
    fn rank_sorted(&self, keys: &[EntryKey], caller: AthleteId, paging: Paging) -> Answer {
        let n = keys.len();
        let mut positions: Vec<usize> = page_positions(paging, n).collect();
        if let Some(p) = keys.iter().position(|k| k.athlete == caller.0) {
            positions.extend(context_positions(p, paging.context, n));
        }
        positions.sort_unstable();
        positions.dedup();
        let entries = positions
            .into_iter()
            .filter_map(|p| {
                let key = keys.get(p)?;
                let mut r = self.effort_of(key)?;
                r.rank = keys.partition_point(|k| k.elapsed_s < key.elapsed_s) as u64 + 1;
                Some(r)
            })
            .collect();
        Answer {
            entry_count: n as u64,
            entries,
        }
    }

    /// The athlete's overall rank (everyone, all time) if on the board.
    pub fn overall_rank(&self, athlete: AthleteId) -> Option<u64> {
        let key = self.entry_of(athlete, &Filter::EVERYONE)?;
        let set = self.boards.get(Filter::EVERYONE.boards().first()?)?;
        if !set.contains(&key) {
            return None;
        }
        Some(set.rank(&EntryKey::first_with(key.elapsed_s)) as u64 + 1)
    }

    /// The rank an effort with this elapsed time (s) would have overall.
    pub fn rank_of_time(&self, elapsed_s: i64) -> u64 {
        self.boards
            .get(&BoardKey {
                range: DateRange::All,
                gender: None,
                group: Group::Any,
            })
            .map_or(0, |set| set.rank(&EntryKey::first_with(elapsed_s)) as u64)
            + 1
    }
}

/// Disjoint boards read as one ordered board (one athlete is on one leaf).
struct Merged<'a> {
    sets: Vec<&'a BTreeSet<EntryKey>>,
}

impl Merged<'_> {
    fn len(&self) -> usize {
        self.sets.iter().map(|s| s.len()).sum()
    }

    fn contains(&self, key: &EntryKey) -> bool {
        self.sets.iter().any(|s| s.contains(key))
    }

    /// Entries ahead of `key` on all the boards.
    fn rank(&self, key: &EntryKey) -> usize {
        self.sets.iter().map(|s| s.rank(key)).sum()
    }

    /// Each board's position of its first entry not ahead of `key`.
    fn cursors(&self, key: &EntryKey) -> Vec<usize> {
        self.sets.iter().map(|s| s.rank(key)).collect()
    }

    /// The entry at position `p` of the merged order: narrows each board's
    /// window by probing the middle of the widest one (O(k log n) probes
    /// of k rank lookups each).
    fn select(&self, p: usize) -> Option<EntryKey> {
        if p >= self.len() {
            return None;
        }
        if p == 0 {
            return self.sets.iter().filter_map(|s| s.first()).min().copied();
        }
        let k = self.sets.len();
        let mut lo = vec![0usize; k];
        let mut hi: Vec<usize> = self.sets.iter().map(|s| s.len()).collect();
        loop {
            let i = (0..k).max_by_key(|&j| hi[j].saturating_sub(lo[j]))?;
            if hi[i] <= lo[i] {
                return None;
            }
            let mid = lo[i] + (hi[i] - lo[i]) / 2;
            let m = *self.sets[i].get_index(mid)?;
            let ranks: Vec<usize> = (0..k)
                .map(|j| if j == i { mid } else { self.sets[j].rank(&m) })
                .collect();
            let r: usize = ranks.iter().sum();
            match r.cmp(&p) {
                std::cmp::Ordering::Equal => return Some(m),
                // The answer comes after m: nothing up to m on any board.
                std::cmp::Ordering::Less => {
                    for (j, (l, r)) in lo.iter_mut().zip(&ranks).enumerate() {
                        let bound = if j == i { mid + 1 } else { *r };
                        *l = (*l).max(bound);
                    }
                }
                // The answer comes before m.
                std::cmp::Ordering::Greater => {
                    for (h, r) in hi.iter_mut().zip(&ranks) {
                        *h = (*h).min(*r);
                    }
                }
            }
        }
    }

    /// Up to `n` entries from the cursors on, in order.
    fn forward(&self, cursors: &[usize], n: usize) -> Vec<EntryKey> {
        let mut at = cursors.to_vec();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let next = self
                .sets
                .iter()
                .zip(&at)
                .enumerate()
                .filter_map(|(j, (s, &i))| s.get_index(i).map(|k| (*k, j)))
                .min();
            let Some((key, j)) = next else { break };
            out.push(key);
            at[j] += 1;
        }
        out
    }

    /// Up to `n` entries just before the cursors, nearest first.
    fn backward(&self, cursors: &[usize], n: usize) -> Vec<EntryKey> {
        let mut at = cursors.to_vec();
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let prev = self
                .sets
                .iter()
                .zip(&at)
                .enumerate()
                .filter(|(_, (_, &i))| i > 0)
                .filter_map(|(j, (s, &i))| s.get_index(i - 1).map(|k| (*k, j)))
                .max();
            let Some((key, j)) = prev else { break };
            out.push(key);
            at[j] -= 1;
        }
        out
    }
}

fn page_positions(paging: Paging, n: usize) -> impl Iterator<Item = usize> {
    let start = (paging.page.saturating_sub(1) as usize).saturating_mul(paging.per_page as usize);
    let end = start.saturating_add(paging.per_page as usize).min(n);
    start.min(end)..end
}

fn context_positions(p: usize, context: u32, n: usize) -> impl Iterator<Item = usize> {
    let c = context as usize;
    p.saturating_sub(c)..(p.saturating_add(c).saturating_add(1)).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_611_600_000; // Wednesday 2026-11-25 13:00 UTC
    const DAY: i64 = 86_400_000;

    fn effort(id: i64, elapsed_s: i64, start_ms: i64, visibility: Visibility) -> Effort {
        Effort {
            id,
            activity_id: ActivityId(id * 10),
            start_ms,
            elapsed_ms: elapsed_s * 1000,
            moving_ms: elapsed_s * 1000,
            visibility,
        }
    }

    fn attrs(sex: Sex, birth_year: i32, kg: f64) -> Attributes {
        Attributes {
            sex: Some(sex),
            birth_year: Some(birth_year),
            weight_kg: Some(kg),
        }
    }

    const PAGE: Paging = Paging {
        page: 1,
        per_page: 10,
        context: 0,
    };

    fn ranks(a: &Answer) -> Vec<(u64, i64)> {
        a.entries.iter().map(|r| (r.rank, r.athlete.0)).collect()
    }

    #[test]
    fn best_per_athlete_ties_and_visibility() {
        let mut b = SegmentBoard::new(NOW);
        let a = attrs(Sex::M, 1990, 70.0);
        b.replace(
            AthleteId(1),
            vec![
                effort(1, 100, NOW - DAY * 40, Visibility::Everyone),
                effort(2, 90, NOW - DAY * 40, Visibility::OnlyMe),
            ],
            a,
        );
        b.replace(
            AthleteId(2),
            vec![effort(3, 100, NOW - DAY * 50, Visibility::Everyone)],
            a,
        );
        b.replace(
            AthleteId(3),
            vec![effort(4, 80, NOW, Visibility::FollowersOnly)],
            a,
        );
        let all = b.rank_everyone(&Filter::EVERYONE, AthleteId(1), PAGE);
        assert_eq!(all.entry_count, 3);
        // Athlete 2's earlier effort first; both share rank 2.
        assert_eq!(ranks(&all), [(1, 3), (2, 2), (2, 1)]);
        let mine = b.rank_mine(AthleteId(1), &Filter::EVERYONE, PAGE);
        assert_eq!(
            mine.entries
                .iter()
                .map(|r| (r.rank, r.effort.id))
                .collect::<Vec<_>>(),
            [(1, 2), (2, 1)]
        );
        // Replacing twice is replacing once; removing empties the board.
        for _ in 0..2 {
            b.replace(AthleteId(3), Vec::new(), a);
        }
        assert_eq!(
            b.rank_everyone(&Filter::EVERYONE, AthleteId(1), PAGE)
                .entry_count,
            2
        );
        b.replace(AthleteId(1), Vec::new(), a);
        b.replace(AthleteId(2), Vec::new(), a);
        assert_eq!(b.entries(), 0);
        assert!(b.is_empty());
    }

    #[test]
    fn filters_and_context() {
        let mut b = SegmentBoard::new(NOW);
        for i in 0..100_i64 {
            let sex = if i % 2 == 0 { Sex::M } else { Sex::F };
            let start = NOW - (i % 10) * DAY;
            b.replace(
                AthleteId(i),
                vec![effort(i, 1000 + i, start, Visibility::Everyone)],
                attrs(sex, 1960 + (i as i32 % 40), 50.0 + (i % 50) as f64),
            );
        }
        let f = Filter {
            gender: Some(Gender::F),
            ..Filter::EVERYONE
        };
        let a = b.rank_everyone(
            &f,
            AthleteId(81),
            Paging {
                page: 1,
                per_page: 3,
                context: 1,
            },
        );
        assert_eq!(a.entry_count, 50);
        // The page (1, 3, 5), then 79, 81, 83 around athlete 81 (rank 41).
        assert_eq!(
            ranks(&a),
            [(1, 1), (2, 3), (3, 5), (40, 79), (41, 81), (42, 83)]
        );
        let today = Filter {
            range: DateRange::Today,
            ..Filter::EVERYONE
        };
        assert_eq!(b.rank_everyone(&today, AthleteId(0), PAGE).entry_count, 10);
        let both = Filter {
            age: Some(AgeGroup::From55To64),
            weight: Some(WeightClass::From65To74),
            ..Filter::EVERYONE
        };
        let slow = b.rank_everyone(&both, AthleteId(0), PAGE);
        let expected = (0..100_i64)
            .filter(|i| {
                let age = 2026 - (1960 + i % 40);
                let kg = 50 + i % 50;
                (55..=64).contains(&age) && (65..75).contains(&kg)
            })
            .count();
        assert_eq!(slow.entry_count as usize, expected);
        let among = b.rank_among(
            &[AthleteId(5), AthleteId(2), AthleteId(999)],
            &Filter::EVERYONE,
            AthleteId(5),
            PAGE,
        );
        assert_eq!(ranks(&among), [(1, 2), (2, 5)]);
    }

    #[test]
    fn attributes_and_rollover() {
        let mut b = SegmentBoard::new(NOW);
        b.replace(
            AthleteId(1),
            vec![effort(1, 60, NOW, Visibility::Everyone)],
            attrs(Sex::M, 1990, 70.0),
        );
        let women = Filter {
            gender: Some(Gender::F),
            ..Filter::EVERYONE
        };
        assert_eq!(b.rank_everyone(&women, AthleteId(1), PAGE).entry_count, 0);
        b.set_attributes(AthleteId(1), attrs(Sex::F, 1990, 70.0));
        assert_eq!(b.rank_everyone(&women, AthleteId(1), PAGE).entry_count, 1);
        let today = Filter {
            range: DateRange::Today,
            ..Filter::EVERYONE
        };
        assert_eq!(b.rank_everyone(&today, AthleteId(1), PAGE).entry_count, 1);
        assert!(b.is_stale(NOW + DAY));
        b.roll(NOW + DAY);
        assert_eq!(b.rank_everyone(&today, AthleteId(1), PAGE).entry_count, 0);
        let week = Filter {
            range: DateRange::ThisWeek,
            ..Filter::EVERYONE
        };
        assert_eq!(b.rank_everyone(&week, AthleteId(1), PAGE).entry_count, 1);
        assert_eq!(b.overall_rank(AthleteId(1)), Some(1));
    }

    /// Every gender × age group × weight class × date range combination,
    /// pages past the first and the caller's context, against a plain
    /// filter-and-sort of the slots.
    #[test]
    fn every_combination_matches_a_plain_sort() {
        let mut b = SegmentBoard::new(NOW);
        let mut seed: u64 = 7;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        };
        let mut people = Vec::new();
        for i in 0..400_i64 {
            let a = Attributes {
                sex: match next(5) {
                    0 => None,
                    1 | 2 => Some(Sex::M),
                    _ => Some(Sex::F),
                },
                birth_year: (next(8) != 0).then(|| 1940 + next(75) as i32),
                weight_kg: (next(8) != 0).then(|| 45.0 + next(60) as f64),
            };
            let efforts: Vec<Effort> = (0..1 + next(3) as i64)
                .map(|e| {
                    let vis = match next(10) {
                        0 => Visibility::OnlyMe,
                        1 => Visibility::FollowersOnly,
                        _ => Visibility::Everyone,
                    };
                    // Few distinct times: many ties.
                    effort(
                        i * 10 + e,
                        300 + next(40) as i64,
                        NOW - next(400) as i64 * DAY / 3,
                        vis,
                    )
                })
                .collect();
            b.replace(AthleteId(i), efforts.clone(), a);
            people.push((AthleteId(i), efforts, a));
        }
        let periods = Periods::at(NOW);
        let genders = [None, Some(Gender::M), Some(Gender::F)];
        let ages: Vec<Option<AgeGroup>> = std::iter::once(None)
            .chain(AgeGroup::every().map(Some))
            .collect();
        let weights: Vec<Option<WeightClass>> = std::iter::once(None)
            .chain(WeightClass::every().map(Some))
            .collect();
        let mut checked = 0;
        for range in DateRange::ALL {
            for &gender in &genders {
                for &age in &ages {
                    for &weight in &weights {
                        let f = Filter {
                            range,
                            gender,
                            age,
                            weight,
                        };
                        let mut keys: Vec<(i64, i64, i64, i64)> = people
                            .iter()
                            .filter(|(_, _, a)| {
                                gender.is_none_or(|g| Gender::of(a.sex) == Some(g))
                                    && age.is_none_or(|x| {
                                        AgeGroup::in_year(a.birth_year, 2026) == Some(x)
                                    })
                                    && weight
                                        .is_none_or(|w| WeightClass::of_kg(a.weight_kg) == Some(w))
                            })
                            .filter_map(|(id, es, _)| {
                                es.iter()
                                    .filter(|e| {
                                        e.visibility != Visibility::OnlyMe
                                            && periods.contains(range, e.start_ms)
                                    })
                                    .map(|e| (e.elapsed_s(), e.start_ms, e.id, id.0))
                                    .min()
                            })
                            .collect();
                        keys.sort_unstable();
                        let n = keys.len();
                        for (page, caller) in [(1, 0_i64), (2, 17), (3, 399), (40, 5)] {
                            let paging = Paging {
                                page,
                                per_page: 7,
                                context: 2,
                            };
                            let got = b.rank_everyone(&f, AthleteId(caller), paging);
                            assert_eq!(got.entry_count as usize, n, "{f:?}");
                            let mut want: Vec<usize> = page_positions(paging, n).collect();
                            if let Some(p) = keys.iter().position(|k| k.3 == caller) {
                                want.extend(context_positions(p, 2, n));
                            }
                            want.sort_unstable();
                            want.dedup();
                            let want: Vec<(u64, i64, i64)> = want
                                .iter()
                                .map(|&p| {
                                    let k = keys[p];
                                    let rank = keys.iter().filter(|o| o.0 < k.0).count() as u64 + 1;
                                    (rank, k.3, k.2)
                                })
                                .collect();
                            let got: Vec<(u64, i64, i64)> = got
                                .entries
                                .iter()
                                .map(|r| (r.rank, r.athlete.0, r.effort.id))
                                .collect();
                            assert_eq!(got, want, "{f:?} page {page} caller {caller}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 5 * 3 * 10 * 7 * 4);
    }
}
