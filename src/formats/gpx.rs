//! GPX 1.0/1.1 import: a streaming `quick-xml` reader that keeps Garmin's
//! TrackPointExtension (v1 and v2: `hr`, `cad`, `atemp`, `speed`), a
//! `<power>` written straight into `<extensions>` (Strava, Wahoo) and the
//! `gpxdata:` names (`hr`, `cadence`).
//!
//! Only track points with a time become fixes (routes and planned tracks
//! cannot be replayed); each new track segment after the first starts a
//! pause, as recorders begin a segment when the timer restarts. Pacer's
//! own extensions (`export::PACER_GPX_NS`) are read back: each fix's
//! `accuracy`, and the metadata's `timer` (start, pauses, end), which then
//! stands for the segments, so an exported activity uploads as itself.

use quick_xml::events::{BytesStart, Event};

use super::xml::{self, attribute, local, number, number_f32, timestamp_ms};
use super::{sport_from_name, xml_mentions, DeviceTotals, FormatError, ParsedActivity, Session};
use crate::domain::{Fix, Sport};

/// The elements the reader cares about; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Gpx,
    Metadata,
    Trk,
    Trkseg,
    Trkpt,
    Name,
    Type,
    Time,
    Ele,
    Speed,
    Hr,
    Cad,
    Power,
    Accuracy,
    Timer,
    Pause,
    Other,
}

fn tag(name: &[u8]) -> Tag {
    match local(name) {
        b"trkpt" => Tag::Trkpt,
        b"ele" => Tag::Ele,
        b"time" => Tag::Time,
        b"hr" | b"heartrate" => Tag::Hr,
        b"cad" | b"cadence" => Tag::Cad,
        b"power" | b"PowerInWatts" => Tag::Power,
        b"speed" => Tag::Speed,
        b"accuracy" => Tag::Accuracy,
        b"timer" => Tag::Timer,
        b"pause" => Tag::Pause,
        b"trkseg" => Tag::Trkseg,
        b"trk" => Tag::Trk,
        b"name" => Tag::Name,
        b"type" => Tag::Type,
        b"metadata" => Tag::Metadata,
        b"gpx" => Tag::Gpx,
        _ => Tag::Other,
    }
}

/// Strava's GPX export writes its numeric activity types.
fn sport_from_type(text: &str) -> Option<Sport> {
    match text.trim() {
        "1" => Some(Sport::Ride),
        "9" => Some(Sport::Run),
        other => sport_from_name(other),
    }
}

/// The point being read.
struct Point {
    fix: Fix,
    has_time: bool,
}

/// Pacer's timer from the metadata.
struct Timer {
    start_ms: i64,
    end_ms: Option<i64>,
    pauses: Vec<(i64, i64)>,
}

#[derive(Default)]
struct State {
    timer: Option<Timer>,
    fixes: Vec<Fix>,
    pauses: Vec<(i64, i64)>,
    point: Option<Point>,
    new_segment: bool,
    tracks: u32,
    track_name: Option<String>,
    track_type: Option<String>,
    meta_name: Option<String>,
    meta_time: Option<i64>,
}

impl State {
    fn begin_point(&mut self, e: &BytesStart<'_>) -> Result<(), FormatError> {
        let coord = |name: &[u8]| attribute(e, name).and_then(|v| number(&v));
        let (Some(lat), Some(lng)) = (coord(b"lat"), coord(b"lon")) else {
            return Err(FormatError::Corrupt("trkpt without lat/lon".into()));
        };
        self.point = Some(Point {
            fix: Fix::new(0, lat, lng),
            has_time: false,
        });
        Ok(())
    }

    /// `<pacer:timer start= end=>` inside the metadata.
    fn begin_timer(&mut self, e: &BytesStart<'_>) -> Result<(), FormatError> {
        let time = |name: &[u8]| attribute(e, name).and_then(|v| timestamp_ms(&v));
        let Some(start_ms) = time(b"start") else {
            return Err(FormatError::Corrupt("timer without start".into()));
        };
        self.timer = Some(Timer {
            start_ms,
            end_ms: time(b"end"),
            pauses: Vec::new(),
        });
        Ok(())
    }

