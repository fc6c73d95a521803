//! A distro of `packages.toml`: which archives, suites, components and
//! architectures make it up, and where to get them.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistroSpec {
    /// Release codename, e.g. `bookworm`.
    pub codename: String,
    /// `VERSION_ID` of the release, e.g. `12`.
    pub version_id: String,
    /// Debian architecture names.
    pub architectures: Vec<String>,
    /// Path (relative to packages.toml) to an OpenPGP keyring; the built-in
    /// Debian archive keyring when absent.
    #[serde(default)]
    pub keyring: Option<PathBuf>,
    pub archives: Vec<ArchiveSpec>,
    /// Merged /usr (debian13): `bin`, `sbin`, `lib*` entries of packages
    /// land under `usr/`, where base-files' symlinks point.
    #[serde(default)]
    pub merged_usr: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSpec {
    /// snapshot.debian.org's archive name: `debian`, `debian-security`.
    pub name: String,
    /// Base of the snapshot tree; `<snapshot>/<timestamp>/dists/...`.
    /// A third-party archive that no snapshot service keeps has none and
    /// is read from its mirrors as they are.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Live mirrors, tried in order when the snapshot fails.
    #[serde(default)]
    pub mirrors: Vec<String>,
    /// Path (relative to packages.toml) to the OpenPGP keyring this
    /// archive's Release must be signed with (a third-party archive's own
    /// key); the distro's keyring when absent.
    #[serde(default)]
    pub keyring: Option<PathBuf>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

impl ArchiveSpec {
    /// The archive as it was at capture `ts`: `<snapshot>/<ts>`, if a
    /// snapshot service keeps it.
    pub fn snapshot_at(&self, ts: impl std::fmt::Display) -> Option<String> {
        let base = self.snapshot.as_deref()?;
        Some(format!("{}/{ts}", base.trim_end_matches('/')))
    }

    /// Where the archive's files are, best first: the snapshot at `ts`,
    /// then the mirrors. `dists/...` and `pool/...` go below each.
    pub fn bases(&self, ts: impl std::fmt::Display) -> Vec<String> {
        let mut out: Vec<String> = self.snapshot_at(ts).into_iter().collect();
        out.extend(
            self.mirrors
                .iter()
                .map(|m| m.trim_end_matches('/').to_owned()),
        );
        out
    }
}

impl DistroSpec {
    /// What serde cannot check: lists that must not be empty, and URLs
    /// that must be http(s). The message names the distro and archive.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        if self.architectures.is_empty() {
            return Err(format!("distro {name} lists no architectures"));
        }
        if self.archives.is_empty() {
            return Err(format!("distro {name} lists no archives"));
        }
        if let Some(bad) = self
            .architectures
            .iter()
            .find(|a| !distill_debian::is_image_arch(a))
        {
            return Err(format!(
                "distro {name}: {bad:?} is not an architecture distill builds for ({})",
                distill_debian::IMAGE_ARCHS.join(", ")
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &self.archives {
            let safe = !a.name.is_empty()
                && a.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                && !a.name.starts_with('.');
            if !safe {
                return Err(format!(
                    "distro {name}: {:?} is not an archive name (letters, digits, - _ .)",
                    a.name
                ));
            }
            if !names.insert(&a.name) {
                return Err(format!("distro {name} lists archive {} twice", a.name));
            }
        }
        for a in &self.archives {
            if a.suites.is_empty() || a.components.is_empty() {
                return Err(format!(
                    "archive {} of distro {name} needs suites and components",
                    a.name
                ));
            }
            if a.snapshot.is_none() && a.mirrors.is_empty() {
                return Err(format!(
                    "archive {} of distro {name} needs a snapshot or mirrors",
                    a.name
                ));
            }
            for url in a.snapshot.iter().chain(&a.mirrors) {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!(
                        "archive {} of distro {name}: {url:?} is not an http(s) URL",
                        a.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks that `arch` is one of the distro's.
    pub fn check_arch(&self, name: &str, arch: &str) -> Result<(), String> {
        if self.architectures.iter().any(|a| a == arch) {
            return Ok(());
        }
        Err(format!(
            "distro {name} has architectures {}",
            self.architectures.join(", ")
        ))
    }

    /// The archive called `name`.
    pub fn archive(&self, name: &str) -> Option<&ArchiveSpec> {
        self.archives.iter().find(|a| a.name == name)
    }
}
