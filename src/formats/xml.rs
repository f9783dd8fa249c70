//! What the streaming GPX and TCX readers share: BOM handling, element
//! names without their namespace prefix, and fast number and timestamp
//! parsing straight from the file's bytes.
//!
//! Elements are matched by local name. Files bind the same namespaces to
//! different prefixes (`gpxtpx:`, `ns3:`, a default namespace, or none
//! at all in hand-written files), and the names the readers look for are
//! unambiguous inside their parent elements.

use quick_xml::events::BytesStart;
use quick_xml::Reader;

use super::FormatError;

/// Strips a UTF-8 byte order mark; quick-xml does not without its
/// `encoding` feature.
pub(super) fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// A reader over in-memory bytes: events borrow from the input.
pub(super) fn reader(bytes: &[u8]) -> Reader<&[u8]> {
    let mut reader = Reader::from_reader(without_bom(bytes));
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    reader
}

pub(super) fn corrupt(e: quick_xml::Error, position: u64) -> FormatError {
    FormatError::Corrupt(format!("XML at byte {position}: {e}"))
}

/// The element name after any `prefix:`.
pub(super) fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(at) => &name[at + 1..],
        None => name,
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// A decimal number from element text or an attribute value.
pub(super) fn number(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(trim(bytes)).ok()?;
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A single-precision value (altitude, speed, accuracy) parsed straight
/// to `f32`, so the shortest text of an `f32` reads back as the same value.
pub(super) fn number_f32(bytes: &[u8]) -> Option<f32> {
    let text = std::str::from_utf8(trim(bytes)).ok()?;
    text.parse::<f32>().ok().filter(|v| v.is_finite())
}

/// An attribute's raw value by local name (numbers need no unescaping).
pub(super) fn attribute<'a>(
    e: &'a BytesStart<'_>,
    name: &[u8],
) -> Option<std::borrow::Cow<'a, [u8]>> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| local(a.key.as_ref()) == name)
        .map(|a| a.value)
}

fn digits<const N: usize>(bytes: &[u8], at: usize) -> Option<i64> {
    let slice = bytes.get(at..at + N)?;
    let mut value = 0i64;
    for &b in slice {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    Some(value)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An ISO 8601 / XML Schema `dateTime` as epoch milliseconds:
/// `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM|±HHMM]`. A time without a zone is
/// taken as UTC (what GPX requires and devices write).
pub(super) fn timestamp_ms(bytes: &[u8]) -> Option<i64> {
    let s = trim(bytes);
    let year = digits::<4>(s, 0)?;
    let month = digits::<2>(s, 5)?;
    let day = digits::<2>(s, 8)?;
    let hour = digits::<2>(s, 11)?;
    let minute = digits::<2>(s, 14)?;
    let second = digits::<2>(s, 17)?;
    if s.get(4) != Some(&b'-')
        || s.get(7) != Some(&b'-')
        || !matches!(s.get(10), Some(b'T' | b't' | b' '))
        || s.get(13) != Some(&b':')
        || s.get(16) != Some(&b':')
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 24
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if s.get(at) == Some(&b'.') || s.get(at) == Some(&b',') {
        at += 1;
        let mut scale = 100;
        let start = at;
        while let Some(b) = s.get(at).filter(|b| b.is_ascii_digit()) {
            millis += i64::from(b - b'0') * scale;
            scale /= 10;
            at += 1;
        }
        if at == start {
            return None;
        }
    }
    let offset_s = match s.get(at..) {
        None | Some([]) | Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), rest @ ..]) => {
            let (h, m) = match rest.len() {
                5 if rest[2] == b':' => (digits::<2>(rest, 0)?, digits::<2>(rest, 3)?),
                4 => (digits::<2>(rest, 0)?, digits::<2>(rest, 2)?),
                2 => (digits::<2>(rest, 0)?, 0),
                _ => return None,
            };
            let offset = h * 3_600 + m * 60;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_s;
    Some(seconds * 1_000 + millis)
}

/// Element text that may contain entities or CDATA (names, notes).
pub(super) fn text(e: &quick_xml::events::BytesText<'_>) -> String {
    e.unescape()
        .map(|t| t.into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(e).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_zones_and_fractions() {
        let utc = timestamp_ms(b"2024-01-01T08:00:00Z").unwrap();
        assert_eq!(utc, 1_704_096_000_000);
        assert_eq!(timestamp_ms(b"2024-01-01T08:00:00"), Some(utc));
        assert_eq!(timestamp_ms(b" 2024-01-01T08:00:00.000Z\n"), Some(utc));
        assert_eq!(timestamp_ms(b"2024-01-01T10:00:00+02:00"), Some(utc));
        assert_eq!(timestamp_ms(b"2024-01-01T03:30:00-0430"), Some(utc));
        assert_eq!(timestamp_ms(b"2024-01-01T09:00:00+01"), Some(utc));
        assert_eq!(timestamp_ms(b"2024-01-01T08:00:00.25Z"), Some(utc + 250));
        assert_eq!(
            timestamp_ms(b"2024-01-01T08:00:00.123456Z"),
            Some(utc + 123)
        );
        // Leap day and the end of a year.
        assert_eq!(
            timestamp_ms(b"2024-03-01T00:00:00Z").unwrap()
                - timestamp_ms(b"2024-02-28T00:00:00Z").unwrap(),
            2 * 86_400_000
        );
        assert_eq!(timestamp_ms(b"1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            &b""[..],
            b"2024-01-01",
            b"2024-13-01T08:00:00Z",
            b"2024-01-01T08:00:00Q",
            b"2024-01-01T08:00:00.Z",
            b"2024-01-01T08:00:00+2",
            b"yesterday at noon",
        ] {
            assert_eq!(timestamp_ms(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn local_names_and_numbers() {
        assert_eq!(local(b"gpxtpx:hr"), b"hr");
        assert_eq!(local(b"hr"), b"hr");
        assert_eq!(number(b" 12.5\n"), Some(12.5));
        assert_eq!(number(b"NaN"), None);
        assert_eq!(number(b"abc"), None);
        assert_eq!(without_bom(b"\xEF\xBB\xBF<gpx"), b"<gpx");
    }
}
