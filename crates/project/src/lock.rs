//! `lock`: resolve every image of a distro against its pinned snapshots
//! and write `snapshots/<distro>.lock`.
//!
//! One resolution serves `lock`, `lock --check`, `why` and `update`
//! ([`Project::resolve_lock`]): the lock is conservative, as cargo's is.
//! Every locked package whose exact version and sha256 a signed index
//! still serves stays the candidate (apt's `install pkg=version`), so
//! changed intent re-resolves only what it touches, and a pin the
//! snapshot cannot serve (the mirror as it is now) does not move what the
//! lock already says. Only `update` resolves afresh, at its new pins.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use distill_archive::{Loaded, Pins};
use distill_debian::{Served, Sha256, SnapshotTime, compare_versions};
use distill_lock::{LOCK_VERSION, Lock, LockedArtifact, LockedPackage, LockedSuite};
use distill_resolve::{Package, Preferred, Resolution, ResolveError, Universe};

use crate::config::artifacts::ArtifactPins;
use crate::config::images::ImagePlan;
use crate::error::{Context, Error, Result, fail};
use crate::project::{Project, universe};

/// What `lock` does.
#[derive(Debug, Clone, Default)]
pub struct LockOptions {
    /// These distros (default: all).
    pub distros: Vec<String>,
    /// Pin for archives the lock does not pin yet (default: now).
    pub snapshot: Option<SnapshotTime>,
    /// Re-resolve only these architectures (default: all of each
    /// distro's); the lock's others stay as they are.
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
    /// What the lock claims that the signed indices do not give, the
    /// same resolution `lock` makes (empty: the lock is exactly right).
    pub discrepancies: Vec<String>,
    /// Suites that were not served at the lock's pins but by a mirror as
    /// it is now: the check compared against those instead.
    pub not_at_pins: Vec<SuiteSeen>,
    /// Locked packages older than the newest the same indices serve, one
    /// line each (`libc6 2.41-1, newest 2.41-2 (amd64, arm64)`): a valid
    /// conservative lock, but a reviewer sees what `update` would move
    /// (or a hand-edited downgrade to a version still served).
    pub held: Vec<String>,
}

/// A suite as a check saw it, against what the lock records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteSeen {
    pub suite: String,
    /// `mirror https://…` or `snapshot <capture>`.
    pub served: Served,
    /// The verified Release's date.
    pub date: Option<SnapshotTime>,
    /// The date the lock records for the suite.
    pub locked_date: Option<SnapshotTime>,
}

/// Whether a resolution keeps what the old lock chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Keep every locked package the indices still serve (`lock`,
    /// `lock --check`, `why`).
    Locked,
    /// The indices' newest (`update`, at new pins).
    Nothing,
}

/// What one architecture's resolution gives.
#[derive(Default)]
pub(crate) struct ArchSets {
    /// Image → its packages.
    pub(crate) images: BTreeMap<String, Vec<String>>,
    /// Image → what its debug tags add (only images that add some).
    pub(crate) debug: BTreeMap<String, Vec<String>>,
    /// The build's own packages.
    build: Vec<String>,
    /// Name → the entry this architecture uses.
    pub(crate) packages: BTreeMap<String, LockedPackage>,
    /// (image, artifact pin) for every artifact an image uses.
    artifacts: Vec<(String, LockedArtifact)>,
}

/// One architecture resolved: its sets, and what `why` and the notes need.
pub(crate) struct ArchLock {
    pub(crate) sets: ArchSets,
    /// Image → its resolution and, with debug packages, theirs.
    pub(crate) resolutions: BTreeMap<String, (Resolution, Option<Resolution>)>,
    /// Image → the artifacts it uses that have no build here.
    unbuilt: BTreeMap<String, Vec<String>>,
    /// Locked packages that had to move so the set resolves.
    loosened: Vec<String>,
}

