//! A GPS fix: one parsed, validated position sample.

use serde::{Deserialize, Serialize};

use super::DomainError;

/// How far into the future a fix's timestamp may be before it is rejected
/// (device clocks drift; a minute is generous).
pub const MAX_FUTURE_SKEW_MS: i64 = 60_000;

/// A validated position sample. Timestamps are epoch milliseconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub t_ms: i64,
    pub lat: f64,
    pub lng: f64,
    /// Altitude in metres above sea level.
    pub alt: Option<f32>,
    /// Horizontal accuracy (1-sigma radius) in metres.
    pub accuracy: Option<f32>,
    /// Device-reported speed in m/s.
    pub speed: Option<f32>,
    pub heartrate: Option<u8>,
    pub cadence: Option<u8>,
    pub power: Option<u16>,
}

/// A timestamp as sent by clients: RFC 3339 text or epoch milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawTime {
    Millis(f64),
    Text(String),
}

impl RawTime {
    pub fn to_millis(&self) -> Result<i64, DomainError> {
        match self {
            RawTime::Millis(ms) if ms.is_finite() && ms.fract() == 0.0 && ms.abs() < 1e15 => {
                Ok(*ms as i64)
            }
            RawTime::Millis(_) => Err(DomainError::invalid("t")),
            RawTime::Text(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| d.timestamp_millis())
                .map_err(|_| DomainError::invalid("t")),
        }
    }
}

/// A fix as it arrives over the API, before validation.
#[derive(Debug, Clone, Deserialize)]
pub struct RawFix {
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub t: Option<RawTime>,
    pub alt: Option<f64>,
    pub accuracy: Option<f64>,
    pub speed: Option<f64>,
    pub heartrate: Option<f64>,
    pub cadence: Option<f64>,
    pub power: Option<f64>,
}

fn optional_in_range(
    value: Option<f64>,
    field: &'static str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, DomainError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && (min..=max).contains(&v) => Ok(Some(v)),
        Some(_) => Err(DomainError::invalid(field)),
    }
}

