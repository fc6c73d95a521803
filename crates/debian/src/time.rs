//! The two time formats an archive client meets: Release `Date` /
//! `Valid-Until` (RFC 2822 style, always UTC in Debian) and snapshot
//! timestamps (`20260818T205150Z`). Seconds since the Unix epoch, no
//! time zone database, no wall clock.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid time {input:?}: expected {expected}")]
pub struct TimeError {
    input: String,
    expected: &'static str,
}

/// A snapshot.debian.org capture name, `YYYYMMDDTHHMMSSZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotTime(i64);

impl SnapshotTime {
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        let err = || TimeError {
            input: s.to_owned(),
            expected: "a snapshot timestamp like 20250101T000000Z",
        };
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return Err(err());
        }
        // On bytes: a multi-byte character inside the 16 bytes must be an
        // error, not a slice off a char boundary (found by fuzzing).
        let num = |r: std::ops::Range<usize>| -> Result<i64, TimeError> {
            let part = &b[r];
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(err());
            }
            Ok(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let t = civil_to_unix(
            num(0..4)?,
            num(4..6)?,
            num(6..8)?,
            num(9..11)?,
            num(11..13)?,
            num(13..15)?,
        )
        .ok_or_else(err)?;
        Ok(SnapshotTime(t))
    }

    pub fn from_unix(secs: i64) -> Self {
        SnapshotTime(secs)
    }

    pub fn unix(self) -> i64 {
        self.0
    }
}

impl fmt::Display for SnapshotTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = unix_to_civil(self.0);
        write!(f, "{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }
}

/// Parses a Release date: `Sat, 09 Aug 2025 09:23:04 UTC` (the weekday is
/// optional; `UTC`, `GMT`, `Z` and numeric offsets like `+0000` are accepted).
pub fn parse_release_date(s: &str) -> Result<i64, TimeError> {
    let err = || TimeError {
        input: s.to_owned(),
        expected: "a date like \"Sat, 09 Aug 2025 09:23:04 UTC\"",
    };
    let rest = match s.split_once(',') {
        Some((_, r)) => r,
        None => s,
    };
    let parts: Vec<&str> = rest.split_whitespace().collect();
    if parts.len() < 4 || parts.len() > 5 {
        return Err(err());
    }
    let day: i64 = parts[0].parse().map_err(|_| err())?;
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = MONTHS
        .iter()
        .position(|m| parts[1].eq_ignore_ascii_case(m))
        .ok_or_else(err)? as i64
        + 1;
    let year: i64 = parts[2].parse().map_err(|_| err())?;
    let hms: Vec<i64> = parts[3]
        .split(':')
        .map(|p| p.parse().map_err(|_| err()))
        .collect::<Result<_, _>>()?;
    let [h, mi, sec] = hms[..] else {
        return Err(err());
    };
    let offset = match parts.get(4).copied() {
        None | Some("UTC" | "GMT" | "Z" | "UT") => 0,
        Some(z) if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let n: i64 = z[1..].parse().map_err(|_| err())?;
            let secs = (n / 100) * 3600 + (n % 100) * 60;
            if z.starts_with('-') { -secs } else { secs }
        }
        Some(_) => return Err(err()),
    };
    Ok(civil_to_unix(year, month, day, h, mi, sec).ok_or_else(err)? - offset)
}

/// Formats seconds since the epoch as a Release-style date.
pub fn format_release_date(t: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = unix_to_civil(t);
    let wd = DAYS[t.div_euclid(86400).rem_euclid(7) as usize];
    format!(
        "{wd}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} UTC",
        MONTHS[mo as usize - 1]
    )
}

fn civil_to_unix(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + h * 3600 + mi * 60 + s)
}

/// `2025-01-10T00:00:00Z`: RFC 3339 in UTC.
pub fn format_rfc3339(t: i64) -> String {
    let (y, mo, d, h, mi, s) = unix_to_civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn unix_to_civil(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    (y, mo, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_dates() {
        assert_eq!(parse_release_date("Thu, 01 Jan 1970 00:00:00 UTC"), Ok(0));
        assert_eq!(
            parse_release_date("Sat, 09 Aug 2025 09:23:04 UTC"),
            Ok(1754731384)
        );
        assert_eq!(
            parse_release_date("09 Aug 2025 09:23:04 +0100"),
            Ok(1754731384 - 3600)
        );
        assert_eq!(
            format_release_date(1754731384),
            "Sat, 09 Aug 2025 09:23:04 UTC"
        );
        for bad in [
            "",
            "yesterday",
            "Sat, 09 Foo 2025 09:23:04 UTC",
            "Sat, 09 Aug 2025 09:23 UTC",
            "Sat, 09 Aug 2025 09:23:04 CEST",
        ] {
            assert!(parse_release_date(bad).is_err(), "{bad}");
        }
    }

    /// Fuzzing found these: a multi-byte character inside the 16 bytes
    /// panicked (a slice off a char boundary); now they are errors.
    #[test]
    fn non_ascii_in_a_snapshot_time_is_an_error() {
        for bad in [
            "20250101T000\u{fffd}Z",
            "20250101T000\u{e9}0Z",
            "202501\u{e9}T000000Z",
            "\u{1f600}0101T0000\u{e9}Z",
        ] {
            assert_eq!(bad.len(), 16, "{bad:?}");
            assert!(SnapshotTime::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn snapshot_times_round_trip() {
        let t = SnapshotTime::parse("20250809T092304Z").unwrap();
        assert_eq!(t.unix(), 1754731384);
        assert_eq!(t.to_string(), "20250809T092304Z");
        assert_eq!(
            SnapshotTime::parse("20240229T000000Z").unwrap().to_string(),
            "20240229T000000Z"
        );
        for bad in [
            "2025-08-09",
            "20250809T0923Z",
            "2025080XT092304Z",
            "20251309T092304Z",
            "20250809T092304",
        ] {
            assert!(SnapshotTime::parse(bad).is_err(), "{bad}");
        }
    }
}
