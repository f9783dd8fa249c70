//! Activity export: GPX 1.1 (for other apps) and GeoJSON (for web maps).

use std::fmt::Write as _;

use geojson::JsonObject;
use quick_xml::escape::escape;
use serde_json::json;

use super::FormatError;
use crate::domain::{Fix, Sport};

/// The GPX `<type>` written for each sport; the importer maps it back.
fn gpx_type(sport: Sport) -> &'static str {
    match sport {
        Sport::Run => "running",
        Sport::Ride => "cycling",
    }
}

/// RFC 3339 UTC, with milliseconds only when they are not zero.
fn gpx_time(t_ms: i64) -> Result<String, FormatError> {
    chrono::DateTime::from_timestamp_millis(t_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .ok_or_else(|| FormatError::Export(format!("time {t_ms} out of range")))
}

/// The namespace of Pacer's own GPX extensions: the timer (start, pauses,
/// completion) and each fix's horizontal accuracy, so that an export
/// uploaded again gives the same activity. Other apps ignore them.
pub const PACER_GPX_NS: &str = "https://pacer.invalid/xmlschemas/gpx/1";

/// When the activity's timer ran: written to the GPX metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpxTimer {
    pub start_ms: i64,
    /// None while the activity is still recorded.
    pub end_ms: Option<i64>,
    /// The timer's pauses `[from, to)`.
    pub pauses: Vec<(i64, i64)>,
}

/// Writes a GPX 1.1 document with one track, times and elevation.
pub fn to_gpx(
    name: Option<&str>,
    sport: Option<Sport>,
    fixes: &[Fix],
) -> Result<Vec<u8>, FormatError> {
    to_gpx_with_pauses(name, sport, fixes, &[])
}

/// One track point, with heart rate and cadence in Garmin's
/// TrackPointExtension, power as the bare `<power>` other apps read, and
/// the accuracy in Pacer's extension. Numbers are written in their
/// shortest exact form (`9.4`, never `9.399999618530273`), so they read
/// back as the same values.
fn write_point(out: &mut String, f: &Fix) -> Result<(), FormatError> {
    let _ = write!(out, "<trkpt lat=\"{}\" lon=\"{}\">", f.lat, f.lng);
    if let Some(alt) = f.alt {
        let _ = write!(out, "<ele>{alt}</ele>");
    }
    let _ = write!(out, "<time>{}</time>", gpx_time(f.t_ms)?);
    if f.heartrate.is_some()
        || f.cadence.is_some()
        || f.power.is_some()
        || f.speed.is_some()
        || f.accuracy.is_some()
    {
        out.push_str("<extensions>");
        if let Some(p) = f.power {
            let _ = write!(out, "<power>{p}</power>");
        }
        if let Some(a) = f.accuracy {
            let _ = write!(out, "<pacer:accuracy>{a}</pacer:accuracy>");
        }
        if f.heartrate.is_some() || f.cadence.is_some() || f.speed.is_some() {
            out.push_str("<gpxtpx:TrackPointExtension>");
            if let Some(hr) = f.heartrate {
                let _ = write!(out, "<gpxtpx:hr>{hr}</gpxtpx:hr>");
            }
            if let Some(cad) = f.cadence {
                let _ = write!(out, "<gpxtpx:cad>{cad}</gpxtpx:cad>");
            }
            if let Some(speed) = f.speed {
                let _ = write!(out, "<gpxtpx:speed>{speed}</gpxtpx:speed>");
            }
            out.push_str("</gpxtpx:TrackPointExtension>");
        }
        out.push_str("</extensions>");
    }
    out.push_str("</trkpt>\n");
    Ok(())
}

