//! The layer cache: a package's layer is made once from its .deb and kept
//! under a key of everything its bytes depend on (the deb's hash, merged
//! /usr, the epoch, compression, the layer format), so images that share
//! packages share blobs and a warm build unpacks nothing. Generated layers
//! are keyed by their inputs the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use distill_debian::Sha256;
use distill_fetch::{Fetcher, Pinned};
use distill_layer::{
    Compression, DebOptions, Generated, Layer, TarballOptions, layer_from_deb, layer_from_tarball,
};
use distill_lock::{Lock, LockedArtifact, LockedPackage};
use distill_store::write_atomic;
use sha2::Digest;

use super::{Inputs, Plan, recipes};
use crate::config::artifacts::ArtifactSpec;
use crate::error::{Context, Result, fail};
use crate::project::Project;

/// Bump when the bytes a layer is made of change for the same inputs, so
/// cached layers of older distills are not reused.
const LAYER_FORMAT: &str = "distill-layer 4";

/// What `layers/<key>.json` holds: the layer, and the sha256 of every
/// file it was made from (none for layers made from packages.toml alone);
/// for a package, its maintainer scripts too, so what they would do is
/// known without opening the .deb again.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct LayerRecord {
    pub sources: Vec<String>,
    pub layer: Layer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scripts: Option<Scripts>,
    /// A package's own words for what it is (its control fields), which
    /// the lock entry that names it must repeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Control>,
}

/// The `Package`, `Version` and `Architecture` a .deb's control says.
#[derive(serde::Serialize, serde::Deserialize, Clone, PartialEq, Eq)]
pub(crate) struct Control {
    pub package: String,
    pub version: String,
    pub architecture: String,
}

/// A package's maintainer scripts, name → text.
pub(crate) type Scripts = BTreeMap<String, String>;

/// A layer and where its blob is.
pub(super) struct Made {
    pub label: String,
    pub layer: Layer,
    pub blob: PathBuf,
    /// Generated layers may replace package files (os-release).
    pub generated: bool,
    /// A package's maintainer scripts (none for other layers).
    pub scripts: Scripts,
}

/// Layers of one distro's build: where they are cached and how they are
/// written.
pub(super) struct Layers {
    pub dir: PathBuf,
    pub epoch: u64,
    pub compression: Compression,
    pub usrmerge: bool,
    /// Cached layers found damaged and made again, for one note.
    pub damaged: std::sync::Mutex<Vec<String>>,
}

