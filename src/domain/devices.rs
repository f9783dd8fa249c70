//! Tracker apps athletes already carry: their protocols decoded into fixes,
//! and the rule that groups a device's fixes into activities. Pure: the
//! handlers (`api::devices`) and the device tracker (`live::devices`) do
//! the I/O.
//!
//! - OsmAnd / Traccar Client (Traccar's `OsmAndProtocolDecoder`): query or
//!   form parameters, `speed` in knots; or the newer client's JSON body
//!   (`location.coords`, `speed` in m/s).
//! - OwnTracks (HTTP mode): `_type: location` messages, `vel` in km/h,
//!   `tst` in epoch seconds; other types are ignored.
//! - Overland: GeoJSON features under `locations`, `speed` in m/s.
//!
//! Unknown fields are ignored; "unknown" values the apps send as negative
//! numbers (speed -1, accuracy -1) are dropped rather than refused; a
//! coordinate out of range refuses the request.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fix::{Fix, RawFix, RawTime};
use super::{ActivityId, DomainError};

/// The protocols a device can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    OsmAnd,
    OwnTracks,
    Overland,
}

impl Protocol {
    pub fn parse(s: &str) -> Result<Protocol, DomainError> {
        match s {
            "osmand" | "traccar" => Ok(Protocol::OsmAnd),
            "owntracks" => Ok(Protocol::OwnTracks),
            "overland" => Ok(Protocol::Overland),
            _ => Err(DomainError::invalid("protocol")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OsmAnd => "osmand",
            Protocol::OwnTracks => "owntracks",
            Protocol::Overland => "overland",
        }
    }
}

/// Silence (no fix received) that ends a device's activity, by default.
pub const DEFAULT_IDLE_TIMEOUT_S: u32 = 600;
/// The longest a device may set: below the live auto-pause (30 minutes),
/// so a device's activity completes rather than pauses.
pub const MAX_IDLE_TIMEOUT_S: u32 = 1_800;
/// Most fixes in one Overland batch (the app's largest batch setting).
pub const MAX_BATCH: usize = 1_000;
/// Devices one athlete may have.
pub const MAX_DEVICES_PER_ATHLETE: usize = 20;
/// Longest device name, in characters.
pub const MAX_DEVICE_NAME_LEN: usize = 100;

const KNOT_MS: f64 = 1_852.0 / 3_600.0;
const KMH_MS: f64 = 1.0 / 3.6;

/// A device's idle timeout: 1 s to `MAX_IDLE_TIMEOUT_S`.
pub fn idle_timeout_s(value: Option<i64>) -> Result<u32, DomainError> {
    match value {
        None => Ok(DEFAULT_IDLE_TIMEOUT_S),
        Some(v) if (1..=i64::from(MAX_IDLE_TIMEOUT_S)).contains(&v) => Ok(v as u32),
        Some(_) => Err(DomainError::invalid("idle_timeout_s")),
    }
}

/// A time as the apps send it: epoch seconds or milliseconds (Traccar's
/// rule: below 2^31 it is seconds), ISO 8601 with or without a colon in the
/// offset, or `yyyy-MM-dd HH:mm:ss` (taken as UTC).
pub fn parse_time(value: &str, field: &'static str) -> Result<i64, DomainError> {
    let value = value.trim();
    if let Ok(n) = value.parse::<i64>() {
        return Ok(if n < i64::from(i32::MAX) { n * 1000 } else { n });
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs.abs() < f64::from(i32::MAX) {
            return Ok((secs * 1000.0).round() as i64);
        }
        return Err(DomainError::invalid(field));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(value, format) {
            return Ok(t.timestamp_millis());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, format) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(DomainError::invalid(field))
}

/// A number sent as text (query and form parameters).
fn number(value: &str, field: &'static str) -> Result<f64, DomainError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or(DomainError::invalid(field))
}

/// Apps report "unknown" as a negative number (iOS: -1).
fn known(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v >= 0.0)
}

/// One position in our own terms, validated by `Fix::parse` (the same
/// ranges as the API's fixes). Optional values out of range are dropped;
/// the coordinates and the time are not optional.
fn to_fix(
    lat: f64,
    lng: f64,
    t_ms: i64,
    alt: Option<f64>,
    accuracy: Option<f64>,
    speed_ms: Option<f64>,
    now_ms: i64,
) -> Result<Fix, DomainError> {
    let in_range = |v: Option<f64>, min: f64, max: f64| v.filter(|v| (min..=max).contains(v));
    let raw = RawFix {
        lat: Some(lat),
        lng: Some(lng),
        t: Some(RawTime::Millis(t_ms as f64)),
        alt: in_range(alt, -1_000.0, 10_000.0),
        accuracy: in_range(known(accuracy), 0.0, 100_000.0),
        speed: in_range(known(speed_ms), 0.0, 200.0),
        heartrate: None,
        cadence: None,
        power: None,
    };
    Fix::parse(&raw, now_ms)
}

/// A decoded OsmAnd request: the device key it names and its fixes.
#[derive(Debug, Clone, PartialEq)]
pub struct OsmAndReport {
    pub device_key: String,
    pub fixes: Vec<Fix>,
}

/// OsmAnd query or form parameters (Traccar's decoder: `id`/`deviceid`,
/// `lat`+`lon` or `location=lat,lon`, `timestamp`, `speed` in knots,
/// `altitude`, `accuracy`; `bearing`, `batt`, `hdop` and anything else are
/// accepted and not kept). Without a timestamp the fix is taken as now;
/// `valid=false` fixes are not kept. The last of repeated keys wins.
pub fn osmand_params<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    now_ms: i64,
) -> Result<OsmAndReport, DomainError> {
    let mut id = None;
    let (mut lat, mut lng, mut time) = (None, None, None);
    let (mut speed, mut alt, mut accuracy) = (None, None, None);
    let mut valid = true;
    for (key, value) in params {
        match key {
            "id" | "deviceid" => id = Some(value.trim().to_string()),
            "lat" => lat = Some(number(value, "lat")?),
            "lon" => lng = Some(number(value, "lon")?),
            "location" => {
                let (a, b) = value
                    .split_once(',')
                    .ok_or(DomainError::invalid("location"))?;
                lat = Some(number(a, "location")?);
                lng = Some(number(b, "location")?);
            }
            "timestamp" => time = Some(parse_time(value, "timestamp")?),
            "speed" => speed = Some(number(value, "speed")? * KNOT_MS),
            "altitude" => alt = Some(number(value, "altitude")?),
            "accuracy" => accuracy = Some(number(value, "accuracy")?),
            "valid" => valid = matches!(value.trim(), "true" | "1"),
            _ => {}
        }
    }
    let device_key = id
        .filter(|k| !k.is_empty())
        .ok_or(DomainError::missing("id"))?;
    let lat = lat.ok_or(DomainError::missing("lat"))?;
    let lng = lng.ok_or(DomainError::missing("lon"))?;
    let fix = to_fix(
        lat,
        lng,
        time.unwrap_or(now_ms),
        alt,
        accuracy,
        speed,
        now_ms,
    )
    .map_err(rename_lng("lon"))?;
    Ok(OsmAndReport {
        device_key,
        fixes: if valid { vec![fix] } else { Vec::new() },
    })
}

