//! A `.deb` into a layer, streamed: the control member is small and read
//! whole; the data member goes entry by entry from the decompressor into
//! the layer writer, so no package is ever held in memory.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::ldcache::elf_soname;
use crate::path::{is_merged_top, normalize, usrmerge};
use crate::writer::{Compression, Entry, Kind, Layer, LayerWriter, Owner};
use crate::{LayerError, io_err, path_err};

/// How to turn a package into a layer.
#[derive(Debug, Clone)]
pub struct DebOptions {
    /// Clamp for every mtime, and the mtime of the dpkg metadata files.
    pub epoch: u64,
    /// Move `bin`, `sbin`, `lib*` under `usr/` (debian13).
    pub usrmerge: bool,
    pub compression: Compression,
}

/// The package's own description, from its control member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageMeta {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The control stanza as shipped (no trailing newline).
    pub control: String,
    pub md5sums: Option<String>,
    /// The maintainer scripts that matter to a fresh install (`preinst`,
    /// `postinst`, `triggers`), name → text: read, never run.
    pub scripts: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct DebLayer {
    pub meta: PackageMeta,
    pub layer: Layer,
}

/// Where dpkg metadata goes in distroless images (scanners read it).
pub const STATUS_DIR: &str = "var/lib/dpkg/status.d";

/// Reads the `.deb` at `deb` (its hash already checked by the caller) and
/// writes its layer into `out_dir`. `label` names the package in errors.
pub fn layer_from_deb(
    deb: &Path,
    label: &str,
    opts: &DebOptions,
    out_dir: &Path,
) -> Result<DebLayer, LayerError> {
    let (meta, layer) = walk(deb, label, |meta, data| {
        write_layer(data, label, meta, opts, out_dir)
    })?;
    Ok(DebLayer { meta, layer })
}

/// A file's normalised path and contents.
pub type FileData = (String, Vec<u8>);

/// The regular files of a package's data whose normalised path `want`s,
/// with their contents (for the few files the build takes out of a
/// package: the CA certificates, busybox).
pub fn extract_files(
    deb: &Path,
    label: &str,
    want: impl Fn(&str) -> bool,
) -> Result<(PackageMeta, Vec<FileData>), LayerError> {
    walk(deb, label, |_, data| {
        let fail = |source| LayerError::Io {
            package: label.to_owned(),
            what: "data.tar".into(),
            source,
        };
        let mut out = Vec::new();
        let mut tar = tar::Archive::new(data);
        for entry in tar.entries().map_err(fail)? {
            let mut entry = entry.map_err(fail)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Ok(path) = normalize(&raw) else { continue };
            if entry.header().entry_type().is_file() && want(&path) {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(fail)?;
                out.push((path, bytes));
            }
        }
        Ok(out)
    })
}

/// What a package says about itself for a changelog: its Debian
/// changelog (and a binNMU's own, `changelog.Debian.<arch>.gz`), or where
/// its doc directory points when it is a symlink to a sibling package's
/// (Debian policy 12.5), and its `Installed-Size` in KiB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocFiles {
    pub changelog: Option<String>,
    pub binnmu: Option<String>,
    /// The target of `usr/share/doc/<pkg>`, when it is a symlink.
    pub doc_link: Option<String>,
    pub installed_kib: Option<u64>,
}

/// The most a changelog may decompress to.
const MAX_CHANGELOG: u64 = 16 << 20;

