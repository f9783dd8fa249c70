//! Compact binary encoding of route chunks (postcard: varint, serde).

use crate::domain::Fix;

use super::StoreError;

pub fn encode(fixes: &[Fix]) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(fixes).map_err(|e| StoreError::decode("route", e))
}

pub fn decode(bytes: &[u8]) -> Result<Vec<Fix>, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::decode("route", e))
}

/// Sorts by time and keeps the first fix of each timestamp.
pub fn merge_chunks(chunks: impl IntoIterator<Item = Vec<Fix>>) -> Vec<Fix> {
    let mut all: Vec<Fix> = chunks.into_iter().flatten().collect();
    all.sort_by_key(|f| f.t_ms);
    all.dedup_by_key(|f| f.t_ms);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_merges() {
        let mut a = Fix::new(1_000, 59.9, 10.7);
        a.alt = Some(12.5);
        a.heartrate = Some(150);
        let b = Fix::new(2_000, 59.91, 10.71);
        let bytes = encode(&[a, b]).unwrap();
        assert_eq!(decode(&bytes).unwrap(), vec![a, b]);
        assert_eq!(merge_chunks([vec![b], vec![a, b]]), vec![a, b]);
        assert!(decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
