//! `cache verify` and `cache gc`: the download cache re-checked file by
//! file, and trimmed to what the project's locks still use. The cache is
//! content-addressed (`sha256/`, `url/`, `tmp/`), with the index tables
//! made from it (`derived/<sha256>.table`) and the layer cache beside it
//! (`layers/<key>.json` records, `layers/blobs/<digest>`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::build::layers::{LayerRecord, MAX_RECORD, stamp_blob, stamp_path};
use crate::error::{Context, Result};
use crate::project::Project;

/// What a cache command found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheReport {
    /// Files looked at.
    pub files: u64,
    pub bytes: u64,
    /// Files removed (bad ones for `verify`, unused ones for `gc`).
    pub removed: Vec<PathBuf>,
    pub freed: u64,
}

impl Project {
    /// Re-hashes every stored file; checks every layer record against
    /// its blob, every byte ([`distill_layer::verify_layer`]: digest,
    /// size, diff_id, entries), and stamps the good ones verified so the
    /// next build need not hash them again; drops what is bad (the
    /// record, its blob and stamp), blobs no record names whose bytes
    /// are not their name, URL notes that point at nothing, and the
    /// temporary files of runs that were killed.
    pub fn cache_verify(&self) -> Result<CacheReport> {
        let root = self.fetcher.cache().root().to_owned();
        let layers = root.join("layers");
        let mut report = CacheReport::default();
        remove_dead_temps(&root, &mut report)?;
        for file in files_in(&root.join("sha256"), true)? {
            let (hex, len) = distill_store::sha256_file(&file)
                .context(|| format!("cannot read {}", file.display()))?;
            report.files += 1;
            report.bytes += len;
            if file.file_name().is_none_or(|n| *n != *hex) {
                remove(&file, len, &mut report)?;
            }
        }
        let mut named = BTreeSet::new();
        for record in files_in(&layers, false)? {
            report.files += 1;
            let Some(key) = record_key(&record) else {
                continue;
            };
            let bytes = distill_store::read_bounded(&record, MAX_RECORD).unwrap_or_default();
            let Ok(r) = serde_json::from_slice::<LayerRecord>(&bytes) else {
                remove(&record, 0, &mut report)?;
                continue;
            };
            let blob = layers.join("blobs").join(r.layer.hex());
            let stamp = stamp_path(&layers, key);
            match std::fs::symlink_metadata(&blob) {
                // A record whose blob is gone is made again when used.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                _ => {}
            }
            report.bytes += r.layer.size;
            match distill_layer::verify_layer(&blob, &r.layer) {
                Ok(()) => {
                    named.insert(r.layer.hex().to_owned());
                    stamp_blob(&stamp, &bytes, &blob)
                        .context(|| format!("cannot write {}", stamp.display()))?;
                }
                Err(_) => {
                    remove(&blob, r.layer.size, &mut report)?;
                    remove(&record, 0, &mut report)?;
                    remove(&stamp, 0, &mut report)?;
                }
            }
        }
        for file in files_in(&layers.join("blobs"), false)? {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.as_ref().is_some_and(|n| named.contains(n)) {
                continue;
            }
            let (hex, len) = distill_store::sha256_file(&file)
                .context(|| format!("cannot read {}", file.display()))?;
            report.files += 1;
            report.bytes += len;
            if name.as_deref() != Some(hex.as_str()) {
                remove(&file, len, &mut report)?;
            }
        }
        // A stamp without its record vouches for nothing.
        for stamp in files_in(&layers.join("verified"), false)? {
            let name = stamp.file_name().unwrap_or_default().to_string_lossy();
            if !layers.join(format!("{name}.json")).is_file() {
                remove(&stamp, 0, &mut report)?;
            }
        }
        self.drop_dangling_urls(&root, &mut report)?;
        // Index tables carry their own checksum.
        drop_tables(&root, &mut report, |table| {
            std::fs::read(table).is_ok_and(|b| distill_archive::table_intact(&b))
        })?;
        Ok(report)
    }

