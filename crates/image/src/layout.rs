//! An OCI image layout directory, written whole or not at all: its files
//! are staged in memory (layer blobs as the cache files they link to) and
//! written on commit into a temporary directory beside the destination,
//! which replaces the old layout only once complete. A destination that
//! already holds exactly the staged files is left alone: a warm rebuild
//! creates and deletes nothing. Modes are set explicitly (0755 dirs, 0644
//! files) so the umask of the build does not show.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::ImageError;
use crate::oci::{Descriptor, MANIFEST, REF_NAME, index};

/// The empty JSON config of artifact manifests.
const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Every layout has these directories, even when empty.
const BLOBS: &str = "blobs/sha256";

/// A file of the layout, before commit.
enum Staged {
    Bytes(Vec<u8>),
    /// An existing file (a cached layer), hard-linked when it can be.
    Link(PathBuf),
}

pub struct Layout {
    dest: PathBuf,
    /// Path relative to the layout's root → content.
    files: BTreeMap<String, Staged>,
    entries: Vec<Descriptor>,
}

fn err(path: &Path, e: std::io::Error) -> ImageError {
    ImageError::Write {
        path: path.display().to_string(),
        source: e,
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ImageError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| err(path, e))
}

impl Layout {
    /// Starts a layout that will end up at `dest`. Nothing is written
    /// before [`Layout::commit`].
    pub fn create(dest: &Path) -> Result<Layout, ImageError> {
        Ok(Layout {
            dest: dest.to_owned(),
            files: BTreeMap::new(),
            entries: Vec::new(),
        })
    }

    /// Stores `bytes` as a blob of `media_type`.
    pub fn put(&mut self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, ImageError> {
        let d = Descriptor::of(media_type, bytes);
        self.files
            .entry(blob_name(&d.digest))
            .or_insert_with(|| Staged::Bytes(bytes.to_vec()));
        Ok(d)
    }

    /// Stores an existing file (a cached layer) as the blob `digest`: a
    /// hard link when the cache is on the same file system, else a copy.
    pub fn put_file(&mut self, src: &Path, digest: &str) -> Result<(), ImageError> {
        self.files
            .entry(blob_name(digest))
            .or_insert_with(|| Staged::Link(src.to_owned()));
        Ok(())
    }

    /// Lists `desc` in index.json under the tag `name`.
    pub fn tag(&mut self, name: &str, mut desc: Descriptor) {
        desc.annotations
            .insert(REF_NAME.to_owned(), name.to_owned());
        self.entries.push(desc);
    }

    /// Lists `desc` in index.json without a tag (SBOM artifacts).
    pub fn add(&mut self, desc: Descriptor) {
        self.entries.push(desc);
    }

    /// Writes a plain file into the layout directory (`sbom/x.spdx.json`),
    /// beside the OCI structure, committed with it.
    pub fn write_file(&mut self, rel: &str, bytes: &[u8]) -> Result<(), ImageError> {
        self.files
            .insert(rel.to_owned(), Staged::Bytes(bytes.to_vec()));
        Ok(())
    }

    /// Attaches `bytes` (of `artifact_type`) to the manifest `subject` as
    /// an OCI 1.1 artifact manifest, listed untagged in index.json, so
    /// registries' referrers API and `oras discover` find it.
    pub fn attach(
        &mut self,
        subject: &Descriptor,
        artifact_type: &str,
        bytes: &[u8],
    ) -> Result<Descriptor, ImageError> {
        let config = self.put(EMPTY, b"{}")?;
        let layer = self.put(artifact_type, bytes)?;
        let mut subject = subject.clone();
        subject.platform = None;
        subject.annotations.clear();
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": artifact_type,
            "config": config,
            "layers": [layer],
            "subject": subject,
        });
        let bytes = serde_json::to_vec(&doc).expect("artifact manifest serialises");
        let mut desc = self.put(MANIFEST, &bytes)?;
        desc.artifact_type = Some(artifact_type.to_owned());
        self.add(desc.clone());
        Ok(desc)
    }

    /// Adds oci-layout and index.json and puts the layout in place,
    /// unless the destination already holds exactly these files.
    pub fn commit(mut self) -> Result<PathBuf, ImageError> {
        let index = index(&self.entries, &BTreeMap::new());
        self.files
            .insert("oci-layout".into(), Staged::Bytes(OCI_LAYOUT.to_vec()));
        self.files.insert("index.json".into(), Staged::Bytes(index));
        if holds_exactly(&self.dest, &self.files) {
            return Ok(self.dest);
        }
        ours_to_replace(&self.dest)?;
        let parent = self.dest.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
        let name = self
            .dest
            .file_name()
            .map_or("layout".into(), |n| n.to_string_lossy());
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp"))
            .tempdir_in(parent)
            .map_err(|e| err(parent, e))?;
        let root = tmp.path();
        let blobs = root.join(BLOBS);
        fs::create_dir_all(&blobs).map_err(|e| err(&blobs, e))?;
        for (rel, staged) in &self.files {
            let p = root.join(rel);
            if let Some(dir) = p.parent()
                && !dir.is_dir()
            {
                fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
                set_mode(dir, 0o755)?;
            }
            match staged {
                Staged::Bytes(b) => fs::write(&p, b).map_err(|e| err(&p, e))?,
                Staged::Link(src) => {
                    if fs::hard_link(src, &p).is_err() {
                        fs::copy(src, &p).map_err(|e| err(&p, e))?;
                    }
                }
            }
            set_mode(&p, 0o644)?;
        }
        for d in [root.to_owned(), root.join("blobs"), blobs] {
            set_mode(&d, 0o755)?;
        }
        swap_into_place(tmp, &self.dest)?;
        Ok(self.dest)
    }
}

