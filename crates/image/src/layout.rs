//! An OCI image layout directory, written whole or not at all: its files
//! are staged in memory (layer blobs as the cache files they link to) and
//! written on commit into a temporary directory beside the destination,
//! which replaces the old layout only once complete. A destination that
//! already holds exactly the staged files is left alone: a warm rebuild
//! creates and deletes nothing. Modes are set explicitly (0755 dirs, 0644
//! files) so the umask of the build does not show.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::ImageError;
use crate::oci::{Descriptor, MANIFEST, REF_NAME, index, is_digest};

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
    /// unless the destination already holds exactly these files. What
    /// an existing layout holds that this commit did not write (tags
    /// `append` added, with every blob they reach, a user's files) is
    /// carried into the new one; see [`Existing::carry`].
    pub fn commit(mut self) -> Result<PathBuf, ImageError> {
        let mut entries: Vec<Descriptor> = std::mem::take(&mut self.entries);
        for d in &mut entries {
            d.annotations.insert(OWNED.to_owned(), "true".to_owned());
        }
        // Another commit of the same layout may replace it while this
        // one reads it: read it again, from the start.
        let mut tries = 0;
        loop {
            match self.try_commit(entries.clone()) {
                Err(e) if e.vanished() && tries < 8 => tries += 1,
                done => return done,
            }
        }
    }

    fn try_commit(&mut self, mut entries: Vec<Descriptor>) -> Result<PathBuf, ImageError> {
        let carried = match Existing::read(&self.dest)? {
            Some(old) => {
                let (kept, carried) = old.carry(&entries, &self.files)?;
                entries.extend(kept);
                carried
            }
            None => BTreeMap::new(),
        };
        let index = index(&entries, &BTreeMap::new());
        self.files
            .insert("oci-layout".into(), Staged::Bytes(OCI_LAYOUT.to_vec()));
        self.files.insert("index.json".into(), Staged::Bytes(index));
        if holds_exactly(&self.dest, &self.files, &carried) {
            return Ok(self.dest.clone());
        }
        let parent = self.dest.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
        let name = self
            .dest
            .file_name()
            .map_or("layout".into(), |n| n.to_string_lossy());
        let tmp = tempfile::Builder::new()
            .prefix(&distill_store::temp_prefix(&format!("{name}.tmp")))
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
                Staged::Bytes(b) => {
                    fs::write(&p, b).map_err(|e| err(&p, e))?;
                    set_mode(&p, 0o644)?;
                }
                // The cache keeps its blobs read-only (0444): the link
                // shares that mode, and an edit through the layout is
                // refused to anyone but root (and seen by the cache's
                // check on read if root does it).
                Staged::Link(src) => {
                    if fs::hard_link(src, &p).is_err() {
                        fs::copy(src, &p).map_err(|e| err(&p, e))?;
                        set_mode(&p, 0o444)?;
                    }
                }
            }
        }
        for d in [root.to_owned(), root.join("blobs"), blobs] {
            set_mode(&d, 0o755)?;
        }
        for (rel, kept) in &carried {
            kept.place(&self.dest.join(rel), &root.join(rel))?;
        }
        swap_into_place(tmp, &self.dest)?;
        remove_dead_temps(parent, &format!(".{name}.tmp-"));
        Ok(self.dest.clone())
    }
}

/// index.json entries a [`Layout::commit`] wrote carry this annotation:
/// a later commit replaces them. Entries without it (tags `append` or
/// another tool added) are kept, with what they reach.
pub(crate) const OWNED: &str = "dev.distill.owned";

