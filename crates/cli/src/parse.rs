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

/// The last second RFC 3339 (and Go's time parsing, which skopeo and
/// docker use on a config's `created`) can write: 9999-12-31T23:59:59Z.
pub(crate) const MAX_EPOCH: i64 = 253_402_300_799;

/// `SOURCE_DATE_EPOCH`, if set: 0 to [`MAX_EPOCH`]; anything outside is
/// refused, never clamped (an image dated otherwise than asked is not
/// reproducible from what was asked).
pub(crate) fn source_date_epoch() -> Result<Option<u64>> {
    match env_number("SOURCE_DATE_EPOCH")? {
        Some(e) if !(0..=MAX_EPOCH).contains(&e) => Err(Error::Message(format!(
            "cannot use SOURCE_DATE_EPOCH={e}: not between 0 and {MAX_EPOCH} (9999-12-31T23:59:59Z)"
        ))),
        e => Ok(e.map(|e| e as u64)),
    }
}
