//! Free text from clients (names, places, activity titles): trimmed, bounded,
//! and free of control characters. NUL in particular: Postgres refuses it in
//! `TEXT`, so letting it through would turn a bad input into a 500 on one
//! backend only.

use super::DomainError;

/// The code for text holding a control character (NUL, escape, …).
pub const INVALID_CHARACTER: &str = "invalid_character";

/// Control characters other than tab and line breaks are not text.
fn is_forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Trimmed text of at most `max_chars` characters; `None` when blank.
pub fn optional(
    value: Option<&str>,
    field: &'static str,
    max_chars: usize,
) -> Result<Option<String>, DomainError> {
    let Some(value) = value.map(str::trim) else {
        return Ok(None);
    };
    if value.chars().any(is_forbidden) {
        return Err(DomainError::new(field, INVALID_CHARACTER));
    }
    if value.chars().count() > max_chars {
        return Err(DomainError::new(field, "too_long"));
    }
    Ok((!value.is_empty()).then(|| value.to_string()))
}

/// Longest activity name, in characters.
pub const MAX_ACTIVITY_NAME_LEN: usize = 255;
/// Longest client-chosen `external_id`, in bytes.
pub const MAX_EXTERNAL_ID_LEN: usize = 255;

/// An activity name as sent: absent is fine, blank is not.
pub fn activity_name(value: Option<&str>) -> Result<Option<String>, DomainError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(DomainError::new("name", "blank")),
        other => optional(other, "name", MAX_ACTIVITY_NAME_LEN),
    }
}

/// A client's own id for an activity or upload; blank counts as absent only
/// where `blank_is_absent` (upload forms send empty fields).
pub fn external_id(
    value: Option<&str>,
    blank_is_absent: bool,
) -> Result<Option<String>, DomainError> {
    let field = "external_id";
    match value.map(str::trim) {
        None => Ok(None),
        Some("") if blank_is_absent => Ok(None),
        Some(v) if v.is_empty() || v.len() > MAX_EXTERNAL_ID_LEN => {
            Err(DomainError::invalid(field))
        }
        Some(v) => optional(Some(v), field, MAX_EXTERNAL_ID_LEN),
    }
}

/// Text that came from a file rather than a form (a GPX `<name>`): the file
/// is otherwise fine, so forbidden characters are dropped instead of refused,
/// and the result is cut to `max_chars`.
pub fn cleaned(value: &str, max_chars: usize) -> String {
    value
        .chars()
        .filter(|c| !is_forbidden(*c))
        .take(max_chars)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_bounds_and_blanks() {
        assert_eq!(optional(None, "city", 5), Ok(None));
        assert_eq!(optional(Some("  "), "city", 5), Ok(None));
        assert_eq!(optional(Some(" Oslo "), "city", 5), Ok(Some("Oslo".into())));
        assert_eq!(
            optional(Some("Bergen"), "city", 5),
            Err(DomainError::new("city", "too_long"))
        );
    }

    #[test]
    fn refuses_nul_and_control_characters() {
        for bad in ["a\0b", "\0", "x\u{1b}[31m", "a\u{7f}"] {
            assert_eq!(
                optional(Some(bad), "name", 100),
                Err(DomainError::new("name", INVALID_CHARACTER)),
                "{bad:?}"
            );
        }
        assert_eq!(
            optional(Some("two\nlines\tand tab"), "name", 100),
            Ok(Some("two\nlines\tand tab".into()))
        );
        assert_eq!(
            optional(Some("Zürich ☀"), "name", 100),
            Ok(Some("Zürich ☀".into()))
        );
    }

    #[test]
    fn activity_names_and_external_ids() {
        assert_eq!(activity_name(None), Ok(None));
        assert_eq!(
            activity_name(Some(" ")),
            Err(DomainError::new("name", "blank"))
        );
        assert_eq!(
            activity_name(Some("Ride\0")),
            Err(DomainError::new("name", INVALID_CHARACTER))
        );
        assert_eq!(external_id(Some(""), true), Ok(None));
        assert_eq!(
            external_id(Some(""), false),
            Err(DomainError::invalid("external_id"))
        );
        assert_eq!(
            external_id(Some("a\0"), false),
            Err(DomainError::new("external_id", INVALID_CHARACTER))
        );
        assert_eq!(external_id(Some(" x1 "), false), Ok(Some("x1".into())));
    }

    #[test]
    fn cleans_imported_text() {
        assert_eq!(cleaned(" Morning\0 ride\u{1} ", 100), "Morning ride");
        assert_eq!(cleaned("abcdef", 3), "abc");
    }
}