impl Layout {
    /// Adds what was staged to the existing layout at `dest` in place, as
    /// skopeo and umoci do, instead of replacing it: blobs it lacks are
    /// written (each renamed into place whole; blobs are named by their
    /// content, so none that is there changes), then index.json is
    /// replaced in one rename, listing what it listed (with its fields
    /// and annotations) except the entries whose tags are re-tagged here,
    /// and the new entries. Everything else in the directory, other tags,
    /// their blobs and `sbom/`, stays as it was.
    pub fn commit_into(self) -> Result<PathBuf, ImageError> {
        let index_path = self.dest.join("index.json");
        let text = fs::read(&index_path).map_err(|e| ImageError::Read {
            path: index_path.display().to_string(),
            source: e,
        })?;
        let mut doc: crate::IndexDoc =
            serde_json::from_slice(&text).map_err(|e| ImageError::Invalid {
                path: index_path.display().to_string(),
                reason: format!("not an image index: {e}"),
            })?;
        for (rel, staged) in &self.files {
            let p = self.dest.join(rel);
            if !rel.starts_with(BLOBS) {
                return Err(ImageError::Invalid {
                    path: p.display().to_string(),
                    reason: "only blobs are added to an existing layout".into(),
                });
            }
            if p.is_file() {
                continue;
            }
            let dir = p.parent().expect("a blob has a directory");
            fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
            let mut f = distill_store::AtomicFile::create(&p).map_err(|e| err(&p, e))?;
            match staged {
                Staged::Bytes(b) => std::io::Write::write_all(f.file(), b),
                Staged::Link(src) => fs::File::open(src)
                    .and_then(|mut from| std::io::copy(&mut from, f.file()).map(|_| ())),
            }
            .map_err(|e| err(&p, e))?;
            f.commit(0o644).map_err(|e| err(&p, e))?;
        }
        let retagged: Vec<&str> = self
            .entries
            .iter()
            .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
            .collect();
        doc.manifests.retain(|d| {
            d.annotations
                .get(REF_NAME)
                .is_none_or(|t| !retagged.contains(&t.as_str()))
        });
        doc.manifests.extend(self.entries.iter().cloned());
        let bytes = serde_json::to_vec(&doc).expect("an index serialises");
        distill_store::write_atomic(&index_path, &bytes).map_err(|e| err(&index_path, e))?;
        Ok(self.dest)
    }
}

