//! Keyset pagination for activity lists: newest first by (start, id).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::DomainError;

pub const DEFAULT_PER_PAGE: u32 = 30;
pub const MAX_PER_PAGE: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedMode {
    /// The caller's own activities.
    User,
    /// Friends' activities the caller may see.
    Friends,
    /// Both: the home feed.
    All,
}

impl FeedMode {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "USER" | "user" => Ok(Self::User),
            "FRIENDS" | "friends" => Ok(Self::Friends),
            "ALL" | "all" => Ok(Self::All),
            _ => Err(DomainError::invalid("mode")),
        }
    }
}

/// The position after the last item of a page. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedCursor {
    pub start_ms: i64,
    pub id: i64,
}

impl FeedCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.start_ms, self.id))
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let invalid = || DomainError::invalid("cursor");
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (start, id) = text.split_once(':').ok_or_else(invalid)?;
        Ok(FeedCursor {
            start_ms: start.parse().map_err(|_| invalid())?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

pub fn parse_per_page(value: Option<u32>) -> Result<u32, DomainError> {
    match value {
        None => Ok(DEFAULT_PER_PAGE),
        Some(n) if (1..=MAX_PER_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(DomainError::invalid("per_page")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = FeedCursor {
            start_ms: 1_700_000_000_123,
            id: 42,
        };
        assert_eq!(FeedCursor::parse(&c.encode()), Ok(c));
        assert!(FeedCursor::parse("not base64!").is_err());
        assert!(FeedCursor::parse(&URL_SAFE_NO_PAD.encode("12")).is_err());
    }

    #[test]
    fn per_page_bounds() {
        assert_eq!(parse_per_page(None), Ok(30));
        assert_eq!(parse_per_page(Some(200)), Ok(200));
        assert!(parse_per_page(Some(0)).is_err());
        assert!(parse_per_page(Some(201)).is_err());
    }
}
