//! Signatures as cosign writes and reads them, so that cosign, sigstore's
//! policy-controller and Kyverno verify what distill signs, and distill
//! verifies what they sign:
//!
//! - [`key`]: cosign's key files: `ENCRYPTED SIGSTORE PRIVATE KEY`
//!   (scrypt and NaCl secretbox around a PKCS#8 ECDSA P-256 key), plain
//!   PKCS#8 and SEC1 PEM, and the PKIX public key; generated here in the
//!   same format;
//! - [`cosign`]: the simple-signing payload, the DSSE envelope of an
//!   in-toto statement, and the `sha256-<hex>.sig` / `.att` images that
//!   carry them, merged with what a registry already holds.
//!
//! ECDSA signatures are deterministic here (RFC 6979), so signing the
//! same manifest with the same key twice gives the same bytes: a second
//! push finds its signature already there and adds nothing. No network:
//! the registry traffic is the project's, through distill's own client.

pub mod cosign;
pub mod key;
pub mod keyless;

pub use key::{PublicKey, SecretKey};

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    Key(String),
    #[error("the key's password is wrong (or the file is damaged)")]
    WrongPassword,
    #[error("the key is encrypted: set COSIGN_PASSWORD to its password, as cosign reads it")]
    NoPassword,
    #[error("{0}")]
    Document(String),
}
