//! `build`: the images from the lock alone (no index is fetched, nothing
//! is resolved). Every .deb is fetched by its locked hash and turned into
//! a layer once ([`layers`]), and so is every upstream artifact's tarball;
//! the distroless layers are made from
//! `[build]` ([`recipes`]); each image, tag and architecture is assembled
//! ([`assemble`]) into one OCI layout per image and distro, with an index
//! per tag over the architectures.

mod assemble;
pub(crate) mod layers;
mod recipes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use distill_image::{Layout, platform_of};
use distill_layer::Compression;
use distill_lock::{Lock, LockedArtifact, LockedPackage};

use self::assemble::Assembly;
use self::layers::{Layers, Made, fetch_artifacts, fetch_debs};
use crate::error::{Context, Error, Result, fail};
use crate::images::{ImageSettings, settings};
use crate::project::{Project, read_lock_file};

/// What to build, and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Only these images (default: every image in the lock).
    pub images: Vec<String>,
    /// Only these distros (default: all).
    pub distros: Vec<String>,
    /// Only these architectures (default: all locked ones).
    pub archs: Vec<String>,
    /// Layouts go to `<out>/<image>-<distro>/`.
    pub out: PathBuf,
    pub compression: Compression,
    pub format: Format,
    /// Build only the images whose packages differ from these older
    /// locks (one per distro; distros without one are skipped).
    pub changed_since: Vec<PathBuf>,
    /// Every mtime is clamped to this (`SOURCE_DATE_EPOCH`); default: the
    /// pin of the distro's first archive.
    pub epoch: Option<u64>,
    /// The layouts are a means, not the result (`verify` builds into a
    /// scratch directory): no `wrote …` note for them.
    pub scratch: bool,
}

impl Default for BuildOptions {
    /// Everything in the lock, as OCI layouts under `out/`, gzip layers.
    fn default() -> Self {
        BuildOptions {
            images: Vec::new(),
            distros: Vec::new(),
            archs: Vec::new(),
            out: PathBuf::from("out"),
            compression: Compression::Gzip,
            format: Format::Oci,
            changed_since: Vec::new(),
            epoch: None,
            scratch: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An OCI image layout per image and distro.
    Oci,
    /// `<out>/<image>-<distro>-<arch>.tar` for `docker load`, every tag,
    /// for one image and one architecture.
    DockerArchive,
}

/// One tag built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub image: String,
    pub distro: String,
    pub tag: String,
    /// The digest of the tag's image index.
    pub digest: String,
    /// The layout (for a docker archive: the archive).
    pub path: PathBuf,
}

/// What a build wrote.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// Every tag of every layout built.
    pub tags: Vec<Built>,
    /// Docker archives written: (image, distro, arch, path).
    pub archives: Vec<(String, String, String, PathBuf)>,
}

/// One image of one distro being built.
pub(crate) struct ImageBuild<'l> {
    image: String,
    settings: ImageSettings,
    /// Architecture → the locked packages, sorted by name.
    archs: BTreeMap<String, Vec<&'l LockedPackage>>,
    /// Architecture → what the debug tags add, sorted by name.
    debug: BTreeMap<String, Vec<&'l LockedPackage>>,
    /// Architecture → the locked upstream artifacts, sorted by name.
    artifacts: BTreeMap<String, Vec<&'l LockedArtifact>>,
}

