//! Talking to container registries (the OCI distribution API): what
//! `distill push` needs, on the same reqwest and rustls as the rest of
//! distill.
//!
//! - [`Reference`]: `registry/repository[:tag|@digest]`, Docker Hub's
//!   defaults included;
//! - [`Client`]: blobs (present, mounted or uploaded, in chunks when
//!   large), manifests and the referrers API, with retries, plain http for
//!   loopback registries only (or when asked), and auth;
//! - [`auth`]: credentials from a docker config (`auths`, `credHelpers`,
//!   `credsStore`) and the Basic / Bearer challenge flow.

pub mod auth;
mod client;
mod read;
mod reference;
mod sigstore;

pub use client::{CHUNK, Client, Document, Placed};
pub use read::{MAX_DOCUMENT, is_index};
pub use reference::Reference;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid image reference {0}")]
    Reference(String),
    #[error("cannot read docker config {0}")]
    Config(String),
    /// A request that failed in the HTTP stack (connection, TLS,
    /// redirects, a body that stopped), its error kept as the source.
    #[error("{url}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A response distill cannot use, or a limit it hit.
    #[error("{url}: {cause}")]
    Http { url: String, cause: String },
    #[error("{what}: {status} {reason}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Status {
        what: String,
        status: u16,
        reason: String,
        detail: String,
    },
    /// Bytes fetched by digest that have another.
    #[error("the registry served {actual} for {expected}")]
    Digest { expected: String, actual: String },
    /// Fetched by tag: the body is not what its `Docker-Content-Digest`
    /// header names.
    #[error("the registry served {actual} for {what}, whose Docker-Content-Digest says {header}")]
    DigestHeader {
        what: String,
        header: String,
        actual: String,
    },
    /// After a PUT: the registry names other bytes than the ones sent.
    #[error("{url}: the registry stored {actual} for the {expected} sent")]
    Stored {
        url: String,
        expected: String,
        actual: String,
    },
    /// Not the size the descriptor gives.
    #[error("the registry served {actual} bytes for {digest}, whose descriptor says {expected}")]
    Size {
        digest: String,
        expected: u64,
        actual: String,
    },
    /// More than distill reads of such a document.
    #[error("the registry sent more than {} for {what}, the most distill reads", mib(*limit))]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: served as {served}, but the document says it is {says}")]
    MediaType {
        what: String,
        served: String,
        says: String,
    },
    #[error("{what}: not a readable document")]
    Document {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A digest in a registry document that is not `sha256:` + 64 hex.
    #[error("the registry named a malformed digest {0:?}")]
    BadDigest(String),
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: String },
}

/// `4 MiB`, `64 KiB`: a limit in words.
fn mib(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}
