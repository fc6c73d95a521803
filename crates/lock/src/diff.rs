//! What changed between two locks of one distro: moved pins, and per
//! package the old and new versions with the images and architectures
//! that contain it. The bot's pull request and `distill build
//! --changed-since` read it.

use std::collections::{BTreeMap, BTreeSet};

use distill_debian::SnapshotTime;
use serde::Serialize;

use crate::Lock;

/// The image name under which a lock's build packages (the CA bundle's
/// source, busybox) are reported: every image contains what they make.
pub const BUILD_PACKAGES: &str = "(build)";

/// (package, old version, new version).
type Change = (String, Option<String>, Option<String>);

/// (image, arch) → name → version.
type Sets = BTreeMap<(String, String), BTreeMap<String, String>>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LockDiff {
    pub distro: String,
    /// Archive → (old pin, new pin), for pins that moved.
    pub pins: BTreeMap<String, (Option<SnapshotTime>, Option<SnapshotTime>)>,
    /// One entry per package change.
    pub changes: Vec<PackageChange>,
    /// One entry per upstream artifact change (`node24` 24.1.0 → 24.2.0).
    pub artifacts: Vec<PackageChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PackageChange {
    pub name: String,
    /// None: the package is new.
    pub old: Option<String>,
    /// None: the package is gone.
    pub new: Option<String>,
    /// (image, architecture) pairs whose set changed this way; the image
    /// is [`BUILD_PACKAGES`] for the build's own packages.
    pub images: BTreeSet<(String, String)>,
}

impl LockDiff {
    /// No package or artifact changed (pins may have moved).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.artifacts.is_empty()
    }

    /// Images whose content changed, with the architectures: a change to
    /// a build package changes every image of that architecture.
    pub fn affected(
        &self,
        all_images: &BTreeMap<String, BTreeSet<String>>,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in self.changes.iter().chain(&self.artifacts) {
            for (image, arch) in &c.images {
                if image == BUILD_PACKAGES {
                    for (i, archs) in all_images {
                        if archs.contains(arch) {
                            out.entry(i.clone()).or_default().insert(arch.clone());
                        }
                    }
                } else {
                    out.entry(image.clone()).or_default().insert(arch.clone());
                }
            }
        }
        out
    }
}

impl Lock {
    /// (image or [`BUILD_PACKAGES`], arch) → name → version.
    fn sets(&self) -> Sets {
        let mut out = BTreeMap::new();
        let version = |name: &str, arch: &str| {
            self.package(name, arch)
                .map_or_else(|| "?".to_owned(), |p| p.version.clone())
        };
        for (image, archs) in &self.images {
            for (arch, names) in archs {
                // What the debug tags add counts as the image's: a JDK
                // update rebuilds the image.
                let debug = self.debug.get(image).and_then(|d| d.get(arch));
                let set = names
                    .iter()
                    .chain(debug.into_iter().flatten())
                    .map(|n| (n.clone(), version(n, arch)))
                    .collect();
                out.insert((image.clone(), arch.clone()), set);
            }
        }
        for (arch, names) in &self.build {
            let set = names
                .iter()
                .map(|n| (n.clone(), version(n, arch)))
                .collect();
            out.insert((BUILD_PACKAGES.to_owned(), arch.clone()), set);
        }
        out
    }

    /// (image, arch) → artifact → version.
    fn artifact_sets(&self) -> Sets {
        let mut out: Sets = BTreeMap::new();
        for a in &self.artifacts {
            for image in &a.images {
                out.entry((image.clone(), a.architecture.clone()))
                    .or_default()
                    .insert(a.name.clone(), a.version.clone());
            }
        }
        out
    }

    /// What changed from `self` to `new`.
    pub fn diff(&self, new: &Lock) -> LockDiff {
        let mut pins = BTreeMap::new();
        let archives: BTreeSet<&String> = self.archives.keys().chain(new.archives.keys()).collect();
        for a in archives {
            let (o, n) = (self.archives.get(a), new.archives.get(a));
            if o != n {
                pins.insert(a.clone(), (o.cloned(), n.cloned()));
            }
        }
        LockDiff {
            distro: new.distro.clone(),
            pins,
            changes: changes(&self.sets(), &new.sets()),
            artifacts: changes(&self.artifact_sets(), &new.artifact_sets()),
        }
    }
}