impl Project {
    pub fn build(&self, opts: &BuildOptions) -> Result<BuildReport> {
        let build = &self.config.build;
        if build.tags.is_empty() {
            return Err(fail!(
                "cannot build: {} has no [build.tags]",
                self.config_path().display()
            ));
        }
        for i in &opts.images {
            match self.config.images.get(i) {
                None => return Err(fail!("cannot build image {i}: not in packages.toml")),
                Some(spec) if !spec.publish => {
                    return Err(fail!(
                        "cannot build image {i}: it is a build base (publish = false); build an image that extends it"
                    ));
                }
                Some(_) => {}
            }
        }
        let docker = opts.format == Format::DockerArchive;
        if docker && (opts.images.len() != 1 || opts.archs.len() != 1) {
            return Err(fail!(
                "cannot build a docker archive: name one --image and one --arch"
            ));
        }
        // A docker archive is made from a layout built in a scratch
        // directory.
        let scratch = match docker {
            true => Some(
                std::fs::create_dir_all(&opts.out)
                    .and_then(|_| {
                        tempfile::Builder::new()
                            .prefix(".distill-build")
                            .tempdir_in(&opts.out)
                    })
                    .context(|| format!("cannot write {}", opts.out.display()))?,
            ),
            false => None,
        };
        let layouts = scratch.as_ref().map_or(opts.out.as_path(), |s| s.path());
        let selected = self.distros(&opts.distros)?;
        let mut since: BTreeMap<String, Lock> = BTreeMap::new();
        for path in &opts.changed_since {
            let old = read_lock_file(path)?;
            // A lock of a distro this build does not make compares with
            // nothing: say so instead of building nothing in silence.
            if !selected.contains(&old.distro) {
                return Err(fail!(
                    "cannot build --changed-since {}: it is a lock of {}, and this build is of {}",
                    path.display(),
                    old.distro,
                    selected.join(", ")
                ));
            }
            self.lock_is_of(&old, &old.distro)
                .map_err(|why| fail!("cannot build --changed-since {}: {why}", path.display()))?;
            if since.insert(old.distro.clone(), old).is_some() {
                return Err(fail!(
                    "cannot build --changed-since {}: a second lock of the same distro",
                    path.display()
                ));
            }
        }
        let mut report = BuildReport::default();
        let mut locked = Vec::new();
        for name in selected {
            let lock = self.require_lock(&name, &format!("build {name}"))?;
            locked.push(LockedImages::of(&lock));
            let mut images = self.image_builds(&lock, opts)?;
            if !opts.changed_since.is_empty() {
                let Some(old) = since.get(&name) else {
                    continue;
                };
                let changed = old.diff(&lock).affected(&lock.image_archs());
                images.retain(|t| changed.contains_key(&t.image));
            }
            if images.is_empty() {
                continue;
            }
            let announce = !docker && !opts.scratch;
            let built = self.build_distro(&name, &lock, &images, opts, layouts, announce)?;
            report.tags.extend(built);
        }
        if report.tags.is_empty() && !opts.changed_since.is_empty() {
            self.observer().note("nothing to build: no image changed");
            return Ok(report);
        }
        if report.tags.is_empty() {
            return Err(nothing_matches(&locked, opts));
        }
        if docker {
            report.archives = docker_archives(&report.tags, &opts.archs[0], &opts.out)?;
            report.tags.clear();
        }
        Ok(report)
    }

