//! `append`: new layers on top of an image, crane-style, without pulling
//! the base. BASE and TARGET are registry references or local layouts
//! (`oci:DIR:TAG`). Only BASE's index, manifests and configs are read;
//! its layers are mounted (same registry), copied (layout to layout) or
//! transferred once otherwise. Every platform of BASE gets the common
//! layers plus its own (`--platform`), a new config (diff_ids, history,
//! the changed fields) and a new manifest, under one new index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use distill_fetch::{RetryPolicy, Timeouts};
use distill_image::{
    ConfigDoc, Descriptor, History, INDEX, IndexDoc, Layout, LayoutReader, ManifestDoc, REF_NAME,
    sorted_json,
};
use distill_layer::{Compression, Layer, layer_from_dir};
use distill_registry::{Client, Document, Reference};
use sha2::Digest;

use crate::error::{Context, Result, fail};
use crate::remote::{image_manifests, parse};

const BASE_NAME: &str = "org.opencontainers.image.base.name";
const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    pub base: String,
    pub target: String,
    /// Layer tarballs (`.tar`, `.tar.gz`, `.tar.zst`) for every platform.
    pub layers: Vec<PathBuf>,
    /// Directories made into layers for every platform.
    pub dirs: Vec<PathBuf>,
    /// (uid, gid) of every entry of the `dirs` layers (default 0:0).
    pub owner: Option<(u64, u64)>,
    /// (`os/arch[/variant]`, tarball): a layer for one platform only.
    pub platform_layers: Vec<(String, PathBuf)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: Vec<(String, String)>,
    /// mtimes of `--dir` layers (default: the base's `created`).
    pub epoch: Option<u64>,
    pub plain_http: bool,
    pub docker_config: Option<PathBuf>,
    /// Read timeout and per-request deadline for the registries.
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    /// Sign the new manifests and index with this key (a registry
    /// target), as `push --sign-key` does, before the tag moves.
    pub sign_key: Option<distill_sign::SecretKey>,
}

/// The image written.
#[derive(Debug, Clone)]
pub struct Appended {
    pub target: String,
    pub digest: String,
    /// Base layer blobs whose bytes were transferred (0 when mounted).
    pub base_blobs_transferred: usize,
}

/// Where an image is read from or written to.
#[derive(Debug, Clone)]
enum Place {
    Registry(Reference),
    Layout { dir: PathBuf, tag: String },
}

impl Place {
    fn parse(s: &str) -> Result<Place> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = rest
                .rsplit_once(':')
                .filter(|(d, t)| !d.is_empty() && !t.is_empty())
                .ok_or_else(|| fail!("cannot use {s}: a layout is oci:DIR:TAG"))?;
            return Ok(Place::Layout {
                dir: dir.into(),
                tag: tag.into(),
            });
        }
        let r = Reference::parse(s).context(|| format!("cannot use {s}"))?;
        if r.reference.is_none() {
            return Err(fail!("cannot use {s}: name a tag or digest"));
        }
        Ok(Place::Registry(r))
    }
}

/// One platform's image of the base.
struct Platform {
    /// The base's descriptor of it (with `platform`).
    desc: Descriptor,
    /// Its manifest (the fields distill does not know kept in `extra`).
    doc: ManifestDoc,
    /// Its config; typed like `doc`, so a base's odd config (a `Labels`
    /// that is not a map) is an error when read, not a panic when edited.
    config: ConfigDoc,
}

