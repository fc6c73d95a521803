//! The `[build]` section of packages.toml: what every image gets besides
//! its packages, and the tags. Nothing of it is hard-coded in distill.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildSpec {
    /// The package whose certificates make `/etc/ssl/certs/ca-certificates.crt`
    /// (only that bundle, its copyright and status entry are installed).
    #[serde(default)]
    pub ca_certificates: Option<String>,
    /// The package providing `bin/busybox` for the debug tags.
    #[serde(default)]
    pub busybox: Option<String>,
    /// The package whose compiled locales (`usr/lib/locale/<name>/`)
    /// images ask for with `locales` (libc-bin in Debian).
    #[serde(default)]
    pub locales: Option<String>,
    /// Env of every image (images add to it).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Annotations of every image (images add to them).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Generated files: path → file.
    #[serde(default)]
    pub files: BTreeMap<String, FileSpec>,
    /// Generated directories: path → directory.
    #[serde(default)]
    pub dirs: BTreeMap<String, DirSpec>,
    /// Tag name → how it differs.
    #[serde(default)]
    pub tags: BTreeMap<String, TagSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// The text; `{version_id}` and `{codename}` are the distro's.
    pub content: String,
    #[serde(default = "file_mode")]
    pub mode: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    #[serde(default = "dir_mode")]
    pub mode: u32,
    #[serde(default)]
    pub uid: u64,
    #[serde(default)]
    pub gid: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    pub user: String,
    pub workdir: String,
    /// Adds busybox at /busybox, `/busybox/sh` as entrypoint, and
    /// `:/busybox` to PATH.
    #[serde(default)]
    pub debug: bool,
}

fn file_mode() -> u32 {
    0o644
}

fn dir_mode() -> u32 {
    0o755
}

impl BuildSpec {
    /// The packages the build takes files from.
    pub fn packages(&self) -> Vec<String> {
        [&self.ca_certificates, &self.busybox, &self.locales]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

impl FileSpec {
    pub fn render(&self, version_id: &str, codename: &str) -> String {
        self.content
            .replace("{version_id}", version_id)
            .replace("{codename}", codename)
    }
}
