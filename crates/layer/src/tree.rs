//! The file tree an image's layers make together, and the two ways layers
//! can disagree that an image must not ship:
//! - an entry under a path another layer made a symlink (on merged /usr,
//!   a file at `lib/x` while `lib -> usr/lib`: unpacked, it would either
//!   replace the link or land somewhere else depending on the tool);
//! - two packages shipping one path differently (dpkg refuses that unless
//!   one `Replaces` the other; distroless sets have no such pairs).

use std::collections::BTreeMap;

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

/// Path → (the layer's name, the entry), after every layer so far.
#[derive(Debug, Default, Clone)]
pub struct Tree {
    pub entries: BTreeMap<String, (String, EntryInfo)>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Lays `entries` (of the layer called `name`) over the tree. With
    /// `overrides`, its files may replace earlier ones (the generated
    /// layers: distroless' os-release replaces base-files' one).
    pub fn add(
        &mut self,
        name: &str,
        entries: &[EntryInfo],
        overrides: bool,
    ) -> Result<(), TreeError> {
        for e in entries {
            self.check_ancestors(name, &e.path)?;
            if e.kind != "dir" {
                // Something already under this path needs it a directory.
                let prefix = format!("{}/", e.path);
                if let Some((p, (owner, _))) = self.entries.range(prefix.clone()..).next()
                    && p.starts_with(&prefix)
                {
                    return Err(under(owner, p, &e.path, name, &e.kind));
                }
            }
            if let Some((first, prev)) = self.entries.get(&e.path) {
                let both_dirs = prev.kind == "dir" && e.kind == "dir";
                if !both_dirs && !overrides && !same(prev, e) {
                    return Err(TreeError::Conflict {
                        path: e.path.clone(),
                        first: first.clone(),
                        second: name.to_owned(),
                    });
                }
                if both_dirs || !overrides {
                    // The first package's entry stays, as with dpkg.
                    continue;
                }
            }
            self.entries
                .insert(e.path.clone(), (name.to_owned(), e.clone()));
        }
        Ok(())
    }

    fn check_ancestors(&self, name: &str, path: &str) -> Result<(), TreeError> {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let ancestor = &path[..at + i];
            if let Some((owner, e)) = self.entries.get(ancestor)
                && e.kind != "dir"
            {
                return Err(under(name, path, ancestor, owner, &e.kind));
            }
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
        let mut t = Tree::new();
        t.add("base-files", &[e("lib", "symlink", Some("usr/lib"))], false)
            .unwrap();
        let err = t
            .add("libc6", &[e("lib/x", "file", None)], false)
            .unwrap_err();
        assert!(matches!(err, TreeError::UnderSymlink { ref link, .. } if link == "lib"));
        let mut t = Tree::new();
        t.add("a", &[e("lib/x/y", "file", None)], false).unwrap();
        let err = t
            .add("b", &[e("lib/x", "symlink", Some("z"))], false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot assemble the image: a ships lib/x/y under lib/x, a symlink from b"
        );
        let err = t
            .add("c", &[e("lib/x/y/z", "file", None)], false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot assemble the image: c ships lib/x/y/z under lib/x/y, a file from a"
        );
    }

    #[test]
    fn shared_dirs_fine_conflicting_files_not_unless_overriding() {
        let mut t = Tree::new();
        t.add(
            "a",
            &[e("usr", "dir", None), e("etc/x", "file", None)],
            false,
        )
        .unwrap();
        t.add(
            "b",
            &[e("usr", "dir", None), e("etc/x", "file", None)],
            false,
        )
        .unwrap();
        let mut other = e("etc/x", "file", None);
        other.sha256 = Some("11".into());
        let err = t.add("c", std::slice::from_ref(&other), false).unwrap_err();
        assert!(matches!(err, TreeError::Conflict { ref first, .. } if first == "a"));
        t.add("generated", &[other], true).unwrap();
        assert_eq!(t.entries["etc/x"].0, "generated");
    }
}
