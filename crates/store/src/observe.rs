//! Where everything the user should see goes.

/// Where everything the user should see goes: downloads, counted steps
/// and one-line notes. The libraries never print; the CLI draws progress
/// bars and prints notes, tests record or ignore them. Every method has a
/// silent default, so an observer implements only what it shows.
pub trait Observer: Send + Sync {
    /// A download begins; `total` is the expected size if known.
    fn start(&self, _url: &str, _total: Option<u64>) -> Box<dyn Transfer> {
        Box::new(NoTransfer)
    }
    /// Counted work that is not a download (`debian12 layers 12/40`);
    /// finished when the returned handle is dropped.
    fn steps(&self, _total: u64, _what: &str) -> Box<dyn Transfer> {
        Box::new(NoTransfer)
    }
    /// A one-line notice: a mirror used instead of the snapshot, a layout
    /// written, a lock left unchanged.
    fn note(&self, _line: &str) {}
}

/// Progress of one download (bytes) or one counted task (steps).
pub trait Transfer: Send + Sync {
    fn advance(&self, amount: u64);
}

/// Ignores everything (tests, `--quiet`).
pub struct Silent;
struct NoTransfer;
impl Transfer for NoTransfer {
    fn advance(&self, _: u64) {}
}
impl Observer for Silent {}
