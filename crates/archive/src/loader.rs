use std::io::Read;
use std::sync::Arc;

use distill_debian::{Served, Sha256, SnapshotTime};
use distill_fetch::{FetchError, Fetcher, Pinned};
use distill_trust::{Keyring, Release, verify_detached, verify_inrelease};

use crate::index::{Remake, Table, TableBuilder};
use crate::{ArchiveError, ArchiveSpec, PackageIndex};

/// A verified Release and where it came from.
#[derive(Debug, Clone)]
pub struct SuiteRelease {
    pub archive: String,
    pub suite: String,
    pub release: Release,
    /// sha256 of the InRelease (or Release) bytes as served.
    pub inrelease_sha256: Sha256,
    pub served: Served,
    /// Bases to fetch this suite's files from, best first: the one that
    /// served the Release, then the others.
    bases: Vec<String>,
}

impl SuiteRelease {
    fn dists_urls(&self, path: &str) -> Vec<String> {
        self.bases
            .iter()
            .map(|b| format!("{b}/dists/{}/{path}", self.suite))
            .collect()
    }
}

/// Loads verified indices. Cheap to share; all methods take `&self`.
pub struct Loader {
    fetcher: Arc<Fetcher>,
    keyring: Arc<Keyring>,
    /// Archive name → its own keyring (third-party archives).
    archive_keyrings: std::collections::BTreeMap<String, Arc<Keyring>>,
    /// The wall clock, for judging a live mirror's Release (a snapshot's is
    /// judged at its capture time). Injected so tests pin it.
    now: i64,
    /// One index decompressed per core at a time: more would not finish
    /// sooner, and each holds its blocks in flight and a table being made,
    /// so a lock of many architectures would grow with them.
    decoding: Arc<tokio::sync::Semaphore>,
}

impl Loader {
    pub fn new(fetcher: Arc<Fetcher>, keyring: Keyring, now: i64) -> Loader {
        Loader {
            fetcher,
            keyring: Arc::new(keyring),
            archive_keyrings: Default::default(),
            now,
            decoding: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
        }
    }

