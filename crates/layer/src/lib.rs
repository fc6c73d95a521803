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
    DebLayer, DebOptions, DocFiles, FileData, PackageMeta, STATUS_DIR, doc_files, extract_files,
    installed_size, layer_from_deb, status_files,
};
pub use dir::layer_from_dir;
pub use generated::{Generated, Node, busybox_applets, ca_bundle};
pub use jks::{TrustedCert, certs_from_pem_files, jks};
pub use ldcache::{arch_info, elf_soname, ld_so_cache};
pub use path::{PathError, normalize, usrmerge};
pub use reader::{overlay, read_layer, verify_layer};
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
    /// Reading a package or tarball failed in I/O (ar, tar,
    /// decompression): `what` names the part, the error is the source.
    #[error("cannot read {package}: {what}")]
    Io {
        package: String,
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A path in a package or tarball that cannot be placed.
    #[error("cannot use {package}: {path}")]
    Path {
        package: String,
        path: String,
        #[source]
        source: PathError,
    },
    /// A file or directory a layer is made from.
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// `LayerError::Io` for `what` of `package`, as a `map_err` argument.
pub(crate) fn io_err(
    package: &str,
    what: &str,
) -> impl FnOnce(std::io::Error) -> LayerError + use<> {
    let (package, what) = (package.to_owned(), what.to_owned());
    move |source| LayerError::Io {
        package,
        what,
        source,
    }
}

/// `LayerError::Path` for `path` of `package`, as a `map_err` argument.
pub(crate) fn path_err(package: &str, path: &str) -> impl FnOnce(PathError) -> LayerError + use<> {
    let (package, path) = (package.to_owned(), path.to_owned());
    move |source| LayerError::Path {
        package,
        path,
        source,
    }
}
