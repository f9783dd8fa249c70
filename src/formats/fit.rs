//! Garmin FIT import via `fitparser`.

use fitparser::profile::MesgNum;
use fitparser::{FitDataRecord, Value};

use super::{
    looks_like_fit, no_panic, sport_from_name, DeviceTotals, FormatError, ParsedActivity, Session,
};
use crate::domain::Fix;

/// FIT stores angles as semicircles: 2^31 of them per 180 degrees.
const DEG_PER_SEMICIRCLE: f64 = 180.0 / 2_147_483_648.0;

fn num(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Byte(x) | Value::Enum(x) | Value::UInt8(x) | Value::UInt8z(x) => f64::from(*x),
        Value::SInt8(x) => f64::from(*x),
        Value::SInt16(x) => f64::from(*x),
        Value::UInt16(x) | Value::UInt16z(x) => f64::from(*x),
        Value::SInt32(x) => f64::from(*x),
        Value::UInt32(x) | Value::UInt32z(x) => f64::from(*x),
        Value::SInt64(x) => *x as f64,
        Value::UInt64(x) | Value::UInt64z(x) => *x as f64,
        Value::Float32(x) => f64::from(*x),
        Value::Float64(x) => *x,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// Field lookup by profile name; a message holds a few dozen fields.
struct Msg<'a>(&'a FitDataRecord);

impl Msg<'_> {
    fn value(&self, name: &str) -> Option<&Value> {
        self.0
            .fields()
            .iter()
            .find(|f| f.name() == name)
            .map(|f| f.value())
    }
    fn num(&self, name: &str) -> Option<f64> {
        self.value(name).and_then(num)
    }
    fn time_ms(&self, name: &str) -> Option<i64> {
        match self.value(name)? {
            Value::Timestamp(t) => Some(t.timestamp_millis()),
            _ => None,
        }
    }
    fn text(&self, name: &str) -> Option<&str> {
        match self.value(name)? {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }
}