    /// Trusts only `keyring` for the archive called `archive`.
    pub fn with_archive_keyring(mut self, archive: &str, keyring: Keyring) -> Loader {
        self.archive_keyrings
            .insert(archive.to_owned(), Arc::new(keyring));
        self
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// Fetches and verifies `dists/<suite>/InRelease` (or Release +
    /// Release.gpg) for `snapshot`, falling back to the mirrors.
    ///
    /// Long on purpose: each step checks what the one before returned
    /// (fetch, verify the signature, parse, judge suite and dates at the
    /// snapshot time, record the source), and the order of trust reads
    /// top to bottom in one place.
    pub async fn release(
        &self,
        spec: &ArchiveSpec,
        suite: &str,
        snapshot: SnapshotTime,
    ) -> Result<SuiteRelease, ArchiveError> {
        let bases = spec.bases(snapshot);
        let keyring = self
            .archive_keyrings
            .get(&spec.name)
            .unwrap_or(&self.keyring);
        // Index 0 of `bases` is the snapshot, when the archive has one.
        let snapshot_served = |source: usize| spec.snapshot.is_some() && source == 0;
        let urls = |file: &str| -> Vec<String> {
            bases
                .iter()
                .map(|b| format!("{b}/dists/{suite}/{file}"))
                .collect()
        };

        // `at` is the moment the Release is judged at (see judge_time).
        // A snapshot capture never changes: its InRelease, once served, is
        // taken from the cache without a request (and verified again).
        let inrelease = urls("InRelease");
        let cached = spec
            .snapshot
            .is_some()
            .then(|| self.fetcher.cached_unpinned(&inrelease[0]))
            .flatten();
        let fetched = match cached {
            Some(f) => Ok(f),
            None => self.fetcher.fetch_unpinned(&inrelease).await,
        };
        let (bytes, source, final_url, text, at) = match fetched {
            Ok(f) => {
                let at = self.judge_time(snapshot_served(f.source), snapshot, &f.final_url);
                // On a blocking thread: the suites' signatures (RSA in pure
                // Rust, milliseconds each) are checked side by side.
                let (keys, bytes) = (Arc::clone(keyring), f.bytes.clone());
                let verified = off_thread(move || verify_inrelease(&bytes, &keys, at))
                    .await
                    .map_err(|cause| ArchiveError::Verify {
                        url: f.final_url.clone(),
                        source: cause,
                    })?;
                (f.bytes, f.source, f.final_url, verified.text, at)
            }
            Err(first) => {
                // Only worth trying when a server answered "not found": a
                // dead host was already given its retries.
                if !matches!(first, FetchError::Status { status: 404, .. }) {
                    return Err(first.into());
                }
                let rel = self
                    .fetcher
                    .fetch_unpinned(&urls("Release"))
                    .await
                    .map_err(|_| first)?;
                // The signature sits beside the Release that was served.
                let gpg_urls = vec![format!("{}.gpg", rel.final_url)];
                let sig = self.fetcher.fetch_unpinned(&gpg_urls).await?;
                let at = self.judge_time(snapshot_served(rel.source), snapshot, &rel.final_url);
                let verified =
                    verify_detached(&rel.bytes, &sig.bytes, keyring, at).map_err(|cause| {
                        ArchiveError::Verify {
                            url: rel.final_url.clone(),
                            source: cause,
                        }
                    })?;
                (rel.bytes, rel.source, rel.final_url, verified.text, at)
            }
        };

        let bad = |reason: String| ArchiveError::Release {
            url: final_url.clone(),
            reason,
        };
        let release = Release::parse(&text).map_err(|e| bad(e.to_string()))?;
        // A validly signed Release of another suite must not stand in for
        // this one (apt checks the same: replaying an old or different
        // suite's file is a downgrade attack).
        let names = [release.codename.as_deref(), release.suite.as_deref()];
        if !names.contains(&Some(suite)) {
            return Err(bad(format!(
                "it describes suite {:?} (codename {:?}), not {suite}",
                release.suite.as_deref().unwrap_or("?"),
                release.codename.as_deref().unwrap_or("?")
            )));
        }
        let served = if snapshot_served(source) {
            Served::Snapshot {
                capture: capture_of(&final_url).unwrap_or(snapshot),
            }
        } else {
            Served::Mirror {
                base: bases[source].clone(),
            }
        };
        release
            .check_time(at)
            .map_err(|cause| ArchiveError::Verify {
                url: final_url.clone(),
                source: cause,
            })?;

        // Later files come from the source that answered, first; a snapshot
        // capture is addressed directly rather than through the redirect.
        let mut ordered = Vec::with_capacity(bases.len());
        ordered.push(match &served {
            Served::Snapshot { capture } => spec
                .snapshot_at(capture)
                .expect("served by the snapshot, so there is one"),
            Served::Mirror { base } => base.clone(),
        });
        ordered.extend(
            bases
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != source)
                .map(|(_, b)| b.clone()),
        );

        let inrelease_sha256 = Sha256::of(&bytes);
        Ok(SuiteRelease {
            archive: spec.name.clone(),
            suite: suite.to_owned(),
            release,
            inrelease_sha256,
            served,
            bases: ordered,
        })
    }

    /// The moment a Release is judged at: the capture time for snapshot
    /// content, the wall clock for a live mirror.
    fn judge_time(&self, from_snapshot: bool, snapshot: SnapshotTime, final_url: &str) -> i64 {
        if from_snapshot {
            capture_of(final_url).unwrap_or(snapshot).unix()
        } else {
            self.now
        }
    }

