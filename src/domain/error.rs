//! Validation errors for parsed domain values. Each names the field and a
//! machine-readable code so the API can report it in Strava's error shape.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {code}")]
pub struct DomainError {
    pub field: &'static str,
    pub code: &'static str,
}

impl DomainError {
    pub const fn new(field: &'static str, code: &'static str) -> Self {
        Self { field, code }
    }
    pub const fn invalid(field: &'static str) -> Self {
        Self::new(field, "invalid")
    }
    pub const fn missing(field: &'static str) -> Self {
        Self::new(field, "missing")
    }
}
