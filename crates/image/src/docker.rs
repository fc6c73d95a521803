//! `docker save` archives, derived from an image layout: `docker load`
//! (and skopeo's docker-archive transport) read them. Layers stay as they
//! are in the layout (compressed; docker load decompresses them), each
//! tag of one architecture is one entry of manifest.json.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use distill_store::AtomicFile;
use serde_json::json;

use crate::ImageError;
use crate::layout::blob_name;
use crate::reader::LayoutReader;

/// Writes `dest` (atomically) holding every tag of `layout` that names a
/// single-architecture image of `oci_arch` (`latest-amd64` etc.), tagged
/// `<repo>:<tag>` with the architecture suffix dropped.
pub fn docker_archive(
    layout: &Path,
    oci_arch: &str,
    repo: &str,
    dest: &Path,
) -> Result<(), ImageError> {
    let reader = LayoutReader::open(layout)?;
    let suffix = format!("-{oci_arch}");
    let mut entries = Vec::new();
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (tag, desc) in reader.tags() {
        let Some(tag) = tag.strip_suffix(&suffix) else {
            continue;
        };
        let manifest = reader.manifest(desc)?;
        let config_name = blob_name(&manifest.config.digest);
        files.insert(
            config_name.clone(),
            reader.blob_path(&manifest.config.digest),
        );
        let mut layers = Vec::new();
        for l in &manifest.layers {
            let name = blob_name(&l.digest);
            files.insert(name.clone(), reader.blob_path(&l.digest));
            layers.push(name);
        }
        entries.push(json!({
            "Config": config_name,
            "RepoTags": [format!("{repo}:{tag}")],
            "Layers": layers,
        }));
    }
    if entries.is_empty() {
        return Err(ImageError::Invalid {
            path: layout.display().to_string(),
            reason: format!("no tag for architecture {oci_arch}"),
        });
    }
    let write = |e: std::io::Error| ImageError::Write {
        path: dest.display().to_string(),
        source: e,
    };
    ours_to_replace(dest)?;
    let mut out = AtomicFile::create(dest).map_err(write)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(out.file()));
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), ImageError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, name, bytes).map_err(write)
    };
    let manifest = serde_json::to_vec(&entries).expect("manifest.json serialises");
    add("manifest.json", &manifest)?;
    for (name, path) in &files {
        let bytes = std::fs::read(path).map_err(|source| ImageError::Read {
            path: path.display().to_string(),
            source,
        })?;
        add(name, &bytes)?;
    }
    tar.into_inner().map_err(write)?.flush().map_err(write)?;
    out.commit(0o644).map_err(write)
}

/// Refuses to replace `dest` unless nothing is there or an archive this
/// function wrote: a regular file whose first member is `manifest.json`
/// with mtime 0, mode 0644 and owner 0:0, as written above. A user's
/// file, or a symlink (whose target a rename would not touch, but whose
/// name the user chose), is never replaced.
fn ours_to_replace(dest: &Path) -> Result<(), ImageError> {
    let not_ours = |what| ImageError::NotOurs {
        path: dest.display().to_string(),
        what,
    };
    let Some(meta) = crate::layout::output_at(dest)? else {
        return Ok(());
    };
    if !meta.is_file() {
        return Err(not_ours("not a file"));
    }
    let mut first = [0u8; 512];
    let read =
        std::fs::File::open(dest).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut first));
    let header = tar::Header::from_byte_slice(&first);
    let ours = read.is_ok()
        && header.path_bytes().as_ref() == b"manifest.json"
        && header.mtime().ok() == Some(0)
        && header.mode().ok() == Some(0o644)
        && header.uid().ok() == Some(0)
        && header.gid().ok() == Some(0);
    if ours {
        Ok(())
    } else {
        Err(not_ours("a file distill did not write"))
    }
}