/// Reads `package`'s changelog files out of the `.deb` at `deb` (hash
/// already checked), for architecture `arch`.
pub fn doc_files(deb: &Path, label: &str, arch: &str) -> Result<DocFiles, LayerError> {
    let (meta, mut out) = walk(deb, label, |meta, data| {
        let fail = |source| LayerError::Io {
            package: label.to_owned(),
            what: "data.tar".into(),
            source,
        };
        let dir = format!("usr/share/doc/{}", meta.name);
        let (main, native, binnmu) = (
            format!("{dir}/changelog.Debian.gz"),
            format!("{dir}/changelog.gz"),
            format!("{dir}/changelog.Debian.{arch}.gz"),
        );
        let mut out = DocFiles::default();
        let mut native_text = None;
        let mut tar = tar::Archive::new(data);
        for entry in tar.entries().map_err(fail)? {
            let entry = entry.map_err(fail)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Ok(path) = normalize(&raw) else { continue };
            let kind = entry.header().entry_type();
            if path == dir && kind.is_symlink() {
                let target = entry.link_name().map_err(fail)?;
                out.doc_link = target.map(|t| t.display().to_string());
                continue;
            }
            if !kind.is_file() || !(path == main || path == native || path == binnmu) {
                continue;
            }
            let mut text = String::new();
            flate2::read::GzDecoder::new(entry)
                .take(MAX_CHANGELOG)
                .read_to_string(&mut text)
                .map_err(fail)?;
            match path {
                p if p == main => out.changelog = Some(text),
                p if p == binnmu => out.binnmu = Some(text),
                _ => native_text = Some(text),
            }
        }
        // A native package's changelog is changelog.gz.
        if out.changelog.is_none() {
            out.changelog = native_text;
        }
        Ok(out)
    })?;
    out.installed_kib = installed_kib(&meta.control);
    Ok(out)
}

