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
mod scripts;

pub use self::scripts::{PackageScripts, ScriptAction, Status};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use distill_image::platform_of;
use distill_layer::Compression;
use distill_lock::{Lock, LockedArtifact, LockedPackage};

use self::assemble::Assembly;
use self::layers::{Layers, MadeLayers, fetch_artifacts, fetch_debs};
use crate::config::images::{ImageSettings, settings};
use crate::config::spec::BuildSpec;
use crate::error::{Context, Error, Result, fail};
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

impl<'l> ImageBuild<'l> {
    /// The packages of a tag's image for `arch`: the image's, then (on a
    /// debug tag) what the debug tags add above them; each with whether it
    /// is a debug tags' package.
    fn packages(&self, arch: &str, debug: bool) -> impl Iterator<Item = (&'l LockedPackage, bool)> {
        let added = if debug { &self.debug[arch][..] } else { &[] };
        (self.archs[arch].iter().map(|p| (*p, false))).chain(added.iter().map(|p| (*p, true)))
    }
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

    /// Builds `images` of one distro into layouts under `out`, in three
    /// steps: [`plan`] what the images need, make every layer once
    /// ([`Project::make_layers`], fetching the .debs and tarballs first),
    /// and assemble each image's layout from them
    /// ([`Assembly::layout`]).
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
        let (layers, plan, inputs) = self.prepare(name, lock, images, opts, epoch)?;
        let made = self.make_layers(name, lock, &layers, &plan, &inputs)?;
        let assembly = Assembly {
            build,
            artifacts: &self.config.artifacts,
            distro: name,
            version_id: &distro.version_id,
            epoch,
            checked: Default::default(),
            observer: self.observer(),
        };
        let mut built = Vec::new();
        for t in images {
            let dest = out.join(format!("{}-{name}", t.image));
            let parts = Parts {
                layers: &layers,
                plan: &plan,
                inputs: &inputs,
                made: &made,
            };
            built.extend(assembly.layout(t, &parts, &dest)?);
            if announce {
                self.observer().note(&format!("wrote {}", dest.display()));
            }
        }
        Ok(built)
    }
}

/// What one distro's build needs, worked out from its images before
/// anything is fetched.
impl Project {
    /// What every build of `images` of distro `name` needs before its
    /// layers: where they are cached, the plan of packages and tools, and
    /// every input fetched by its locked hash.
    fn prepare<'a>(
        &self,
        name: &str,
        lock: &'a Lock,
        images: &'a [ImageBuild<'a>],
        opts: &BuildOptions,
        epoch: u64,
    ) -> Result<(Layers, Plan<'a>, Inputs)> {
        let distro = self.distro(name)?;
        let layers = Layers::new(
            self.fetcher.cache().root().join("layers"),
            epoch,
            opts.compression,
            distro.merged_usr,
        );
        let plan = plan(&self.config.build, lock, images)?;
        let (debs, tarballs) = self.block_on(futures_util::future::try_join(
            fetch_debs(&self.fetcher, distro, lock, plan.debs()),
            fetch_artifacts(&self.fetcher, plan.uses.values().copied()),
        ))?;
        Ok((layers, plan, Inputs { debs, tarballs }))
    }

    /// What the maintainer scripts of one image's packages (its debug
    /// tags' included) would do on one architecture (default: the first
    /// locked), and what the build does about each: `distill scripts`.
    pub fn scripts(&self, opts: &ScriptsOptions) -> Result<ScriptsReport> {
        let what = format!("list the scripts of {}", opts.image);
        let lock = self.require_lock(&opts.distro, &what)?;
        let build_opts = BuildOptions {
            images: vec![opts.image.clone()],
            distros: vec![opts.distro.clone()],
            archs: opts.arch.iter().cloned().collect(),
            ..BuildOptions::default()
        };
        let images = self.image_builds(&lock, &build_opts)?;
        let Some(t) = images.first() else {
            return Err(fail!(
                "cannot {what}: the {} lock has no {}{}",
                opts.distro,
                opts.image,
                opts.arch
                    .as_ref()
                    .map(|a| format!(" for {a}"))
                    .unwrap_or_default()
            ));
        };
        let arch = t
            .archs
            .keys()
            .next()
            .expect("image builds have an architecture")
            .clone();
        let epoch = first_pin(&lock, self.distro(&opts.distro)?)?;
        let (layers, plan, inputs) =
            self.prepare(&opts.distro, &lock, &images, &build_opts, epoch)?;
        let made = self.make_layers(&opts.distro, &lock, &layers, &plan, &inputs)?;
        let parts = Parts {
            layers: &layers,
            plan: &plan,
            inputs: &inputs,
            made: &made,
        };
        let review = assemble::review_of(t, &arch, true, &parts)?;
        Ok(ScriptsReport {
            image: opts.image.clone(),
            distro: opts.distro.clone(),
            arch,
            packages: review.packages,
        })
    }
}

