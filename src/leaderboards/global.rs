//! The global leaderboards, in process: for each sport and distance, and
//! each date range, every athlete's best effort in rank sets (order
//! statistics: `indexset`), one set per combination of place (world,
//! country, country+state, country+city, country+state+city), gender (any
//! or theirs) and age group (any or theirs). An athlete is in at most 20
//! sets per range, so a first page and an athlete's own rank under any
//! filter are a hash lookup and a few O(log n) steps, never a scan.
//!
//! Updated per athlete (`refresh`): their efforts and profile are read
//! again and their entries moved. Ranks are by whole seconds (as shown):
//! athletes with the same time share the rank and are listed by their
//! place in the boards' athlete table (first seen first).

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::domain::activity::Visibility;
use crate::domain::athlete::Sex;
use crate::domain::best_efforts::DistanceKey;
use crate::domain::{AthleteId, Sport};
use crate::leaderboards::global_query::{place_key, AgeGroup, BoardQuery, DateRange};
use crate::store::best_efforts::{BoardAthlete, BoardEffort};

/// Sets up to this size are a sorted vector (a B-tree's node is larger
/// than most city boards ever get).
const SMALL_MAX: usize = 256;

/// An ordered set of `u64` with rank and select.
#[derive(Debug, Clone)]
pub enum RankSet {
    Small(Vec<u64>),
    Big(indexset::BTreeSet<u64>),
}

impl Default for RankSet {
    fn default() -> Self {
        RankSet::Small(Vec::new())
    }
}

impl RankSet {
    /// From sorted, distinct keys.
    fn from_sorted(keys: Vec<u64>) -> RankSet {
        if keys.len() <= SMALL_MAX {
            RankSet::Small(keys)
        } else {
            RankSet::Big(keys.into_iter().collect())
        }
    }

    pub fn insert(&mut self, k: u64) {
        match self {
            RankSet::Small(v) => {
                if let Err(i) = v.binary_search(&k) {
                    v.insert(i, k);
                }
                if v.len() > SMALL_MAX {
                    *self = RankSet::Big(v.iter().copied().collect());
                }
            }
            RankSet::Big(b) => {
                b.insert(k);
            }
        }
    }