    /// `<pacer:pause from= to=/>` inside the timer (no `to`: never resumed).
    fn pause(&mut self, e: &BytesStart<'_>) -> Result<(), FormatError> {
        let time = |name: &[u8]| attribute(e, name).and_then(|v| timestamp_ms(&v));
        let (Some(timer), Some(from)) = (self.timer.as_mut(), time(b"from")) else {
            return Err(FormatError::Corrupt("pause without from".into()));
        };
        timer.pauses.push((from, time(b"to").unwrap_or(i64::MAX)));
        Ok(())
    }

    fn end_point(&mut self) {
        // Untimed points (routes, planned tracks) cannot be replayed.
        let Some(Point {
            fix,
            has_time: true,
        }) = self.point.take()
        else {
            return;
        };
        // A new segment is where the recorder was paused.
        if self.new_segment {
            if let Some(prev) = self.fixes.last().map(|f| f.t_ms) {
                if fix.t_ms > prev {
                    self.pauses.push((prev, fix.t_ms));
                }
            }
            self.new_segment = false;
        }
        self.fixes.push(fix);
    }

    /// Text inside `top`, whose parent is `parent`.
    fn value(&mut self, top: Tag, parent: Tag, raw: &[u8], text: impl FnOnce() -> String) {
        if let Some(point) = self.point.as_mut() {
            let fix = &mut point.fix;
            match top {
                Tag::Time if parent == Tag::Trkpt => {
                    if let Some(t) = timestamp_ms(raw) {
                        fix.t_ms = t;
                        point.has_time = true;
                    }
                }
                Tag::Ele if parent == Tag::Trkpt => fix.alt = number_f32(raw),
                Tag::Speed => fix.speed = number_f32(raw).filter(|s| *s >= 0.0),
                Tag::Accuracy => fix.accuracy = number_f32(raw).filter(|a| *a >= 0.0),
                Tag::Hr => fix.heartrate = number(raw).map(|v| v.clamp(0.0, 255.0) as u8),
                Tag::Cad => fix.cadence = number(raw).map(|v| v.clamp(0.0, 255.0) as u8),
                Tag::Power => fix.power = number(raw).map(|v| v.clamp(0.0, 65_535.0) as u16),
                _ => {}
            }
            return;
        }
        match (top, parent) {
            (Tag::Name, Tag::Trk) if self.tracks == 1 && self.track_name.is_none() => {
                self.track_name = Some(text());
            }
            (Tag::Type, Tag::Trk) if self.tracks == 1 && self.track_type.is_none() => {
                self.track_type = Some(text());
            }
            (Tag::Name, Tag::Metadata) if self.meta_name.is_none() => self.meta_name = Some(text()),
            (Tag::Time, Tag::Metadata) => self.meta_time = timestamp_ms(raw),
            _ => {}
        }
    }
}

/// Open elements, innermost last. Depth is bounded by the document, and
/// only the top two matter.
struct Stack(Vec<Tag>);

