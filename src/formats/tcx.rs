//! Garmin Training Center XML import: a streaming `quick-xml` reader.
//! Keeps heart rate, cadence (`Cadence`, or the `RunCadence` extension)
//! and the `TPX` extension's `Speed` and `Watts`, whatever prefix the file
//! gives the ActivityExtension namespace. Lap totals are the device's.

use quick_xml::events::{BytesStart, Event};

use super::xml::{self, attribute, local, number, timestamp_ms};
use super::{
    looks_like_fit, sport_from_name, xml_mentions, DeviceTotals, FormatError, ParsedActivity,
};
use crate::domain::Fix;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Root,
    Activity,
    Lap,
    Track,
    Trackpoint,
    Time,
    Position,
    Latitude,
    Longitude,
    Altitude,
    HeartRateBpm,
    Value,
    Cadence,
    RunCadence,
    Speed,
    Watts,
    Notes,
    TotalTimeSeconds,
    DistanceMeters,
    Other,
}

fn tag(name: &[u8]) -> Tag {
    match local(name) {
        b"Trackpoint" => Tag::Trackpoint,
        b"Time" => Tag::Time,
        b"Position" => Tag::Position,
        b"LatitudeDegrees" => Tag::Latitude,
        b"LongitudeDegrees" => Tag::Longitude,
        b"AltitudeMeters" => Tag::Altitude,
        b"HeartRateBpm" => Tag::HeartRateBpm,
        b"Value" => Tag::Value,
        b"Cadence" => Tag::Cadence,
        b"RunCadence" => Tag::RunCadence,
        b"Speed" => Tag::Speed,
        b"Watts" => Tag::Watts,
        b"DistanceMeters" => Tag::DistanceMeters,
        b"TotalTimeSeconds" => Tag::TotalTimeSeconds,
        b"Track" => Tag::Track,
        b"Lap" => Tag::Lap,
        b"Activity" => Tag::Activity,
        b"Notes" => Tag::Notes,
        b"TrainingCenterDatabase" => Tag::Root,
        _ => Tag::Other,
    }
}

/// The trackpoint being read: time and position are required.
struct Point {
    t_ms: Option<i64>,
    lat: Option<f64>,
    lng: Option<f64>,
    fix: Fix,
}

impl Point {
    fn new() -> Self {
        Point {
            t_ms: None,
            lat: None,
            lng: None,
            fix: Fix::new(0, 0.0, 0.0),
        }
    }
}

#[derive(Default)]
struct State {
    fixes: Vec<Fix>,
    activities: u32,
    sport: Option<String>,
    notes: Option<String>,
    distance: f64,
    timer: f64,
    point: Option<Point>,
}

impl State {
    fn begin_activity(&mut self, e: &BytesStart<'_>) {
        self.activities += 1;
        if self.activities == 1 {
            self.sport = attribute(e, b"Sport").map(|v| String::from_utf8_lossy(&v).into_owned());
        }
    }

    fn end_point(&mut self) {
        let Some(p) = self.point.take() else { return };
        // Trackpoints without a position (indoor, or before a lock) are
        // not fixes; their time and sensors are dropped with them.
        let (Some(t_ms), Some(lat), Some(lng)) = (p.t_ms, p.lat, p.lng) else {
            return;
        };
        let mut fix = p.fix;
        (fix.t_ms, fix.lat, fix.lng) = (t_ms, lat, lng);
        self.fixes.push(fix);
    }

