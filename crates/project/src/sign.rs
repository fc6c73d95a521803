//! Signatures and attestations in a registry, where cosign puts them:
//! the `.sig` and `.att` images beside each signed manifest
//! (`distill_sign::cosign` makes their documents; this puts and reads
//! them through distill's own registry client, which checks every byte
//! it reads).

use distill_image::{Descriptor, ManifestDoc};
use distill_registry::{Client, Reference};
use distill_sign::cosign::{self, Layer};
use distill_sign::{PublicKey, SecretKey};

use crate::error::{Context, Result};
use crate::remote::parse;

/// cosign's identity of a repository: `registry/name`, no tag.
pub(crate) fn identity(repo: &Reference) -> String {
    format!("{}/{}", repo.registry, repo.repository)
}

/// How push signs: with a key, or keyless (an ephemeral key whose
/// certificate Fulcio issued for an OIDC identity, each signature logged
/// in Rekor).
#[derive(Debug, Clone)]
pub(crate) enum Signer {
    Key(SecretKey),
    Keyless(Keyless),
}

/// Where keyless signing gets its identity and certificate.
#[derive(Debug, Clone)]
pub struct KeylessOptions {
    /// Fulcio's base URL (`https://fulcio.sigstore.dev`).
    pub fulcio: String,
    /// Rekor's base URL (`https://rekor.sigstore.dev`).
    pub rekor: String,
    pub token: TokenSource,
}

/// The OIDC token: given (`SIGSTORE_ID_TOKEN`), or asked of GitHub
/// Actions (`ACTIONS_ID_TOKEN_REQUEST_URL` with its bearer token) for the
/// audience `sigstore`.
#[derive(Debug, Clone)]
pub enum TokenSource {
    Token(String),
    GitHubActions { url: String, bearer: String },
}

/// A keyless signer for one push: the ephemeral key and its chain.
#[derive(Debug, Clone)]
pub(crate) struct Keyless {
    key: SecretKey,
    chain: Vec<String>,
    rekor: String,
}

impl Keyless {
    /// A new ephemeral key and Fulcio's certificate for it.
    pub(crate) async fn obtain(client: &Client, opts: &KeylessOptions) -> Result<Keyless> {
        let token = match &opts.token {
            TokenSource::Token(t) => t.clone(),
            TokenSource::GitHubActions { url, bearer } => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let answer = client
                    .get_json(&format!("{url}{sep}audience=sigstore"), bearer)
                    .await?;
                let v: serde_json::Value = parse(&answer)?;
                v["value"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| crate::error::fail!("GitHub's OIDC answer has no token"))?
            }
        };
        let key = SecretKey::generate();
        let subject = distill_sign::keyless::token_subject(&token)?;
        let public = key.public().to_pem();
        let request =
            distill_sign::keyless::fulcio_request(&token, &public, &key.sign(subject.as_bytes()));
        let url = format!("{}/api/v2/signingCert", opts.fulcio.trim_end_matches('/'));
        let answer = client.post_json(&url, &request, None).await?;
        let chain = distill_sign::keyless::fulcio_chain(&answer)?;
        Ok(Keyless {
            key,
            chain,
            rekor: opts.rekor.trim_end_matches('/').to_owned(),
        })
    }

    /// Logs `entry` in Rekor; cosign's bundle annotation of the answer.
    async fn log(&self, client: &Client, entry: &[u8]) -> Result<String> {
        let url = format!("{}/api/v1/log/entries", self.rekor);
        let answer = client.post_json(&url, entry, None).await?;
        Ok(distill_sign::keyless::bundle(&answer)?)
    }

    /// The signature layer of `payload`, logged in Rekor.
    async fn signature(&self, client: &Client, payload: Vec<u8>) -> Result<Layer> {
        use base64::Engine;
        let signature = base64::engine::general_purpose::STANDARD.encode(self.key.sign(&payload));
        let entry = distill_sign::keyless::hashedrekord(&payload, &signature, &self.chain[0]);
        let bundle = self.log(client, &entry).await?;
        Ok(distill_sign::keyless::signature_layer(
            payload,
            signature,
            &self.chain,
            bundle,
        ))
    }

    /// `attestation` (signed by the ephemeral key) logged in Rekor.
    async fn attestation(&self, client: &Client, attestation: Layer) -> Result<Layer> {
        let entry = distill_sign::keyless::dsse_entry(&attestation.bytes, &self.chain[0]);
        let bundle = self.log(client, &entry).await?;
        Ok(distill_sign::keyless::certify(
            attestation,
            &self.chain,
            bundle,
        ))
    }
}

