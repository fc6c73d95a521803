//! Layers distill makes itself: the image skeleton (directories, accounts,
//! os-release, the CA bundle), per-image symlinks, busybox for debug tags.
//! Entries are written sorted by path, every missing parent directory added
//! (0755 root), so the bytes depend only on what is asked for.

use std::collections::BTreeMap;
use std::path::Path;

use crate::LayerError;
use crate::path::normalize;
use crate::writer::{Compression, Entry, Kind, Layer, LayerWriter, Owner};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir {
        mode: u32,
        owner: Owner,
    },
    File {
        mode: u32,
        owner: Owner,
        bytes: Vec<u8>,
    },
    Symlink(String),
}

/// A generated layer being put together.
#[derive(Debug, Default, Clone)]
pub struct Generated {
    nodes: BTreeMap<String, Node>,
}

impl Generated {
    pub fn new() -> Generated {
        Generated::default()
    }

    /// Adds `node` at `path` (`/etc/passwd` or `etc/passwd`); a later
    /// node at the same path replaces the earlier one.
    pub fn add(&mut self, path: &str, node: Node) -> Result<(), LayerError> {
        let p = normalize(path.trim_start_matches('/')).map_err(|e| LayerError::Entry {
            package: "(generated)".into(),
            path: path.to_owned(),
            cause: e.to_string(),
        })?;
        self.nodes.insert(p, node);
        Ok(())
    }

    pub fn file(
        &mut self,
        path: &str,
        mode: u32,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<(), LayerError> {
        self.add(
            path,
            Node::File {
                mode,
                owner: Owner::root(),
                bytes: bytes.into(),
            },
        )
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Writes the layer into `dir`.
    pub fn write(
        &self,
        dir: &Path,
        epoch: u64,
        compression: Compression,
    ) -> Result<Layer, LayerError> {
        let mut nodes = self.nodes.clone();
        for path in self.nodes.keys() {
            let mut at = 0;
            while let Some(i) = path[at..].find('/') {
                let parent = &path[..at + i];
                nodes.entry(parent.to_owned()).or_insert(Node::Dir {
                    mode: 0o755,
                    owner: Owner::root(),
                });
                at += i + 1;
            }
        }
        let mut w = LayerWriter::new(dir, epoch, compression)?;
        for (path, node) in nodes {
            let (kind, mode, owner, bytes): (Kind, u32, Owner, &[u8]) = match &node {
                Node::Dir { mode, owner } => (Kind::Dir, *mode, owner.clone(), &[]),
                Node::File { mode, owner, bytes } => (
                    Kind::File {
                        size: bytes.len() as u64,
                    },
                    *mode,
                    owner.clone(),
                    bytes,
                ),
                Node::Symlink(t) => (Kind::Symlink(t.clone()), 0o777, Owner::root(), &[]),
            };
            let entry = Entry {
                path: path.clone(),
                kind,
                mode,
                owner,
                mtime: epoch,
                soname: None,
            };
            w.add(entry, bytes).map_err(|cause| LayerError::Entry {
                package: "(generated)".into(),
                path,
                cause,
            })?;
        }
        w.finish()
    }
}

/// `/etc/ssl/certs/ca-certificates.crt` as `update-ca-certificates` makes
/// it from the package alone: every `usr/share/ca-certificates/**.crt`,
/// in sorted path order, concatenated (each ending in a newline).
pub fn ca_bundle(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut certs: Vec<&(String, Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| p.starts_with("usr/share/ca-certificates/") && p.ends_with(".crt"))
        .collect();
    certs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (_, pem) in certs {
        out.extend_from_slice(pem);
        if !pem.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// The applet names compiled into a busybox binary, read from its
/// `applet_names` table (NUL-separated, sorted, starting `[`, `[[`), so
/// no foreign-architecture code has to run to list them. The table is
/// found as the first `[`, `[[` followed by a sorted run of names that
/// includes `sh`.
pub fn busybox_applets(binary: &[u8]) -> Result<Vec<String>, String> {
    let marker = b"[\0[[\0";
    let mut from = 0;
    while let Some(i) = binary[from..]
        .windows(marker.len())
        .position(|w| w == marker)
    {
        let start = from + i;
        let names = names_at(&binary[start..]);
        if names.len() >= 10 && names.iter().any(|n| n == "sh") {
            return Ok(names);
        }
        from = start + 1;
    }
    Err("no applet table (`[`, `[[`, ..., `sh`, ...) in the busybox binary".into())
}

/// The sorted run of NUL-terminated applet names at the start of `bytes`.
fn names_at(bytes: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for raw in bytes.split(|&b| b == 0) {
        let valid = !raw.is_empty()
            && raw
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"[-_.".contains(&b));
        if !valid {
            break;
        }
        let name = String::from_utf8_lossy(raw).into_owned();
        if names.last().is_some_and(|prev| *prev >= name) {
            break;
        }
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applets_from_a_table() {
        // A decoy `[`, `[[` first, and no NUL before the real table.
        let mut bin = b"\x7fELF [\0[[\0x\0\xa0 ".to_vec();
        let names = [
            "[", "[[", "ash", "cat", "echo", "ls", "mkdir", "sh", "sleep", "test", "true",
        ];
        for n in names {
            bin.extend_from_slice(n.as_bytes());
            bin.push(0);
        }
        bin.extend_from_slice(b"\0\x01\x02");
        assert_eq!(busybox_applets(&bin).unwrap(), names);
        assert!(busybox_applets(b"no table").is_err());
    }

    #[test]
    fn bundle_is_sorted_concatenation() {
        let files = vec![
            (
                "usr/share/ca-certificates/mozilla/B.crt".to_owned(),
                b"B".to_vec(),
            ),
            (
                "usr/share/ca-certificates/mozilla/A.crt".to_owned(),
                b"A\n".to_vec(),
            ),
            (
                "usr/share/doc/ca-certificates/copyright".to_owned(),
                b"c".to_vec(),
            ),
        ];
        assert_eq!(ca_bundle(&files), b"A\nB\n");
    }

    #[test]
    fn parents_added_sorted() {
        let d = tempfile::tempdir().unwrap();
        let mut g = Generated::new();
        g.file("/etc/ssl/certs/x", 0o444, "x").unwrap();
        g.add(
            "/",
            Node::Dir {
                mode: 0o755,
                owner: Owner::root(),
            },
        )
        .unwrap();
        let l = g.write(d.path(), 0, Compression::Gzip).unwrap();
        let paths: Vec<&str> = l.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["", "etc", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/x"]
        );
        assert!(g.add("/../x", Node::Symlink("y".into())).is_err());
    }
}
