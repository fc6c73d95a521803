//! An upstream release tarball (Node's `node-v…-linux-x64.tar.gz`, an npm
//! package's `.tgz`) into a layer: a leading directory stripped, only the
//! kept paths, placed under a destination directory. Owners are 0:0 (an
//! upstream tarball's ids mean nothing in the image), modes are kept,
//! mtimes clamped like a package's. The same refusals as for packages:
//! `..`, absolute paths, device nodes, and symlinks that point out of the
//! destination.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::path::normalize;
use crate::writer::{Compression, Entry, Kind, Layer, LayerWriter, Owner};
use crate::{LayerError, io_err, path_err};

/// How an upstream tarball becomes a layer.
#[derive(Debug, Clone)]
pub struct TarballOptions {
    /// The leading directory every entry is under (`node-v24.1.0-linux-x64`,
    /// `package`); stripped. An entry outside it is refused.
    pub strip: String,
    /// Paths after stripping to keep (`bin/node`, `LICENSE`); a directory
    /// keeps everything below it. Nothing else is written.
    pub keep: Vec<String>,
    /// Where the kept paths go in the image (`/nodejs`).
    pub dest: String,
    pub epoch: u64,
    pub compression: Compression,
}

/// Reads the tarball at `path` (its hash already checked by the caller;
/// gzip, xz or zstd, told by its first bytes) and writes the layer into
/// `out_dir`. `label` names the artifact in errors. Every `keep` path must
/// be found.
///
/// Long on purpose: one pass over the tar, each entry checked (path,
/// kind, link target, under the stripped prefix, kept) and written
/// before the next is read; the checks need the entry in hand.
pub fn layer_from_tarball(
    path: &Path,
    label: &str,
    opts: &TarballOptions,
    out_dir: &Path,
) -> Result<Layer, LayerError> {
    let fail = |cause: String| LayerError::Deb {
        package: label.to_owned(),
        cause,
    };
    let bad = |path: &str, cause: String| LayerError::Entry {
        package: label.to_owned(),
        path: path.to_owned(),
        cause,
    };
    let io = |what: &str| io_err(label, what);
    let unplaceable = |path: &str| path_err(label, path);
    let shown = path.display().to_string();
    let file = File::open(path).map_err(io(&shown))?;
    let mut file = BufReader::new(file);
    let mut magic = [0u8; 6];
    let n = file.read(&mut magic).map_err(io(&shown))?;
    let head = std::io::Cursor::new(magic[..n].to_vec()).chain(file);
    let reader: Box<dyn Read> = match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(head)),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00] => Box::new(xz2::read::XzDecoder::new(head)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => {
            Box::new(zstd::stream::read::Decoder::new(head).map_err(io("zstd"))?)
        }
        _ => return Err(fail("not a gzip, xz or zstd compressed tar".into())),
    };
    // The destination is an image path: `/nodejs` and `nodejs` are one.
    let dest = normalize(opts.dest.trim_start_matches('/')).map_err(unplaceable(&opts.dest))?;
    let strip = normalize(&opts.strip).map_err(unplaceable(&opts.strip))?;
    // A keep path covers itself and everything below it.
    let covers = |k: &str, p: &str| p == k || p.strip_prefix(k).is_some_and(|r| r.starts_with('/'));
    let kept = |p: &str| opts.keep.iter().any(|k| covers(k, p));
    let place = |p: &str| -> String {
        [dest.as_str(), p]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/")
    };
    let dir = |path: String| Entry {
        path,
        kind: Kind::Dir,
        mode: 0o755,
        owner: Owner::root(),
        mtime: opts.epoch,
        soname: None,
    };

    let mut w = LayerWriter::new(out_dir, opts.epoch, opts.compression)?;
    let mut found = vec![false; opts.keep.len()];
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(io("tar"))? {
        let entry = entry.map_err(io("tar"))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalize(&raw).map_err(unplaceable(&raw))?;
        let rel = if path == strip {
            ""
        } else {
            match path.strip_prefix(&format!("{strip}/")) {
                Some(rel) => rel,
                None if strip.is_empty() => path.as_str(),
                None => return Err(bad(&raw, format!("not under {strip}/"))),
            }
        };
        let header = entry.header();
        if matches!(
            header.entry_type(),
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        let kind = match Kind::of_tar_entry(&entry, |cause| bad(&raw, cause))? {
            Kind::Symlink(target) => {
                if !stays_inside(rel, &target) {
                    return Err(bad(
                        &raw,
                        format!("symlink to {target} points out of /{dest}"),
                    ));
                }
                Kind::Symlink(target)
            }
            Kind::Hardlink(target) => {
                let target = normalize(&target).map_err(unplaceable(&raw))?;
                let target = target
                    .strip_prefix(&format!("{strip}/"))
                    .filter(|t| kept(t))
                    .ok_or_else(|| {
                        bad(&raw, format!("hard link to {target}, which is not kept"))
                    })?;
                Kind::Hardlink(place(target))
            }
            kind => kind,
        };
        if rel.is_empty() || !kept(rel) {
            continue;
        }
        for (i, k) in opts.keep.iter().enumerate() {
            found[i] |= covers(k, rel);
        }
        // Parents first: the destination and the directories above a kept
        // path that the tarball does not list itself.
        let at = place(rel);
        for (end, _) in at.match_indices('/') {
            let parent = &at[..end];
            if !w.contains(parent) {
                w.add(dir(parent.to_owned()), std::io::empty())
                    .map_err(|c| bad(parent, c))?;
            }
        }
        if kind == Kind::Dir && w.contains(&at) {
            continue;
        }
        let e = Entry {
            path: at.clone(),
            kind,
            mode: header.mode().map_err(io(&raw))?,
            owner: Owner::root(),
            mtime: header.mtime().map_err(io(&raw))?,
            soname: None,
        };
        w.add(e, entry).map_err(|c| bad(&at, c))?;
    }
    if let Some((k, _)) = opts.keep.iter().zip(&found).find(|(_, f)| !**f) {
        return Err(fail(format!("it has no {strip}/{k}")));
    }
    w.finish()
}

