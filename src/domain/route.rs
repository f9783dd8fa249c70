//! A live activity's route: fixes sorted by time, one per timestamp, kept
//! in blocks of at most `BLOCK_FIXES`.
//!
//! A node holds very many routes that all grow at once. In one vector, each
//! growth copies the whole route to a new, larger allocation, and the
//! allocator keeps handing out fresh pages for them. In blocks, what is
//! stored is never moved: only the newest block grows, `ROOM_STEP` fixes at
//! a time up to the block size, so the spare room is under `ROOM_STEP`.

use super::Fix;

/// Fixes per block: 256 × 56 bytes, 14 KiB.
pub const BLOCK_FIXES: usize = 256;
/// The newest block grows by this many fixes (1.75 KiB): many routes are
/// short, and a node holds very many.
pub const ROOM_STEP: usize = 32;

/// Full blocks hold exactly `BLOCK_FIXES` fixes each, so the layout follows
/// from the length and two routes with the same fixes are equal. The newest
/// block is kept apart (`tail`), in the route itself: appending touches
/// nothing else.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Route {
    full: Vec<Vec<Fix>>,
    tail: Vec<Fix>,
}

impl Route {
    /// A route from fixes already sorted by time, one per timestamp.
    pub fn from_sorted(fixes: &[Fix]) -> Route {
        let mut route = Route::default();
        route.append(fixes);
        route
    }

    pub fn len(&self) -> usize {
        self.full.len() * BLOCK_FIXES + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.full.is_empty() && self.tail.is_empty()
    }

    pub fn first(&self) -> Option<&Fix> {
        match self.full.first() {
            Some(block) => block.first(),
            None => self.tail.first(),
        }
    }

    pub fn last(&self) -> Option<&Fix> {
        self.tail.last().or_else(|| self.full.last()?.last())
    }

    /// The time of the last fix, `i64::MIN` when there is none.
    pub fn end_ms(&self) -> i64 {
        self.last().map_or(i64::MIN, |f| f.t_ms)
    }

    pub fn get(&self, index: usize) -> Option<&Fix> {
        match self.full.get(index / BLOCK_FIXES) {
            Some(block) => block.get(index % BLOCK_FIXES),
            None => self
                .tail
                .get(index.checked_sub(self.full.len() * BLOCK_FIXES)?),
        }
    }

    /// Appends fixes that are sorted, one per timestamp, and later than the
    /// route's last (the caller's guarantee).
    pub fn append(&mut self, mut fixes: &[Fix]) {
        while !fixes.is_empty() {
            if self.tail.len() == BLOCK_FIXES {
                self.full.push(std::mem::take(&mut self.tail));
            }
            let take = fixes.len().min(BLOCK_FIXES - self.tail.len());
            if self.tail.capacity() - self.tail.len() < take {
                let wanted = (self.tail.len() + take)
                    .next_multiple_of(ROOM_STEP)
                    .min(BLOCK_FIXES);
                self.tail.reserve_exact(wanted - self.tail.len());
            }
            self.tail.extend_from_slice(&fixes[..take]);
            fixes = &fixes[take..];
        }
    }

    /// Adds a batch sorted by time, one fix per timestamp, wherever its
    /// fixes fall; a fix at a time the route already holds is left out
    /// (first one wins). Answers the fixes added, in order. Resent fixes
    /// cost a binary search each, and a late fix rewrites only the blocks
    /// from its own on, not the whole route.
    pub fn merge(&mut self, batch: &[Fix]) -> Vec<Fix> {
        let end = self.end_ms();
        let new: Vec<Fix> = batch
            .iter()
            .filter(|f| f.t_ms > end || !self.holds(f.t_ms))
            .copied()
            .collect();
        let older = new.partition_point(|f| f.t_ms < end);
        if older > 0 {
            self.insert_before_end(&new[..older]);
        }
        self.append(&new[older..]);
        new
    }

    /// Whether a fix at `t_ms` is in the route.
    fn holds(&self, t_ms: i64) -> bool {
        let at = self.partition_point(|f| f.t_ms < t_ms);
        self.get(at).is_some_and(|f| f.t_ms == t_ms)
    }

    /// Inserts sorted fixes at times the route does not hold, all before
    /// its end: the blocks before the first of them stay as they are.
    fn insert_before_end(&mut self, fixes: &[Fix]) {
        let Some(first) = fixes.first() else {
            return;
        };
        let keep = self
            .full
            .partition_point(|b| b.last().is_some_and(|f| f.t_ms < first.t_ms));
        let moved = (self.full.len() - keep) * BLOCK_FIXES + self.tail.len();
        let mut old = Vec::with_capacity(moved);
        for block in self.full.drain(keep..) {
            old.extend_from_slice(&block);
        }
        old.append(&mut self.tail);
        let mut merged = Vec::with_capacity(moved + fixes.len());
        let mut old = old.into_iter().peekable();
        for fix in fixes {
            while let Some(o) = old.next_if(|o| o.t_ms < fix.t_ms) {
                merged.push(o);
            }
            merged.push(*fix);
        }
        merged.extend(old);
        self.append(&merged);
    }

    /// The index of the first fix for which `pred` is false (`pred` must be
    /// true for a prefix of the route and false after), as
    /// `slice::partition_point`.
    pub fn partition_point(&self, pred: impl Fn(&Fix) -> bool) -> usize {
        let block = self.full.partition_point(|b| b.last().is_some_and(&pred));
        match self.full.get(block) {
            Some(b) => block * BLOCK_FIXES + b.partition_point(&pred),
            None => block * BLOCK_FIXES + self.tail.partition_point(&pred),
        }
    }

