//! Activity file import (GPX, FIT, TCX, optionally gzipped) and export
//! (GPX, GeoJSON). Everything works on in-memory bytes so the web layer
//! decides where files come from.

mod export;
mod fit;
mod gpx;
mod tcx;
mod xml;

use std::io::Read;

use serde::Serialize;

use crate::domain::{Fix, Sport};

pub use export::{
    to_geojson, to_gpx, to_gpx_with_pauses, GeoJsonWriter, GpxTimer, GpxWriter, PACER_GPX_NS,
};

/// Largest file accepted after decompression. Real recordings are a few
/// MiB; this stops a small gzip bomb from exhausting memory.
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// Upload formats, named as Strava's `data_type` upload parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DataType {
    Gpx,
    GpxGz,
    Fit,
    FitGz,
    Tcx,
    TcxGz,
}

impl DataType {
    /// Parses Strava's names (`gpx`, `gpx.gz`, ...), case-insensitive, with
    /// an optional leading dot so a file extension works too.
    pub fn parse(s: &str) -> Result<DataType, FormatError> {
        let lower = s.trim().trim_start_matches('.').to_ascii_lowercase();
        match lower.as_str() {
            "gpx" => Ok(DataType::Gpx),
            "gpx.gz" => Ok(DataType::GpxGz),
            "fit" => Ok(DataType::Fit),
            "fit.gz" => Ok(DataType::FitGz),
            "tcx" => Ok(DataType::Tcx),
            "tcx.gz" => Ok(DataType::TcxGz),
            _ => Err(FormatError::UnknownDataType(s.chars().take(32).collect())),
        }
    }

    /// Guesses the type from a file name's extension (`ride.fit.gz`).
    pub fn from_file_name(name: &str) -> Option<DataType> {
        let lower = name.to_ascii_lowercase();
        [
            (".gpx.gz", DataType::GpxGz),
            (".fit.gz", DataType::FitGz),
            (".tcx.gz", DataType::TcxGz),
            (".gpx", DataType::Gpx),
            (".fit", DataType::Fit),
            (".tcx", DataType::Tcx),
        ]
        .into_iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map(|(_, t)| t)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Gpx => "gpx",
            DataType::GpxGz => "gpx.gz",
            DataType::Fit => "fit",
            DataType::FitGz => "fit.gz",
            DataType::Tcx => "tcx",
            DataType::TcxGz => "tcx.gz",
        }
    }

    fn is_gzipped(self) -> bool {
        matches!(self, DataType::GpxGz | DataType::FitGz | DataType::TcxGz)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown data_type {0:?}")]
    UnknownDataType(String),
    #[error("file is not a valid {expected} file")]
    WrongType { expected: &'static str },
    #[error("corrupt file: {0}")]
    Corrupt(String),
    #[error("file contains no GPS track")]
    NoTrack,
    #[error("file exceeds {MAX_DECOMPRESSED_BYTES} bytes")]
    TooLarge,
    #[error("export failed: {0}")]
    Export(String),
}

/// The device's own totals, as recorded in session (FIT) or lap (TCX)
/// messages. Seconds and metres.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DeviceTotals {
    pub distance: Option<f64>,
    /// Time the timer was running (excludes manual and auto pauses).
    pub timer_time: Option<f64>,
    pub elapsed_time: Option<f64>,
    /// Only some devices record this separately from the timer time.
    pub moving_time: Option<f64>,
}

/// One sport session inside a file: multisport FIT files (triathlons)
/// carry several, each with its own totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    /// The file's sport name (`cycling`, `running`, `swimming`, ...).
    pub sport_name: Option<String>,
    pub sport: Option<Sport>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub totals: DeviceTotals,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedActivity {
    pub sport: Option<Sport>,
    pub name: Option<String>,
    pub start_ms: Option<i64>,
    /// Positioned samples in strictly increasing time order.
    pub fixes: Vec<Fix>,
    /// Sum over sessions.
    pub device: DeviceTotals,
    /// Per-session totals (empty for formats without them).
    pub sessions: Vec<Session>,
    /// Timer stop/start intervals in epoch ms: FIT timer events, or the
    /// gaps between GPX track segments.
    pub pauses: Vec<(i64, i64)>,
}

/// Maps a file's free-text sport to Pacer's sports.
pub fn sport_from_name(name: &str) -> Option<Sport> {
    let lower = name.to_ascii_lowercase();
    let run = ["run", "jog", "trail"];
    let ride = ["ride", "cycl", "bik", "mtb", "gravel", "velo"];
    if run.iter().any(|k| lower.contains(k)) {
        Some(Sport::Run)
    } else if ride.iter().any(|k| lower.contains(k)) {
        Some(Sport::Ride)
    } else {
        None
    }
}

