//! GPX 1.0/1.1 import via the `gpx` crate.

use ::gpx::Time;
use time::OffsetDateTime;

use super::{no_panic, sport_from_name, xml_mentions, DeviceTotals, FormatError, ParsedActivity};
use crate::domain::Fix;

pub(super) fn time_ms(t: Time) -> i64 {
    let odt: OffsetDateTime = t.into();
    (odt.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedActivity, FormatError> {
    if !xml_mentions(bytes, "<gpx") {
        return Err(FormatError::WrongType { expected: "GPX" });
    }
    let doc = no_panic("GPX", || {
        ::gpx::read(bytes).map_err(|e| FormatError::Corrupt(e.to_string()))
    })?;
    let track = doc.tracks.first();
    let name = track
        .and_then(|t| t.name.clone())
        .or_else(|| doc.metadata.as_ref().and_then(|m| m.name.clone()))
        .filter(|n| !n.trim().is_empty());
    let sport = track
        .and_then(|t| t.type_.as_deref())
        .and_then(sport_from_name);

    let mut fixes = Vec::new();
    let mut pauses = Vec::new();
    for trk in &doc.tracks {
        for seg in &trk.segments {
            let mut first_in_segment = true;
            for wpt in &seg.points {
                // Untimed points (routes, planned tracks) cannot be replayed.
                let Some(t) = wpt.time else { continue };
                let p = wpt.point();
                let mut fix = Fix::new(time_ms(t), p.y(), p.x());
                fix.alt = wpt.elevation.map(|e| e as f32);
                fix.speed = wpt
                    .speed
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| s as f32);
                // A new segment is where the recorder was paused.
                if first_in_segment {
                    if let Some(prev) = fixes.last().map(|f: &Fix| f.t_ms) {
                        if fix.t_ms > prev {
                            pauses.push((prev, fix.t_ms));
                        }
                    }
                    first_in_segment = false;
                }
                fixes.push(fix);
            }
        }
    }
    Ok(ParsedActivity {
        sport,
        name,
        start_ms: doc.metadata.and_then(|m| m.time).map(time_ms),
        fixes,
        device: DeviceTotals::default(),
        sessions: Vec::new(),
        pauses,
    })
}

#[cfg(test)]
mod tests {
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
        assert_eq!(a.sport, Some(crate::domain::Sport::Run));
        assert_eq!(a.fixes.len(), 3);
        assert_eq!(a.fixes[0].t_ms, 1_704_096_000_000);
        assert_eq!(a.fixes[1].alt, Some(11.0));
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
}
