//! `verify`: is what a registry serves exactly what the lock builds? The
//! tag is rebuilt from the lock (cached layers make that quick) and its
//! index digest compared with the registry's. When they differ, the
//! served image is fetched into a layout next to the built one (only the
//! blobs the build does not have: the differing layers and configs) and
//! the two are compared file by file with the `diff` machinery.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use distill_image::{Descriptor, ManifestDoc, REF_NAME, blob_path};
use distill_registry::{Client, Reference};

use crate::build::BuildOptions;
use crate::diff::{LayoutDiff, diff_layouts};
use crate::error::{Context, Result, fail};
use crate::project::Project;
use crate::remote::{image_manifests, parse};

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// `registry/repository[:tag]`.
    pub reference: String,
    pub image: String,
    pub distro: String,
    /// The tag to compare (default: the reference's, else `latest`).
    pub tag: Option<String>,
    pub plain_http: bool,
    pub docker_config: Option<PathBuf>,
    /// Also require every served manifest and the index to be signed
    /// with this key, and their provenance to name this lock.
    pub key: Option<distill_sign::PublicKey>,
}

/// The outcome: the digests, and where they differ the file-level diff
/// (built → served).
#[derive(Debug, Clone)]
pub struct Verified {
    /// `registry/repository:tag`.
    pub reference: String,
    pub built: String,
    pub served: String,
    pub diff: LayoutDiff,
    /// Blobs fetched from the registry to explain a difference.
    pub fetched: usize,
    /// With a key: every check of signatures and provenance that failed,
    /// one line each (empty: all hold).
    pub unsigned: Vec<String>,
}

impl Verified {
    pub fn same(&self) -> bool {
        self.built == self.served
    }

    /// The served image is what the lock builds and, with a key, signed
    /// with it and attested as built from this lock.
    pub fn holds(&self) -> bool {
        self.same() && self.unsigned.is_empty()
    }
}

impl Project {
    pub fn verify(&self, opts: &VerifyOptions) -> Result<Verified> {
        let what = || format!("cannot verify {}", opts.reference);
        let r = Reference::parse(&opts.reference).context(what)?;
        let tag = opts
            .tag
            .clone()
            .or_else(|| r.reference.clone().filter(|t| !t.starts_with("sha256:")))
            .unwrap_or_else(|| "latest".into());
        let reference = r.with(&tag);
        let scratch = tempfile::Builder::new()
            .prefix("distill-verify")
            .tempdir()
            .context(what)?;
        let build = BuildOptions {
            images: vec![opts.image.clone()],
            distros: vec![opts.distro.clone()],
            out: scratch.path().join("built"),
            scratch: true,
            ..BuildOptions::default()
        };
        let report = self.build(&build)?;
        let built = report
            .tags
            .iter()
            .find(|b| b.tag == tag)
            .ok_or_else(|| fail!("cannot verify {reference}: the lock builds no tag {tag}"))?;
        let client = self
            .registry_client(opts.docker_config.as_ref(), opts.plain_http)
            .context(what)?;
        let served_dir = scratch.path().join("served");
        let (served, fetched) = self
            .block_on(fetch_layout(
                &client,
                &reference,
                &tag,
                &built.path,
                &served_dir,
            ))
            .context(|| format!("cannot verify {reference}"))?;
        let unsigned = match &opts.key {
            Some(key) => {
                let lock = self.lock_path(&opts.distro);
                let (sha, _) = distill_store::sha256_file(&lock)
                    .context(|| format!("cannot read {}", lock.display()))?;
                self.block_on(signature_checks(&client, &reference, &tag, key, &sha))
                    .context(|| format!("cannot verify {reference}"))?
            }
            None => Vec::new(),
        };
        let mut out = Verified {
            reference: reference.to_string(),
            built: built.digest.clone(),
            served,
            diff: LayoutDiff { images: Vec::new() },
            fetched,
            unsigned,
        };
        if !out.same() {
            let mut diff = diff_layouts(&built.path, &served_dir)?;
            diff.images.retain(|i| i.tag == tag);
            out.diff = diff;
        }
        Ok(out)
    }
}