impl Fix {
    /// Validates a raw fix. `now_ms` bounds how far in the future it may be.
    pub fn parse(raw: &RawFix, now_ms: i64) -> Result<Fix, DomainError> {
        let lat = raw.lat.ok_or(DomainError::missing("lat"))?;
        let lng = raw.lng.ok_or(DomainError::missing("lng"))?;
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(DomainError::invalid("lat"));
        }
        if !lng.is_finite() || !(-180.0..=180.0).contains(&lng) {
            return Err(DomainError::invalid("lng"));
        }
        let t_ms = raw
            .t
            .as_ref()
            .ok_or(DomainError::missing("t"))?
            .to_millis()?;
        if t_ms > now_ms + MAX_FUTURE_SKEW_MS {
            return Err(DomainError::new("t", "future"));
        }
        // Before 2000-01-01: a device with no clock fix yet.
        if t_ms < 946_684_800_000 {
            return Err(DomainError::invalid("t"));
        }
        let alt = optional_in_range(raw.alt, "alt", -1_000.0, 10_000.0)?;
        let accuracy = optional_in_range(raw.accuracy, "accuracy", 0.0, 100_000.0)?;
        let speed = optional_in_range(raw.speed, "speed", 0.0, 200.0)?;
        let heartrate = optional_in_range(raw.heartrate, "heartrate", 0.0, 255.0)?;
        let cadence = optional_in_range(raw.cadence, "cadence", 0.0, 255.0)?;
        let power = optional_in_range(raw.power, "power", 0.0, 65_535.0)?;
        Ok(Fix {
            t_ms,
            lat,
            lng,
            alt: alt.map(|v| v as f32),
            accuracy: accuracy.map(|v| v as f32),
            speed: speed.map(|v| v as f32),
            heartrate: heartrate.map(|v| v as u8),
            cadence: cadence.map(|v| v as u8),
            power: power.map(|v| v as u16),
        })
    }

    /// A fix from trusted decoded file data (already typed); still range-checked.
    pub fn new(t_ms: i64, lat: f64, lng: f64) -> Fix {
        Fix {
            t_ms,
            lat,
            lng,
            alt: None,
            accuracy: None,
            speed: None,
            heartrate: None,
            cadence: None,
            power: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> RawFix {
        serde_json::from_str(json).unwrap()
    }

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn parses_rfc3339_and_millis() {
        let a = Fix::parse(
            &raw(r#"{"lat":1.5,"lng":2.5,"t":"2023-11-14T22:13:20Z"}"#),
            NOW,
        )
        .unwrap();
        let b = Fix::parse(&raw(r#"{"lat":1.5,"lng":2.5,"t":1700000000000}"#), NOW).unwrap();
        assert_eq!(a.t_ms, 1_700_000_000_000);
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_out_of_range_and_future() {
        assert_eq!(
            Fix::parse(&raw(r#"{"lat":91,"lng":0,"t":1700000000000}"#), NOW),
            Err(DomainError::invalid("lat"))
        );
        assert_eq!(
            Fix::parse(&raw(r#"{"lat":0,"lng":-180.5,"t":1700000000000}"#), NOW),
            Err(DomainError::invalid("lng"))
        );
        assert_eq!(
            Fix::parse(&raw(r#"{"lat":0,"lng":0,"t":1700000061000}"#), NOW),
            Err(DomainError::new("t", "future"))
        );
        assert!(Fix::parse(&raw(r#"{"lat":0,"lng":0,"t":1700000059000}"#), NOW).is_ok());
        assert_eq!(
            Fix::parse(&raw(r#"{"lat":0,"lng":0}"#), NOW),
            Err(DomainError::missing("t"))
        );
    }
}

/// Most fixes accepted in one request or WebSocket frame.
pub const MAX_FIXES_PER_BATCH: usize = 10_000;

/// `{location: FIX}` or `{locations: [FIX, ...]}`.
#[derive(Debug, Deserialize)]
pub struct RawFixBatch {
    pub location: Option<RawFix>,
    pub locations: Option<Vec<RawFix>>,
}

/// A fix refused by validation: its index in the batch and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub index: usize,
    pub field: &'static str,
    pub code: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("more than {MAX_FIXES_PER_BATCH} fixes")]
    TooMany,
    #[error("no location or locations")]
    Empty,
}

impl RawFixBatch {
    /// Validates each fix; invalid ones are reported by index, not fatal.
    pub fn parse(self, now_ms: i64) -> Result<(Vec<Fix>, Vec<Rejected>), BatchError> {
        let raw: Vec<RawFix> = match (self.location, self.locations) {
            (Some(one), None) => vec![one],
            (None, Some(many)) if !many.is_empty() => many,
            (Some(one), Some(mut many)) => {
                many.insert(0, one);
                many
            }
            _ => return Err(BatchError::Empty),
        };
        if raw.len() > MAX_FIXES_PER_BATCH {
            return Err(BatchError::TooMany);
        }
        let mut fixes = Vec::with_capacity(raw.len());
        let mut rejected = Vec::new();
        for (index, r) in raw.iter().enumerate() {
            match Fix::parse(r, now_ms) {
                Ok(fix) => fixes.push(fix),
                Err(e) => rejected.push(Rejected {
                    index,
                    field: e.field,
                    code: e.code,
                }),
            }
        }
        Ok((fixes, rejected))
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    #[test]
    fn batches_report_rejects_by_index() {
        let now = 1_700_000_000_000;
        let batch: RawFixBatch = serde_json::from_str(
            r#"{"locations":[{"lat":1,"lng":1,"t":1700000000000},{"lat":100,"lng":1,"t":1700000000000},{"lat":1,"lng":1}]}"#,
        )
        .unwrap();
        let (fixes, rejected) = batch.parse(now).unwrap();
        assert_eq!(fixes.len(), 1);
        assert_eq!(
            rejected,
            vec![
                Rejected {
                    index: 1,
                    field: "lat",
                    code: "invalid"
                },
                Rejected {
                    index: 2,
                    field: "t",
                    code: "missing"
                }
            ]
        );
        let empty: RawFixBatch = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.parse(now), Err(BatchError::Empty));
    }
}
