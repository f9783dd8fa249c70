//! Garmin Training Center XML import via the `tcx` crate.

use std::io::BufReader;

use super::{
    looks_like_fit, no_panic, sport_from_name, xml_mentions, DeviceTotals, FormatError,
    ParsedActivity,
};
use crate::domain::Fix;

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedActivity, FormatError> {
    if looks_like_fit(bytes) || !xml_mentions(bytes, "TrainingCenterDatabase") {
        return Err(FormatError::WrongType { expected: "TCX" });
    }
    let db = no_panic("TCX", || {
        ::tcx::read(&mut BufReader::new(bytes)).map_err(|e| FormatError::Corrupt(e.to_string()))
    })?;
    let activities = db.activities.map(|a| a.activities).unwrap_or_default();
    let first = activities.first();
    let sport = first.and_then(|a| sport_from_name(&a.sport));
    let name = first
        .and_then(|a| a.notes.clone())
        .filter(|n| !n.trim().is_empty());

    let mut fixes = Vec::new();
    let mut device = DeviceTotals::default();
    let (mut distance, mut timer) = (0.0, 0.0);
    for lap in activities.iter().flat_map(|a| &a.laps) {
        distance += lap.distance_meters;
        timer += lap.total_time_seconds;
        for tp in lap.tracks.iter().flat_map(|t| &t.trackpoints) {
            let Some(pos) = &tp.position else { continue };
            let mut fix = Fix::new(tp.time.timestamp_millis(), pos.latitude, pos.longitude);
            fix.alt = tp.altitude_meters.map(|a| a as f32);
            fix.heartrate = tp
                .heart_rate
                .as_ref()
                .map(|h| h.value.clamp(0.0, 255.0) as u8);
            fix.cadence = tp.cadence;
            let tpx = tp.extensions.as_ref().and_then(|e| e.tpx.as_ref());
            fix.speed = tpx
                .and_then(|x| x.speed)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| s as f32);
            fix.power = tpx.and_then(|x| x.watts);
            fixes.push(fix);
        }
    }
    if !activities.is_empty() {
        // TCX lap totals are the timer's: TotalTimeSeconds excludes pauses.
        device.distance = Some(distance);
        device.timer_time = Some(timer);
    }
    Ok(ParsedActivity {
        sport,
        name,
        start_ms: fixes.first().map(|f: &Fix| f.t_ms),
        fixes,
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
