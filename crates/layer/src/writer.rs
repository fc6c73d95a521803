//! The only producer of layer bytes.
//!
//! Every header is built from scratch (GNU format, long names through GNU
//! extensions): path, type, mode with its setuid/setgid/sticky bits,
//! numeric and named owner, size, link target and an mtime clamped to the
//! build epoch. Nothing of the build machine (umask, clock, user) can get
//! in. The tar stream is hashed on its way into the compressor (the
//! diff_id) and the compressed stream on its way to disk (the digest).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::LayerError;
use crate::pgzip::ParGzip;

/// How the blob is compressed. gzip is zlib-rs at level 6 in independent
/// chunks on every core ([`ParGzip`]), its bytes pinned by a test (the
/// version is pinned by Cargo.lock); zstd
/// output may change with the library, which is why the diff_id (of the
/// uncompressed tar) is the reproducibility key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File {
        size: u64,
    },
    Symlink(String),
    /// A hard link to an earlier entry of the same layer.
    Hardlink(String),
}

impl Kind {
    /// What a tar entry is as a layer entry, link targets as the archive
    /// spells them (the caller checks or rewrites them). Device nodes and
    /// other entry types are refused; `bad` makes the error for the entry.
    pub(crate) fn of_tar_entry<R: Read>(
        entry: &tar::Entry<'_, R>,
        bad: impl Fn(String) -> LayerError,
    ) -> Result<Kind, LayerError> {
        let link = || -> Result<String, LayerError> {
            let l = entry
                .link_name_bytes()
                .ok_or_else(|| bad("link without a target".into()))?;
            Ok(String::from_utf8_lossy(&l).into_owned())
        };
        Ok(match entry.header().entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                Kind::File { size: entry.size() }
            }
            tar::EntryType::Symlink => Kind::Symlink(link()?),
            tar::EntryType::Link => Kind::Hardlink(link()?),
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(bad(
                    "device node (images get theirs from the runtime)".into()
                ));
            }
            other => return Err(bad(format!("unsupported tar entry type {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub uid: u64,
    pub gid: u64,
    pub user: String,
    pub group: String,
}

impl Owner {
    pub fn root() -> Owner {
        Owner::ids(0, 0, "root", "root")
    }

    pub fn ids(uid: u64, gid: u64, user: &str, group: &str) -> Owner {
        Owner {
            uid,
            gid,
            user: user.to_owned(),
            group: group.to_owned(),
        }
    }
}

/// One entry to write; `path` is already normalised (see [`crate::normalize`]),
/// the empty path being the root directory.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub owner: Owner,
    pub mtime: u64,
    /// The SONAME, for a shared library (feeds ld.so.cache).
    pub soname: Option<String>,
}

/// What a layer holds, entry by entry: enough to check layers against each
/// other and to compare images without reading their blobs again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    pub path: String,
    /// `dir`, `file`, `symlink` or `hardlink`.
    pub kind: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soname: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A finished layer blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// `sha256:<hex>` of the compressed blob.
    pub digest: String,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    pub size: u64,
    pub compression: Compression,
    pub entries: Vec<EntryInfo>,
}

impl Layer {
    /// The blob's hex hash (its file name in a blob store).
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

struct Hashing<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hashing<W>(inner: W) -> Hashing<W> {
    Hashing {
        inner,
        hash: Sha256::new(),
        len: 0,
    }
}

enum Encoder {
    Gzip(ParGzip<Hashing<File>>),
    Zstd(zstd::stream::write::Encoder<'static, Hashing<File>>),
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

impl Encoder {
    fn finish(self) -> io::Result<Hashing<File>> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

/// Writes one layer into `<dir>/<hex digest>`.
pub struct LayerWriter {
    tar: tar::Builder<Hashing<Encoder>>,
    tmp: tempfile::TempPath,
    dir: PathBuf,
    epoch: u64,
    compression: Compression,
    seen: BTreeMap<String, usize>,
    entries: Vec<EntryInfo>,
}

fn write_err(path: &Path, e: std::io::Error) -> LayerError {
    LayerError::Write {
        path: path.display().to_string(),
        source: e,
    }
}

impl LayerWriter {
    /// A layer whose mtimes are clamped to `epoch` (seconds since 1970).
    pub fn new(
        dir: &Path,
        epoch: u64,
        compression: Compression,
    ) -> Result<LayerWriter, LayerError> {
        std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
        let (file, tmp) = tempfile::Builder::new()
            .prefix(&distill_store::temp_prefix("tmp"))
            .tempfile_in(dir)
            .map_err(|e| write_err(dir, e))?
            .into_parts();
        let out = hashing(file);
        let encoder = match compression {
            Compression::Gzip => Encoder::Gzip(ParGzip::new(out).map_err(|e| write_err(dir, e))?),
            Compression::Zstd => Encoder::Zstd(
                zstd::stream::write::Encoder::new(out, 3).map_err(|e| write_err(dir, e))?,
            ),
        };
        let mut tar = tar::Builder::new(hashing(encoder));
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(LayerWriter {
            tar,
            tmp,
            dir: dir.to_owned(),
            epoch,
            compression,
            seen: BTreeMap::new(),
            entries: Vec::new(),
        })
    }

    /// Has an entry at `path` been written?
    pub fn contains(&self, path: &str) -> bool {
        self.seen.contains_key(path)
    }

    /// Adds an entry; `data` is read for regular files only. A second
    /// entry for a path is skipped when both are the same directory, and
    /// refused otherwise.
    pub fn add(&mut self, entry: Entry, data: impl Read) -> Result<(), String> {
        let kind_name = match &entry.kind {
            Kind::Dir => "dir",
            Kind::File { .. } => "file",
            Kind::Symlink(_) => "symlink",
            Kind::Hardlink(_) => "hardlink",
        };
        if let Some(&i) = self.seen.get(&entry.path) {
            let prev = &self.entries[i];
            let same_dir = entry.kind == Kind::Dir
                && prev.kind == "dir"
                && prev.mode == entry.mode
                && (prev.uid, prev.gid) == (entry.owner.uid, entry.owner.gid);
            return if same_dir {
                Ok(())
            } else {
                Err(format!(
                    "duplicate entry (a {} and a {kind_name})",
                    prev.kind
                ))
            };
        }
        let mut header = tar::Header::new_gnu();
        let (entry_type, size, target) = match &entry.kind {
            Kind::Dir => (tar::EntryType::Directory, 0, None),
            Kind::File { size } => (tar::EntryType::Regular, *size, None),
            Kind::Symlink(t) => (tar::EntryType::Symlink, 0, Some(t.clone())),
            Kind::Hardlink(t) => {
                match self.seen.get(t).map(|&i| self.entries[i].kind.as_str()) {
                    Some("file") => {}
                    _ => return Err(format!("hard link to {t}, which is not an earlier file")),
                }
                (tar::EntryType::Link, 0, Some(t.clone()))
            }
        };
        header.set_entry_type(entry_type);
        header.set_size(size);
        header.set_mode(entry.mode & 0o7777);
        header.set_uid(entry.owner.uid);
        header.set_gid(entry.owner.gid);
        header
            .set_username(&entry.owner.user)
            .map_err(|e| e.to_string())?;
        header
            .set_groupname(&entry.owner.group)
            .map_err(|e| e.to_string())?;
        header.set_mtime(entry.mtime.min(self.epoch));
        // The tar path of the root is `./`; directories end in `/`, as
        // dpkg-deb writes them.
        let tar_path = match (&entry.kind, entry.path.as_str()) {
            (Kind::Dir, "") => "./".to_owned(),
            (Kind::Dir, p) => format!("{p}/"),
            (_, p) => p.to_owned(),
        };
        let mut sha256 = None;
        match &target {
            Some(t) => self
                .tar
                .append_link(&mut header, &tar_path, t)
                .map_err(|e| e.to_string())?,
            None if size > 0 => {
                let mut reader = HashRead::new(data.take(size));
                self.tar
                    .append_data(&mut header, &tar_path, &mut reader)
                    .map_err(|e| e.to_string())?;
                if reader.len != size {
                    return Err(format!(
                        "content is {} bytes, header says {size}",
                        reader.len
                    ));
                }
                sha256 = Some(hex::encode(reader.hash.finalize()));
            }
            None => {
                if matches!(entry.kind, Kind::File { .. }) {
                    sha256 = Some(hex::encode(Sha256::digest(b"")));
                }
                self.tar
                    .append_data(&mut header, &tar_path, io::empty())
                    .map_err(|e| e.to_string())?
            }
        }
        self.seen.insert(entry.path.clone(), self.entries.len());
        self.entries.push(EntryInfo {
            path: entry.path,
            kind: kind_name.to_owned(),
            mode: entry.mode & 0o7777,
            uid: entry.owner.uid,
            gid: entry.owner.gid,
            size,
            target,
            sha256,
            soname: entry.soname,
        });
        Ok(())
    }

    /// Finishes the tar and the compressed stream and moves the blob to
    /// `<dir>/<hex digest>` (a blob already there is the same bytes).
    pub fn finish(self) -> Result<Layer, LayerError> {
        let dir = self.dir;
        let tar_out = self.tar.into_inner().map_err(|e| write_err(&dir, e))?;
        let diff_id = format!("sha256:{}", hex::encode(tar_out.hash.finalize()));
        let mut blob = tar_out.inner.finish().map_err(|e| write_err(&dir, e))?;
        blob.flush().map_err(|e| write_err(&dir, e))?;
        blob.inner.sync_all().map_err(|e| write_err(&dir, e))?;
        let hex = hex::encode(blob.hash.finalize());
        let dest = dir.join(&hex);
        if dest.exists() {
            drop(self.tmp);
        } else {
            self.tmp
                .persist(&dest)
                .map_err(|e| write_err(&dest, e.error))?;
            set_blob_mode(&dest).map_err(|e| write_err(&dest, e))?;
        }
        Ok(Layer {
            digest: format!("sha256:{hex}"),
            diff_id,
            size: blob.len,
            compression: self.compression,
            entries: self.entries,
        })
    }
}

/// Temp files are created 0600; a blob in an output directory is 0644
/// whatever the umask.
pub(crate) fn set_blob_mode(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

/// A reader that hashes what passes through it.
pub(crate) struct HashRead<R> {
    inner: R,
    pub(crate) hash: Sha256,
    pub(crate) len: u64,
}

impl<R> HashRead<R> {
    pub(crate) fn new(inner: R) -> HashRead<R> {
        HashRead {
            inner,
            hash: Sha256::new(),
            len: 0,
        }
    }

    /// The reader, the hex sha256 and the length of what was read.
    pub(crate) fn into_parts(self) -> (R, String, u64) {
        (self.inner, hex::encode(self.hash.finalize()), self.len)
    }
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gzip bytes are part of every image digest, so the compressor's
    /// output is pinned here on an input that exercises its match finder
    /// (text with long and short repeats, and incompressible runs). zlib-rs
    /// means to give the same bytes on every CPU whatever SIMD it picks
    /// (its own tests pin outputs across x86_64 and aarch64); a CPU or a
    /// crate update that changes them fails here first, and then needs a
    /// new LAYER_FORMAT, not a silent change of digests. (e9be0877… with
    /// one zlib-rs stream; ecc1cf2b… since in chunks, LAYER_FORMAT 4.)
    #[test]
    fn gzip_output_is_pinned() {
        let mut data = Vec::with_capacity(4 << 20);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut line = 0u64;
        while data.len() < 4 << 20 {
            line += 1;
            data.extend_from_slice(
                format!(
                    "/usr/lib/x86_64-linux-gnu/lib{}.so.{}\n",
                    line % 977,
                    line % 13
                )
                .as_bytes(),
            );
            if line.is_multiple_of(61) {
                for _ in 0..512 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    data.push(x as u8);
                }
            }
        }
        let d = tempfile::tempdir().unwrap();
        let mut w = LayerWriter::new(d.path(), 0, Compression::Gzip).unwrap();
        let size = data.len() as u64;
        let file = Entry {
            path: "data".into(),
            kind: Kind::File { size },
            mode: 0o644,
            owner: Owner::root(),
            mtime: 0,
            soname: None,
        };
        w.add(file, &data[..]).unwrap();
        let layer = w.finish().unwrap();
        assert_eq!(
            layer.digest,
            "sha256:ecc1cf2b327a71bc97a064482a6c6fc198d579ab23c29815fff411ab3f52a741"
        );
    }

    fn build(dir: &Path, epoch: u64) -> Layer {
        let mut w = LayerWriter::new(dir, epoch, Compression::Gzip).unwrap();
        let e = |path: &str, kind: Kind, mode| Entry {
            path: path.into(),
            kind,
            mode,
            owner: Owner::root(),
            mtime: 2_000_000_000,
            soname: None,
        };
        w.add(e("", Kind::Dir, 0o755), io::empty()).unwrap();
        w.add(e("tmp", Kind::Dir, 0o1777), io::empty()).unwrap();
        w.add(e("etc/hello", Kind::File { size: 5 }, 0o644), &b"hello"[..])
            .unwrap();
        w.add(
            e("etc/link", Kind::Symlink("hello".into()), 0o777),
            io::empty(),
        )
        .unwrap();
        w.add(
            e("etc/hard", Kind::Hardlink("etc/hello".into()), 0o644),
            io::empty(),
        )
        .unwrap();
        w.add(e("tmp", Kind::Dir, 0o1777), io::empty()).unwrap();
        let dup = w.add(e("etc/hello", Kind::Dir, 0o755), io::empty());
        assert!(dup.unwrap_err().contains("duplicate entry"));
        let bad = w.add(e("x", Kind::Hardlink("nope".into()), 0o644), io::empty());
        assert!(bad.unwrap_err().contains("not an earlier file"));
        w.finish().unwrap()
    }

    #[test]
    fn same_entries_same_bytes_and_clamped_times() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let la = build(a.path(), 1_700_000_000);
        let lb = build(b.path(), 1_700_000_000);
        assert_eq!(la, lb);
        assert_eq!(la.entries.len(), 5);
        let blob = std::fs::read(a.path().join(la.hex())).unwrap();
        assert_eq!(blob.len() as u64, la.size);
        assert_eq!(
            format!("sha256:{}", hex::encode(Sha256::digest(&blob))),
            la.digest
        );
        // gzip header: no name flag, mtime 0.
        assert_eq!(&blob[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
        let heads: Vec<(String, u64, u32)> = tar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mtime().unwrap(),
                    h.mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(heads[0], ("./".into(), 1_700_000_000, 0o755));
        assert_eq!(heads[1], ("tmp/".into(), 1_700_000_000, 0o1777));
        assert_eq!(heads[2].0, "etc/hello");
        // A different epoch changes the bytes.
        let c = tempfile::tempdir().unwrap();
        assert_ne!(build(c.path(), 1_600_000_000).diff_id, la.diff_id);
    }
}
