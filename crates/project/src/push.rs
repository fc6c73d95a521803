//! `push`: the built layouts to a registry, as crane and skopeo would,
//! in an order that never names what is not there yet: blobs (skipped
//! when present, mounted when this run already put them in another
//! repository of the registry, else uploaded), then manifests by digest,
//! the SBOM artifacts and their referrers, the indexes, their cosign
//! signatures (with `--sign-key`), and last the tags.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use distill_image::{Descriptor, INDEX, LayoutReader};
use distill_registry::{Client, Placed, Reference};
use futures_util::{StreamExt, TryStreamExt};

use crate::error::{Context, Result, fail};
use crate::project::Project;
use crate::sign::{Keyless, Signer};

/// Blob uploads in flight at once.
const PARALLEL: usize = 4;

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// `REGISTRY/PREFIX`: each layout goes to `PREFIX/<image>-<distro>`.
    pub target: String,
    /// Only these images (default: every image built).
    pub images: Vec<String>,
    /// Only these distros (default: all).
    pub distros: Vec<String>,
    /// Only these tags and their `<tag>-<arch>` (default: all).
    pub tags: Vec<String>,
    /// Where `build` wrote the layouts.
    pub out: PathBuf,
    /// http for a registry that is not on this machine.
    pub plain_http: bool,
    /// The docker config with credentials (default: `$DOCKER_CONFIG` or
    /// `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// Sign every manifest and index pushed with this key, as cosign
    /// does, before the tags move.
    pub sign_key: Option<distill_sign::SecretKey>,
    /// Or sign keyless (Fulcio and Rekor), as `cosign sign` does with an
    /// OIDC token: signatures and attestations alike, each logged.
    pub keyless: Option<crate::sign::KeylessOptions>,
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// `registry/repo:tag` → digest, in push order.
    pub tags: Vec<(String, String)>,
    pub uploaded: usize,
    pub mounted: usize,
    /// Blobs the registry had already.
    pub present: usize,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Signatures added (none for a manifest this key had signed).
    pub signed: usize,
}

impl Project {
    pub fn push(&self, opts: &PushOptions) -> Result<PushReport> {
        let prefix =
            Reference::parse(&opts.target).context(|| format!("cannot push to {}", opts.target))?;
        if prefix.reference.is_some() {
            return Err(fail!(
                "cannot push to {}: give a registry and repository prefix, without a tag",
                opts.target
            ));
        }
        let client = self
            .registry_client(opts.docker_config.as_ref(), opts.plain_http)
            .context(|| format!("cannot push to {}", opts.target))?;
        let mut layouts = Vec::new();
        for distro in self.distros(&opts.distros)? {
            for image in self.config.images.keys() {
                if !opts.images.is_empty() && !opts.images.contains(image) {
                    continue;
                }
                let name = format!("{image}-{distro}");
                let dir = opts.out.join(&name);
                if LayoutReader::is_layout(&dir) {
                    layouts.push((image.clone(), distro.clone(), dir));
                }
            }
        }
        if layouts.is_empty() {
            return Err(fail!(
                "cannot push: no built layout under {} matches; run `distill build` first",
                opts.out.display()
            ));
        }
        let pusher = Pusher {
            client,
            observer: self.observer(),
            registry: prefix.registry.clone(),
            seen: Mutex::new(BTreeMap::new()),
            report: Mutex::new(PushReport::default()),
        };
        let signer = match (&opts.sign_key, &opts.keyless) {
            (Some(key), _) => Some(Signer::Key(key.clone())),
            (None, Some(k)) => Some(Signer::Keyless(
                self.block_on(Keyless::obtain(&pusher.client, k))
                    .context(|| format!("cannot sign keyless for {}", opts.target))?,
            )),
            (None, None) => None,
        };
        for (image, distro, dir) in &layouts {
            let repo = prefix.child(&format!("{image}-{distro}"));
            let signing = match &signer {
                Some(signer) => Some(self.signing(signer, image, distro)?),
                None => None,
            };
            self.block_on(pusher.layout(&repo, dir, &opts.tags, signing.as_ref()))
                .context(|| format!("cannot push {repo}"))?;
        }
        Ok(pusher.report.into_inner().expect("lock"))
    }
}

struct Pusher<'p> {
    client: Client,
    observer: &'p dyn distill_store::Observer,
    registry: String,
    /// Blob digest → a repository of this run that has it.
    seen: Mutex<BTreeMap<String, String>>,
    report: Mutex<PushReport>,
}

/// What signing a layout needs: the key, and what its provenance names.
struct Signing<'k> {
    signer: &'k Signer,
    image: String,
    distro: String,
    /// (`snapshots/<distro>.lock`, sha256 hex).
    lock: (String, String),
    /// sha256 hex of packages.toml.
    config: String,
}