    /// The verified `Packages` index of one component and architecture.
    /// A suite that does not carry the architecture at all (bookworm-security
    /// has no s390x) yields an empty index, as apt treats it.
    pub async fn packages(
        &self,
        rel: &SuiteRelease,
        component: &str,
        arch: &str,
    ) -> Result<PackageIndex, ArchiveError> {
        if !rel.release.architectures.is_empty()
            && !rel.release.architectures.iter().any(|a| a == arch)
        {
            return Ok(PackageIndex::default());
        }
        // debian-security says `Components: updates/main` but lists files
        // under `main/`; accept either spelling.
        let short = component.rsplit('/').next().unwrap_or(component);
        let mut chosen = None;
        'find: for comp in [component, short] {
            for ext in [".xz", ".gz", ""] {
                let path = format!("{comp}/binary-{arch}/Packages{ext}");
                if let Some(entry) = rel.release.entry(&path) {
                    chosen = Some((path, ext, entry.clone()));
                    break 'find;
                }
            }
        }
        let Some((path, ext, entry)) = chosen else {
            return Err(ArchiveError::MissingIndex {
                suite: rel.suite.clone(),
                path: format!("{component}/binary-{arch}/Packages"),
            });
        };
        // The verified Release also names the uncompressed index. A copy
        // kept in the cache under that hash, with its table, spares the
        // download, the decompression and reading the text at all (see
        // `index`): stanzas are read from it as they are asked for.
        let plain = rel
            .release
            .entry(path.strip_suffix(ext).unwrap_or(&path))
            .cloned();
        let mut urls = Vec::new();
        for canonical in rel.dists_urls(&path) {
            if rel.release.acquire_by_hash {
                let dir = canonical.rsplit_once('/').map_or("", |(d, _)| d);
                urls.push(format!("{dir}/by-hash/SHA256/{}", entry.sha256));
            }
            urls.push(canonical);
        }
        let pin = Pinned {
            sha256: entry.sha256.clone(),
            size: Some(entry.size),
        };
        let shown = rel.dists_urls(&path)[0].clone();
        // A text the Release names is kept in the cache, with what makes
        // it anew should a stanza read back from that copy be damaged.
        let kept = plain.map(|e| {
            let source = Source {
                fetcher: Arc::clone(&self.fetcher),
                urls: urls.clone(),
                pin: pin.clone(),
            };
            let remake = remaker(source, &e, ext, &shown);
            (e, remake)
        });
        let cache = self.fetcher.cache().clone();
        if let Some((e, remake)) = &kept
            && let Some(copy) = cache.get(e.sha256.as_str())
        {
            let (cache, e, remake, shown) =
                (cache.clone(), e.clone(), Arc::clone(remake), shown.clone());
            let found = off_thread(move || from_cache(&cache, copy, &e, remake, &shown)).await;
            if let Some(index) = found {
                return index;
            }
        }
        let file = self.fetcher.fetch_pinned(&urls, &pin).await.map_err(|e| {
            let integrity = matches!(
                e,
                FetchError::SizeMismatch { .. } | FetchError::HashMismatch { .. }
            );
            if integrity && matches!(rel.served, Served::Mirror { .. }) {
                ArchiveError::MirrorSync(e)
            } else {
                e.into()
            }
        })?;
        let ext = ext.to_owned();
        // Never closed, so acquiring cannot fail.
        let turn = Arc::clone(&self.decoding).acquire_owned().await;
        off_thread(move || {
            let _turn = turn;
            let plain = kept.as_ref().map(|(e, _)| e);
            let (text, table) = decode_and_index(&file, &ext, &shown, plain, &cache, false)?;
            match (text, kept) {
                // Read from the cache from now on, as on a warm run: a
                // cold lock holds the tables, not the texts (some 50 MB
                // an index), however many architectures it locks.
                (Decoded::Cached(path), Some((e, remake))) => {
                    keep_table(&cache, &table, &e);
                    PackageIndex::cached(path, table, remake).map_err(|source| {
                        ArchiveError::Decompress {
                            url: shown.clone(),
                            source,
                        }
                    })
                }
                (text, _) => Ok(PackageIndex::with_table(text.into_text()?, table)),
            }
        })
        .await
    }
}

/// The name, in the cache's `derived/`, of the table of the index text
/// with hash `sha256`.
pub fn table_name(sha256: &str) -> String {
    format!("{sha256}.table")
}

/// Keeps the table of a verified text, for the next run. Failing to is
/// no error: that run makes it again.
fn keep_table(cache: &distill_store::Cache, table: &Table, e: &distill_trust::FileEntry) {
    let bytes = table.to_bytes(e.sha256.as_str(), e.size);
    let _ = cache.put_derived(&table_name(e.sha256.as_str()), &bytes);
}

