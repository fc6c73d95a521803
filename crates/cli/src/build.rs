//! `distill build`: the images from the lock alone (no index is fetched,
//! nothing is resolved). Every .deb is fetched by its locked hash, turned
//! into a layer once (cached under a key of the deb's hash and the layer
//! options), and the layers are assembled into one OCI layout per image
//! and distro, with an index per tag over the architectures.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use distill_archive::DistroSpec;
use distill_image::{
    BuildSpec, ConfigDoc, Descriptor, History, ImageConfig, Layout, MANIFEST, RootFs,
    SPDX_MEDIA_TYPE, SbomPackage, TagSpec, manifest, platform_of, rfc3339, spdx,
};
use distill_layer::{
    Compression, DebOptions, Generated, Layer, Node, Owner, STATUS_DIR, Tree, arch_info,
    busybox_applets, ca_bundle, extract_files, layer_from_deb, ld_so_cache, status_files,
};
use distill_resolve::{Lock, LockedPackage, Runtime};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::Global;
use crate::context::{Context, Failure, Result, emit};
use crate::lock::{images, read_lock_file, require_lock};

#[derive(clap::Args)]
pub struct Args {
    /// Only these images (repeatable; default: every image in the lock).
    #[arg(long = "image")]
    images: Vec<String>,
    /// Only these distros (repeatable; default: every distro).
    #[arg(long = "distro")]
    distros: Vec<String>,
    /// Only these architectures (repeatable; default: all locked ones).
    #[arg(long = "arch")]
    archs: Vec<String>,
    /// Where the image layouts go: <DIR>/<image>-<distro>/.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Layer compression.
    #[arg(long, value_enum, default_value = "gzip")]
    compression: Comp,
    /// `oci`: an image layout per image; `docker-archive`: a tar that
    /// `docker load` reads, <DIR>/<image>-<distro>-<arch>.tar, for one
    /// --image and one --arch (all tags).
    #[arg(long, value_enum, default_value = "oci")]
    format: Format,
    /// One JSON object per line: image, distro, tag, digest, path.
    #[arg(long)]
    json: bool,
    /// Build only the images whose packages differ from this older lock
    /// (repeatable, one per distro; distros without one are skipped).
    /// The others keep their layouts, and their digests.
    #[arg(long = "changed-since", value_name = "OLD_LOCK")]
    changed_since: Vec<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Oci,
    DockerArchive,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Comp {
    Gzip,
    Zstd,
}

/// The `[build]` section (empty when packages.toml has none).
pub fn spec(ctx: &Context) -> Result<BuildSpec> {
    toml::Value::Table(ctx.config.build.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            Failure(format!(
                "cannot use {}: [build]: {}",
                ctx.config_path.display(),
                e.message()
            ))
        })
}

/// Bump when the bytes a layer is made of change for the same inputs, so
/// cached layers of older distills are not reused.
const LAYER_FORMAT: &str = "distill-layer 2";