/// The layout `commit` writes holds these and nothing else at its top.
const LAYOUT_ENTRIES: [&str; 4] = ["oci-layout", "index.json", "blobs", "sbom"];
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Refuses to replace `dest` unless it is missing, an empty directory, or
/// an image layout as distill writes one (`oci-layout` with distill's
/// bytes, `index.json`, `blobs/`, `sbom/`, nothing else at the top): a user's
/// directory or file that happens to be at `out/<image>-<distro>` is
/// never removed.
fn ours_to_replace(dest: &Path) -> Result<(), ImageError> {
    let not_ours = |what| ImageError::NotOurs {
        path: dest.display().to_string(),
        what,
    };
    let meta = match fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ImageError::Read {
                path: dest.display().to_string(),
                source: e,
            });
        }
    };
    if meta.file_type().is_symlink() {
        return Err(not_ours("a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(not_ours("a file"));
    }
    let names: Vec<String> = fs::read_dir(dest)
        .map_err(|e| err(dest, e))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| err(dest, e))?;
    if names.is_empty() {
        return Ok(());
    }
    let layout = names.iter().all(|n| LAYOUT_ENTRIES.contains(&n.as_str()))
        && fs::read(dest.join("oci-layout")).is_ok_and(|b| b == OCI_LAYOUT)
        && dest.join("index.json").is_file()
        && dest.join("blobs").is_dir();
    if layout {
        Ok(())
    } else {
        Err(not_ours("a directory with other files"))
    }
}

/// Whether the layout at `dest` is exactly `files`: the same file names
/// and nothing else, modes 0644 and 0755, the same bytes, and each linked
/// blob the very file it would be linked to. Anything else (a missing or
/// extra file, a copy instead of a link, an unreadable entry) means no.
fn holds_exactly(dest: &Path, files: &BTreeMap<String, Staged>) -> bool {
    let mut found = BTreeMap::new();
    if !walk(dest, "", &mut found).unwrap_or(false) {
        return false;
    }
    // The directories, named with a trailing `/`: the two every layout
    // has and those the files are in.
    let mut dirs: std::collections::BTreeSet<String> =
        ["blobs/".to_owned(), format!("{BLOBS}/")].into();
    for rel in files.keys() {
        let mut at = 0;
        while let Some(i) = rel[at..].find('/') {
            at += i + 1;
            dirs.insert(rel[..at].to_owned());
        }
    }
    if found.len() != files.len() + dirs.len() || !dirs.iter().all(|d| found.contains_key(d)) {
        return false;
    }
    files.iter().all(|(rel, staged)| {
        let Some(meta) = found.get(rel) else {
            return false;
        };
        if meta.mode() & 0o7777 != 0o644 {
            return false;
        }
        match staged {
            Staged::Bytes(b) => {
                meta.len() == b.len() as u64
                    && fs::read(dest.join(rel)).is_ok_and(|on_disk| on_disk == *b)
            }
            Staged::Link(src) => {
                fs::metadata(src).is_ok_and(|s| (s.dev(), s.ino()) == (meta.dev(), meta.ino()))
            }
        }
    })
}

