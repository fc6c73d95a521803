//! An OCI image layout directory, written whole or not at all: everything
//! goes into a temporary directory beside the destination, which replaces
//! the old layout only once complete. Modes are set explicitly (0755 dirs,
//! 0644 files) so the umask of the build does not show.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::ImageError;
use crate::oci::{Descriptor, MANIFEST, REF_NAME, index};

/// The empty JSON config of artifact manifests.
const EMPTY: &str = "application/vnd.oci.empty.v1+json";

pub struct Layout {
    tmp: tempfile::TempDir,
    dest: PathBuf,
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
    /// Starts a layout that will end up at `dest`.
    pub fn create(dest: &Path) -> Result<Layout, ImageError> {
        let parent = dest.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
        let name = dest
            .file_name()
            .map_or("layout".into(), |n| n.to_string_lossy());
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp"))
            .tempdir_in(parent)
            .map_err(|e| err(parent, e))?;
        let blobs = tmp.path().join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(|e| err(&blobs, e))?;
        Ok(Layout {
            tmp,
            dest: dest.to_owned(),
            entries: Vec::new(),
        })
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        blob_path(self.tmp.path(), digest)
    }

    /// Stores `bytes` as a blob of `media_type`.
    pub fn put(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, ImageError> {
        let d = Descriptor::of(media_type, bytes);
        let p = self.blob_path(&d.digest);
        if !p.exists() {
            fs::write(&p, bytes).map_err(|e| err(&p, e))?;
            set_mode(&p, 0o644)?;
        }
        Ok(d)
    }

    /// Stores an existing file (a cached layer) as the blob `digest`: a
    /// hard link when the cache is on the same file system, else a copy.
    pub fn put_file(&self, src: &Path, digest: &str) -> Result<(), ImageError> {
        let p = self.blob_path(digest);
        if p.exists() {
            return Ok(());
        }
        if fs::hard_link(src, &p).is_err() {
            fs::copy(src, &p).map_err(|e| err(&p, e))?;
        }
        set_mode(&p, 0o644)
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
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> Result<(), ImageError> {
        let p = self.tmp.path().join(rel);
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
            set_mode(dir, 0o755)?;
        }
        fs::write(&p, bytes).map_err(|e| err(&p, e))?;
        set_mode(&p, 0o644)
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

    /// Writes oci-layout and index.json and moves the layout into place.
    pub fn commit(self) -> Result<PathBuf, ImageError> {
        let root = self.tmp.path();
        let layout = root.join("oci-layout");
        fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(|e| err(&layout, e))?;
        set_mode(&layout, 0o644)?;
        let index_path = root.join("index.json");
        fs::write(&index_path, index(&self.entries, &BTreeMap::new()))
            .map_err(|e| err(&index_path, e))?;
        set_mode(&index_path, 0o644)?;
        for d in [
            root.to_owned(),
            root.join("blobs"),
            root.join("blobs/sha256"),
        ] {
            set_mode(&d, 0o755)?;
        }
        swap_into_place(self.tmp, &self.dest)?;
        Ok(self.dest)
    }
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
            // first (a failure in between leaves it at `<dest>.old`).
            Err(rustix::io::Errno::INVAL) => {
                let old = dest.with_extension("old");
                if dest.exists() {
                    let _ = fs::remove_dir_all(&old);
                    fs::rename(dest, &old).map_err(|e| err(dest, e))?;
                }
                fs::rename(tmp.path(), dest).map_err(|e| err(dest, e))?;
                let _ = tmp.keep();
                let _ = fs::remove_dir_all(&old);
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

    #[test]
    fn commit_replaces_whole_layout() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("img");
        fs::create_dir_all(dest.join("stale")).unwrap();
        let mut l = Layout::create(&dest).unwrap();
        let d = l.put(MANIFEST, b"{}").unwrap();
        l.tag("latest", d.clone());
        l.commit().unwrap();
        assert!(!dest.join("stale").exists());
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