/// Per name and (old, new) version, the (image, arch) sets it changed in.
fn changes(old: &Sets, new: &Sets) -> Vec<PackageChange> {
    let keys: BTreeSet<&(String, String)> = old.keys().chain(new.keys()).collect();
    let empty = BTreeMap::new();
    let mut changes: BTreeMap<Change, BTreeSet<(String, String)>> = BTreeMap::new();
    for key in keys {
        let o = old.get(key).unwrap_or(&empty);
        let n = new.get(key).unwrap_or(&empty);
        let names: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for name in names {
            let (ov, nv) = (o.get(name), n.get(name));
            if ov != nv {
                changes
                    .entry((name.clone(), ov.cloned(), nv.cloned()))
                    .or_default()
                    .insert(key.clone());
            }
        }
    }
    changes
        .into_iter()
        .map(|((name, old, new), images)| PackageChange {
            name,
            old,
            new,
            images,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LockedPackage;
    use distill_debian::Sha256;

    fn t(s: &str) -> SnapshotTime {
        SnapshotTime::parse(s).unwrap()
    }

    fn lock(pins: &str, pkgs: &[(&str, &str)], images: &[(&str, &[&str])]) -> Lock {
        Lock {
            version: 1,
            distro: "d".into(),
            archives: [("debian-security".to_owned(), t(pins))].into(),
            suites: vec![],
            packages: pkgs
                .iter()
                .map(|(n, v)| LockedPackage {
                    name: (*n).into(),
                    version: (*v).into(),
                    architecture: "amd64".into(),
                    archive: "debian".into(),
                    suite: "s".into(),
                    filename: format!("pool/{n}.deb"),
                    size: 1,
                    sha256: Sha256::parse(&"00".repeat(32)).unwrap(),
                    for_architectures: None,
                })
                .collect(),
            images: images
                .iter()
                .map(|(i, names)| {
                    let names = names.iter().map(|n| (*n).to_owned()).collect();
                    ((*i).to_owned(), [("amd64".to_owned(), names)].into())
                })
                .collect(),
            debug: BTreeMap::new(),
            build: [("amd64".to_owned(), vec!["ca".to_owned()])].into(),
            artifacts: Vec::new(),
        }
    }

    #[test]
    fn upgrades_additions_removals_and_affected_images() {
        let old = lock(
            "20250101T000000Z",
            &[
                ("libc6", "1"),
                ("libssl3", "3.0"),
                ("old", "1"),
                ("ca", "1"),
            ],
            &[("static", &[]), ("base", &["libc6", "libssl3", "old"])],
        );
        let new = lock(
            "20250102T000000Z",
            &[
                ("libc6", "1"),
                ("libssl3", "3.1"),
                ("zlib", "1"),
                ("ca", "1"),
            ],
            &[("static", &[]), ("base", &["libc6", "libssl3", "zlib"])],
        );
        let d = old.diff(&new);
        assert_eq!(
            d.pins["debian-security"],
            (Some(t("20250101T000000Z")), Some(t("20250102T000000Z")))
        );
        let summary: Vec<(&str, Option<&str>, Option<&str>)> = d
            .changes
            .iter()
            .map(|c| (c.name.as_str(), c.old.as_deref(), c.new.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("libssl3", Some("3.0"), Some("3.1")),
                ("old", Some("1"), None),
                ("zlib", None, Some("1")),
            ]
        );
        let affected = d.affected(&new.image_archs());
        assert_eq!(affected.keys().collect::<Vec<_>>(), ["base"]);
        assert!(old.diff(&old).is_empty());

        // A build package change touches every image of its architecture.
        let mut newer = new.clone();
        newer
            .packages
            .iter_mut()
            .find(|p| p.name == "ca")
            .unwrap()
            .version = "2".into();
        let d = new.diff(&newer);
        assert_eq!(d.changes[0].images.iter().next().unwrap().0, BUILD_PACKAGES);
        assert_eq!(d.affected(&newer.image_archs()).len(), 2);
    }

    #[test]
    fn a_debug_only_package_change_affects_its_image() {
        let mut old = lock(
            "20250101T000000Z",
            &[("libc6", "1"), ("jre", "17.0.1"), ("jdk", "17.0.1")],
            &[("base", &["libc6"]), ("java", &["libc6", "jre"])],
        );
        old.debug = [(
            "java".to_owned(),
            [("amd64".to_owned(), vec!["jdk".to_owned()])].into(),
        )]
        .into();
        let mut new = old.clone();
        new.packages
            .iter_mut()
            .find(|p| p.name == "jdk")
            .unwrap()
            .version = "17.0.2".into();
        let d = old.diff(&new);
        assert_eq!(d.changes.len(), 1);
        assert_eq!(d.changes[0].name, "jdk");
        let affected = d.affected(&new.image_archs());
        assert_eq!(affected.keys().collect::<Vec<_>>(), ["java"]);
    }

    #[test]
    fn artifact_moves_are_their_own_changes() {
        let pin = |version: &str| crate::LockedArtifact {
            name: "node24".into(),
            version: version.into(),
            architecture: "amd64".into(),
            images: vec!["nodejs24".into()],
            url: format!("https://registry.example/node-{version}.tgz"),
            size: 1,
            sha256: Sha256::parse(&"11".repeat(32)).unwrap(),
            integrity: None,
        };
        let mut old = lock(
            "20250101T000000Z",
            &[("libc6", "1")],
            &[("nodejs24", &["libc6"])],
        );
        old.artifacts = vec![pin("24.1.0")];
        let mut new = old.clone();
        new.artifacts = vec![pin("24.2.0")];
        let d = old.diff(&new);
        assert!(d.changes.is_empty(), "no package moved");
        assert!(!d.is_empty());
        let a = &d.artifacts[0];
        assert_eq!(
            (a.name.as_str(), a.old.as_deref(), a.new.as_deref()),
            ("node24", Some("24.1.0"), Some("24.2.0"))
        );
        assert_eq!(
            d.affected(&new.image_archs()).keys().collect::<Vec<_>>(),
            ["nodejs24"]
        );
        assert!(old.diff(&old).is_empty());
    }
}
