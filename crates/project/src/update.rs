//! `update`: move snapshot pins to newer captures and artifact pins to the
//! newest release of their line, re-resolve, and write the locks when (and
//! only when) a package or an artifact changed. Everything is
//! resolved before anything is written: a failure leaves every lock as it
//! was.

use std::collections::{BTreeMap, BTreeSet};

use distill_archive::{Target, newest_capture};
use distill_debian::SnapshotTime;
use distill_lock::LockDiff;

use crate::error::{Result, fail};
use crate::lock::{Keep, pins_of};
use crate::project::Project;

/// Which capture to move pins to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpdateTo {
    /// The newest capture before today (UTC): complete.
    #[default]
    BeforeToday,
    /// The newest capture, even if taken today.
    Latest,
    /// The newest capture at or before this time.
    AtOrBefore(SnapshotTime),
}

#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    /// These distros (default: all).
    pub distros: Vec<String>,
    /// Move only this archive's pin (`debian-security`).
    pub archive: Option<String>,
    pub to: UpdateTo,
}

/// What an update changed.
#[derive(Debug, Clone)]
pub struct UpdateReport {
    /// Whether any lock was written.
    pub changed: bool,
    pub distros: Vec<DistroUpdate>,
}

/// One distro's changes.
#[derive(Debug, Clone)]
pub struct DistroUpdate {
    /// Pins are reported only when a package changed with them.
    pub diff: LockDiff,
    /// The new lock's images and their architectures.
    pub images: BTreeMap<String, BTreeSet<String>>,
    /// What the changes bring (changelog entries, sizes); empty when
    /// nothing changed.
    pub news: crate::News,
}

impl Project {
    pub fn update(&self, opts: &UpdateOptions) -> Result<UpdateReport> {
        let names = self.distros(&opts.distros)?;
        let now = self.default_snapshot();
        let target = match opts.to {
            UpdateTo::BeforeToday => Target::BeforeDay(SnapshotTime::from_unix(
                now.unix().div_euclid(86_400) * 86_400,
            )),
            UpdateTo::Latest => Target::Latest,
            UpdateTo::AtOrBefore(t) => {
                self.not_future(Some(t), "--to")?;
                Target::AtOrBefore(t)
            }
        };
        if let Some(a) = &opts.archive
            && !names
                .iter()
                .any(|d| self.config.distros[d].archive(a).is_some())
        {
            return Err(fail!(
                "cannot update archive {a}: no selected distro has it"
            ));
        }
        let mut writes = Vec::new();
        let mut distros = Vec::new();
        // Artifacts move with every update (they have no snapshot pin);
        // `--archive` moves only that archive's pin.
        let artifacts = self.artifact_pins(opts.archive.is_none());
        for name in &names {
            let distro = self.distro(name)?;
            let old = self.require_lock(name, &format!("update {name}"))?;
            let pins = pins_of(Some(&old), now);
            let mut moved = pins.clone();
            for archive in &distro.archives {
                // An archive no snapshot service keeps has no captures to
                // move to; it is read from its mirrors at every re-lock.
                if opts.archive.as_ref().is_some_and(|a| a != &archive.name)
                    || archive.snapshot.is_none()
                {
                    continue;
                }
                let ts = self.block_on(newest_capture(&self.fetcher, archive, target, now))?;
                moved.by_archive.insert(archive.name.clone(), ts);
            }
            let plans = self.plans(name)?;
            let fresh = self.pin_artifacts(&plans, &old.architectures(), &artifacts, Some(&old))?;
            let artifact_moved = fresh.values().flatten().any(|a| {
                old.artifact(&a.name, &a.architecture)
                    .is_none_or(|o| (&o.version, &o.sha256) != (&a.version, &a.sha256))
            });
            let new = if moved.by_archive == pins.by_archive && !artifact_moved {
                old.clone()
            } else {
                // Afresh at the new pins: this is where versions move.
                self.resolve_lock(
                    name,
                    &old.architectures(),
                    &moved,
                    &artifacts,
                    Some(&old),
                    Keep::Nothing,
                )?
            };
            let mut diff = old.diff(&new);
            // Pins move only with the packages: a day passing is not a
            // change, so a quiet day makes no pull request.
            let news = if diff.is_empty() {
                diff.pins.clear();
                crate::News::default()
            } else {
                writes.push((name, new.to_toml()));
                self.news(&old, &new, &diff)?
            };
            distros.push(DistroUpdate {
                diff,
                images: new.image_archs(),
                news,
            });
        }
        for (name, text) in &writes {
            self.write_lock(name, text)?;
        }
        Ok(UpdateReport {
            changed: !writes.is_empty(),
            distros,
        })
    }
}
