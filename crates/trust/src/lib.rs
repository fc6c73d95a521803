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
    #[error("cannot read keyring {origin}: {cause}")]
    Keyring { origin: String, cause: String },
    #[error("no good signature from a trusted key ({0})")]
    NoGoodSignature(String),
    #[error("not an OpenPGP signed message: {0}")]
    Malformed(String),
    #[error("Release file: {0}")]
    Release(String),
    #[error("Release Date {date} is later than the snapshot time {at}")]
    FromTheFuture { date: String, at: String },
    #[error("Release expired: Valid-Until {valid_until} is earlier than {at}")]
    Expired { valid_until: String, at: String },
}
