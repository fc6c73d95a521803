//! What distill keeps on disk, apart from how it got there: the
//! content-addressed [`Cache`] that only ever holds bytes whose SHA-256
//! was checked, the one atomic file replacement every crate uses
//! ([`AtomicFile`], [`write_atomic`]), and the [`Observer`] through which
//! all progress and notes reach the user. No HTTP stack: `distill-image`
//! and `distill-layer` write through this crate without pulling one in
//! (`distill-fetch` adds the network on top).

mod atomic;
mod bounded;
mod cache;
mod observe;

pub use atomic::{AtomicFile, dead_temps, is_dead_temp, temp_prefix, write_atomic};
pub use bounded::{human, open_regular, read_bounded, read_bounded_text};
pub use cache::{Cache, Validators, sha256_file};
pub use observe::{Observer, Silent, Transfer};

/// A cache file or directory that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use cache {path}")]
pub struct StoreError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

impl StoreError {
    /// `path` could not be used because of `source`.
    pub fn new(path: &std::path::Path, source: std::io::Error) -> StoreError {
        StoreError {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The messages of an error and all its sources, outermost first; a
/// message that the one before already ends with is not repeated. Every
/// distill error keeps its causes as sources: this is how they are shown
/// (joined by `: ` on one line, or one per line with `-v`).
pub fn causes(e: &dyn std::error::Error) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.last().is_some_and(|last| last.ends_with(&msg)) {
            out.push(msg);
        }
        cur = s.source();
    }
    out
}