/// The media types whose documents name other blobs.
const PARENTS: [&str; 4] = [
    MANIFEST,
    crate::oci::INDEX,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Bounds on what is read of a layout distill did not necessarily write.
const MAX_DOC: u64 = 16 << 20;

/// A layout already at the destination, as read before a commit.
struct Existing {
    root: PathBuf,
    index: crate::IndexDoc,
}

/// What an existing layout keeps through a commit, by kind.
enum Kept {
    File,
    Symlink(PathBuf),
    Dir(u32),
}

impl Kept {
    /// Puts the kept entry `old` at `new`: a file by a hard link (a copy
    /// where that fails), a symlink with its target, a directory with
    /// its mode.
    fn place(&self, old: &Path, new: &Path) -> Result<(), ImageError> {
        if let Some(dir) = new.parent() {
            fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        }
        match self {
            Kept::File => {
                if fs::hard_link(old, new).is_err() {
                    fs::copy(old, new).map_err(|e| err(new, e))?;
                }
            }
            Kept::Symlink(target) => {
                std::os::unix::fs::symlink(target, new).map_err(|e| err(new, e))?
            }
            Kept::Dir(mode) => {
                if !new.is_dir() {
                    fs::create_dir(new).map_err(|e| err(new, e))?;
                }
                set_mode(new, *mode)?;
            }
        }
        Ok(())
    }
}

impl Existing {
    /// The layout at `dest`; `None` when there is nothing (or an empty
    /// directory). Anything else that is not an image layout (a file, a
    /// symlink, a directory without `oci-layout` and `index.json`) is
    /// refused: a user's directory is never replaced.
    fn read(dest: &Path) -> Result<Option<Existing>, ImageError> {
        let not_ours = |what| ImageError::NotOurs {
            path: dest.display().to_string(),
            what,
        };
        let Some(meta) = output_at(dest)? else {
            return Ok(None);
        };
        if !meta.is_dir() {
            return Err(not_ours("a file"));
        }
        if fs::read_dir(dest)
            .map_err(|e| err(dest, e))?
            .next()
            .is_none()
        {
            return Ok(None);
        }
        let layout = read_small(&dest.join("oci-layout"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["imageLayoutVersion"].is_string());
        let index = read_small(&dest.join("index.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<crate::IndexDoc>(&b).ok());
        match index {
            Some(index) if layout => Ok(Some(Existing {
                root: dest.to_owned(),
                index,
            })),
            _ => Err(not_ours("a directory with other files")),
        }
    }

    /// Which of this layout's entries a commit of `entries` and `files`
    /// keeps, and which of its files it carries over (relative path →
    /// kind). Replaced: the entries an earlier commit wrote ([`OWNED`]),
    /// those under a tag the commit writes, and untagged ones (SBOM
    /// artifacts) about an image only those reach. Dropped with them:
    /// the blobs only they reach, and the `sbom/` files whose bytes are
    /// such a blob (the SBOMs an earlier build wrote). Everything else
    /// (other tags and their blobs, files distill did not write) is
    /// carried; a file of a user's where the commit would write one is
    /// an error naming it, never overwritten.
    fn carry(
        &self,
        entries: &[Descriptor],
        files: &BTreeMap<String, Staged>,
    ) -> Result<(Vec<Descriptor>, BTreeMap<String, Kept>), ImageError> {
        let tags: BTreeSet<&str> = entries
            .iter()
            .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
            .collect();
        let replaced_tag = |d: &Descriptor| {
            d.annotations.contains_key(OWNED)
                || d.annotations
                    .get(REF_NAME)
                    .is_some_and(|t| tags.contains(t.as_str()))
        };
        let manifests = &self.index.manifests;
        let tagged = |d: &&Descriptor| d.annotations.contains_key(REF_NAME);
        let (tagged_out, tagged_in): (Vec<&Descriptor>, Vec<&Descriptor>) = manifests
            .iter()
            .filter(tagged)
            .partition(|d| replaced_tag(d));
        let (out_reach, in_reach) = (self.reach(&tagged_out), self.reach(&tagged_in));
        let dropped_entry = |d: &Descriptor| {
            replaced_tag(d)
                || (!d.annotations.contains_key(REF_NAME)
                    && self
                        .subject(d)
                        .is_some_and(|s| out_reach.contains(&s) && !in_reach.contains(&s)))
        };
        // In the order the index had them.
        let (dropped, kept): (Vec<&Descriptor>, Vec<&Descriptor>) =
            manifests.iter().partition(|d| dropped_entry(d));
        let ours = self.reach(&dropped);
        let keep = self.reach(&kept);
        let mut found = BTreeMap::new();
        walk_all(&self.root, "", &mut found).map_err(|e| read_err(&self.root, e))?;
        let mut carried = BTreeMap::new();
        for (rel, meta) in found {
            let base = rel.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            // What killed runs left half-written goes with the old layout.
            if rel == "index.json" || rel == "oci-layout" || distill_store::is_dead_temp(base) {
                continue;
            }
            let path = self.root.join(&rel);
            let blob = rel
                .strip_prefix("blobs/sha256/")
                .filter(|h| is_digest(&format!("sha256:{h}")));
            // Blobs are named by their content: the commit's own copy of
            // one it writes is the same bytes, checked.
            if let Some(hex) = blob
                && ours.contains(hex)
                && !keep.contains(hex)
            {
                continue;
            }
            if rel.starts_with("blobs/") && files.contains_key(&rel) {
                continue;
            } else if rel.starts_with("sbom/") && meta.is_file() {
                let same = matches!(files.get(&rel), Some(Staged::Bytes(b))
                    if meta.len() == b.len() as u64 && fs::read(&path).is_ok_and(|f| f == *b));
                let earlier =
                    same || distill_store::sha256_file(&path).is_ok_and(|(h, _)| ours.contains(&h));
                if earlier {
                    continue;
                }
            }
            if files.contains_key(&rel) {
                return Err(ImageError::NotOurs {
                    path: path.display().to_string(),
                    what: "a file distill did not write",
                });
            }
            let kind = meta.file_type();
            if kind.is_dir() && files.keys().any(|f| f.starts_with(&rel)) {
                continue; // the commit makes it
            }
            let kept = if kind.is_symlink() {
                Kept::Symlink(fs::read_link(&path).map_err(|e| read_err(&path, e))?)
            } else if kind.is_dir() {
                Kept::Dir(meta.mode() & 0o7777)
            } else if kind.is_file() {
                Kept::File
            } else {
                return Err(ImageError::NotOurs {
                    path: path.display().to_string(),
                    what: "a special file",
                });
            };
            carried.insert(rel, kept);
        }
        Ok((kept.into_iter().cloned().collect(), carried))
    }

    /// The hex digests of every blob `from` reaches, through the
    /// manifests and indices of this layout (those missing or unreadable
    /// end the walk there).
    fn reach(&self, from: &[&Descriptor]) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<Descriptor> = from.iter().map(|d| (*d).clone()).collect();
        while let Some(d) = todo.pop() {
            let hex = d.digest.trim_start_matches("sha256:").to_owned();
            if !seen.insert(hex) || !PARENTS.contains(&d.media_type.as_str()) {
                continue;
            }
            let Some(doc) = self.doc(&d) else { continue };
            for key in ["manifests", "layers", "blobs"] {
                if let Some(list) = doc.get(key).and_then(|v| v.as_array()) {
                    todo.extend(list.iter().filter_map(descriptor));
                }
            }
            todo.extend(
                ["config", "subject"]
                    .iter()
                    .filter_map(|k| descriptor(doc.get(*k)?)),
            );
        }
        seen
    }

    /// The hex digest of the manifest an artifact entry is about.
    fn subject(&self, d: &Descriptor) -> Option<String> {
        let doc = self.doc(d)?;
        let s = descriptor(doc.get("subject")?)?;
        Some(s.digest.trim_start_matches("sha256:").to_owned())
    }

    fn doc(&self, d: &Descriptor) -> Option<serde_json::Value> {
        let bytes = read_small(&blob_path(&self.root, &d.digest)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// What is at `dest`, an output path distill is about to write: `None`
/// when nothing is; a symlink is refused (its name was chosen by someone,
/// and what it points at is not distill's to replace).
pub(crate) fn output_at(dest: &Path) -> Result<Option<fs::Metadata>, ImageError> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_symlink() => Err(ImageError::NotOurs {
            path: dest.display().to_string(),
            what: "a symbolic link",
        }),
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_err(dest, e)),
    }
}

fn descriptor(v: &serde_json::Value) -> Option<Descriptor> {
    serde_json::from_value(v.clone()).ok()
}

fn read_err(path: &Path, e: std::io::Error) -> ImageError {
    ImageError::Read {
        path: path.display().to_string(),
        source: e,
    }
}

/// A small document of a layout: a regular file (a FIFO or device is
/// not read) of at most [`MAX_DOC`] bytes.
fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    distill_store::read_bounded(path, MAX_DOC)
}

/// Every entry under `dir` (directories named with a trailing `/`),
/// symlinks as themselves, relative names with `prefix`, into `out`.
fn walk_all(
    dir: &Path,
    prefix: &str,
    out: &mut BTreeMap<String, fs::Metadata>,
) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let meta = fs::symlink_metadata(entry.path())?;
        if meta.is_dir() {
            let name = format!("{name}/");
            walk_all(&entry.path(), &name, out)?;
            out.insert(name, meta);
        } else {
            out.insert(name, meta);
        }
    }
    Ok(())
}

