//! What cosign stores beside an image, byte for byte as it writes it:
//!
//! - a signature: the simple-signing payload naming the repository and
//!   the manifest digest, as a layer (`application/vnd.dev.cosign.
//!   simplesigning.v1+json`) of the image tagged `sha256-<hex>.sig`, the
//!   base64 DER signature in the layer's `dev.cosignproject.cosign/
//!   signature` annotation;
//! - an attestation: an in-toto statement about the digest in a DSSE
//!   envelope, as a layer (`application/vnd.dsse.envelope.v1+json`,
//!   annotated with its `predicateType`) of the image `sha256-<hex>.att`.
//!
//! Each of those images has a config listing its layers, as
//! go-containerregistry's empty image with layers appended has; more
//! signatures of one digest (other keys) are more layers of one image.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use distill_image::{Descriptor, ManifestDoc};
use serde::{Deserialize, Serialize};

use crate::SignError;
use crate::key::{PublicKey, SecretKey};

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
pub const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
pub const PREDICATE_TYPE: &str = "predicateType";
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The Go zero time, which go-containerregistry writes for an image
/// nobody dated.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `sha256-<hex>.sig`: where cosign looks for `digest`'s signatures.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// `sha256-<hex>.att`: where cosign looks for `digest`'s attestations.
pub fn attestation_tag(digest: &str) -> String {
    format!("{}.att", digest.replacen(':', "-", 1))
}

#[derive(Serialize, Deserialize)]
struct Payload {
    critical: Critical,
    optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The simple-signing payload cosign signs for `digest` in `repository`
/// (`registry/name`, no tag: cosign's identity is tagless).
pub fn payload(repository: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: repository.to_owned(),
            },
            image: Image {
                docker_manifest_digest: digest.to_owned(),
            },
            kind: SIGNATURE_TYPE.to_owned(),
        },
        optional: None,
    })
    .expect("serialises")
}

/// What a simple-signing payload claims: (repository, digest).
pub fn payload_claims(bytes: &[u8]) -> Result<(String, String), SignError> {
    let p: Payload = serde_json::from_slice(bytes)
        .map_err(|e| SignError::Document(format!("not a simple-signing payload: {e}")))?;
    if p.critical.kind != SIGNATURE_TYPE {
        return Err(SignError::Document(format!(
            "a payload of type {:?}, not a cosign signature",
            p.critical.kind
        )));
    }
    Ok((
        p.critical.identity.docker_reference,
        p.critical.image.docker_manifest_digest,
    ))
}

/// One layer of a signature or attestation image, with its bytes.
#[derive(Debug, Clone)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

/// A signature of `digest` in `repository` by `key`: the payload as a
/// layer, its signature in the annotation.
pub fn signature_layer(key: &SecretKey, repository: &str, digest: &str) -> Layer {
    let bytes = payload(repository, digest);
    let mut descriptor = Descriptor::of(SIMPLE_SIGNING, &bytes);
    descriptor
        .annotations
        .insert(SIGNATURE.into(), B64.encode(key.sign(&bytes)));
    Layer { descriptor, bytes }
}

/// Whether `layer` (its descriptor and the blob it names, checked by the
/// caller against the digest) is a signature by `key`; the payload's
/// claims when it is.
pub fn check_signature(
    key: &PublicKey,
    descriptor: &Descriptor,
    bytes: &[u8],
) -> Option<(String, String)> {
    if descriptor.media_type != SIMPLE_SIGNING {
        return None;
    }
    let sig = B64.decode(descriptor.annotations.get(SIGNATURE)?).ok()?;
    if !key.verify(bytes, &sig) {
        return None;
    }
    payload_claims(bytes).ok()
}

#[derive(Serialize)]
struct Statement<'a> {
    #[serde(rename = "_type")]
    kind: &'a str,
    #[serde(rename = "predicateType")]
    predicate_type: &'a str,
    subject: [Subject<'a>; 1],
    predicate: &'a serde_json::Value,
}

#[derive(Serialize)]
struct Subject<'a> {
    name: &'a str,
    digest: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Serialize, Deserialize)]
struct EnvelopeSignature {
    keyid: String,
    sig: String,
}

/// DSSE's pre-authentication encoding: what is signed for `body`.
fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// An attestation of `digest` in `repository`: the in-toto statement of
/// `predicate` in a DSSE envelope signed by `key`, as the layer cosign
/// writes (annotated with the predicate type, and the empty signature
/// annotation cosign adds).
pub fn attestation_layer(
    key: &SecretKey,
    repository: &str,
    digest: &str,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> Layer {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let statement = serde_json::to_vec(&Statement {
        kind: STATEMENT_V01,
        predicate_type,
        subject: [Subject {
            name: repository,
            digest: BTreeMap::from([("sha256", hex)]),
        }],
        predicate,
    })
    .expect("serialises");
    let envelope = Envelope {
        payload_type: IN_TOTO.into(),
        payload: B64.encode(&statement),
        signatures: vec![EnvelopeSignature {
            keyid: String::new(),
            sig: B64.encode(key.sign(&pae(IN_TOTO, &statement))),
        }],
    };
    let bytes = serde_json::to_vec(&envelope).expect("serialises");
    let mut descriptor = Descriptor::of(DSSE, &bytes);
    descriptor
        .annotations
        .insert(SIGNATURE.into(), String::new());
    descriptor
        .annotations
        .insert(PREDICATE_TYPE.into(), predicate_type.into());
    Layer { descriptor, bytes }
}

/// The statement inside a DSSE envelope, unchecked: what makes two
/// attestations by different keys say the same thing.
pub fn envelope_statement(bytes: &[u8]) -> Option<Vec<u8>> {
    let envelope: Envelope = serde_json::from_slice(bytes).ok()?;
    B64.decode(&envelope.payload).ok()
}

/// An attestation's statement, when `bytes` is a DSSE envelope signed by
/// `key`: (predicate type, subject digests `sha256:<hex>`, predicate).
pub fn check_attestation(
    key: &PublicKey,
    bytes: &[u8],
) -> Option<(String, Vec<String>, serde_json::Value)> {
    let envelope: Envelope = serde_json::from_slice(bytes).ok()?;
    if envelope.payload_type != IN_TOTO {
        return None;
    }
    let statement = B64.decode(&envelope.payload).ok()?;
    let signed = pae(&envelope.payload_type, &statement);
    let ok = envelope.signatures.iter().any(|s| {
        B64.decode(&s.sig)
            .is_ok_and(|sig| key.verify(&signed, &sig))
    });
    if !ok {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&statement).ok()?;
    let subjects = v["subject"]
        .as_array()?
        .iter()
        .filter_map(|s| s["digest"]["sha256"].as_str())
        .map(|h| format!("sha256:{h}"))
        .collect();
    Some((
        v["predicateType"].as_str()?.to_owned(),
        subjects,
        v["predicate"].clone(),
    ))
}

#[derive(Serialize)]
struct SigConfig<'a> {
    architecture: &'a str,
    created: &'a str,
    history: Vec<SigHistory<'a>>,
    os: &'a str,
    rootfs: SigRootFs<'a>,
    config: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct SigHistory<'a> {
    created: &'a str,
}

