//! What a change between two locks brings, from Debian itself: for every
//! package whose version moved, the `changelog.Debian.gz` entries of the
//! new .deb (fetched by its locked hash, through the cache) newer than
//! the old version, with their CVE ids, closed bugs and urgency; and per
//! image and architecture the download and installed sizes before and
//! after.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use distill_debian::{ChangelogEntry, compare_versions, entries_since, parse_changelog};
use distill_layer::{doc_files, installed_size};
use distill_lock::{Lock, LockDiff, LockedPackage};
use serde::Serialize;

use crate::build::layers::{check_hash, fetch_debs};
use crate::error::Result;
use crate::project::Project;

/// What the changes of a lock diff bring.
#[derive(Debug, Clone, Default, Serialize)]
pub struct News {
    /// Package name → its news, for every package whose version moved.
    pub packages: BTreeMap<String, PackageNews>,
    /// Per image and architecture of either lock.
    pub sizes: Vec<SizeChange>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PackageNews {
    /// The new version is older than the old one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub downgrade: bool,
    /// The entries after the old version, newest first.
    pub entries: Vec<ChangelogEntry>,
    /// Why there are no entries when there should be (the .deb could not
    /// be fetched, it has no changelog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

impl News {
    /// The CVE ids of every package's entries, sorted, once.
    pub fn cves(&self) -> Vec<String> {
        let mut all: Vec<String> = self.packages.values().flat_map(PackageNews::cves).collect();
        all.sort();
        all.dedup();
        all
    }

    /// The highest urgency of any package's entries.
    pub fn urgency(&self) -> Option<&str> {
        highest(self.packages.values().filter_map(PackageNews::urgency))
    }
}

/// The highest of these urgencies (`distill_debian::urgency_rank`); the
/// first of equals.
pub fn highest<'u>(urgencies: impl Iterator<Item = &'u str>) -> Option<&'u str> {
    urgencies.fold(None, |best, u| match best {
        Some(b) if distill_debian::urgency_rank(b) >= distill_debian::urgency_rank(u) => Some(b),
        _ => Some(u),
    })
}

impl PackageNews {
    /// The CVE ids of every entry, sorted, once.
    pub fn cves(&self) -> Vec<String> {
        let mut all: Vec<String> = self.entries.iter().flat_map(|e| e.cves.clone()).collect();
        all.sort();
        all.dedup();
        all
    }

    /// The highest urgency of its entries.
    pub fn urgency(&self) -> Option<&str> {
        highest(self.entries.iter().map(|e| e.urgency.as_str()))
    }
}

/// One image's sizes on one architecture: what its packages weigh as
/// .debs (from the locks, always known; None where the lock lacks the
/// image) and installed (the `Installed-Size` of each .deb, known when
/// every .deb is in the cache: sizes never cause a download).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SizeChange {
    pub image: String,
    pub arch: String,
    /// Bytes of .debs: (old, new); None where the lock lacks the image.
    pub download: (Option<u64>, Option<u64>),
    /// Bytes installed: (old, new).
    pub installed: (Option<u64>, Option<u64>),
}

impl Project {
    /// The news of `diff`, the difference from `old` to `new` (two locks
    /// of one distro).
    pub fn news(&self, old: &Lock, new: &Lock, diff: &LockDiff) -> Result<News> {
        self.prefetch(new, diff);
        let mut out = News::default();
        for c in &diff.changes {
            let (Some(v_new), v_old) = (&c.new, &c.old) else {
                continue;
            };
            if v_old.as_ref() == Some(v_new) {
                continue;
            }
            let downgrade = is_downgrade(v_old.as_deref(), Some(v_new));
            let news = if downgrade {
                PackageNews {
                    downgrade,
                    ..PackageNews::default()
                }
            } else {
                self.package_news(new, &c.name, v_new, v_old.as_deref())
            };
            out.packages.insert(c.name.clone(), news);
        }
        out.sizes = self.sizes(old, new);
        Ok(out)
    }

    /// Fetches the .debs whose changelogs `diff` needs, all at once (a
    /// bump of many packages would otherwise wait on each in turn); a
    /// failure is left for the reading to report.
    fn prefetch(&self, lock: &Lock, diff: &LockDiff) {
        let Ok(distro) = self.distro(&lock.distro) else {
            return;
        };
        let wanted: Vec<&LockedPackage> = diff
            .changes
            .iter()
            .filter(|c| !is_downgrade(c.old.as_deref(), c.new.as_deref()))
            .filter_map(|c| one_deb(lock, &c.name, c.new.as_deref()?))
            .collect();
        let fetches = wanted
            .into_iter()
            .map(|p| fetch_debs(&self.fetcher, distro, lock, std::iter::once(p)));
        self.block_on(futures_util::future::join_all(fetches));
    }