    /// Removes what no lock of the project uses: .debs, artifacts and
    /// indices not named (directly or by a locked suite's Release), layers
    /// made from them, layer blobs no record names, URL notes left
    /// dangling, and temporary files older than a day (a killed run's).
    pub fn cache_gc(&self) -> Result<CacheReport> {
        let root = self.fetcher.cache().root().to_owned();
        let mut keep: BTreeSet<String> = BTreeSet::new();
        for name in self.distros(&[])? {
            let Some(lock) = self.lock(&name)? else {
                continue;
            };
            keep.extend(lock.packages.iter().map(|p| p.sha256.to_string()));
            keep.extend(lock.artifacts.iter().map(|a| a.sha256.to_string()));
            for s in &lock.suites {
                keep.insert(s.inrelease_sha256.to_string());
                // The Release names its indices by hash: keep those too,
                // so `why` and `lock --check` stay offline-capable.
                if let Some(p) = self.fetcher.cache().get(s.inrelease_sha256.as_str()) {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    keep.extend(
                        text.split_whitespace()
                            .filter(|w| distill_debian::Sha256::parse(w).is_ok())
                            .map(str::to_owned),
                    );
                }
            }
        }
        let mut report = CacheReport::default();
        for file in files_in(&root.join("sha256"), true)? {
            let len = file.metadata().map_or(0, |m| m.len());
            report.files += 1;
            report.bytes += len;
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            if !name.is_some_and(|n| keep.contains(&n)) {
                remove(&file, len, &mut report)?;
            }
        }
        let mut blobs_kept: BTreeSet<String> = BTreeSet::new();
        let mut records_kept: BTreeSet<String> = BTreeSet::new();
        for record in files_in(&root.join("layers"), false)? {
            report.files += 1;
            let Some(key) = record_key(&record) else {
                continue;
            };
            match read_record(&record) {
                Some(r) if r.sources.iter().all(|s| keep.contains(s)) => {
                    blobs_kept.insert(r.layer.hex().to_owned());
                    records_kept.insert(key.to_owned());
                }
                _ => remove(&record, 0, &mut report)?,
            }
        }
        for stamp in files_in(&root.join("layers/verified"), false)? {
            let name = stamp.file_name().unwrap_or_default().to_string_lossy();
            if !records_kept.contains(name.as_ref()) {
                remove(&stamp, 0, &mut report)?;
            }
        }
        for blob in files_in(&root.join("layers/blobs"), false)? {
            let len = blob.metadata().map_or(0, |m| m.len());
            report.files += 1;
            report.bytes += len;
            let name = blob.file_name().map(|n| n.to_string_lossy().into_owned());
            if !name.is_some_and(|n| blobs_kept.contains(&n) || n.starts_with('.')) {
                remove(&blob, len, &mut report)?;
            }
        }
        remove_dead_temps(&root, &mut report)?;
        // Older distills named their temporary files without a pid: those
        // a day old are a killed run's.
        let day = std::time::Duration::from_secs(86_400);
        for tmp in files_in(&root.join("tmp"), false)? {
            let old = tmp
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > day);
            if old {
                let len = tmp.metadata().map_or(0, |m| m.len());
                remove(&tmp, len, &mut report)?;
            }
        }
        self.drop_dangling_urls(&root, &mut report)?;
        drop_tables(&root, &mut report, |_| true)?;
        Ok(report)
    }

    /// `url/` notes whose content is no longer stored.
    fn drop_dangling_urls(&self, root: &Path, report: &mut CacheReport) -> Result<()> {
        for note in files_in(&root.join("url"), false)? {
            if self.fetcher.cache().is_dangling_note(&note) {
                remove(&note, 0, report)?;
            }
        }
        Ok(())
    }
}

/// Regular files in `dir` (and one level of subdirectories if `nested`,
/// as `sha256/<2 hex>/` is laid out), sorted; none if it does not exist.
fn files_in(dir: &Path, nested: bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let read = |d: &Path| -> Result<Vec<PathBuf>> {
        match std::fs::read_dir(d) {
            Ok(rd) => rd
                .map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<Vec<_>>>()
                .context(|| format!("cannot read {}", d.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).context(|| format!("cannot read {}", d.display())),
        }
    };
    for p in read(dir)? {
        if p.is_file() {
            out.push(p);
        } else if nested && p.is_dir() {
            out.extend(read(&p)?.into_iter().filter(|f| f.is_file()));
        }
    }
    out.sort();
    Ok(out)
}

/// Removes the index tables of `derived/` that fail `keep` or whose text
/// is gone (of no use without it).
fn drop_tables(root: &Path, report: &mut CacheReport, keep: impl Fn(&Path) -> bool) -> Result<()> {
    for table in files_in(&root.join("derived"), false)? {
        let len = table.metadata().map_or(0, |m| m.len());
        report.files += 1;
        report.bytes += len;
        if !keep(&table) || !has_text(root, &table) {
            remove(&table, len, report)?;
        }
    }
    Ok(())
}

/// Whether the index text a table in `derived/` was made from (named
/// after its sha256) is still stored.
fn has_text(root: &Path, table: &Path) -> bool {
    let name = table.file_name().map(|n| n.to_string_lossy().into_owned());
    let sha = name.as_deref().and_then(|n| n.get(..64)).unwrap_or("");
    distill_debian::Sha256::parse(sha).is_ok()
        && name.as_deref() == Some(distill_archive::table_name(sha).as_str())
        && root.join("sha256").join(&sha[..2]).join(sha).is_file()
}

/// A layer record, if the file holds one.
fn read_record(path: &Path) -> Option<LayerRecord> {
    serde_json::from_slice(&distill_store::read_bounded(path, MAX_RECORD).ok()?).ok()
}

/// The key of a layer record file (`<key>.json`); `None` for anything
/// else (a temporary file being written).
fn record_key(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".json").filter(|k| !k.starts_with('.'))
}

/// Removes the temporary files of runs that were killed (named with
/// their pid, [`distill_store::temp_prefix`]) wherever the cache makes
/// them: `tmp/`, `layers/`, `layers/blobs/`, `layers/verified/`, `url/`,
/// `derived/` and the store's directories.
fn remove_dead_temps(root: &Path, report: &mut CacheReport) -> Result<()> {
    let mut dirs: Vec<PathBuf> = [
        "tmp",
        "layers",
        "layers/blobs",
        "layers/verified",
        "url",
        "derived",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    if let Ok(rd) = std::fs::read_dir(root.join("sha256")) {
        dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for entry in dirs.iter().flat_map(|d| distill_store::dead_temps(d)) {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            let len = entry.metadata().map_or(0, |m| m.len());
            remove(&entry.path(), len, report)?;
        }
    }
    Ok(())
}

fn remove(path: &Path, len: u64, report: &mut CacheReport) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        // Another run removed it first: the same outcome.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context(|| format!("cannot remove {}", path.display())),
    }
    report.removed.push(path.to_owned());
    report.freed += len;
    Ok(())
}