/// One image of one distro being built.
struct Target<'l> {
    image: String,
    runtime: Runtime,
    /// Architecture → the locked packages, sorted by name.
    archs: BTreeMap<String, Vec<&'l LockedPackage>>,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let ctx = Context::new(global)?;
    let specs = images(&ctx)?;
    let build = spec(&ctx)?;
    if build.tags.is_empty() {
        return Err(Failure(format!(
            "cannot build: {} has no [build.tags]",
            ctx.config_path.display()
        )));
    }
    for i in &args.images {
        if !specs.contains_key(i) {
            return Err(Failure(format!(
                "cannot build image {i}: not in packages.toml"
            )));
        }
    }
    let distros: Vec<String> = if args.distros.is_empty() {
        ctx.config.distros.keys().cloned().collect()
    } else {
        args.distros.clone()
    };
    let docker = args.format == Format::DockerArchive;
    if docker && (args.images.len() != 1 || args.archs.len() != 1) {
        return Err(Failure(
            "cannot build a docker archive: name one --image and one --arch".into(),
        ));
    }
    // A docker archive is made from a layout built in a scratch directory.
    let scratch = match docker {
        true => Some(
            std::fs::create_dir_all(&args.out)
                .and_then(|_| {
                    tempfile::Builder::new()
                        .prefix(".distill-build")
                        .tempdir_in(&args.out)
                })
                .map_err(|e| Failure(format!("cannot write {}: {e}", args.out.display())))?,
        ),
        false => None,
    };
    let layouts = scratch.as_ref().map_or(args.out.as_path(), |s| s.path());
    let compression = match args.compression {
        Comp::Gzip => Compression::Gzip,
        Comp::Zstd => Compression::Zstd,
    };
    let mut since: BTreeMap<String, Lock> = BTreeMap::new();
    for path in &args.changed_since {
        let old = read_lock_file(path)?;
        since.insert(old.distro.clone(), old);
    }
    let mut built = Vec::new();
    for name in &distros {
        let distro = ctx.distro(name)?;
        let lock = require_lock(&ctx, name, &format!("build {name}"))?;
        let mut targets = targets(&lock, &specs, &args)?;
        if !args.changed_since.is_empty() {
            let Some(old) = since.get(name) else {
                continue;
            };
            let changed = old.diff(&lock).affected(&lock.image_archs());
            targets.retain(|t| changed.contains_key(&t.image));
        }
        if targets.is_empty() {
            continue;
        }
        let b = Builder {
            ctx: &ctx,
            build: &build,
            distro_name: name,
            distro,
            lock: &lock,
            epoch: epoch(&lock, distro)?,
            compression,
            announce: !docker,
        };
        built.extend(b.run(&targets, layouts)?);
    }
    if built.is_empty() && !args.changed_since.is_empty() {
        ctx.bars.note("nothing to build: no image changed");
        return Ok(0);
    }
    if built.is_empty() {
        return Err(Failure(
            "cannot build: no locked image matches the selection".into(),
        ));
    }
    if docker {
        return docker_archives(&built, &args);
    }
    let mut text = String::new();
    for b in &built {
        if args.json {
            text += &serde_json::json!({
                "image": b.image, "distro": b.distro, "tag": b.tag,
                "digest": b.digest, "path": b.path.display().to_string(),
            })
            .to_string();
        } else {
            text += &format!("{}-{}:{} {}", b.image, b.distro, b.tag, b.digest);
        }
        text.push('\n');
    }
    emit(&text)?;
    Ok(0)
}

/// Converts the scratch layouts into `<out>/<image>-<distro>-<arch>.tar`.
fn docker_archives(built: &[Built], args: &Args) -> Result<u8> {
    let arch = &args.archs[0];
    let oci_arch = platform_of(arch)
        .map_err(|e| Failure(e.to_string()))?
        .architecture;
    let mut text = String::new();
    let mut done = std::collections::BTreeSet::new();
    for b in built {
        if !done.insert(&b.path) {
            continue;
        }
        let repo = format!("{}-{}", b.image, b.distro);
        let dest = args.out.join(format!("{repo}-{arch}.tar"));
        distill_image::docker_archive(&b.path, &oci_arch, &repo, &dest)
            .map_err(|e| Failure(e.to_string()))?;
        text += &if args.json {
            serde_json::json!({"image": b.image, "distro": b.distro, "arch": arch, "path": dest.display().to_string()}).to_string()
        } else {
            dest.display().to_string()
        };
        text.push('\n');
    }
    emit(&text)?;
    Ok(0)
}

/// What the lock holds for the selected images and architectures.
fn targets<'l>(
    lock: &'l Lock,
    specs: &BTreeMap<String, distill_resolve::ImageSpec>,
    args: &Args,
) -> Result<Vec<Target<'l>>> {
    let mut out = Vec::new();
    for (image, per_arch) in &lock.images {
        if !args.images.is_empty() && !args.images.contains(image) {
            continue;
        }
        if !specs.contains_key(image) {
            return Err(Failure(format!(
                "cannot build {image}: the {} lock has it but packages.toml does not; run `distill lock`",
                lock.distro
            )));
        }
        let runtime = distill_resolve::runtime(specs, image)
            .map_err(|e| Failure(format!("cannot build {image}: {e}")))?;
        let mut archs = BTreeMap::new();
        for (arch, names) in per_arch {
            if !args.archs.is_empty() && !args.archs.contains(arch) {
                continue;
            }
            let pkgs = names
                .iter()
                .map(|n| locked(lock, n, arch))
                .collect::<Result<Vec<_>>>()?;
            archs.insert(arch.clone(), pkgs);
        }
        if !archs.is_empty() {
            out.push(Target {
                image: image.clone(),
                runtime,
                archs,
            });
        }
    }
    Ok(out)
}

