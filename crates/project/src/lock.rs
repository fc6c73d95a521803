//! `lock`: resolve every image of a distro against its pinned snapshots
//! and write `snapshots/<distro>.lock`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use distill_archive::{Loaded, Pins};
use distill_debian::{Sha256, SnapshotTime};
use distill_lock::{LOCK_VERSION, Lock, LockedArtifact, LockedPackage, LockedSuite};
use distill_resolve::{Package, Resolution, Universe};

use crate::artifacts::ArtifactPins;
use crate::error::{Context, Result, fail};
use crate::images::ImagePlan;
use crate::project::{Project, universe};

/// What `lock` does.
#[derive(Debug, Clone, Default)]
pub struct LockOptions {
    /// These distros (default: all).
    pub distros: Vec<String>,
    /// Pin for archives the lock does not pin yet (default: now).
    pub snapshot: Option<SnapshotTime>,
    /// Only these architectures (default: all of each distro's).
    pub archs: Vec<String>,
}

/// One lock written.
#[derive(Debug, Clone)]
pub struct Locked {
    pub path: PathBuf,
    /// False when the file was already exactly this.
    pub changed: bool,
    pub packages: usize,
    pub images: usize,
}

/// One lock re-verified by `lock --check`.
#[derive(Debug, Clone)]
pub struct LockCheck {
    pub distro: String,
    pub path: PathBuf,
    /// What the lock claims that the signed indices at its pins do not
    /// give (empty: the lock is exactly right).
    pub discrepancies: Vec<String>,
}

impl Project {
    /// Re-resolves every selected distro at its lock's own pins from the
    /// signed indices, writing nothing, and reports where the committed
    /// lock differs: a hand-edited hash, a package added or removed, a
    /// set that packages.toml no longer gives.
    pub fn check_locks(&self, distros: &[String]) -> Result<Vec<LockCheck>> {
        let artifacts = self.artifact_pins(false);
        let mut out = Vec::new();
        for name in self.distros(distros)? {
            let old = self.require_lock(&name, &format!("check the {name} lock"))?;
            let pins = pins_of(Some(&old), self.default_snapshot());
            let fresh =
                self.resolve_lock(&name, &old.architectures(), &pins, &artifacts, Some(&old))?;
            out.push(LockCheck {
                distro: name.clone(),
                path: self.lock_path(&name),
                discrepancies: old.discrepancies(&fresh),
            });
        }
        Ok(out)
    }

    /// Resolves and writes the lock of every selected distro. A second
    /// run reuses the pins, so nothing moves unless the config changed.
    pub fn lock_distros(&self, opts: &LockOptions) -> Result<Vec<Locked>> {
        self.not_future(opts.snapshot, "--snapshot")?;
        let fallback = opts.snapshot.unwrap_or_else(|| self.default_snapshot());
        let mut out = Vec::new();
        // One set of artifact pins for every distro of this run.
        let artifacts = self.artifact_pins(false);
        for name in self.distros(&opts.distros)? {
            let distro = self.distro(&name)?;
            let old = self.lock(&name)?;
            let pins = pins_of(old.as_ref(), fallback);
            let archs = if opts.archs.is_empty() {
                distro.architectures.clone()
            } else {
                for a in &opts.archs {
                    self.check_arch(&name, a)?;
                }
                opts.archs.clone()
            };
            let lock = self.resolve_lock(&name, &archs, &pins, &artifacts, old.as_ref())?;
            if let Some(o) = old.as_ref().filter(|o| o.version < LOCK_VERSION) {
                self.observer().note(&format!(
                    "note: {} is a version {} lock; writing it as version {LOCK_VERSION}, which records each suite's Release date",
                    self.lock_path(&name).display(),
                    o.version
                ));
            }
            let text = lock.to_toml();
            let changed = old.map(|o| o.to_toml()).as_ref() != Some(&text);
            self.write_lock(&name, &text)?;
            out.push(Locked {
                path: self.lock_path(&name),
                changed,
                packages: lock.packages.len(),
                images: lock.images.len(),
            });
        }
        Ok(out)
    }