/// As [`to_gpx`], starting a new track segment after each timer pause
/// (`[stop, start)` in epoch ms) and leaving out the fixes recorded while
/// stopped, so that importing the file again (which reads segment gaps as
/// pauses) gives the same distance and times.
pub fn to_gpx_with_pauses(
    name: Option<&str>,
    sport: Option<Sport>,
    fixes: &[Fix],
    pauses: &[(i64, i64)],
) -> Result<Vec<u8>, FormatError> {
    let mut writer = GpxWriter::new(name, sport, pauses.to_vec(), fixes.len().max(1));
    let mut out = Vec::new();
    while let Some(piece) = writer.next_piece(fixes)? {
        out.extend_from_slice(&piece);
    }
    Ok(out)
}

/// Writes the GPX 1.1 document of [`to_gpx_with_pauses`] piece by piece
/// (`points` track points per piece), so that a long route is streamed
/// rather than built whole.
pub struct GpxWriter {
    name: Option<String>,
    sport: Option<Sport>,
    timer: Option<GpxTimer>,
    pauses: Vec<(i64, i64)>,
    /// The next pause not yet behind the route.
    pause: usize,
    points: usize,
    /// The next fix to write; None before the header, and past the end
    /// once the footer is written.
    at: Option<usize>,
    /// Points in the open `<trkseg>` (0: none open).
    open: usize,
    segments: usize,
    done: bool,
}

impl GpxWriter {
    pub fn new(
        name: Option<&str>,
        sport: Option<Sport>,
        pauses: Vec<(i64, i64)>,
        points: usize,
    ) -> GpxWriter {
        GpxWriter {
            name: name.map(str::to_owned),
            sport,
            timer: None,
            pauses,
            pause: 0,
            points: points.max(1),
            at: None,
            open: 0,
            segments: 0,
            done: false,
        }
    }

    /// Writes the timer into the metadata: the start as `<time>`, and
    /// start, pauses and end in Pacer's extension, which the importer reads
    /// back (other apps see the start).
    pub fn with_timer(mut self, timer: GpxTimer) -> GpxWriter {
        self.timer = Some(timer);
        self
    }

    fn write_metadata(&self, out: &mut String) -> Result<(), FormatError> {
        let Some(timer) = &self.timer else {
            return Ok(());
        };
        let _ = write!(
            out,
            "<metadata><time>{}</time><extensions><pacer:timer start=\"{}\"",
            gpx_time(timer.start_ms)?,
            gpx_time(timer.start_ms)?
        );
        if let Some(end) = timer.end_ms {
            let _ = write!(out, " end=\"{}\"", gpx_time(end)?);
        }
        out.push('>');
        for &(from, to) in &timer.pauses {
            let _ = write!(out, "<pacer:pause from=\"{}\"", gpx_time(from)?);
            if to != i64::MAX {
                let _ = write!(out, " to=\"{}\"", gpx_time(to)?);
            }
            out.push_str("/>");
        }
        out.push_str("</pacer:timer></extensions></metadata>\n");
        Ok(())
    }

    /// The next piece of the document, or None after the last.
    pub fn next_piece(&mut self, fixes: &[Fix]) -> Result<Option<Vec<u8>>, FormatError> {
        if self.done {
            return Ok(None);
        }
        let mut out = String::with_capacity(64 * 1024);
        let Some(at) = self.at else {
            out.push_str(concat!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "<gpx version=\"1.1\" creator=\"Pacer\" ",
                "xmlns=\"http://www.topografix.com/GPX/1/1\" ",
                "xmlns:gpxtpx=\"http://www.garmin.com/xmlschemas/TrackPointExtension/v2\" ",
            ));
            let _ = writeln!(out, "xmlns:pacer=\"{PACER_GPX_NS}\">");
            self.write_metadata(&mut out)?;
            out.push_str("<trk>");
            if let Some(name) = &self.name {
                let _ = write!(out, "<name>{}</name>", escape(name.as_str()));
            }
            if let Some(sport) = self.sport {
                let _ = write!(out, "<type>{}</type>", gpx_type(sport));
            }
            out.push('\n');
            self.at = Some(0);
            return Ok(Some(out.into_bytes()));
        };
        let end = (at + self.points).min(fixes.len());
        for f in &fixes[at..end] {
            let mut split = false;
            // As the stats: a fix at the moment the timer stops still
            // counts, and so does one at the moment it restarts.
            while let Some(&(stop, start)) = self.pauses.get(self.pause) {
                if f.t_ms <= stop {
                    break;
                }
                split = true;
                if f.t_ms < start {
                    // Recorded while the timer was stopped.
                    break;
                }
                self.pause += 1;
            }
            if split && self.open > 0 {
                out.push_str("</trkseg>\n");
                self.open = 0;
            }
            if self
                .pauses
                .get(self.pause)
                .is_some_and(|&(stop, start)| f.t_ms > stop && f.t_ms < start)
            {
                continue;
            }
            if self.open == 0 {
                out.push_str("<trkseg>\n");
                self.segments += 1;
            }
            self.open += 1;
            write_point(&mut out, f)?;
        }
        if end < fixes.len() {
            self.at = Some(end);
            return Ok(Some(out.into_bytes()));
        }
        // The end: close the open segment (a track has at least one).
        if self.open == 0 && self.segments == 0 {
            out.push_str("<trkseg>\n");
            self.open = 1;
        }
        if self.open > 0 {
            out.push_str("</trkseg>\n");
        }
        out.push_str("</trk>\n</gpx>\n");
        self.done = true;
        Ok(Some(out.into_bytes()))
    }
}