#[derive(Serialize)]
struct SigRootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: Vec<&'a str>,
}

/// A signature or attestation image: its manifest and config, ready to
/// put (the layers' blobs are the caller's).
#[derive(Debug, Clone)]
pub struct Attached {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
}

/// The image under a `.sig` or `.att` tag with `layer` added: `existing`
/// (what the registry holds there, if anything) keeps its layers, in
/// order. `None` when `existing` already has exactly this layer: the
/// same signature twice is one.
pub fn attach(existing: Option<&ManifestDoc>, layer: &Descriptor) -> Option<Attached> {
    let mut layers: Vec<Descriptor> = existing.map(|m| m.layers.clone()).unwrap_or_default();
    if layers
        .iter()
        .any(|l| l.digest == layer.digest && l.annotations == layer.annotations)
    {
        return None;
    }
    layers.push(layer.clone());
    let config = serde_json::to_vec(&SigConfig {
        architecture: "",
        created: ZERO_TIME,
        history: layers
            .iter()
            .map(|_| SigHistory { created: ZERO_TIME })
            .collect(),
        os: "",
        rootfs: SigRootFs {
            kind: "layers",
            diff_ids: layers.iter().map(|l| l.digest.as_str()).collect(),
        },
        config: BTreeMap::new(),
    })
    .expect("serialises");
    let manifest = distill_image::manifest(
        &Descriptor::of(OCI_CONFIG, &config),
        &layers,
        &BTreeMap::new(),
    );
    Some(Attached { manifest, config })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:27a1b6c33110e86c68385db8cbb861f29d7be1039c5788be4a984bbacfe82328";

    #[test]
    fn the_payload_is_cosigns_to_the_byte() {
        // As cosign 2.5 wrote it for this digest in this repository.
        assert_eq!(
            String::from_utf8(payload("127.0.0.1:5055/t/static", DIGEST)).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"127.0.0.1:5055/t/static"},"image":{"docker-manifest-digest":"sha256:27a1b6c33110e86c68385db8cbb861f29d7be1039c5788be4a984bbacfe82328"},"type":"cosign container image signature"},"optional":null}"#
        );
    }

    #[test]
    fn a_signature_verifies_once_and_attaches_once() {
        let key = SecretKey::generate();
        let layer = signature_layer(&key, "r/x", DIGEST);
        let claims = check_signature(&key.public(), &layer.descriptor, &layer.bytes);
        assert_eq!(claims, Some(("r/x".to_owned(), DIGEST.to_owned())));
        assert!(
            check_signature(
                &SecretKey::generate().public(),
                &layer.descriptor,
                &layer.bytes
            )
            .is_none()
        );
        let mut edited = layer.bytes.clone();
        edited[20] ^= 1;
        assert!(check_signature(&key.public(), &layer.descriptor, &edited).is_none());

        let first = attach(None, &layer.descriptor).unwrap();
        let doc: ManifestDoc = serde_json::from_slice(&first.manifest).unwrap();
        assert!(
            attach(Some(&doc), &layer.descriptor).is_none(),
            "no duplicate"
        );
        let other = signature_layer(&SecretKey::generate(), "r/x", DIGEST);
        let both = attach(Some(&doc), &other.descriptor).unwrap();
        let doc: ManifestDoc = serde_json::from_slice(&both.manifest).unwrap();
        assert_eq!(doc.layers.len(), 2);
        let config: serde_json::Value = serde_json::from_slice(&both.config).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn an_attestation_verifies_with_its_statement() {
        let key = SecretKey::generate();
        let predicate = serde_json::json!({"spdxVersion": "SPDX-2.3"});
        let layer = attestation_layer(&key, "r/x", DIGEST, "https://spdx.dev/Document", &predicate);
        assert_eq!(
            layer.descriptor.annotations[PREDICATE_TYPE],
            "https://spdx.dev/Document"
        );
        let (kind, subjects, p) = check_attestation(&key.public(), &layer.bytes).unwrap();
        assert_eq!(
            (kind.as_str(), subjects, p),
            (
                "https://spdx.dev/Document",
                vec![DIGEST.to_owned()],
                predicate
            )
        );
        assert!(check_attestation(&SecretKey::generate().public(), &layer.bytes).is_none());
    }
}
