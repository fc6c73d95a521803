//! Debian's formats, as pure code with no I/O: deb822 control stanzas,
//! version ordering exactly as dpkg does it, relation fields and
//! architecture wildcards, and the identities a lock records (SHA-256,
//! snapshot times, where a suite was served from).
//!
//! Parsing borrows from the caller's buffer: a decompressed `Packages` file
//! is tens of megabytes, and a `String` per field would dominate load time.

pub mod arch;
pub mod changelog;
pub mod control;
pub mod relation;
mod source;
pub mod time;
pub mod version;

pub use arch::{
    IMAGE_ARCHS, arch_matches, host_arch, is_arch_name, is_image_arch, is_package_name,
};
pub use changelog::{ChangelogEntry, entries_since, parse_changelog, urgency_rank};
pub use control::{ControlError, Paragraph, StanzaSource, Summary, paragraphs};
pub use relation::{Dependency, Op, Provided, Relation, RelationError, parse_relations, provided};
pub use source::{IdentityError, Served, Sha256};
pub use time::{SnapshotTime, TimeError};
pub use version::{Version, VersionError, compare_versions};