/// An RFC 7946 Feature whose geometry is the track as a LineString
/// (`[lng, lat]`, plus altitude when every fix has one). Timestamps go in
/// the `times` property (epoch ms), parallel to the coordinates.
pub fn to_geojson(name: Option<&str>, sport: Option<Sport>, fixes: &[Fix]) -> serde_json::Value {
    let mut writer = GeoJsonWriter::new(name, sport, JsonObject::new(), fixes.len().max(1));
    let mut out = Vec::new();
    while let Some(piece) = writer.next_piece(fixes) {
        out.extend_from_slice(&piece);
    }
    serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
}

/// Writes the GeoJSON Feature of [`to_geojson`] piece by piece (`points`
/// coordinates or times per piece), so that a long route is streamed
/// rather than built whole.
pub struct GeoJsonWriter {
    /// `"name":…,"sport_type":…` and any extra properties.
    properties: Vec<u8>,
    points: usize,
    step: GeoJsonStep,
}

enum GeoJsonStep {
    Start,
    Coordinates(usize),
    Times(usize),
    Done,
}

impl GeoJsonWriter {
    pub fn new(
        name: Option<&str>,
        sport: Option<Sport>,
        mut extra: JsonObject,
        points: usize,
    ) -> GeoJsonWriter {
        extra.insert("name".into(), json!(name));
        extra.insert("sport_type".into(), json!(sport.map(Sport::as_str)));
        let mut properties = Vec::new();
        for (i, (k, v)) in extra.iter().enumerate() {
            if i > 0 {
                properties.push(b',');
            }
            let _ = serde_json::to_writer(&mut properties, k);
            properties.push(b':');
            let _ = serde_json::to_writer(&mut properties, v);
        }
        GeoJsonWriter {
            properties,
            points: points.max(1),
            step: GeoJsonStep::Start,
        }
    }

