//! Garmin FIT import via `fitparser`.
//!
//! Record messages (one per sample, nearly every message in a file) are
//! read from fitparser's raw data messages by field number; every other
//! message goes through its profile decoder. The profile decoder allocates
//! a named, scaled field per value, and on records it was 70% of the upload
//! time.

use fitparser::de::{FitDataMessage, FitObject, FitStreamProcessor};
use fitparser::profile::MesgNum;
use fitparser::{FitDataRecord, Value};

use super::{
    looks_like_fit, no_panic, sport_from_name, DeviceTotals, FormatError, ParsedActivity, Session,
};
use crate::domain::Fix;

/// FIT stores angles as semicircles: 2^31 of them per 180 degrees.
const DEG_PER_SEMICIRCLE: f64 = 180.0 / 2_147_483_648.0;

/// FIT time counts seconds from 1989-12-31T00:00:00Z.
const FIT_EPOCH_S: i64 = 631_065_600;

/// The record message and the fields Pacer keeps, with their scale and
/// offset, as the FIT profile (`Profile.xlsx`, message `record`) defines them.
mod record {
    pub const MESG_NUM: u16 = 20;
    pub const TIMESTAMP: u8 = 253;
    pub const POSITION_LAT: u8 = 0;
    pub const POSITION_LONG: u8 = 1;
    /// Metres: raw / 5 - 500, for both altitude fields.
    pub const ALTITUDE: u8 = 2;
    pub const ENHANCED_ALTITUDE: u8 = 78;
    pub const HEART_RATE: u8 = 3;
    pub const CADENCE: u8 = 4;
    /// Metres per second: raw / 1000, for both speed fields.
    pub const SPEED: u8 = 6;
    pub const ENHANCED_SPEED: u8 = 73;
    pub const POWER: u8 = 7;
}

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

/// Resolves each message's time the way fitparser's decoder does: a
/// timestamp field sets it, and a compressed-timestamp header carries the
/// low 5 bits of the seconds, rolling over from the previous time.
#[derive(Default)]
struct Clock {
    last_s: i64,
}

impl Clock {
    fn observe(&mut self, msg: &FitDataMessage) -> Option<i64> {
        if let Some(v) = msg.fields().get(&record::TIMESTAMP) {
            self.last_s = num(v).map_or(0, |s| s as i64);
        } else {
            let offset = i64::from(msg.time_offset()?);
            let mut s = (self.last_s & !31) + offset;
            if offset < self.last_s & 31 {
                s += 32;
            }
            self.last_s = s;
        }
        Some((self.last_s + FIT_EPOCH_S) * 1_000)
    }
}

fn record_fix(fields: &std::collections::HashMap<u8, Value>, t_ms: Option<i64>) -> Option<Fix> {
    let field = |n: u8| fields.get(&n).and_then(num);
    let lat = field(record::POSITION_LAT)? * DEG_PER_SEMICIRCLE;
    let lng = field(record::POSITION_LONG)? * DEG_PER_SEMICIRCLE;
    let mut fix = Fix::new(t_ms?, lat, lng);
    fix.alt = field(record::ENHANCED_ALTITUDE)
        .or_else(|| field(record::ALTITUDE))
        .map(|a| (a / 5.0 - 500.0) as f32);
    fix.speed = field(record::ENHANCED_SPEED)
        .or_else(|| field(record::SPEED))
        .map(|s| s / 1_000.0)
        .filter(|s| *s >= 0.0)
        .map(|s| s as f32);
    fix.heartrate = field(record::HEART_RATE).map(|v| v.clamp(0.0, 255.0) as u8);
    fix.cadence = field(record::CADENCE).map(|v| v.clamp(0.0, 255.0) as u8);
    fix.power = field(record::POWER).map(|v| v.clamp(0.0, 65_535.0) as u16);
    Some(fix)
}

