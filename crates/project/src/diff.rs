//! `diff`: two locks (package changes, as `update` reports them), or two
//! image layouts compared tag by tag and platform by platform: config
//! fields, layers added and removed, and the files that differ in the
//! merged trees (mode, owner, size, content hash, link target).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use distill_image::{ConfigDoc, Descriptor, LayoutReader};
use distill_layer::{EntryInfo, overlay, read_layer};
use distill_lock::{Lock, LockDiff, LockError};
use serde::Serialize;

use crate::error::{Context, Error, Result, fail};

/// Two lock files of one distro and their difference.
#[derive(Debug, Clone)]
pub struct LockFilesDiff {
    pub old: Lock,
    pub new: Lock,
    pub diff: LockDiff,
    /// The new lock's images with their architectures.
    pub images: BTreeMap<String, BTreeSet<String>>,
}

/// The difference between two lock files.
pub fn diff_lock_files(old: &Path, new: &Path) -> Result<LockFilesDiff> {
    let (o, n) = (lock_to_diff(old)?, lock_to_diff(new)?);
    // Two distros' locks share package names, not history: their "diff"
    // would read as a bump that never happened.
    if o.distro != n.distro {
        return Err(fail!(
            "cannot diff {} {}: the first is a lock of {}, the second of {}; a diff compares two locks of one distro",
            old.display(),
            new.display(),
            o.distro,
            n.distro
        ));
    }
    let (diff, images) = (o.diff(&n), n.image_archs());
    Ok(LockFilesDiff {
        old: o,
        new: n,
        diff,
        images,
    })
}

/// A lock named for a diff: any file may be given, so one that is not a
/// lock says so (no "run `distill lock`", which would not make it one).
fn lock_to_diff(path: &Path) -> Result<Lock> {
    let text = distill_store::read_bounded_text(path, crate::project::MAX_LOCK)
        .context(|| format!("cannot read {}", path.display()))?;
    Lock::parse(&text).map_err(|e| match e {
        LockError::Parse(why) => {
            fail!("cannot diff {}: not a distill lock ({why})", path.display())
        }
        e => Error::Context {
            context: format!("cannot diff {}", path.display()),
            source: e.into(),
        },
    })
}

/// Two layouts' differences, image by image.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutDiff {
    pub images: Vec<ImageDiff>,
}

/// One (tag, platform) present in either layout.
#[derive(Debug, Clone, Serialize)]
pub struct ImageDiff {
    pub tag: String,
    /// `os/arch[/variant]`.
    pub platform: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigChange>,
    #[serde(skip_serializing_if = "LayerChanges::is_empty")]
    pub layers: LayerChanges,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigChange {
    /// The image config's name for it: `User`, `Env`, ...
    pub field: &'static str,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LayerChanges {
    pub added: Vec<LayerRef>,
    pub removed: Vec<LayerRef>,
}

impl LayerChanges {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerRef {
    pub digest: String,
    /// The history line of the layer (`distill: libc6 2.36-9`).
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    /// Relative to the image root.
    pub path: String,
    pub change: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<EntryInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<EntryInfo>,
}

impl LayoutDiff {
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

/// One image of a layout: its config and layers (digest, media type,
/// history line).
struct Image {
    config: ConfigDoc,
    layers: Vec<(Descriptor, String)>,
}

/// (tag, platform) → image, for every tag that names an index (or a
/// single manifest not already covered by one).
fn tagged_images(layout: &LayoutReader) -> Result<BTreeMap<(String, String), Image>> {
    // Tags naming an index first; a tag naming one of their manifests
    // (`latest-amd64`) adds nothing new and is left out.
    let mut tagged: Vec<(&str, Vec<Descriptor>, bool)> = Vec::new();
    for (tag, d) in layout.tags() {
        let is_index = d.media_type == distill_image::INDEX;
        tagged.push((tag, layout.images(d)?, is_index));
    }
    tagged.sort_by_key(|(_, _, is_index)| !is_index);
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mut out = BTreeMap::new();
    for (tag, manifests, is_index) in tagged {
        for m in manifests {
            if !is_index && covered.contains(&m.digest) {
                continue;
            }
            covered.insert(m.digest.clone());
            let manifest = layout.manifest(&m)?;
            let config = layout.config(&manifest.config)?;
            let platform = [
                Some(config.os.as_str()),
                Some(config.architecture.as_str()),
                config.variant.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/");
            let layers = manifest
                .layers
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    let by = config.history.get(i).map(|h| h.created_by.clone());
                    (l, by.unwrap_or_default())
                })
                .collect();
            out.insert((tag.to_owned(), platform), Image { config, layers });
        }
    }
    Ok(out)
}

/// Layer entries, read once per digest.
struct Trees<'a> {
    layout: &'a LayoutReader,
    read: BTreeMap<String, Vec<EntryInfo>>,
}

impl Trees<'_> {
    fn tree(&mut self, image: &Image) -> Result<BTreeMap<String, EntryInfo>> {
        for (d, _) in &image.layers {
            if !self.read.contains_key(&d.digest) {
                let entries = read_layer(&self.layout.blob_path(&d.digest), &d.media_type)?;
                self.read.insert(d.digest.clone(), entries);
            }
        }
        Ok(overlay(
            image
                .layers
                .iter()
                .map(|(d, _)| self.read[&d.digest].as_slice()),
        ))
    }
}