/// The index of the cached text `copy` of `e` (the Release's entry for
/// the uncompressed file). With its table, the text is not read: stanzas
/// come from the file when asked for, checked against the table. Without
/// one (or with a damaged one), the text is read and hashed against the
/// Release, and the table made and kept. `None` when the text does not
/// match (it is removed, to be fetched anew).
fn from_cache(
    cache: &distill_store::Cache,
    copy: std::path::PathBuf,
    e: &distill_trust::FileEntry,
    remake: Remake,
    url: &str,
) -> Option<Result<PackageIndex, ArchiveError>> {
    let sha = e.sha256.as_str();
    let table = std::fs::read(cache.derived_path(&table_name(sha)))
        .ok()
        .and_then(|bytes| Table::from_bytes(&bytes, sha, e.size));
    let on_disk = std::fs::metadata(&copy).map(|m| m.len()).ok();
    if let Some(table) = table
        && on_disk == Some(e.size)
        && let Ok(index) = PackageIndex::cached(copy.clone(), table, remake)
    {
        return Some(Ok(index));
    }
    let (text, table) = read_verified(&copy, e)?;
    Some(match table {
        Ok(table) => {
            keep_table(cache, &table, e);
            Ok(PackageIndex::with_table(text, table))
        }
        Err(source) => Err(ArchiveError::Parse {
            url: url.to_owned(),
            source,
        }),
    })
}

/// Where a compressed index comes from: the URLs to try and its pin.
struct Source {
    fetcher: Arc<Fetcher>,
    urls: Vec<String>,
    pin: Pinned,
}

/// What makes a cached index's text anew when a stanza read back from it
/// is damaged: the compressed index (from the cache, hashed again, else
/// fetched, as the first time), decompressed and hashed against the
/// Release's `plain` entry, and kept again in place of the damaged copy.
fn remaker(source: Source, plain: &distill_trust::FileEntry, ext: &str, url: &str) -> Remake {
    let (plain, ext, url) = (plain.clone(), ext.to_owned(), url.to_owned());
    // Stanzas are read after loading, outside the runtime: a fetch then
    // blocks on it.
    let runtime = tokio::runtime::Handle::current();
    Arc::new(move || {
        let damaged = |why: &str| format!("the cached copy of {url} is damaged, and {why}");
        let cache = source.fetcher.cache();
        let sha = source.pin.sha256.as_str();
        let cached = cache
            .get(sha)
            .filter(|f| distill_store::sha256_file(f).is_ok_and(|(s, _)| s == sha));
        let file = match cached {
            Some(f) => f,
            None if tokio::runtime::Handle::try_current().is_ok() => {
                return Err(damaged(
                    "it cannot be fetched from here: run the command again",
                ));
            }
            None => runtime
                .block_on(source.fetcher.fetch_pinned(&source.urls, &source.pin))
                .map_err(|e| damaged(&format!("fetching it again failed: {e}")))?,
        };
        decode_and_index(&file, &ext, &url, Some(&plain), cache, true)
            .and_then(|(text, _)| text.into_text())
            .map_err(|e| damaged(&distill_store::causes(&e).join(": ")))
    })
}

/// The cached decompressed index at `path` if it has the size and sha256
/// of the Release's `entry` (else it is removed, to be made again): its
/// text, and its table, made on a second core while the text is hashed
/// (nothing of it is returned before the hash matched).
fn read_verified(
    path: &std::path::Path,
    entry: &distill_trust::FileEntry,
) -> Option<(String, Result<Table, distill_debian::ControlError>)> {
    use sha2::Digest;
    let discard = || {
        let _ = std::fs::remove_file(path);
        None
    };
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() as u64 != entry.size {
        return discard();
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return discard();
    };
    let (sha, table) = std::thread::scope(|s| {
        let sha = s.spawn(|| hex::encode(sha2::Sha256::digest(text.as_bytes())));
        let table = Table::of(&text);
        (joined(sha), table)
    });
    if sha != entry.sha256.as_str() {
        return discard();
    }
    Some((text, table))
}

/// `f` on tokio's blocking pool; its panic, if it had one, goes on here.
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(t) => t,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A scoped thread's result; its panic, if it had one, goes on here.
fn joined<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Where a decoded index's text is.
#[derive(Debug)]
enum Decoded {
    Memory(String),
    /// In the cache, at this path: it was not held, to spare the memory.
    Cached(std::path::PathBuf),
}

impl Decoded {
    fn into_text(self) -> Result<String, ArchiveError> {
        match self {
            Decoded::Memory(text) => Ok(text),
            Decoded::Cached(path) => {
                std::fs::read_to_string(&path).map_err(|source| ArchiveError::Decompress {
                    url: path.display().to_string(),
                    source,
                })
            }
        }
    }
}

