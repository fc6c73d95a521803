//! A directory of the build machine into a layer (`distill append
//! --dir`): every entry in sorted order, modes kept, one owner (0:0 unless
//! given), every mtime the given epoch, so the same tree gives the same digest on any
//! machine. Device nodes, sockets and fifos are refused.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use crate::LayerError;
use crate::writer::{Compression, Entry, Kind, Layer, LayerWriter, Owner};

/// Writes the tree under `root` (placed at `/` of the image) as a layer
/// into `out_dir`.
pub fn layer_from_dir(
    root: &Path,
    owner: &Owner,
    epoch: u64,
    compression: Compression,
    out_dir: &Path,
) -> Result<Layer, LayerError> {
    let label = root.display().to_string();
    let mut w = LayerWriter::new(out_dir, epoch, compression)?;
    add_dir(&mut w, root, "", &label, owner, epoch)?;
    w.finish()
}

/// Adds the entries of `root/rel`, sorted by name, each directory
/// followed by its contents (as tar lists them).
fn add_dir(
    w: &mut LayerWriter,
    root: &Path,
    rel: &str,
    label: &str,
    owner: &Owner,
    epoch: u64,
) -> Result<(), LayerError> {
    let mut names: Vec<String> = fs::read_dir(root.join(rel))
        .map_err(|e| read_err(label, rel, e))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| read_err(label, rel, e))?;
    names.sort();
    for name in names {
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let full = root.join(&path);
        let meta = fs::symlink_metadata(&full).map_err(|e| read_err(label, &path, e))?;
        let ft = meta.file_type();
        let mode = meta.permissions().mode() & 0o7777;
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let target = fs::read_link(&full).map_err(|e| read_err(label, &path, e))?;
            Kind::Symlink(target.to_string_lossy().into_owned())
        } else if ft.is_file() {
            Kind::File { size: meta.len() }
        } else {
            let what = if ft.is_block_device() || ft.is_char_device() {
                "a device node"
            } else {
                "a socket or fifo"
            };
            return Err(LayerError::Entry {
                package: label.to_owned(),
                path,
                cause: format!("{what} cannot go into a layer"),
            });
        };
        let entry = Entry {
            path: path.clone(),
            kind: kind.clone(),
            mode: if matches!(kind, Kind::Symlink(_)) {
                0o777
            } else {
                mode
            },
            owner: owner.clone(),
            mtime: epoch,
            soname: None,
        };
        let data: Box<dyn std::io::Read> = match kind {
            Kind::File { .. } => {
                Box::new(fs::File::open(&full).map_err(|e| read_err(label, &path, e))?)
            }
            _ => Box::new(std::io::empty()),
        };
        w.add(entry, data).map_err(|cause| LayerError::Entry {
            package: label.to_owned(),
            path: path.clone(),
            cause,
        })?;
        if ft.is_dir() {
            add_dir(w, root, &path, label, owner, epoch)?;
        }
    }
    Ok(())
}

/// `label/path` (the directory given, and an entry below it) could not
/// be read; the I/O error is kept as the cause.
fn read_err(label: &str, path: &str, source: std::io::Error) -> LayerError {
    LayerError::Read {
        path: match path {
            "" => label.to_owned(),
            p => Path::new(label).join(p).display().to_string(),
        },
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_tree_same_digest_whatever_the_times() {
        let src = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("app/bin")).unwrap();
        fs::write(src.path().join("app/bin/hello"), b"#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(
            src.path().join("app/bin/hello"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("bin/hello", src.path().join("app/run")).unwrap();
        let out = tempfile::tempdir().unwrap();
        let a = layer_from_dir(
            src.path(),
            &Owner::root(),
            1_700_000_000,
            Compression::Gzip,
            out.path(),
        )
        .unwrap();
        // Touch the files: nothing of the machine's times gets in.
        fs::write(src.path().join("app/bin/hello"), b"#!/bin/sh\necho hi\n").unwrap();
        let b = layer_from_dir(
            src.path(),
            &Owner::root(),
            1_700_000_000,
            Compression::Gzip,
            out.path(),
        )
        .unwrap();
        assert_eq!(a.digest, b.digest);
        let paths: Vec<&str> = a.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["app", "app/bin", "app/bin/hello", "app/run"]);
        let hello = &a.entries[2];
        assert_eq!((hello.mode, hello.uid, hello.gid), (0o755, 0, 0));
        let app = Owner::ids(65532, 65532, "", "");
        let c = layer_from_dir(
            src.path(),
            &app,
            1_700_000_000,
            Compression::Gzip,
            out.path(),
        )
        .unwrap();
        assert!(c.entries.iter().all(|e| (e.uid, e.gid) == (65532, 65532)));
    }
}
