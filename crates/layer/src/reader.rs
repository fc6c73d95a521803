//! Reading layers back (for `distill diff`): a layer blob's entries with
//! their metadata and content hashes, and the tree a stack of layers makes
//! when unpacked the OCI way (later entries win, `.wh.` whiteouts delete).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::LayerError;
use crate::path::normalize;
use crate::writer::{Compression, EntryInfo, HashRead, Layer};

/// The entries of the layer blob at `path` (`media_type` says how it is
/// compressed).
pub fn read_layer(path: &Path, media_type: &str) -> Result<Vec<EntryInfo>, LayerError> {
    let label = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| LayerError::Read {
        path: label.clone(),
        source,
    })?;
    let compression = if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        Some(Compression::Gzip)
    } else if media_type.ends_with("+zstd") {
        Some(Compression::Zstd)
    } else {
        None
    };
    let reader = decoder(compression, file).map_err(io_fail(&label))?;
    entries_of(reader, &label)
}

/// The tar inside a layer blob read from `blob`: every gzip member and
/// zstd frame to the end of the input (`None`: a plain tar).
fn decoder<'r>(
    compression: Option<Compression>,
    blob: impl Read + 'r,
) -> std::io::Result<Box<dyn Read + 'r>> {
    Ok(match compression {
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        Some(Compression::Zstd) => Box::new(zstd::stream::read::Decoder::new(blob)?),
        None => Box::new(blob),
    })
}

fn io_fail(label: &str) -> impl Fn(std::io::Error) -> LayerError + use<> {
    let label = label.to_owned();
    move |source| LayerError::Io {
        package: label.clone(),
        what: "tar".into(),
        source,
    }
}

/// The entries of the tar stream `reader`, read to its end.
fn entries_of(reader: impl Read, label: &str) -> Result<Vec<EntryInfo>, LayerError> {
    let fail = io_fail(label);
    let mut out = Vec::new();
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(&fail)? {
        let mut entry = entry.map_err(&fail)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalize(&raw).map_err(|source| LayerError::Path {
            package: label.to_owned(),
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
                std::io::copy(&mut entry, &mut hash).map_err(&fail)?;
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
    // The end-of-archive blocks (and any padding after) are part of the
    // tar the diff_id is the hash of.
    std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(&fail)?;
    Ok(out)
}

/// Checks the layer blob at `path` against its record, every byte of it:
/// a regular file (not a symlink) of the recorded size and digest, whose
/// tar has the recorded diff_id and exactly the recorded entries (paths,
/// kinds, modes, owners, sizes, link targets, content hashes). `Err`
/// says what differs.
pub fn verify_layer(path: &Path, layer: &Layer) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() != layer.size {
        return Err(format!(
            "{} bytes, the record says {}",
            meta.len(),
            layer.size
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut blob = HashRead::new(file);
    let (entries, diff_id) = {
        let tar = decoder(Some(layer.compression), &mut blob).map_err(|e| e.to_string())?;
        let mut tar = HashRead::new(tar);
        let entries = entries_of(&mut tar, "layer").map_err(|e| e.to_string())?;
        (entries, tar.into_parts().1)
    };
    // Whatever the decoder left unread is part of the blob too.
    std::io::copy(&mut blob, &mut std::io::sink()).map_err(|e| e.to_string())?;
    let (_, digest, len) = blob.into_parts();
    if format!("sha256:{digest}") != layer.digest || len != layer.size {
        return Err(format!(
            "its content is sha256:{digest} ({len} bytes), the record says {}",
            layer.digest
        ));
    }
    if format!("sha256:{diff_id}") != layer.diff_id {
        return Err(format!(
            "its tar is sha256:{diff_id}, the record says {}",
            layer.diff_id
        ));
    }
    let strip = |e: &EntryInfo| EntryInfo {
        soname: None,
        ..e.clone()
    };
    let first_difference = entries
        .iter()
        .zip(&layer.entries)
        .position(|(a, b)| *a != strip(b))
        .or((entries.len() != layer.entries.len()).then(|| entries.len().min(layer.entries.len())));
    if let Some(at) = first_difference {
        return Err(format!("its entries differ from the record at entry {at}"));
    }
    Ok(())
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

    /// A layer verifies against its own record, in both compressions;
    /// a flipped byte, a truncated blob, a symlink in its place, an edited
    /// diff_id or entry in the record each fail, saying what differs.
    #[test]
    fn a_layer_verifies_against_its_record_and_any_change_fails() {
        for compression in [Compression::Gzip, Compression::Zstd] {
            let d = tempfile::tempdir().unwrap();
            let mut w = LayerWriter::new(d.path(), 0, compression).unwrap();
            let e = |path: &str, kind| Entry {
                path: path.into(),
                kind,
                mode: 0o644,
                owner: Owner::root(),
                mtime: 0,
                soname: Some("x.so".into()),
            };
            w.add(e("etc", Kind::Dir), std::io::empty()).unwrap();
            let body = vec![7u8; 100_000];
            w.add(e("etc/a", Kind::File { size: 100_000 }), &body[..])
                .unwrap();
            let layer = w.finish().unwrap();
            let blob = d.path().join(layer.hex());
            verify_layer(&blob, &layer).unwrap();

            let mut edited = layer.clone();
            edited.diff_id = format!("sha256:{}", "0".repeat(64));
            assert!(
                verify_layer(&blob, &edited)
                    .unwrap_err()
                    .contains("its tar is")
            );
            let mut edited = layer.clone();
            edited.entries[1].mode = 0o4755;
            assert!(
                verify_layer(&blob, &edited)
                    .unwrap_err()
                    .contains("entry 1")
            );

            let bytes = std::fs::read(&blob).unwrap();
            let copy = d.path().join("copy");
            let mut flipped = bytes.clone();
            let at = flipped.len() / 2;
            flipped[at] ^= 1;
            std::fs::write(&copy, &flipped).unwrap();
            assert!(
                verify_layer(&copy, &layer).is_err(),
                "{compression:?} flipped"
            );
            std::fs::write(&copy, &bytes[..bytes.len() - 1]).unwrap();
            let e = verify_layer(&copy, &layer).unwrap_err();
            assert!(e.contains("the record says"), "{e}");
            std::fs::remove_file(&copy).unwrap();
            std::os::unix::fs::symlink(&blob, &copy).unwrap();
            assert_eq!(
                verify_layer(&copy, &layer).unwrap_err(),
                "not a regular file"
            );
        }
    }
}