impl Layers {
    fn blob_dir(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    pub(super) fn new(
        dir: PathBuf,
        epoch: u64,
        compression: Compression,
        usrmerge: bool,
    ) -> Layers {
        Layers {
            dir,
            epoch,
            compression,
            usrmerge,
            damaged: Default::default(),
        }
    }

    fn made(&self, label: String, record: LayerRecord, generated: bool) -> Made {
        let blob = self.blob_dir().join(record.layer.hex());
        Made {
            label,
            layer: record.layer,
            blob,
            generated,
            scripts: record.scripts.unwrap_or_default(),
        }
    }

    /// A layer's cache key: what determines its content, and how it is
    /// written (format version, epoch, compression).
    fn key(&self, what: &str) -> String {
        hex::encode(sha2::Sha256::digest(format!(
            "{LAYER_FORMAT}\n{what}\n{}\n{:?}\n",
            self.epoch, self.compression
        )))
    }

    /// A package's layer, from the cache or made now from its .deb.
    pub(super) fn package(&self, p: &LockedPackage, deb: &Path) -> Result<Made> {
        let opts = DebOptions {
            epoch: self.epoch,
            usrmerge: self.usrmerge,
            compression: self.compression,
        };
        let key = self.key(&format!("deb {} usrmerge={}", p.sha256, opts.usrmerge));
        let label = format!("{} {}", p.name, p.version);
        let record = self.cached(&key, &[&p.sha256], Need::Package, || {
            check_hash(deb, &p.sha256, &label)?;
            let made = layer_from_deb(deb, &label, &opts, &self.blob_dir())?;
            let control = Control {
                package: made.meta.name,
                version: made.meta.version,
                architecture: made.meta.architecture,
            };
            Ok((made.layer, Some(made.meta.scripts), Some(control)))
        })?;
        let says = record
            .control
            .as_ref()
            .expect("a package's record has its control");
        let locked = (p.name.as_str(), p.version.as_str(), p.architecture.as_str());
        let own = (
            says.package.as_str(),
            says.version.as_str(),
            says.architecture.as_str(),
        );
        if locked != own {
            return Err(fail!(
                "cannot use {label}: the lock says {} {} {}, its .deb ({}) says {} {} {}",
                locked.0,
                locked.1,
                locked.2,
                p.sha256,
                own.0,
                own.1,
                own.2
            ));
        }
        Ok(self.made(label, record, false))
    }

    /// An upstream artifact's layer, from the cache or made now from its
    /// tarball: its top directory stripped, only the kept paths, under
    /// the destination. Listed in the SBOM, without a dpkg status entry.
    pub(super) fn artifact(
        &self,
        a: &LockedArtifact,
        spec: &ArtifactSpec,
        tarball: &Path,
    ) -> Result<Made> {
        let opts = TarballOptions {
            strip: spec.top_dir(&a.version, &a.architecture),
            keep: spec.keep.clone(),
            dest: spec.dest.clone(),
            epoch: self.epoch,
            compression: self.compression,
        };
        let key = self.key(&format!(
            "tarball {} strip={:?} keep={:?} dest={:?}",
            a.sha256, opts.strip, opts.keep, opts.dest
        ));
        let label = format!("{} {}", a.name, a.version);
        let record = self.cached(&key, &[&a.sha256], Need::Layer, || {
            check_hash(tarball, &a.sha256, &label)?;
            let layer = layer_from_tarball(tarball, &label, &opts, &self.blob_dir())?;
            Ok((layer, None, None))
        })?;
        Ok(self.made(label, record, false))
    }

    /// A generated layer: the one cached for `what` (everything its
    /// content depends on), else the one `make` puts together, written now.
    /// `sources` are the packages it takes files from.
    pub(super) fn generated(
        &self,
        what: &str,
        label: String,
        sources: &[&Sha256],
        make: impl FnOnce() -> Result<Generated>,
    ) -> Result<Made> {
        let record = self.cached(&self.key(what), sources, Need::Layer, || {
            let layer = make()?.write(&self.blob_dir(), self.epoch, self.compression)?;
            Ok((layer, None, None))
        })?;
        Ok(self.made(label, record, true))
    }

    /// The layer recorded under `key`, if its record and blob are both
    /// there and verified (see [`Layers::trusted`]), and the record has
    /// what `need` asks (records of older distills lack a package's
    /// scripts and control); else `make` it and record it (atomically),
    /// with the hashes of the files it was made from (what `cache gc`
    /// keeps it for). A damaged blob or record is removed and made again.
    fn cached(
        &self,
        key: &str,
        sources: &[&Sha256],
        need: Need,
        make: impl FnOnce() -> Result<(Layer, Option<Scripts>, Option<Control>)>,
    ) -> Result<LayerRecord> {
        let record = self.dir.join(format!("{key}.json"));
        if let Ok(bytes) = distill_store::read_bounded(&record, MAX_RECORD)
            && let Ok(r) = serde_json::from_slice::<LayerRecord>(&bytes)
            && (need == Need::Layer || (r.scripts.is_some() && r.control.is_some()))
        {
            match self.trusted(key, &bytes, &r) {
                Ok(true) => return Ok(r),
                Ok(false) => {}
                Err(why) => {
                    let label = r.control.as_ref().map_or_else(
                        || format!("layer {}", r.layer.digest),
                        |c| format!("{} {}", c.package, c.version),
                    );
                    self.damaged
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("{label} ({why})"));
                    let _ = std::fs::remove_file(self.blob_dir().join(r.layer.hex()));
                }
            }
        }
        let (layer, scripts, control) = make()?;
        let r = LayerRecord {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            layer,
            scripts,
            control,
        };
        let json = serde_json::to_vec(&r).expect("layer record serialises");
        write_atomic(&record, &json).context(|| format!("cannot write {}", record.display()))?;
        // Just made from verified input: what it is now is what is stamped.
        let blob = self.blob_dir().join(r.layer.hex());
        stamp_blob(&self.stamp_path(key), &json, &blob)
            .context(|| format!("cannot write {}", blob.display()))?;
        Ok(r)
    }

