//! `distill lock`: resolve every image of every distro (or one) against
//! the pinned snapshots and write `snapshots/<distro>.lock` atomically.
//! Also the shared pieces `why` needs: lock paths, pins, image plans.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use distill_archive::{DistroSpec, Served};
use distill_debian::SnapshotTime;
use distill_resolve::{
    ImagePlan, ImageSpec, Lock, LockedPackage, LockedSuite, Resolution, Universe, parse_images,
    plan,
};

use crate::Global;
use crate::context::{Context, Failure, Result};
use crate::load::{Loaded, Pins, check_arch, load, parse_snapshot};

#[derive(clap::Args)]
pub struct Args {
    /// Only this distro (default: every distro in packages.toml).
    #[arg(long)]
    distro: Option<String>,
    /// Pin archives that the lock does not pin yet to this timestamp
    /// (default: now).
    #[arg(long)]
    snapshot: Option<String>,
    /// Lock only these architectures (repeatable; default: all of the
    /// distro's). The lock then covers just these.
    #[arg(long = "arch")]
    archs: Vec<String>,
}

pub fn lock_path(ctx: &Context, distro: &str) -> PathBuf {
    let base = ctx.config_path.parent().unwrap_or(Path::new(""));
    base.join("snapshots").join(format!("{distro}.lock"))
}