    /// The next piece of the document, or None after the last.
    pub fn next_piece(&mut self, fixes: &[Fix]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(64 * 1024);
        match self.step {
            GeoJsonStep::Start => {
                out.extend_from_slice(
                    br#"{"type":"Feature","geometry":{"type":"LineString","coordinates":["#,
                );
                self.step = GeoJsonStep::Coordinates(0);
            }
            GeoJsonStep::Coordinates(at) => {
                let with_alt = !fixes.is_empty() && fixes.iter().all(|f| f.alt.is_some());
                let end = (at + self.points).min(fixes.len());
                for (i, f) in fixes[at..end].iter().enumerate() {
                    if at + i > 0 {
                        out.push(b',');
                    }
                    let _ = match f.alt {
                        // As `f32`: its shortest form, without float noise.
                        Some(a) if with_alt => serde_json::to_writer(&mut out, &(f.lng, f.lat, a)),
                        _ => serde_json::to_writer(&mut out, &[f.lng, f.lat]),
                    };
                }
                if end == fixes.len() {
                    out.extend_from_slice(b"]},\"properties\":{");
                    out.extend_from_slice(&self.properties);
                    out.extend_from_slice(b",\"times\":[");
                    self.step = GeoJsonStep::Times(0);
                } else {
                    self.step = GeoJsonStep::Coordinates(end);
                }
            }
            GeoJsonStep::Times(at) => {
                let end = (at + self.points).min(fixes.len());
                for (i, f) in fixes[at..end].iter().enumerate() {
                    if at + i > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut out, &f.t_ms);
                }
                if end == fixes.len() {
                    out.extend_from_slice(b"]}}");
                    self.step = GeoJsonStep::Done;
                } else {
                    self.step = GeoJsonStep::Times(end);
                }
            }
            GeoJsonStep::Done => return None,
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stats::compute;
    use crate::formats::{parse, DataType};

    fn track() -> Vec<Fix> {
        (0..300)
            .map(|i| {
                let mut f = Fix::new(
                    1_700_000_000_000 + i * 1_000,
                    51.5 + i as f64 * 0.00003,
                    -0.1 + (i as f64 * 0.05).sin() * 0.0002,
                );
                f.alt = Some(20.0 + (i as f32 * 0.1).sin());
                f.heartrate = Some(120 + (i % 40) as u8);
                f.cadence = Some(80 + (i % 10) as u8);
                f.power = (i % 3 != 0).then_some(200 + i as u16);
                f.speed = Some(3.25);
                f
            })
            .collect()
    }

    #[test]
    fn gpx_round_trip_keeps_distance() {
        let fixes = track();
        let bytes = to_gpx(Some("Loop"), Some(Sport::Run), &fixes).unwrap();
        let back = parse(DataType::Gpx, &bytes).unwrap();
        assert_eq!(back.name.as_deref(), Some("Loop"));
        assert_eq!(back.sport, Some(Sport::Run));
        assert_eq!(back.fixes.len(), fixes.len());
        assert_eq!(back.fixes[7].t_ms, fixes[7].t_ms);
        assert!(back.fixes[7].alt.is_some());
        assert_eq!(back.fixes[8], fixes[8], "every field survives");
        let (a, _) = compute(Sport::Run, &fixes);
        let (b, _) = compute(Sport::Run, &back.fixes);
        assert!(a.distance > 900.0);
        assert!((a.distance - b.distance).abs() / a.distance < 0.001);
    }

    #[test]
    fn gpx_pauses_become_segments() {
        let fixes = track();
        let pauses = [(fixes[100].t_ms - 500, fixes[150].t_ms - 500)];
        let bytes = to_gpx_with_pauses(None, Some(Sport::Run), &fixes, &pauses).unwrap();
        let back = parse(DataType::Gpx, &bytes).unwrap();
        assert_eq!(back.fixes.len(), 250);
        assert_eq!(back.pauses, vec![(fixes[99].t_ms, fixes[150].t_ms)]);
        let (a, _) = crate::domain::stats::compute_with_pauses(Sport::Run, &fixes, &pauses);
        let (b, _) =
            crate::domain::stats::compute_with_pauses(Sport::Run, &back.fixes, &back.pauses);
        assert!((a.distance - b.distance).abs() / a.distance < 0.001);
        assert_eq!(a.moving_time, b.moving_time);
    }

    #[test]
    fn geojson_is_a_linestring_feature() {
        let fixes = track();
        let v = to_geojson(Some("Loop"), Some(Sport::Ride), &fixes);
        assert_eq!(v["type"], "Feature");
        assert_eq!(v["geometry"]["type"], "LineString");
        let first = &v["geometry"]["coordinates"][0];
        assert_eq!(first[0].as_f64(), Some(fixes[0].lng));
        assert_eq!(first[1].as_f64(), Some(fixes[0].lat));
        assert_eq!(v["properties"]["sport_type"], "Ride");
        assert_eq!(v["properties"]["times"].as_array().map(Vec::len), Some(300));
        let parsed: geojson::GeoJson = v.to_string().parse().unwrap();
        assert!(matches!(parsed, geojson::GeoJson::Feature(_)));
    }

    /// Pacer's export carries the timer (start before the first fix, a
    /// pause, the completion) and each fix's accuracy and speed, written
    /// without float noise, so uploading it gives back the same fixes and
    /// the same activity, to the last digit.
    #[test]
    fn an_export_reads_back_as_the_same_activity() {
        use crate::domain::activity::{ActivityState, StatusLog};
        use crate::domain::completion::complete;
        let mut fixes = track();
        for (i, f) in fixes.iter_mut().enumerate() {
            // 9.4 to 10: the nearest f32 to each decimal.
            f.alt = Some((94 + (i % 7) as u16) as f32 / 10.0);
            f.t_ms += (i as i64 * 362) % 1_000;
            f.accuracy = Some(4.5);
            if i % 37 == 5 {
                // A jump the accuracy keeps out of distance and speed.
                f.accuracy = Some(80.0);
                f.lat += 0.002;
                f.speed = Some(30.0);
            }
        }
        let t = |i: usize| fixes[i].t_ms;
        let mut log = StatusLog::start(t(0) - 2_500);
        let far = i64::MAX / 2;
        log.apply(ActivityState::Paused, Some(t(100) - 300), far)
            .unwrap();
        log.apply(ActivityState::Started, Some(t(150) - 700), far)
            .unwrap();
        // Fixes run on past the completion.
        log.apply(ActivityState::Complete, Some(t(280) + 400), far)
            .unwrap();
        let mut writer = GpxWriter::new(Some("Loop"), Some(Sport::Ride), log.timer_off(), 64)
            .with_timer(GpxTimer {
                start_ms: log.start_ms(),
                end_ms: log.completed_ms(),
                pauses: log.pauses(),
            });
        let mut bytes = Vec::new();
        while let Some(piece) = writer.next_piece(&fixes).unwrap() {
            bytes.extend_from_slice(&piece);
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("<ele>9.4</ele>"), "{}", &text[..600]);
        assert!(text.contains("<ele>9.5</ele>"));
        for ele in text.split("<ele>").skip(1) {
            let value = &ele[..ele.find('<').unwrap()];
            assert!(value.len() <= 4, "float noise: <ele>{value}</ele>");
        }
        assert!(!text.contains("000Z"), "zero milliseconds are left out");
        assert!(text.contains(".362Z"));

        let back = parse(DataType::Gpx, &bytes).unwrap();
        let kept: Vec<Fix> = fixes
            .iter()
            .copied()
            .filter(|f| {
                !log.timer_off()
                    .iter()
                    .any(|&(a, b)| f.t_ms > a && f.t_ms < b)
            })
            .collect();
        assert_eq!(back.fixes, kept, "every field of every fix");
        assert_eq!(back.start_ms, Some(log.start_ms()));
        assert_eq!(back.pauses, log.pauses());
        assert_eq!(back.sessions.len(), 1);
        assert_eq!(back.sessions[0].end_ms, t(280) + 400);

        // The log an upload builds from it, and the activity.
        let mut again = StatusLog::start(back.start_ms.unwrap());
        for &(from, to) in &back.pauses {
            again.apply(ActivityState::Paused, Some(from), far).unwrap();
            again.apply(ActivityState::Started, Some(to), far).unwrap();
        }
        again
            .apply(ActivityState::Complete, Some(back.sessions[0].end_ms), far)
            .unwrap();
        assert_eq!(again, log);
        let original = complete(Sport::Ride, &fixes, &log);
        let uploaded = complete(Sport::Ride, &back.fixes, &again);
        let mut expected = original.totals;
        expected.point_count = kept.len() as i64;
        assert_eq!(uploaded.totals, expected);
        assert_eq!(uploaded.splits, original.splits);
        assert!(original.totals.max_speed < 5.0, "{:?}", original.totals);
    }
}
