//! Debian version numbers: `[epoch:]upstream[-revision]`, ordered exactly as
//! dpkg's `verrevcmp` orders them (deb-version(7)).

use std::cmp::Ordering;
use std::fmt;

/// A validated Debian version. Ordering is dpkg's, not the string's: two
/// spellings dpkg considers equal (`0:1.0` and `1.0`) compare equal.
#[derive(Debug, Clone)]
pub struct Version(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionError {
    #[error("empty version")]
    Empty,
    #[error("epoch in {0:?} is not a number")]
    BadEpoch(String),
    #[error("version {0:?} has an empty upstream part")]
    EmptyUpstream(String),
    #[error("version {0:?} contains an invalid character {1:?}")]
    BadChar(String, char),
}

impl Version {
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        validate(s)?;
        Ok(Version(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The upstream part, without epoch and revision (`1:3.13.5-2` → `3.13.5`).
    pub fn upstream(&self) -> &str {
        split(&self.0).1
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_versions(&self.0, &other.0)
    }
}

fn validate(s: &str) -> Result<(), VersionError> {
    if s.is_empty() {
        return Err(VersionError::Empty);
    }
    let (epoch, upstream, revision) = split(s);
    if !epoch.is_empty() && !epoch.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VersionError::BadEpoch(s.to_owned()));
    }
    if upstream.is_empty() {
        return Err(VersionError::EmptyUpstream(s.to_owned()));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~' | '-' | ':');
    for c in upstream.chars().chain(revision.chars()) {
        if !ok(c) {
            return Err(VersionError::BadChar(s.to_owned(), c));
        }
    }
    Ok(())
}

/// Splits into (epoch, upstream, revision); missing parts are empty.
fn split(s: &str) -> (&str, &str, &str) {
    let (epoch, rest) = match s.find(':') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => ("", s),
    };
    match rest.rfind('-') {
        Some(i) => (epoch, &rest[..i], &rest[i + 1..]),
        None => (epoch, rest, ""),
    }
}

/// Compares two version strings as dpkg does. Inputs need not be validated:
/// a malformed epoch counts as 0, which is what dpkg's lenient parse does.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    let epoch = |e: &str| e.parse::<u64>().unwrap_or(0);
    epoch(ea)
        .cmp(&epoch(eb))
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

/// dpkg's character weight in the non-digit runs: `~` sorts before
/// everything (even the end of the string), letters before other symbols.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal as E, Greater as G, Less as L};

    /// (a, b, expected a<=>b). Cases from dpkg's own test suite
    /// (lib/dpkg/t/t-version.c), deb-version(7) and real archive versions.
    const CASES: &[(&str, &str, Ordering)] = &[
        ("0", "0", E),
        ("0", "00", E),
        ("1.0", "1.0", E),
        ("0:1.0", "1.0", E),
        ("1.0-0", "1.0", E),
        ("1.0", "1.0-0", E),
        ("1", "2", L),
        ("2", "1", G),
        ("1.0", "1.1", L),
        ("1.2", "1.10", L),
        ("1.10", "1.9", G),
        ("1.0~rc1", "1.0", L),
        ("1.0~rc1", "1.0~rc2", L),
        ("1.0~~", "1.0~", L),
        ("1.0~~a", "1.0~~", G),
        ("1.0~", "1.0", L),
        ("1.0", "1.0+", L),
        ("1.0+b1", "1.0", G),
        ("1.0a", "1.0", G),
        ("1.0a", "1.0+", L),
        ("1.0.1", "1.0a", G),
        ("1:0.9", "2.0", G),
        ("1:1.0", "2:0.1", L),
        ("2:1.0", "10:1.0", L),
        ("1.0-1", "1.0-1+b1", L),
        ("1.0-1", "1.0-2", L),
        ("1.0-9", "1.0-10", L),
        ("1.0-1", "1.0-1.1", L),
        ("1.0-1~bpo1", "1.0-1", L),
        ("1.0-1+deb12u1", "1.0-1", G),
        ("1.0-1+deb12u1", "1.0-1+deb12u2", L),
        ("1.0-1+deb11u9", "1.0-1+deb12u1", L),
        ("2.36-9+deb12u10", "2.36-9+deb12u9", G),
        ("2.41-12", "2.36-9+deb12u10", G),
        ("3.0.15-1~deb12u1", "3.0.15-1", L),
        ("3.0.16-1~deb12u1", "3.0.15-1", G),
        ("12.2.0-14+deb12u1", "12.2.0-14", G),
        ("14.2.0-19", "12.2.0-14+deb12u1", G),
        ("2024a-0+deb12u1", "2025b-0+deb12u1", L),
        ("2025b-0+deb12u1", "2025b-0+deb12u2", L),
        ("1:2.38.1-5+deb12u3", "2.38.1-5+deb12u3", G),
        ("0.9.8", "0.9.10", L),
        ("1.2.3-a", "1.2.3-b", L),
        ("1.2.3-A", "1.2.3-a", L),
        ("a", "b", L),
        ("1.0.0", "1.0", G),
        ("1.0", "1.0.", L),
        ("1.0.", "1.0a", G),
        ("1.0-1-1", "1.0-1", G),
        ("1.0-1-1", "1.0-2", G),
        ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", L),
        ("1.3.dfsg-2", "1.3-2", G),
        ("5.2.15-2+b2", "5.2.15-2+b10", L),
        ("1:9.2.3", "1:9.2.3~dfsg", G),
        ("0.0~git20200101", "0.0", L),
        ("0.0+git20200101", "0.0", G),
        ("1.0~alpha+1", "1.0~alpha", G),
        ("1.0~beta", "1.0~alpha", G),
        ("1.0~", "1.0~0", E),
        ("00001", "1", E),
        ("1.001", "1.1", E),
        ("1.0-0.1", "1.0", G),
        ("3.13.5-2", "3.13.5-1+b1", G),
        ("10", "9", G),
        ("1~", "1~~", G),
        ("1.2.3", "1.2.3~rc1", G),
    ];

    #[test]
    fn ordering_table() {
        assert!(CASES.len() >= 60);
        for &(a, b, want) in CASES {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn sorting_is_a_total_order() {
        let mut vs: Vec<Version> = CASES
            .iter()
            .flat_map(|(a, b, _)| [*a, *b])
            .map(|v| Version::parse(v).unwrap())
            .collect();
        vs.sort();
        for w in vs.windows(2) {
            assert!(w[0] <= w[1]);
        }
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(Version::parse(""), Err(VersionError::Empty));
        assert!(matches!(
            Version::parse("x:1.0"),
            Err(VersionError::BadEpoch(_))
        ));
        assert!(matches!(
            Version::parse("1:"),
            Err(VersionError::EmptyUpstream(_))
        ));
        assert!(matches!(
            Version::parse("1.0 beta"),
            Err(VersionError::BadChar(_, ' '))
        ));
        assert_eq!(Version::parse("1:3.13.5-2").unwrap().upstream(), "3.13.5");
        assert_eq!(Version::parse("3.13.5").unwrap().upstream(), "3.13.5");
    }
}
