//! Reading what a registry sends without trusting it: every body is read
//! under a limit (exactly a descriptor's size, else a cap), every byte
//! fetched by digest is hashed before anyone sees it, and a document's
//! own media type must agree with the one it was served as.

use std::io::Write;
use std::path::Path;

use reqwest::header;
use sha2::{Digest, Sha256};

use crate::RegistryError;

/// The most bytes of a manifest, index or config read into memory: 4 MiB,
/// the limit of containerd and distribution themselves.
pub const MAX_DOCUMENT: u64 = 4 << 20;
/// The most bytes of a token response (a JWT is a few KiB).
pub(crate) const MAX_TOKEN: u64 = 1 << 20;
/// The most bytes of an error body read for its message.
pub(crate) const MAX_ERROR_BODY: u64 = 64 << 10;

/// How much of a body to read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// Exactly this many bytes (a descriptor's size): fewer or more is a
    /// lie, and reading stops at the first byte too many.
    Exactly(u64),
    /// At most this many; more is refused at the first byte too many.
    AtMost(u64),
}

impl Limit {
    fn max(self) -> u64 {
        match self {
            Limit::Exactly(n) | Limit::AtMost(n) => n,
        }
    }
}

/// What a body is, for errors: a manifest by tag or digest, a blob, the
/// token of a realm.
pub(crate) struct Named<'a> {
    /// `registry/repo:tag`, `registry/repo@sha256:…` or a URL.
    pub what: &'a str,
    /// The digest the bytes must have, when fetched by digest.
    pub digest: Option<&'a str>,
}

/// Where a body goes: memory (documents) or a file (layers).
pub(crate) trait Sink {
    fn take(&mut self, chunk: &[u8]) -> Result<(), RegistryError>;
}

impl Sink for Vec<u8> {
    fn take(&mut self, chunk: &[u8]) -> Result<(), RegistryError> {
        self.extend_from_slice(chunk);
        Ok(())
    }
}

/// A file being written, named for errors.
pub(crate) struct FileSink<'a> {
    pub file: &'a mut std::fs::File,
    pub path: &'a Path,
}

impl Sink for FileSink<'_> {
    fn take(&mut self, chunk: &[u8]) -> Result<(), RegistryError> {
        self.file.write_all(chunk).map_err(|e| RegistryError::Io {
            path: self.path.display().to_string(),
            cause: e.to_string(),
        })
    }
}

/// Reads `resp`'s body into `sink` under `limit`, hashing as it goes;
/// returns the `sha256:` digest of what was read. A `Content-Length`
/// beyond the limit is refused before a byte is read; a body that goes
/// past it is cut at the first byte too many.
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    limit: Limit,
    name: &Named<'_>,
    sink: &mut dyn Sink,
) -> Result<String, RegistryError> {
    let too_much = |got: u64| match (limit, name.digest) {
        (Limit::Exactly(n), Some(d)) => RegistryError::Size {
            digest: d.to_owned(),
            expected: n,
            actual: format!("at least {got}"),
        },
        _ => RegistryError::TooLarge {
            what: name.what.to_owned(),
            limit: limit.max(),
        },
    };
    if let Some(len) = resp.content_length()
        && len > limit.max()
    {
        return Err(too_much(len));
    }
    let url = resp.url().to_string();
    let mut hasher = Sha256::new();
    let mut got = 0u64;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            // reqwest's read timeout says only "operation timed out" deep
            // in its chain: say what it means.
            Err(e) if e.is_timeout() => {
                return Err(RegistryError::Http {
                    url,
                    cause: format!(
                        "the body stopped after {got} bytes: no data within the read timeout"
                    ),
                });
            }
            Err(e) => {
                return Err(RegistryError::Request {
                    url: format!("{url} (the body stopped after {got} bytes)"),
                    source: e.without_url(),
                });
            }
        };
        got += chunk.len() as u64;
        if got > limit.max() {
            return Err(too_much(got));
        }
        hasher.update(&chunk);
        sink.take(&chunk)?;
    }
    if let (Limit::Exactly(n), Some(d)) = (limit, name.digest)
        && got != n
    {
        return Err(RegistryError::Size {
            digest: d.to_owned(),
            expected: n,
            actual: got.to_string(),
        });
    }
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    if let Some(expected) = name.digest
        && actual != expected
    {
        return Err(RegistryError::Digest {
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(actual)
}

/// The media type of a document served as `served` (its Content-Type):
/// the document's own `mediaType` when it has one, which must then agree
/// with a manifest type it was served as; else the Content-Type.
pub(crate) fn media_type(
    what: &str,
    served: Option<&str>,
    bytes: &[u8],
) -> Result<String, RegistryError> {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
    }
    let doc: Doc = serde_json::from_slice(bytes).map_err(|source| RegistryError::Document {
        what: what.to_owned(),
        source,
    })?;
    let served = served.map(|s| s.split(';').next().unwrap_or("").trim().to_owned());
    match (doc.media_type, served) {
        (Some(says), Some(served)) if is_manifest_type(&served) && served != says => {
            Err(RegistryError::MediaType {
                what: what.to_owned(),
                served,
                says,
            })
        }
        (Some(says), _) => Ok(says),
        (None, served) => Ok(served.unwrap_or_default()),
    }
}

/// The manifest and index types distill asks for.
pub(crate) const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Whether `media_type` is an index (OCI's, or Docker's manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == MANIFEST_TYPES[0] || media_type == MANIFEST_TYPES[2]
}

fn is_manifest_type(t: &str) -> bool {
    MANIFEST_TYPES.contains(&t)
}

/// `Docker-Content-Digest` of a response, if it has one.
pub(crate) fn digest_header(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("docker-content-digest")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
}

pub(crate) fn content_type(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_says_what_it_is_and_must_agree_with_its_content_type() {
        let index = br#"{"mediaType":"application/vnd.oci.image.index.v1+json"}"#;
        assert_eq!(
            media_type("x", Some(MANIFEST_TYPES[0]), index).unwrap(),
            MANIFEST_TYPES[0]
        );
        // Served as a manifest, says it is an index: refused.
        let e = media_type("x", Some(MANIFEST_TYPES[1]), index).unwrap_err();
        assert!(e.to_string().contains("served as"), "{e}");
        // A generic type defers to the document; no mediaType, to the header.
        assert_eq!(
            media_type("x", Some("application/json"), index).unwrap(),
            MANIFEST_TYPES[0]
        );
        assert_eq!(
            media_type("x", Some(MANIFEST_TYPES[1]), b"{}").unwrap(),
            MANIFEST_TYPES[1]
        );
        // Not JSON, or nested past serde_json's depth limit: an error, not a crash.
        let deep = "[".repeat(1 << 20);
        for bad in [&b"\xff"[..], deep.as_bytes()] {
            let e = media_type("x", None, bad).unwrap_err();
            assert!(matches!(e, RegistryError::Document { .. }), "{e}");
            assert!(e.to_string().contains("not a readable document"), "{e}");
            assert!(std::error::Error::source(&e).is_some());
        }
    }
}
