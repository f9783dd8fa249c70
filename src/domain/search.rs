//! Athlete search: the query and its page, parsed. Matching is a
//! case-insensitive substring of the user name, first name, last name or
//! "first last", prefix matches of the user name first.

use super::DomainError;

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 64;
pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 50;
/// Deepest page: a search is for finding someone, not for listing everyone.
pub const MAX_PAGE: u32 = 100;

/// A parsed search: `LIKE` patterns over lower-cased text, with `\` as
/// the escape character (so `%` and `_` in the query match themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthleteSearch {
    /// `%query%`.
    pub contains: String,
    /// `query%`, ranked first.
    pub prefix: String,
    pub page: u32,
    pub per_page: u32,
}

impl AthleteSearch {
    pub fn parse(
        q: Option<&str>,
        page: Option<u32>,
        per_page: Option<u32>,
    ) -> Result<Self, Vec<DomainError>> {
        let mut errors = Vec::new();
        let q = q.map(str::trim).unwrap_or("");
        if q.is_empty() {
            errors.push(DomainError::missing("q"));
        } else if q.chars().count() > MAX_QUERY_CHARS {
            errors.push(DomainError::new("q", "too_long"));
        } else if q.chars().any(char::is_control) {
            errors.push(DomainError::invalid("q"));
        }
        let page = page.unwrap_or(1);
        if page == 0 || page > MAX_PAGE {
            errors.push(DomainError::invalid("page"));
        }
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if per_page == 0 || per_page > MAX_PER_PAGE {
            errors.push(DomainError::invalid("per_page"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let escaped = escape_like(&q.to_lowercase());
        Ok(AthleteSearch {
            contains: format!("%{escaped}%"),
            prefix: format!("{escaped}%"),
            page,
            per_page,
        })
    }

    /// Rows to skip.
    pub fn offset(&self) -> u32 {
        (self.page - 1) * self.per_page
    }
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_escapes() {
        let s = AthleteSearch::parse(Some("  Ann_B%  "), None, None).unwrap();
        assert_eq!(s.contains, "%ann\\_b\\%%");
        assert_eq!(s.prefix, "ann\\_b\\%%");
        assert_eq!((s.page, s.per_page, s.offset()), (1, DEFAULT_PER_PAGE, 0));
        let s = AthleteSearch::parse(Some("x"), Some(3), Some(10)).unwrap();
        assert_eq!(s.offset(), 20);
    }

    #[test]
    fn refuses_bad_input() {
        let codes = |r: Result<AthleteSearch, Vec<DomainError>>| {
            r.unwrap_err()
                .into_iter()
                .map(|e| format!("{}:{}", e.field, e.code))
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(AthleteSearch::parse(None, None, None)), ["q:missing"]);
        assert_eq!(
            codes(AthleteSearch::parse(Some("   "), Some(0), Some(51))),
            ["q:missing", "page:invalid", "per_page:invalid"]
        );
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        assert_eq!(
            codes(AthleteSearch::parse(Some(&long), None, None)),
            ["q:too_long"]
        );
        assert_eq!(
            codes(AthleteSearch::parse(Some("a\u{0}b"), None, None)),
            ["q:invalid"]
        );
        assert!(AthleteSearch::parse(Some("a"), Some(MAX_PAGE + 1), None).is_err());
    }
}