/// `Fix::parse` names longitude `lng`; each protocol has its own name.
fn rename_lng(name: &'static str) -> impl Fn(DomainError) -> DomainError {
    move |e| {
        if e.field == "lng" {
            DomainError::new(name, e.code)
        } else {
            e
        }
    }
}

#[derive(Deserialize)]
struct ClientCoords {
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy: Option<f64>,
    speed: Option<f64>,
    altitude: Option<f64>,
}

#[derive(Deserialize)]
struct ClientLocation {
    timestamp: Option<RawTimeValue>,
    coords: Option<ClientCoords>,
}

/// A time in JSON: a number (epoch seconds or ms) or text.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTimeValue {
    Number(f64),
    Text(String),
}

impl RawTimeValue {
    fn millis(&self, field: &'static str) -> Result<i64, DomainError> {
        match self {
            RawTimeValue::Number(n) if n.is_finite() && n.abs() < 1e15 => {
                Ok(if n.abs() < f64::from(i32::MAX) {
                    (n * 1000.0).round() as i64
                } else {
                    n.round() as i64
                })
            }
            RawTimeValue::Number(_) => Err(DomainError::invalid(field)),
            RawTimeValue::Text(s) => parse_time(s, field),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

#[derive(Deserialize)]
struct ClientBody {
    location: Option<OneOrMany<ClientLocation>>,
    device_id: Option<Value>,
}

/// The Traccar Client (9+) JSON body: `{"location": {"timestamp",
/// "coords": {latitude, longitude, accuracy, speed (m/s), heading,
/// altitude}, …}, "device_id"}`; `location` may also be a list (the
/// location SDK's batch mode). The key may instead come from the query.
pub fn osmand_json(
    body: &[u8],
    query_key: Option<&str>,
    now_ms: i64,
) -> Result<OsmAndReport, DomainError> {
    let body: ClientBody =
        serde_json::from_slice(body).map_err(|_| DomainError::invalid("body"))?;
    let device_key = match &body.device_id {
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
    .or_else(|| query_key.map(|k| k.trim().to_string()))
    .filter(|k| !k.is_empty())
    .ok_or(DomainError::missing("id"))?;
    let locations = match body.location.ok_or(DomainError::missing("location"))? {
        OneOrMany::One(l) => vec![l],
        OneOrMany::Many(many) => many,
    };
    if locations.len() > MAX_BATCH {
        return Err(DomainError::new("location", "too_many"));
    }
    let mut fixes = Vec::with_capacity(locations.len());
    for location in locations {
        let coords = location.coords.ok_or(DomainError::missing("coords"))?;
        let lat = coords.latitude.ok_or(DomainError::missing("latitude"))?;
        let lng = coords.longitude.ok_or(DomainError::missing("longitude"))?;
        let t = match &location.timestamp {
            Some(t) => t.millis("timestamp")?,
            None => now_ms,
        };
        let fix = to_fix(
            lat,
            lng,
            t,
            coords.altitude,
            coords.accuracy,
            coords.speed,
            now_ms,
        )
        .map_err(rename_lng("longitude"))?;
        fixes.push(fix);
    }
    Ok(OsmAndReport { device_key, fixes })
}

/// An OwnTracks body: one message or a list of them. Only `_type:
/// location` messages carry fixes (`lat`, `lon`, `tst` in epoch seconds,
/// `acc`, `alt`, `vel` in km/h); every other type (transition, waypoint,
/// lwt, card, encrypted, …) is ignored. An empty body is nothing.
pub fn owntracks(body: &[u8], now_ms: i64) -> Result<Vec<Fix>, DomainError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| DomainError::invalid("body"))?;
    let messages = match value {
        Value::Array(many) if many.len() <= MAX_BATCH => many,
        Value::Array(_) => return Err(DomainError::new("body", "too_many")),
        one @ Value::Object(_) => vec![one],
        _ => return Err(DomainError::invalid("body")),
    };
    let mut fixes = Vec::new();
    for message in &messages {
        let Value::Object(m) = message else {
            return Err(DomainError::invalid("body"));
        };
        match m.get("_type") {
            Some(Value::String(t)) if t == "location" => {}
            Some(Value::String(_)) => continue,
            _ => return Err(DomainError::missing("_type")),
        }
        let num = |key: &'static str| -> Result<Option<f64>, DomainError> {
            match m.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_f64()),
                // Some firmware sends numbers as strings.
                Some(Value::String(s)) => number(s, key).map(Some),
                Some(_) => Err(DomainError::invalid(key)),
            }
        };
        let lat = num("lat")?.ok_or(DomainError::missing("lat"))?;
        let lng = num("lon")?.ok_or(DomainError::missing("lon"))?;
        let tst = num("tst")?.ok_or(DomainError::missing("tst"))?;
        if !(0.0..1e11).contains(&tst) {
            return Err(DomainError::invalid("tst"));
        }
        let fix = to_fix(
            lat,
            lng,
            (tst * 1000.0).round() as i64,
            num("alt")?,
            num("acc")?,
            num("vel")?.map(|v| v * KMH_MS),
            now_ms,
        )
        .map_err(|e| match e.field {
            "lng" => DomainError::new("lon", e.code),
            "t" => DomainError::new("tst", e.code),
            _ => e,
        })?;
        fixes.push(fix);
    }
    Ok(fixes)
}