pub fn read_lock(path: &Path) -> Result<Option<Lock>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Lock::parse(&text)
            .map(Some)
            .map_err(|e| Failure(format!("cannot read {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure(format!("cannot read {}: {e}", path.display()))),
    }
}

/// The distro's lock, which `what` ("build debian12") cannot do without.
pub fn require_lock(ctx: &Context, distro: &str, what: &str) -> Result<Lock> {
    let path = lock_path(ctx, distro);
    read_lock(&path)?.ok_or_else(|| {
        Failure(format!(
            "cannot {what}: no lock at {}; run `distill lock` first",
            path.display()
        ))
    })
}

/// A lock file named on the command line.
pub fn read_lock_file(path: &Path) -> Result<Lock> {
    read_lock(path)?.ok_or_else(|| Failure(format!("cannot read {}: no such file", path.display())))
}

/// The lock's pins, or `fallback` for archives it does not pin.
pub fn pins_from(lock: Option<&Lock>, fallback: SnapshotTime) -> Result<Pins> {
    let mut pins = Pins::all(fallback);
    for (archive, ts) in lock.map(|l| &l.archives).into_iter().flatten() {
        let t = SnapshotTime::parse(ts)
            .map_err(|e| Failure(format!("cannot use the lock's pin for {archive}: {e}")))?;
        pins.by_archive.insert(archive.clone(), t);
    }
    Ok(pins)
}

pub fn images(ctx: &Context) -> Result<BTreeMap<String, ImageSpec>> {
    parse_images(&ctx.config.images)
        .map_err(|e| Failure(format!("cannot use {}: {e}", ctx.config_path.display())))
}

/// Every (image, plan) built for `distro`.
pub fn plans(
    ctx: &Context,
    images: &BTreeMap<String, ImageSpec>,
    distro_name: &str,
    distro: &DistroSpec,
) -> Result<Vec<(String, ImagePlan)>> {
    let mut out = Vec::new();
    for name in images.keys() {
        let p = plan(images, name, distro_name, &distro.architectures)
            .map_err(|e| Failure(format!("cannot use {}: {e}", ctx.config_path.display())))?;
        if let Some(p) = p {
            out.push((name.clone(), p));
        }
    }
    Ok(out)
}

pub fn resolve_image(
    universe: &Universe<'_>,
    image: &str,
    distro: &str,
    plan: &ImagePlan,
) -> Result<Resolution> {
    universe.resolve(&plan.roots, &plan.excludes).map_err(|e| {
        Failure(format!(
            "cannot lock image {image} for {distro} {}: {e}",
            universe.arch()
        ))
    })
}

fn served(s: &Served) -> String {
    match s {
        Served::Snapshot { capture } => format!("snapshot {capture}"),
        Served::Mirror { base } => format!("mirror {base}"),
    }
}

/// The lock entry of a candidate.
fn locked(pkg: &distill_resolve::Package<'_>, loaded: &Loaded) -> Result<LockedPackage> {
    let rel = &loaded.releases[pkg.origin];
    let stanza = pkg.stanza();
    let field = |f: &str| {
        stanza.get(f).ok_or_else(|| {
            Failure(format!(
                "cannot lock {} {}: its stanza in {} has no {f}",
                pkg.name, pkg.version, rel.suite
            ))
        })
    };
    let size = field("Size")?
        .parse()
        .map_err(|_| Failure(format!("cannot lock {}: bad Size", pkg.name)))?;
    Ok(LockedPackage {
        name: pkg.name.to_owned(),
        version: pkg.version.to_owned(),
        architecture: pkg.arch.to_owned(),
        archive: rel.archive.clone(),
        suite: rel.suite.clone(),
        filename: field("Filename")?.to_owned(),
        size,
        sha256: field("SHA256")?.to_ascii_lowercase(),
    })
}

/// Resolves every plan on the loaded indices and assembles the lock.
/// `build_packages` are locked as they are, without dependencies: the
/// build takes files out of them and installs nothing they need.
#[allow(clippy::too_many_arguments)]
fn build_lock(
    distro_name: &str,
    loaded: &Loaded,
    pins: &Pins,
    distro: &DistroSpec,
    archs: &[String],
    plans: &[(String, ImagePlan)],
    build_packages: &[String],
) -> Result<Lock> {
    let mut packages: BTreeMap<(String, String), LockedPackage> = BTreeMap::new();
    let mut images: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut build: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for arch in archs {
        let wanted: Vec<&(String, ImagePlan)> = plans
            .iter()
            .filter(|(_, p)| p.architectures.contains(arch))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let universe = Universe::new(arch, loaded.stanzas(arch))?;
        for name in build_packages {
            let pkg = universe.get(name).ok_or_else(|| {
                Failure(format!(
                    "cannot lock build package {name} for {distro_name} {arch}: no package of that name"
                ))
            })?;
            let locked = locked(pkg, loaded)?;
            packages.insert((locked.name.clone(), locked.architecture.clone()), locked);
            build.entry(arch.clone()).or_default().push(name.clone());
        }
        for (image, plan) in wanted {
            let resolution = resolve_image(&universe, image, distro_name, plan)?;
            for chosen in resolution.packages.values() {
                let pkg = universe
                    .get(&chosen.name)
                    .expect("chosen from the universe");
                let locked = locked(pkg, loaded)?;
                packages.insert((locked.name.clone(), locked.architecture.clone()), locked);
            }
            images
                .entry(image.clone())
                .or_default()
                .insert(arch.clone(), resolution.packages.keys().cloned().collect());
        }
    }
    Ok(Lock {
        version: distill_resolve::LOCK_VERSION,
        distro: distro_name.to_owned(),
        archives: distro
            .archives
            .iter()
            .map(|a| (a.name.clone(), pins.of(&a.name).to_string()))
            .collect(),
        suites: loaded
            .releases
            .iter()
            .map(|r| LockedSuite {
                archive: r.archive.clone(),
                suite: r.suite.clone(),
                served: served(&r.served),
                inrelease_sha256: r.inrelease_sha256.clone(),
            })
            .collect(),
        packages: packages.into_values().collect(),
        images,
        build,
    })
}

/// Loads `name`'s indices at `pins` and resolves every plan into a lock.
pub fn resolve_lock(
    ctx: &Context,
    global: &Global,
    name: &str,
    archs: &[String],
    pins: &Pins,
    plans: &[(String, ImagePlan)],
    build_spec: &distill_image::BuildSpec,
) -> Result<Lock> {
    let distro = ctx.distro(name)?;
    let loaded = load(ctx, global, distro, archs, pins)?;
    build_lock(
        name,
        &loaded,
        pins,
        distro,
        archs,
        plans,
        &build_spec.packages(),
    )
}

/// Writes `text` to `path` through a temporary file in the same directory
/// and a rename: readers see the old lock or the new one, never half.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |e: &dyn std::fmt::Display| Failure(format!("cannot write {}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
    tmp.write_all(text.as_bytes()).map_err(|e| fail(&e))?;
    // tempfile creates 0600; a lock is an ordinary, shared file. Set the
    // mode explicitly rather than inherit the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| fail(&e))?;
    }
    tmp.as_file().sync_all().map_err(|e| fail(&e))?;
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let ctx = Context::new(global)?;
    let images = images(&ctx)?;
    let names: Vec<String> = match &args.distro {
        Some(d) => {
            ctx.distro(d)?;
            vec![d.clone()]
        }
        None => ctx.config.distros.keys().cloned().collect(),
    };
    let fallback = parse_snapshot(&ctx, args.snapshot.as_deref())?;
    let build_spec = crate::build::spec(&ctx)?;
    for name in names {
        let distro = ctx.distro(&name)?;
        let path = lock_path(&ctx, &name);
        let old = read_lock(&path)?;
        let pins = pins_from(old.as_ref(), fallback)?;
        let plans = plans(&ctx, &images, &name, distro)?;
        let archs = if args.archs.is_empty() {
            distro.architectures.clone()
        } else {
            for a in &args.archs {
                check_arch(&name, distro, a)?;
            }
            args.archs.clone()
        };
        let lock = resolve_lock(&ctx, global, &name, &archs, &pins, &plans, &build_spec)?;
        let text = lock.to_toml();
        let changed = old.map(|o| o.to_toml()) != Some(text.clone());
        write_atomic(&path, &text)?;
        ctx.bars.note(&format!(
            "{} {}: {} packages, {} images{}",
            if changed { "wrote" } else { "unchanged" },
            path.display(),
            lock.packages.len(),
            lock.images.len(),
            if changed { "" } else { " (already up to date)" }
        ));
    }
    Ok(0)
}