/// Why an attempt at an architecture failed: a resolver error (which
/// kept versions may cause) with what was being done, or anything else.
enum Failure {
    Resolve(ResolveError, String),
    Other(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e)
    }
}

impl Project {
    /// Re-makes every selected distro's lock exactly as `distill lock`
    /// would (the same conservative resolution from the signed indices),
    /// writing nothing, and reports where the committed lock differs: a
    /// hand-edited hash, a package added or removed, a set that
    /// packages.toml no longer gives. Suites not served at the lock's
    /// pins are named in the result.
    pub fn check_locks(&self, distros: &[String]) -> Result<Vec<LockCheck>> {
        let artifacts = self.artifact_pins(false);
        let mut out = Vec::new();
        for name in self.distros(distros)? {
            let old = self.require_lock(&name, &format!("check the {name} lock"))?;
            let pins = pins_of(Some(&old), self.default_snapshot());
            let archs = self.distro(&name)?.architectures.clone();
            let loaded = self.load(&name, &archs, &pins)?;
            let fresh = self.resolve_loaded(
                &name,
                &archs,
                &pins,
                &loaded,
                &artifacts,
                Some(&old),
                Keep::Locked,
            )?;
            out.push(LockCheck {
                distro: name.clone(),
                path: self.lock_path(&name),
                discrepancies: old.discrepancies(&fresh),
                not_at_pins: not_at_pins(&loaded, &old, &fresh),
                held: held_back(&loaded, &old),
            });
        }
        Ok(out)
    }

