use std::collections::BTreeMap;

use distill_debian::SnapshotTime;
use distill_debian::paragraphs;
use distill_debian::time::{format_release_date, parse_release_date};

use crate::TrustError;

/// One `SHA256` line of a Release file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub sha256: distill_debian::Sha256,
    pub size: u64,
}

/// The fields of a verified Release that a client acts on.
#[derive(Debug, Clone)]
pub struct Release {
    pub origin: Option<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    /// Seconds since the epoch.
    pub date: i64,
    pub valid_until: Option<i64>,
    pub acquire_by_hash: bool,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    /// Path relative to `dists/<suite>/` → hash and size. Only SHA256 is
    /// read: MD5Sum and SHA1 are not trusted for anything.
    pub files: BTreeMap<String, FileEntry>,
}

fn err(msg: impl Into<String>) -> TrustError {
    TrustError::Release(msg.into())
}

impl Release {
    /// Parses verified Release text.
    pub fn parse(text: &str) -> Result<Release, TrustError> {
        let mut paras = paragraphs(text);
        let p = match paras.next() {
            Some(Ok(p)) => p,
            Some(Err(e)) => return Err(err(e.to_string())),
            None => return Err(err("empty")),
        };
        let date = p.get("Date").ok_or_else(|| err("no Date field"))?;
        let date = parse_release_date(date).map_err(|e| err(e.to_string()))?;
        let valid_until = p
            .get("Valid-Until")
            .map(|v| parse_release_date(v).map_err(|e| err(e.to_string())))
            .transpose()?;
        let words = |name: &str| -> Vec<String> {
            p.get(name)
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        let mut files = BTreeMap::new();
        for line in p.lines("SHA256") {
            let mut it = line.split_whitespace();
            let (Some(hash), Some(size), Some(path), None) =
                (it.next(), it.next(), it.next(), it.next())
            else {
                return Err(err(format!("malformed SHA256 line {line:?}")));
            };
            let Ok(sha256) = distill_debian::Sha256::parse(hash) else {
                return Err(err(format!("malformed SHA256 hash in line {line:?}")));
            };
            let size = size
                .parse()
                .map_err(|_| err(format!("malformed size in line {line:?}")))?;
            files.insert(path.to_owned(), FileEntry { sha256, size });
        }
        if files.is_empty() {
            return Err(err("no SHA256 file list"));
        }
        Ok(Release {
            origin: p.get("Origin").map(str::to_owned),
            suite: p.get("Suite").map(str::to_owned),
            codename: p.get("Codename").map(str::to_owned),
            date,
            valid_until,
            acquire_by_hash: p
                .get("Acquire-By-Hash")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            components: words("Components"),
            architectures: words("Architectures"),
            files,
        })
    }

    /// Checks the Release against the moment it is meant to describe: its
    /// `Date` may not be later than `at`, and `Valid-Until` (when present)
    /// may not be earlier. For a snapshot `at` is the capture time, so old
    /// security Releases (valid a week) stay valid for their snapshot.
    pub fn check_time(&self, at: i64) -> Result<(), TrustError> {
        let shown = |t: i64| {
            format!(
                "{} ({})",
                format_release_date(t),
                SnapshotTime::from_unix(t)
            )
        };
        if self.date > at {
            return Err(TrustError::FromTheFuture {
                date: shown(self.date),
                at: shown(at),
            });
        }
        if let Some(until) = self.valid_until
            && until < at
        {
            return Err(TrustError::Expired {
                valid_until: shown(until),
                at: shown(at),
            });
        }
        Ok(())
    }

    pub fn entry(&self, path: &str) -> Option<&FileEntry> {
        self.files.get(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 09 Aug 2025 09:23:04 UTC\nValid-Until: Sat, 16 Aug 2025 09:23:04 UTC\nAcquire-By-Hash: yes\nArchitectures: amd64 arm64\nComponents: main contrib\nMD5Sum:\n 00000000000000000000000000000000 1 main/x\nSHA256:\n 8575ec1f224d635ce30646a2a1388bee267a7f37fae3f997687643c9ebb8fb43   378100 main/binary-amd64/Packages.xz\n";

    #[test]
    fn parses_fields_and_sha256_only() {
        let r = Release::parse(TEXT).unwrap();
        assert_eq!(r.codename.as_deref(), Some("bookworm"));
        assert!(r.acquire_by_hash);
        assert_eq!(r.components, ["main", "contrib"]);
        assert_eq!(r.files.len(), 1);
        assert_eq!(
            r.entry("main/binary-amd64/Packages.xz").unwrap().size,
            378100
        );
        assert!(r.entry("main/x").is_none());
    }

    #[test]
    fn time_window() {
        let r = Release::parse(TEXT).unwrap();
        assert!(r.check_time(r.date).is_ok());
        assert!(r.check_time(r.date + 86400).is_ok());
        let e = r.check_time(r.date - 1).unwrap_err().to_string();
        assert!(e.contains("later than the snapshot time"), "{e}");
        let e = r.check_time(r.date + 8 * 86400).unwrap_err().to_string();
        assert!(
            e.starts_with("Release expired: Valid-Until Sat, 16 Aug 2025"),
            "{e}"
        );
    }

    #[test]
    fn malformed() {
        assert!(Release::parse("").is_err());
        assert!(Release::parse("Origin: x\n").is_err());
        let bad = TEXT.replace(" 378100 ", " big ");
        assert!(Release::parse(&bad).is_err());
    }
}