impl Stack {
    fn top(&self) -> Tag {
        self.0.last().copied().unwrap_or(Tag::Other)
    }
    fn parent(&self) -> Tag {
        self.0
            .len()
            .checked_sub(2)
            .map_or(Tag::Other, |i| self.0[i])
    }
}

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedActivity, FormatError> {
    if !xml_mentions(bytes, "<gpx") && !xml_mentions(bytes, ":gpx") {
        return Err(FormatError::WrongType { expected: "GPX" });
    }
    let mut reader = xml::reader(bytes);
    let mut state = State {
        // About 200 bytes per timed point in real files.
        fixes: Vec::with_capacity(bytes.len() / 200),
        ..State::default()
    };
    let mut stack = Stack(Vec::with_capacity(16));
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| xml::corrupt(e, reader.error_position()))?;
        match event {
            Event::Start(e) => {
                let t = tag(e.name().as_ref());
                if !seen_root {
                    if t != Tag::Gpx {
                        return Err(FormatError::WrongType { expected: "GPX" });
                    }
                    seen_root = true;
                }
                match t {
                    Tag::Trkpt if stack.top() == Tag::Trkseg => state.begin_point(&e)?,
                    Tag::Timer if stack.0.contains(&Tag::Metadata) => state.begin_timer(&e)?,
                    Tag::Pause if stack.top() == Tag::Timer => state.pause(&e)?,
                    Tag::Trkseg => state.new_segment = true,
                    Tag::Trk => state.tracks += 1,
                    _ => {}
                }
                stack.0.push(t);
            }
            Event::Empty(e) => match tag(e.name().as_ref()) {
                Tag::Trkpt if stack.top() == Tag::Trkseg => {
                    // A point without children has no time.
                    state.begin_point(&e)?;
                    state.end_point();
                }
                Tag::Timer if stack.0.contains(&Tag::Metadata) => state.begin_timer(&e)?,
                Tag::Pause if stack.top() == Tag::Timer => state.pause(&e)?,
                _ => {}
            },
            Event::End(_) => {
                let closed = stack.0.pop();
                if closed == Some(Tag::Trkpt) {
                    state.end_point();
                }
            }
            Event::Text(e) => {
                let (top, parent) = (stack.top(), stack.parent());
                if top != Tag::Other {
                    state.value(top, parent, &e, || xml::text(&e));
                }
            }
            Event::CData(e) => {
                let (top, parent) = (stack.top(), stack.parent());
                if top != Tag::Other {
                    let raw = e.into_inner();
                    state.value(top, parent, &raw, || {
                        String::from_utf8_lossy(&raw).into_owned()
                    });
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root || !stack.0.is_empty() {
        return Err(FormatError::Corrupt("GPX ends before </gpx>".into()));
    }
    let name = state
        .track_name
        .or(state.meta_name)
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let sport = state.track_type.as_deref().and_then(sport_from_type);
    let (start_ms, sessions, pauses) = match state.timer {
        // Pacer's own timer: the exact start, pauses and end.
        Some(timer) => (
            Some(timer.start_ms),
            timer
                .end_ms
                .map(|end_ms| Session {
                    sport_name: None,
                    sport,
                    start_ms: timer.start_ms,
                    end_ms,
                    totals: DeviceTotals::default(),
                })
                .into_iter()
                .collect(),
            timer.pauses,
        ),
        None => (state.meta_time, Vec::new(), state.pauses),
    };
    Ok(ParsedActivity {
        sport,
        name,
        start_ms,
        fixes: state.fixes,
        device: DeviceTotals::default(),
        sessions,
        pauses,
    })
}

#[cfg(test)]
mod tests {
    use crate::domain::Sport;
    use crate::formats::{parse, DataType, FormatError};

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>Morning</name><type>running</type>
    <trkseg>
      <trkpt lat="51.0" lon="0.0"><ele>10</ele><time>2024-01-01T08:00:00Z</time></trkpt>
      <trkpt lat="51.0001" lon="0.0"><ele>11</ele><time>2024-01-01T08:00:05Z</time></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="51.0002" lon="0.0"><time>2024-01-01T08:01:00Z</time></trkpt>
    </trkseg>
  </trk>
</gpx>"#;

    #[test]
    fn parses_points_segments_and_sport() {
        let a = parse(DataType::Gpx, SAMPLE.as_bytes()).unwrap();
        assert_eq!(a.name.as_deref(), Some("Morning"));
        assert_eq!(a.sport, Some(Sport::Run));
        assert_eq!(a.fixes.len(), 3);
        assert_eq!(a.fixes[0].t_ms, 1_704_096_000_000);
        assert_eq!(a.fixes[1].alt, Some(11.0));
        assert_eq!(a.fixes[2].alt, None);
        assert_eq!(a.pauses, vec![(1_704_096_005_000, 1_704_096_060_000)]);
    }

    #[test]
    fn truncated_gpx_is_an_error() {
        for cut in [10, SAMPLE.len() / 2, SAMPLE.len() - 10] {
            assert!(parse(DataType::Gpx, &SAMPLE.as_bytes()[..cut]).is_err());
        }
    }

    #[test]
    fn gpx_without_times_has_no_track() {
        let s = r#"<gpx version="1.1" creator="t"><trk><trkseg><trkpt lat="1" lon="2"/></trkseg></trk></gpx>"#;
        assert_eq!(
            parse(DataType::Gpx, s.as_bytes()),
            Err(FormatError::NoTrack)
        );
    }

    /// Garmin's TrackPointExtension under two different prefixes, a bare
    /// `<power>`, GPX 1.0 `<speed>`, a BOM, time zones, two tracks, and
    /// waypoints and routes (whose times and names are not the track's).
    #[test]
    fn extensions_under_any_prefix_and_real_world_quirks() {
        let s = "\u{feff}<?xml version=\"1.0\"?>\n".to_string()
            + r#"<gpx xmlns="http://www.topografix.com/GPX/1/1" xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1" xmlns:ns3="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">
  <metadata><name>Meta &amp; name</name><time>2024-01-01T07:59:00Z</time></metadata>
  <wpt lat="10" lon="10"><time>2020-01-01T00:00:00Z</time><name>Cafe</name></wpt>
  <rte><name>Planned</name><rtept lat="10" lon="10"><time>2020-01-01T00:00:00Z</time></rtept></rte>
  <trk><type>1</type>
    <trkseg>
      <trkpt lat="51.0" lon="0.0"><time>2024-01-01T09:00:00+01:00</time>
        <extensions><power>250</power><gpxtpx:TrackPointExtension><gpxtpx:atemp>18.0</gpxtpx:atemp><gpxtpx:hr>140</gpxtpx:hr><gpxtpx:cad>85</gpxtpx:cad></gpxtpx:TrackPointExtension></extensions>
      </trkpt>
      <trkpt lat="51.0001" lon="0.0"><time>2024-01-01T08:00:01.500Z</time><speed>4.5</speed>
        <extensions><ns3:TrackPointExtension><ns3:hr>141</ns3:hr><ns3:cad>86</ns3:cad><ns3:speed>5.5</ns3:speed></ns3:TrackPointExtension></extensions>
      </trkpt>
      <trkpt lat="51.0002" lon="0.0"><ele>12</ele></trkpt>
    </trkseg>
  </trk>
  <trk><name>Second</name>
    <trkseg><trkpt lat="51.0003" lon="0.0"><time>2024-01-01T08:00:30Z</time><extensions><TrackPointExtension><hr>150</hr></TrackPointExtension></extensions></trkpt></trkseg>
  </trk>
</gpx>"#;
        let a = parse(DataType::Gpx, s.as_bytes()).unwrap();
        assert_eq!(a.sport, Some(Sport::Ride));
        assert_eq!(a.name.as_deref(), Some("Meta & name"));
        assert_eq!(a.start_ms, Some(1_704_095_940_000));
        let t0 = 1_704_096_000_000;
        assert_eq!(
            a.fixes.iter().map(|f| f.t_ms).collect::<Vec<_>>(),
            vec![t0, t0 + 1_500, t0 + 30_000]
        );
        let (p, q, r) = (a.fixes[0], a.fixes[1], a.fixes[2]);
        assert_eq!(
            (p.heartrate, p.cadence, p.power),
            (Some(140), Some(85), Some(250))
        );
        assert_eq!(
            (q.heartrate, q.cadence, q.power),
            (Some(141), Some(86), None)
        );
        // The extension's speed is the later, more precise one.
        assert_eq!(q.speed, Some(5.5));
        assert_eq!(r.heartrate, Some(150));
        // The second track is a new segment: a pause between them.
        assert_eq!(a.pauses, vec![(t0 + 1_500, t0 + 30_000)]);
    }

    #[test]
    fn wrong_root_and_bad_coordinates_are_refused() {
        let other = r#"<?xml version="1.0"?><kml><!-- not a <gpx file --></kml>"#;
        assert_eq!(
            parse(DataType::Gpx, other.as_bytes()),
            Err(FormatError::WrongType { expected: "GPX" })
        );
        let bad = r#"<gpx><trk><trkseg><trkpt lat="north" lon="2"><time>2024-01-01T08:00:00Z</time></trkpt></trkseg></trk></gpx>"#;
        assert!(matches!(
            parse(DataType::Gpx, bad.as_bytes()),
            Err(FormatError::Corrupt(_))
        ));
        let mismatched = r#"<gpx><trk><trkseg></trk></trkseg></gpx>"#;
        assert!(matches!(
            parse(DataType::Gpx, mismatched.as_bytes()),
            Err(FormatError::Corrupt(_))
        ));
    }
}