/// `Installed-Size` of a control stanza, in KiB.
fn installed_kib(control: &str) -> Option<u64> {
    control
        .lines()
        .find_map(|l| l.strip_prefix("Installed-Size:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The `Installed-Size` (KiB) of the `.deb` at `deb`, from its control
/// member alone (the data member is not read).
pub fn installed_size(deb: &Path, label: &str) -> Result<Option<u64>, LayerError> {
    Ok(installed_kib(&control_only(deb, label)?.control))
}

/// Walks the members of a `.deb`: checks the format, reads the control
/// member, and hands the decompressed data member to `data`.
fn walk<T>(
    deb: &Path,
    label: &str,
    data: impl FnOnce(&PackageMeta, &mut dyn Read) -> Result<T, LayerError>,
) -> Result<(PackageMeta, T), LayerError> {
    let (meta, out) = members(deb, label, Some(data))?;
    // Given `data`, `members` fails unless it ran it.
    Ok((meta, out.expect("the data member was read")))
}

/// The control member of a `.deb`, the data member not read at all (a
/// JDK's is 40 MB).
fn control_only(deb: &Path, label: &str) -> Result<PackageMeta, LayerError> {
    type Skip = fn(&PackageMeta, &mut dyn Read) -> Result<(), LayerError>;
    Ok(members(deb, label, None::<Skip>)?.0)
}

/// [`walk`]'s member loop; without `data`, it stops once the control
/// member is read.
fn members<T>(
    deb: &Path,
    label: &str,
    data: Option<impl FnOnce(&PackageMeta, &mut dyn Read) -> Result<T, LayerError>>,
) -> Result<(PackageMeta, Option<T>), LayerError> {
    let control_only = data.is_none();
    let mut data = data;
    let fail = |cause: String| LayerError::Deb {
        package: label.to_owned(),
        cause,
    };
    let io = |what: &str| io_err(label, what);
    let file = File::open(deb).map_err(io(&deb.display().to_string()))?;
    let mut ar = ar::Archive::new(BufReader::new(file));
    let mut seen_binary = false;
    let mut meta = None;
    let mut out = None;
    while let Some(member) = ar.next_entry() {
        let mut member = member.map_err(io("not an ar archive"))?;
        let name = String::from_utf8_lossy(member.header().identifier())
            .trim_end_matches('/')
            .to_owned();
        match name.as_str() {
            "debian-binary" => {
                let mut v = String::new();
                member.read_to_string(&mut v).map_err(io("debian-binary"))?;
                if !v.starts_with("2.") {
                    return Err(fail(format!("unsupported .deb format {:?}", v.trim())));
                }
                seen_binary = true;
            }
            n if n.starts_with("control.tar") => {
                let tar = decompressor(n, &mut member).map_err(fail)?;
                let read = read_control(tar).map_err(|e| fail(format!("{n}: {e}")))?;
                if control_only {
                    if !seen_binary {
                        return Err(fail(format!("{n} before debian-binary")));
                    }
                    return Ok((read, None));
                }
                meta = Some(read);
            }
            n if n.starts_with("data.tar") => {
                let (Some(meta), true) = (meta.as_ref(), seen_binary) else {
                    return Err(fail(format!("{n} before debian-binary and control.tar")));
                };
                let mut tar = decompressor(n, &mut member).map_err(fail)?;
                let Some(data) = data.take() else {
                    return Err(fail("two data members".into()));
                };
                out = Some(data(meta, &mut tar)?);
            }
            // dpkg ignores members starting with `_` (signatures and such).
            n if n.starts_with('_') => {}
            n => return Err(fail(format!("unexpected member {n:?}"))),
        }
    }
    match (meta, out) {
        (Some(meta), Some(out)) => Ok((meta, Some(out))),
        _ => Err(fail("no control.tar or data.tar member".into())),
    }
}

fn decompressor<'r>(member: &str, r: &'r mut dyn Read) -> Result<Box<dyn Read + 'r>, String> {
    let ext = member.split_once(".tar").map_or("", |(_, e)| e);
    Ok(match ext {
        "" => Box::new(r),
        ".xz" => Box::new(xz2::read::XzDecoder::new_multi_decoder(r)),
        ".gz" => Box::new(flate2::read::GzDecoder::new(r)),
        ".zst" => {
            Box::new(zstd::stream::read::Decoder::new(r).map_err(|e| format!("{member}: {e}"))?)
        }
        other => return Err(format!("unsupported compression {other:?} of {member}")),
    })
}

fn read_control(r: impl Read) -> io::Result<PackageMeta> {
    let mut control = None;
    let mut md5sums = None;
    let mut scripts = std::collections::BTreeMap::new();
    let mut tar = tar::Archive::new(r);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.display().to_string();
        let name = path.trim_start_matches("./").to_owned();
        let slot = match name.as_str() {
            "control" => &mut control,
            "md5sums" => &mut md5sums,
            "preinst" | "postinst" | "triggers" => {
                // Scripts are only ever read: a byte that is not UTF-8
                // is kept as U+FFFD.
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes)?;
                scripts.insert(name, String::from_utf8_lossy(&bytes).into_owned());
                continue;
            }
            _ => continue,
        };
        let mut s = String::new();
        entry.read_to_string(&mut s)?;
        *slot = Some(s);
    }

    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    let control = control.ok_or_else(|| bad("no control file"))?;
    let stanza = distill_debian::paragraphs(&control)
        .next()
        .ok_or_else(|| bad("empty control file"))?
        .map_err(|e| bad(&format!("control: {e}")))?;
    let field = |n: &str| {
        stanza
            .get(n)
            .map(str::to_owned)
            .ok_or_else(|| bad(&format!("control has no {n}")))
    };
    Ok(PackageMeta {
        name: field("Package")?,
        version: field("Version")?,
        architecture: field("Architecture")?,
        control: stanza.text().to_owned(),
        md5sums,
        scripts,
    })
}

