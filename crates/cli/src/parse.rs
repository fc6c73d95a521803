//! Values from flags and the environment that need more than clap.

use distill_debian::SnapshotTime;
use distill_project::{Error, Result};

/// A `--snapshot` argument.
pub(crate) fn snapshot(s: &str) -> Result<SnapshotTime> {
    SnapshotTime::parse(s).map_err(|e| Error::Message(format!("cannot use --snapshot: {e}")))
}

/// A whole number from the environment (`DISTILL_NOW`,
/// `SOURCE_DATE_EPOCH`), if set.
pub(crate) fn env_number(name: &str) -> Result<Option<i64>> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::Message(format!("cannot use {name}={v:?}: not a whole number"))),
        Err(_) => Ok(None),
    }
}

/// `SOURCE_DATE_EPOCH`, if set (negative values count as 0).
pub(crate) fn source_date_epoch() -> Result<Option<u64>> {
    Ok(env_number("SOURCE_DATE_EPOCH")?.map(|e| e.max(0) as u64))
}