fn locked<'l>(lock: &'l Lock, name: &str, arch: &str) -> Result<&'l LockedPackage> {
    lock.package(name, arch).ok_or_else(|| {
        Failure(format!(
            "cannot build: the {} lock names {name} for {arch} but has no entry for it; run `distill lock`",
            lock.distro
        ))
    })
}

/// Every mtime is clamped to this: `SOURCE_DATE_EPOCH`, else the pin of
/// the distro's first archive. Package files are older than the snapshot
/// they were captured in, so clamping leaves their times as they are and
/// a package's layer does not change when only the pin moves.
fn epoch(lock: &Lock, distro: &DistroSpec) -> Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v.trim().parse().map_err(|_| {
            Failure(format!(
                "cannot use SOURCE_DATE_EPOCH={v:?}: not a number of seconds"
            ))
        });
    }
    let first = distro
        .archives
        .first()
        .ok_or_else(|| Failure(format!("cannot build {}: no archives", lock.distro)))?;
    let pin = lock.archives.get(&first.name).ok_or_else(|| {
        Failure(format!(
            "cannot build: the {} lock has no pin for {}; run `distill lock`",
            lock.distro, first.name
        ))
    })?;
    let t = distill_debian::SnapshotTime::parse(pin)
        .map_err(|e| Failure(format!("cannot use the lock's pin {pin}: {e}")))?;
    Ok(t.unix().max(0) as u64)
}

struct Built {
    image: String,
    distro: String,
    tag: String,
    digest: String,
    path: PathBuf,
}

struct Builder<'a> {
    ctx: &'a Context,
    build: &'a BuildSpec,
    distro_name: &'a str,
    distro: &'a DistroSpec,
    lock: &'a Lock,
    epoch: u64,
    compression: Compression,
    /// Say where each layout went (not for scratch layouts).
    announce: bool,
}

/// The packages the build takes files from, for one architecture.
struct Tools<'l> {
    ca: Option<&'l LockedPackage>,
    busybox: Option<&'l LockedPackage>,
}

/// A layer and where its blob is.
struct Made {
    label: String,
    layer: Layer,
    blob: PathBuf,
    /// Generated layers may replace package files (os-release).
    generated: bool,
}