/// Appends as `opts` says. Needs no project: the base and target are
/// all there is. Read the base's documents, make the new layers, write
/// the new configs, manifests and index, then put it all in the target.
pub fn append(opts: &AppendOptions) -> Result<Appended> {
    let (base, target) = (Place::parse(&opts.base)?, Place::parse(&opts.target)?);
    if opts.layers.is_empty() && opts.dirs.is_empty() && opts.platform_layers.is_empty() {
        return Err(fail!("cannot append: give --layer, --dir or --platform"));
    }
    if opts.sign_key.is_some() && matches!(target, Place::Layout { .. }) {
        return Err(fail!(
            "cannot append to {}: --sign-key signs in a registry, where cosign looks for signatures",
            opts.target
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context(|| "cannot start the async runtime".into())?;
    let what = || format!("cannot append onto {}", opts.base);
    let client = crate::remote::registry_client(
        opts.docker_config.as_ref(),
        opts.plain_http,
        opts.timeouts,
        opts.retry.clone(),
    )
    .context(what)?;
    let scratch = tempfile::Builder::new()
        .prefix("distill-append")
        .tempdir()
        .context(|| "cannot create a scratch directory".into())?;
    let (top, platforms) = runtime.block_on(read_base(&client, &base)).context(what)?;
    let created = platforms
        .first()
        .map(|p| p.config.created.as_str())
        .filter(|c| !c.is_empty())
        .unwrap_or("1970-01-01T00:00:00Z")
        .to_owned();
    let epoch = opts.epoch.unwrap_or_else(|| rfc3339_seconds(&created));
    let blobs = scratch.path().join("blobs");
    let layers = new_layers(opts, &platforms, epoch, &blobs)?;
    let image = new_image(opts, &top, &platforms, &layers, &created)?;
    let new_layers: Vec<&Layer> = layers
        .common
        .iter()
        .chain(layers.own.values().flatten())
        .collect();
    let base_layers: Vec<(String, u64)> = platforms
        .iter()
        .flat_map(|p| &p.doc.layers)
        .map(|l| (l.digest.clone(), l.size))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let write = Write {
        client: &client,
        base: &base,
        scratch: scratch.path(),
        blobs: &blobs,
        key: opts.sign_key.as_ref(),
    };
    let transferred = runtime
        .block_on(write.target(
            &target,
            &base_layers,
            &new_layers,
            &image.docs,
            (&image.top, &image.top_bytes),
        ))
        .context(|| format!("cannot write {}", opts.target))?;
    Ok(Appended {
        target: opts.target.clone(),
        digest: image.top.digest,
        base_blobs_transferred: transferred,
    })
}

/// The layers `append` adds: to every platform (`--layer`, `--dir`), and
/// to one platform only (`--platform`), by `os/arch[/variant]`.
struct NewLayers {
    common: Vec<Layer>,
    own: BTreeMap<String, Vec<Layer>>,
}

fn new_layers(
    opts: &AppendOptions,
    platforms: &[Platform],
    epoch: u64,
    blobs: &Path,
) -> Result<NewLayers> {
    let mut common = Vec::new();
    for f in &opts.layers {
        common.push(layer_from_file(f, blobs)?);
    }
    let owner = match opts.owner {
        Some((uid, gid)) => distill_layer::Owner::ids(uid, gid, "", ""),
        None => distill_layer::Owner::root(),
    };
    for d in &opts.dirs {
        common.push(layer_from_dir(d, &owner, epoch, Compression::Gzip, blobs)?);
    }
    let mut own: BTreeMap<String, Vec<Layer>> = BTreeMap::new();
    for (platform, f) in &opts.platform_layers {
        if !platforms
            .iter()
            .any(|p| platform_name(&p.desc) == *platform)
        {
            return Err(fail!(
                "cannot append: the base has no platform {platform} (it has {})",
                platforms
                    .iter()
                    .map(|p| platform_name(&p.desc))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        own.entry(platform.clone())
            .or_default()
            .push(layer_from_file(f, blobs)?);
    }
    Ok(NewLayers { common, own })
}

/// The new image's documents: per platform a config and a manifest
/// (media type, bytes), and the top: an index over them, or the one
/// manifest when the base was one.
struct NewImage {
    docs: Vec<(String, Vec<u8>)>,
    top: Descriptor,
    top_bytes: Vec<u8>,
}

fn new_image(
    opts: &AppendOptions,
    top: &Descriptor,
    platforms: &[Platform],
    layers: &NewLayers,
    created: &str,
) -> Result<NewImage> {
    let mut docs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut descs = Vec::new();
    for p in platforms {
        let added: Vec<&Layer> = layers
            .common
            .iter()
            .chain(
                layers
                    .own
                    .get(&platform_name(&p.desc))
                    .into_iter()
                    .flatten(),
            )
            .collect();
        let config_bytes = sorted_json(&new_config(&p.config, &added, created, opts));
        let bytes = new_manifest(p, &added, &config_bytes, &opts.base);
        let mut desc = Descriptor::of(&p.desc.media_type, &bytes);
        desc.platform = p.desc.platform.clone();
        docs.push((distill_image::CONFIG.to_owned(), config_bytes));
        docs.push((p.desc.media_type.clone(), bytes));
        descs.push(desc);
    }
    let (top_type, top_bytes) = if distill_registry::is_index(&top.media_type) {
        let index = IndexDoc {
            manifests: descs,
            annotations: BTreeMap::from([
                (BASE_NAME.to_owned(), opts.base.clone()),
                (BASE_DIGEST.to_owned(), top.digest.clone()),
            ]),
            extra: BTreeMap::from([
                ("schemaVersion".to_owned(), 2.into()),
                ("mediaType".to_owned(), INDEX.into()),
            ]),
        };
        (INDEX.to_owned(), sorted_json(&index))
    } else {
        docs.last().cloned().expect("one platform")
    };
    Ok(NewImage {
        top: Descriptor::of(&top_type, &top_bytes),
        top_bytes,
        docs,
    })
}

/// The base manifest of `p` with the new config and the `added` layers on
/// top, annotated with the base. Typed, with the fields distill does not
/// know kept (`ManifestDoc::extra`, `Descriptor::extra`), and written
/// with sorted keys as before.
fn new_manifest(p: &Platform, added: &[&Layer], config_bytes: &[u8], base_name: &str) -> Vec<u8> {
    let mut m = p.doc.clone();
    let config_type = m.config.media_type.clone();
    m.config = Descriptor::of(&config_type, config_bytes);
    for l in added {
        m.layers.push(Descriptor::blob(
            l.compression.media_type(),
            &l.digest,
            l.size,
        ));
    }
    m.annotations.insert(BASE_NAME.into(), base_name.into());
    m.annotations
        .insert(BASE_DIGEST.into(), p.desc.digest.clone());
    sorted_json(&m)
}

/// `os/arch[/variant]` of a descriptor.
fn platform_name(d: &Descriptor) -> String {
    match &d.platform {
        Some(p) => match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        },
        None => "unknown".into(),
    }
}

/// The base's top descriptor and every platform image, from the registry
/// (manifests and configs only, each checked against its descriptor) or
/// a layout.
async fn read_base(client: &Client, base: &Place) -> Result<(Descriptor, Vec<Platform>)> {
    let top = get_doc(client, base, None).await?;
    let descs = image_manifests(&top)?
        .into_iter()
        .filter(|d| d.artifact_type.is_none())
        .collect::<Vec<_>>();
    let mut out = Vec::new();
    for d in descs {
        let bytes = if d.digest == top.digest {
            top.bytes.clone()
        } else {
            get_doc(client, base, Some(&d)).await?.bytes
        };
        let doc: ManifestDoc = parse(&bytes)?;
        let config: ConfigDoc = parse(&get_blob(client, base, &doc.config).await?)?;
        out.push(Platform {
            desc: d,
            doc,
            config,
        });
    }
    Ok((Descriptor::of(&top.media_type, &top.bytes), out))
}

/// A manifest or index: the tagged one (`desc` None) or by descriptor.
async fn get_doc(client: &Client, place: &Place, desc: Option<&Descriptor>) -> Result<Document> {
    match place {
        Place::Registry(r) => {
            let reference = desc.map_or_else(
                || r.reference.clone().expect("checked"),
                |d| d.digest.clone(),
            );
            client
                .get_manifest(&r.registry, &r.repository, &reference, desc.map(|d| d.size))
                .await?
                .ok_or_else(|| fail!("{} has no {reference}", r.with(&reference)))
        }
        Place::Layout { dir, tag } => {
            let reader = LayoutReader::open(dir)?;
            let d = match desc {
                None => reader
                    .tags()
                    .find(|(t, _)| t == tag)
                    .map(|(_, d)| d.clone())
                    .ok_or_else(|| fail!("{} has no tag {tag}", dir.display()))?,
                Some(d) => d.clone(),
            };
            let bytes = reader.blob(&d)?;
            Ok(Document {
                media_type: d.media_type.clone(),
                digest: d.digest.clone(),
                bytes,
            })
        }
    }
}

/// A config blob, checked against its descriptor.
async fn get_blob(client: &Client, place: &Place, d: &Descriptor) -> Result<Vec<u8>> {
    match place {
        Place::Registry(r) => Ok(client
            .get_blob(&r.registry, &r.repository, &d.digest, d.size)
            .await?),
        Place::Layout { dir, .. } => Ok(LayoutReader::open(dir)?.blob(d)?),
    }
}

struct Write<'a> {
    client: &'a Client,
    base: &'a Place,
    scratch: &'a Path,
    blobs: &'a Path,
    key: Option<&'a distill_sign::SecretKey>,
}

impl Write<'_> {
    /// Writes the new image to `target`; returns how many base layer blobs
    /// had their bytes transferred.
    async fn target(
        &self,
        target: &Place,
        base_layers: &[(String, u64)],
        new_layers: &[&Layer],
        docs: &[(String, Vec<u8>)],
        top: (&Descriptor, &[u8]),
    ) -> Result<usize> {
        let mut transferred = 0;
        match target {
            Place::Registry(t) => {
                let (reg, repo) = (&t.registry, &t.repository);
                for (digest, size) in base_layers {
                    let mounted = match self.base {
                        Place::Registry(b) if b.registry == *reg => {
                            self.client
                                .mount_blob(reg, repo, digest, &b.repository)
                                .await?
                        }
                        _ => false,
                    };
                    if !mounted {
                        let path = self.local_base_blob(digest, *size).await?;
                        transferred += usize::from(!matches!(self.base, Place::Layout { .. }));
                        self.client
                            .put_blob(reg, repo, digest, &path, *size, None)
                            .await?;
                    }
                }
                for l in new_layers {
                    let path = self.blobs.join(l.hex());
                    self.client
                        .put_blob(reg, repo, &l.digest, &path, l.size, None)
                        .await?;
                }
                for (media_type, bytes) in docs {
                    let d = Descriptor::of(media_type, bytes);
                    if media_type == distill_image::CONFIG {
                        let path = self.scratch.join(d.digest.replace(':', "-"));
                        std::fs::write(&path, bytes)
                            .context(|| format!("cannot write {}", path.display()))?;
                        self.client
                            .put_blob(reg, repo, &d.digest, &path, d.size, None)
                            .await?;
                    } else {
                        self.client
                            .put_manifest(reg, repo, &d.digest, media_type, bytes)
                            .await?;
                    }
                }
                if let Some(key) = self.key {
                    let key = &crate::sign::Signer::Key(key.clone());
                    let manifests = docs.iter().filter(|(m, _)| m != distill_image::CONFIG);
                    for (media_type, bytes) in manifests {
                        let d = Descriptor::of(media_type, bytes);
                        crate::sign::sign(self.client, t, &d.digest, key).await?;
                    }
                    crate::sign::sign(self.client, t, &top.0.digest, key).await?;
                }
                let tag = t.reference.clone().expect("checked");
                self.client
                    .put_manifest(reg, repo, &tag, &top.0.media_type, top.1)
                    .await?;
            }
            Place::Layout { dir, tag } => {
                let mut layout = Layout::create(dir)?;
                for (digest, size) in base_layers {
                    let path = self.local_base_blob(digest, *size).await?;
                    transferred += usize::from(!matches!(self.base, Place::Layout { .. }));
                    layout.put_file(&path, digest)?;
                }
                for l in new_layers {
                    layout.put_file(&self.blobs.join(l.hex()), &l.digest)?;
                }
                for (media_type, bytes) in docs {
                    layout.put(media_type, bytes)?;
                }
                let mut desc = layout.put(&top.0.media_type, top.1)?;
                desc.annotations.insert(REF_NAME.into(), tag.clone());
                layout.tag(tag, desc);
                if LayoutReader::is_layout(dir) {
                    layout.commit_into()?;
                } else {
                    layout.commit()?;
                }
            }
        }
        Ok(transferred)
    }

    /// A base layer blob as a local file: the base layout's, or fetched
    /// from the base registry into the scratch directory.
    async fn local_base_blob(&self, digest: &str, size: u64) -> Result<PathBuf> {
        match self.base {
            Place::Layout { dir, .. } => Ok(distill_image::blob_path(dir, digest)),
            Place::Registry(r) => {
                let path = self.scratch.join(digest.replace(':', "-"));
                self.client
                    .download_blob(&r.registry, &r.repository, digest, size, &path)
                    .await
                    .context(|| r.to_string())?;
                Ok(path)
            }
        }
    }
}

/// The largest `--layer` tarball `append` reads (it is read whole).
pub(crate) const MAX_APPEND_LAYER: u64 = 4 << 30;

/// A layer from a tarball: gzip and zstd blobs are used as they are (their
/// diff_id computed from the decompressed tar), a plain tar is gzipped
/// deterministically.
fn layer_from_file(path: &Path, out: &Path) -> Result<Layer> {
    use std::io::{Read, Write as _};
    let read = || format!("cannot read layer {}", path.display());
    // Layers are read whole (the diff_id needs the tar): bounded.
    let bytes = distill_store::read_bounded(path, MAX_APPEND_LAYER).context(read)?;
    let (compression, tar): (Compression, Vec<u8>) = match bytes.as_slice() {
        [0x1f, 0x8b, ..] => {
            let mut t = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut t)
                .context(read)?;
            (Compression::Gzip, t)
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => (
            Compression::Zstd,
            zstd::decode_all(&bytes[..]).context(read)?,
        ),
        _ => (Compression::Gzip, Vec::new()),
    };
    let blob = if tar.is_empty() {
        // A plain tar: gzip it, with no name or time in the header.
        let mut gz = flate2::GzBuilder::new()
            .operating_system(255)
            .write(Vec::new(), flate2::Compression::new(6));
        gz.write_all(&bytes).context(read)?;
        gz.finish().context(read)?
    } else {
        bytes.clone()
    };
    let tar = if tar.is_empty() { bytes } else { tar };
    // It must be a tar: every header read. The tar crate's message is
    // dropped: for a file that is not a tar, it quotes the file's bytes.
    let not_tar = || {
        fail!(
            "cannot read layer {}: not a tar archive (.tar, .tar.gz or .tar.zst)",
            path.display()
        )
    };
    let mut archive = tar::Archive::new(&tar[..]);
    let mut seen: BTreeMap<String, bool> = BTreeMap::new();
    for e in archive.entries().map_err(|_| not_tar())? {
        let e = e.map_err(|_| not_tar())?;
        check_entry(&e, &mut seen)
            .map_err(|(entry, why)| fail!("cannot use layer {}: {entry}: {why}", path.display()))?;
    }
    if tar.len() < 1024 {
        return Err(not_tar());
    }
    let hex = hex::encode(sha2::Sha256::digest(&blob));
    std::fs::create_dir_all(out).context(|| format!("cannot write {}", out.display()))?;
    std::fs::write(out.join(&hex), &blob).context(|| format!("cannot write {}", out.display()))?;
    Ok(Layer {
        digest: format!("sha256:{hex}"),
        diff_id: format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar))),
        size: blob.len() as u64,
        compression,
        entries: Vec::new(),
    })
}

