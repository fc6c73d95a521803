//! The distros section of `packages.toml`: which archives, suites,
//! components and architectures make up a distro, and where to get them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub distros: BTreeMap<String, DistroSpec>,
    /// Image definitions; their model belongs to the resolver and builder.
    #[serde(default)]
    pub images: toml::Table,
    /// What every image gets besides packages; the builder's model.
    #[serde(default)]
    pub build: toml::Table,
}

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
    pub snapshot: String,
    /// Live mirrors, tried in order when the snapshot fails.
    #[serde(default)]
    pub mirrors: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

impl ArchiveSpec {
    /// The archive as it was at capture `ts`: `<snapshot>/<ts>`.
    pub fn snapshot_at(&self, ts: impl std::fmt::Display) -> String {
        format!("{}/{ts}", self.snapshot.trim_end_matches('/'))
    }

    /// Where the archive's files are, best first: the snapshot at `ts`,
    /// then the mirrors. `dists/...` and `pool/...` go below each.
    pub fn bases(&self, ts: impl std::fmt::Display) -> Vec<String> {
        let mut out = vec![self.snapshot_at(ts)];
        out.extend(
            self.mirrors
                .iter()
                .map(|m| m.trim_end_matches('/').to_owned()),
        );
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: String },
    #[error("cannot parse {path}: {cause}")]
    Parse { path: String, cause: String },
    #[error("cannot use {path}: {cause}")]
    Invalid { path: String, cause: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            cause: e.to_string(),
        })?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            // toml's message is multi-line with a source excerpt; keep the
            // first line, which says what and where.
            cause: e.message().to_owned()
                + &e.span()
                    .map(|s| format!(" (at line {})", text[..s.start].lines().count().max(1)))
                    .unwrap_or_default(),
        })?;
        let invalid = |cause: String| ConfigError::Invalid {
            path: path.display().to_string(),
            cause,
        };
        for (name, d) in &config.distros {
            if d.architectures.is_empty() {
                return Err(invalid(format!("distro {name} lists no architectures")));
            }
            if d.archives.is_empty() {
                return Err(invalid(format!("distro {name} lists no archives")));
            }
            for a in &d.archives {
                if a.suites.is_empty() || a.components.is_empty() {
                    return Err(invalid(format!(
                        "archive {} of distro {name} needs suites and components",
                        a.name
                    )));
                }
                for url in std::iter::once(&a.snapshot).chain(&a.mirrors) {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(invalid(format!(
                            "archive {} of distro {name}: {url:?} is not an http(s) URL",
                            a.name
                        )));
                    }
                }
            }
        }
        Ok(config)
    }

    pub fn distro(&self, name: &str) -> Result<&DistroSpec, String> {
        self.distros.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.distros.keys().map(String::as_str).collect();
            format!("unknown distro {name:?} (known: {})", known.join(", "))
        })
    }
}
