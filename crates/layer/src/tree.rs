//! The file tree an image's layers make together, and the two ways layers
//! can disagree that an image must not ship:
//! - an entry under a path another layer made a symlink (on merged /usr,
//!   a file at `lib/x` while `lib -> usr/lib`: unpacked, it would either
//!   replace the link or land somewhere else depending on the tool);
//! - two packages shipping one path differently (dpkg refuses that unless
//!   one `Replaces` the other; distroless sets have no such pairs).

use std::collections::HashMap;

use crate::writer::EntryInfo;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    #[error(
        "cannot assemble the image: {package} ships {path} under {link}, a symlink from {link_package}"
    )]
    UnderSymlink {
        package: String,
        path: String,
        link: String,
        link_package: String,
    },
    #[error(
        "cannot assemble the image: {package} ships {path} under {parent}, a file from {parent_package}"
    )]
    UnderFile {
        package: String,
        path: String,
        parent: String,
        parent_package: String,
    },
    #[error("cannot assemble the image: {path} is shipped differently by {first} and {second}")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
}

/// Path → (the layer's name, the entry), after every layer so far;
/// borrowed from the layers, so laying one over costs no copies. Hash
/// maps, not a sorted map: a warm build checks tens of stacks of
/// thousands of paths, and only looks paths up.
#[derive(Debug, Default, Clone)]
pub struct Tree<'a> {
    entries: Map<&'a str, (&'a str, &'a EntryInfo)>,
    /// Each directory something was laid beneath → (that first path, its
    /// layer): what a file or symlink laid at the directory would hide.
    beneath: Map<&'a str, (&'a str, &'a str)>,
}

/// Fixed hashing: lookups only, never iterated into output.
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

impl<'a> Tree<'a> {
    pub fn new() -> Tree<'a> {
        Tree::default()
    }

    /// Lays `entries` (of the layer called `name`) over the tree. With
    /// `overrides`, its files may replace earlier ones (the generated
    /// layers: distroless' os-release replaces base-files' one).
    pub fn add(
        &mut self,
        name: &'a str,
        entries: &'a [EntryInfo],
        overrides: bool,
    ) -> Result<(), TreeError> {
        for e in entries {
            self.check_ancestors(name, &e.path)?;
            if e.kind != "dir"
                && let Some((p, owner)) = self.beneath.get(e.path.as_str())
            {
                // Something already under this path needs it a directory.
                return Err(under(owner, p, &e.path, name, &e.kind));
            }
            if let Some((first, prev)) = self.entries.get(e.path.as_str()) {
                let both_dirs = prev.kind == "dir" && e.kind == "dir";
                if !both_dirs && !overrides && !same(prev, e) {
                    return Err(TreeError::Conflict {
                        path: e.path.clone(),
                        first: (*first).to_owned(),
                        second: name.to_owned(),
                    });
                }
                if both_dirs || !overrides {
                    // The first package's entry stays, as with dpkg.
                    continue;
                }
            }
            self.entries.insert(&e.path, (name, e));
        }
        Ok(())
    }

    /// The entry at `path`, and the layer it is from.
    pub fn get(&self, path: &str) -> Option<(&'a str, &'a EntryInfo)> {
        self.entries.get(path).copied()
    }

    /// The entries directly in directory `dir` (no trailing `/`), by name.
    pub fn list(&self, dir: &str) -> Vec<(&'a str, &'a EntryInfo)> {
        let mut out: Vec<(&'a str, &'a EntryInfo)> = self
            .entries
            .iter()
            .filter_map(|(path, (_, e))| {
                let name = path.strip_prefix(dir)?.strip_prefix('/')?;
                (!name.contains('/')).then_some((name, *e))
            })
            .collect();
        out.sort_unstable_by_key(|(name, _)| *name);
        out
    }

    /// Refuses `path` under a file or symlink of the tree, and records it
    /// beneath each of its directories.
    fn check_ancestors(&mut self, name: &'a str, path: &'a str) -> Result<(), TreeError> {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let ancestor = &path[..at + i];
            if let Some((owner, e)) = self.entries.get(ancestor)
                && e.kind != "dir"
            {
                return Err(under(name, path, ancestor, owner, &e.kind));
            }
            self.beneath.entry(ancestor).or_insert((path, name));
            at += i + 1;
        }
        Ok(())
    }
}

