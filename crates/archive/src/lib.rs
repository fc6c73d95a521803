//! From a distro's configuration to verified, parsed package indices:
//! InRelease (signature, suite, snapshot-time validity) → Packages(.xz)
//! (size and SHA-256 from the verified Release) → stanzas, kept in the
//! cache as the text and its table (see `index`).
//!
//! [`load`] brings a whole distro (every suite, component and
//! architecture) in concurrently; [`newest_capture`] finds the captures
//! `distill update` moves pins to.
//!
//! Sources, in order: snapshot.debian.org at the pinned timestamp, then the
//! configured mirrors. Every byte is hash-checked, so a mirror is as good
//! as the snapshot for any file the verified Release pins.

mod config;
mod discover;
mod distro;
mod index;
mod loader;

pub use config::{ArchiveSpec, DistroSpec};
pub use discover::{DiscoverError, Target, captures_from_html, captures_from_json, newest_capture};
pub use distro::{Index, Loaded, MirrorFallback, Pins, load};
pub use index::{PackageIndex, table_intact};
pub use loader::{Loader, SuiteRelease, table_name};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Fetch(#[from] distill_fetch::FetchError),
    #[error(transparent)]
    Store(#[from] distill_store::StoreError),
    #[error("cannot verify {url}")]
    Verify {
        url: String,
        #[source]
        source: distill_trust::TrustError,
    },
    #[error("cannot use {url}: {reason}")]
    Release { url: String, reason: String },
    #[error("cannot find {path} in the Release of {suite}: the archive does not publish it")]
    MissingIndex { suite: String, path: String },
    /// A live mirror serves index bytes that its own verified Release
    /// does not describe: it is half-way through a sync.
    #[error(
        "{0} (the mirror's Release and index disagree, a mirror sync is probably in progress: try again later)"
    )]
    MirrorSync(distill_fetch::FetchError),
    #[error("cannot decompress {url}")]
    Decompress {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse {url}")]
    Parse {
        url: String,
        #[source]
        source: distill_debian::ControlError,
    },
}