    /// Loads `distro`'s indices at `pins` and resolves every image into a
    /// lock (not written).
    pub(crate) fn resolve_lock(
        &self,
        distro: &str,
        archs: &[String],
        pins: &Pins,
        artifact_pins: &ArtifactPins<'_>,
        old: Option<&Lock>,
    ) -> Result<Lock> {
        let plans = self.plans(distro)?;
        let loaded = self.load(distro, archs, pins)?;
        if let Some(old) = old {
            refuse_rollback(distro, old, &loaded)?;
        }
        let artifact_of = self.pin_artifacts(&plans, archs, artifact_pins, old)?;
        let mut artifacts: BTreeMap<(String, String), LockedArtifact> = BTreeMap::new();
        let spec = self.distro(distro)?;
        let mut packages: BTreeMap<(String, String), LockedPackage> = BTreeMap::new();
        let mut images: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        let mut debug: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        let mut build: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut add = |p: LockedPackage| {
            packages.insert((p.name.clone(), p.architecture.clone()), p);
        };
        for arch in archs {
            let wanted: Vec<&(String, ImagePlan)> = plans
                .iter()
                .filter(|(_, p)| p.architectures.contains(arch))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            // Costs nothing to build: names are looked up in the indices'
            // tables.
            let universe = universe(&loaded, arch);
            // The build's own packages are locked as they are, without
            // dependencies: the build takes files out of them and installs
            // nothing they need.
            for name in self.config.build.packages() {
                let pkg = universe.get(&name).ok_or_else(|| {
                    fail!(
                        "cannot lock build package {name} for {distro} {arch}: no package of that name"
                    )
                })?;
                add(lock_entry(pkg, &loaded)?);
                build.entry(arch.clone()).or_default().push(name.clone());
            }
            for (image, plan) in wanted {
                // Built only where every artifact it uses has a build.
                let Some(used) = plan
                    .artifacts
                    .iter()
                    .map(|a| {
                        artifact_of
                            .get(&(a.clone(), arch.clone()))
                            .cloned()
                            .flatten()
                    })
                    .collect::<Option<Vec<LockedArtifact>>>()
                else {
                    self.observer().note(&format!(
                        "{image} is not built for {distro} {arch}: an artifact it uses has no {arch} build"
                    ));
                    continue;
                };
                for a in used {
                    let key = (a.name.clone(), a.architecture.clone());
                    // The images are this resolution's, not a kept pin's.
                    let pin = artifacts.entry(key).or_insert(LockedArtifact {
                        images: Vec::new(),
                        ..a
                    });
                    pin.images.push(image.clone());
                }
                let resolution = resolve_image(&universe, image, distro, plan)?;
                for chosen in resolution.packages.values() {
                    let pkg = universe
                        .get(&chosen.name)
                        .expect("chosen from the universe");
                    add(lock_entry(pkg, &loaded)?);
                }
                let names: Vec<String> = resolution.packages.keys().cloned().collect();
                let added = debug_additions(&universe, image, distro, plan, &names)?;
                for name in &added {
                    let pkg = universe.get(name).expect("chosen from the universe");
                    add(lock_entry(pkg, &loaded)?);
                }
                if !added.is_empty() {
                    debug
                        .entry(image.clone())
                        .or_default()
                        .insert(arch.clone(), added);
                }
                images
                    .entry(image.clone())
                    .or_default()
                    .insert(arch.clone(), names);
            }
        }
        Ok(Lock {
            version: LOCK_VERSION,
            distro: distro.to_owned(),
            archives: spec
                .archives
                .iter()
                .map(|a| (a.name.clone(), pins.of(&a.name)))
                .collect(),
            suites: loaded
                .releases
                .iter()
                .map(|r| LockedSuite {
                    archive: r.archive.clone(),
                    suite: r.suite.clone(),
                    served: r.served.clone(),
                    inrelease_sha256: r.inrelease_sha256.clone(),
                    date: Some(SnapshotTime::from_unix(r.release.date)),
                })
                .collect(),
            packages: packages.into_values().collect(),
            images,
            debug,
            build,
            artifacts: artifacts.into_values().collect(),
        })
    }

