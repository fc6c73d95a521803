//! `why`: the dependency path from an image's roots to a package, or the
//! exclude that removed it, answered from the lock's own pins.

use std::collections::BTreeSet;

use distill_lock::Lock;
use distill_resolve::Cut;

use crate::error::{Result, fail};
use crate::lock::{ArchSets, pins_of, preferred};
use crate::project::Project;

/// Why `package` is (or is not) in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It is in the image: the path from a root to it (root first); on
    /// its debug tags only when a debug package brings it.
    Included {
        version: String,
        path: Vec<String>,
        debug_only: bool,
    },
    /// An exclude removed it; where it was needed.
    Excluded(Cut),
}

impl Project {
    /// Explains `package` in `image` for `distro`/`arch` with the lock's
    /// own choices: the same resolution `lock` makes at the lock's pins
    /// (the indices are in the cache after `lock`), keeping the locked
    /// versions. When the indices no longer give exactly the locked set,
    /// it says so instead of explaining another one.
    pub fn why(&self, package: &str, image: &str, distro: &str, arch: &str) -> Result<Why> {
        self.check_arch(distro, arch)?;
        let lock = self.require_lock(distro, "answer why")?;
        let plans = self.plans(distro)?;
        let Some((_, plan)) = plans.iter().find(|(n, _)| n == image) else {
            return Err(fail!(
                "cannot answer why: image {image} is not built for {distro}"
            ));
        };
        if !plan.architectures.iter().any(|a| a == arch) {
            return Err(fail!(
                "cannot answer why: image {image} is not built for {arch}"
            ));
        }
        let locked = lock
            .images
            .get(image)
            .and_then(|a| a.get(arch))
            .ok_or_else(|| {
                fail!(
                    "cannot answer why: {} has no {image} {arch} image; run `distill lock`",
                    self.lock_path(distro).display()
                )
            })?;
        let pins = pins_of(Some(&lock), self.default_snapshot());
        let loaded = self.load(distro, &[arch.to_owned()], &pins)?;
        // The artifacts are the lock's: why is about packages.
        let artifact_of = plans
            .iter()
            .flat_map(|(_, p)| &p.artifacts)
            .map(|a| {
                let key = (a.clone(), arch.to_owned());
                (key, lock.artifact(a, arch).cloned())
            })
            .collect();
        let resolved = self
            .resolve_arch(
                &loaded,
                distro,
                arch,
                &plans,
                &artifact_of,
                preferred(&lock, arch),
            )?
            .ok_or_else(|| fail!("cannot answer why: nothing is built for {distro} {arch}"))?;
        let Some((resolution, with_debug)) = resolved.resolutions.get(image) else {
            return Err(fail!(
                "cannot answer why: an artifact of {image} has no {arch} build"
            ));
        };
        // The answer must explain the locked set, at the locked .debs.
        let mismatch = not_the_locked_set(&resolved.sets, &lock, image, arch, locked);
        if let Some(why) = mismatch {
            return Err(fail!(
                "cannot answer why: the archive no longer resolves {image} {arch} to the locked set ({why}); `distill lock --check` lists every difference"
            ));
        }
        let version = |name: &str| {
            lock.package(name, arch)
                .map_or_else(String::new, |p| p.version.clone())
        };
        if let Some(path) = resolution.why(package) {
            return Ok(Why::Included {
                version: version(package),
                path,
                debug_only: false,
            });
        }
        if let Some(cut) = resolution.cuts.get(package) {
            return Ok(Why::Excluded(cut.clone()));
        }
        // What the debug tags add (a JDK): the image resolved with them.
        if let Some(path) = with_debug.as_ref().and_then(|r| r.why(package)) {
            return Ok(Why::Included {
                version: version(package),
                path,
                debug_only: true,
            });
        }
        Err(fail!(
            "cannot answer why: {package} is not in image {image} for {distro} {arch}, and nothing there needs it"
        ))
    }
}

/// How the fresh resolution's `sets` differ from what `lock` has for
/// `image` on `arch` (`locked`: its names): the image's names and its
/// debug tags', then every entry's .deb. `None` when they agree.
fn not_the_locked_set(
    sets: &ArchSets,
    lock: &Lock,
    image: &str,
    arch: &str,
    locked: &[String],
) -> Option<String> {
    let none = Vec::new();
    let pairs = [
        (sets.images.get(image).unwrap_or(&none), Some(locked)),
        (
            sets.debug.get(image).unwrap_or(&none),
            lock.debug
                .get(image)
                .and_then(|d| d.get(arch))
                .map(Vec::as_slice),
        ),
    ];
    pairs
        .iter()
        .find_map(|(fresh, locked)| {
            let fresh: BTreeSet<&String> = fresh.iter().collect();
            let locked: BTreeSet<&String> = locked.iter().flat_map(|l| l.iter()).collect();
            (fresh != locked).then(|| {
                let list = |a: &BTreeSet<&String>, b: &BTreeSet<&String>| {
                    a.difference(b)
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "it would add [{}] and drop [{}]",
                    list(&fresh, &locked),
                    list(&locked, &fresh)
                )
            })
        })
        .or_else(|| {
            pairs
                .iter()
                .flat_map(|(fresh, _)| fresh.iter())
                .find_map(|name| {
                    // The .deb, not the entry: a lock's `all` entry may
                    // name the architectures it is for.
                    let (f, l) = (sets.packages.get(name)?, lock.package(name, arch)?);
                    if f.version != l.version {
                        Some(format!(
                            "{name} is {} in the lock, {} in the indices",
                            l.version, f.version
                        ))
                    } else {
                        (f.sha256 != l.sha256).then(|| {
                            format!(
                                "{name} {} is sha256 {} in the lock, {} in the indices",
                                l.version, l.sha256, f.sha256
                            )
                        })
                    }
                })
        })
}
