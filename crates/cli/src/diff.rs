//! `distill diff OLD NEW`: two locks (package changes, as `update`
//! reports them) or two image layouts (per tag and platform: config
//! fields, layers added and removed, files changed with mode, owner, size
//! and content hash). Exit 0 when they are the same, 2 when they differ.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use distill_image::blob_path;
use distill_layer::{EntryInfo, overlay, read_layer};
use serde_json::{Value, json};

use crate::Global;
use crate::context::{Failure, Result, emit};
use crate::lock::read_lock_file;
use crate::report;

#[derive(clap::Args)]
pub struct Args {
    /// The old lock file or image layout directory.
    old: PathBuf,
    /// The new one, of the same kind.
    new: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let layout = |p: &Path| p.join("index.json").is_file();
    let (text, differ) = if layout(&args.old) && layout(&args.new) {
        layouts(&args.old, &args.new, args.json)?
    } else if args.old.is_file() && args.new.is_file() {
        locks(global, &args.old, &args.new, args.json)?
    } else {
        return Err(Failure(format!(
            "cannot diff {} and {}: give two lock files or two image layouts",
            args.old.display(),
            args.new.display()
        )));
    };
    emit(&text)?;
    Ok(if differ { 2 } else { 0 })
}

fn locks(global: &Global, old: &Path, new: &Path, json: bool) -> Result<(String, bool)> {
    let (o, n) = (read_lock_file(old)?, read_lock_file(new)?);
    let diff = o.diff(&n);
    // The tag names come from packages.toml when there is one.
    let build = distill_archive::Config::load(&global.config)
        .ok()
        .and_then(|c| toml::Value::Table(c.build).try_into().ok())
        .unwrap_or_default();
    let differ = !diff.is_empty() || !diff.pins.is_empty();
    let text = if json {
        report::json(&diff, &n.image_archs()).to_string() + "\n"
    } else if differ {
        report::markdown(&diff, &n.image_archs(), &build)
    } else {
        "no differences\n".to_owned()
    };
    Ok((text, differ))
}

/// One image of a layout: its config and layers.
struct Image {
    config: Value,
    /// (digest, media type, what made it).
    layers: Vec<(String, String, String)>,
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes =
        std::fs::read(path).map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))
}

/// (tag, os/arch[/variant]) → image, for every tag that names an index
/// (or a single manifest).
fn images(layout: &Path) -> Result<BTreeMap<(String, String), Image>> {
    let index = read_json(&layout.join("index.json"))?;
    // Tags naming an index first; a tag naming one of their manifests
    // (`latest-amd64`) adds nothing new and is left out.
    let mut tagged: Vec<(String, Vec<Value>, bool)> = Vec::new();
    for entry in index["manifests"].as_array().into_iter().flatten() {
        let Some(tag) = entry["annotations"]["org.opencontainers.image.ref.name"].as_str() else {
            continue;
        };
        let doc = read_json(&blob_path(layout, entry["digest"].as_str().unwrap_or("")))?;
        match doc["manifests"].as_array() {
            Some(list) => tagged.push((tag.to_owned(), list.clone(), true)),
            None => tagged.push((tag.to_owned(), vec![entry.clone()], false)),
        }
    }
    tagged.sort_by_key(|(_, _, is_index)| !is_index);
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mut out = BTreeMap::new();
    for (tag, manifests, is_index) in tagged {
        for m in manifests {
            let digest = m["digest"].as_str().unwrap_or("").to_owned();
            if !is_index && covered.contains(&digest) {
                continue;
            }
            covered.insert(digest.clone());
            let manifest = read_json(&blob_path(layout, &digest))?;
            let config = read_json(&blob_path(
                layout,
                manifest["config"]["digest"].as_str().unwrap_or(""),
            ))?;
            let platform = [&config["os"], &config["architecture"], &config["variant"]]
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join("/");
            let history: Vec<String> = config["history"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| h["created_by"].as_str().unwrap_or("").to_owned())
                .collect();
            let layers = manifest["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, l)| {
                    (
                        l["digest"].as_str().unwrap_or("").to_owned(),
                        l["mediaType"].as_str().unwrap_or("").to_owned(),
                        history.get(i).cloned().unwrap_or_default(),
                    )
                })
                .collect();
            out.insert((tag.clone(), platform), Image { config, layers });
        }
    }
    Ok(out)
}

/// Layer entries, read once per digest.
struct Layers<'a> {
    layout: &'a Path,
    read: BTreeMap<String, Vec<EntryInfo>>,
}