/// The rules package layers meet, for an entry of an appended layer:
/// a relative path without `..`, each path once (a directory may repeat),
/// a hard link to an earlier entry, no device node or FIFO. `seen` maps
/// the paths so far to whether each is a directory. `Err` is (entry,
/// why).
fn check_entry<R: std::io::Read>(
    e: &tar::Entry<'_, R>,
    seen: &mut BTreeMap<String, bool>,
) -> std::result::Result<(), (String, String)> {
    let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
    let bad = |why: String| (raw.clone(), why);
    let path = distill_layer::normalize(&raw).map_err(|p| bad(p.to_string()))?;
    let kind = e.header().entry_type();
    let is_dir = kind == tar::EntryType::Directory;
    match kind {
        tar::EntryType::Char | tar::EntryType::Block => {
            return Err(bad(
                "device node (images get theirs from the runtime)".into()
            ));
        }
        tar::EntryType::Fifo => return Err(bad("FIFO".into())),
        tar::EntryType::Link => {
            let target = e.link_name_bytes().unwrap_or_default();
            let target = distill_layer::normalize(&String::from_utf8_lossy(&target))
                .map_err(|p| bad(format!("hard link target: {p}")))?;
            if seen.get(&target) != Some(&false) {
                return Err(bad(format!(
                    "hard link to {target}, which is not an earlier file"
                )));
            }
        }
        _ => {}
    }
    // PAX and GNU long-name headers describe the next entry; the tar
    // crate has already folded them into it.
    if let Some(was_dir) = seen.insert(path.clone(), is_dir)
        && !(was_dir && is_dir)
    {
        return Err(bad("duplicate entry".into()));
    }
    Ok(())
}

