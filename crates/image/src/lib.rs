//! OCI image layouts, written deterministically: every JSON document is
//! serialised from structs (fixed field order) and `BTreeMap`s, compactly,
//! so the same inputs give the same digests on any machine.
//!
//! - [`oci`]: the documents (descriptor, platform, image config, manifest,
//!   index) and how Debian architectures map to OCI platforms;
//! - [`layout`]: an image layout directory (oci-layout, blobs, index.json)
//!   built in a temporary directory and renamed into place when complete.

pub mod docker;
pub mod layout;
pub mod oci;
pub mod sbom;
pub mod spec;

pub use docker::docker_archive;
pub use layout::{Layout, blob_path};
pub use oci::{
    CONFIG, ConfigDoc, Descriptor, History, INDEX, ImageConfig, MANIFEST, Platform, REF_NAME,
    RootFs, index, manifest, platform_of, rfc3339,
};
pub use sbom::{SPDX_MEDIA_TYPE, SbomPackage, purl, spdx};
pub use spec::{BuildSpec, DirSpec, FileSpec, TagSpec};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot write {path}: {cause}")]
    Write { path: String, cause: String },
    #[error("cannot map architecture {0} to an OCI platform")]
    Arch(String),
}
