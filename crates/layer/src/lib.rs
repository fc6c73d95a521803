//! Debian packages into deterministic OCI layers.
//!
//! - [`layer_from_deb`] (`deb.rs`) streams a `.deb` (ar: `debian-binary`, `control.tar.*`,
//!   `data.tar.*`) into a layer: the package's own entries in the package's
//!   own order (a fixed function of its pinned bytes), paths normalised and,
//!   for merged-/usr distros, moved under `usr/`, then its dpkg metadata
//!   (`var/lib/dpkg/status.d/<name>` and `<name>.md5sums`).
//! - [`LayerWriter`] (`writer.rs`) is the one place tar bytes are produced: fixed headers,
//!   mtimes clamped to the build epoch, gzip without name or time; it
//!   hashes the tar (diff_id) and the compressed blob (digest) as it writes.
//! - [`layer_from_tarball`] (`tarball.rs`) does the same for an upstream release tarball (Node's
//!   builds): a leading directory stripped, only the kept paths, owners
//!   0:0, under a destination directory.
//! - [`Tree`] (`tree.rs`) checks what layers do together: nothing under a symlinked
//!   directory, no two packages shipping one path differently.

mod deb;
mod dir;
mod generated;
mod jks;
mod ldcache;
mod path;
mod pgzip;
mod reader;
mod tarball;
mod tree;
mod writer;

pub use deb::{
    DebLayer, DebOptions, FileData, PackageMeta, STATUS_DIR, extract_files, layer_from_deb,
    status_files,
};
pub use dir::layer_from_dir;
pub use generated::{Generated, Node, busybox_applets, ca_bundle};
pub use jks::{TrustedCert, certs_from_pem_files, jks};
pub use ldcache::{arch_info, elf_soname, ld_so_cache};
pub use path::{PathError, normalize};
pub use reader::{overlay, read_layer};
pub use tarball::{TarballOptions, layer_from_tarball};
pub use tree::{Tree, TreeError};
pub use writer::{Compression, Entry, EntryInfo, Kind, Layer, LayerWriter, Owner};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("cannot read {package}: {cause}")]
    Deb { package: String, cause: String },
    #[error("cannot use {package}: {path}: {cause}")]
    Entry {
        package: String,
        path: String,
        cause: String,
    },
    #[error("cannot write layer {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file or directory a layer is made from.
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
