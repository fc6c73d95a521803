//! A distro's verified indices, loaded together: every suite's Release,
//! then every (suite, component, architecture) index, all concurrently.
//! Every command that reads the archive goes through [`load`].

use std::collections::{BTreeMap, BTreeSet};

use distill_debian::{Served, SnapshotTime};
use distill_fetch::authority;
use futures_util::future::try_join_all;

use crate::{ArchiveError, DistroSpec, Loader, PackageIndex, SuiteRelease};

/// Snapshot pins: one per archive name, and the time for archives
/// without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    pub by_archive: BTreeMap<String, SnapshotTime>,
    pub default: SnapshotTime,
}

impl Pins {
    /// Every archive at `t`.
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

/// One loaded index and where it came from.
pub struct Index {
    /// Position in [`Loaded::releases`].
    pub release: usize,
    pub component: String,
    pub arch: String,
    pub index: PackageIndex,
}

/// A distro's verified Releases and indices.
pub struct Loaded {
    /// In packages.toml's order of archives and suites.
    pub releases: Vec<SuiteRelease>,
    pub indices: Vec<Index>,
    /// The suites a mirror served in place of their pins, if any.
    pub mirrored: Option<MirrorFallback>,
}

impl Loaded {
    /// The indices of one architecture, in packages.toml's suite order.
    pub fn for_arch<'a>(&'a self, arch: &'a str) -> impl Iterator<Item = &'a Index> {
        self.indices.iter().filter(move |i| i.arch == arch)
    }

    /// One architecture's indices as (position of its suite's Release,
    /// the index): what a resolver universe is built from.
    pub fn sources<'a>(
        &'a self,
        arch: &'a str,
    ) -> impl Iterator<Item = (usize, &'a dyn distill_debian::StanzaSource)> {
        self.for_arch(arch)
            .map(|i| (i.release, &i.index as &dyn distill_debian::StanzaSource))
    }
}

/// Loads every suite of `distro` at its pin and the indices of `archs`.
/// Suites that came from a mirror instead of the snapshot are named in
/// [`Loaded::mirrored`], for the command to say once.
pub async fn load(
    loader: &Loader,
    distro: &DistroSpec,
    archs: &[String],
    pins: &Pins,
) -> Result<Loaded, ArchiveError> {
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
    let mirrored = mirror_fallback(loader, distro, &releases, pins);
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
    Ok(Loaded {
        releases,
        indices,
        mirrored,
    })
}

/// Suites of a distro that came from a live mirror instead of the pinned
/// snapshot: what a command tells its user once (the mirror moves, so
/// what was chosen there is not what the pin would have chosen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorFallback {
    /// The pins that were asked for, sorted.
    pub requested: Vec<String>,
    /// The suites read from a mirror, in packages.toml's order.
    pub suites: Vec<String>,
    /// The mirrors' hosts.
    pub mirrors: Vec<String>,
    /// Why each snapshot host failed (`host: cause`), or why none was
    /// asked (`not in the cache` when offline).
    pub why: Vec<String>,
}

/// The suites that came from a live mirror instead of the requested
/// snapshot, with the reason each snapshot host failed; `None` when every
/// suite with a snapshot service was served by it.
fn mirror_fallback(
    loader: &Loader,
    distro: &DistroSpec,
    releases: &[SuiteRelease],
    pins: &Pins,
) -> Option<MirrorFallback> {
    let fallbacks = loader.fetcher().take_fallbacks();
    // Archives without a snapshot service are read from their mirrors by
    // design; only a snapshot that failed is worth a note.
    let has_snapshot = |r: &SuiteRelease| {
        distro
            .archive(&r.archive)
            .is_some_and(|a| a.snapshot.is_some())
    };
    let mirrored: Vec<(&str, &str)> = releases
        .iter()
        .filter(|r| has_snapshot(r))
        .filter_map(|r| match &r.served {
            Served::Mirror { base } => Some((r.suite.as_str(), base.as_str())),
            Served::Snapshot { .. } => None,
        })
        .collect();
    if mirrored.is_empty() {
        return None;
    }
    let requested: BTreeSet<String> = distro
        .archives
        .iter()
        .filter(|a| a.snapshot.is_some())
        .map(|a| pins.of(&a.name).to_string())
        .collect();
    let mut mirrors: Vec<String> = mirrored
        .iter()
        .map(|(_, m)| authority(m).to_owned())
        .collect();
    mirrors.dedup();
    let why = if fallbacks.is_empty() {
        vec!["not in the cache".to_owned()]
    } else {
        fallbacks
            .iter()
            .map(|(h, cause)| format!("{h}: {cause}"))
            .collect()
    };
    Some(MirrorFallback {
        requested: requested.into_iter().collect(),
        suites: mirrored.iter().map(|(s, _)| (*s).to_owned()).collect(),
        mirrors,
        why,
    })
}
