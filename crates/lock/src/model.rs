//! `snapshots/<distro>.lock`: the exact pins. Machine-written TOML,
//! `version = 1`, every list sorted, so the same inputs give the same
//! bytes and a bot's diff shows only real changes.

use std::collections::BTreeMap;

use distill_debian::{Served, Sha256, SnapshotTime};
use serde::{Deserialize, Serialize};

/// Version 2 records each suite's verified Release `Date`; version 1
/// locks (without) are still read, and `lock` rewrites them as 2.
pub const LOCK_VERSION: i64 = 2;

/// The oldest lock version this distill reads.
pub const OLDEST_LOCK_VERSION: i64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: i64,
    pub distro: String,
    /// Archive name → the snapshot timestamp it is pinned to (what
    /// `distill update` moves).
    pub archives: BTreeMap<String, SnapshotTime>,
    /// Every Release used, sorted by (archive, suite).
    pub suites: Vec<LockedSuite>,
    /// Every package any image needs, sorted by (name, architecture).
    pub packages: Vec<LockedPackage>,
    /// Image → architecture → package names, sorted.
    pub images: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Image → architecture → the packages its debug tags add (a JDK),
    /// sorted; only images that add some.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub debug: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Architecture → packages the build takes files from without
    /// installing them (the CA bundle's source, busybox for debug tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build: BTreeMap<String, Vec<String>>,
    /// Every upstream artifact any image uses, per architecture, sorted
    /// by (name, architecture).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<LockedArtifact>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSuite {
    pub archive: String,
    pub suite: String,
    /// `snapshot <capture>` (the capture actually served), or
    /// `mirror <url>` when the snapshot was out of reach.
    pub served: Served,
    /// sha256 of the InRelease (or Release) bytes verified.
    pub inrelease_sha256: Sha256,
    /// The verified Release's `Date`: a later lock never accepts an older
    /// one (rollback, indefinite freeze). Absent in version 1 locks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<SnapshotTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub archive: String,
    pub suite: String,
    pub filename: String,
    pub size: u64,
    pub sha256: Sha256,
    /// The image architectures this entry is for, set only on an
    /// `Architecture: all` package locked at more than one version: a
    /// suite that does not publish some architecture (bookworm-security
    /// has no s390x) leaves those architectures the older version, as apt
    /// there would. Absent: every architecture of the lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_architectures: Option<Vec<String>>,
}

impl LockedPackage {
    /// Whether this entry is the one an image of `arch` uses.
    pub fn serves(&self, arch: &str) -> bool {
        self.architecture == arch
            || (self.architecture == "all"
                && self
                    .for_architectures
                    .as_ref()
                    .is_none_or(|a| a.iter().any(|x| x == arch)))
    }
}

/// An upstream artifact (Node's Linux build) pinned for one architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedArtifact {
    /// Its name in packages.toml (`node24`).
    pub name: String,
    /// The upstream version (`24.11.1`).
    pub version: String,
    pub architecture: String,
    /// The images that contain it, sorted.
    pub images: Vec<String>,
    pub url: String,
    pub size: u64,
    pub sha256: Sha256,
    /// The feed's own hash of it, where the feed gives one (npm's
    /// `sha512-…`), checked when it was locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    #[error(
        "unsupported lock version {found} (this distill reads versions {OLDEST_LOCK_VERSION} to {LOCK_VERSION}); run `distill lock` to re-create it"
    )]
    Version { found: String },
    #[error("{0}; run `distill lock` to re-create it")]
    Parse(String),
}