/// Everything read from the file's messages, in file order.
#[derive(Default)]
struct Reader {
    fixes: Vec<Fix>,
    sessions: Vec<Session>,
    pauses: Vec<(i64, i64)>,
    stopped_at: Option<i64>,
    sport_msg: Option<String>,
    name: Option<String>,
}

impl Reader {
    /// A profile-decoded message; `t_ms` is its resolved time.
    fn message(&mut self, rec: &FitDataRecord, t_ms: Option<i64>) {
        let m = Msg(rec);
        match rec.kind() {
            MesgNum::Event if m.text("event") == Some("timer") => {
                let Some(t) = t_ms else { return };
                match m.text("event_type") {
                    Some("start") => {
                        if let Some(s) = self.stopped_at.take() {
                            if t > s {
                                self.pauses.push((s, t));
                            }
                        }
                    }
                    Some(kind) if kind.starts_with("stop") => {
                        self.stopped_at.get_or_insert(t);
                    }
                    _ => {}
                }
            }
            MesgNum::Session => {
                let start = m.time_ms("start_time");
                let elapsed = m.num("total_elapsed_time");
                let (Some(start_ms), Some(end_ms)) = (
                    start,
                    t_ms.or_else(|| start.zip(elapsed).map(|(s, e)| s + (e * 1e3) as i64)),
                ) else {
                    return;
                };
                let sport_name = m.text("sport").map(str::to_owned);
                self.sessions.push(Session {
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
                self.sport_msg = m.text("sport").map(str::to_owned);
                self.name = m.text("name").map(str::to_owned).filter(|n| !n.is_empty());
            }
            _ => {}
        }
    }
}

/// The messages read through the profile decoder. Field descriptions are
/// read by fitparser itself: they define later messages' developer fields.
/// Others (device info, 1 Hz `hr` and `hrv` messages, ...) are skipped.
const PROFILE_DECODED: [MesgNum; 4] = [
    MesgNum::Event,
    MesgNum::Session,
    MesgNum::Sport,
    MesgNum::FieldDescription,
];

fn corrupt(e: fitparser::Error) -> FormatError {
    FormatError::Corrupt(e.to_string())
}

fn read(mut input: &[u8]) -> Result<Reader, FormatError> {
    let mut processor = FitStreamProcessor::new();
    let mut clock = Clock::default();
    let mut reader = Reader::default();
    while !input.is_empty() {
        let (rest, object) = processor.deserialize_next(input).map_err(corrupt)?;
        input = rest;
        match object {
            // The end of one FIT file; chained files start afresh.
            FitObject::Crc(_) => {
                processor.reset();
                clock = Clock::default();
            }
            FitObject::DataMessage(msg) => {
                let t_ms = clock.observe(&msg);
                let kind = msg.global_message_number();
                if kind == record::MESG_NUM {
                    reader.fixes.extend(record_fix(msg.fields(), t_ms));
                } else if PROFILE_DECODED.contains(&MesgNum::from(kind)) {
                    let rec = processor.decode_message(msg).map_err(corrupt)?;
                    reader.message(&rec, t_ms);
                }
            }
            FitObject::Header(_) | FitObject::DefinitionMessage(_) => {}
        }
    }
    Ok(reader)
}

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedActivity, FormatError> {
    if !looks_like_fit(bytes) {
        return Err(FormatError::WrongType { expected: "FIT" });
    }
    let Reader {
        fixes,
        sessions,
        pauses,
        sport_msg,
        name,
        ..
    } = no_panic("FIT", || read(bytes))?;

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
    use super::*;
    use crate::domain::Sport;
    use crate::formats::{parse, DataType};

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

    /// The profile decoder's reading of the records, by field name, as
    /// the raw reading must reproduce it.
    fn profile_fixes(bytes: &[u8]) -> Vec<Fix> {
        let records = fitparser::from_bytes(bytes).unwrap();
        let mut fixes = Vec::new();
        for rec in records.iter().filter(|r| r.kind() == MesgNum::Record) {
            let m = Msg(rec);
            let (Some(t_ms), Some(lat), Some(lng)) = (
                m.time_ms("timestamp"),
                m.num("position_lat"),
                m.num("position_long"),
            ) else {
                continue;
            };
            let mut fix = Fix::new(t_ms, lat * DEG_PER_SEMICIRCLE, lng * DEG_PER_SEMICIRCLE);
            fix.alt = m
                .num("enhanced_altitude")
                .or_else(|| m.num("altitude"))
                .map(|a| a as f32);
            fix.speed = m
                .num("enhanced_speed")
                .or_else(|| m.num("speed"))
                .filter(|s| *s >= 0.0)
                .map(|s| s as f32);
            fix.heartrate = m.num("heart_rate").map(|v| v as u8);
            fix.cadence = m.num("cadence").map(|v| v as u8);
            fix.power = m.num("power").map(|v| v as u16);
            fixes.push(fix);
        }
        fixes
    }

    #[test]
    fn raw_records_match_the_profile_decoder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut compared = 0;
        for name in [
            "recordings/garmin-fenix-5-bike.fit",
            "recordings/sample_mulitple_header.fit",
            "recordings/hrv-activity.fit",
        ] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let raw = read(&bytes).unwrap().fixes;
            let profile = profile_fixes(&bytes);
            assert_eq!(raw.len(), profile.len(), "{name}");
            for (a, b) in raw.iter().zip(&profile) {
                assert_eq!(a, b, "{name}");
            }
            compared += raw.len();
        }
        assert!(compared > 1_000, "{compared}");
    }