/// Does a symlink at `link` (relative to the destination) with `target`
/// stay inside the destination? Absolute targets never do.
fn stays_inside(link: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth: Vec<&str> = link.split('/').collect();
    depth.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            p => depth.push(p),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gzip tarball of (path, kind, mode, data or target).
    fn tarball(entries: &[(&str, char, u32, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, kind, mode, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(*mode);
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mtime(4_000_000_000);
            match kind {
                'd' => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, path, std::io::empty()).unwrap();
                }
                'f' => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, data.as_bytes()).unwrap();
                }
                'l' => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, data).unwrap();
                }
                'c' => {
                    h.set_entry_type(tar::EntryType::Char);
                    h.set_size(0);
                    b.append_data(&mut h, path, std::io::empty()).unwrap();
                }
                _ => unreachable!(),
            }
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    const NODE: &[(&str, char, u32, &str)] = &[
        ("node-v24.1.0-linux-x64/", 'd', 0o755, ""),
        ("node-v24.1.0-linux-x64/bin/", 'd', 0o755, ""),
        ("node-v24.1.0-linux-x64/bin/node", 'f', 0o755, "ELF node"),
        (
            "node-v24.1.0-linux-x64/bin/npm",
            'l',
            0o777,
            "../lib/node_modules/npm/bin/npm-cli.js",
        ),
        ("node-v24.1.0-linux-x64/include/node/v8.h", 'f', 0o644, "//"),
        ("node-v24.1.0-linux-x64/LICENSE", 'f', 0o644, "MIT"),
    ];

    fn opts() -> TarballOptions {
        TarballOptions {
            strip: "node-v24.1.0-linux-x64".into(),
            keep: vec!["bin/node".into(), "LICENSE".into()],
            dest: "/nodejs".into(),
            epoch: 1_700_000_000,
            compression: Compression::Gzip,
        }
    }

    fn layer(entries: &[(&str, char, u32, &str)], o: &TarballOptions) -> Result<Layer, String> {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("t.tar.gz");
        std::fs::write(&src, tarball(entries)).unwrap();
        layer_from_tarball(&src, "node 24.1.0", o, &dir.path().join("out")).map_err(|e| {
            let mut s = e.to_string();
            if let Some(c) = std::error::Error::source(&e) {
                s += &format!(": {c}");
            }
            s
        })
    }

    #[test]
    fn keeps_only_what_is_asked_under_the_destination() {
        let l = layer(NODE, &opts()).unwrap();
        let got: Vec<(&str, &str, u32, u64, u64)> = l
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind.as_str(), e.mode, e.uid, e.gid))
            .collect();
        assert_eq!(
            got,
            [
                ("nodejs", "dir", 0o755, 0, 0),
                ("nodejs/bin", "dir", 0o755, 0, 0),
                ("nodejs/bin/node", "file", 0o755, 0, 0),
                ("nodejs/LICENSE", "file", 0o644, 0, 0),
            ]
        );
        // The same tarball gives the same layer.
        assert_eq!(layer(NODE, &opts()).unwrap().digest, l.digest);
    }

    #[test]
    fn refusals_name_the_path() {
        let with = |extra: (&'static str, char, u32, &'static str)| {
            let mut e = NODE.to_vec();
            e.push(extra);
            let mut o = opts();
            o.keep.push("bin".into());
            layer(&e, &o).unwrap_err()
        };
        let e = with((
            "node-v24.1.0-linux-x64/bin/x",
            'l',
            0o777,
            "../../../etc/passwd",
        ));
        assert!(
            e.contains("bin/x") && e.contains("points out of /nodejs"),
            "{e}"
        );
        let e = with(("node-v24.1.0-linux-x64/bin/y", 'l', 0o777, "/etc/passwd"));
        assert!(e.contains("points out of"), "{e}");
        let e = with(("node-v24.1.0-linux-x64/bin/tty", 'c', 0o644, ""));
        assert!(e.contains("device node"), "{e}");
        let e = with(("elsewhere/bin/node", 'f', 0o755, "x"));
        assert!(e.contains("not under node-v24.1.0-linux-x64/"), "{e}");
        // A kept path the tarball lacks.
        let mut o = opts();
        o.keep.push("bin/corepack".into());
        let e = layer(NODE, &o).unwrap_err();
        assert!(
            e.contains("it has no node-v24.1.0-linux-x64/bin/corepack"),
            "{e}"
        );
        // Not a compressed tar at all.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), b"plain").unwrap();
        let e = layer_from_tarball(&dir.path().join("x"), "n", &opts(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a gzip, xz or zstd compressed tar"), "{e}");
        // A symlink that stays inside is fine.
        assert!(stays_inside("bin/npm", "../lib/npm-cli.js"));
        assert!(!stays_inside("npm", "../x"));
    }
}