/// The files and directories (named with a trailing `/`) under `dir`,
/// relative names with `prefix`, into `out`; false if a directory is not
/// mode 0755 or an entry is neither a file nor a directory.
fn walk(
    dir: &Path,
    prefix: &str,
    out: &mut BTreeMap<String, fs::Metadata>,
) -> std::io::Result<bool> {
    if fs::symlink_metadata(dir)?.mode() & 0o7777 != 0o755 {
        return Ok(false);
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(|n| format!("{prefix}{n}")) else {
            return Ok(false);
        };
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let name = format!("{name}/");
            if !walk(&entry.path(), &name, out)? {
                return Ok(false);
            }
            out.insert(name, meta);
        } else if meta.is_file() {
            out.insert(name, meta);
        } else {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Puts the finished directory `tmp` at `dest` in one atomic step: at
/// every instant `dest` is the old complete layout or the new one, so a
/// process killed here, or a second build committing the same layout at
/// the same time, never leaves a mix, a gap or a half-written directory.
/// An existing `dest` is exchanged with `tmp` (Linux `RENAME_EXCHANGE`)
/// and the old one removed; a missing one is a plain rename.
fn swap_into_place(tmp: tempfile::TempDir, dest: &Path) -> Result<(), ImageError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    loop {
        match renameat_with(CWD, tmp.path(), CWD, dest, RenameFlags::EXCHANGE) {
            // `tmp` now holds the old layout; dropping it removes it.
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::NOENT) if !dest.exists() => {
                match fs::rename(tmp.path(), dest) {
                    Ok(()) => {
                        let _ = tmp.keep();
                        return Ok(());
                    }
                    // Another process put one there in between: exchange.
                    Err(e) if dest.is_dir() && e.raw_os_error().is_some() => continue,
                    Err(e) => return Err(err(dest, e)),
                }
            }
            // Filesystems without RENAME_EXCHANGE: move the old one aside
            // first, to a fresh name of its own beside it (never a name
            // someone else may own; a failure in between leaves it there).
            Err(rustix::io::Errno::INVAL) => {
                let parent = dest.parent().unwrap_or(Path::new("."));
                let aside = tempfile::Builder::new()
                    .prefix(".distill-old")
                    .tempdir_in(parent)
                    .map_err(|e| err(parent, e))?;
                if dest.exists() {
                    // Onto the empty directory just made: rename replaces it.
                    fs::rename(dest, aside.path()).map_err(|e| err(dest, e))?;
                }
                fs::rename(tmp.path(), dest).map_err(|e| err(dest, e))?;
                let _ = tmp.keep();
                drop(aside);
                return Ok(());
            }
            Err(e) => return Err(err(dest, e.into())),
        }
    }
}