impl Builder<'_> {
    fn layer_dir(&self) -> PathBuf {
        self.ctx.fetcher.cache().root().join("layers")
    }

    fn run(&self, targets: &[Target<'_>], out: &Path) -> Result<Vec<Built>> {
        let debug = self.build.tags.values().any(|t| t.debug);
        // Every package any target needs, plus the build's own packages.
        let mut needed: BTreeMap<(String, String), &LockedPackage> = BTreeMap::new();
        let mut archs: Vec<&String> = Vec::new();
        for t in targets {
            for (arch, pkgs) in &t.archs {
                archs.push(arch);
                for p in pkgs {
                    needed.insert((p.name.clone(), p.architecture.clone()), p);
                }
            }
        }
        archs.sort();
        archs.dedup();
        // Per architecture, the packages the build takes files from (not
        // installed as layers): the CA bundle's source, and busybox.
        let mut tools: BTreeMap<&String, Tools> = BTreeMap::new();
        for arch in &archs {
            let tool = |name: &Option<String>| -> Result<Option<&LockedPackage>> {
                name.as_deref()
                    .map(|n| locked(self.lock, n, arch))
                    .transpose()
            };
            let busybox = if debug {
                tool(&self.build.busybox)?
            } else {
                None
            };
            tools.insert(
                arch,
                Tools {
                    ca: tool(&self.build.ca_certificates)?,
                    busybox,
                },
            );
        }
        let tool_debs = tools
            .values()
            .flat_map(|t| t.ca.into_iter().chain(t.busybox));
        let debs = self.fetch(needed.values().copied().chain(tool_debs))?;

        let steps = self
            .ctx
            .bars
            .steps(needed.len() as u64, &format!("{} layers", self.distro_name));
        let made: BTreeMap<String, Made> = needed
            .values()
            .collect::<Vec<_>>()
            .par_iter()
            .map(|p| {
                let layer = self.package_layer(p, &debs[&p.sha256])?;
                steps.inc();
                Ok((p.sha256.clone(), layer))
            })
            .collect::<Result<_>>()?;
        drop(steps);

        // The skeleton has the architecture's CA package in it (the same
        // layer for every architecture when, as in Debian, it is `all`).
        let mut skeletons: BTreeMap<&String, Made> = BTreeMap::new();
        let mut busybox: BTreeMap<&String, Made> = BTreeMap::new();
        for (arch, t) in &tools {
            skeletons.insert(arch, self.skeleton(t.ca, &debs)?);
            if let Some(p) = t.busybox {
                busybox.insert(arch, self.busybox_layer(p, &debs[&p.sha256])?);
            }
        }

        let mut built = Vec::new();
        for t in targets {
            let dest = out.join(format!("{}-{}", t.image, self.distro_name));
            let extras = self.image_layer(&t.runtime)?;
            // One ld.so.cache per architecture, shared by the tags.
            let mut ldcaches: BTreeMap<&String, Made> = BTreeMap::new();
            if t.runtime.ld_so_cache {
                for (arch, pkgs) in &t.archs {
                    let layers: Vec<&Made> = pkgs.iter().map(|p| &made[&p.sha256]).collect();
                    ldcaches.insert(arch, self.ldcache_layer(arch, &layers)?);
                }
            }
            let mut layout = Layout::create(&dest).map_err(|e| Failure(e.to_string()))?;
            for (tag, tag_spec) in &self.build.tags {
                let mut manifests = Vec::new();
                for (arch, pkgs) in &t.archs {
                    let mut layers: Vec<&Made> = pkgs.iter().map(|p| &made[&p.sha256]).collect();
                    layers.push(&skeletons[arch]);
                    layers.extend(&extras);
                    layers.extend(ldcaches.get(arch));
                    if tag_spec.debug {
                        layers.push(busybox.get(arch).ok_or_else(|| {
                            Failure(format!(
                                "cannot build tag {tag}: no busybox package configured"
                            ))
                        })?);
                    }
                    let desc = self.image(&mut layout, t, arch, tag_spec, &layers)?;
                    // The SBOM: the image's packages and the ones the build
                    // took files from (CA bundle, busybox).
                    let mut listed: Vec<&LockedPackage> = pkgs.clone();
                    listed.extend(tools[arch].ca);
                    if tag_spec.debug {
                        listed.extend(tools[arch].busybox);
                    }
                    self.sbom(&mut layout, t, tag, arch, &desc, &listed)?;
                    let platform = desc.platform.clone().expect("image descriptors have one");
                    layout.tag(&format!("{tag}-{}", platform.architecture), desc.clone());
                    manifests.push(desc);
                }
                let annotations = self.annotations(t)?;
                let index = distill_image::index(&manifests, &annotations);
                let desc = layout
                    .put(distill_image::INDEX, &index)
                    .map_err(|e| Failure(e.to_string()))?;
                built.push(Built {
                    image: t.image.clone(),
                    distro: self.distro_name.to_owned(),
                    tag: tag.clone(),
                    digest: desc.digest.clone(),
                    path: dest.clone(),
                });
                layout.tag(tag, desc);
            }
            layout.commit().map_err(|e| Failure(e.to_string()))?;
            if self.announce {
                self.ctx.bars.note(&format!("wrote {}", dest.display()));
            }
        }
        Ok(built)
    }

    /// Fetches every .deb by its locked hash (snapshot first, then the
    /// mirrors); returns sha256 → cached file.
    fn fetch<'p>(
        &self,
        pkgs: impl Iterator<Item = &'p LockedPackage>,
    ) -> Result<BTreeMap<String, PathBuf>> {
        let mut jobs = Vec::new();
        for p in pkgs {
            let archive = self
                .distro
                .archives
                .iter()
                .find(|a| a.name == p.archive)
                .ok_or_else(|| {
                    Failure(format!(
                        "cannot fetch {}: the lock names archive {}, which packages.toml lacks",
                        p.name, p.archive
                    ))
                })?;
            let pin = self
                .lock
                .archives
                .get(&p.archive)
                .cloned()
                .unwrap_or_default();
            let urls: Vec<String> = archive
                .bases(pin)
                .into_iter()
                .map(|b| format!("{b}/{}", p.filename))
                .collect();
            let pin = distill_fetch::Pinned {
                sha256: p.sha256.clone(),
                size: Some(p.size),
            };
            jobs.push((p, urls, pin));
        }
        let fetcher = self.ctx.fetcher.clone();
        let got = crate::load::runtime()?.block_on(futures_util::future::try_join_all(
            jobs.iter().map(|(p, urls, pin)| {
                let fetcher = fetcher.clone();
                async move {
                    fetcher
                        .fetch_pinned(urls, pin)
                        .await
                        .map(|path| (p.sha256.clone(), path))
                        .map_err(|e| Failure(format!("cannot fetch {} {}: {e}", p.name, p.version)))
                }
            }),
        ))?;
        Ok(got.into_iter().collect())
    }

    /// A package's layer, from the layer cache or made now.
    fn package_layer(&self, p: &LockedPackage, deb: &Path) -> Result<Made> {
        let opts = DebOptions {
            epoch: self.epoch,
            usrmerge: self.distro.merged_usr,
            compression: self.compression,
        };
        let key = layer_key(
            &format!("deb {} usrmerge={}", p.sha256, opts.usrmerge),
            self,
        );
        let label = format!("{} {}", p.name, p.version);
        let layer = self.cached(&key, || {
            check_hash(deb, &p.sha256, &label)?;
            let made = layer_from_deb(deb, &label, &opts, &self.blob_dir())
                .map_err(|e| Failure(e.to_string()))?;
            Ok(made.layer)
        })?;
        Ok(self.made(label, layer, false))
    }

    fn blob_dir(&self) -> PathBuf {
        self.layer_dir().join("blobs")
    }

    fn made(&self, label: String, layer: Layer, generated: bool) -> Made {
        let blob = self.blob_dir().join(layer.hex());
        Made {
            label,
            layer,
            blob,
            generated,
        }
    }

    /// A generated layer: the one cached for `what` (everything its
    /// content depends on), else the one `make` puts together, written now.
    fn generated(
        &self,
        what: &str,
        label: String,
        make: impl FnOnce() -> Result<Generated>,
    ) -> Result<Made> {
        let layer = self.cached(&layer_key(what, self), || {
            make()?
                .write(&self.blob_dir(), self.epoch, self.compression)
                .map_err(|e| Failure(e.to_string()))
        })?;
        Ok(self.made(label, layer, true))
    }

    /// The layer recorded under `key`, if its record and blob are both
    /// there; else `make` it and record it (atomically).
    fn cached(&self, key: &str, make: impl FnOnce() -> Result<Layer>) -> Result<Layer> {
        let record = self.layer_dir().join(format!("{key}.json"));
        if let Ok(bytes) = std::fs::read(&record)
            && let Ok(layer) = serde_json::from_slice::<Layer>(&bytes)
            && self.blob_dir().join(layer.hex()).is_file()
        {
            return Ok(layer);
        }
        let layer = make()?;
        let json = serde_json::to_string(&layer).expect("layer record serialises");
        crate::lock::write_atomic(&record, &json)?;
        Ok(layer)
    }

    /// The skeleton every image of the distro shares: directories, the
    /// configured files, the dpkg status directory and the CA bundle.
    fn skeleton(
        &self,
        ca: Option<&LockedPackage>,
        debs: &BTreeMap<String, PathBuf>,
    ) -> Result<Made> {
        let gen_err = |e: distill_layer::LayerError| Failure(e.to_string());
        let mut g = Generated::new();
        for (path, d) in &self.build.dirs {
            g.add(
                path,
                Node::Dir {
                    mode: d.mode,
                    owner: owner(d.uid, d.gid),
                },
            )
            .map_err(gen_err)?;
        }
        g.add(
            STATUS_DIR,
            Node::Dir {
                mode: 0o755,
                owner: Owner::root(),
            },
        )
        .map_err(gen_err)?;
        for (path, f) in &self.build.files {
            let text = f.render(&self.distro.version_id, &self.distro.codename);
            g.file(path, f.mode, text).map_err(gen_err)?;
        }
        // The key names the CA package by hash, so a cached skeleton is
        // found without unpacking it.
        let what = format!("skeleton {g:?} {:?}", ca.map(|p| &p.sha256));
        self.generated(&what, "distroless skeleton".into(), || {
            if let Some(p) = ca {
                self.add_ca_bundle(&mut g, p, &debs[&p.sha256])?;
            }
            Ok(g)
        })
    }

    /// The CA bundle made from the ca-certificates package, its copyright
    /// and its dpkg status (the rest of the package is not installed).
    fn add_ca_bundle(&self, g: &mut Generated, p: &LockedPackage, deb: &Path) -> Result<()> {
        let gen_err = |e: distill_layer::LayerError| Failure(e.to_string());
        let label = format!("{} {}", p.name, p.version);
        check_hash(deb, &p.sha256, &label)?;
        let copyright = format!("usr/share/doc/{}/copyright", p.name);
        let (meta, files) = extract_files(deb, &label, |path| {
            path.starts_with("usr/share/ca-certificates/") || path == copyright
        })
        .map_err(gen_err)?;
        // 0555, as distroless ships the bundle and its copyright.
        g.file(
            "/etc/ssl/certs/ca-certificates.crt",
            0o555,
            ca_bundle(&files),
        )
        .map_err(gen_err)?;
        if let Some((_, text)) = files.iter().find(|(path, _)| *path == copyright) {
            g.file(&copyright, 0o555, text.clone()).map_err(gen_err)?;
        }
        let (status_name, status) = status_files(&meta, false).swap_remove(0);
        g.file(&format!("{STATUS_DIR}/{status_name}"), 0o644, status)
            .map_err(gen_err)
    }

    /// The image's own symlinks, if it has any.
    fn image_layer(&self, runtime: &Runtime) -> Result<Option<Made>> {
        if runtime.symlinks.is_empty() {
            return Ok(None);
        }
        let mut g = Generated::new();
        for (path, target) in &runtime.symlinks {
            g.add(path, Node::Symlink(target.clone()))
                .map_err(|e| Failure(e.to_string()))?;
        }
        let what = format!("image {g:?}");
        self.generated(&what, "image symlinks".into(), || Ok(g))
            .map(Some)
    }

    /// `/etc/ld.so.cache` for the libraries of the package layers, as
    /// ldconfig would write it from Debian's ld.so.conf.d: the multiarch
    /// directories first, then /lib and /usr/lib, a directory reached
    /// twice (merged /usr) scanned once.
    fn ldcache_layer(&self, arch: &str, layers: &[&Made]) -> Result<Made> {
        let (triplet, flags, big_endian) = arch_info(arch)
            .ok_or_else(|| Failure(format!("cannot write ld.so.cache for {arch}: unknown ABI")))?;
        let mut tree = Tree::new();
        for m in layers {
            tree.add(&m.label, &m.layer.entries, m.generated)
                .map_err(|e| Failure(e.to_string()))?;
        }
        // `lib/x` → `usr/lib/x` when `lib` is a symlink to `usr/lib`.
        let canonical = |dir: &str| -> String {
            let (top, rest) = dir.split_once('/').unwrap_or((dir, ""));
            let target = tree.entries.get(top).and_then(|(_, e)| e.target.as_deref());
            match target.map(|t| t.trim_start_matches('/')) {
                Some(t) if !t.is_empty() && rest.is_empty() => t.to_owned(),
                Some(t) if !t.is_empty() => format!("{t}/{rest}"),
                _ => dir.to_owned(),
            }
        };
        let mut seen = Vec::new();
        let mut entries = Vec::new();
        for dir in [
            format!("lib/{triplet}"),
            format!("usr/lib/{triplet}"),
            "lib".to_owned(),
            "usr/lib".to_owned(),
        ] {
            let real = canonical(&dir);
            if seen.contains(&real) {
                continue;
            }
            let prefix = format!("{real}/");
            for (path, (_, e)) in tree.entries.range(prefix.clone()..) {
                let Some(name) = path.strip_prefix(&prefix) else {
                    break;
                };
                let Some(soname) = &e.soname else { continue };
                if name.contains('/') || !tree.entries.contains_key(&format!("{prefix}{soname}")) {
                    continue;
                }
                entries.push((soname.clone(), format!("/{dir}/{soname}")));
            }
            seen.push(real);
        }
        let mut g = Generated::new();
        g.file(
            "/etc/ld.so.cache",
            0o644,
            ld_so_cache(&entries, flags, big_endian),
        )
        .map_err(|e| Failure(e.to_string()))?;
        let what = format!("ld.so.cache {g:?}");
        self.generated(&what, "ld.so.cache".into(), || Ok(g))
    }

    /// busybox at /busybox/busybox with a symlink per applet, and its
    /// dpkg status so scanners see which busybox it is.
    fn busybox_layer(&self, p: &LockedPackage, deb: &Path) -> Result<Made> {
        let label = format!("{} {}", p.name, p.version);
        self.generated(&format!("busybox {}", p.sha256), label.clone(), || {
            check_hash(deb, &p.sha256, &label)?;
            let gen_err = |e: distill_layer::LayerError| Failure(e.to_string());
            let (meta, files) = extract_files(deb, &label, |path| {
                path == "bin/busybox" || path == "usr/bin/busybox"
            })
            .map_err(gen_err)?;
            let (_, binary) = files
                .first()
                .ok_or_else(|| Failure(format!("cannot use {label}: it has no bin/busybox")))?;
            let applets =
                busybox_applets(binary).map_err(|e| Failure(format!("cannot use {label}: {e}")))?;
            let mut g = Generated::new();
            g.file("/busybox/busybox", 0o755, binary.clone())
                .map_err(gen_err)?;
            for a in applets.iter().filter(|a| a.as_str() != "busybox") {
                g.add(&format!("/busybox/{a}"), Node::Symlink("busybox".into()))
                    .map_err(gen_err)?;
            }
            let (status_name, status) = status_files(&meta, false).swap_remove(0);
            g.file(&format!("{STATUS_DIR}/{status_name}"), 0o644, status)
                .map_err(gen_err)?;
            Ok(g)
        })
    }

    /// Annotations with `{upstream:PKG}` filled in from the lock.
    fn annotations(&self, t: &Target<'_>) -> Result<BTreeMap<String, String>> {
        let mut out = self.build.annotations.clone();
        out.extend(t.runtime.annotations.clone());
        for v in out.values_mut() {
            while let Some(start) = v.find("{upstream:") {
                let end = v[start..]
                    .find('}')
                    .map(|e| start + e)
                    .ok_or_else(|| Failure(format!("cannot use annotation {v:?}: unclosed {{")))?;
                let pkg = &v[start + "{upstream:".len()..end];
                let version = t
                    .archs
                    .values()
                    .flatten()
                    .find(|p| p.name == pkg)
                    .map(|p| upstream(&p.version))
                    .ok_or_else(|| {
                        Failure(format!(
                            "cannot build {}: annotation names {pkg}, which the image does not contain",
                            t.image
                        ))
                    })?;
                v.replace_range(start..=end, &version);
            }
        }
        Ok(out)
    }

    /// The SPDX document of one image manifest, attached to it in the
    /// layout and written as `sbom/<tag>-<arch>.spdx.json` inside it.
    fn sbom(
        &self,
        layout: &mut Layout,
        t: &Target<'_>,
        tag: &str,
        arch: &str,
        manifest: &Descriptor,
        pkgs: &[&LockedPackage],
    ) -> Result<()> {
        let mut listed: Vec<SbomPackage> = pkgs
            .iter()
            .map(|p| SbomPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
                sha256: p.sha256.clone(),
            })
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        let name = format!("{}-{}:{tag}-{arch}", t.image, self.distro_name);
        let doc = spdx(
            &name,
            &self.distro.version_id,
            &rfc3339(self.epoch),
            &listed,
        );
        let write = |e: distill_image::ImageError| Failure(e.to_string());
        layout
            .attach(manifest, SPDX_MEDIA_TYPE, &doc)
            .map_err(write)?;
        layout
            .write_file(&format!("sbom/{tag}-{arch}.spdx.json"), &doc)
            .map_err(write)
    }

    /// One architecture's image for one tag; returns its manifest's
    /// descriptor (with the platform).
    fn image(
        &self,
        layout: &mut Layout,
        t: &Target<'_>,
        arch: &str,
        tag: &TagSpec,
        layers: &[&Made],
    ) -> Result<Descriptor> {
        let mut tree = Tree::new();
        for m in layers {
            tree.add(&m.label, &m.layer.entries, m.generated)
                .map_err(|e| Failure(format!("{e} ({} {arch})", t.image)))?;
        }
        let platform = platform_of(arch).map_err(|e| Failure(e.to_string()))?;
        let mut env: BTreeMap<String, String> = self.build.env.clone();
        env.extend(t.runtime.env.clone());
        let mut entrypoint = t.runtime.entrypoint.clone();
        if tag.debug {
            let path = env.entry("PATH".into()).or_default();
            path.push_str(":/busybox");
            entrypoint = vec!["/busybox/sh".into()];
        }
        let created = rfc3339(self.epoch);
        let config = ConfigDoc {
            created: created.clone(),
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
            config: ImageConfig {
                user: tag.user.clone(),
                env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                entrypoint,
                cmd: Vec::new(),
                working_dir: tag.workdir.clone(),
                labels: BTreeMap::new(),
            },
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: layers.iter().map(|m| m.layer.diff_id.clone()).collect(),
            },
            history: layers
                .iter()
                .map(|m| History {
                    created: created.clone(),
                    created_by: format!("distill: {}", m.label),
                    comment: None,
                })
                .collect(),
        };
        let write = |e: distill_image::ImageError| Failure(e.to_string());
        let config_desc = layout
            .put(distill_image::CONFIG, &config.to_bytes())
            .map_err(write)?;
        let mut layer_descs = Vec::new();
        for m in layers {
            layout.put_file(&m.blob, &m.layer.digest).map_err(write)?;
            layer_descs.push(Descriptor {
                media_type: m.layer.compression.media_type().to_owned(),
                digest: m.layer.digest.clone(),
                size: m.layer.size,
                platform: None,
                artifact_type: None,
                annotations: BTreeMap::new(),
            });
        }
        let annotations = self.annotations(t)?;
        let bytes = manifest(&config_desc, &layer_descs, &annotations);
        let mut desc = layout.put(MANIFEST, &bytes).map_err(write)?;
        desc.platform = Some(platform);
        Ok(desc)
    }
}