/// Decompresses the index `file` on another thread while this one takes
/// the text as it comes: hashes it, writes it into the cache (when the
/// Release names the plain text: kept only if it matches that entry) and
/// makes its table, whole stanzas at a time. A cold index costs its
/// decompression and little more. The text is held in memory only when
/// `hold` asks for it or the cache cannot keep it (no plain entry);
/// otherwise only the stanza being read is. The bytes of `file` were
/// hash-checked before they reached the cache, so only honest-but-odd
/// input fails.
fn decode_and_index(
    file: &std::path::Path,
    ext: &str,
    url: &str,
    plain: Option<&distill_trust::FileEntry>,
    cache: &distill_store::Cache,
    hold: bool,
) -> Result<(Decoded, Table), ArchiveError> {
    use sha2::Digest;
    use std::io::Write;
    const BLOCK: u64 = 1 << 20;
    let dec = |source: std::io::Error| ArchiveError::Decompress {
        url: url.to_owned(),
        source,
    };
    let raw = std::fs::File::open(file).map_err(dec)?;
    let hold = hold || plain.is_none();
    // The text in one buffer of the size the Release gives (growing a
    // 50 MB one copies it at each doubling); at most 1 GiB on its word.
    let size = match plain {
        Some(e) => e.size.min(1 << 30) as usize,
        None => raw.metadata().map_err(dec)?.len().min(1 << 27) as usize * 6,
    };
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(8);
        s.spawn(move || {
            let mut text: Box<dyn Read> = match ext {
                ".xz" => Box::new(xz2::read::XzDecoder::new(raw)),
                ".gz" => Box::new(flate2::read::GzDecoder::new(raw)),
                _ => Box::new(std::io::BufReader::with_capacity(1 << 16, raw)),
            };
            loop {
                let mut block = Vec::with_capacity(BLOCK as usize);
                let read = (&mut text).take(BLOCK).read_to_end(&mut block);
                // Ends at the end of the text, at an error, or when the
                // reader below stopped early.
                let stop = !matches!(read, Ok(n) if n > 0);
                let sent = match read {
                    Ok(0) => Ok(()),
                    Ok(_) => tx.send(Ok(block)),
                    Err(e) => tx.send(Err(e)),
                };
                if stop || sent.is_err() {
                    return;
                }
            }
        });
        let invalid = |e| dec(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        // Unless held, `text` is what is not parsed yet: the text from
        // byte `offset`, which has `lines` lines before it.
        let mut text = Vec::with_capacity(if hold { size + 1 } else { 2 * BLOCK as usize });
        let (mut offset, mut lines) = (0, 0);
        let mut sha = sha2::Sha256::new();
        let mut kept = plain.map(|_| cache.temp()).transpose()?;
        let mut table = TableBuilder::new(size);
        let mut parsed = 0;
        // Every byte is in exactly one region, each checked to be UTF-8.
        let mut feed = |text: &[u8], from: usize, to: usize, offset: usize, lines: usize| {
            let region = std::str::from_utf8(&text[from..to]).map_err(invalid)?;
            table.feed(region, offset + from).map_err(|source| {
                let lines = lines + memchr::memchr_iter(b'\n', &text[..from]).count();
                ArchiveError::Parse {
                    url: url.to_owned(),
                    source: source.after_lines(lines),
                }
            })
        };
        for block in rx {
            let block = block.map_err(dec)?;
            sha.update(&block);
            if let Some(f) = &mut kept {
                f.write_all(&block).map_err(&dec)?;
            }
            text.extend_from_slice(&block);
            // The stanzas so far: up to the last blank line.
            if let Some(end) = memchr::memmem::rfind(&text[parsed..], b"\n\n") {
                let end = parsed + end + 2;
                feed(&text, parsed, end, offset, lines)?;
                parsed = end;
                if !hold {
                    lines += memchr::memchr_iter(b'\n', &text[..end]).count();
                    offset += end;
                    text.drain(..end);
                    parsed = 0;
                }
            }
        }
        feed(&text, parsed, text.len(), offset, lines)?;
        let total = offset + text.len();
        let sha = hex::encode(sha.finalize());
        let mut path = None;
        if let (Some(e), Some(f)) = (plain, kept) {
            if sha != e.sha256.as_str() || total as u64 != e.size {
                // Cannot happen with an honest archive: the compressed
                // file matched the same signed Release.
                return Err(ArchiveError::Release {
                    url: url.to_owned(),
                    reason: format!(
                        "the decompressed index has sha256 {sha}, the Release says {}",
                        e.sha256
                    ),
                });
            }
            path = Some(cache.commit_remakeable(f, &sha)?);
        }
        let text = match path {
            Some(path) if !hold => Decoded::Cached(path),
            // Checked to be UTF-8 region by region.
            _ => Decoded::Memory(String::from_utf8(text).map_err(|e| invalid(e.utf8_error()))?),
        };
        Ok((text, table.finish()))
    })
}

