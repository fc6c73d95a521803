//! Getting bytes from the network without trusting them: an HTTP client
//! with retries and an ordered list of sources, writing into the
//! content-addressed cache of `distill-store` (which only ever holds bytes
//! whose SHA-256 was checked) and reporting through its `Observer`.
//!
//! Two kinds of download:
//! - [`Fetcher::fetch_pinned`]: the caller knows the SHA-256 (and usually
//!   the size) from a verified index or the lock. Served from the cache when
//!   present; otherwise downloaded to a temporary file, hashed while
//!   writing, and renamed into the cache only on a match.
//! - [`Fetcher::fetch_unpinned`]: the first link of the chain (InRelease),
//!   whose hash nobody knows yet. The caller must verify it before use; it
//!   is cached by URL so `--offline` can replay it (and verify it again).
//! - [`Fetcher::fetch_sha512`]: an upstream tarball whose publisher gives
//!   a SHA-512 (npm's `integrity`); checked before it is cached, and
//!   cached by SHA-256 so the lock can pin it like a .deb.

mod client;

pub use client::{
    Fetched, Fetcher, Pinned, RetryPolicy, Sha512Fetched, Timeouts, authority, install_crypto,
};
use distill_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot fetch {url}: {cause}")]
    Http { url: String, cause: String },
    #[error("cannot fetch {url}: HTTP {status}")]
    Status {
        url: String,
        status: u16,
        /// The server's `Retry-After`, in seconds.
        retry_after: Option<u64>,
    },
    #[error("cannot fetch {url}: {algorithm} mismatch (expected {expected}, got {actual})")]
    HashMismatch {
        url: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    #[error("cannot fetch {url}: size mismatch (expected {expected} bytes, got {actual})")]
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error("cannot fetch {what}: not in the cache and --offline was given")]
    Offline { what: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request failed in the HTTP stack (connection refused, TLS):
    /// reqwest's error is the source.
    #[error("cannot fetch {url}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The host name does not resolve: not worth a retry, the next source
    /// is tried at once.
    #[error("cannot fetch {url}")]
    Unresolvable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot fetch {what}: no source configured")]
    NoSource { what: String },
    /// The host answered but the body stopped, stalled past the read
    /// timeout or missed the per-file deadline: retried, then the next
    /// source; the host is not written off for the rest of the run.
    #[error("cannot fetch {url}: {cause}")]
    Interrupted { url: String, cause: String },
    /// As [`FetchError::Interrupted`], with the HTTP stack's error as the
    /// source.
    #[error("cannot fetch {url}: download interrupted after {got} bytes")]
    Broken {
        url: String,
        got: u64,
        #[source]
        source: reqwest::Error,
    },
}

impl FetchError {
    /// Whether the host did not answer at all (it is then skipped for the
    /// rest of the run).
    pub(crate) fn is_unreachable(&self) -> bool {
        matches!(
            self,
            FetchError::Http { .. } | FetchError::Request { .. } | FetchError::Unresolvable { .. }
        )
    }

    /// Whether trying the same URL again may help.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            FetchError::Http { .. }
                | FetchError::Request { .. }
                | FetchError::Interrupted { .. }
                | FetchError::Broken { .. }
        ) || matches!(self, FetchError::Status { status, .. } if *status == 429 || *status >= 500)
            || matches!(self, FetchError::SizeMismatch { expected, actual, .. } if actual < expected)
    }
}

/// A cache file `path` that could not be used.
pub(crate) fn cache_err(path: &std::path::Path, source: std::io::Error) -> FetchError {
    FetchError::Store(StoreError::new(path, source))
}
