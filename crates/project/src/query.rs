//! Questions about the archive at an ad-hoc snapshot, not the lock:
//! `show` (a package's verified stanzas) and `resolve` (what a set of
//! roots pulls in).

use std::collections::BTreeMap;

use distill_archive::Pins;
use distill_debian::{Served, SnapshotTime, compare_versions};
use distill_resolve::Resolution;

use crate::error::{Result, fail};
use crate::project::{Project, universe};

/// One stanza of a package, with where it came from.
#[derive(Debug, Clone)]
pub struct Found {
    pub archive: String,
    pub suite: String,
    pub component: String,
    pub served: Served,
    /// The stanza as the index has it.
    pub text: String,
    /// Its fields, in order, values trimmed.
    pub fields: Vec<(String, String)>,
    pub version: String,
}

impl Project {
    /// Every stanza of `package` for `arch` across the distro's suites at
    /// `snapshot` (default: now), highest version first.
    pub fn show(
        &self,
        package: &str,
        distro: &str,
        arch: &str,
        snapshot: Option<SnapshotTime>,
    ) -> Result<Vec<Found>> {
        self.check_arch(distro, arch)?;
        self.not_future(snapshot, "--snapshot")?;
        let pins = Pins::all(snapshot.unwrap_or_else(|| self.default_snapshot()));
        let loaded = self.load(distro, &[arch.to_owned()], &pins)?;
        let mut found = Vec::new();
        for idx in loaded.for_arch(arch) {
            let rel = &loaded.releases[idx.release];
            let stanzas = idx
                .index
                .get(package)
                .map_err(|e| fail!("cannot read the index of {}: {e}", rel.suite))?;
            for p in stanzas {
                found.push(Found {
                    archive: rel.archive.clone(),
                    suite: rel.suite.clone(),
                    component: idx.component.clone(),
                    served: rel.served.clone(),
                    text: p.text().to_owned(),
                    fields: p
                        .fields()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.trim().to_owned()))
                        .collect(),
                    version: p.get("Version").unwrap_or("").to_owned(),
                });
            }
        }
        if found.is_empty() {
            let suites: Vec<&str> = loaded.releases.iter().map(|r| r.suite.as_str()).collect();
            return Err(fail!(
                "cannot find package {package} for {arch} in {distro} ({})",
                suites.join(", ")
            ));
        }
        // Highest version first; the sort is stable, so packages.toml's
        // suite order breaks ties.
        found.sort_by(|a, b| compare_versions(&b.version, &a.version));
        Ok(found)
    }

    /// Resolves `roots` for `arch` at `snapshot` (default: now), never
    /// choosing `excludes` (name → reason): the preview before adding
    /// packages to an image, with the resolver `lock` uses.
    pub fn resolve(
        &self,
        roots: &[String],
        excludes: &BTreeMap<String, String>,
        distro: &str,
        arch: &str,
        snapshot: Option<SnapshotTime>,
    ) -> Result<Resolution> {
        self.check_arch(distro, arch)?;
        self.not_future(snapshot, "--snapshot")?;
        let pins = Pins::all(snapshot.unwrap_or_else(|| self.default_snapshot()));
        let loaded = self.load(distro, &[arch.to_owned()], &pins)?;
        Ok(universe(&loaded, arch).resolve(roots, excludes)?)
    }
}