    pub fn remove(&mut self, k: u64) {
        match self {
            RankSet::Small(v) => {
                if let Ok(i) = v.binary_search(&k) {
                    v.remove(i);
                }
            }
            RankSet::Big(b) => {
                b.remove(&k);
                if b.len() < SMALL_MAX / 2 {
                    *self = RankSet::Small(b.iter().copied().collect());
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            RankSet::Small(v) => v.len(),
            RankSet::Big(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many keys are below `k`.
    pub fn count_less(&self, k: u64) -> usize {
        match self {
            RankSet::Small(v) => v.partition_point(|&x| x < k),
            RankSet::Big(b) => b.rank(&k),
        }
    }

    /// The `i`-th key (0-based).
    pub fn get(&self, i: usize) -> Option<u64> {
        match self {
            RankSet::Small(v) => v.get(i).copied(),
            RankSet::Big(b) => b.get_index(i).copied(),
        }
    }
}

/// Whole seconds, as ranked and shown.
pub fn seconds(elapsed_ms: i64) -> u32 {
    ((elapsed_ms + 500) / 1000).clamp(0, i64::from(u32::MAX)) as u32
}

/// A set element: the time first, then the athlete's dense index.
fn key(elapsed_ms: i64, dense: u32) -> u64 {
    (u64::from(seconds(elapsed_ms)) << 32) | u64::from(dense)
}

/// The first key with the same time (for the shared rank).
fn time_floor(k: u64) -> u64 {
    k & !0xffff_ffff
}

/// A place level, by interned name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    World,
    Country(u32),
    State(u32),
    City(u32),
    StateCity(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SetKey {
    place: Place,
    /// 0: any.
    gender: u8,
    /// 0: any; else 1 + the group's index.
    age: u8,
}

fn gender_code(sex: Option<Sex>) -> u8 {
    match sex {
        None => 0,
        Some(Sex::M) => 1,
        Some(Sex::F) => 2,
        Some(Sex::X) => 3,
    }
}

fn age_code(group: Option<AgeGroup>) -> u8 {
    group.map_or(0, |g| {
        1 + AgeGroup::ALL.iter().position(|&a| a == g).unwrap_or(0) as u8
    })
}

/// What the sets need of an athlete's profile (interned places).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Profile {
    gender: u8,
    age: u8,
    country: Option<u32>,
    state: Option<u32>,
    city: Option<u32>,
    state_city: Option<u32>,
}

impl Profile {
    /// Every set the athlete belongs in.
    fn keys(&self) -> impl Iterator<Item = SetKey> + '_ {
        let places = [
            Some(Place::World),
            self.country.map(Place::Country),
            self.state.map(Place::State),
            self.city.map(Place::City),
            self.state_city.map(Place::StateCity),
        ];
        let genders = [Some(0), (self.gender != 0).then_some(self.gender)];
        let ages = [Some(0), (self.age != 0).then_some(self.age)];
        places.into_iter().flatten().flat_map(move |place| {
            genders.into_iter().flatten().flat_map(move |gender| {
                ages.into_iter()
                    .flatten()
                    .map(move |age| SetKey { place, gender, age })
            })
        })
    }
}

#[derive(Debug)]
struct AthleteEntry {
    id: AthleteId,
    name: Box<str>,
    profile: Option<Profile>,
}

/// The athlete table: dense indices (set elements) and profiles.
#[derive(Debug, Default)]
struct Athletes {
    by_id: HashMap<i64, u32>,
    entries: Vec<AthleteEntry>,
    places: HashMap<String, u32>,
}

fn name_of(a: &BoardAthlete) -> String {
    let full = format!("{} {}", a.firstname.trim(), a.lastname.trim());
    let full = full.trim();
    if full.is_empty() {
        a.username.clone()
    } else {
        full.to_string()
    }
}

impl Athletes {
    fn intern(&mut self, key: String) -> u32 {
        let next = self.places.len() as u32;
        *self.places.entry(key).or_insert(next)
    }

    fn profile(&mut self, a: &BoardAthlete, year: i32) -> Profile {
        let country = a.country.as_deref().map(place_key);
        let state = a.state.as_deref().map(place_key);
        let city = a.city.as_deref().map(place_key);
        let mut p = Profile {
            gender: gender_code(a.sex),
            age: age_code(a.birth_year.map(|y| AgeGroup::of(y, year))),
            ..Profile::default()
        };
        if let Some(c) = &country {
            p.country = Some(self.intern(format!("c\u{1f}{c}")));
            if let Some(s) = &state {
                p.state = Some(self.intern(format!("s\u{1f}{c}\u{1f}{s}")));
            }
            if let Some(t) = &city {
                p.city = Some(self.intern(format!("t\u{1f}{c}\u{1f}{t}")));
                if let Some(s) = &state {
                    p.state_city = Some(self.intern(format!("st\u{1f}{c}\u{1f}{s}\u{1f}{t}")));
                }
            }
        }
        p
    }

    /// The place a query names; None when no athlete has it.
    fn place(&self, q: &BoardQuery) -> Option<Place> {
        let look = |k: String| self.places.get(&k).copied();
        let c = q.place.country.as_deref().map(place_key);
        let s = q.place.state.as_deref().map(place_key);
        let t = q.place.city.as_deref().map(place_key);
        match (c, s, t) {
            (None, _, _) => Some(Place::World),
            (Some(c), None, None) => look(format!("c\u{1f}{c}")).map(Place::Country),
            (Some(c), Some(s), None) => look(format!("s\u{1f}{c}\u{1f}{s}")).map(Place::State),
            (Some(c), None, Some(t)) => look(format!("t\u{1f}{c}\u{1f}{t}")).map(Place::City),
            (Some(c), Some(s), Some(t)) => {
                look(format!("st\u{1f}{c}\u{1f}{s}\u{1f}{t}")).map(Place::StateCity)
            }
        }
    }

    /// Sets the athlete's profile (None: gone); answers their dense index
    /// and the profile they had.
    fn set(
        &mut self,
        id: AthleteId,
        athlete: Option<&BoardAthlete>,
        year: i32,
    ) -> (u32, Option<Profile>) {
        let profile = athlete.map(|a| self.profile(a, year));
        let name: Box<str> = athlete.map(name_of).unwrap_or_default().into();
        match self.by_id.get(&id.0) {
            Some(&dense) => {
                let e = &mut self.entries[dense as usize];
                e.name = name;
                (dense, std::mem::replace(&mut e.profile, profile))
            }
            None => {
                let dense = self.entries.len() as u32;
                self.by_id.insert(id.0, dense);
                self.entries.push(AthleteEntry { id, name, profile });
                (dense, None)
            }
        }
    }
}

/// An athlete's best in one range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Best {
    pub elapsed_ms: i64,
    pub moving_ms: i64,
    pub start_ms: i64,
    pub activity_id: i64,
    /// The activity is for friends only: others see the time, not the link.
    pub followers_only: bool,
}

impl Best {
    fn of(e: &BoardEffort) -> Best {
        Best {
            elapsed_ms: e.elapsed_ms,
            moving_ms: e.moving_ms,
            start_ms: e.start_ms,
            activity_id: e.activity_id.0,
            followers_only: e.visibility == Visibility::FollowersOnly,
        }
    }

    /// Faster first; of equal times the earlier.
    fn better_than(&self, other: &Best) -> bool {
        (seconds(self.elapsed_ms), self.start_ms) < (seconds(other.elapsed_ms), other.start_ms)
    }
}

/// One date range's board of a sport and distance.
#[derive(Debug, Default)]
struct Period {
    /// The range's start these entries are for (a new week starts empty).
    start_ms: i64,
    best: HashMap<u32, Best>,
    sets: HashMap<SetKey, RankSet>,
}

impl Period {
    fn new(start_ms: i64) -> Period {
        Period {
            start_ms,
            ..Period::default()
        }
    }

    fn remove(&mut self, dense: u32, profile: Option<Profile>) {
        let Some(old) = self.best.remove(&dense) else {
            return;
        };
        let k = key(old.elapsed_ms, dense);
        for sk in profile.iter().flat_map(Profile::keys) {
            if let Some(set) = self.sets.get_mut(&sk) {
                set.remove(k);
                if set.is_empty() {
                    self.sets.remove(&sk);
                }
            }
        }
    }

    fn insert(&mut self, dense: u32, profile: Profile, best: Best) {
        let k = key(best.elapsed_ms, dense);
        for sk in profile.keys() {
            self.sets.entry(sk).or_default().insert(k);
        }
        self.best.insert(dense, best);
    }
}

/// A sport and distance's boards, one per date range.
#[derive(Debug)]
struct Slot {
    sport: Sport,
    distance: DistanceKey,
    periods: RwLock<[Period; 4]>,
}

/// One entry as answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub rank: usize,
    pub athlete_id: AthleteId,
    pub athlete_name: String,
    pub best: Best,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub entry_count: usize,
    pub entries: Vec<Entry>,
    pub me: Option<Entry>,
}

/// Every board, for one UTC year's age groups.
#[derive(Debug)]
pub struct Boards {
    year: i32,
    athletes: RwLock<Athletes>,
    slots: Vec<Slot>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn starts(now_ms: i64) -> [i64; 4] {
    DateRange::ALL.map(|r| r.start_ms(now_ms))
}

/// Each range's best of the efforts of one sport and distance.
fn bests(
    efforts: &[BoardEffort],
    sport: Sport,
    distance: DistanceKey,
    starts: &[i64; 4],
) -> [Option<Best>; 4] {
    let mut out = [None; 4];
    for e in efforts
        .iter()
        .filter(|e| e.sport == sport && e.distance == distance)
    {
        let b = Best::of(e);
        for (slot, &start) in out.iter_mut().zip(starts) {
            if e.start_ms >= start && slot.is_none_or(|cur: Best| b.better_than(&cur)) {
                *slot = Some(b);
            }
        }
    }
    out
}

impl Boards {
    pub fn new(year: i32, now_ms: i64) -> Boards {
        let starts = starts(now_ms);
        let slots = [Sport::Run, Sport::Ride]
            .into_iter()
            .flat_map(|s| DistanceKey::for_sport(s).iter().map(move |&d| (s, d)))
            .map(|(sport, distance)| Slot {
                sport,
                distance,
                periods: RwLock::new(starts.map(Period::new)),
            })
            .collect();
        Boards {
            year,
            athletes: RwLock::default(),
            slots,
        }
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    fn slot(&self, sport: Sport, distance: DistanceKey) -> Option<&Slot> {
        self.slots
            .iter()
            .find(|s| s.sport == sport && s.distance == distance)
    }

    /// Puts the athlete where their current profile and efforts say (None
    /// profile: the athlete is gone). `efforts` are all their efforts in
    /// activities that are not `only_me`.
    pub fn refresh(
        &self,
        id: AthleteId,
        athlete: Option<&BoardAthlete>,
        efforts: &[BoardEffort],
        now_ms: i64,
    ) {
        let (dense, old, new) = {
            let mut athletes = write(&self.athletes);
            let (dense, old) = athletes.set(id, athlete, self.year);
            let new = athletes.entries[dense as usize].profile;
            (dense, old, new)
        };
        let starts = starts(now_ms);
        for slot in &self.slots {
            let bests = match new {
                Some(_) => bests(efforts, slot.sport, slot.distance, &starts),
                None => [None; 4],
            };
            let mut periods = write(&slot.periods);
            for ((period, &start), best) in periods.iter_mut().zip(&starts).zip(bests) {
                if period.start_ms != start {
                    *period = Period::new(start);
                }
                if old == new && period.best.get(&dense).copied() == best {
                    continue;
                }
                period.remove(dense, old);
                if let (Some(profile), Some(best)) = (new, best) {
                    period.insert(dense, profile, best);
                }
            }
        }
    }

    /// Loads many athletes at once (a rebuild): profiles first, then
    /// `add_effort` for every effort, then `finish`.
    pub fn add_athlete(&self, a: &BoardAthlete) {
        write(&self.athletes).set(a.id, Some(a), self.year);
    }

    /// Counts one effort towards its athlete's bests (a rebuild).
    pub fn add_effort(&self, e: &BoardEffort, now_ms: i64) {
        let Some(dense) = read(&self.athletes).by_id.get(&e.athlete_id.0).copied() else {
            return;
        };
        let Some(slot) = self.slot(e.sport, e.distance) else {
            return;
        };
        let starts = starts(now_ms);
        let mut periods = write(&slot.periods);
        let b = Best::of(e);
        for (period, &start) in periods.iter_mut().zip(&starts) {
            if e.start_ms < start {
                continue;
            }
            let cur = period.best.entry(dense).or_insert(b);
            if b.better_than(cur) {
                *cur = b;
            }
        }
    }

    /// Fills the rank sets from the bests gathered by `add_effort`.
    pub fn finish(&self) {
        let athletes = read(&self.athletes);
        for slot in &self.slots {
            let mut periods = write(&slot.periods);
            for period in periods.iter_mut() {
                let mut sets: HashMap<SetKey, Vec<u64>> = HashMap::new();
                for (&dense, best) in &period.best {
                    let Some(profile) = athletes.entries[dense as usize].profile else {
                        continue;
                    };
                    let k = key(best.elapsed_ms, dense);
                    for sk in profile.keys() {
                        sets.entry(sk).or_default().push(k);
                    }
                }
                period.sets = sets
                    .into_iter()
                    .map(|(sk, mut keys)| {
                        keys.sort_unstable();
                        (sk, RankSet::from_sorted(keys))
                    })
                    .collect();
            }
        }
    }

    /// A page of the board the query names, and the viewer's own entry.
    pub fn query(&self, q: &BoardQuery, viewer: AthleteId, now_ms: i64) -> Answer {
        let empty = Answer {
            entry_count: 0,
            entries: Vec::new(),
            me: None,
        };
        let Some(slot) = self.slot(q.sport, q.distance) else {
            return empty;
        };
        let athletes = read(&self.athletes);
        let Some(place) = athletes.place(q) else {
            return empty;
        };
        let set_key = SetKey {
            place,
            gender: gender_code(q.gender),
            age: age_code(q.age_group),
        };
        let periods = read(&slot.periods);
        let period = &periods[q.range.index()];
        if period.start_ms != q.range.start_ms(now_ms) {
            // Nobody has an effort in this new week (month, year) yet.
            return empty;
        }
        let Some(set) = period.sets.get(&set_key) else {
            return empty;
        };
        let entry = |k: u64| -> Option<Entry> {
            let dense = (k & 0xffff_ffff) as u32;
            let a = athletes.entries.get(dense as usize)?;
            Some(Entry {
                rank: set.count_less(time_floor(k)) + 1,
                athlete_id: a.id,
                athlete_name: a.name.to_string(),
                best: *period.best.get(&dense)?,
            })
        };
        let from = q.offset();
        let to = (from + q.per_page as usize).min(set.len());
        let entries = (from..to)
            .filter_map(|i| set.get(i))
            .filter_map(entry)
            .collect();
        let me = athletes.by_id.get(&viewer.0).and_then(|&dense| {
            let best = period.best.get(&dense)?;
            let k = key(best.elapsed_ms, dense);
            (set.get(set.count_less(k)) == Some(k))
                .then(|| entry(k))
                .flatten()
        });
        Answer {
            entry_count: set.len(),
            entries,
            me,
        }
    }

    /// Entries over every set (memory reports).
    pub fn set_entries(&self) -> usize {
        self.slots
            .iter()
            .map(|s| {
                read(&s.periods)
                    .iter()
                    .flat_map(|p| p.sets.values())
                    .map(RankSet::len)
                    .sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ActivityId;
    use crate::leaderboards::global_query::PlaceFilter;

    const NOW: i64 = 1_717_588_800_000; // Wednesday 2024-06-05 12:00 UTC

    fn athlete(id: i64, sex: Sex, born: i32, country: &str, city: &str) -> BoardAthlete {
        BoardAthlete {
            id: AthleteId(id),
            username: format!("a{id}"),
            firstname: format!("A{id}"),
            lastname: String::new(),
            sex: Some(sex),
            birth_year: Some(born),
            country: Some(country.to_string()),
            state: None,
            city: Some(city.to_string()),
        }
    }

    fn effort(athlete: i64, activity: i64, secs: i64, start_ms: i64) -> BoardEffort {
        BoardEffort {
            activity_id: ActivityId(activity),
            athlete_id: AthleteId(athlete),
            sport: Sport::Run,
            distance: DistanceKey::K5,
            elapsed_ms: secs * 1000,
            moving_ms: secs * 1000,
            start_ms,
            visibility: Visibility::Everyone,
        }
    }

    fn query(range: DateRange, country: Option<&str>, gender: Option<Sex>) -> BoardQuery {
        BoardQuery {
            sport: Sport::Run,
            distance: DistanceKey::K5,
            range,
            place: PlaceFilter {
                country: country.map(str::to_string),
                ..PlaceFilter::default()
            },
            gender,
            age_group: None,
            page: 1,
            per_page: 10,
        }
    }

    fn ranks(a: &Answer) -> Vec<(i64, usize)> {
        a.entries.iter().map(|e| (e.athlete_id.0, e.rank)).collect()
    }

    #[test]
    fn ranks_ties_filters_and_ranges() {
        let b = Boards::new(2024, NOW);
        let old = NOW - 40 * 86_400_000;
        let people = [
            (
                1,
                Sex::F,
                1990,
                "Norway",
                "Oslo",
                vec![
                    effort(1, 10, 1300, NOW - 3_600_000),
                    effort(1, 11, 1200, old),
                ],
            ),
            (
                2,
                Sex::M,
                1990,
                "Norway",
                "Bergen",
                vec![effort(2, 20, 1250, NOW - 7_200_000)],
            ),
            (
                3,
                Sex::F,
                1960,
                "Sweden",
                "Lund",
                vec![effort(3, 30, 1250, old)],
            ),
            (4, Sex::M, 2000, "norway ", "Oslo", vec![]),
        ];
        for (id, sex, born, country, city, efforts) in &people {
            b.refresh(
                AthleteId(*id),
                Some(&athlete(*id, *sex, *born, country, city)),
                efforts,
                NOW,
            );
        }
        let all = b.query(&query(DateRange::All, None, None), AthleteId(4), NOW);
        assert_eq!(ranks(&all), [(1, 1), (2, 2), (3, 2)]);
        assert_eq!((all.entry_count, all.me.clone()), (3, None));
        let week = b.query(&query(DateRange::ThisWeek, None, None), AthleteId(1), NOW);
        assert_eq!(ranks(&week), [(2, 1), (1, 2)]);
        assert_eq!(week.me.unwrap().best.activity_id, 10);
        let norway = b.query(
            &query(DateRange::All, Some(" NORWAY"), None),
            AthleteId(2),
            NOW,
        );
        assert_eq!(ranks(&norway), [(1, 1), (2, 2)]);
        assert_eq!(norway.me.unwrap().rank, 2);
        let women = b.query(
            &query(DateRange::All, None, Some(Sex::F)),
            AthleteId(2),
            NOW,
        );
        assert_eq!((ranks(&women), women.me), (vec![(1, 1), (3, 2)], None));
        let nowhere = b.query(
            &query(DateRange::All, Some("Chile"), None),
            AthleteId(1),
            NOW,
        );
        assert_eq!(nowhere.entry_count, 0);

        // A profile change moves athlete 2 to Sweden; a deletion of their
        // effort takes them off.
        b.refresh(
            AthleteId(2),
            Some(&athlete(2, Sex::M, 1990, "Sweden", "Lund")),
            &people[1].5,
            NOW,
        );
        let sweden = b.query(
            &query(DateRange::All, Some("Sweden"), None),
            AthleteId(2),
            NOW,
        );
        assert_eq!(ranks(&sweden), [(2, 1), (3, 1)]);
        let norway = b.query(
            &query(DateRange::All, Some("Norway"), None),
            AthleteId(2),
            NOW,
        );
        assert_eq!((ranks(&norway), norway.me), (vec![(1, 1)], None));
        b.refresh(
            AthleteId(2),
            Some(&athlete(2, Sex::M, 1990, "Sweden", "Lund")),
            &[],
            NOW,
        );
        let all = b.query(&query(DateRange::All, None, None), AthleteId(2), NOW);
        assert_eq!(ranks(&all), [(1, 1), (3, 2)]);

        // Next week's board starts empty.
        let later = NOW + 7 * 86_400_000;
        assert_eq!(
            b.query(&query(DateRange::ThisWeek, None, None), AthleteId(1), later)
                .entry_count,
            0
        );
    }

    #[test]
    fn a_rebuild_matches_refreshes_and_large_sets_page() {
        let one = Boards::new(2024, NOW);
        let bulk = Boards::new(2024, NOW);
        let mut all = Vec::new();
        for id in 0..2_000i64 {
            let a = athlete(
                id,
                if id % 2 == 0 { Sex::F } else { Sex::M },
                1950 + (id % 50) as i32,
                "Norway",
                if id % 3 == 0 { "Oslo" } else { "Bergen" },
            );
            let efforts = vec![
                effort(
                    id,
                    id * 2,
                    1000 + (id * 7919) % 1500,
                    NOW - (id % 20) * 86_400_000,
                ),
                effort(
                    id,
                    id * 2 + 1,
                    1000 + (id * 104_729) % 1500,
                    NOW - (id % 400) * 86_400_000,
                ),
            ];
            one.refresh(AthleteId(id), Some(&a), &efforts, NOW);
            bulk.add_athlete(&a);
            all.push((a, efforts));
        }
        for (_, efforts) in &all {
            for e in efforts {
                bulk.add_effort(e, NOW);
            }
        }
        bulk.finish();
        assert_eq!(one.set_entries(), bulk.set_entries());
        for range in DateRange::ALL {
            for gender in [None, Some(Sex::F)] {
                let mut q = query(range, Some("Norway"), gender);
                q.place.city = Some("Oslo".to_string());
                for page in [1, 3, 40] {
                    q.page = page;
                    let a = one.query(&q, AthleteId(33), NOW);
                    assert_eq!(a, bulk.query(&q, AthleteId(33), NOW));
                    // Independent ranks: 1 + those strictly faster.
                    for e in &a.entries {
                        let t = seconds(e.best.elapsed_ms);
                        let faster = all
                            .iter()
                            .filter(|(p, _)| {
                                p.city.as_deref() == Some("Oslo")
                                    && (gender.is_none() || p.sex == gender)
                            })
                            .filter_map(|(_, es)| {
                                es.iter()
                                    .filter(|x| x.start_ms >= range.start_ms(NOW))
                                    .map(|x| seconds(x.elapsed_ms))
                                    .min()
                            })
                            .filter(|&s| s < t)
                            .count();
                        assert_eq!(e.rank, faster + 1);
                    }
                }
            }
        }
    }
}