    /// FIT's CRC-16 (FIT protocol, "CRC" section).
    fn fit_crc(data: &[u8]) -> u16 {
        const T: [u16; 16] = [
            0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401, 0xA001, 0x6C00, 0x7800,
            0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
        ];
        data.iter().fold(0u16, |crc, &b| {
            let crc = (crc >> 4) ^ T[usize::from(crc & 0xF)] ^ T[usize::from(b & 0xF)];
            (crc >> 4) ^ T[usize::from(crc & 0xF)] ^ T[usize::from(b >> 4)]
        })
    }

    /// Records after the first carry compressed-timestamp headers (5-bit
    /// offsets), across a rollover of the low bits.
    #[test]
    fn compressed_timestamps_roll_over() {
        let start_s: u32 = 1_000_000_000;
        let mut data = Vec::new();
        // Local 0: timestamp, lat, long. Local 1: lat, long only.
        data.extend_from_slice(&[0x40, 0, 0, 20, 0, 3, 253, 4, 0x86, 0, 4, 0x85, 1, 4, 0x85]);
        data.extend_from_slice(&[0x41, 0, 0, 20, 0, 2, 0, 4, 0x85, 1, 4, 0x85]);
        let lat = |k: u32| (600_000_000 + 1_000 * k as i32).to_le_bytes();
        data.push(0);
        data.extend_from_slice(&start_s.to_le_bytes());
        data.extend_from_slice(&lat(0));
        data.extend_from_slice(&lat(0));
        let offsets: Vec<u32> = (1..=45).step_by(4).collect();
        for &k in &offsets {
            data.push(0x80 | (1 << 5) | ((start_s + k) & 31) as u8);
            data.extend_from_slice(&lat(k));
            data.extend_from_slice(&lat(k));
        }
        let mut file = vec![12, 0x20, 0x34, 0x08];
        file.extend_from_slice(&(data.len() as u32).to_le_bytes());
        file.extend_from_slice(b".FIT");
        file.extend_from_slice(&data);
        let crc = fit_crc(&file);
        file.extend_from_slice(&crc.to_le_bytes());

        let raw = read(&file).unwrap().fixes;
        let expected: Vec<i64> = std::iter::once(0)
            .chain(offsets)
            .map(|k| (i64::from(start_s + k) + FIT_EPOCH_S) * 1_000)
            .collect();
        assert_eq!(raw.iter().map(|f| f.t_ms).collect::<Vec<_>>(), expected);
        assert_eq!(raw, profile_fixes(&file));
    }
}