fn record_fix(m: &Msg) -> Option<Fix> {
    let t_ms = m.time_ms("timestamp")?;
    let lat = m.num("position_lat")? * DEG_PER_SEMICIRCLE;
    let lng = m.num("position_long")? * DEG_PER_SEMICIRCLE;
    let mut fix = Fix::new(t_ms, lat, lng);
    fix.alt = m
        .num("enhanced_altitude")
        .or_else(|| m.num("altitude"))
        .map(|a| a as f32);
    fix.speed = m
        .num("enhanced_speed")
        .or_else(|| m.num("speed"))
        .filter(|s| *s >= 0.0)
        .map(|s| s as f32);
    fix.heartrate = m.num("heart_rate").map(|v| v.clamp(0.0, 255.0) as u8);
    fix.cadence = m.num("cadence").map(|v| v.clamp(0.0, 255.0) as u8);
    fix.power = m.num("power").map(|v| v.clamp(0.0, 65_535.0) as u16);
    Some(fix)
}

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedActivity, FormatError> {
    if !looks_like_fit(bytes) {
        return Err(FormatError::WrongType { expected: "FIT" });
    }
    let records = no_panic("FIT", || {
        fitparser::from_bytes(bytes).map_err(|e| FormatError::Corrupt(e.to_string()))
    })?;

    let mut fixes = Vec::new();
    let mut sessions = Vec::new();
    let mut pauses = Vec::new();
    let mut stopped_at: Option<i64> = None;
    let mut sport_msg: Option<String> = None;
    let mut name = None;
    for rec in &records {
        let m = Msg(rec);
        match rec.kind() {
            MesgNum::Record => fixes.extend(record_fix(&m)),
            MesgNum::Event if m.text("event") == Some("timer") => {
                let Some(t) = m.time_ms("timestamp") else {
                    continue;
                };
                match m.text("event_type") {
                    Some("start") => {
                        if let Some(s) = stopped_at.take() {
                            if t > s {
                                pauses.push((s, t));
                            }
                        }
                    }
                    Some(kind) if kind.starts_with("stop") => {
                        stopped_at.get_or_insert(t);
                    }
                    _ => {}
                }
            }
            MesgNum::Session => {
                let start = m.time_ms("start_time");
                let end = m.time_ms("timestamp");
                let elapsed = m.num("total_elapsed_time");
                let (Some(start_ms), Some(end_ms)) = (
                    start,
                    end.or_else(|| start.zip(elapsed).map(|(s, e)| s + (e * 1e3) as i64)),
                ) else {
                    continue;
                };
                let sport_name = m.text("sport").map(str::to_owned);
                sessions.push(Session {
                    sport: sport_name.as_deref().and_then(sport_from_name),
                    sport_name,
                    start_ms,
                    end_ms,
                    totals: DeviceTotals {
                        distance: m.num("total_distance"),
                        timer_time: m.num("total_timer_time"),
                        elapsed_time: elapsed,
                        moving_time: m.num("total_moving_time"),
                    },
                });
            }
            MesgNum::Sport => {
                sport_msg = m.text("sport").map(str::to_owned);
                name = m.text("name").map(str::to_owned).filter(|n| !n.is_empty());
            }
            _ => {}
        }
    }

    // A multisport file is labelled by its longest session.
    let main = sessions.iter().max_by(|a, b| {
        let key = |s: &Session| s.totals.timer_time.unwrap_or(0.0);
        key(a).total_cmp(&key(b))
    });
    let sport = main
        .and_then(|s| s.sport)
        .or_else(|| sport_msg.as_deref().and_then(sport_from_name));
    let sum = |f: fn(&DeviceTotals) -> Option<f64>| -> Option<f64> {
        sessions
            .iter()
            .map(|s| f(&s.totals))
            .reduce(|a, b| Some(a? + b?))
            .flatten()
    };
    let device = DeviceTotals {
        distance: sum(|t| t.distance),
        timer_time: sum(|t| t.timer_time),
        elapsed_time: sum(|t| t.elapsed_time),
        moving_time: sum(|t| t.moving_time),
    };
    Ok(ParsedActivity {
        sport,
        name,
        start_ms: sessions.iter().map(|s| s.start_ms).min(),
        fixes,
        device,
        sessions,
        pauses,
    })
}

#[cfg(test)]
mod tests {
    use crate::domain::Sport;
    use crate::formats::{parse, DataType, FormatError};

    const BIKE: &[u8] = include_bytes!("../../tests/fixtures/recordings/garmin-fenix-5-bike.fit");

    #[test]
    fn parses_fenix_bike() {
        let a = parse(DataType::Fit, BIKE).unwrap();
        assert_eq!(a.sport, Some(Sport::Ride));
        assert_eq!(a.fixes.len(), 19);
        assert!(a.fixes.iter().all(|f| f.heartrate.is_some()));
        assert!((37.0..38.0).contains(&a.fixes[0].lat));
        assert_eq!(a.device.distance, Some(459.52));
        assert_eq!(a.sessions.len(), 1);
        assert!(a.fixes.windows(2).all(|w| w[0].t_ms < w[1].t_ms));
    }

    #[test]
    fn truncated_and_corrupt_fit_is_an_error() {
        for cut in [0, 5, 14, 100, BIKE.len() / 2, BIKE.len() - 1] {
            assert!(parse(DataType::Fit, &BIKE[..cut]).is_err(), "cut {cut}");
        }
        let mut flipped = BIKE.to_vec();
        for i in (20..flipped.len()).step_by(37) {
            flipped[i] ^= 0x5a;
        }
        assert!(parse(DataType::Fit, &flipped).is_err());
    }

    #[test]
    fn gpx_content_is_wrong_type() {
        assert_eq!(
            parse(DataType::Fit, b"<?xml version=\"1.0\"?><gpx></gpx>"),
            Err(FormatError::WrongType { expected: "FIT" })
        );
    }
}