    fn stamp_path(&self, key: &str) -> PathBuf {
        stamp_path(&self.dir, key)
    }

    /// Whether the record (`bytes`, read as `r`) and its blob can be used:
    /// `Ok(false)` if the blob is missing, `Err` naming what is wrong if
    /// either is damaged. Hashing every cached layer on every build would
    /// cost seconds, so, as git's index does for the work tree, what was
    /// verified is stamped (the record's hash; the blob's size, mtime,
    /// inode and device): a blob and record whose stamp matches
    /// were verified and have not been written since; anything else is
    /// verified again, every byte ([`distill_layer::verify_layer`]).
    fn trusted(
        &self,
        key: &str,
        bytes: &[u8],
        r: &LayerRecord,
    ) -> std::result::Result<bool, String> {
        let blob = self.blob_dir().join(r.layer.hex());
        match std::fs::symlink_metadata(&blob) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.to_string()),
            Ok(m) if !m.is_file() => return Err("not a regular file".into()),
            Ok(m)
                if stamp(bytes, &m) == std::fs::read(self.stamp_path(key)).unwrap_or_default() =>
            {
                return Ok(true);
            }
            Ok(_) => {}
        }
        distill_layer::verify_layer(&blob, &r.layer)?;
        stamp_blob(&self.stamp_path(key), bytes, &blob).map_err(|e| e.to_string())?;
        Ok(true)
    }
}

/// What a cached record must hold to be used.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// A layer.
    Layer,
    /// A package's layer, its scripts and its control fields.
    Package,
}

/// Where the stamp of the record `key` of the layer cache at `layers` is:
/// `layers/verified/<key>`.
pub(crate) fn stamp_path(layers: &Path, key: &str) -> PathBuf {
    layers.join("verified").join(key)
}

/// Layer records are JSON of a layer's entries: a JDK's is a few MB.
pub(crate) const MAX_RECORD: u64 = 64 << 20;

/// What [`Layers::trusted`] compares: the record's sha256 and the blob's
/// size, mtime, inode and device. Not its ctime, which git's index also
/// compares: every hard link a layout makes to the blob changes it.
fn stamp(record: &[u8], blob: &std::fs::Metadata) -> Vec<u8> {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{} {} {}.{} {} {}\n",
        hex::encode(sha2::Sha256::digest(record)),
        blob.len(),
        blob.mtime(),
        blob.mtime_nsec(),
        blob.ino(),
        blob.dev()
    )
    .into_bytes()
}

/// Makes the blob read-only (0444: a layout's hard link to it cannot be
/// edited by anyone but root, and an edit by root changes its mtime),
/// then stamps it as verified together with its record.
pub(crate) fn stamp_blob(stamp_path: &Path, record: &[u8], blob: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(blob)?;
    if meta.permissions().mode() & 0o7777 != 0o444 {
        std::fs::set_permissions(blob, std::fs::Permissions::from_mode(0o444))?;
    }
    let meta = std::fs::symlink_metadata(blob)?;
    write_atomic(stamp_path, &stamp(record, &meta))
}

