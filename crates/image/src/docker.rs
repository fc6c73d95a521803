//! `docker save` archives, derived from an image layout: `docker load`
//! (and skopeo's docker-archive transport) read them. Layers stay as they
//! are in the layout (compressed; docker load decompresses them), each
//! tag of one architecture is one entry of manifest.json.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::ImageError;
use crate::layout::{blob_name, blob_path};
use crate::oci::REF_NAME;

fn err(path: &Path, e: impl std::fmt::Display) -> ImageError {
    ImageError::Write {
        path: path.display().to_string(),
        cause: e.to_string(),
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, ImageError> {
    let bytes = fs::read(path).map_err(|e| err(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| err(path, e))
}

/// Writes `dest` (atomically) holding every tag of `layout` that names a
/// single-architecture image of `oci_arch` (`latest-amd64` etc.), tagged
/// `<repo>:<tag>` with the architecture suffix dropped.
pub fn docker_archive(
    layout: &Path,
    oci_arch: &str,
    repo: &str,
    dest: &Path,
) -> Result<(), ImageError> {
    let blob_path = |digest: &str| blob_path(layout, digest);
    let index = read_json(&layout.join("index.json"))?;
    let suffix = format!("-{oci_arch}");
    let mut entries = Vec::new();
    let mut files: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
    for m in index["manifests"].as_array().into_iter().flatten() {
        let Some(tag) = m["annotations"][REF_NAME]
            .as_str()
            .and_then(|t| t.strip_suffix(&suffix))
        else {
            continue;
        };
        let digest = m["digest"].as_str().unwrap_or_default();
        let manifest = read_json(&blob_path(digest))?;
        let config = manifest["config"]["digest"].as_str().unwrap_or_default();
        let config_name = blob_name(config);
        files.insert(config_name.clone(), blob_path(config));
        let mut layers = Vec::new();
        for l in manifest["layers"].as_array().into_iter().flatten() {
            let d = l["digest"].as_str().unwrap_or_default();
            let name = blob_name(d);
            files.insert(name.clone(), blob_path(d));
            layers.push(name);
        }
        entries.push(json!({
            "Config": config_name,
            "RepoTags": [format!("{repo}:{tag}")],
            "Layers": layers,
        }));
    }
    if entries.is_empty() {
        return Err(err(layout, format!("no tag for architecture {oci_arch}")));
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
    let tmp = tempfile::NamedTempFile::new_in(parent).map_err(|e| err(parent, e))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(tmp.as_file()));
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), ImageError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, name, bytes)
            .map_err(|e| err(dest, e))
    };
    let manifest = serde_json::to_vec(&entries).expect("manifest.json serialises");
    add("manifest.json", &manifest)?;
    for (name, path) in &files {
        let bytes = fs::read(path).map_err(|e| err(path, e))?;
        add(name, &bytes)?;
    }
    let mut w = tar.into_inner().map_err(|e| err(dest, e))?;
    w.flush().map_err(|e| err(dest, e))?;
    drop(w);
    crate::layout::publish_file(tmp, dest)
}