#[derive(Deserialize)]
struct OverlandGeometry {
    #[serde(rename = "type")]
    kind: Option<String>,
    coordinates: Option<Vec<f64>>,
}

#[derive(Deserialize)]
struct OverlandProperties {
    timestamp: Option<RawTimeValue>,
    altitude: Option<f64>,
    speed: Option<f64>,
    horizontal_accuracy: Option<f64>,
}

#[derive(Deserialize)]
struct OverlandFeature {
    geometry: Option<OverlandGeometry>,
    properties: Option<OverlandProperties>,
}

#[derive(Deserialize)]
struct OverlandBody {
    locations: Option<Vec<Value>>,
}

/// An Overland batch: `{"locations": [GeoJSON Feature, …], "current",
/// "trip"}`, at most `MAX_BATCH` features. A feature without a Point
/// geometry (e.g. `action: will_terminate`) is ignored; `current` and
/// `trip` repeat locations the queue holds and are not read.
pub fn overland(body: &[u8], now_ms: i64) -> Result<Vec<Fix>, DomainError> {
    let body: OverlandBody =
        serde_json::from_slice(body).map_err(|_| DomainError::invalid("body"))?;
    let features = body.locations.ok_or(DomainError::missing("locations"))?;
    if features.len() > MAX_BATCH {
        return Err(DomainError::new("locations", "too_many"));
    }
    let mut fixes = Vec::with_capacity(features.len());
    for feature in features {
        let feature: OverlandFeature =
            serde_json::from_value(feature).map_err(|_| DomainError::invalid("locations"))?;
        let Some(geometry) = feature.geometry else {
            continue;
        };
        if geometry.kind.as_deref() != Some("Point") {
            continue;
        }
        let (lng, lat) = match geometry.coordinates.as_deref() {
            Some([lng, lat, ..]) => (*lng, *lat),
            _ => return Err(DomainError::invalid("coordinates")),
        };
        let props = feature
            .properties
            .ok_or(DomainError::missing("properties"))?;
        let t = props
            .timestamp
            .as_ref()
            .ok_or(DomainError::missing("timestamp"))?
            .millis("timestamp")?;
        let fix = to_fix(
            lat,
            lng,
            t,
            props.altitude,
            props.horizontal_accuracy,
            props.speed,
            now_ms,
        )
        .map_err(|e| match e.field {
            "lat" | "lng" => DomainError::new("coordinates", e.code),
            "t" => DomainError::new("timestamp", e.code),
            _ => e,
        })?;
        fixes.push(fix);
    }
    Ok(fixes)
}