/// Fetches every .deb by its locked hash (the snapshot at the lock's pin
/// first, then the mirrors); returns sha256 → cached file.
pub(crate) async fn fetch_debs<'p>(
    fetcher: &Fetcher,
    distro: &distill_archive::DistroSpec,
    lock: &Lock,
    pkgs: impl Iterator<Item = &'p LockedPackage>,
) -> Result<BTreeMap<Sha256, PathBuf>> {
    let mut jobs = Vec::new();
    for p in pkgs {
        let archive = distro.archive(&p.archive).ok_or_else(|| {
            fail!(
                "cannot fetch {}: the lock names archive {}, which packages.toml lacks",
                p.name,
                p.archive
            )
        })?;
        let pin = lock.archives.get(&p.archive).ok_or_else(|| {
            fail!(
                "cannot fetch {}: the {} lock has no pin for {}; run `distill lock`",
                p.name,
                lock.distro,
                p.archive
            )
        })?;
        let urls: Vec<String> = archive
            .bases(pin)
            .into_iter()
            .map(|b| format!("{b}/{}", p.filename))
            .collect();
        let pin = Pinned {
            sha256: p.sha256.clone(),
            size: Some(p.size),
        };
        jobs.push((p, urls, pin));
    }
    let got = futures_util::future::try_join_all(jobs.iter().map(|(p, urls, pin)| async move {
        fetcher
            .fetch_pinned(urls, pin)
            .await
            .map(|path| (p.sha256.clone(), path))
            .context(|| format!("cannot fetch {} {}", p.name, p.version))
    }))
    .await?;
    Ok(got.into_iter().collect())
}

/// Fetches every artifact tarball by its locked URL, size and hash;
/// returns sha256 → cached file.
pub(super) async fn fetch_artifacts<'a>(
    fetcher: &Fetcher,
    artifacts: impl Iterator<Item = &'a LockedArtifact>,
) -> Result<BTreeMap<Sha256, PathBuf>> {
    let got = futures_util::future::try_join_all(artifacts.map(|a| async move {
        let pin = Pinned {
            sha256: a.sha256.clone(),
            size: Some(a.size),
        };
        fetcher
            .fetch_pinned(std::slice::from_ref(&a.url), &pin)
            .await
            .map(|path| (a.sha256.clone(), path))
            .context(|| format!("cannot fetch artifact {} {}", a.name, a.version))
    }))
    .await?;
    Ok(got.into_iter().collect())
}

/// Every layer of one distro's build, made once: what the images stack.
pub(super) struct MadeLayers<'a> {
    /// By the .deb's sha256.
    pub packages: BTreeMap<&'a str, Made>,
    /// By the tarball's sha256.
    pub artifacts: BTreeMap<&'a str, Made>,
    /// Per architecture: the skeleton (with the CA bundle) and busybox.
    pub skeletons: BTreeMap<&'a str, Made>,
    pub busybox: BTreeMap<&'a str, Made>,
}

/// One layer to make.
enum Work<'l> {
    Artifact(&'l LockedArtifact),
    Package(&'l LockedPackage),
    Skeleton(&'l str, Option<&'l LockedPackage>),
    Busybox(&'l str, &'l LockedPackage),
}

impl Work<'_> {
    /// How big its input is, for the schedule.
    fn size(&self) -> u64 {
        match self {
            Work::Artifact(a) => a.size,
            Work::Package(p) | Work::Busybox(_, p) | Work::Skeleton(_, Some(p)) => p.size,
            Work::Skeleton(_, None) => 0,
        }
    }
}