/// Where blob `sha256:<hex>` is stored in a layout, relative to its
/// root: `blobs/sha256/<hex>`.
pub fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// The file of blob `digest` in the layout at `root`.
pub fn blob_path(root: &Path, digest: &str) -> PathBuf {
    root.join(blob_name(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::MANIFEST;

    /// Many writers committing the same layout while a reader watches:
    /// every commit succeeds, and the reader never finds the layout
    /// missing or incomplete (a move-aside-then-rename commit fails this).
    #[test]
    fn concurrent_commits_never_leave_a_gap() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("img");
        let commit = |n: u32| {
            let mut l = Layout::create(&dest).unwrap();
            let d = l
                .put(MANIFEST, format!("{{\"n\":{n}}}").as_bytes())
                .unwrap();
            l.tag("latest", d);
            l.commit().unwrap();
        };
        commit(0);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut reads = 0u64;
                while !done.load(Ordering::SeqCst) {
                    let index = fs::read(dest.join("index.json"));
                    assert!(index.is_ok(), "the layout was missing after {reads} reads");
                    reads += 1;
                }
                reads
            });
            let writers: Vec<_> = (0..4)
                .map(|w| {
                    let commit = &commit;
                    s.spawn(move || {
                        for i in 0..40 {
                            commit(w * 100 + i);
                        }
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, Ordering::SeqCst);
            assert!(reader.join().unwrap() > 0);
        });
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["img"], "no temporary or old directories left");
    }

    /// A commit of exactly what is there touches nothing; any difference
    /// (a changed, extra or re-moded file, a copy in place of the link)
    /// gives a fresh layout.
    #[test]
    fn an_identical_layout_is_left_alone_and_any_difference_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("img");
        let layer = dir.path().join("layer");
        fs::write(&layer, b"layer bytes").unwrap();
        let commit = |n: u32| {
            let mut l = Layout::create(&dest).unwrap();
            l.put_file(&layer, "sha256:ab").unwrap();
            let d = l
                .put(MANIFEST, format!("{{\"n\":{n}}}").as_bytes())
                .unwrap();
            l.write_file("sbom/x.json", b"[]").unwrap();
            l.tag("latest", d);
            l.commit().unwrap();
        };
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        commit(1);
        let (root, index) = (ino(&dest), ino(&dest.join("index.json")));
        commit(1);
        assert_eq!((ino(&dest), ino(&dest.join("index.json"))), (root, index));
        commit(2);
        assert_ne!(ino(&dest), root, "a new manifest, a new layout");

        let changes: [(&str, &dyn Fn()); 5] = [
            ("content", &|| {
                fs::write(dest.join("index.json"), b"{}").unwrap()
            }),
            ("extra file", &|| {
                fs::write(dest.join("blobs/stray"), b"").unwrap()
            }),
            ("extra dir", &|| {
                fs::create_dir(dest.join("sbom/d")).unwrap()
            }),
            ("mode", &|| {
                set_mode(&dest.join("sbom/x.json"), 0o600).unwrap()
            }),
            ("copied layer", &|| {
                let blob = dest.join("blobs/sha256/ab");
                fs::remove_file(&blob).unwrap();
                fs::write(&blob, b"layer bytes").unwrap();
                set_mode(&blob, 0o644).unwrap();
            }),
        ];
        for (what, change) in changes {
            change();
            let before = ino(&dest);
            commit(2);
            assert_ne!(ino(&dest), before, "{what}: the layout was not replaced");
            let again = ino(&dest);
            commit(2);
            assert_eq!(ino(&dest), again, "{what}: a second commit replaced it");
        }
        assert!(!dest.join("blobs/stray").exists());
        assert_eq!(ino(&dest.join("blobs/sha256/ab")), ino(&layer));
    }

    /// `l` with one manifest tagged `tag`.
    fn l_put(l: &mut Layout, tag: &str, bytes: &[u8]) {
        let d = l.put(MANIFEST, bytes).unwrap();
        l.tag(tag, d);
    }

    /// What distill did not write is never replaced: a user's directory,
    /// a file, a symlink; the error names it and nothing is left beside.
    #[test]
    fn what_is_not_a_layout_survives() {
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join("notes");
        fs::create_dir(&notes).unwrap();
        fs::write(notes.join("todo.txt"), b"mine").unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"mine too").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&notes, &link).unwrap();
        // A layout with a stranger at its top is not distill's either.
        let other = dir.path().join("other");
        let mut l = Layout::create(&other).unwrap();
        l_put(&mut l, "latest", b"{}");
        l.commit().unwrap();
        fs::write(other.join("README"), b"mine").unwrap();
        for (dest, what) in [
            (&notes, "a directory with other files"),
            (&file, "a file"),
            (&link, "a symbolic link"),
            (&other, "a directory with other files"),
        ] {
            let mut l = Layout::create(dest).unwrap();
            l_put(&mut l, "latest", b"{}");
            let e = l.commit().unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
            assert!(e.contains("not an image layout distill wrote"), "{e}");
        }
        assert_eq!(fs::read(notes.join("todo.txt")).unwrap(), b"mine");
        assert_eq!(fs::read(&file).unwrap(), b"mine too");
        assert_eq!(fs::read(other.join("README")).unwrap(), b"mine");
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["file", "link", "notes", "other"],
            "no temp dirs left"
        );
        // An empty directory is taken.
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let mut l = Layout::create(&empty).unwrap();
        l_put(&mut l, "latest", b"{}");
        l.commit().unwrap();
        assert!(empty.join("index.json").is_file());
    }

    #[test]
    fn commit_replaces_whole_layout() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("img");
        let mut l = Layout::create(&dest).unwrap();
        l_put(&mut l, "old", b"[]");
        l.commit().unwrap();
        fs::write(dest.join("blobs/stale"), b"").unwrap();
        let mut l = Layout::create(&dest).unwrap();
        let d = l.put(MANIFEST, b"{}").unwrap();
        l.tag("latest", d.clone());
        l.commit().unwrap();
        assert!(!dest.join("blobs/stale").exists());
        let index = fs::read_to_string(dest.join("index.json")).unwrap();
        assert!(index.contains(r#""org.opencontainers.image.ref.name":"latest""#));
        let blob = dest.join("blobs/sha256").join(&d.digest[7..]);
        assert_eq!(fs::read(&blob).unwrap(), b"{}");
        assert_eq!(
            fs::metadata(&blob).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o755
        );
        // Nothing left beside it.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["img"]);
    }
}