/// Removes the temporary directories (`<prefix><pid>-…`) that commits
/// killed before they finished left in `parent`: those whose process is
/// gone. A running commit's, another build's at the same time, stays.
fn remove_dead_temps(parent: &Path, prefix: &str) {
    for entry in distill_store::dead_temps(parent) {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            let _ = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(entry.path()),
                _ => fs::remove_file(entry.path()),
            };
        }
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
        // Files a killed append left half-written here.
        remove_dead_temps(&self.dest, ".distill-");
        remove_dead_temps(&self.dest.join(BLOBS), ".distill-");
        Ok(self.dest)
    }
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Whether the layout at `dest` is exactly `files` plus `carried`: the
/// same names and nothing else, written files mode 0644 with the same
/// bytes, each linked blob the very file it would be linked to, the
/// directories of written files 0755. Anything else (a missing or extra
/// file, a copy instead of a link, an unreadable entry) means no.
fn holds_exactly(
    dest: &Path,
    files: &BTreeMap<String, Staged>,
    carried: &BTreeMap<String, Kept>,
) -> bool {
    let mut found = BTreeMap::new();
    if walk_all(dest, "", &mut found).is_err()
        || fs::symlink_metadata(dest).is_ok_and(|m| m.mode() & 0o7777 != 0o755)
    {
        return false;
    }
    // The directories, named with a trailing `/`: the two every layout
    // has and those the files are in.
    let mut dirs: BTreeSet<String> = ["blobs/".to_owned(), format!("{BLOBS}/")].into();
    for rel in files.keys() {
        let mut at = 0;
        while let Some(i) = rel[at..].find('/') {
            at += i + 1;
            dirs.insert(rel[..at].to_owned());
        }
    }
    let known = found.iter().all(|(rel, meta)| {
        if dirs.contains(rel) {
            meta.is_dir() && meta.mode() & 0o7777 == 0o755
        } else {
            files.contains_key(rel) || carried.contains_key(rel)
        }
    });
    known
        && dirs.iter().all(|d| found.contains_key(d))
        && files.iter().all(|(rel, staged)| {
            let Some(meta) = found.get(rel) else {
                return false;
            };
            match staged {
                Staged::Bytes(b) => {
                    meta.is_file()
                        && meta.mode() & 0o7777 == 0o644
                        && meta.len() == b.len() as u64
                        && fs::read(dest.join(rel)).is_ok_and(|on_disk| on_disk == *b)
                }
                Staged::Link(src) => {
                    fs::metadata(src).is_ok_and(|s| (s.dev(), s.ino()) == (meta.dev(), meta.ino()))
                }
            }
        })
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

        let changes: [(&str, &dyn Fn()); 3] = [
            ("content", &|| {
                fs::write(dest.join("index.json"), b"{}").unwrap()
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
        // What distill did not write is no difference: it stays.
        fs::write(dest.join("blobs/stray"), b"").unwrap();
        fs::create_dir(dest.join("sbom/d")).unwrap();
        let before = ino(&dest);
        commit(2);
        assert_eq!(ino(&dest), before, "a user's files are not a difference");
        commit(3);
        assert!(dest.join("blobs/stray").is_file() && dest.join("sbom/d").is_dir());
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
        // A layout with a stranger at its top keeps it.
        let other = dir.path().join("other");
        let mut l = Layout::create(&other).unwrap();
        l_put(&mut l, "latest", b"{}");
        l.commit().unwrap();
        fs::write(other.join("README"), b"mine").unwrap();
        let mut l = Layout::create(&other).unwrap();
        l_put(&mut l, "latest", b"{\"new\":1}");
        l.commit().unwrap();
        for (dest, what) in [
            (&notes, "a directory with other files"),
            (&file, "a file"),
            (&link, "a symbolic link"),
        ] {
            let mut l = Layout::create(dest).unwrap();
            l_put(&mut l, "latest", b"{}");
            let e = l.commit().unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
            assert!(e.contains("not output distill wrote"), "{e}");
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
        let old = blob_path(&dest, &Descriptor::of(MANIFEST, b"[]").digest);
        let mut l = Layout::create(&dest).unwrap();
        let d = l.put(MANIFEST, b"{}").unwrap();
        l.tag("latest", d.clone());
        l.commit().unwrap();
        assert!(!old.exists(), "the old tag and its blob are gone");
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
    /// A rebuild replaces what a commit wrote and nothing else: a tag
    /// another tool added keeps every blob it reaches (one shared with
    /// the replaced tag too), untagged artifacts about it stay, an SBOM
    /// file of the old build goes, a user's file stays, and a user's
    /// file where the commit would write one is an error naming it.
    #[test]
    fn a_rebuild_keeps_other_tags_and_files() {
        use crate::oci::{CONFIG, INDEX, manifest};
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("img");
        let build = |n: u32| {
            let mut l = Layout::create(&dest).unwrap();
            let config = l.put(CONFIG, b"{\"shared\":1}").unwrap();
            let own = l.put(CONFIG, format!("{{\"n\":{n}}}").as_bytes()).unwrap();
            let m = l
                .put(MANIFEST, &manifest(&config, &[own], &BTreeMap::new()))
                .unwrap();
            l.attach(&m, "application/spdx+json", format!("sbom {n}").as_bytes())
                .unwrap();
            l.write_file(
                &format!("sbom/build-{n}.spdx.json"),
                format!("sbom {n}").as_bytes(),
            )
            .unwrap();
            l.tag(&format!("v{n}"), m);
            l.commit().unwrap();
        };
        build(1);
        // Another tool adds a tag (with an artifact about it) in place.
        let mut l = Layout::create(&dest).unwrap();
        let config = l.put(CONFIG, b"{\"shared\":1}").unwrap();
        let app = l
            .put(MANIFEST, &manifest(&config, &[], &BTreeMap::new()))
            .unwrap();
        let note = l.put("text/plain", b"about app").unwrap();
        let i = l
            .put(INDEX, &index(&[app.clone(), note], &BTreeMap::new()))
            .unwrap();
        l.tag("app", i);
        l.commit_into().unwrap();
        fs::write(dest.join("sbom/mine.txt"), b"mine").unwrap();
        fs::create_dir_all(dest.join("blobs/sha512")).unwrap();
        fs::write(dest.join("blobs/sha512/x"), b"mine").unwrap();
        std::os::unix::fs::symlink("sbom/mine.txt", dest.join("latest-link")).unwrap();

        build(2);
        let r = crate::LayoutReader::open(&dest).unwrap();
        let tags: Vec<&str> = r.tags().map(|(t, _)| t).collect();
        assert_eq!(tags, ["v2", "app"], "v1 replaced, app kept");
        let (_, app_entry) = r.tags().nth(1).unwrap();
        for m in r.images(app_entry).unwrap() {
            assert!(r.blob(&m).is_ok(), "{} kept", m.digest);
        }
        assert!(r.blob(&config).is_ok(), "a blob both reach is kept");
        let v1_own = Descriptor::of(CONFIG, b"{\"n\":1}");
        assert!(
            !r.blob_path(&v1_own.digest).exists(),
            "v1's own blob is gone"
        );
        let untagged = r
            .entries()
            .iter()
            .filter(|d| !d.annotations.contains_key(REF_NAME));
        assert_eq!(
            untagged.count(),
            1,
            "only v2's SBOM artifact: {:?}",
            r.entries()
        );
        assert!(!dest.join("sbom/build-1.spdx.json").exists());
        assert!(dest.join("sbom/build-2.spdx.json").is_file());
        assert_eq!(fs::read(dest.join("sbom/mine.txt")).unwrap(), b"mine");
        assert_eq!(fs::read(dest.join("blobs/sha512/x")).unwrap(), b"mine");
        assert_eq!(
            fs::read_link(dest.join("latest-link")).unwrap(),
            Path::new("sbom/mine.txt")
        );
        // Building the same again changes nothing.
        let ino = fs::metadata(&dest).unwrap().ino();
        build(2);
        assert_eq!(fs::metadata(&dest).unwrap().ino(), ino);

        // A file of the user's where the commit writes: refused, named.
        fs::write(dest.join("sbom/build-3.spdx.json"), b"mine too").unwrap();
        let mut l = Layout::create(&dest).unwrap();
        l.write_file("sbom/build-3.spdx.json", b"sbom 3").unwrap();
        let e = l.commit().unwrap_err().to_string();
        assert!(
            e.contains("sbom/build-3.spdx.json") && e.contains("did not write"),
            "{e}"
        );
        assert_eq!(
            fs::read(dest.join("sbom/build-3.spdx.json")).unwrap(),
            b"mine too"
        );
    }
}