    /// The fixes with indexes in `from..to` (clamped to the route).
    pub fn range(&self, from: usize, to: usize) -> impl Iterator<Item = &Fix> + '_ {
        let to = to.min(self.len());
        let from = from.min(to);
        let first = from / BLOCK_FIXES;
        self.full
            .iter()
            .skip(first)
            .flatten()
            .chain(self.tail.iter())
            .skip(from - first * BLOCK_FIXES)
            .take(to - from)
    }

    pub fn to_vec(&self) -> Vec<Fix> {
        let mut out = Vec::with_capacity(self.len());
        for block in &self.full {
            out.extend_from_slice(block);
        }
        out.extend_from_slice(&self.tail);
        out
    }

    /// Frees the newest block's spare room.
    pub fn shrink_to_fit(&mut self) {
        self.tail.shrink_to_fit();
        self.full.shrink_to_fit();
    }

    /// Fixes the route has room for without allocating.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.full.len() * BLOCK_FIXES + self.tail.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixes(from: i64, n: i64) -> Vec<Fix> {
        (from..from + n)
            .map(|i| Fix::new(i * 1000, 59.9 + i as f64 * 1e-5, 10.7))
            .collect()
    }

    #[test]
    fn appends_in_blocks_and_reads_back_in_order() {
        let all = fixes(0, 1_000);
        let mut route = Route::default();
        // Uneven pieces, across block boundaries.
        for piece in all.chunks(37) {
            route.append(piece);
        }
        assert_eq!(route.len(), 1_000);
        assert_eq!(route.to_vec(), all);
        assert_eq!(route.range(0, 1_000).copied().collect::<Vec<_>>(), all);
        assert_eq!(route.first(), all.first());
        assert_eq!(route.last(), all.last());
        assert_eq!(route.get(256), Some(&all[256]));
        assert_eq!(route.get(1_000), None);
        assert_eq!(route, Route::from_sorted(&all));
        // Full blocks are exact; the newest one has less than a step spare.
        assert_eq!(route.full.len(), 3);
        assert!(route.full.iter().all(|b| b.capacity() == BLOCK_FIXES));
        assert!(route.capacity() - route.len() < ROOM_STEP);
        route.shrink_to_fit();
        assert_eq!(route.capacity(), 1_000);
    }

    /// The reference: a sorted union where the first fix of a time wins.
    fn union(route: &[Fix], batch: &[Fix]) -> Vec<Fix> {
        let mut by_time = std::collections::BTreeMap::new();
        for fix in route.iter().chain(batch) {
            by_time.entry(fix.t_ms).or_insert(*fix);
        }
        by_time.into_values().collect()
    }

    #[test]
    fn merge_inserts_late_fixes_anywhere_and_leaves_out_held_times() {
        // Every other second over 1,200 s: 600 fixes, three blocks and a tail.
        let even: Vec<Fix> = fixes(0, 1_200).into_iter().step_by(2).collect();
        let moved = |f: &Fix| Fix::new(f.t_ms, f.lat + 1.0, f.lng);
        let batches: Vec<Vec<Fix>> = vec![
            Vec::new(),
            // Late fixes in the first block, across a boundary, in the tail,
            // and after the end, mixed with resent ones (changed, so a wrong
            // winner shows).
            fixes(1, 3).iter().map(moved).collect(),
            fixes(509, 6).iter().map(moved).collect(),
            fixes(1_190, 20).iter().map(moved).collect(),
            vec![Fix::new(-5_000, 59.0, 10.0)],
        ];
        for batch in batches {
            let mut route = Route::from_sorted(&even);
            let added = route.merge(&batch);
            let expected = union(&even, &batch);
            assert_eq!(route.to_vec(), expected);
            assert_eq!(route, Route::from_sorted(&expected), "blocks stay exact");
            let held: std::collections::HashSet<i64> = even.iter().map(|f| f.t_ms).collect();
            let new: Vec<Fix> = batch
                .iter()
                .filter(|f| !held.contains(&f.t_ms))
                .copied()
                .collect();
            assert_eq!(added, new);
        }
    }

    #[test]
    fn resent_fixes_move_nothing() {
        let all = fixes(0, 600);
        let mut route = Route::from_sorted(&all);
        let (full, tail) = (route.full[0].as_ptr(), route.tail.as_ptr());
        let resent: Vec<Fix> = all[100..110].iter().chain(&all[590..]).copied().collect();
        assert!(route.merge(&resent).is_empty());
        assert_eq!(route.to_vec(), all);
        assert_eq!((route.full[0].as_ptr(), route.tail.as_ptr()), (full, tail));
        // A late fix in the tail rewrites the tail, not the full blocks.
        let late = Fix::new(599_500, 59.0, 10.0);
        assert_eq!(route.merge(&[late]), vec![late]);
        assert_eq!(route.full[0].as_ptr(), full);
        assert_eq!(route.len(), 601);
    }

    #[test]
    fn partition_point_and_range_match_a_slice() {
        let all = fixes(0, 700);
        let route = Route::from_sorted(&all);
        for t in [-1, 0, 1, 255, 256, 257, 511, 512, 699, 700, 5_000] {
            let pred = |f: &Fix| f.t_ms < t * 1000;
            assert_eq!(
                route.partition_point(pred),
                all.partition_point(pred),
                "{t}"
            );
        }
        for (from, to) in [
            (0, 0),
            (0, 700),
            (250, 260),
            (255, 513),
            (690, 900),
            (800, 900),
        ] {
            let expected: Vec<Fix> = all[from.min(700)..to.min(700)].to_vec();
            let got: Vec<Fix> = route.range(from, to).copied().collect();
            assert_eq!(got, expected, "{from}..{to}");
        }
        assert_eq!(Route::default().partition_point(|_| true), 0);
        assert_eq!(Route::default().range(0, 5).count(), 0);
    }
}