    /// Resolves and writes the lock of every selected distro. A second
    /// run reuses the pins and keeps every locked package still served,
    /// so nothing moves unless the config changed.
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
            let lock =
                self.resolve_lock(&name, &archs, &pins, &artifacts, old.as_ref(), Keep::Locked)?;
            if let Some(o) = old.as_ref().filter(|o| o.version < LOCK_VERSION) {
                self.observer().note(&format!(
                    "note: {} is a version {} lock; writing it as version {LOCK_VERSION}, which records each suite's Release date",
                    self.lock_path(&name).display(),
                    o.version
                ));
            }
            let text = lock.to_toml();
            let changed = old.map(|o| o.to_toml()).as_ref() != Some(&text);
            let path = self.lock_path(&name);
            out.push((
                name,
                text,
                Locked {
                    path,
                    changed,
                    packages: lock.packages.len(),
                    images: lock.images.len(),
                },
            ));
        }
        // Every distro resolved before any lock is written: a failure in
        // one leaves all of them as they were.
        for (name, text, locked) in &out {
            if locked.changed {
                self.write_lock(name, text)?;
            }
        }
        Ok(out.into_iter().map(|(_, _, l)| l).collect())
    }

    /// Loads `distro`'s indices at `pins` and resolves every image on
    /// `archs` into a lock (not written). The old lock's other
    /// architectures (those the distro still has) are carried over as
    /// they are; with [`Keep::Locked`] its packages are kept on `archs`
    /// too wherever the indices still serve them.
    pub(crate) fn resolve_lock(
        &self,
        distro: &str,
        archs: &[String],
        pins: &Pins,
        artifact_pins: &ArtifactPins<'_>,
        old: Option<&Lock>,
        keep: Keep,
    ) -> Result<Lock> {
        let loaded = self.load(distro, archs, pins)?;
        self.resolve_loaded(distro, archs, pins, &loaded, artifact_pins, old, keep)
    }

    /// [`Project::resolve_lock`] over indices already loaded at `pins`
    /// (`lock --check` reads them again for what the lock holds back).
    #[allow(clippy::too_many_arguments)] // resolve_lock's, plus the indices
    fn resolve_loaded(
        &self,
        distro: &str,
        archs: &[String],
        pins: &Pins,
        loaded: &Loaded,
        artifact_pins: &ArtifactPins<'_>,
        old: Option<&Lock>,
        keep: Keep,
    ) -> Result<Lock> {
        let plans = self.plans(distro)?;
        let spec = self.distro(distro)?;
        if let Some(old) = old {
            refuse_rollback(distro, old, loaded)?;
        }
        let artifact_of = self.pin_artifacts(&plans, archs, artifact_pins, old)?;
        let mut per_arch: BTreeMap<String, ArchSets> = BTreeMap::new();
        let mut unbuilt: BTreeMap<String, (Vec<String>, BTreeSet<String>)> = BTreeMap::new();
        for arch in archs {
            let prefer = match (keep, old) {
                (Keep::Locked, Some(old)) => preferred(old, arch),
                _ => BTreeMap::new(),
            };
            let Some(resolved) =
                self.resolve_arch(loaded, distro, arch, &plans, &artifact_of, prefer)?
            else {
                continue;
            };
            if !resolved.loosened.is_empty() {
                self.observer().note(&format!(
                    "note: {distro} {arch}: the locked {} no longer resolve with the rest; they move to the newest the indices serve",
                    resolved.loosened.join(", ")
                ));
            }
            for (image, missing) in resolved.unbuilt {
                let entry = unbuilt.entry(image).or_default();
                entry.0.push(arch.clone());
                entry.1.extend(missing);
            }
            per_arch.insert(arch.clone(), resolved.sets);
        }
        for (image, (on, artifacts)) in unbuilt {
            let artifacts: Vec<String> = artifacts.into_iter().collect();
            self.observer().note(&format!(
                "{image} is not built for {distro} {}: {} has no build there",
                on.join(", "),
                artifacts.join(", ")
            ));
        }
        // The old lock's other architectures, as they are, while the
        // distro and its images still have them.
        if let Some(old) = old {
            for arch in old.architectures() {
                if archs.contains(&arch) || !spec.architectures.contains(&arch) {
                    continue;
                }
                per_arch.insert(arch.clone(), kept_arch(old, &arch, &plans)?);
            }
        }
        Ok(assemble(distro, spec, pins, loaded, per_arch))
    }

    /// Resolves every image of `plans` built on `arch`, keeping `prefer`
    /// where the indices still serve it: a kept version that makes the
    /// set fail (a new dependency needs a newer one) is let go, and the
    /// architecture tried again, until it resolves or nothing kept is to
    /// blame. `None` when no image is built on `arch`.
    pub(crate) fn resolve_arch(
        &self,
        loaded: &Loaded,
        distro: &str,
        arch: &str,
        plans: &[(String, ImagePlan)],
        artifact_of: &BTreeMap<(String, String), Option<LockedArtifact>>,
        mut prefer: BTreeMap<String, Preferred>,
    ) -> Result<Option<ArchLock>> {
        let wanted: Vec<&(String, ImagePlan)> = plans
            .iter()
            .filter(|(_, p)| p.architectures.iter().any(|a| a == arch))
            .collect();
        if wanted.is_empty() {
            return Ok(None);
        }
        let mut loosened = Vec::new();
        loop {
            // Costs nothing to build: names are looked up in the indices'
            // tables.
            let universe = universe(loaded, arch).preferring(prefer.clone());
            match self.attempt(&universe, loaded, distro, &wanted, artifact_of) {
                Ok(mut resolved) => {
                    resolved.loosened = loosened;
                    return Ok(Some(resolved));
                }
                Err(Failure::Other(e)) => return Err(e),
                Err(Failure::Resolve(e, what)) => {
                    let blamed: Vec<String> = e
                        .implicated()
                        .into_iter()
                        .filter(|n| prefer.remove(n).is_some())
                        .collect();
                    if blamed.is_empty() {
                        return Err(e).context(|| what);
                    }
                    loosened.extend(blamed);
                }
            }
        }
    }

    /// One try at an architecture with one universe.
    fn attempt(
        &self,
        universe: &Universe<'_>,
        loaded: &Loaded,
        distro: &str,
        wanted: &[&(String, ImagePlan)],
        artifact_of: &BTreeMap<(String, String), Option<LockedArtifact>>,
    ) -> Result<ArchLock, Failure> {
        let arch = universe.arch().to_owned();
        let mut out = ArchLock {
            sets: ArchSets::default(),
            resolutions: BTreeMap::new(),
            unbuilt: BTreeMap::new(),
            loosened: Vec::new(),
        };
        let sets = &mut out.sets;
        let add = |sets: &mut ArchSets, pkg: &Package<'_>| -> Result<(), Failure> {
            let entry = lock_entry(pkg, loaded)?;
            sets.packages.insert(entry.name.clone(), entry);
            Ok(())
        };
        // The build's own packages are locked as they are, without
        // dependencies: the build takes files out of them and installs
        // nothing they need.
        for name in self.config.build.packages() {
            let pkg = universe.get(&name).ok_or_else(|| {
                fail!(
                    "cannot lock build package {name} for {distro} {arch}: no package of that name"
                )
            })?;
            add(sets, pkg)?;
            sets.build.push(name.clone());
        }
        for (image, plan) in wanted {
            // Built only where every artifact it uses has a build.
            let missing: Vec<String> = plan
                .artifacts
                .iter()
                .filter(|a| {
                    artifact_of
                        .get(&((*a).clone(), arch.clone()))
                        .is_none_or(Option::is_none)
                })
                .cloned()
                .collect();
            if !missing.is_empty() {
                out.unbuilt.insert(image.clone(), missing);
                continue;
            }
            for a in &plan.artifacts {
                if let Some(Some(pin)) = artifact_of.get(&(a.clone(), arch.clone())) {
                    sets.artifacts.push((image.clone(), pin.clone()));
                }
            }
            let resolution = universe.resolve(&plan.roots, &plan.excludes).map_err(|e| {
                Failure::Resolve(e, format!("cannot lock image {image} for {distro} {arch}"))
            })?;
            for chosen in resolution.packages.values() {
                add(
                    sets,
                    universe
                        .get(&chosen.name)
                        .expect("chosen from the universe"),
                )?;
            }
            let names: Vec<String> = resolution.packages.keys().cloned().collect();
            let debug = debug_additions(universe, image, distro, plan, &names)?;
            if let Some((_, added)) = &debug {
                for name in added {
                    add(sets, universe.get(name).expect("chosen from the universe"))?;
                }
                if !added.is_empty() {
                    sets.debug.insert(image.clone(), added.clone());
                }
            }
            sets.images.insert(image.clone(), names);
            out.resolutions
                .insert(image.clone(), (resolution, debug.map(|(both, _)| both)));
        }
        Ok(out)
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