impl Layers<'_> {
    fn tree(&mut self, image: &Image) -> Result<BTreeMap<String, EntryInfo>> {
        for (digest, media, _) in &image.layers {
            if !self.read.contains_key(digest) {
                let entries = read_layer(&blob_path(self.layout, digest), media)
                    .map_err(|e| Failure(e.to_string()))?;
                self.read.insert(digest.clone(), entries);
            }
        }
        Ok(overlay(
            image.layers.iter().map(|(d, _, _)| self.read[d].as_slice()),
        ))
    }
}

fn describe(e: &EntryInfo) -> Value {
    json!({
        "kind": e.kind, "mode": format!("{:04o}", e.mode), "uid": e.uid, "gid": e.gid,
        "size": e.size, "sha256": e.sha256, "target": e.target,
    })
}

fn brief(e: &EntryInfo) -> String {
    let mut s = format!("{} {:04o} {}:{}", e.kind, e.mode, e.uid, e.gid);
    if e.kind == "file" {
        s += &format!(" {} bytes", e.size);
    }
    if let Some(t) = &e.target {
        s += &format!(" -> {t}");
    }
    s
}

fn layouts(old: &Path, new: &Path, as_json: bool) -> Result<(String, bool)> {
    let (oi, ni) = (images(old)?, images(new)?);
    let (mut ol, mut nl) = (
        Layers {
            layout: old,
            read: BTreeMap::new(),
        },
        Layers {
            layout: new,
            read: BTreeMap::new(),
        },
    );
    let keys: BTreeSet<&(String, String)> = oi.keys().chain(ni.keys()).collect();
    let mut report = Vec::new();
    let mut text = String::new();
    for key in keys {
        let (tag, platform) = key;
        let (o, n) = match (oi.get(key), ni.get(key)) {
            (Some(o), Some(n)) => (o, n),
            (o, _) => {
                let status = if o.is_some() { "removed" } else { "added" };
                text += &format!("{tag} {platform}: {status}\n");
                report.push(json!({"tag": tag, "platform": platform, "status": status}));
                continue;
            }
        };
        let mut lines = Vec::new();
        let mut config_changes = Vec::new();
        for field in ["User", "Env", "Entrypoint", "Cmd", "WorkingDir", "Labels"] {
            let (a, b) = (&o.config["config"][field], &n.config["config"][field]);
            if a != b {
                lines.push(format!("  config {field}: {a} -> {b}"));
                config_changes.push(json!({"field": field, "old": a, "new": b}));
            }
        }
        let odig: BTreeSet<&String> = o.layers.iter().map(|l| &l.0).collect();
        let ndig: BTreeSet<&String> = n.layers.iter().map(|l| &l.0).collect();
        let mut layers_added = Vec::new();
        let mut layers_removed = Vec::new();
        for (d, _, by) in &n.layers {
            if !odig.contains(d) {
                lines.push(format!("  layer + {d} {by}"));
                layers_added.push(json!({"digest": d, "created_by": by}));
            }
        }
        for (d, _, by) in &o.layers {
            if !ndig.contains(d) {
                lines.push(format!("  layer - {d} {by}"));
                layers_removed.push(json!({"digest": d, "created_by": by}));
            }
        }
        let mut files = Vec::new();
        if odig != ndig {
            let (ot, nt) = (ol.tree(o)?, nl.tree(n)?);
            let paths: BTreeSet<&String> = ot.keys().chain(nt.keys()).collect();
            for p in paths {
                match (ot.get(p), nt.get(p)) {
                    (Some(a), Some(b)) if a != b => {
                        lines.push(format!("  file ~ /{p}: {} -> {}", brief(a), brief(b)));
                        if a.sha256 != b.sha256 && a.kind == "file" && b.kind == "file" {
                            lines.push("    content changed".to_owned());
                        }
                        files.push(json!({"path": p, "change": "changed", "old": describe(a), "new": describe(b)}));
                    }
                    (None, Some(b)) => {
                        lines.push(format!("  file + /{p}: {}", brief(b)));
                        files.push(json!({"path": p, "change": "added", "new": describe(b)}));
                    }
                    (Some(a), None) => {
                        lines.push(format!("  file - /{p}: {}", brief(a)));
                        files.push(json!({"path": p, "change": "removed", "old": describe(a)}));
                    }
                    _ => {}
                }
            }
        }
        if lines.is_empty() {
            continue;
        }
        text += &format!("{tag} {platform}: changed\n{}\n", lines.join("\n"));
        report.push(json!({
            "tag": tag, "platform": platform, "status": "changed",
            "config": config_changes,
            "layers": {"added": layers_added, "removed": layers_removed},
            "files": files,
        }));
    }
    let differ = !report.is_empty();
    let out = if as_json {
        json!({"images": report}).to_string() + "\n"
    } else if differ {
        text
    } else {
        "no differences\n".to_owned()
    };
    Ok((out, differ))
}
