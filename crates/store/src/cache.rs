use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::StoreError;

/// An HTTP response's `ETag` and `Last-Modified`, sent back as
/// `If-None-Match` / `If-Modified-Since` to revalidate a cached copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// Content-addressed store: `sha256/<2 hex>/<64 hex>` holds bytes whose
/// hash is their name; `url/<sha256 of url>` records which content a URL
/// last served (used for `--offline` replays of unpinned files);
/// `derived/` holds what was made from stored content (index tables).
///
/// Every write goes to a temporary file in `tmp/` on the same filesystem
/// and is renamed into place, so readers never see a partial file and two
/// processes sharing the cache at worst both write the same bytes.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

fn cache_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::new(path, e)
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Result<Cache, StoreError> {
        let root = root.into();
        for sub in ["sha256", "url", "tmp"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(|e| cache_err(&dir, e))?;
        }
        Ok(Cache { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(&sha256[..2]).join(sha256)
    }

    /// The path of a cached blob, if present. The name is its hash, and it
    /// was only renamed there after the hash matched, so it is not hashed
    /// again on every read.
    /// Anything but a sha256 (a damaged URL note, say) is not there.
    pub fn get(&self, sha256: &str) -> Option<PathBuf> {
        distill_debian::Sha256::parse(sha256).ok()?;
        let p = self.blob_path(sha256);
        p.is_file().then_some(p)
    }

    /// A temporary file to download into; `commit` moves it into place.
    pub fn temp(&self) -> Result<NamedTempFile, StoreError> {
        let dir = self.root.join("tmp");
        tempfile::Builder::new()
            .prefix(&crate::temp_prefix("dl"))
            .tempfile_in(&dir)
            .map_err(|e| cache_err(&dir, e))
    }

    /// Moves a fully written and hash-checked temporary file into place.
    pub fn commit(&self, tmp: NamedTempFile, sha256: &str) -> Result<PathBuf, StoreError> {
        self.commit_as(tmp, sha256, true)
    }

    fn commit_as(
        &self,
        tmp: NamedTempFile,
        sha256: &str,
        durable: bool,
    ) -> Result<PathBuf, StoreError> {
        persist(tmp, self.blob_path(sha256), durable)
    }

    /// Moves a fully written and hash-checked temporary file into place
    /// without waiting for the disk, for content that can be made again
    /// and is checked on use, such as a decompressed index (its stanzas
    /// against their table): a copy a crash tore fails that check and is
    /// remade. Syncing 200 MB of indices cost a cold `lock` more than
    /// decompressing them.
    pub fn commit_remakeable(
        &self,
        tmp: NamedTempFile,
        sha256: &str,
    ) -> Result<PathBuf, StoreError> {
        self.commit_as(tmp, sha256, false)
    }

    /// `derived/<name>`: a file made from cached content, such as a
    /// package index's table (named after the text's hash).
    pub fn derived_path(&self, name: &str) -> PathBuf {
        self.root.join("derived").join(name)
    }

    /// Stores a derived file. Like [`Cache::commit_remakeable`] it is not
    /// synced: it carries its own checksum, and one a crash tore is made
    /// again.
    pub fn put_derived(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        let mut tmp = self.temp()?;
        tmp.write_all(bytes).map_err(|e| cache_err(tmp.path(), e))?;
        persist(tmp, self.derived_path(name), false)
    }

    fn url_ref(&self, url: &str) -> PathBuf {
        self.root
            .join("url")
            .join(hex::encode(Sha256::digest(url.as_bytes())))
    }

    /// Records that `url` served the content `sha256` (and from which URL,
    /// after redirects), with the validators the server sent for it.
    pub fn set_url(
        &self,
        url: &str,
        sha256: &str,
        served_from: &str,
        validators: &Validators,
    ) -> Result<(), StoreError> {
        let dest = self.url_ref(url);
        let mut note = format!("{sha256} {served_from}\n");
        if let Some(v) = &validators.etag {
            note.push_str(&format!("etag {v}\n"));
        }
        if let Some(v) = &validators.last_modified {
            note.push_str(&format!("last-modified {v}\n"));
        }
        crate::write_atomic(&dest, note.as_bytes()).map_err(|e| cache_err(&dest, e))
    }

    /// What `url` last served: the blob's hash and the final URL.
    pub fn get_url(&self, url: &str) -> Option<(String, String)> {
        self.get_url_note(url).map(|(sha, served, _)| (sha, served))
    }

    /// What `url` last served, with the validators to ask the server
    /// whether it changed since.
    pub fn get_url_note(&self, url: &str) -> Option<(String, String, Validators)> {
        self.read_note(&self.url_ref(url))
    }

    /// Whether the URL note at `path` (a file of `url/`) names content
    /// the cache no longer has, or is not a note at all.
    pub fn is_dangling_note(&self, path: &Path) -> bool {
        self.read_note(path).is_none()
    }

    /// A URL note: `<sha256> <final url>` then optional `etag <value>` and
    /// `last-modified <value>` lines; `None` unless its content is stored.
    fn read_note(&self, path: &Path) -> Option<(String, String, Validators)> {
        let text = fs::read_to_string(path).ok()?;
        let mut lines = text.lines();
        let (sha, served) = lines.next()?.split_once(' ')?;
        self.get(sha)?;
        let mut validators = Validators::default();
        for line in lines {
            match line.split_once(' ') {
                Some(("etag", v)) => validators.etag = Some(v.to_owned()),
                Some(("last-modified", v)) => validators.last_modified = Some(v.to_owned()),
                _ => {}
            }
        }
        Some((sha.to_owned(), served.to_owned(), validators))
    }
}

/// Moves a written temporary file to `dest` (its directory made first),
/// synced to disk first when `durable`.
fn persist(tmp: NamedTempFile, dest: PathBuf, durable: bool) -> Result<PathBuf, StoreError> {
    let parent = dest.parent().expect("cache paths have a parent");
    fs::create_dir_all(parent).map_err(|e| cache_err(parent, e))?;
    if durable {
        tmp.as_file()
            .sync_all()
            .map_err(|e| cache_err(tmp.path(), e))?;
    }
    tmp.persist(&dest).map_err(|e| cache_err(&dest, e.error))?;
    Ok(dest)
}

/// The sha256 (hex) and length of a file, read in chunks.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let len = std::io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_notes_round_trip_and_damaged_ones_are_not_there() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path()).unwrap();
        let sha = hex::encode(Sha256::digest(b"x"));
        let mut tmp = cache.temp().unwrap();
        tmp.write_all(b"x").unwrap();
        cache.commit(tmp, &sha).unwrap();
        let v = Validators {
            etag: Some("\"1-a\"".into()),
            last_modified: Some("Tue, 24 Nov 2026 10:00:00 GMT".into()),
        };
        cache.set_url("http://h/a", &sha, "http://h/b", &v).unwrap();
        assert_eq!(
            cache.get_url_note("http://h/a"),
            Some((sha.clone(), "http://h/b".into(), v))
        );
        let note = cache.url_ref("http://h/a");
        assert!(!cache.is_dangling_note(&note));
        // Damaged notes are not notes, and nothing panics on them.
        for damaged in ["a b\n", "\n", "é http://h/b\n", ""] {
            std::fs::write(&note, damaged).unwrap();
            assert_eq!(cache.get_url("http://h/a"), None, "{damaged:?}");
            assert!(cache.is_dangling_note(&note));
        }
    }
}
