//! The identities a lock records: a file's SHA-256, and where a suite's
//! Release was served from. Both are written as plain strings in the lock
//! (`sha256 = "ab…"`, `served = "snapshot 20250101T000000Z"`), parsed once
//! into these types and never re-parsed elsewhere.

use std::fmt;
use std::str::FromStr;

use crate::SnapshotTime;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {what} {input:?}: expected {expected}")]
pub struct IdentityError {
    what: &'static str,
    input: String,
    expected: &'static str,
}

/// A SHA-256 digest as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256(String);

impl Sha256 {
    /// Accepts either case (Packages files use lowercase, but nothing
    /// forbids uppercase) and stores lowercase.
    pub fn parse(s: &str) -> Result<Sha256, IdentityError> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdentityError {
                what: "sha256",
                input: s.to_owned(),
                expected: "64 hex digits",
            });
        }
        Ok(Sha256(s.to_ascii_lowercase()))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        use sha2::Digest;
        Sha256(hex::encode(sha2::Sha256::digest(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Sha256 {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sha256::parse(s)
    }
}

/// Who served a suite's Release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Served {
    /// snapshot.debian.org, at this capture (the newest at or before the
    /// requested timestamp; the service redirects to it).
    Snapshot { capture: SnapshotTime },
    /// A live mirror: its state at the time, not the requested snapshot.
    Mirror { base: String },
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Served::Snapshot { capture } => write!(f, "snapshot {capture}"),
            Served::Mirror { base } => write!(f, "mirror {base}"),
        }
    }
}

impl FromStr for Served {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IdentityError {
            what: "source",
            input: s.to_owned(),
            expected: "`snapshot <timestamp>` or `mirror <url>`",
        };
        match s.split_once(' ') {
            Some(("snapshot", ts)) => Ok(Served::Snapshot {
                capture: SnapshotTime::parse(ts).map_err(|_| err())?,
            }),
            Some(("mirror", base)) if !base.is_empty() => Ok(Served::Mirror {
                base: base.to_owned(),
            }),
            _ => Err(err()),
        }
    }
}

/// Serialised as their string forms (the lock's format).
macro_rules! serde_as_string {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_as_string!(Sha256, Served, SnapshotTime);

impl FromStr for SnapshotTime {
    type Err = crate::TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SnapshotTime::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refusals() {
        let h = Sha256::parse(&"AB".repeat(32)).unwrap();
        assert_eq!(h.as_str(), "ab".repeat(32));
        assert!(Sha256::parse("abc").is_err());
        assert!(Sha256::parse(&"zz".repeat(32)).is_err());
        assert_eq!(
            Sha256::of(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for s in [
            "snapshot 20250101T000000Z",
            "mirror https://deb.debian.org/debian",
        ] {
            assert_eq!(s.parse::<Served>().unwrap().to_string(), s);
        }
        for bad in ["snapshot x", "mirror ", "ftp x", ""] {
            assert!(bad.parse::<Served>().is_err(), "{bad}");
        }
    }
}