/// Compares the image layouts at `old` and `new`.
pub fn diff_layouts(old: &Path, new: &Path) -> Result<LayoutDiff> {
    let (ol, nl) = (LayoutReader::open(old)?, LayoutReader::open(new)?);
    let (oi, ni) = (tagged_images(&ol)?, tagged_images(&nl)?);
    let mut ot = Trees {
        layout: &ol,
        read: BTreeMap::new(),
    };
    let mut nt = Trees {
        layout: &nl,
        read: BTreeMap::new(),
    };
    let keys: BTreeSet<&(String, String)> = oi.keys().chain(ni.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (tag, platform) = key.clone();
        let mut d = ImageDiff {
            tag,
            platform,
            status: Status::Changed,
            config: Vec::new(),
            layers: LayerChanges::default(),
            files: Vec::new(),
        };
        let (o, n) = match (oi.get(key), ni.get(key)) {
            (Some(o), Some(n)) => (o, n),
            (o, _) => {
                d.status = match o {
                    Some(_) => Status::Removed,
                    None => Status::Added,
                };
                out.push(d);
                continue;
            }
        };
        d.config = config_changes(&o.config, &n.config);
        let digests = |i: &Image| -> BTreeSet<String> {
            i.layers.iter().map(|(l, _)| l.digest.clone()).collect()
        };
        let (od, nd) = (digests(o), digests(n));
        let layer_ref = |(l, by): &(Descriptor, String)| LayerRef {
            digest: l.digest.clone(),
            created_by: by.clone(),
        };
        d.layers.added = n
            .layers
            .iter()
            .filter(|(l, _)| !od.contains(&l.digest))
            .map(layer_ref)
            .collect();
        d.layers.removed = o
            .layers
            .iter()
            .filter(|(l, _)| !nd.contains(&l.digest))
            .map(layer_ref)
            .collect();
        if od != nd {
            let (a, b) = (ot.tree(o)?, nt.tree(n)?);
            let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for p in paths {
                let (x, y) = (a.get(p), b.get(p));
                if x != y {
                    let change = match (x, y) {
                        (None, _) => Status::Added,
                        (_, None) => Status::Removed,
                        _ => Status::Changed,
                    };
                    d.files.push(FileChange {
                        path: p.clone(),
                        change,
                        old: x.cloned(),
                        new: y.cloned(),
                    });
                }
            }
        }
        if !(d.config.is_empty() && d.layers.is_empty() && d.files.is_empty()) {
            out.push(d);
        }
    }
    Ok(LayoutDiff { images: out })
}

fn config_changes(o: &ConfigDoc, n: &ConfigDoc) -> Vec<ConfigChange> {
    let (o, n) = (&o.config, &n.config);
    fn v(x: &impl Serialize) -> serde_json::Value {
        serde_json::to_value(x).expect("config fields serialise")
    }
    let fields: [(&'static str, serde_json::Value, serde_json::Value); 6] = [
        ("User", v(&o.user), v(&n.user)),
        ("Env", v(&o.env), v(&n.env)),
        ("Entrypoint", v(&o.entrypoint), v(&n.entrypoint)),
        ("Cmd", v(&o.cmd), v(&n.cmd)),
        ("WorkingDir", v(&o.working_dir), v(&n.working_dir)),
        ("Labels", v(&o.labels), v(&n.labels)),
    ];
    fields
        .into_iter()
        .filter(|(_, a, b)| a != b)
        .map(|(field, old, new)| ConfigChange { field, old, new })
        .collect()
}