/// Signs `digest` in `repo`; false when such a signature was there
/// already (for keyless: a certificate-bearing signature of the same
/// payload, so a second push neither adds one nor logs again).
pub(crate) async fn sign(
    client: &Client,
    repo: &Reference,
    digest: &str,
    signer: &Signer,
) -> Result<bool> {
    let tag = cosign::signature_tag(digest);
    let existing = existing(client, repo, &tag).await?;
    let layer = match signer {
        Signer::Key(key) => cosign::signature_layer(key, &identity(repo), digest),
        Signer::Keyless(k) => {
            let payload = cosign::payload(&identity(repo), digest);
            let d = Descriptor::of(cosign::SIMPLE_SIGNING, &payload);
            let signed = existing.iter().flat_map(|m| &m.layers).any(|l| {
                l.digest == d.digest
                    && l.annotations
                        .contains_key(distill_sign::keyless::CERTIFICATE)
            });
            if signed {
                return Ok(false);
            }
            k.signature(client, payload).await?
        }
    };
    attach(client, repo, &tag, existing.as_ref(), &layer).await
}

/// Attests `predicate` about `digest` in `repo`; false when that
/// attestation was there already (for keyless: a certificate-bearing
/// attestation of the same statement, so a second push neither adds one
/// nor logs again).
pub(crate) async fn attest(
    client: &Client,
    repo: &Reference,
    digest: &str,
    signer: &Signer,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> Result<bool> {
    let tag = cosign::attestation_tag(digest);
    let existing = existing(client, repo, &tag).await?;
    let statement =
        |key| cosign::attestation_layer(key, &identity(repo), digest, predicate_type, predicate);
    let layer = match signer {
        Signer::Key(key) => statement(key),
        Signer::Keyless(k) => {
            let layer = statement(&k.key);
            let said = cosign::envelope_statement(&layer.bytes);
            for d in existing.iter().flat_map(|m| &m.layers) {
                let a = &d.annotations;
                if a.contains_key(distill_sign::keyless::CERTIFICATE)
                    && a.get(cosign::PREDICATE_TYPE).map(String::as_str) == Some(predicate_type)
                {
                    let bytes = client
                        .get_blob(&repo.registry, &repo.repository, &d.digest, d.size)
                        .await?;
                    if cosign::envelope_statement(&bytes) == said {
                        return Ok(false);
                    }
                }
            }
            k.attestation(client, layer).await?
        }
    };
    attach(client, repo, &tag, existing.as_ref(), &layer).await
}

/// The signature or attestation image under `tag`, if there is one.
async fn existing(client: &Client, repo: &Reference, tag: &str) -> Result<Option<ManifestDoc>> {
    let (registry, name) = (&repo.registry, &repo.repository);
    match client.get_manifest(registry, name, tag, None).await? {
        Some(doc) => Ok(Some(parse(&doc.bytes).context(|| {
            format!("cannot read the signatures under {}", repo.with(tag))
        })?)),
        None => Ok(None),
    }
}

/// Adds `layer` to `existing`, the image under `tag` (made when there is
/// none), keeping what it holds.
async fn attach(
    client: &Client,
    repo: &Reference,
    tag: &str,
    existing: Option<&ManifestDoc>,
    layer: &Layer,
) -> Result<bool> {
    let (registry, name) = (&repo.registry, &repo.repository);
    let Some(attached) = cosign::attach(existing, &layer.descriptor) else {
        return Ok(false);
    };
    let config = Descriptor::of(distill_image::CONFIG, &attached.config);
    for (d, bytes) in [
        (&layer.descriptor, &layer.bytes),
        (&config, &attached.config),
    ] {
        put_small_blob(client, repo, &d.digest, bytes).await?;
    }
    client
        .put_manifest(
            registry,
            name,
            tag,
            distill_image::MANIFEST,
            &attached.manifest,
        )
        .await?;
    Ok(true)
}

/// A blob of a few hundred bytes, through a temporary file (the client
/// uploads files, checking their digest as it reads).
async fn put_small_blob(
    client: &Client,
    repo: &Reference,
    digest: &str,
    bytes: &[u8],
) -> Result<()> {
    let tmp = tempfile::NamedTempFile::new().context(|| "cannot create a temporary file".into())?;
    std::fs::write(tmp.path(), bytes)
        .context(|| format!("cannot write {}", tmp.path().display()))?;
    client
        .put_blob(
            &repo.registry,
            &repo.repository,
            digest,
            tmp.path(),
            bytes.len() as u64,
            None,
        )
        .await?;
    Ok(())
}

/// The layers (descriptor, checked bytes) of the image under `tag`, none
/// when there is no such tag.
async fn attached(
    client: &Client,
    repo: &Reference,
    tag: &str,
) -> Result<Vec<(Descriptor, Vec<u8>)>> {
    let Some(doc) = existing(client, repo, tag).await? else {
        return Ok(Vec::new());
    };
    let (registry, name) = (&repo.registry, &repo.repository);
    let mut out = Vec::new();
    // A bound on work a hostile registry can ask for: cosign images hold
    // one layer per signature or attestation.
    for d in doc.layers.into_iter().take(64) {
        let bytes = client.get_blob(registry, name, &d.digest, d.size).await?;
        out.push((d, bytes));
    }
    Ok(out)
}

/// Why `digest` in `repo` is not signed by `key`, or `None` when it is:
/// a signature by this key over a payload naming this repository and
/// exactly this digest.
pub(crate) async fn signature_problem(
    client: &Client,
    repo: &Reference,
    digest: &str,
    key: &PublicKey,
) -> Result<Option<String>> {
    let layers = attached(client, repo, &cosign::signature_tag(digest)).await?;
    if layers.is_empty() {
        return Ok(Some(format!("{digest} is not signed")));
    }
    let mut seen = Vec::new();
    for (d, bytes) in &layers {
        match cosign::check_signature(key, d, bytes) {
            Some((who, what)) if who == identity(repo) && what == digest => return Ok(None),
            Some((who, what)) => seen.push(format!("{who}@{what}")),
            None => {}
        }
    }
    Ok(Some(if seen.is_empty() {
        format!("{digest} has no signature by this key")
    } else {
        format!(
            "{digest}'s signature by this key is for {}, not {}@{digest}",
            seen.join(", "),
            identity(repo)
        )
    }))
}

/// The statements about `digest` in `repo` signed by `key`:
/// (predicate type, predicate), each naming `digest` as its subject.
pub(crate) async fn attestations(
    client: &Client,
    repo: &Reference,
    digest: &str,
    key: &PublicKey,
) -> Result<Vec<(String, serde_json::Value)>> {
    let layers = attached(client, repo, &cosign::attestation_tag(digest)).await?;
    Ok(layers
        .iter()
        .filter(|(d, _)| d.media_type == cosign::DSSE)
        .filter_map(|(_, bytes)| cosign::check_attestation(key, bytes))
        .filter(|(_, subjects, _)| subjects.iter().any(|s| s == digest))
        .map(|(kind, _, predicate)| (kind, predicate))
        .collect())
}

/// The SLSA provenance predicate type (`cosign … --type slsaprovenance1`).
pub(crate) const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
/// The SPDX predicate type (`cosign … --type spdxjson`).
pub(crate) const SPDX: &str = "https://spdx.dev/Document";
/// What distill's provenance says built the image.
const BUILD_TYPE: &str = "https://github.com/distill-images/distill/build/v1";

/// What a provenance statement is made from: which build, from which
/// inputs (each a name and its sha256).
#[derive(Debug, Clone)]
pub(crate) struct Provenance {
    pub(crate) image: String,
    pub(crate) distro: String,
    /// The tags the subject is pushed under.
    pub(crate) tags: Vec<String>,
    /// (`snapshots/<distro>.lock`, sha256 hex of its bytes).
    pub(crate) lock: (String, String),
    /// sha256 hex of packages.toml.
    pub(crate) config: String,
    /// (purl, sha256 hex): every .deb and artifact in the image.
    pub(crate) dependencies: Vec<(String, String)>,
}

impl Provenance {
    /// The SLSA v1 predicate: the build definition names the image,
    /// distro, tags and packages.toml; the resolved dependencies are the
    /// lock and every package by sha256, so `verify` can tie a served
    /// image to the lock it was built from.
    pub(crate) fn predicate(&self) -> serde_json::Value {
        let mut deps = vec![serde_json::json!({
            "uri": self.lock.0, "digest": {"sha256": self.lock.1},
        })];
        deps.extend(
            self.dependencies
                .iter()
                .map(|(uri, sha)| serde_json::json!({"uri": uri, "digest": {"sha256": sha}})),
        );
        serde_json::json!({
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "image": self.image,
                    "distro": self.distro,
                    "tags": self.tags,
                    "config": {"uri": "packages.toml", "digest": {"sha256": self.config}},
                    "lock": {"uri": self.lock.0, "digest": {"sha256": self.lock.1}},
                },
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {
                    "id": "https://github.com/distill-images/distill",
                    "version": {"distill": env!("CARGO_PKG_VERSION")},
                },
            },
        })
    }
}

/// The lock a provenance predicate names: (uri, sha256 hex).
pub(crate) fn provenance_lock(predicate: &serde_json::Value) -> Option<(String, String)> {
    let lock = &predicate["buildDefinition"]["externalParameters"]["lock"];
    Some((
        lock["uri"].as_str()?.to_owned(),
        lock["digest"]["sha256"].as_str()?.to_owned(),
    ))
}

/// (purl, sha256 hex) of every package an SPDX document lists.
pub(crate) fn spdx_dependencies(spdx: &serde_json::Value) -> Vec<(String, String)> {
    spdx["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let purl = p["externalRefs"]
                .as_array()?
                .iter()
                .find(|r| r["referenceType"] == "purl")?["referenceLocator"]
                .as_str()?;
            let sha = p["checksums"]
                .as_array()?
                .iter()
                .find(|c| c["algorithm"] == "SHA256")?["checksumValue"]
                .as_str()?;
            Some((purl.to_owned(), sha.to_owned()))
        })
        .collect()
}
