//! `snapshots/<distro>.lock`, the exact pins a build is made from.
//!
//! - [`Lock`]: the model (archives' snapshot pins, the suites served, every
//!   package with its pool path, size and SHA-256, each image's package
//!   set per architecture, every upstream artifact with its URL, size and
//!   SHA-256) and its canonical TOML: sorted, versioned,
//!   byte-identical for the same content.
//! - [`Lock::discrepancies`]: what a lock claims that a fresh resolution
//!   at its own pins does not reproduce (`lock --check`).
//! - [`LockDiff`]: what changed between two locks of a distro, and which
//!   images that touches; the bot's summary and `build --changed-since`
//!   read it.
//!
//! Pure: reading and writing lock files is the project's job.

mod check;
mod diff;
mod model;

pub use diff::{BUILD_PACKAGES, LockDiff, PackageChange};
pub use model::{
    LOCK_VERSION, Lock, LockError, LockedArtifact, LockedPackage, LockedSuite, OLDEST_LOCK_VERSION,
};