fn write_layer(
    r: impl Read,
    label: &str,
    meta: &PackageMeta,
    opts: &DebOptions,
    out_dir: &Path,
) -> Result<Layer, LayerError> {
    let mut w = LayerWriter::new(out_dir, opts.epoch, opts.compression)?;
    let bad = |path: &str, cause: String| LayerError::Entry {
        package: label.to_owned(),
        path: path.to_owned(),
        cause,
    };
    let mut tar = tar::Archive::new(r);
    let io = |what: &str| io_err(label, what);
    let unplaceable = |path: &str| path_err(label, path);
    for entry in tar.entries().map_err(io("data.tar"))? {
        let entry = entry.map_err(io("data.tar"))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let header = entry.header();
        let mut path = normalize(&raw).map_err(unplaceable(&raw))?;
        if path.is_empty() {
            // The root directory belongs to the image, not a package.
            continue;
        }
        let kind = match Kind::of_tar_entry(&entry, |cause| bad(&raw, cause))? {
            Kind::Hardlink(target) => {
                let target = normalize(&target).map_err(unplaceable(&raw))?;
                Kind::Hardlink(if opts.usrmerge {
                    usrmerge(&target)
                } else {
                    target
                })
            }
            kind => kind,
        };
        if opts.usrmerge {
            if is_merged_top(&path) {
                match kind {
                    // base-files' compatibility link (`lib -> usr/lib`).
                    Kind::Symlink(_) => {}
                    // The directory itself is the link on a merged system.
                    Kind::Dir => continue,
                    _ => return Err(bad(&raw, "a file where merged /usr has a symlink".into())),
                }
            } else {
                path = usrmerge(&path);
            }
        }
        let owner = Owner {
            uid: header.uid().map_err(io(&raw))?,
            gid: header.gid().map_err(io(&raw))?,
            user: name_of(header.username_bytes()),
            group: name_of(header.groupname_bytes()),
        };
        let mut e = Entry {
            path: path.clone(),
            kind,
            mode: header.mode().map_err(io(&raw))?,
            owner,
            mtime: header.mtime().map_err(io(&raw))?,
            soname: None,
        };
        if looks_like_library(&e) {
            // Read whole (libraries are at most tens of MB) to find the
            // SONAME, then write from memory.
            let mut bytes = Vec::new();
            let mut entry = entry;
            entry
                .read_to_end(&mut bytes)
                .map_err(|err| bad(&raw, err.to_string()))?;
            e.soname = elf_soname(&bytes);
            w.add(e, &bytes[..]).map_err(|c| bad(&path, c))?;
        } else {
            w.add(e, entry).map_err(|c| bad(&path, c))?;
        }
    }
    for (name, text) in status_files(meta, opts.usrmerge) {
        let path = format!("{STATUS_DIR}/{name}");
        let e = Entry {
            path: path.clone(),
            kind: Kind::File {
                size: text.len() as u64,
            },
            mode: 0o644,
            owner: Owner::root(),
            mtime: opts.epoch,
            soname: None,
        };
        w.add(e, text.as_bytes()).map_err(|c| bad(&path, c))?;
    }
    w.finish()
}

/// `lib*.so*` and `ld-*.so*` regular files: what ldconfig would look at.
fn looks_like_library(e: &Entry) -> bool {
    let name = e.path.rsplit('/').next().unwrap_or("");
    matches!(e.kind, Kind::File { size } if size >= 64)
        && (name.starts_with("lib") || name.starts_with("ld"))
        && name.contains(".so")
}

fn name_of(b: Option<&[u8]>) -> String {
    String::from_utf8_lossy(b.unwrap_or_default()).into_owned()
}

/// `status.d/<name>`: the control stanza with dpkg's `Status` line after
/// `Package`, as in /var/lib/dpkg/status; `status.d/<name>.md5sums`: the
/// package's md5sums, paths moved as the files were.
pub fn status_files(meta: &PackageMeta, usrmerge_paths: bool) -> Vec<(String, String)> {
    let mut status = String::new();
    for line in meta.control.lines() {
        status.push_str(line);
        status.push('\n');
        if line.starts_with("Package:") {
            status.push_str("Status: install ok installed\n");
        }
    }
    let mut out = vec![(meta.name.clone(), status)];
    if let Some(sums) = &meta.md5sums {
        let text: String = sums
            .lines()
            .map(|l| match l.split_once("  ") {
                Some((sum, p)) if usrmerge_paths => format!("{sum}  {}\n", usrmerge(p)),
                _ => format!("{l}\n"),
            })
            .collect();
        out.push((format!("{}.md5sums", meta.name), text));
    }
    out
}