/// A device's open activity, as the tracker knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenActivity {
    pub id: ActivityId,
    /// The newest fix time it holds (None: not known since a restart).
    pub last_fix_ms: Option<i64>,
    /// When the device last sent a fix for it (server clock).
    pub last_seen_ms: i64,
}

/// What the tracker knows of one device between requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Session {
    pub open: Option<OpenActivity>,
    /// The last fix of the device's last completed activity: anything at or
    /// before it was already stored (an app resending its queue).
    pub floor_ms: Option<i64>,
}

/// Fixes bound for one activity: the open one, or a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub new_activity: bool,
    pub fixes: Vec<Fix>,
}

/// What to do with a batch of a device's fixes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The open activity has been silent for the idle timeout: complete it
    /// (at its last fix) before anything else.
    pub complete_open: bool,
    /// Fixes already stored with a completed activity (resends), dropped.
    pub dropped: usize,
    pub segments: Vec<Segment>,
}

impl Session {
    /// Whether the open activity has been silent for `idle_ms`.
    pub fn expired(&self, now_ms: i64, idle_ms: i64) -> bool {
        self.open
            .is_some_and(|o| now_ms.saturating_sub(o.last_seen_ms) >= idle_ms)
    }

    /// Groups a batch into activities. Silence is measured on the server's
    /// clock (no fix received for `idle_ms` completes the open activity);
    /// inside a queued batch, a gap in fix time of `split_gap_ms` or more
    /// also ends one activity and starts the next, so a day's offline
    /// queue does not become one activity. Out-of-order fixes within an
    /// activity go to it (its reorder window and deduplication sort them);
    /// fixes at or before the last completed activity's end are resends
    /// and dropped.
    pub fn plan(&self, fixes: &[Fix], now_ms: i64, idle_ms: i64, split_gap_ms: i64) -> Plan {
        let complete_open = self.expired(now_ms, idle_ms);
        let (open, floor) = match self.open {
            Some(o) if complete_open => (None, self.floor_ms.max(o.last_fix_ms)),
            open => (open, self.floor_ms),
        };
        let mut sorted: Vec<Fix> = fixes
            .iter()
            .filter(|f| floor.is_none_or(|floor| f.t_ms > floor))
            .copied()
            .collect();
        let dropped = fixes.len() - sorted.len();
        sorted.sort_by_key(|f| f.t_ms);
        let mut segments: Vec<Segment> = Vec::new();
        // Whether there is an activity to continue, and its newest fix.
        let mut target = open.is_some();
        let mut last = open.and_then(|o| o.last_fix_ms);
        for fix in sorted {
            let continues = target && last.is_none_or(|l| fix.t_ms - l < split_gap_ms);
            target = true;
            match segments.last_mut() {
                Some(segment) if continues => segment.fixes.push(fix),
                None if continues => segments.push(Segment {
                    new_activity: false,
                    fixes: vec![fix],
                }),
                _ => segments.push(Segment {
                    new_activity: true,
                    fixes: vec![fix],
                }),
            }
            last = Some(last.map_or(fix.t_ms, |l| l.max(fix.t_ms)));
        }
        Plan {
            complete_open,
            dropped,
            segments,
        }
    }
}