/// `package` ships `path` beneath `parent`, which `parent_package` made a
/// symlink or a file.
fn under(package: &str, path: &str, parent: &str, parent_package: &str, kind: &str) -> TreeError {
    let (package, path, parent, parent_package) = (
        package.to_owned(),
        path.to_owned(),
        parent.to_owned(),
        parent_package.to_owned(),
    );
    if kind == "symlink" {
        TreeError::UnderSymlink {
            package,
            path,
            link: parent,
            link_package: parent_package,
        }
    } else {
        TreeError::UnderFile {
            package,
            path,
            parent,
            parent_package,
        }
    }
}

fn same(a: &EntryInfo, b: &EntryInfo) -> bool {
    (&a.kind, a.mode, a.uid, a.gid, &a.target, &a.sha256)
        == (&b.kind, b.mode, b.uid, b.gid, &b.target, &b.sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: &str, target: Option<&str>) -> EntryInfo {
        EntryInfo {
            path: path.into(),
            kind: kind.into(),
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            target: target.map(Into::into),
            sha256: (kind == "file").then(|| "00".into()),
            soname: None,
        }
    }

    #[test]
    fn refuses_files_under_symlinks_in_either_order() {
        let link = [e("lib", "symlink", Some("usr/lib"))];
        let file = [e("lib/x", "file", None)];
        let mut t = Tree::new();
        t.add("base-files", &link, false).unwrap();
        let err = t.add("libc6", &file, false).unwrap_err();
        assert!(matches!(err, TreeError::UnderSymlink { ref link, .. } if link == "lib"));

        let deep = [e("lib/x/y", "file", None)];
        let link = [e("lib/x", "symlink", Some("z"))];
        let deeper = [e("lib/x/y/z", "file", None)];
        let mut t = Tree::new();
        t.add("a", &deep, false).unwrap();
        let err = t.add("b", &link, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot assemble the image: a ships lib/x/y under lib/x, a symlink from b"
        );
        let err = t.add("c", &deeper, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot assemble the image: c ships lib/x/y/z under lib/x/y, a file from a"
        );
    }

    /// `lib/x` in the tree, then `lib/x-1` and `lib/x.d` (which sort
    /// between `lib/x` and `lib/x/`) do not hide `lib/x/y` from the check.
    #[test]
    fn finds_children_past_siblings_that_sort_between() {
        let below = [
            e("lib/x-1", "file", None),
            e("lib/x.d", "file", None),
            e("lib/x/y", "file", None),
        ];
        let file = [e("lib/x", "file", None)];
        let mut t = Tree::new();
        t.add("a", &below, false).unwrap();
        let err = t.add("b", &file, false).unwrap_err();
        assert!(matches!(err, TreeError::UnderFile { ref path, .. } if path == "lib/x/y"));
    }

    #[test]
    fn shared_dirs_fine_conflicting_files_not_unless_overriding() {
        let a = [e("usr", "dir", None), e("etc/x", "file", None)];
        let mut other = e("etc/x", "file", None);
        other.sha256 = Some("11".into());
        let other = [other];
        let mut t = Tree::new();
        t.add("a", &a, false).unwrap();
        t.add("b", &a, false).unwrap();
        let err = t.add("c", &other, false).unwrap_err();
        assert!(matches!(err, TreeError::Conflict { ref first, .. } if first == "a"));
        t.add("generated", &other, true).unwrap();
        assert_eq!(t.get("etc/x").unwrap().0, "generated");
    }
}