/// The base config with the new layers and the changed fields; every
/// field distill does not know is kept as the base had it.
fn new_config(
    base: &ConfigDoc,
    layers: &[&Layer],
    created: &str,
    opts: &AppendOptions,
) -> ConfigDoc {
    let mut c = base.clone();
    for l in layers {
        c.rootfs.diff_ids.push(l.diff_id.clone());
        c.history.push(History {
            created: created.to_owned(),
            created_by: "distill append".to_owned(),
            comment: None,
            extra: Default::default(),
        });
    }
    let cfg = &mut c.config;
    if let Some(e) = &opts.entrypoint {
        cfg.entrypoint = e.clone();
    }
    if let Some(cmd) = &opts.cmd {
        cfg.cmd = cmd.clone();
    }
    if let Some(u) = &opts.user {
        cfg.user = u.clone();
    }
    if let Some(w) = &opts.workdir {
        cfg.working_dir = w.clone();
    }
    for (k, v) in &opts.env {
        cfg.env
            .retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k));
        cfg.env.push(format!("{k}={v}"));
    }
    for (k, v) in &opts.labels {
        cfg.labels.insert(k.clone(), v.clone());
    }
    c
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2025-01-10T00:00:00Z`);
/// 0 when it cannot be read.
fn rfc3339_seconds(s: &str) -> u64 {
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return 0;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (y, mo) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + h * 3600 + mi * 60 + se).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_with_the_image_crate() {
        for t in [0u64, 1_736_467_200, 1_764_000_000] {
            assert_eq!(rfc3339_seconds(&distill_image::rfc3339(t)), t);
        }
    }

    #[test]
    fn places() {
        assert!(matches!(
            Place::parse("oci:out/x:latest").unwrap(),
            Place::Layout { .. }
        ));
        assert!(Place::parse("oci:nodir").is_err());
        assert!(Place::parse("127.0.0.1:5000/x").is_err(), "needs a tag");
        assert!(matches!(
            Place::parse("127.0.0.1:5000/x:v1").unwrap(),
            Place::Registry(_)
        ));
    }
}
