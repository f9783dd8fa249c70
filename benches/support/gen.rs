//! Synthetic activity files for the upload benchmark and the memory
//! example: a 10-hour 1 Hz ride as FIT (written by the small encoder
//! below), as GPX (Pacer's own exporter) and as TCX (written below: the
//! `tcx` crate only reads).
#![allow(dead_code)]

use pacer::domain::{Fix, Sport};

pub const T0: i64 = 1_700_000_000_000;

/// `n` fixes at 1 Hz: a winding road at 6-9 m/s with rolling hills,
/// heart rate, cadence and power.
pub fn ride(n: usize) -> Vec<Fix> {
    let (mut lat, mut lng, mut heading) = (45.0_f64, 7.0_f64, 0.2_f64);
    (0..n)
        .map(|i| {
            let x = i as f64;
            let speed = 7.5 + 1.5 * (x / 700.0).sin();
            heading += 0.015 * (x / 90.0).sin();
            lat += speed * heading.cos() / 111_195.0;
            lng += speed * heading.sin() / (111_195.0 * lat.to_radians().cos());
            let mut f = Fix::new(T0 + i as i64 * 1_000, lat, lng);
            f.alt = Some((300.0 + 80.0 * (x / 2_000.0).sin()) as f32);
            f.speed = Some(speed as f32);
            f.heartrate = Some(120 + (i % 40) as u8);
            f.cadence = Some(85 + (i % 10) as u8);
            f.power = Some(180 + (i % 60) as u16);
            f
        })
        .collect()
}

pub fn gpx(fixes: &[Fix]) -> Vec<u8> {
    pacer::formats::to_gpx(Some("Bench ride"), Some(Sport::Ride), fixes).unwrap_or_default()
}

/// A Garmin TCX file: one activity, one lap with the totals, one
/// trackpoint per fix with position, altitude, distance, heart rate,
/// cadence, and speed and power in the TPX extension.
pub fn tcx(fixes: &[Fix]) -> Vec<u8> {
    use std::fmt::Write;
    let iso = |t_ms: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t_ms) * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    };
    let (first, last) = (fixes[0].t_ms, fixes[fixes.len() - 1].t_ms);
    let total: f64 = fixes
        .iter()
        .skip(1)
        .map(|f| f64::from(f.speed.unwrap_or(0.0)))
        .sum();
    let mut x = String::with_capacity(fixes.len() * 420);
    let _ = write!(
        x,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2" xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">
  <Activities>
    <Activity Sport="Biking">
      <Id>{start}</Id>
      <Lap StartTime="{start}">
        <TotalTimeSeconds>{secs}</TotalTimeSeconds>
        <DistanceMeters>{total:.1}</DistanceMeters>
        <Calories>0</Calories>
        <Intensity>Active</Intensity>
        <TriggerMethod>Manual</TriggerMethod>
        <Track>
"#,
        start = iso(first),
        secs = (last - first) / 1_000,
    );
    let mut distance = 0.0_f64;
    for (i, f) in fixes.iter().enumerate() {
        if i > 0 {
            distance += f64::from(f.speed.unwrap_or(0.0));
        }
        let _ = write!(
            x,
            r#"          <Trackpoint>
            <Time>{t}</Time>
            <Position>
              <LatitudeDegrees>{lat}</LatitudeDegrees>
              <LongitudeDegrees>{lng}</LongitudeDegrees>
            </Position>
            <AltitudeMeters>{alt}</AltitudeMeters>
            <DistanceMeters>{distance:.2}</DistanceMeters>
            <HeartRateBpm>
              <Value>{hr}</Value>
            </HeartRateBpm>
            <Cadence>{cad}</Cadence>
            <Extensions>
              <ns3:TPX>
                <ns3:Speed>{speed}</ns3:Speed>
                <ns3:Watts>{watts}</ns3:Watts>
              </ns3:TPX>
            </Extensions>
          </Trackpoint>
"#,
            t = iso(f.t_ms),
            lat = f.lat,
            lng = f.lng,
            alt = f.alt.unwrap_or(0.0),
            hr = f.heartrate.unwrap_or(0),
            cad = f.cadence.unwrap_or(0),
            speed = f.speed.unwrap_or(0.0),
            watts = f.power.unwrap_or(0),
        );
    }
    x.push_str("        </Track>\n      </Lap>\n    </Activity>\n  </Activities>\n</TrainingCenterDatabase>\n");
    x.into_bytes()
}

const CRC_TABLE: [u16; 16] = [
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401, 0xA001, 0x6C00, 0x7800, 0xB401,
    0x5000, 0x9C01, 0x8801, 0x4400,
];

fn crc(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        for nibble in [b & 0xF, b >> 4] {
            let tmp = CRC_TABLE[(crc & 0xF) as usize];
            crc = (crc >> 4) & 0x0FFF;
            crc = crc ^ tmp ^ CRC_TABLE[nibble as usize];
        }
    }
    crc
}