impl Lock {
    pub fn parse(text: &str) -> Result<Lock, LockError> {
        // Look at the version before the schema, so a lock from another
        // distill gets the fix-it message rather than a field error.
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| LockError::Parse(e.message().to_owned()))?;
        match table.get("version") {
            Some(toml::Value::Integer(v)) if (OLDEST_LOCK_VERSION..=LOCK_VERSION).contains(v) => {}
            Some(v) => {
                return Err(LockError::Version {
                    found: v.to_string(),
                });
            }
            None => {
                return Err(LockError::Version {
                    found: "(missing)".into(),
                });
            }
        }
        let lock: Lock = table
            .try_into()
            .map_err(|e: toml::de::Error| LockError::Parse(e.message().to_owned()))?;
        lock.check_words().map_err(LockError::Parse)?;
        Ok(lock)
    }

    /// Every name, version, architecture and pool path as Debian defines
    /// them, so nothing else reaches an SBOM, a path, a URL or a
    /// terminal; and no two entries for one package that disagree (which
    /// one would be built?). Checked in one pass over the entries, with a
    /// map of what was seen: linear in the size of the lock.
    fn check_words(&self) -> Result<(), String> {
        use distill_debian::{Version, is_image_arch, is_package_name};
        let name = |n: &str| {
            if is_package_name(n) {
                Ok(())
            } else {
                Err(format!("{n:?} is not a Debian package name"))
            }
        };
        let arch = |a: &str| {
            if is_image_arch(a) || a == "all" {
                Ok(())
            } else {
                Err(format!("{a:?} is not an architecture distill builds for"))
            }
        };
        let mut seen: BTreeMap<(&str, &str, Option<&Vec<String>>), &LockedPackage> =
            BTreeMap::new();
        for p in &self.packages {
            name(&p.name)?;
            Version::parse(&p.version).map_err(|e| format!("package {}: {e}", p.name))?;
            arch(&p.architecture)?;
            for a in p.for_architectures.iter().flatten() {
                arch(a)?;
            }
            let pool_ok = !p.filename.is_empty()
                && !p.filename.starts_with('/')
                && p.filename
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != "..")
                && p.filename.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'.' | b'+' | b'~' | b'-' | b'_' | b'/' | b'%' | b':')
                });
            if !pool_ok {
                return Err(format!(
                    "package {}: {:?} is not a pool path",
                    p.name, p.filename
                ));
            }
            let key = (
                p.name.as_str(),
                p.architecture.as_str(),
                p.for_architectures.as_ref(),
            );
            if let Some(first) = seen.insert(key, p)
                && first != p
            {
                return Err(format!(
                    "two entries for {} {} disagree ({} and {})",
                    p.name, p.architecture, first.version, p.version
                ));
            }
        }
        for per_arch in self.images.values().chain(self.debug.values()) {
            for (a, names) in per_arch {
                arch(a)?;
                names.iter().try_for_each(|n| name(n))?;
            }
        }
        for (a, names) in &self.build {
            arch(a)?;
            names.iter().try_for_each(|n| name(n))?;
        }
        Ok(())
    }

    /// The canonical text: sorted, trailing newline.
    pub fn to_toml(&self) -> String {
        let mut sorted = self.clone();
        sorted
            .suites
            .sort_by(|a, b| (&a.archive, &a.suite).cmp(&(&b.archive, &b.suite)));
        sorted.packages.sort_by(|a, b| {
            (&a.name, &a.architecture, &a.for_architectures).cmp(&(
                &b.name,
                &b.architecture,
                &b.for_architectures,
            ))
        });
        sorted.packages.dedup();
        sorted
            .artifacts
            .sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
        sorted.artifacts.dedup();
        for a in &mut sorted.artifacts {
            a.images.sort();
            a.images.dedup();
        }
        for names in sorted
            .images
            .values_mut()
            .chain(sorted.debug.values_mut())
            .flat_map(|a| a.values_mut())
            .chain(sorted.build.values_mut())
        {
            names.sort();
            names.dedup();
        }
        let mut text = String::from("# Written by `distill lock`; do not edit by hand.\n");
        text += &toml::to_string_pretty(&sorted).expect("lock model serializes");
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }

    /// Image → its architectures.
    pub fn image_archs(&self) -> BTreeMap<String, std::collections::BTreeSet<String>> {
        self.images
            .iter()
            .map(|(i, a)| (i.clone(), a.keys().cloned().collect()))
            .collect()
    }

    /// Every architecture the lock covers (its images' and its build
    /// packages').
    pub fn architectures(&self) -> Vec<String> {
        let mut archs: Vec<String> = self
            .images
            .values()
            .flat_map(|a| a.keys().cloned())
            .chain(self.build.keys().cloned())
            .collect();
        archs.sort();
        archs.dedup();
        archs
    }

    /// Every package name `arch` uses: its images', their debug tags'
    /// and the build's, sorted.
    pub fn names_on(&self, arch: &str) -> std::collections::BTreeSet<&String> {
        self.images
            .values()
            .chain(self.debug.values())
            .filter_map(|a| a.get(arch))
            .chain(self.build.get(arch))
            .flatten()
            .collect()
    }

    /// The locked artifact `name` for architecture `arch`.
    pub fn artifact(&self, name: &str, arch: &str) -> Option<&LockedArtifact> {
        self.artifacts
            .iter()
            .find(|a| a.name == name && a.architecture == arch)
    }

    /// The locked package `name` for an image of architecture `arch`
    /// (its own arch, or the `all` entry for that architecture).
    pub fn package(&self, name: &str, arch: &str) -> Option<&LockedPackage> {
        self.packages
            .iter()
            .find(|p| p.name == name && p.serves(arch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let pkg = |name: &str, arch: &str| LockedPackage {
            name: name.into(),
            version: "1.0-1".into(),
            architecture: arch.into(),
            archive: "debian".into(),
            suite: "bookworm".into(),
            filename: format!("pool/main/x/{name}_1.0-1_{arch}.deb"),
            size: 10,
            sha256: Sha256::parse(&"ab".repeat(32)).unwrap(),
            for_architectures: None,
        };
        Lock {
            version: LOCK_VERSION,
            distro: "debian12".into(),
            archives: [(
                "debian".to_owned(),
                SnapshotTime::parse("20250101T000000Z").unwrap(),
            )]
            .into(),
            suites: vec![LockedSuite {
                archive: "debian".into(),
                suite: "bookworm".into(),
                served: "snapshot 20241231T205012Z".parse().unwrap(),
                inrelease_sha256: Sha256::parse(&"cd".repeat(32)).unwrap(),
                date: Some(SnapshotTime::parse("20241231T200000Z").unwrap()),
            }],
            packages: vec![
                pkg("zlib1g", "amd64"),
                pkg("base-files", "amd64"),
                pkg("tzdata", "all"),
            ],
            images: [(
                "static".to_owned(),
                [(
                    "amd64".to_owned(),
                    vec!["tzdata".to_owned(), "base-files".to_owned()],
                )]
                .into(),
            )]
            .into(),
            debug: BTreeMap::new(),
            build: BTreeMap::new(),
            artifacts: Vec::new(),
        }
    }

    #[test]
    fn round_trip_sorted_and_stable() {
        let text = sample().to_toml();
        assert!(text.ends_with('\n'));
        let back = Lock::parse(&text).unwrap();
        assert_eq!(back.to_toml(), text, "canonical form is a fixed point");
        assert_eq!(back.packages[0].name, "base-files");
        assert_eq!(back.images["static"]["amd64"], ["base-files", "tzdata"]);
        assert_eq!(back.package("tzdata", "arm64").unwrap().architecture, "all");
        assert!(back.package("zlib1g", "arm64").is_none());
    }

    #[test]
    fn unknown_version_and_corruption_have_fix_its() {
        let text = sample().to_toml().replace("version = 2", "version = 7");
        assert_eq!(
            Lock::parse(&text).unwrap_err().to_string(),
            "unsupported lock version 7 (this distill reads versions 1 to 2); run `distill lock` to re-create it"
        );
        // Version 1 (no Release dates) is still read.
        let v1 = sample()
            .to_toml()
            .replace("version = 2", "version = 1")
            .replace("date = \"20241231T200000Z\"\n", "");
        let old = Lock::parse(&v1).unwrap();
        assert_eq!((old.version, old.suites[0].date), (1, None));
        assert!(
            Lock::parse("distro = 1")
                .unwrap_err()
                .to_string()
                .contains("(missing)")
        );
        let e = Lock::parse("version = 1\n[[packages]]\nname = ")
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("run `distill lock` to re-create it"), "{e}");
        let e = Lock::parse("version = 1\ndistro = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field"), "{e}");
    }
}