impl Project {
    /// Makes every layer `plan` names (or takes it from the layer cache),
    /// on every core, in one queue, the biggest first: a JDK started last
    /// would leave the other cores idle at the end. The layers the build
    /// makes of its tools (the skeleton with the CA bundle, busybox) are
    /// in the queue too.
    pub(super) fn make_layers<'a>(
        &self,
        name: &str,
        lock: &Lock,
        layers: &Layers,
        plan: &Plan<'a>,
        inputs: &Inputs,
    ) -> Result<MadeLayers<'a>> {
        let distro = self.distro(name)?;
        let build = &self.config.build;
        let (debs, tarballs) = (&inputs.debs, &inputs.tarballs);
        let work: Vec<Work<'a>> = (plan.uses.values().map(|a| Work::Artifact(a)))
            .chain(plan.needed.values().map(|p| Work::Package(p)))
            .chain(
                plan.tools
                    .iter()
                    .map(|(arch, t)| Work::Skeleton(arch, t.ca)),
            )
            .chain(
                plan.tools
                    .iter()
                    .filter_map(|(arch, t)| t.busybox.map(|p| Work::Busybox(arch, p))),
            )
            .collect();
        let steps = self
            .observer()
            .steps(work.len() as u64, &format!("{name} layers"));
        let done = largest_first(&work, Work::size, |w| {
            let made = match w {
                Work::Artifact(a) => {
                    let spec = self.config.artifacts.get(&a.name).ok_or_else(|| {
                        fail!(
                            "cannot build: the {} lock pins artifact {}, which packages.toml lacks; run `distill lock`",
                            lock.distro,
                            a.name
                        )
                    })?;
                    layers.artifact(a, spec, &tarballs[&a.sha256])?
                }
                Work::Package(p) => layers.package(p, &debs[&p.sha256])?,
                Work::Skeleton(_, ca) => {
                    let ca = ca.map(|p| (p, debs[&p.sha256].as_path()));
                    recipes::skeleton(layers, build, distro, ca)?
                }
                Work::Busybox(_, p) => recipes::busybox(layers, p, &debs[&p.sha256])?,
            };
            steps.advance(1);
            Ok(made)
        })?;
        let damaged =
            std::mem::take(&mut *layers.damaged.lock().unwrap_or_else(|e| e.into_inner()));
        if !damaged.is_empty() {
            self.observer().note(&format!(
                "made {} damaged cached layer{} again from {} verified input: {}",
                damaged.len(),
                if damaged.len() == 1 { "" } else { "s" },
                if damaged.len() == 1 { "its" } else { "their" },
                damaged.join(", ")
            ));
        }
        let mut made = MadeLayers {
            packages: BTreeMap::new(),
            artifacts: BTreeMap::new(),
            skeletons: BTreeMap::new(),
            busybox: BTreeMap::new(),
        };
        for (w, layer) in work.into_iter().zip(done) {
            match w {
                Work::Artifact(a) => made.artifacts.insert(a.sha256.as_str(), layer),
                Work::Package(p) => made.packages.insert(p.sha256.as_str(), layer),
                Work::Skeleton(arch, _) => made.skeletons.insert(arch, layer),
                Work::Busybox(arch, _) => made.busybox.insert(arch, layer),
            };
        }
        Ok(made)
    }
}

/// `f` of every item on rayon's threads, the largest (by `size`) started
/// first; the results in the items' order. After an error no new item is
/// started, and the first error in item order is returned.
fn largest_first<T: Sync, R: Send>(
    items: &[T],
    size: impl Fn(&T) -> u64,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let mut order: Vec<usize> = (0..items.len()).collect();
    // Ties in item order, so the schedule is the same on every run.
    order.sort_by_key(|&i| (std::cmp::Reverse(size(&items[i])), i));
    let results: Vec<Mutex<Option<Result<R>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    rayon::scope(|s| {
        for _ in 0..rayon::current_num_threads().min(items.len()) {
            s.spawn(|_| {
                while !failed.load(Ordering::Relaxed) {
                    let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let r = f(&items[i]);
                    failed.fetch_or(r.is_err(), Ordering::Relaxed);
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                }
            });
        }
    });
    let mut out = Vec::with_capacity(items.len());
    let mut first_error = None;
    for r in results {
        match r.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The cache's file is named by its hash and was checked when stored; it
/// is checked again here, right before its bytes go into an image.
pub(crate) fn check_hash(path: &Path, sha256: &Sha256, label: &str) -> Result<()> {
    let (got, _) = distill_store::sha256_file(path)
        .context(|| format!("cannot read {label}: {}", path.display()))?;
    if got != sha256.as_str() {
        return Err(fail!(
            "cannot use {label}: {} has sha256 {got}, the lock says {sha256}",
            path.display()
        ));
    }
    Ok(())
}