/// The suites of `fresh` a mirror served in place of their pins (as the
/// load found them), with the dates `old` records.
fn not_at_pins(loaded: &Loaded, old: &Lock, fresh: &Lock) -> Vec<SuiteSeen> {
    let Some(mirrored) = &loaded.mirrored else {
        return Vec::new();
    };
    fresh
        .suites
        .iter()
        .filter(|s| mirrored.suites.contains(&s.suite))
        .map(|s| SuiteSeen {
            suite: s.suite.clone(),
            served: s.served.clone(),
            date: s.date,
            locked_date: old
                .suites
                .iter()
                .find(|o| o.archive == s.archive && o.suite == s.suite)
                .and_then(|o| o.date),
        })
        .collect()
}

/// Every package `lock` keeps below the newest version `loaded` serves
/// for its architecture, with the architectures, sorted.
fn held_back(loaded: &Loaded, lock: &Lock) -> Vec<String> {
    let mut held: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for arch in lock.architectures() {
        let universe = universe(loaded, &arch);
        for name in lock.names_on(&arch) {
            let (Some(locked), Some(newest)) = (lock.package(name, &arch), universe.get(name))
            else {
                continue;
            };
            if compare_versions(newest.version, &locked.version).is_gt() {
                let key = (
                    name.clone(),
                    locked.version.clone(),
                    newest.version.to_owned(),
                );
                held.entry(key).or_default().push(arch.clone());
            }
        }
    }
    held.into_iter()
        .map(|((name, locked, newest), archs)| {
            format!("{name} {locked}, newest {newest} ({})", archs.join(", "))
        })
        .collect()
}