/// Seconds between the Unix epoch and the FIT epoch (1989-12-31).
const FIT_EPOCH_S: i64 = 631_065_600;

fn fit_time(t_ms: i64) -> u32 {
    (t_ms / 1_000 - FIT_EPOCH_S) as u32
}

fn semicircles(deg: f64) -> i32 {
    (deg * 2_147_483_648.0 / 180.0).round() as i32
}

/// (field number, size, base type)
type FieldDef = (u8, u8, u8);

fn define(out: &mut Vec<u8>, local: u8, global: u16, fields: &[FieldDef]) {
    out.push(0x40 | local);
    out.push(0); // reserved
    out.push(0); // little endian
    out.extend_from_slice(&global.to_le_bytes());
    out.push(fields.len() as u8);
    for &(num, size, base) in fields {
        out.extend_from_slice(&[num, size, base]);
    }
}

/// A FIT activity file (protocol 2.0): file_id, timer start, one record
/// per fix, timer stop, session with the totals.
pub fn fit(fixes: &[Fix]) -> Vec<u8> {
    let mut d = Vec::with_capacity(fixes.len() * 30 + 200);
    let (first, last) = (fixes[0].t_ms, fixes[fixes.len() - 1].t_ms);
    // file_id: type=activity, manufacturer=development, time_created.
    define(&mut d, 0, 0, &[(0, 1, 0x00), (1, 2, 0x84), (4, 4, 0x86)]);
    d.push(0);
    d.push(4);
    d.extend_from_slice(&255u16.to_le_bytes());
    d.extend_from_slice(&fit_time(first).to_le_bytes());
    // event: timestamp, event=timer, event_type=start/stop_all.
    define(&mut d, 1, 21, &[(253, 4, 0x86), (0, 1, 0x00), (1, 1, 0x00)]);
    d.push(1);
    d.extend_from_slice(&fit_time(first).to_le_bytes());
    d.extend_from_slice(&[0, 0]);
    // record: timestamp, lat, long, altitude, heart_rate, cadence, distance, speed, power.
    define(
        &mut d,
        2,
        20,
        &[
            (253, 4, 0x86),
            (0, 4, 0x85),
            (1, 4, 0x85),
            (2, 2, 0x84),
            (3, 1, 0x02),
            (4, 1, 0x02),
            (5, 4, 0x86),
            (6, 2, 0x84),
            (7, 2, 0x84),
        ],
    );
    let mut distance = 0.0_f64;
    for (i, f) in fixes.iter().enumerate() {
        if i > 0 {
            distance += f64::from(f.speed.unwrap_or(0.0));
        }
        d.push(2);
        d.extend_from_slice(&fit_time(f.t_ms).to_le_bytes());
        d.extend_from_slice(&semicircles(f.lat).to_le_bytes());
        d.extend_from_slice(&semicircles(f.lng).to_le_bytes());
        let alt = ((f64::from(f.alt.unwrap_or(0.0)) + 500.0) * 5.0).round() as u16;
        d.extend_from_slice(&alt.to_le_bytes());
        d.push(f.heartrate.unwrap_or(0xFF));
        d.push(f.cadence.unwrap_or(0xFF));
        d.extend_from_slice(&((distance * 100.0) as u32).to_le_bytes());
        let speed = (f64::from(f.speed.unwrap_or(0.0)) * 1_000.0) as u16;
        d.extend_from_slice(&speed.to_le_bytes());
        d.extend_from_slice(&f.power.unwrap_or(0xFFFF).to_le_bytes());
    }
    d.push(1);
    d.extend_from_slice(&fit_time(last).to_le_bytes());
    d.extend_from_slice(&[0, 4]);
    // session: timestamp, start_time, sport=cycling, elapsed, timer, distance.
    define(
        &mut d,
        3,
        18,
        &[
            (253, 4, 0x86),
            (2, 4, 0x86),
            (5, 1, 0x00),
            (7, 4, 0x86),
            (8, 4, 0x86),
            (9, 4, 0x86),
        ],
    );
    // Scale 1000: milliseconds.
    let secs = (last - first) as u32;
    d.push(3);
    d.extend_from_slice(&fit_time(last).to_le_bytes());
    d.extend_from_slice(&fit_time(first).to_le_bytes());
    d.push(2);
    d.extend_from_slice(&secs.to_le_bytes());
    d.extend_from_slice(&secs.to_le_bytes());
    d.extend_from_slice(&((distance * 100.0) as u32).to_le_bytes());

    let mut out = Vec::with_capacity(d.len() + 16);
    out.push(14);
    out.push(0x20);
    out.extend_from_slice(&2132u16.to_le_bytes());
    out.extend_from_slice(&(d.len() as u32).to_le_bytes());
    out.extend_from_slice(b".FIT");
    let header_crc = crc(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&d);
    let file_crc = crc(&out);
    out.extend_from_slice(&file_crc.to_le_bytes());
    out
}