    /// A fresh set of artifact pins for one command: `newest` moves them
    /// (`update`), else the lock's are kept (`lock`).
    pub(crate) fn artifact_pins(&self, newest: bool) -> ArtifactPins<'_> {
        let dir = self.config_path().parent().unwrap_or(Path::new("."));
        ArtifactPins::new(&self.fetcher, dir, self.now, newest)
    }

    /// The pin of every artifact the plans use on each of `archs`
    /// (`None`: no build for that architecture), fetched concurrently.
    pub(crate) fn pin_artifacts(
        &self,
        plans: &[(String, ImagePlan)],
        archs: &[String],
        pins: &ArtifactPins<'_>,
        old: Option<&Lock>,
    ) -> Result<BTreeMap<(String, String), Option<LockedArtifact>>> {
        // Artifact → the architectures images need it for.
        let mut wanted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (_, plan) in plans {
            for a in &plan.artifacts {
                let list = wanted.entry(a).or_default();
                for arch in archs.iter().filter(|x| plan.architectures.contains(x)) {
                    if !list.contains(arch) {
                        list.push(arch.clone());
                    }
                }
            }
        }
        let jobs = wanted.iter().map(|(name, archs)| async move {
            let spec = &self.config.artifacts[*name];
            let got = pins.pins(name, spec, archs, old).await?;
            Ok::<_, crate::Error>(
                archs
                    .iter()
                    .map(|arch| {
                        let pin = got.iter().find(|p| &p.architecture == arch).cloned();
                        ((name.to_string(), arch.clone()), pin)
                    })
                    .collect::<Vec<_>>(),
            )
        });
        // All finish, and the first failure in artifact order is reported:
        // the same error whichever download ends first.
        let mut out = BTreeMap::new();
        for r in self.block_on(futures_util::future::join_all(jobs)) {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Every image built for `distro`, with what to resolve for it.
    pub(crate) fn plans(&self, distro: &str) -> Result<Vec<(String, ImagePlan)>> {
        self.config
            .plans(distro)
            .map_err(|e| fail!("cannot use {}: {e}", self.config_path().display()))
    }
}

/// The lock's pins, or `fallback` for archives it does not pin.
pub(crate) fn pins_of(lock: Option<&Lock>, fallback: SnapshotTime) -> Pins {
    let mut pins = Pins::all(fallback);
    if let Some(lock) = lock {
        pins.by_archive = lock.archives.clone();
    }
    pins
}

pub(crate) fn resolve_image(
    universe: &Universe<'_>,
    image: &str,
    distro: &str,
    plan: &ImagePlan,
) -> Result<Resolution> {
    universe
        .resolve(&plan.roots, &plan.excludes)
        .context(|| format!("cannot lock image {image} for {distro} {}", universe.arch()))
}

/// Rollback and indefinite freeze: every suite's verified Release must be
/// at least as new as the one the lock records. A mirror (or a snapshot)
/// serving an older, validly signed Release is refused, never locked.
fn refuse_rollback(distro: &str, old: &Lock, loaded: &Loaded) -> Result<()> {
    for r in &loaded.releases {
        let recorded = old
            .suites
            .iter()
            .find(|s| s.archive == r.archive && s.suite == r.suite)
            .and_then(|s| s.date);
        if let Some(recorded) = recorded
            && r.release.date < recorded.unix()
        {
            return Err(fail!(
                "cannot lock {distro}: {} ({}) served a Release dated {}, older than the {recorded} the lock records; refusing a rollback (a stale or malicious source)",
                r.suite,
                r.served,
                SnapshotTime::from_unix(r.release.date)
            ));
        }
    }
    Ok(())
}

/// What the debug tags of `image` add to its set `base`: the image's
/// roots and its debug roots resolved together, less `base`. The debug
/// tags hold everything the others do, so the result must contain `base`
/// (a debug root that changes a choice the image made is refused).
fn debug_additions(
    universe: &Universe<'_>,
    image: &str,
    distro: &str,
    plan: &ImagePlan,
    base: &[String],
) -> Result<Vec<String>> {
    if plan.debug_roots.is_empty() {
        return Ok(Vec::new());
    }
    let roots: Vec<String> = plan
        .roots
        .iter()
        .chain(&plan.debug_roots)
        .cloned()
        .collect();
    let both = universe.resolve(&roots, &plan.excludes).context(|| {
        format!(
            "cannot lock the debug tags of {image} for {distro} {}",
            universe.arch()
        )
    })?;
    if let Some(gone) = base.iter().find(|n| !both.packages.contains_key(*n)) {
        return Err(fail!(
            "cannot lock the debug tags of {image} for {distro} {}: with its debug packages the image would lose {gone}",
            universe.arch()
        ));
    }
    Ok(both
        .packages
        .keys()
        .filter(|n| !base.contains(n))
        .cloned()
        .collect())
}

/// The lock entry of a candidate.
fn lock_entry(pkg: &Package<'_>, loaded: &Loaded) -> Result<LockedPackage> {
    let rel = &loaded.releases[pkg.origin];
    let stanza = pkg
        .stanza()
        .context(|| format!("cannot lock {} {}", pkg.name, pkg.version))?;
    let field = |f: &str| {
        stanza.get(f).ok_or_else(|| {
            fail!(
                "cannot lock {} {}: its stanza in {} has no {f}",
                pkg.name,
                pkg.version,
                rel.suite
            )
        })
    };
    let size = field("Size")?
        .parse()
        .map_err(|_| fail!("cannot lock {}: bad Size", pkg.name))?;
    let sha256 = Sha256::parse(field("SHA256")?)
        .context(|| format!("cannot lock {} {}", pkg.name, pkg.version))?;
    Ok(LockedPackage {
        name: pkg.name.to_owned(),
        version: pkg.version.to_owned(),
        architecture: pkg.arch.to_owned(),
        archive: rel.archive.clone(),
        suite: rel.suite.clone(),
        filename: field("Filename")?.to_owned(),
        size,
        sha256,
    })
}