    /// What the lock holds for the selected images and architectures.
    fn image_builds<'l>(&self, lock: &'l Lock, opts: &BuildOptions) -> Result<Vec<ImageBuild<'l>>> {
        let mut out = Vec::new();
        for (image, per_arch) in &lock.images {
            if !opts.images.is_empty() && !opts.images.contains(image) {
                continue;
            }
            if !self.config.images.contains_key(image) {
                return Err(fail!(
                    "cannot build {image}: the {} lock has it but packages.toml does not; run `distill lock`",
                    lock.distro
                ));
            }
            let settings = settings(&self.config.images, image)
                .map_err(|e| fail!("cannot build {image}: {e}"))?;
            let mut archs = BTreeMap::new();
            let mut debug = BTreeMap::new();
            let mut artifacts = BTreeMap::new();
            for (arch, names) in per_arch {
                if !opts.archs.is_empty() && !opts.archs.contains(arch) {
                    continue;
                }
                let pkgs = names
                    .iter()
                    .map(|n| locked(lock, n, arch))
                    .collect::<Result<Vec<_>>>()?;
                archs.insert(arch.clone(), pkgs);
                let added = lock.debug.get(image).and_then(|d| d.get(arch));
                let added = added
                    .into_iter()
                    .flatten()
                    .map(|n| locked(lock, n, arch))
                    .collect::<Result<Vec<_>>>()?;
                debug.insert(arch.clone(), added);
                let used: Vec<&LockedArtifact> = lock
                    .artifacts
                    .iter()
                    .filter(|a| &a.architecture == arch && a.images.contains(image))
                    .collect();
                artifacts.insert(arch.clone(), used);
            }
            if !archs.is_empty() {
                out.push(ImageBuild {
                    image: image.clone(),
                    settings,
                    archs,
                    debug,
                    artifacts,
                });
            }
        }
        Ok(out)
    }

    /// Builds `images` of one distro into layouts under `out`.
    fn build_distro(
        &self,
        name: &str,
        lock: &Lock,
        images: &[ImageBuild<'_>],
        opts: &BuildOptions,
        out: &Path,
        announce: bool,
    ) -> Result<Vec<Built>> {
        let distro = self.distro(name)?;
        let build = &self.config.build;
        let epoch = match opts.epoch {
            Some(e) => e,
            None => first_pin(lock, distro)?,
        };
        let layers = Layers {
            dir: self.fetcher.cache().root().join("layers"),
            epoch,
            compression: opts.compression,
            usrmerge: distro.merged_usr,
        };
        let debug = build.tags.values().any(|t| t.debug);
        // Every package any image needs, and per architecture the packages
        // the build takes files from without installing them: the CA
        // bundle's source, and busybox for debug tags.
        // Keyed by the .deb itself: an `all` package can be two .debs, one
        // per set of architectures.
        let mut needed: BTreeMap<(&str, &str, &str), &LockedPackage> = BTreeMap::new();
        let mut tools: BTreeMap<&str, Tools> = BTreeMap::new();
        let locales = images.iter().any(|t| !t.settings.locales.is_empty());
        for t in images {
            for (arch, pkgs) in &t.archs {
                let added = if debug { &t.debug[arch][..] } else { &[] };
                for p in pkgs.iter().chain(added) {
                    needed.insert((&p.name, &p.architecture, p.sha256.as_str()), p);
                }
                if !tools.contains_key(arch.as_str()) {
                    let tool = |n: &Option<String>| n.as_deref().map(|n| locked(lock, n, arch));
                    let busybox = if debug { tool(&build.busybox) } else { None };
                    let locales = if locales { tool(&build.locales) } else { None };
                    tools.insert(
                        arch,
                        Tools {
                            ca: tool(&build.ca_certificates).transpose()?,
                            busybox: busybox.transpose()?,
                            locales: locales.transpose()?,
                        },
                    );
                }
            }
        }
        let tool_debs = tools
            .values()
            .flat_map(|t| t.ca.into_iter().chain(t.busybox).chain(t.locales));
        let uses: BTreeMap<(&str, &str), &LockedArtifact> = images
            .iter()
            .flat_map(|t| t.artifacts.values().flatten())
            .map(|a| ((a.name.as_str(), a.architecture.as_str()), *a))
            .collect();
        let (debs, tarballs) = self.block_on(futures_util::future::try_join(
            fetch_debs(
                &self.fetcher,
                distro,
                lock,
                needed.values().copied().chain(tool_debs),
            ),
            fetch_artifacts(&self.fetcher, uses.values().copied()),
        ))?;

        // One queue for every layer to make, the biggest first: a JDK
        // started last would leave the other cores idle at the end. The
        // layers the build makes of its tools (the skeleton with the CA
        // bundle, busybox) are in it too.
        enum Work<'l> {
            Artifact(&'l LockedArtifact),
            Package(&'l LockedPackage),
            Skeleton(&'l str, Option<&'l LockedPackage>),
            Busybox(&'l str, &'l LockedPackage),
        }
        let work: Vec<Work> = (uses.values().map(|a| Work::Artifact(a)))
            .chain(needed.values().map(|p| Work::Package(p)))
            .chain(tools.iter().map(|(arch, t)| Work::Skeleton(arch, t.ca)))
            .chain(
                tools
                    .iter()
                    .filter_map(|(arch, t)| t.busybox.map(|p| Work::Busybox(arch, p))),
            )
            .collect();
        let steps = self
            .observer()
            .steps(work.len() as u64, &format!("{name} layers"));
        let size = |w: &Work| match w {
            Work::Artifact(a) => a.size,
            Work::Package(p) | Work::Busybox(_, p) | Work::Skeleton(_, Some(p)) => p.size,
            Work::Skeleton(_, None) => 0,
        };
        let done = largest_first(&work, size, |w| {
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
                    recipes::skeleton(&layers, build, distro, ca)?
                }
                Work::Busybox(_, p) => recipes::busybox(&layers, p, &debs[&p.sha256])?,
            };
            steps.advance(1);
            Ok(made)
        })?;
        let mut from_artifacts: BTreeMap<&str, Made> = BTreeMap::new();
        let mut made: BTreeMap<&str, Made> = BTreeMap::new();
        let mut skeletons: BTreeMap<&str, Made> = BTreeMap::new();
        let mut busybox: BTreeMap<&str, Made> = BTreeMap::new();
        for (w, layer) in work.iter().zip(done) {
            match w {
                Work::Artifact(a) => from_artifacts.insert(a.sha256.as_str(), layer),
                Work::Package(p) => made.insert(p.sha256.as_str(), layer),
                Work::Skeleton(arch, _) => skeletons.insert(arch, layer),
                Work::Busybox(arch, _) => busybox.insert(arch, layer),
            };
        }
        drop(steps);

        let assembly = Assembly {
            build,
            artifacts: &self.config.artifacts,
            distro: name,
            version_id: &distro.version_id,
            epoch,
            checked: Default::default(),
        };
        let mut built = Vec::new();
        for t in images {
            let dest = out.join(format!("{}-{name}", t.image));
            // The image's generated layers per architecture, shared by the
            // tags: symlinks, locales, the Java trust store, ld.so.cache.
            let mut extras: BTreeMap<&str, Vec<Made>> = BTreeMap::new();
            for (arch, pkgs) in &t.archs {
                let mut own = Vec::new();
                own.extend(recipes::symlinks(&layers, &t.settings.symlinks, arch)?);
                if !t.settings.locales.is_empty() {
                    let p = tools[arch.as_str()].locales.ok_or_else(|| {
                        fail!(
                            "cannot build {}: it wants locales but [build] names no locales package",
                            t.image
                        )
                    })?;
                    own.push(recipes::locales(
                        &layers,
                        &t.settings.locales,
                        p,
                        &debs[&p.sha256],
                    )?);
                }
                if let Some(spec) = &t.settings.java_keystore {
                    let p = tools[arch.as_str()].ca.ok_or_else(|| {
                        fail!(
                            "cannot build {}: its java_keystore needs [build] ca-certificates",
                            t.image
                        )
                    })?;
                    own.push(recipes::java_keystore(&layers, spec, p, &debs[&p.sha256])?);
                }
                if t.settings.ld_so_cache {
                    let below: Vec<&Made> = pkgs.iter().map(|p| &made[p.sha256.as_str()]).collect();
                    own.push(recipes::ld_cache(&layers, arch, &below)?);
                }
                extras.insert(arch, own);
            }
            // The same on every manifest and index of the image.
            let annotations = assembly.annotations(t)?;
            let mut layout = Layout::create(&dest)?;
            for (tag, tag_spec) in &build.tags {
                let mut manifests = Vec::new();
                for (arch, pkgs) in &t.archs {
                    let arch = arch.as_str();
                    // The debug tags' own packages go above the image's.
                    let mut pkgs: Vec<&LockedPackage> = pkgs.clone();
                    if tag_spec.debug {
                        pkgs.extend(&t.debug[arch]);
                    }
                    let mut stack: Vec<&Made> =
                        pkgs.iter().map(|p| &made[p.sha256.as_str()]).collect();
                    stack.push(&skeletons[arch]);
                    stack.extend(&extras[arch]);
                    if tag_spec.debug {
                        stack.push(busybox.get(arch).ok_or_else(|| {
                            fail!("cannot build tag {tag}: no busybox package configured")
                        })?);
                    }
                    // On top, as distroless puts Node on its cc images.
                    let own = &t.artifacts[arch];
                    stack.extend(own.iter().map(|a| &from_artifacts[a.sha256.as_str()]));
                    let desc =
                        assembly.image(&mut layout, t, arch, tag_spec, &stack, &annotations)?;
                    // The SBOM: the image's packages and the ones the build
                    // took files from (CA bundle, busybox).
                    let mut listed: Vec<&LockedPackage> = pkgs.clone();
                    listed.extend(tools[arch].ca);
                    if tag_spec.debug {
                        listed.extend(tools[arch].busybox);
                    }
                    if !t.settings.locales.is_empty() {
                        listed.extend(tools[arch].locales);
                    }
                    assembly.sbom(&mut layout, t, tag, arch, &desc, &listed)?;
                    let platform = desc.platform.clone().expect("image descriptors have one");
                    layout.tag(&format!("{tag}-{}", platform.architecture), desc.clone());
                    manifests.push(desc);
                }
                let index = distill_image::index(&manifests, &annotations);
                let desc = layout.put(distill_image::INDEX, &index)?;
                built.push(Built {
                    image: t.image.clone(),
                    distro: name.to_owned(),
                    tag: tag.clone(),
                    digest: desc.digest.clone(),
                    path: dest.clone(),
                });
                layout.tag(tag, desc);
            }
            layout.commit()?;
            if announce {
                self.observer().note(&format!("wrote {}", dest.display()));
            }
        }
        Ok(built)
    }
}