/// What `distill scripts` lists.
#[derive(Debug, Clone)]
pub struct ScriptsOptions {
    pub image: String,
    pub distro: String,
    pub arch: Option<String>,
}

/// Per package of the image, what its scripts would do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScriptsReport {
    pub image: String,
    pub distro: String,
    pub arch: String,
    pub packages: Vec<PackageScripts>,
}

struct Plan<'a> {
    /// Every package any image needs, keyed by the .deb itself: an `all`
    /// package can be two .debs, one per set of architectures.
    needed: BTreeMap<(&'a str, &'a str, &'a str), &'a LockedPackage>,
    /// Per architecture, the packages the build takes files from without
    /// installing them: the CA bundle's source, busybox for debug tags,
    /// the locales.
    tools: BTreeMap<&'a str, Tools<'a>>,
    /// The upstream artifacts, by (name, architecture).
    uses: BTreeMap<(&'a str, &'a str), &'a LockedArtifact>,
}

impl<'a> Plan<'a> {
    /// Every .deb to fetch: the needed packages and the tools.
    fn debs(&self) -> impl Iterator<Item = &'a LockedPackage> + '_ {
        let tools = self
            .tools
            .values()
            .flat_map(|t| t.ca.into_iter().chain(t.busybox).chain(t.locales));
        self.needed.values().copied().chain(tools)
    }
}

/// What images need of `lock`, with the tools `build` names.
fn plan<'a>(build: &BuildSpec, lock: &'a Lock, images: &'a [ImageBuild<'a>]) -> Result<Plan<'a>> {
    let debug = build.tags.values().any(|t| t.debug);
    let locales = images.iter().any(|t| !t.settings.locales.is_empty());
    let mut needed = BTreeMap::new();
    let mut tools = BTreeMap::new();
    for t in images {
        for (arch, pkgs) in &t.archs {
            let added = if debug { &t.debug[arch][..] } else { &[] };
            for p in pkgs.iter().chain(added) {
                needed.insert(
                    (p.name.as_str(), p.architecture.as_str(), p.sha256.as_str()),
                    *p,
                );
            }
            if !tools.contains_key(arch.as_str()) {
                let tool = |n: &Option<String>| n.as_deref().map(|n| locked(lock, n, arch));
                let busybox = if debug { tool(&build.busybox) } else { None };
                let locales = if locales { tool(&build.locales) } else { None };
                tools.insert(
                    arch.as_str(),
                    Tools {
                        ca: tool(&build.ca_certificates).transpose()?,
                        busybox: busybox.transpose()?,
                        locales: locales.transpose()?,
                    },
                );
            }
        }
    }
    let uses = images
        .iter()
        .flat_map(|t| t.artifacts.values().flatten())
        .map(|a| ((a.name.as_str(), a.architecture.as_str()), *a))
        .collect();
    Ok(Plan {
        needed,
        tools,
        uses,
    })
}

/// The fetched files a build reads: .debs and upstream tarballs, by
/// sha256.
struct Inputs {
    debs: BTreeMap<distill_debian::Sha256, PathBuf>,
    tarballs: BTreeMap<distill_debian::Sha256, PathBuf>,
}

/// Everything an image's layout is assembled from.
struct Parts<'p, 'a> {
    layers: &'p Layers,
    plan: &'p Plan<'a>,
    inputs: &'p Inputs,
    made: &'p MadeLayers<'a>,
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
