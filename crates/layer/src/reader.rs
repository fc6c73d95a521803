//! Reading layers back (for `distill diff`): a layer blob's entries with
//! their metadata and content hashes, and the tree a stack of layers makes
//! when unpacked the OCI way (later entries win, `.wh.` whiteouts delete).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::LayerError;
use crate::path::normalize;
use crate::writer::EntryInfo;

/// The entries of the layer blob at `path` (`media_type` says how it is
/// compressed).
pub fn read_layer(path: &Path, media_type: &str) -> Result<Vec<EntryInfo>, LayerError> {
    let label = path.display().to_string();
    let fail = |source| LayerError::Io {
        package: label.clone(),
        what: "tar".into(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| LayerError::Read {
        path: label.clone(),
        source,
    })?;
    let reader: Box<dyn Read> = if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if media_type.ends_with("+zstd") {
        Box::new(zstd::stream::read::Decoder::new(file).map_err(fail)?)
    } else {
        Box::new(file)
    };
    let mut out = Vec::new();
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalize(&raw).map_err(|source| LayerError::Path {
            package: label.clone(),
            path: raw.clone(),
            source,
        })?;
        let h = entry.header().clone();
        let target = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let (kind, sha256) = match h.entry_type() {
            tar::EntryType::Directory => ("dir", None),
            tar::EntryType::Symlink => ("symlink", None),
            tar::EntryType::Link => ("hardlink", None),
            _ => {
                let mut hash = Sha256::new();
                std::io::copy(&mut entry, &mut hash).map_err(fail)?;
                ("file", Some(hex::encode(hash.finalize())))
            }
        };
        out.push(EntryInfo {
            path,
            kind: kind.to_owned(),
            mode: h.mode().unwrap_or(0) & 0o7777,
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            size: if kind == "file" {
                h.size().unwrap_or(0)
            } else {
                0
            },
            target: if kind == "file" || kind == "dir" {
                None
            } else {
                target
            },
            sha256,
            soname: None,
        });
    }
    Ok(out)
}

/// The unpacked tree of layers applied in order.
pub fn overlay<'a>(
    layers: impl IntoIterator<Item = &'a [EntryInfo]>,
) -> BTreeMap<String, EntryInfo> {
    let mut tree: BTreeMap<String, EntryInfo> = BTreeMap::new();
    for entries in layers {
        for e in entries {
            let (dir, name) = e.path.rsplit_once('/').unwrap_or(("", &e.path));
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = if dir.is_empty() {
                    hidden.to_owned()
                } else {
                    format!("{dir}/{hidden}")
                };
                let prefix = format!("{gone}/");
                tree.retain(|p, _| *p != gone && !p.starts_with(&prefix));
                continue;
            }
            tree.insert(e.path.clone(), e.clone());
        }
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{Compression, Entry, Kind, LayerWriter, Owner};

    #[test]
    fn reads_back_what_was_written_and_overlays() {
        let d = tempfile::tempdir().unwrap();
        let mut w = LayerWriter::new(d.path(), 0, Compression::Zstd).unwrap();
        let e = |path: &str, kind| Entry {
            path: path.into(),
            kind,
            mode: 0o644,
            owner: Owner::root(),
            mtime: 0,
            soname: None,
        };
        w.add(e("etc", Kind::Dir), std::io::empty()).unwrap();
        w.add(e("etc/a", Kind::File { size: 2 }), &b"hi"[..])
            .unwrap();
        w.add(e("etc/l", Kind::Symlink("a".into())), std::io::empty())
            .unwrap();
        let layer = w.finish().unwrap();
        let read = read_layer(&d.path().join(layer.hex()), Compression::Zstd.media_type()).unwrap();
        assert_eq!(read, layer.entries);
        let mut wh = read[1].clone();
        wh.path = "etc/.wh.a".into();
        let tree = overlay([read.as_slice(), std::slice::from_ref(&wh)]);
        assert_eq!(tree.keys().collect::<Vec<_>>(), ["etc", "etc/l"]);
    }
}