    fn value(&mut self, top: Tag, parent: Tag, raw: &[u8], text: impl FnOnce() -> String) {
        if let Some(p) = self.point.as_mut() {
            let fix = &mut p.fix;
            match (top, parent) {
                (Tag::Time, Tag::Trackpoint) => p.t_ms = timestamp_ms(raw),
                (Tag::Latitude, Tag::Position) => p.lat = number(raw),
                (Tag::Longitude, Tag::Position) => p.lng = number(raw),
                (Tag::Altitude, Tag::Trackpoint) => fix.alt = number(raw).map(|a| a as f32),
                (Tag::Value, Tag::HeartRateBpm) => {
                    fix.heartrate = number(raw).map(|v| v.clamp(0.0, 255.0) as u8);
                }
                (Tag::Cadence, Tag::Trackpoint) | (Tag::RunCadence, _) => {
                    fix.cadence = number(raw).map(|v| v.clamp(0.0, 255.0) as u8);
                }
                (Tag::Speed, _) => {
                    fix.speed = number(raw).filter(|s| *s >= 0.0).map(|s| s as f32);
                }
                (Tag::Watts, _) => fix.power = number(raw).map(|v| v.clamp(0.0, 65_535.0) as u16),
                _ => {}
            }
            return;
        }
        match (top, parent) {
            // Lap totals (a Trackpoint's DistanceMeters is its odometer).
            (Tag::TotalTimeSeconds, Tag::Lap) => self.timer += number(raw).unwrap_or(0.0),
            (Tag::DistanceMeters, Tag::Lap) => self.distance += number(raw).unwrap_or(0.0),
            (Tag::Notes, Tag::Activity) if self.activities == 1 && self.notes.is_none() => {
                self.notes = Some(text());
            }
            _ => {}
        }
    }
}

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedActivity, FormatError> {
    if looks_like_fit(bytes) || !xml_mentions(bytes, "TrainingCenterDatabase") {
        return Err(FormatError::WrongType { expected: "TCX" });
    }
    let mut reader = xml::reader(bytes);
    let mut state = State {
        // About 400 bytes per trackpoint in real files.
        fixes: Vec::with_capacity(bytes.len() / 400),
        ..State::default()
    };
    let mut stack: Vec<Tag> = Vec::with_capacity(16);
    // Trackpoints are read inside activities only (not courses).
    let mut in_activity = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| xml::corrupt(e, reader.error_position()))?;
        match event {
            Event::Start(e) => {
                let t = tag(e.name().as_ref());
                if stack.is_empty() && t != Tag::Root {
                    return Err(FormatError::WrongType { expected: "TCX" });
                }
                match t {
                    Tag::Activity => {
                        in_activity = true;
                        state.begin_activity(&e);
                    }
                    Tag::Trackpoint if in_activity => state.point = Some(Point::new()),
                    _ => {}
                }
                stack.push(t);
            }
            Event::End(_) => match stack.pop() {
                Some(Tag::Trackpoint) => state.end_point(),
                Some(Tag::Activity) => in_activity = false,
                _ => {}
            },
            Event::Text(e) => {
                let top = stack.last().copied().unwrap_or(Tag::Other);
                if top != Tag::Other {
                    let parent = stack.len().checked_sub(2).map_or(Tag::Other, |i| stack[i]);
                    state.value(top, parent, &e, || xml::text(&e));
                }
            }
            Event::Empty(e) if tag(e.name().as_ref()) == Tag::Activity => state.begin_activity(&e),
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(FormatError::Corrupt(
            "TCX ends before </TrainingCenterDatabase>".into(),
        ));
    }
    let mut device = DeviceTotals::default();
    if state.activities > 0 {
        // TCX lap totals are the timer's: TotalTimeSeconds excludes pauses.
        device.distance = Some(state.distance);
        device.timer_time = Some(state.timer);
    }
    Ok(ParsedActivity {
        sport: state.sport.as_deref().and_then(sport_from_name),
        name: state
            .notes
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        start_ms: state.fixes.first().map(|f| f.t_ms),
        fixes: state.fixes,
        device,
        sessions: Vec::new(),
        pauses: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use crate::domain::Sport;
    use crate::formats::{parse, DataType};

    const RUN: &[u8] =
        include_bytes!("../../tests/fixtures/recordings/20210119_run_garmin_fenix6.tcx");
    const RIDE: &[u8] =
        include_bytes!("../../tests/fixtures/recordings/20210308_virtual_ride_with_power.tcx");

    #[test]
    fn parses_fenix_run() {
        let a = parse(DataType::Tcx, RUN).unwrap();
        assert_eq!(a.sport, Some(Sport::Run));
        assert_eq!(a.fixes.len(), 1232);
        assert!(a.fixes[0].heartrate.is_some());
        assert!(a.device.distance.unwrap() > 1000.0);
        assert!(a.device.timer_time.unwrap() > 1000.0);
    }

    #[test]
    fn keeps_power_speed_and_cadence() {
        let a = parse(DataType::Tcx, RIDE).unwrap();
        assert_eq!(a.sport, Some(Sport::Ride));
        let with = |f: fn(&crate::domain::Fix) -> bool| a.fixes.iter().filter(|x| f(x)).count();
        let n = a.fixes.len();
        assert!(n > 1000, "{n}");
        assert!(with(|f| f.power.is_some_and(|p| p > 0)) > n / 2);
        assert!(with(|f| f.speed.is_some()) > n / 2);
        assert!(with(|f| f.cadence.is_some()) > n / 2);
        assert!(with(|f| f.heartrate.is_some()) > n / 2);
    }

    #[test]
    fn prefixes_zones_and_missing_positions() {
        let s = r#"<?xml version="1.0"?>
<tcd:TrainingCenterDatabase xmlns:tcd="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2" xmlns:x="http://www.garmin.com/xmlschemas/ActivityExtension/v2">
 <tcd:Activities><tcd:Activity Sport="Biking"><tcd:Id>2024-01-01T08:00:00Z</tcd:Id>
  <tcd:Lap StartTime="2024-01-01T08:00:00Z"><tcd:TotalTimeSeconds>10</tcd:TotalTimeSeconds><tcd:DistanceMeters>50.5</tcd:DistanceMeters>
   <tcd:Track>
    <tcd:Trackpoint><tcd:Time>2024-01-01T09:00:00+01:00</tcd:Time><tcd:Position><tcd:LatitudeDegrees>51</tcd:LatitudeDegrees><tcd:LongitudeDegrees>0.5</tcd:LongitudeDegrees></tcd:Position>
     <tcd:DistanceMeters>999</tcd:DistanceMeters><tcd:HeartRateBpm><tcd:Value>120</tcd:Value></tcd:HeartRateBpm><tcd:Cadence>80</tcd:Cadence>
     <tcd:Extensions><x:TPX><x:Speed>5.25</x:Speed><x:Watts>210</x:Watts></x:TPX></tcd:Extensions></tcd:Trackpoint>
    <tcd:Trackpoint><tcd:Time>2024-01-01T08:00:01Z</tcd:Time><tcd:HeartRateBpm><tcd:Value>121</tcd:Value></tcd:HeartRateBpm></tcd:Trackpoint>
   </tcd:Track>
  </tcd:Lap>
  <tcd:Lap StartTime="2024-01-01T08:00:10Z"><tcd:TotalTimeSeconds>5</tcd:TotalTimeSeconds><tcd:DistanceMeters>20</tcd:DistanceMeters>
   <tcd:Track><tcd:Trackpoint><tcd:Time>2024-01-01T08:00:12Z</tcd:Time><tcd:Position><tcd:LatitudeDegrees>51.0001</tcd:LatitudeDegrees><tcd:LongitudeDegrees>0.5</tcd:LongitudeDegrees></tcd:Position>
    <tcd:Extensions><TPX xmlns="http://www.garmin.com/xmlschemas/ActivityExtension/v2"><RunCadence>88</RunCadence></TPX></tcd:Extensions></tcd:Trackpoint></tcd:Track>
  </tcd:Lap>
 </tcd:Activity></tcd:Activities>
</tcd:TrainingCenterDatabase>"#;
        let a = parse(DataType::Tcx, s.as_bytes()).unwrap();
        assert_eq!(a.sport, Some(Sport::Ride));
        assert_eq!(a.fixes.len(), 2);
        let f = a.fixes[0];
        assert_eq!(f.t_ms, 1_704_096_000_000);
        assert_eq!((f.lat, f.lng), (51.0, 0.5));
        assert_eq!(
            (f.heartrate, f.cadence, f.speed, f.power),
            (Some(120), Some(80), Some(5.25), Some(210))
        );
        assert_eq!(a.fixes[1].cadence, Some(88));
        assert_eq!(a.device.distance, Some(70.5));
        assert_eq!(a.device.timer_time, Some(15.0));
    }

    #[test]
    fn truncated_tcx_is_an_error() {
        for cut in [0, 50, 5_000, RUN.len() / 2, RUN.len() - 30] {
            assert!(parse(DataType::Tcx, &RUN[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn gzipped_tcx_parses() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(RUN).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(parse(DataType::TcxGz, &gz).unwrap().fixes.len(), 1232);
        assert!(parse(DataType::Tcx, &gz).is_err());
    }
}
