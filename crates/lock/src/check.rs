//! `lock --check`: what a committed lock claims that a fresh resolution at
//! the lock's own pins does not reproduce. A reviewer of a bot's pull
//! request trusts the lock through this, not by reading hashes.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Lock, LockedPackage};

/// Image (or `[debug.<image>]`, `[build]`) → architecture → names.
type Sets<'a> = BTreeMap<String, &'a BTreeMap<String, Vec<String>>>;

fn sets(l: &Lock) -> Sets<'_> {
    let mut s: Sets<'_> = BTreeMap::new();
    for (image, archs) in &l.images {
        s.insert(format!("image {image}"), archs);
    }
    for (image, archs) in &l.debug {
        s.insert(format!("the debug tags of {image}"), archs);
    }
    s.insert("[build]".to_owned(), &l.build);
    s
}

impl Lock {
    /// Every way `self` differs from `fresh`, the lock the resolver makes
    /// at `self`'s pins from the signed indices: one readable line each,
    /// sorted; empty when the lock is exactly what it should be.
    pub fn discrepancies(&self, fresh: &Lock) -> Vec<String> {
        let mut out = Vec::new();
        // An `all` package locked at two versions is two entries, each
        // named by the architectures it is for.
        let by_key = |l: &'_ Lock| -> BTreeMap<(String, String), LockedPackage> {
            l.packages
                .iter()
                .map(|p| {
                    let arch = match &p.for_architectures {
                        Some(for_archs) => {
                            format!("{} for {}", p.architecture, for_archs.join(" "))
                        }
                        None => p.architecture.clone(),
                    };
                    ((p.name.clone(), arch), p.clone())
                })
                .collect()
        };
        let (mine, theirs) = (by_key(self), by_key(fresh));
        let keys: BTreeSet<&(String, String)> = mine.keys().chain(theirs.keys()).collect();
        for key @ (name, arch) in keys {
            match (mine.get(key), theirs.get(key)) {
                (Some(m), Some(t)) if m == t => {}
                (Some(m), Some(t)) => {
                    for (field, a, b) in [
                        ("version", &m.version, &t.version),
                        ("filename", &m.filename, &t.filename),
                        ("size", &m.size.to_string(), &t.size.to_string()),
                        ("sha256", &m.sha256.to_string(), &t.sha256.to_string()),
                        ("suite", &m.suite, &t.suite),
                    ] {
                        if a != b {
                            out.push(format!(
                                "package {name} ({arch}): the lock says {field} {a}, the signed index {b}"
                            ));
                        }
                    }
                }
                (Some(m), None) => out.push(format!(
                    "package {name} ({arch}) {}: in the lock, but not chosen at its pins",
                    m.version
                )),
                (None, Some(t)) => out.push(format!(
                    "package {name} ({arch}) {}: chosen at the lock's pins, missing from the lock",
                    t.version
                )),
                (None, None) => {}
            }
        }
        let (mine, theirs) = (sets(self), sets(fresh));
        let empty = BTreeMap::new();
        let names: BTreeSet<&String> = mine.keys().chain(theirs.keys()).collect();
        for what in names {
            let m = mine.get(what).copied().unwrap_or(&empty);
            let t = theirs.get(what).copied().unwrap_or(&empty);
            let archs: BTreeSet<&String> = m.keys().chain(t.keys()).collect();
            for arch in archs {
                let a: BTreeSet<&String> = m.get(arch).into_iter().flatten().collect();
                let b: BTreeSet<&String> = t.get(arch).into_iter().flatten().collect();
                for extra in a.difference(&b) {
                    out.push(format!(
                        "{what} ({arch}): the lock adds {extra}, which the resolver does not choose"
                    ));
                }
                for missing in b.difference(&a) {
                    out.push(format!(
                        "{what} ({arch}): the lock lacks {missing}, which the resolver chooses"
                    ));
                }
            }
        }
        let artifacts = |l: &'_ Lock| -> BTreeMap<(String, String), String> {
            l.artifacts
                .iter()
                .map(|a| {
                    let key = (a.name.clone(), a.architecture.clone());
                    (
                        key,
                        format!("{} {} {} {}", a.version, a.url, a.size, a.sha256),
                    )
                })
                .collect()
        };
        let (mine, theirs) = (artifacts(self), artifacts(fresh));
        let keys: BTreeSet<&(String, String)> = mine.keys().chain(theirs.keys()).collect();
        for key @ (name, arch) in keys {
            let (m, t) = (mine.get(key), theirs.get(key));
            if m != t {
                let show = |v: Option<&String>| v.map_or("nothing".to_owned(), |v| v.clone());
                out.push(format!(
                    "artifact {name} ({arch}): the lock says {}, the resolution {}",
                    show(m),
                    show(t)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use distill_debian::Sha256;

    use crate::{Lock, LockedPackage};

    fn lock(pkgs: &[(&str, &str)], image: &[&str]) -> Lock {
        Lock {
            version: 1,
            distro: "d".into(),
            archives: Default::default(),
            suites: vec![],
            packages: pkgs
                .iter()
                .map(|(n, sha)| LockedPackage {
                    name: (*n).into(),
                    version: "1".into(),
                    architecture: "amd64".into(),
                    archive: "debian".into(),
                    suite: "s".into(),
                    filename: format!("pool/{n}.deb"),
                    size: 1,
                    sha256: Sha256::parse(&sha.repeat(32)).unwrap(),
                    for_architectures: None,
                })
                .collect(),
            images: [(
                "base".to_owned(),
                [(
                    "amd64".to_owned(),
                    image.iter().map(|s| s.to_string()).collect(),
                )]
                .into(),
            )]
            .into(),
            debug: Default::default(),
            build: Default::default(),
            artifacts: vec![],
        }
    }

    #[test]
    fn each_difference_is_named() {
        let fresh = lock(&[("libc6", "00"), ("zlib", "00")], &["libc6", "zlib"]);
        assert!(fresh.discrepancies(&fresh).is_empty());
        let edited = lock(&[("libc6", "11"), ("zlib", "00")], &["libc6", "zlib"]);
        assert_eq!(
            edited.discrepancies(&fresh),
            [format!(
                "package libc6 (amd64): the lock says sha256 {}, the signed index {}",
                "11".repeat(32),
                "00".repeat(32)
            )]
        );
        let added = lock(
            &[("evil", "22"), ("libc6", "00"), ("zlib", "00")],
            &["evil", "libc6", "zlib"],
        );
        assert_eq!(
            added.discrepancies(&fresh),
            [
                "package evil (amd64) 1: in the lock, but not chosen at its pins",
                "image base (amd64): the lock adds evil, which the resolver does not choose",
            ]
        );
        let removed = lock(&[("libc6", "00")], &["libc6"]);
        assert_eq!(
            removed.discrepancies(&fresh),
            [
                "package zlib (amd64) 1: chosen at the lock's pins, missing from the lock",
                "image base (amd64): the lock lacks zlib, which the resolver chooses",
            ]
        );
    }
}