/// Writes the image `reference` serves under `tag` as an OCI layout at
/// `dest`, taking every blob the built layout `local` already has from it
/// and fetching only the others (each checked against its descriptor and
/// streamed to its file). Returns the served digest and how many blobs
/// were fetched; when the digest equals the built one, nothing else is
/// fetched.
async fn fetch_layout(
    client: &Client,
    reference: &Reference,
    tag: &str,
    local: &Path,
    dest: &Path,
) -> Result<(String, usize)> {
    let (registry, repo) = (&reference.registry, &reference.repository);
    let top = client
        .get_manifest(registry, repo, tag, None)
        .await?
        .ok_or_else(|| fail!("the registry has no tag {tag}"))?;
    let top_desc = Descriptor::of(&top.media_type, &top.bytes);
    let built_top = local_tag_digest(local, tag)?;
    if Some(&top.digest) == built_top.as_ref() {
        return Ok((top.digest, 0));
    }
    let mut fetched = 0;
    let mut docs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let manifests = image_manifests(&top)?;
    for m in &manifests {
        let bytes = if m.digest == top.digest {
            top.bytes.clone()
        } else {
            client
                .get_manifest(registry, repo, &m.digest, Some(m.size))
                .await?
                .ok_or_else(|| fail!("the registry lacks manifest {}", m.digest))?
                .bytes
        };
        docs.insert(m.digest.clone(), bytes);
    }
    docs.insert(top.digest.clone(), top.bytes.clone());
    let mut wanted = BTreeMap::new();
    for m in &manifests {
        let doc: ManifestDoc = parse(&docs[&m.digest])?;
        for d in std::iter::once(&doc.config).chain(&doc.layers) {
            wanted.insert(d.digest.clone(), d.size);
        }
    }
    std::fs::create_dir_all(dest.join("blobs/sha256"))
        .context(|| format!("cannot write {}", dest.display()))?;
    for (digest, size) in wanted {
        let to = blob_path(dest, &digest);
        let have = blob_path(local, &digest);
        if have.is_file() {
            std::fs::copy(&have, &to).context(|| format!("cannot write {}", to.display()))?;
        } else if !docs.contains_key(&digest) {
            client
                .download_blob(registry, repo, &digest, size, &to)
                .await?;
            fetched += 1;
        }
    }
    for (digest, bytes) in &docs {
        let to = blob_path(dest, digest);
        std::fs::write(&to, bytes).context(|| format!("cannot write {}", to.display()))?;
    }
    let mut entry = top_desc;
    entry.annotations.insert(REF_NAME.into(), tag.to_owned());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [entry]});
    std::fs::write(
        dest.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .and_then(|_| {
        std::fs::write(
            dest.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
    })
    .context(|| format!("cannot write {}", dest.display()))?;
    Ok((top.digest, fetched))
}

/// What fails of: the served tag's index and each platform manifest
/// signed by `key` for this repository, and attested (SLSA provenance,
/// by the same key) as built from the lock whose sha256 is `lock`.
async fn signature_checks(
    client: &Client,
    reference: &Reference,
    tag: &str,
    key: &distill_sign::PublicKey,
    lock: &str,
) -> Result<Vec<String>> {
    use crate::sign::{SLSA_V1, attestations, provenance_lock, signature_problem};
    let (registry, repo) = (&reference.registry, &reference.repository);
    let top = client
        .get_manifest(registry, repo, tag, None)
        .await?
        .ok_or_else(|| fail!("the registry has no tag {tag}"))?;
    let mut digests = vec![top.digest.clone()];
    digests.extend(
        image_manifests(&top)?
            .into_iter()
            .map(|d| d.digest)
            .filter(|d| *d != top.digest),
    );
    let mut problems = Vec::new();
    for digest in &digests {
        if let Some(p) = signature_problem(client, reference, digest, key).await? {
            problems.push(format!("signature: {p}"));
        }
        let named: Vec<(String, String)> = attestations(client, reference, digest, key)
            .await?
            .iter()
            .filter(|(kind, _)| kind == SLSA_V1)
            .filter_map(|(_, p)| provenance_lock(p))
            .collect();
        if named.is_empty() {
            problems.push(format!(
                "provenance: {digest} has no provenance by this key"
            ));
        } else if !named.iter().any(|(_, sha)| sha == lock) {
            let (uri, sha) = &named[0];
            problems.push(format!(
                "provenance: {digest} was built from {uri} sha256:{sha}, not this lock (sha256:{lock})"
            ));
        }
    }
    Ok(problems)
}

/// The digest the built layout tags `tag` with.
fn local_tag_digest(local: &Path, tag: &str) -> Result<Option<String>> {
    let reader = distill_image::LayoutReader::open(local)?;
    Ok(reader
        .tags()
        .find(|(t, _)| *t == tag)
        .map(|(_, d)| d.digest.clone()))
}