    /// The changelog entries of `name` at `version` in `lock` after
    /// `old`: an error reading them is reported in `missing`, never fails
    /// the diff (a pull request still says what moved).
    fn package_news(
        &self,
        lock: &Lock,
        name: &str,
        version: &str,
        old: Option<&str>,
    ) -> PackageNews {
        match self.changelog(lock, name, version) {
            Ok(entries) if entries.is_empty() => PackageNews {
                missing: Some("its .deb has no Debian changelog".to_owned()),
                ..PackageNews::default()
            },
            Ok(entries) => PackageNews {
                entries: entries_since(&entries, old),
                ..PackageNews::default()
            },
            // The cause (URLs, ports) goes to a note; the summary says
            // only what is missing, the same on every run.
            Err(e) => {
                self.observer().note(&format!(
                    "no changelog for {name} {version}: {}",
                    distill_store::causes(&e).join(": ")
                ));
                PackageNews {
                    missing: Some("its .deb could not be read".to_owned()),
                    ..PackageNews::default()
                }
            }
        }
    }

    /// Every changelog entry of `name` at `version` (one of its .debs in
    /// `lock`: the entries are the source's, the same on every
    /// architecture but a binNMU's, whose own come first).
    fn changelog(&self, lock: &Lock, name: &str, version: &str) -> Result<Vec<ChangelogEntry>> {
        let p = one_deb(lock, name, version)
            .ok_or_else(|| crate::error::fail!("the lock has no .deb of {name} {version}"))?;
        let arch = if p.architecture == "all" {
            "amd64".to_owned()
        } else {
            p.architecture.clone()
        };
        let files = self.doc_files(lock, p, &arch)?;
        let (main, binnmu) = match &files.doc_link {
            // The doc directory is a sibling package's (same source):
            // its changelog is there, in the lock at the same version.
            Some(target) if files.changelog.is_none() => {
                let sibling = target
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or("");
                match lock.package(sibling, &arch) {
                    Some(s) => {
                        let f = self.doc_files(lock, s, &arch)?;
                        (f.changelog, f.binnmu.or(files.binnmu))
                    }
                    None => (None, files.binnmu),
                }
            }
            _ => (files.changelog, files.binnmu),
        };
        let mut entries = binnmu.as_deref().map(parse_changelog).unwrap_or_default();
        entries.extend(main.as_deref().map(parse_changelog).unwrap_or_default());
        Ok(entries)
    }

    fn doc_files(
        &self,
        lock: &Lock,
        p: &LockedPackage,
        arch: &str,
    ) -> Result<distill_layer::DocFiles> {
        let distro = self.distro(&lock.distro)?;
        let debs = self.block_on(fetch_debs(&self.fetcher, distro, lock, std::iter::once(p)))?;
        let path = &debs[&p.sha256];
        let label = format!("{} {}", p.name, p.version);
        check_hash(path, &p.sha256, &label)?;
        Ok(doc_files(path, &label, arch)?)
    }

    /// Sizes per image and architecture of either lock.
    fn sizes(&self, old: &Lock, new: &Lock) -> Vec<SizeChange> {
        let mut keys: Vec<(String, String)> = Vec::new();
        for l in [old, new] {
            for (image, archs) in &l.images {
                for arch in archs.keys() {
                    let k = (image.clone(), arch.clone());
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
        }
        keys.sort();
        let mut installed_cache: BTreeMap<String, Option<u64>> = BTreeMap::new();
        let mut out = Vec::new();
        for (image, arch) in keys {
            let mut size = |l: &Lock| -> (Option<u64>, Option<u64>) {
                let Some(names) = l.images.get(&image).and_then(|a| a.get(&arch)) else {
                    return (None, None);
                };
                let pkgs: Vec<&LockedPackage> =
                    names.iter().filter_map(|n| l.package(n, &arch)).collect();
                let download = pkgs.iter().map(|p| p.size).sum();
                let installed = pkgs
                    .iter()
                    .map(|p| {
                        *installed_cache
                            .entry(p.sha256.to_string())
                            .or_insert_with(|| self.cached_installed(p))
                    })
                    .sum::<Option<u64>>();
                (Some(download), installed)
            };
            let (old_d, old_i) = size(old);
            let (new_d, new_i) = size(new);
            out.push(SizeChange {
                image,
                arch,
                download: (old_d, new_d),
                installed: (old_i, new_i),
            });
        }
        out
    }

    /// `Installed-Size` in bytes of a .deb already in the cache (never
    /// fetched for this: sizes are a by-product).
    fn cached_installed(&self, p: &LockedPackage) -> Option<u64> {
        let path = self.fetcher.cache().get(p.sha256.as_str())?;
        let label = format!("{} {}", p.name, p.version);
        installed_size(&path, &label)
            .ok()
            .flatten()
            .map(|k| k * 1024)
    }
}

/// Whether `new` is older than `old` (dpkg's order).
fn is_downgrade(old: Option<&str>, new: Option<&str>) -> bool {
    matches!((old, new), (Some(o), Some(n)) if compare_versions(n, o) == Ordering::Less)
}

/// A .deb of `name` at `version` in `lock`: amd64's or `all`'s if there
/// is one, else the first.
fn one_deb<'l>(lock: &'l Lock, name: &str, version: &str) -> Option<&'l LockedPackage> {
    let all: Vec<&LockedPackage> = lock
        .packages
        .iter()
        .filter(|p| p.name == name && p.version == version)
        .collect();
    all.iter()
        .find(|p| p.architecture == "amd64" || p.architecture == "all")
        .or(all.first())
        .copied()
}
