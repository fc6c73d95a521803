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
    #[serde(default = "file_mode", deserialize_with = "mode")]
    pub mode: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    #[serde(default = "dir_mode", deserialize_with = "mode")]
    pub mode: u32,
    #[serde(default, deserialize_with = "id")]
    pub uid: u64,
    #[serde(default, deserialize_with = "id")]
    pub gid: u64,
}

/// A file mode: permission bits with setuid, setgid and sticky, at most
/// 0o7777 (more is refused, not cut).
fn mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let m = u32::deserialize(d)?;
    if m > 0o7777 {
        return Err(serde::de::Error::custom(format!(
            "mode {m:#o} is more than 0o7777"
        )));
    }
    Ok(m)
}

/// The largest user or group id: the kernel's ids are 32 bits, and
/// 4294967295 is its "no id".
pub(crate) const MAX_ID: u64 = 4_294_967_294;

/// A user or group id, at most [`MAX_ID`].
fn id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let id = u64::deserialize(d)?;
    if id > MAX_ID {
        return Err(serde::de::Error::custom(format!(
            "id {id} is more than {MAX_ID}"
        )));
    }
    Ok(id)
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