/// The packages the build takes files from, for one architecture.
struct Tools<'l> {
    ca: Option<&'l LockedPackage>,
    busybox: Option<&'l LockedPackage>,
    locales: Option<&'l LockedPackage>,
}

fn locked<'l>(lock: &'l Lock, name: &str, arch: &str) -> Result<&'l LockedPackage> {
    lock.package(name, arch).ok_or_else(|| {
        fail!(
            "cannot build: the {} lock names {name} for {arch} but has no entry for it; run `distill lock`",
            lock.distro
        )
    })
}

/// The pin of the distro's first archive. Package files are older than the
/// snapshot they were captured in, so clamping mtimes to it leaves their
/// times as they are, and a package's layer does not change when only a
/// pin moves (a security bump does not move the main archive's pin).
fn first_pin(lock: &Lock, distro: &distill_archive::DistroSpec) -> Result<u64> {
    let first = distro
        .archives
        .first()
        .ok_or_else(|| fail!("cannot build {}: no archives", lock.distro))?;
    let pin = lock.archives.get(&first.name).ok_or_else(|| {
        fail!(
            "cannot build: the {} lock has no pin for {}; run `distill lock`",
            lock.distro,
            first.name
        )
    })?;
    Ok(pin.unix().max(0) as u64)
}

/// Converts the scratch layouts into `<out>/<image>-<distro>-<arch>.tar`.
fn docker_archives(
    built: &[Built],
    arch: &str,
    out: &Path,
) -> Result<Vec<(String, String, String, PathBuf)>> {
    let oci_arch = platform_of(arch)?.architecture;
    let mut done = BTreeSet::new();
    let mut written = Vec::new();
    for b in built {
        if !done.insert(&b.path) {
            continue;
        }
        let repo = format!("{}-{}", b.image, b.distro);
        let dest = out.join(format!("{repo}-{arch}.tar"));
        distill_image::docker_archive(&b.path, &oci_arch, &repo, &dest)?;
        written.push((b.image.clone(), b.distro.clone(), arch.to_owned(), dest));
    }
    Ok(written)
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

/// What one lock holds, for an error that says what does exist.
struct LockedImages {
    distro: String,
    /// Image → its locked architectures.
    images: BTreeMap<String, Vec<String>>,
}

impl LockedImages {
    fn of(lock: &Lock) -> LockedImages {
        LockedImages {
            distro: lock.distro.clone(),
            images: lock
                .images
                .iter()
                .map(|(i, a)| (i.clone(), a.keys().cloned().collect()))
                .collect(),
        }
    }
}

/// Why a selection built nothing: the first of `--image` and `--arch`
/// that no selected lock has, with what the locks hold instead.
fn nothing_matches(locks: &[LockedImages], opts: &BuildOptions) -> Error {
    let distros = locks
        .iter()
        .map(|l| l.distro.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let all = |f: &dyn Fn(&LockedImages) -> Vec<String>| -> Vec<String> {
        let set: BTreeSet<String> = locks.iter().flat_map(f).collect();
        set.into_iter().collect()
    };
    let images = all(&|l| l.images.keys().cloned().collect());
    if let Some(i) = opts.images.iter().find(|i| !images.contains(i)) {
        return fail!(
            "cannot build --image {i}: the {} of {distros} {} no such image (only {})",
            if locks.len() == 1 { "lock" } else { "locks" },
            if locks.len() == 1 { "has" } else { "have" },
            images.join(", ")
        );
    }
    let wanted = |i: &String| opts.images.is_empty() || opts.images.contains(i);
    let archs = all(&|l| {
        l.images
            .iter()
            .filter(|(i, _)| wanted(i))
            .flat_map(|(_, a)| a.clone())
            .collect()
    });
    match opts.archs.iter().find(|a| !archs.contains(a)) {
        Some(a) => fail!(
            "cannot build --arch {a}: {} of {distros} {} locked for {} only",
            if opts.images.is_empty() {
                "the images".to_owned()
            } else {
                opts.images.join(", ")
            },
            if opts.images.len() == 1 { "is" } else { "are" },
            archs.join(", ")
        ),
        None => fail!("cannot build: no locked image matches the selection"),
    }
}