impl Project {
    fn signing<'k>(&self, signer: &'k Signer, image: &str, distro: &str) -> Result<Signing<'k>> {
        let hash = |path: &Path| {
            distill_store::sha256_file(path)
                .map(|(hex, _)| hex)
                .context(|| format!("cannot read {}", path.display()))
        };
        let lock_path = self.lock_path(distro);
        let uri = lock_path
            .strip_prefix(self.config_path().parent().unwrap_or(Path::new("")))
            .unwrap_or(&lock_path)
            .display()
            .to_string();
        Ok(Signing {
            signer,
            image: image.to_owned(),
            distro: distro.to_owned(),
            lock: (uri, hash(&lock_path)?),
            config: hash(self.config_path())?,
        })
    }
}

impl Pusher<'_> {
    async fn layout(
        &self,
        repo: &Reference,
        dir: &Path,
        only: &[String],
        signing: Option<&Signing<'_>>,
    ) -> Result<()> {
        let reader = LayoutReader::open(dir)?;
        let wanted = |tag: &str| {
            only.is_empty()
                || only
                    .iter()
                    .any(|t| tag == t || tag.strip_prefix(&format!("{t}-")).is_some())
        };
        let tags: Vec<(String, Descriptor)> = reader
            .tags()
            .filter(|(t, _)| wanted(t))
            .map(|(t, d)| (t.to_owned(), d.clone()))
            .collect();
        // Image manifests (by digest) under the tags, and the SBOM
        // artifacts whose subject is one of them.
        let mut images: BTreeMap<String, Descriptor> = BTreeMap::new();
        let mut indexes: BTreeMap<String, Descriptor> = BTreeMap::new();
        for (_, d) in &tags {
            if d.media_type == INDEX {
                indexes.insert(d.digest.clone(), d.clone());
            }
            for m in reader.images(d)? {
                images.insert(m.digest.clone(), m);
            }
        }
        let mut artifacts: Vec<(Descriptor, String)> = Vec::new();
        for d in reader.entries() {
            if d.artifact_type.is_none() {
                continue;
            }
            let doc = reader.manifest(d)?;
            if let Some(subject) = doc.subject.filter(|s| images.contains_key(&s.digest)) {
                artifacts.push((d.clone(), subject.digest));
            }
        }
        let mut blobs: BTreeMap<String, u64> = BTreeMap::new();
        for d in images.values().chain(artifacts.iter().map(|(d, _)| d)) {
            let m = reader.manifest(d)?;
            for b in std::iter::once(&m.config).chain(&m.layers) {
                blobs.insert(b.digest.clone(), b.size);
            }
        }
        let steps = self
            .observer
            .steps(blobs.len() as u64, &format!("push {repo} blobs"));
        // The first failure ends the push: the uploads in flight are
        // dropped, and no other blob waits out its retries against a
        // registry that is down.
        let done: Result<Vec<()>> = futures_util::stream::iter(blobs)
            .map(|(digest, size)| {
                let (reader, steps) = (&reader, &steps);
                async move {
                    let r = self.blob(repo, reader, digest, size).await;
                    steps.advance(1);
                    r
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await;
        drop(steps);
        done?;

        for d in images.values().chain(artifacts.iter().map(|(d, _)| d)) {
            self.manifest(repo, &reader, d, &d.digest).await?;
        }
        self.referrers(repo, &artifacts).await?;
        for d in indexes.values() {
            self.manifest(repo, &reader, d, &d.digest).await?;
        }
        // Signed once everything they name is there, and before the tags
        // move: a policy that admits only signed images never sees a tag
        // on an unsigned one.
        if let Some(signing) = signing {
            self.sign(repo, &reader, &tags, &artifacts, signing).await?;
        }
        for (tag, d) in &tags {
            let digest = self.manifest(repo, &reader, d, tag).await?;
            let mut report = self.report.lock().expect("lock");
            report.tags.push((repo.with(tag).to_string(), digest));
        }
        Ok(())
    }

    /// Signs every image manifest and index under `tags`, and attests
    /// each image's SBOM and the provenance of images and indexes.
    async fn sign(
        &self,
        repo: &Reference,
        reader: &LayoutReader,
        tags: &[(String, Descriptor)],
        artifacts: &[(Descriptor, String)],
        signing: &Signing<'_>,
    ) -> Result<()> {
        use crate::sign::{Provenance, SLSA_V1, SPDX, attest, sign, spdx_dependencies};
        // Digest → the tags it is pushed under (a platform's manifest is
        // under its index's tags and its own `<tag>-<arch>`).
        let mut tagged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut platforms: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (tag, d) in tags {
            tagged
                .entry(d.digest.clone())
                .or_default()
                .insert(tag.clone());
            for m in reader.images(d)? {
                tagged
                    .entry(m.digest.clone())
                    .or_default()
                    .insert(tag.clone());
                if m.digest != d.digest {
                    platforms
                        .entry(d.digest.clone())
                        .or_default()
                        .push(m.digest);
                }
            }
        }
        // (predicate type, predicate) to attest, per digest.
        let mut statements: BTreeMap<String, Vec<(&str, serde_json::Value)>> = BTreeMap::new();
        let mut dependencies: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (artifact, subject) in artifacts {
            let doc = reader.manifest(artifact)?;
            let Some(layer) = doc.layers.first() else {
                continue;
            };
            let sbom: serde_json::Value = crate::remote::parse(&reader.blob(layer)?)?;
            dependencies.insert(subject.clone(), spdx_dependencies(&sbom));
            statements
                .entry(subject.clone())
                .or_default()
                .push((SPDX, sbom));
        }
        for (digest, tags) in &tagged {
            let own = |d: &String| dependencies.get(d).into_iter().flatten().cloned();
            let deps: BTreeSet<(String, String)> = match platforms.get(digest) {
                Some(ps) => ps.iter().flat_map(own).collect(),
                None => own(digest).collect(),
            };
            let provenance = Provenance {
                image: signing.image.clone(),
                distro: signing.distro.clone(),
                tags: tags.iter().cloned().collect(),
                lock: signing.lock.clone(),
                config: signing.config.clone(),
                dependencies: deps.into_iter().collect(),
            };
            statements
                .entry(digest.clone())
                .or_default()
                .push((SLSA_V1, provenance.predicate()));
        }
        // Digests in parallel; one digest's statements one after another,
        // as they merge into the same `.att` image.
        let added: Vec<usize> = futures_util::stream::iter(tagged.keys())
            .map(|digest| {
                let statements = statements.remove(digest).unwrap_or_default();
                async move {
                    let mut added =
                        usize::from(sign(&self.client, repo, digest, signing.signer).await?);
                    for (kind, predicate) in &statements {
                        added += usize::from(
                            attest(&self.client, repo, digest, signing.signer, kind, predicate)
                                .await?,
                        );
                    }
                    Ok::<_, crate::Error>(added)
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        self.report.lock().expect("lock").signed += added.iter().sum::<usize>();
        Ok(())
    }

    /// PUTs the layout's manifest or index `d` under `reference`.
    async fn manifest(
        &self,
        repo: &Reference,
        reader: &LayoutReader,
        d: &Descriptor,
        reference: &str,
    ) -> Result<String> {
        let bytes = reader.blob(d)?;
        Ok(self
            .client
            .put_manifest(
                &self.registry,
                &repo.repository,
                reference,
                &d.media_type,
                &bytes,
            )
            .await?)
    }

    /// Puts one blob into `repo`, mounting it from a repository this run
    /// already put it in.
    async fn blob(
        &self,
        repo: &Reference,
        reader: &LayoutReader,
        digest: String,
        size: u64,
    ) -> Result<()> {
        let from = self.seen.lock().expect("lock").get(&digest).cloned();
        let path = reader.blob_path(&digest);
        let placed = self
            .client
            .put_blob(
                &self.registry,
                &repo.repository,
                &digest,
                &path,
                size,
                from.as_deref(),
            )
            .await?;
        self.seen
            .lock()
            .expect("lock")
            .entry(digest)
            .or_insert_with(|| repo.repository.clone());
        let mut r = self.report.lock().expect("lock");
        match placed {
            Placed::Present => r.present += 1,
            Placed::Mounted => r.mounted += 1,
            Placed::Uploaded => {
                r.uploaded += 1;
                r.bytes += size;
            }
        }
        Ok(())
    }

    /// Makes the SBOMs findable from their subjects: nothing more to do
    /// where the registry has the referrers API (the manifest's `subject`
    /// registered it); else the OCI 1.1 fallback, an index of referrers
    /// under the tag `sha256-<subject hex>`, merged with what it lists.
    async fn referrers(&self, repo: &Reference, artifacts: &[(Descriptor, String)]) -> Result<()> {
        let Some((_, first)) = artifacts.first() else {
            return Ok(());
        };
        let (registry, name) = (&self.registry, &repo.repository);
        if self.client.has_referrers_api(registry, name, first).await? {
            return Ok(());
        }
        let mut by_subject: BTreeMap<&str, Vec<&Descriptor>> = BTreeMap::new();
        for (d, subject) in artifacts {
            by_subject.entry(subject).or_default().push(d);
        }
        for (subject, referrers) in by_subject {
            let tag = subject.replace(':', "-");
            let mut listed: Vec<serde_json::Value> =
                match self.client.get_manifest(registry, name, &tag, None).await? {
                    Some(doc) => serde_json::from_slice::<serde_json::Value>(&doc.bytes)
                        .ok()
                        .and_then(|v| v["manifests"].as_array().cloned())
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
            let known: BTreeSet<String> = listed
                .iter()
                .filter_map(|m| m["digest"].as_str().map(str::to_owned))
                .collect();
            let before = listed.len();
            for d in referrers {
                if !known.contains(&d.digest) {
                    listed.push(serde_json::to_value(d).expect("descriptor serialises"));
                }
            }
            if listed.len() == before {
                continue;
            }
            let index = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": INDEX,
                "manifests": listed,
            }))
            .expect("index serialises");
            self.client
                .put_manifest(registry, name, &tag, INDEX, &index)
                .await?;
        }
        Ok(())
    }
}