/// The gap in fix time that splits a queued batch: the device's idle
/// timeout, but never less than the default (a short timeout is about how
/// soon an activity completes, not about sparse fixes).
pub fn split_gap_ms(idle_timeout_s: u32) -> i64 {
    i64::from(idle_timeout_s.max(DEFAULT_IDLE_TIMEOUT_S)) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000_000;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/devices")
            .join(name);
        std::fs::read(path).unwrap()
    }

    fn query(q: &str) -> Result<OsmAndReport, DomainError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        osmand_params(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), NOW)
    }

    #[test]
    fn osmand_queries_from_traccars_tests() {
        let text = String::from_utf8(fixture("osmand_queries.txt")).unwrap();
        let queries: Vec<&str> = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert!(queries.len() >= 8);
        for q in queries {
            let report = query(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(report.fixes.len(), 1, "{q}");
        }
    }

    #[test]
    fn osmand_units_and_times() {
        let r = query("id=abc&lat=60.0&lon=30.0&timestamp=1377177267&speed=10&altitude=12.5&accuracy=4&bearing=90&batt=87").unwrap();
        assert_eq!(r.device_key, "abc");
        let f = r.fixes[0];
        assert_eq!(f.t_ms, 1_377_177_267_000);
        assert!((f.speed.unwrap() - 5.144_444).abs() < 1e-3, "knots to m/s");
        assert_eq!(f.alt, Some(12.5));
        assert_eq!(f.accuracy, Some(4.0));
        let ms = query("id=a&lat=1&lon=2&timestamp=1442068686579").unwrap();
        assert_eq!(ms.fixes[0].t_ms, 1_442_068_686_579);
        let iso = query("id=a&lat=1&lon=2&timestamp=2016-01-27T18%3A55%3A47Z").unwrap();
        assert_eq!(iso.fixes[0].t_ms, 1_453_920_947_000);
        let plain = query("id=a&lat=1&lon=2&timestamp=2014-06-04+09%3A10%3A11").unwrap();
        assert_eq!(plain.fixes[0].t_ms, 1_401_873_011_000);
        let location = query("deviceid=a&location=60.5,30.25").unwrap();
        assert_eq!(
            (location.fixes[0].lat, location.fixes[0].lng),
            (60.5, 30.25)
        );
        assert_eq!(location.fixes[0].t_ms, NOW, "no timestamp: now");
        assert!(query("id=a&lat=1&lon=2&valid=false")
            .unwrap()
            .fixes
            .is_empty());
    }

    #[test]
    fn osmand_refusals() {
        assert_eq!(query("lat=1&lon=2"), Err(DomainError::missing("id")));
        assert_eq!(query("id=&lat=1&lon=2"), Err(DomainError::missing("id")));
        assert_eq!(query("id=a&lat=91&lon=2"), Err(DomainError::invalid("lat")));
        assert_eq!(
            query("id=a&lat=1&lon=181"),
            Err(DomainError::invalid("lon"))
        );
        assert_eq!(query("id=a&lat=x&lon=2"), Err(DomainError::invalid("lat")));
        assert_eq!(query("id=a&lon=2"), Err(DomainError::missing("lat")));
        assert_eq!(
            query("id=a&lat=1&lon=2&timestamp=yesterday"),
            Err(DomainError::invalid("timestamp"))
        );
        // Out-of-range extras are dropped, not fatal: -1 is iOS's "unknown".
        let r = query("id=a&lat=1&lon=2&speed=-1&accuracy=-1").unwrap();
        assert_eq!((r.fixes[0].speed, r.fixes[0].accuracy), (None, None));
    }

    #[test]
    fn traccar_client_json_bodies() {
        for name in [
            "traccar_client_android.json",
            "traccar_client_ios.json",
            "traccar_client_moving.json",
        ] {
            let r = osmand_json(&fixture(name), None, NOW).unwrap();
            assert_eq!(r.fixes.len(), 1, "{name}");
        }
        let moving = osmand_json(&fixture("traccar_client_moving.json"), None, NOW).unwrap();
        assert_eq!(moving.device_key, "8737767034");
        let f = moving.fixes[0];
        assert_eq!(f.t_ms, 1_626_854_794_444);
        assert_eq!(f.speed, Some(18.67), "m/s as sent");
        assert_eq!(f.accuracy, Some(3.8));
        let ios = osmand_json(&fixture("traccar_client_ios.json"), None, NOW).unwrap();
        assert_eq!(ios.fixes[0].speed, None, "speed -1 is unknown");
        let no_id = br#"{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":1,"longitude":2}}}"#;
        assert_eq!(
            osmand_json(no_id, None, NOW),
            Err(DomainError::missing("id"))
        );
        assert_eq!(osmand_json(no_id, Some("k"), NOW).unwrap().device_key, "k");
        assert_eq!(
            osmand_json(b"{\"location\":", Some("k"), NOW),
            Err(DomainError::invalid("body"))
        );
        let bad = br#"{"device_id":"k","location":{"coords":{"latitude":-91,"longitude":2}}}"#;
        assert_eq!(
            osmand_json(bad, None, NOW),
            Err(DomainError::invalid("lat"))
        );
    }

    #[test]
    fn owntracks_messages() {
        let fixes = owntracks(&fixture("owntracks_location.json"), NOW).unwrap();
        assert_eq!(fixes.len(), 1);
        let f = fixes[0];
        assert_eq!(f.t_ms, 1_497_508_651_000);
        assert_eq!((f.lat, f.lng), (48.85833, 2.29513));
        assert!((f.speed.unwrap() - 61.0 / 3.6).abs() < 1e-4, "km/h to m/s");
        assert_eq!(f.accuracy, Some(5.0));
        assert_eq!(f.alt, Some(167.0));
        let minimal = owntracks(&fixture("owntracks_minimal.json"), NOW).unwrap();
        assert_eq!(minimal[0].t_ms, 1_497_476_456_000);
        for other in [
            "owntracks_transition.json",
            "owntracks_lwt.json",
            "owntracks_waypoint.json",
        ] {
            assert_eq!(owntracks(&fixture(other), NOW), Ok(Vec::new()), "{other}");
        }
        assert_eq!(owntracks(b"", NOW), Ok(Vec::new()));
        assert_eq!(owntracks(b"{", NOW), Err(DomainError::invalid("body")));
        assert_eq!(
            owntracks(br#"{"_type":"location","lat":1,"lon":2}"#, NOW),
            Err(DomainError::missing("tst"))
        );
        assert_eq!(
            owntracks(
                br#"{"_type":"location","lat":1,"lon":200,"tst":1497476456}"#,
                NOW
            ),
            Err(DomainError::invalid("lon"))
        );
    }

    #[test]
    fn overland_batches() {
        let fixes = overland(&fixture("overland_batch.json"), NOW).unwrap();
        assert_eq!(fixes.len(), 2, "the feature without geometry is ignored");
        assert_eq!(fixes[0].t_ms, 1_443_711_600_000, "-0700 without a colon");
        assert_eq!((fixes[0].lat, fixes[0].lng), (37.3318, -122.030581));
        assert_eq!(fixes[0].speed, Some(4.0));
        assert_eq!(fixes[0].accuracy, Some(30.0));
        assert_eq!(fixes[1].speed, None, "speed -1 is unknown");
        assert_eq!(overland(br#"{"locations":[]}"#, NOW), Ok(Vec::new()));
        assert_eq!(overland(b"{}", NOW), Err(DomainError::missing("locations")));
        assert_eq!(overland(b"[", NOW), Err(DomainError::invalid("body")));
        let bad = br#"{"locations":[{"type":"Feature","geometry":{"type":"Point","coordinates":[0,95]},"properties":{"timestamp":"2015-10-01T08:00:00Z"}}]}"#;
        assert_eq!(overland(bad, NOW), Err(DomainError::invalid("coordinates")));
        let many = format!(
            r#"{{"locations":[{}]}}"#,
            vec![r#"{"type":"Feature","geometry":null}"#; MAX_BATCH + 1].join(",")
        );
        assert_eq!(
            overland(many.as_bytes(), NOW),
            Err(DomainError::new("locations", "too_many"))
        );
    }

    fn fix(t_ms: i64) -> Fix {
        Fix::new(t_ms, 1.0, 2.0)
    }

    const IDLE: i64 = 600_000;
    const GAP: i64 = 600_000;

    #[test]
    fn the_first_fix_starts_an_activity_and_later_ones_continue_it() {
        let empty = Session::default();
        let plan = empty.plan(&[fix(3_000), fix(1_000), fix(2_000)], NOW, IDLE, GAP);
        assert!(!plan.complete_open);
        assert_eq!(plan.segments.len(), 1);
        assert!(plan.segments[0].new_activity);
        let times: Vec<i64> = plan.segments[0].fixes.iter().map(|f| f.t_ms).collect();
        assert_eq!(times, vec![1_000, 2_000, 3_000]);

        let open = Session {
            open: Some(OpenActivity {
                id: ActivityId(1),
                last_fix_ms: Some(3_000),
                last_seen_ms: NOW - 1_000,
            }),
            floor_ms: None,
        };
        // A straggler from before the newest fix still belongs to it.
        let plan = open.plan(&[fix(2_500), fix(4_000)], NOW, IDLE, GAP);
        assert_eq!(plan.segments.len(), 1);
        assert!(!plan.segments[0].new_activity);
    }

    #[test]
    fn silence_completes_and_the_next_fix_starts_anew() {
        let open = Session {
            open: Some(OpenActivity {
                id: ActivityId(1),
                last_fix_ms: Some(3_000),
                last_seen_ms: NOW - IDLE,
            }),
            floor_ms: None,
        };
        assert!(open.expired(NOW, IDLE));
        // A resend of what the completed activity holds is dropped.
        let plan = open.plan(&[fix(2_000), fix(3_000), fix(5_000)], NOW, IDLE, GAP);
        assert!(plan.complete_open);
        assert_eq!(plan.dropped, 2);
        assert_eq!(plan.segments.len(), 1);
        assert!(plan.segments[0].new_activity);
        assert_eq!(plan.segments[0].fixes[0].t_ms, 5_000);
    }

    #[test]
    fn resends_after_completion_change_nothing() {
        let done = Session {
            open: None,
            floor_ms: Some(10_000),
        };
        let plan = done.plan(&[fix(5_000), fix(10_000)], NOW, IDLE, GAP);
        assert_eq!(plan.dropped, 2);
        assert!(plan.segments.is_empty());
    }

    #[test]
    fn a_gap_in_a_queued_batch_splits_activities() {
        let plan = Session::default().plan(
            &[fix(1_000), fix(2_000), fix(2_000 + GAP), fix(3_000 + GAP)],
            NOW,
            IDLE,
            GAP,
        );
        assert_eq!(plan.segments.len(), 2);
        assert!(plan.segments.iter().all(|s| s.new_activity));
        assert_eq!(plan.segments[1].fixes.len(), 2);
        assert_eq!(
            split_gap_ms(2),
            GAP,
            "a short timeout does not split sparse fixes"
        );
        assert_eq!(split_gap_ms(1_200), 1_200_000);
    }

    #[test]
    fn idle_timeouts_and_protocols_parse() {
        assert_eq!(idle_timeout_s(None), Ok(600));
        assert_eq!(idle_timeout_s(Some(2)), Ok(2));
        assert!(idle_timeout_s(Some(0)).is_err());
        assert!(idle_timeout_s(Some(1_801)).is_err());
        assert_eq!(Protocol::parse("overland"), Ok(Protocol::Overland));
        assert!(Protocol::parse("mqtt").is_err());
    }
}
