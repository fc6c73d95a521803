//! The trust chain's first link: keyrings, OpenPGP verification of
//! `InRelease` / `Release`+`Release.gpg`, and the verified Release model
//! with snapshot-time validity.
//!
//! Nothing here touches the network; callers hand in bytes and get back
//! either verified text or an error that says which keys signed what.

mod keyring;
mod release;
mod verify;

pub use keyring::Keyring;
pub use release::{FileEntry, Release};
pub use verify::{Verified, verify_detached, verify_inrelease};

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read keyring {origin}")]
    KeyringFile {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    /// Certificates sequoia cannot parse; its error is the source.
    #[error("cannot read keyring {origin}")]
    Keyring {
        origin: String,
        #[source]
        source: anyhow::Error,
    },
    #[error("cannot read keyring {origin}: no certificates found")]
    NoCertificates { origin: String },
    #[error("no good signature from a trusted key ({0})")]
    NoGoodSignature(String),
    /// Not a signed message distill can read (what is wrong in words).
    #[error("not an OpenPGP signed message: {0}")]
    Malformed(String),
    /// Not a signed message, as sequoia found; its error is the source.
    #[error("not an OpenPGP signed message")]
    Unreadable(#[source] anyhow::Error),
    #[error("Release file: {0}")]
    Release(String),
    #[error("Release Date {date} is later than the snapshot time {at}")]
    FromTheFuture { date: String, at: String },
    #[error("Release expired: Valid-Until {valid_until} is earlier than {at}")]
    Expired { valid_until: String, at: String },
}
