//! `why`: the dependency path from an image's roots to a package, or the
//! exclude that removed it, answered from the lock's own pins.

use distill_resolve::Cut;

use crate::error::{Result, fail};
use crate::lock::{pins_of, resolve_image};
use crate::project::{Project, universe};

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
    /// Re-resolves `image` for `distro`/`arch` from the lock's pins (the
    /// indices are in the cache after `lock`) and explains `package`.
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
        let universe = universe(&loaded, arch);
        let resolution = resolve_image(&universe, image, distro, plan)?;
        // The answer must explain the locked set. A lock made from a live
        // mirror (not a snapshot) can drift as the mirror moves on.
        if !resolution.packages.keys().eq(locked.iter()) {
            return Err(fail!(
                "cannot answer why: the archive no longer resolves {image} {arch} to the locked set (a mirror moved on since the lock was written); run `distill lock`"
            ));
        }
        if let Some(path) = resolution.why(package) {
            let version = resolution.packages[package].version.clone();
            return Ok(Why::Included {
                version,
                path,
                debug_only: false,
            });
        }
        if let Some(cut) = resolution.cuts.get(package) {
            return Ok(Why::Excluded(cut.clone()));
        }
        // What the debug tags add (a JDK): the image resolved with them.
        if !plan.debug_roots.is_empty() {
            let mut with_debug = plan.clone();
            with_debug.roots.extend(plan.debug_roots.iter().cloned());
            let resolution = resolve_image(&universe, image, distro, &with_debug)?;
            if let Some(path) = resolution.why(package) {
                let version = resolution.packages[package].version.clone();
                return Ok(Why::Included {
                    version,
                    path,
                    debug_only: true,
                });
            }
        }
        Err(fail!(
            "cannot answer why: {package} is not in image {image} for {distro} {arch}, and nothing there needs it"
        ))
    }
}