/// Parses an uploaded file. Never panics on malformed input.
pub fn parse(data_type: DataType, bytes: &[u8]) -> Result<ParsedActivity, FormatError> {
    let owned;
    let plain: &[u8] = if data_type.is_gzipped() {
        owned = gunzip(bytes)?;
        &owned
    } else {
        if bytes.len() as u64 > MAX_DECOMPRESSED_BYTES {
            return Err(FormatError::TooLarge);
        }
        bytes
    };
    let mut activity = match data_type {
        DataType::Gpx | DataType::GpxGz => gpx::parse(plain)?,
        DataType::Fit | DataType::FitGz => fit::parse(plain)?,
        DataType::Tcx | DataType::TcxGz => tcx::parse(plain)?,
    };
    normalise_fixes(&mut activity.fixes);
    if activity.fixes.is_empty() {
        return Err(FormatError::NoTrack);
    }
    if activity.start_ms.is_none() {
        activity.start_ms = activity.fixes.first().map(|f| f.t_ms);
    }
    Ok(activity)
}

/// Decompresses with a hard cap so a gzip bomb fails fast.
fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, FormatError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(FormatError::WrongType { expected: "gzip" });
    }
    let mut out = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(bytes);
    decoder
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| FormatError::Corrupt(format!("gzip: {e}")))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(FormatError::TooLarge);
    }
    Ok(out)
}

/// Drops invalid coordinates, sorts by time and keeps the first fix per
/// timestamp (stats require strictly increasing time).
fn normalise_fixes(fixes: &mut Vec<Fix>) {
    fixes.retain(|f| {
        f.lat.is_finite()
            && f.lng.is_finite()
            && (-90.0..=90.0).contains(&f.lat)
            && (-180.0..=180.0).contains(&f.lng)
            // (0,0) is what some devices write before a satellite lock.
            && !(f.lat == 0.0 && f.lng == 0.0)
    });
    fixes.sort_by_key(|f| f.t_ms);
    fixes.dedup_by_key(|f| f.t_ms);
}

/// True when the first bytes look like XML whose root contains `tag`.
fn xml_mentions(bytes: &[u8], tag: &str) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    String::from_utf8_lossy(head).contains(tag)
}

fn looks_like_fit(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[8..12] == b".FIT"
}

