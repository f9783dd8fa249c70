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
