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
mod reference;

pub use client::{CHUNK, Client, Placed};
pub use reference::Reference;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("invalid image reference {0}")]
    Reference(String),
    #[error("cannot read docker config {0}")]
    Config(String),
    #[error("{url}: {cause}")]
    Http { url: String, cause: String },
    #[error("{what}: {status} {reason}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Status {
        what: String,
        status: u16,
        reason: String,
        detail: String,
    },
    #[error("{what}: digest mismatch (expected {expected}, got {actual})")]
    Digest {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: String },
}