/// The lock's pins, or `fallback` for archives it does not pin.
pub(crate) fn pins_of(lock: Option<&Lock>, fallback: SnapshotTime) -> Pins {
    let mut pins = Pins::all(fallback);
    if let Some(lock) = lock {
        pins.by_archive = lock.archives.clone();
    }
    pins
}

/// Rollback and indefinite freeze: every suite's verified Release must be
/// at least as new as the one the lock records. A mirror (or a snapshot)
/// serving an older, validly signed Release is refused, never locked.
fn refuse_rollback(distro: &str, old: &Lock, loaded: &Loaded) -> Result<()> {
    for r in &loaded.releases {
        let recorded = old
            .suites
            .iter()
            .find(|s| s.archive == r.archive && s.suite == r.suite);
        // A lock written while the snapshot was out of reach records the
        // mirror's (newer) Release; the pinned capture, served again, is
        // older by design and is what the pin means. Every other pairing
        // must not go backwards.
        let back_at_pin = recorded.is_some_and(|s| matches!(s.served, Served::Mirror { .. }))
            && matches!(r.served, Served::Snapshot { .. });
        if let Some(recorded) = recorded.and_then(|s| s.date).filter(|_| !back_at_pin)
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
/// roots and its debug roots resolved together (that resolution, and the
/// names it adds to `base`); `None` without debug packages. The debug
/// tags hold everything the others do, so the result must contain `base`
/// (a debug root that changes a choice the image made is refused).
fn debug_additions(
    universe: &Universe<'_>,
    image: &str,
    distro: &str,
    plan: &ImagePlan,
    base: &[String],
) -> Result<Option<(Resolution, Vec<String>)>, Failure> {
    if plan.debug_roots.is_empty() {
        return Ok(None);
    }
    let arch = universe.arch();
    let roots: Vec<String> = plan
        .roots
        .iter()
        .chain(&plan.debug_roots)
        .cloned()
        .collect();
    let both = universe.resolve(&roots, &plan.excludes).map_err(|e| {
        Failure::Resolve(
            e,
            format!("cannot lock the debug tags of {image} for {distro} {arch}"),
        )
    })?;
    if let Some(gone) = base.iter().find(|n| !both.packages.contains_key(*n)) {
        return Err(Failure::Other(fail!(
            "cannot lock the debug tags of {image} for {distro} {arch}: with its debug packages the image would lose {gone}"
        )));
    }
    let added = both
        .packages
        .keys()
        .filter(|n| !base.contains(n))
        .cloned()
        .collect();
    Ok(Some((both, added)))
}

/// What `old` locks on `arch`, as the resolver's preferences: every
/// package of its images, debug tags and build on that architecture.
pub(crate) fn preferred(old: &Lock, arch: &str) -> BTreeMap<String, Preferred> {
    old.names_on(arch)
        .into_iter()
        .filter_map(|name| {
            let p = old.package(name, arch)?;
            let kept = Preferred {
                version: p.version.clone(),
                sha256: p.sha256.clone(),
            };
            Some((name.clone(), kept))
        })
        .collect()
}

/// `old`'s sets on `arch`, carried over unresolved (`lock --arch` for
/// another architecture): only images packages.toml still builds there.
fn kept_arch(old: &Lock, arch: &str, plans: &[(String, ImagePlan)]) -> Result<ArchSets> {
    let builds = |image: &str| {
        plans
            .iter()
            .any(|(n, p)| n == image && p.architectures.iter().any(|a| a == arch))
    };
    let mut sets = ArchSets::default();
    for (image, per_arch) in &old.images {
        if let Some(names) = per_arch.get(arch).filter(|_| builds(image)) {
            sets.images.insert(image.clone(), names.clone());
            if let Some(d) = old.debug.get(image).and_then(|d| d.get(arch)) {
                sets.debug.insert(image.clone(), d.clone());
            }
        }
    }
    sets.build = old.build.get(arch).cloned().unwrap_or_default();
    let names: BTreeSet<&String> = sets
        .images
        .values()
        .chain(sets.debug.values())
        .chain([&sets.build])
        .flatten()
        .collect();
    for name in names {
        let p = old.package(name, arch).ok_or_else(|| {
            fail!(
                "cannot keep {} {arch}: it lists {name}, which it does not lock; run `distill lock` for every architecture",
                old.distro
            )
        })?;
        sets.packages.insert(name.clone(), p.clone());
    }
    for a in old.artifacts.iter().filter(|a| a.architecture == arch) {
        for image in a.images.iter().filter(|i| sets.images.contains_key(*i)) {
            sets.artifacts.push((image.clone(), a.clone()));
        }
    }
    Ok(sets)
}

/// The lock of every architecture's sets. An `Architecture: all` package
/// is one entry when every architecture uses the same .deb, else one per
/// .deb naming the architectures that use it.
fn assemble(
    distro: &str,
    spec: &distill_archive::DistroSpec,
    pins: &Pins,
    loaded: &Loaded,
    per_arch: BTreeMap<String, ArchSets>,
) -> Lock {
    let mut images: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut debug: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut build: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut artifacts: BTreeMap<(String, String), LockedArtifact> = BTreeMap::new();
    // (name, deb architecture) → entry → the image architectures using it.
    let mut uses: BTreeMap<(String, String), BTreeMap<LockedPackage, Vec<String>>> =
        BTreeMap::new();
    for (arch, sets) in per_arch {
        for (image, names) in sets.images {
            images.entry(image).or_default().insert(arch.clone(), names);
        }
        for (image, names) in sets.debug {
            debug.entry(image).or_default().insert(arch.clone(), names);
        }
        if !sets.build.is_empty() {
            build.insert(arch.clone(), sets.build);
        }
        for (image, a) in sets.artifacts {
            let key = (a.name.clone(), a.architecture.clone());
            // The images are this resolution's, not a kept pin's.
            let pin = artifacts.entry(key).or_insert(LockedArtifact {
                images: Vec::new(),
                ..a
            });
            pin.images.push(image);
        }
        for (name, mut p) in sets.packages {
            p.for_architectures = None;
            uses.entry((name, p.architecture.clone()))
                .or_default()
                .entry(p)
                .or_default()
                .push(arch.clone());
        }
    }
    let mut packages = Vec::new();
    for (_, entries) in uses {
        let split = entries.len() > 1;
        for (mut p, archs) in entries {
            if split {
                p.for_architectures = Some(archs);
            }
            packages.push(p);
        }
    }
    // Every suite's Release is read whatever the architectures.
    let mut suites: Vec<LockedSuite> = loaded
        .releases
        .iter()
        .map(|r| LockedSuite {
            archive: r.archive.clone(),
            suite: r.suite.clone(),
            served: r.served.clone(),
            inrelease_sha256: r.inrelease_sha256.clone(),
            date: Some(SnapshotTime::from_unix(r.release.date)),
        })
        .collect();
    suites.sort_by(|a, b| (&a.archive, &a.suite).cmp(&(&b.archive, &b.suite)));
    Lock {
        version: LOCK_VERSION,
        distro: distro.to_owned(),
        archives: spec
            .archives
            .iter()
            .map(|a| (a.name.clone(), pins.of(&a.name)))
            .collect(),
        suites,
        packages,
        images,
        debug,
        build,
        artifacts: artifacts.into_values().collect(),
    }
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
        for_architectures: None,
    })
}