/// Converts a panic inside a third-party decoder into a `Corrupt` error:
/// a malformed upload must never take the server thread down.
fn no_panic<T>(what: &str, f: impl FnOnce() -> Result<T, FormatError>) -> Result<T, FormatError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(FormatError::Corrupt(format!("{what} decoder failed"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn data_type_names() {
        assert_eq!(DataType::parse("gpx.gz"), Ok(DataType::GpxGz));
        assert_eq!(DataType::parse("FIT"), Ok(DataType::Fit));
        assert_eq!(DataType::parse(".tcx"), Ok(DataType::Tcx));
        assert!(DataType::parse("kml").is_err());
        assert_eq!(DataType::from_file_name("a.FIT.gz"), Some(DataType::FitGz));
        for t in [DataType::Gpx, DataType::FitGz, DataType::TcxGz] {
            assert_eq!(DataType::parse(t.as_str()), Ok(t));
        }
    }

    #[test]
    fn sport_names() {
        assert_eq!(sport_from_name("running"), Some(Sport::Run));
        assert_eq!(sport_from_name("Biking"), Some(Sport::Ride));
        assert_eq!(sport_from_name("cycling"), Some(Sport::Ride));
        assert_eq!(sport_from_name("swimming"), None);
    }

    #[test]
    fn gzip_bomb_is_rejected() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_DECOMPRESSED_BYTES >> 20) + 1 {
            enc.write_all(&zeros).unwrap();
        }
        let gz = enc.finish().unwrap();
        assert!(gz.len() < 1 << 20);
        assert_eq!(parse(DataType::GpxGz, &gz), Err(FormatError::TooLarge));
    }

    #[test]
    fn garbage_never_panics() {
        let inputs: Vec<Vec<u8>> = vec![
            vec![],
            b"hello".to_vec(),
            vec![0xff; 100],
            vec![14, 0x10, 0, 0, 0, 0, 0, 0, b'.', b'F', b'I', b'T', 0, 0],
            b"<?xml version=\"1.0\"?><gpx><trk><trkseg><trkpt lat=\"x\"".to_vec(),
            b"<TrainingCenterDatabase><Activities><Activity>".to_vec(),
            vec![0x1f, 0x8b, 8, 0, 0, 0],
        ];
        for t in [
            DataType::Gpx,
            DataType::GpxGz,
            DataType::Fit,
            DataType::FitGz,
            DataType::Tcx,
            DataType::TcxGz,
        ] {
            for input in &inputs {
                assert!(parse(t, input).is_err(), "{t:?} accepted {input:?}");
            }
        }
    }

    #[test]
    fn normalise_sorts_and_dedups() {
        let mut fixes = vec![
            Fix::new(2_000, 1.0, 1.0),
            Fix::new(1_000, 1.0, 1.0),
            Fix::new(2_000, 2.0, 2.0),
            Fix::new(3_000, 0.0, 0.0),
            Fix::new(4_000, 95.0, 0.0),
        ];
        normalise_fixes(&mut fixes);
        assert_eq!(
            fixes.iter().map(|f| f.t_ms).collect::<Vec<_>>(),
            vec![1_000, 2_000]
        );
    }

    /// One real ride (an Edge 530, via the `sweat` package) as the device's
    /// FIT and as Garmin Connect's GPX and TCX exports: every GPX and TCX
    /// fix keeps the FIT record's position and sensors.
    #[test]
    fn the_same_ride_as_fit_gpx_and_tcx_agrees() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/recordings/");
        let read = |p: &str| std::fs::read(format!("{dir}{p}")).unwrap();
        let fit = parse(
            DataType::Fit,
            &read("corpus/sweat_2020-06-01-16-52-40_ride.fit"),
        )
        .unwrap();
        let by_time: std::collections::HashMap<i64, Fix> =
            fit.fixes.iter().map(|f| (f.t_ms, *f)).collect();
        for (t, file) in [
            (DataType::Gpx, "formats/sweat_5039744860_garmin.gpx"),
            (DataType::Tcx, "formats/sweat_5039744860_garmin.tcx"),
        ] {
            let other = parse(t, &read(file)).unwrap();
            assert_eq!(other.sport, Some(Sport::Ride), "{file}");
            assert!(other.fixes.len() >= fit.fixes.len() - 1, "{file}");
            let mut matched = 0;
            for f in &other.fixes {
                let Some(g) = by_time.get(&f.t_ms) else {
                    continue;
                };
                matched += 1;
                assert!(
                    (f.lat - g.lat).abs() < 1e-6 && (f.lng - g.lng).abs() < 1e-6,
                    "{file}"
                );
                assert_eq!((f.heartrate, f.cadence), (g.heartrate, g.cadence), "{file}");
                if t == DataType::Tcx {
                    assert_eq!(f.power, g.power, "{file}");
                    let (a, b) = (f.speed.unwrap(), g.speed.unwrap());
                    assert!((a - b).abs() < 0.01, "{file}: {a} {b}");
                }
            }
            assert!(matched >= fit.fixes.len() - 1, "{file}: {matched}");
            assert!(other
                .fixes
                .iter()
                .all(|f| f.heartrate.is_some() && f.cadence.is_some()));
        }
    }

    /// Strava's GPX export writes power as a bare `<power>` in
    /// `<extensions>` next to the TrackPointExtension (gzipped here).
    #[test]
    fn strava_gpx_keeps_power_heart_rate_and_cadence() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/recordings/");
        let read = |p: &str| std::fs::read(format!("{dir}{p}")).unwrap();
        let gpx = parse(
            DataType::GpxGz,
            &read("formats/sweat_4078723797_strava.gpx.gz"),
        )
        .unwrap();
        let fit = parse(DataType::Fit, &read("corpus/sweat_4078723797_ride.fit")).unwrap();
        assert_eq!(gpx.sport, Some(Sport::Ride));
        let by_time: std::collections::HashMap<i64, Fix> =
            fit.fixes.iter().map(|f| (f.t_ms, *f)).collect();
        let mut same_power = 0;
        for f in &gpx.fixes {
            assert!(f.power.is_some() && f.heartrate.is_some() && f.cadence.is_some());
            if let Some(g) = by_time.get(&f.t_ms) {
                assert_eq!(f.heartrate, g.heartrate);
                same_power += usize::from(f.power == g.power);
            }
        }
        assert!(
            same_power > gpx.fixes.len() * 9 / 10,
            "{same_power} of {}",
            gpx.fixes.len()
        );
    }
}
