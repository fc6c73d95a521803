//! OCI image layouts, written deterministically: every JSON document is
//! serialised from structs (fixed field order) and `BTreeMap`s, compactly,
//! so the same inputs give the same digests on any machine.
//!
//! - [`oci`]: the documents (descriptor, platform, image config, manifest,
//!   index) and how Debian architectures map to OCI platforms;
//! - [`Layout`]: an image layout directory (oci-layout, blobs, index.json)
//!   built in a temporary directory and renamed into place when complete;
//! - [`LayoutReader`]: the same read back, typed, every document checked
//!   against its digest;
//! - [`spdx`]: the SBOM of an image manifest;
//! - [`docker_archive`]: a `docker load` tar made from a layout.

mod docker;
mod layout;
mod oci;
mod reader;
mod sbom;

pub use docker::docker_archive;
pub use layout::{Layout, blob_name, blob_path};
pub use oci::{
    CONFIG, ConfigDoc, Descriptor, History, INDEX, ImageConfig, MANIFEST, Platform, REF_NAME,
    RootFs, Unknown, index, is_digest, manifest, platform_of, rfc3339, sorted_json,
};
pub use reader::{IndexDoc, LayoutReader, ManifestDoc};
pub use sbom::{SPDX_MEDIA_TYPE, SbomPackage, purl, spdx};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("cannot map architecture {0} to an OCI platform")]
    Arch(String),
    #[error(
        "cannot write {path}: it is {what}, not output distill wrote; move it away or choose another --out"
    )]
    NotOurs { path: String, what: &'static str },
}

impl ImageError {
    /// A file or directory that was there a moment ago is gone: another
    /// process replaced what was being read.
    pub fn vanished(&self) -> bool {
        match self {
            ImageError::Read { source, .. } | ImageError::Write { source, .. } => {
                source.kind() == std::io::ErrorKind::NotFound
            }
            _ => false,
        }
    }
}
