//! The OCI documents distill writes (image-spec v1.1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ImageError;

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The annotation naming a tag in an image layout's index.json.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Fields distill does not know (`os.version`, `os.features`), kept
    /// so a platform read and written again says what it said.
    #[serde(flatten)]
    pub extra: Unknown,
}

/// Debian's architecture names → OCI's (GOARCH) with the variants
/// distroless publishes.
pub fn platform_of(debian_arch: &str) -> Result<Platform, ImageError> {
    let (architecture, variant) = match debian_arch {
        "amd64" => ("amd64", None),
        "arm64" => ("arm64", Some("v8")),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v5")),
        "i386" => ("386", None),
        "ppc64el" => ("ppc64le", None),
        "s390x" => ("s390x", None),
        "riscv64" => ("riscv64", None),
        "loong64" => ("loong64", None),
        "mips64el" => ("mips64le", None),
        other => return Err(ImageError::Arch(other.to_owned())),
    };
    Ok(Platform {
        architecture: architecture.to_owned(),
        os: "linux".to_owned(),
        variant: variant.map(str::to_owned),
        extra: BTreeMap::new(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Always `sha256:` and 64 lower-case hex digits: a document naming
    /// anything else does not parse, so no digest read from a layout or a
    /// registry can reach a URL or a file name unchecked.
    #[serde(deserialize_with = "sha256_digest")]
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
    /// Fields distill does not know (`urls` of a foreign layer, `data`,
    /// a newer spec's), kept so a descriptor read and written again (a
    /// base image's, by `append`) says everything it said.
    #[serde(flatten)]
    pub extra: Unknown,
}

/// Whether `s` is a digest distill can check: `sha256:` and 64 lower-case
/// hex digits. Anything else read from a document is refused before it
/// reaches a URL or a file name.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

fn sha256_digest<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if !is_digest(&s) {
        return Err(serde::de::Error::custom(format!(
            "{s:?} is not a sha256 digest"
        )));
    }
    Ok(s)
}

impl Descriptor {
    /// The descriptor of `bytes` as a blob of `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        Descriptor::blob(media_type, &digest, bytes.len() as u64)
    }

    /// The descriptor of a blob whose digest and size are known (a layer).
    pub fn blob(media_type: &str, digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: digest.to_owned(),
            size,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }
}

/// `null` read as the field's default: Docker writes `"Cmd": null`,
/// `"Labels": null` for fields it has no value for, and runtimes read
/// them as absent.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The fields of a config document distill does not know (`ExposedPorts`,
/// `os.version`, `empty_layer`, a newer spec's), kept so that a base image
/// `append` edits says everything it said. distill's own configs have
/// none, so their bytes (and digests) are those of the known fields alone.
pub type Unknown = BTreeMap<String, serde_json::Value>;

/// The runtime part of an image config (Docker's capitalised names, as the
/// spec keeps them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(
        rename = "User",
        skip_serializing_if = "String::is_empty",
        default,
        deserialize_with = "nullable"
    )]
    pub user: String,
    #[serde(
        rename = "Env",
        skip_serializing_if = "Vec::is_empty",
        default,
        deserialize_with = "nullable"
    )]
    pub env: Vec<String>,
    #[serde(
        rename = "Entrypoint",
        skip_serializing_if = "Vec::is_empty",
        default,
        deserialize_with = "nullable"
    )]
    pub entrypoint: Vec<String>,
    #[serde(
        rename = "Cmd",
        skip_serializing_if = "Vec::is_empty",
        default,
        deserialize_with = "nullable"
    )]
    pub cmd: Vec<String>,
    #[serde(
        rename = "WorkingDir",
        skip_serializing_if = "String::is_empty",
        default,
        deserialize_with = "nullable"
    )]
    pub working_dir: String,
    #[serde(
        rename = "Labels",
        skip_serializing_if = "BTreeMap::is_empty",
        default,
        deserialize_with = "nullable"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub diff_ids: Vec<String>,
}

/// One history entry. `created` and `created_by` are optional in the
/// spec (BuildKit leaves `created_by` out of some), so they default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub comment: Option<String>,
    #[serde(flatten)]
    pub extra: Unknown,
}

/// The image config document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDoc {
    /// Optional in the spec: a base built without it has none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created: String,
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub config: ImageConfig,
    pub rootfs: RootFs,
    #[serde(default, deserialize_with = "nullable")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Unknown,
}

impl ConfigDoc {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("config serialises")
    }

    pub fn descriptor(&self) -> (Descriptor, Vec<u8>) {
        let bytes = self.to_bytes();
        (Descriptor::of(CONFIG, &bytes), bytes)
    }
}

#[derive(Serialize)]
struct ManifestDoc<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// An image manifest's bytes.
pub fn manifest(
    config: &Descriptor,
    layers: &[Descriptor],
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    serde_json::to_vec(&ManifestDoc {
        schema_version: 2,
        media_type: MANIFEST,
        config,
        layers,
        annotations,
    })
    .expect("manifest serialises")
}

#[derive(Serialize)]
struct IndexDoc<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    manifests: &'a [Descriptor],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// An image index's bytes.
pub fn index(manifests: &[Descriptor], annotations: &BTreeMap<String, String>) -> Vec<u8> {
    serde_json::to_vec(&IndexDoc {
        schema_version: 2,
        media_type: INDEX,
        manifests,
        annotations,
    })
    .expect("index serialises")
}

/// A document's JSON with its keys sorted at every level (as
/// `serde_json::Value` writes them), so the bytes depend on its content,
/// not on field order: the form `append` writes the documents it edits in.
pub fn sorted_json(doc: &impl Serialize) -> Vec<u8> {
    let value = serde_json::to_value(doc).expect("a document serialises");
    serde_json::to_vec(&value).expect("a document serialises")
}

/// RFC 3339 UTC for a Unix time, as image configs and history carry it.
pub fn rfc3339(epoch: u64) -> String {
    distill_debian::time::format_rfc3339(epoch as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_lower_hex() {
        let good = format!("sha256:{}", "0a".repeat(32));
        assert!(is_digest(&good));
        for bad in [
            "sha256:".to_owned(),
            format!("sha256:{}", "0A".repeat(32)),
            format!("sha512:{}", "0a".repeat(64)),
            format!("sha256:{}/..", "0a".repeat(31)),
            format!("sha256:{}0", "0a".repeat(32)),
        ] {
            assert!(!is_digest(&bad), "{bad}");
        }
    }

    #[test]
    fn platforms_and_times() {
        assert_eq!(platform_of("armhf").unwrap().variant.as_deref(), Some("v7"));
        assert_eq!(platform_of("ppc64el").unwrap().architecture, "ppc64le");
        assert!(platform_of("hurd-i386").is_err());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_763_856_000), "2025-11-23T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3_723), "2000-02-29T01:02:03Z");
    }

    #[test]
    fn documents_are_compact_and_ordered() {
        let d = Descriptor::of(CONFIG, b"{}");
        let m = manifest(&d, &[], &BTreeMap::new());
        let s = String::from_utf8(m).unwrap();
        assert!(s.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#), "{s}");
    }
}