/// The capture in a snapshot URL: `.../archive/debian/20250101T000000Z/dists/...`.
fn capture_of(url: &str) -> Option<SnapshotTime> {
    url.split('/').find_map(|seg| SnapshotTime::parse(seg).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;
    use std::io::Write;

    /// Several MiB of stanzas, so the text arrives in many blocks and
    /// stanzas straddle their edges.
    fn text() -> String {
        (0..12_000)
            .map(|i| {
                format!(
                    "Package: p{}\nVersion: 1.{i}\nArchitecture: amd64\nProvides: v{}\nDescription: x\n {}\n\n",
                    i % 5000,
                    i % 7,
                    "word ".repeat(40 + i % 50)
                )
            })
            .collect()
    }

    fn xz(text: &str, dir: &std::path::Path) -> std::path::PathBuf {
        let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(text.as_bytes()).unwrap();
        let path = dir.join("Packages.xz");
        std::fs::write(&path, e.finish().unwrap()).unwrap();
        path
    }

    /// Made as the text streams in, the table is the one of the whole
    /// text; the text is kept in the cache only when it matches the
    /// Release's entry.
    #[test]
    fn the_streamed_table_is_the_whole_texts_and_the_text_is_kept_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cache = distill_store::Cache::new(dir.path().join("cache")).unwrap();
        let text = text();
        assert!(text.len() > 4 << 20);
        let file = xz(&text, dir.path());
        let sha = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        let entry = distill_trust::FileEntry {
            sha256: distill_debian::Sha256::parse(&sha).unwrap(),
            size: text.len() as u64,
        };
        let (got, table) = decode_and_index(&file, ".xz", "u", Some(&entry), &cache, true).unwrap();
        assert!(got.into_text().unwrap() == text);
        let whole = Table::of(&text).unwrap();
        assert!(table.to_bytes(&sha, entry.size) == whole.to_bytes(&sha, entry.size));
        assert!(cache.get(&sha).is_some(), "kept");
        // Not held: only the stanzas being read are in memory; the text is
        // the cache's copy, and the table the same.
        let (got, streamed) =
            decode_and_index(&file, ".xz", "u", Some(&entry), &cache, false).unwrap();
        let Decoded::Cached(path) = got else {
            panic!("held though the cache keeps it")
        };
        assert!(std::fs::read_to_string(path).unwrap() == text);
        assert!(streamed.to_bytes(&sha, entry.size) == whole.to_bytes(&sha, entry.size));

        let wrong = distill_trust::FileEntry {
            sha256: distill_debian::Sha256::parse(&"0".repeat(64)).unwrap(),
            size: entry.size,
        };
        let e = decode_and_index(&file, ".xz", "u", Some(&wrong), &cache, false).unwrap_err();
        assert!(e.to_string().contains("the Release says"), "{e}");
        assert!(cache.get(&"0".repeat(64)).is_none());
    }

    /// A bad stanza deep in the text is reported at its line in the whole
    /// text, not in the block it arrived in.
    #[test]
    fn a_parse_error_names_the_line_in_the_whole_text() {
        let dir = tempfile::tempdir().unwrap();
        let cache = distill_store::Cache::new(dir.path().join("cache")).unwrap();
        let mut text = text();
        let lines = text.lines().count();
        text.push_str("Package: bad\nnot a field\n");
        let file = xz(&text, dir.path());
        // Held (no plain entry to keep it under), and not held.
        let any = distill_trust::FileEntry {
            sha256: distill_debian::Sha256::parse(&"0".repeat(64)).unwrap(),
            size: text.len() as u64,
        };
        for plain in [None, Some(&any)] {
            let e = decode_and_index(&file, ".xz", "u", plain, &cache, false).unwrap_err();
            let ArchiveError::Parse { source, .. } = e else {
                panic!("{e:?}")
            };
            assert_eq!(
                source.to_string(),
                format!(
                    "line {}: expected `Field: value`, found \"not a field\"",
                    lines + 2
                )
            );
        }
    }
}
