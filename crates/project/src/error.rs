//! The project's error: a message with the error that caused it kept as
//! its source, so the CLI can print `error: cannot …: cause` on one line
//! or, with `-v`, the whole chain ([`distill_store::causes`]). Errors of the pipeline crates pass
//! through unchanged.

use distill_archive::{ArchiveError, DiscoverError};
use distill_fetch::FetchError;
use distill_image::ImageError;
use distill_layer::{LayerError, TreeError};
use distill_registry::RegistryError;
use distill_resolve::ResolveError;
use distill_trust::TrustError;
use distill_upstream::UpstreamError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure that says it all (bad input, something missing).
    #[error("{0}")]
    Message(String),
    /// `context` (`cannot build cc-debian12`) because of `source`.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: BoxError,
    },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] distill_store::StoreError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Sign(#[from] distill_sign::SignError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Error::Message`, formatted.
macro_rules! fail {
    ($($arg:tt)*) => {
        $crate::error::Error::Message(format!($($arg)*))
    };
}
pub(crate) use fail;

/// Adds what was being done to an error, keeping it as the source.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<BoxError>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: what(),
            source: e.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use distill_store::causes;

    #[test]
    fn chains_keep_causes_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e: Result<()> = Err(io).context(|| "cannot read x.lock".into());
        let e = e.unwrap_err();
        assert_eq!(e.to_string(), "cannot read x.lock");
        assert_eq!(causes(&e), ["cannot read x.lock", "no such file"]);
        let m = fail!("cannot build {}: no tags", "x");
        assert_eq!(causes(&m), ["cannot build x: no tags"]);
    }
}
