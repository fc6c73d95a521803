//! Loading a distro's verified indices: every suite's Release, then every
//! (suite, component, arch) index, all in parallel. Shared by every
//! command that reads the archive.

use std::collections::{BTreeMap, BTreeSet};

use distill_archive::{DistroSpec, PackageIndex, Served, SuiteRelease};
use distill_debian::SnapshotTime;
use distill_resolve::Stanza;
use futures_util::future::try_join_all;

use crate::Global;
use crate::context::{Context, Failure, Result, host_arch};

/// One loaded index and where it came from.
pub struct Index {
    /// Position in `Loaded::releases`.
    pub release: usize,
    pub component: String,
    pub arch: String,
    pub index: PackageIndex,
}

pub struct Loaded {
    pub releases: Vec<SuiteRelease>,
    pub indices: Vec<Index>,
}

impl Loaded {
    /// The indices of one architecture, in packages.toml's suite order.
    pub fn for_arch<'a>(&'a self, arch: &'a str) -> impl Iterator<Item = &'a Index> {
        self.indices.iter().filter(move |i| i.arch == arch)
    }

    /// The stanzas of one architecture's indices, tagged with their
    /// release's position.
    pub fn stanzas<'a>(&'a self, arch: &'a str) -> impl Iterator<Item = Stanza<'a>> {
        self.for_arch(arch).flat_map(|i| {
            i.index.entries().map(move |(name, text)| Stanza {
                origin: i.release,
                name,
                text,
            })
        })
    }
}

/// Snapshot pins: one per archive name, and the timestamp for archives
/// without one.
#[derive(Clone)]
pub struct Pins {
    pub by_archive: BTreeMap<String, SnapshotTime>,
    pub default: SnapshotTime,
}

impl Pins {
    pub fn all(t: SnapshotTime) -> Pins {
        Pins {
            by_archive: BTreeMap::new(),
            default: t,
        }
    }

    pub fn of(&self, archive: &str) -> SnapshotTime {
        self.by_archive
            .get(archive)
            .copied()
            .unwrap_or(self.default)
    }
}

/// Checks that `arch` belongs to the distro.
pub fn check_arch(distro_name: &str, distro: &DistroSpec, arch: &str) -> Result<()> {
    if distro.architectures.iter().any(|a| a == arch) {
        return Ok(());
    }
    Err(Failure(format!(
        "cannot use architecture {arch}: distro {distro_name} has architectures {}",
        distro.architectures.join(", ")
    )))
}

pub fn parse_snapshot(ctx: &Context, arg: Option<&str>) -> Result<SnapshotTime> {
    match arg {
        Some(s) => {
            SnapshotTime::parse(s).map_err(|e| Failure(format!("cannot use --snapshot: {e}")))
        }
        None => Ok(ctx.default_snapshot()),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().map_err(|e| Failure(format!("cannot start the runtime: {e}")))
}

/// Loads every suite of `distro` at its pin and the indices of `archs`.
/// Says in one line when suites came from a mirror instead of the snapshot.
pub fn load(
    ctx: &Context,
    global: &Global,
    distro: &DistroSpec,
    archs: &[String],
    pins: &Pins,
) -> Result<Loaded> {
    let loader = ctx.loader(ctx.keyring(global, distro)?);
    runtime()?.block_on(async {
        let suites: Vec<_> = distro
            .archives
            .iter()
            .flat_map(|a| a.suites.iter().map(move |s| (a, s)))
            .collect();
        let releases: Vec<SuiteRelease> = try_join_all(
            suites
                .iter()
                .map(|(a, s)| loader.release(a, s, pins.of(&a.name))),
        )
        .await?;
        let mirrored: Vec<(String, String)> = releases
            .iter()
            .filter_map(|r| match &r.served {
                Served::Mirror { base } => Some((r.suite.clone(), base.clone())),
                Served::Snapshot { .. } => None,
            })
            .collect();
        let requested: BTreeSet<String> = distro
            .archives
            .iter()
            .map(|a| pins.of(&a.name).to_string())
            .collect();
        ctx.bars.note_mirrors(
            &mirrored,
            &requested.into_iter().collect::<Vec<_>>().join(", "),
        );
        let mut jobs = Vec::new();
        for arch in archs {
            for (i, (archive, _)) in suites.iter().enumerate() {
                for component in &archive.components {
                    jobs.push((i, component.clone(), arch.clone()));
                }
            }
        }
        let loaded = try_join_all(
            jobs.iter()
                .map(|(i, c, a)| loader.packages(&releases[*i], c, a)),
        )
        .await?;
        let indices = jobs
            .into_iter()
            .zip(loaded)
            .map(|((release, component, arch), index)| Index {
                release,
                component,
                arch,
                index,
            })
            .collect();
        Ok::<_, Failure>(Loaded { releases, indices })
    })
}

/// One architecture of one distro at an ad-hoc snapshot: what `show` and
/// `resolve` read.
pub struct OneArch {
    pub arch: String,
    pub loaded: Loaded,
}

pub fn load_one_arch(
    global: &Global,
    distro_name: &str,
    arch: Option<&str>,
    snapshot: Option<&str>,
) -> Result<OneArch> {
    let ctx = Context::new(global)?;
    let distro = ctx.distro(distro_name)?;
    let arch = arch.map_or_else(|| host_arch().to_owned(), str::to_owned);
    check_arch(distro_name, distro, &arch)?;
    let snapshot = parse_snapshot(&ctx, snapshot)?;
    let loaded = load(
        &ctx,
        global,
        distro,
        std::slice::from_ref(&arch),
        &Pins::all(snapshot),
    )?;
    Ok(OneArch { arch, loaded })
}