fn owner(uid: u64, gid: u64) -> Owner {
    let name = |id: u64| {
        if id == 0 {
            "root".to_owned()
        } else {
            String::new()
        }
    };
    Owner {
        uid,
        gid,
        user: name(uid),
        group: name(gid),
    }
}

/// A layer's cache key: what determines its content, and how it is
/// written (format version, epoch, compression).
fn layer_key(what: &str, b: &Builder<'_>) -> String {
    hex::encode(Sha256::digest(format!(
        "{LAYER_FORMAT}\n{what}\n{}\n{:?}\n",
        b.epoch, b.compression
    )))
}

/// `1:3.13.5-2+b1` → `3.13.5`.
fn upstream(version: &str) -> String {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    v.rsplit_once('-').map_or(v, |(u, _)| u).to_owned()
}

/// The cache's file is named by its hash and was checked when stored;
/// it is checked again here, right before its bytes go into an image.
fn check_hash(path: &Path, sha256: &str, label: &str) -> Result<()> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| Failure(format!("cannot read {label}: {}: {e}", path.display())))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Failure(format!("cannot read {label}: {e}")))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let got = hex::encode(h.finalize());
    if got != sha256 {
        return Err(Failure(format!(
            "cannot use {label}: {} has sha256 {got}, the lock says {sha256}",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_versions() {
        assert_eq!(upstream("3.13.5-2"), "3.13.5");
        assert_eq!(upstream("1:2.36-9+deb12u4"), "2.36");
        assert_eq!(upstream("2025b"), "2025b");
    }
}
