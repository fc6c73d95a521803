//! `distill lock`.

use distill_debian::SnapshotTime;
use distill_project::{Error, LockOptions, Project, Result};

use crate::Global;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Only this distro (default: every distro in packages.toml).
    #[arg(long)]
    distro: Option<String>,
    /// Pin archives that the lock does not pin yet to this timestamp
    /// (default: now).
    #[arg(long)]
    snapshot: Option<String>,
    /// Lock only these architectures (repeatable; default: all of the
    /// distro's). The lock then covers just these.
    #[arg(long = "arch")]
    archs: Vec<String>,
}

pub(crate) fn run(project: &Project, g: &Global, args: Args) -> Result<u8> {
    let opts = LockOptions {
        distros: args.distro.into_iter().collect(),
        snapshot: args.snapshot.as_deref().map(snapshot).transpose()?,
        archs: args.archs,
    };
    for l in project.lock_distros(&opts)? {
        if !g.quiet {
            let (verb, tail) = match l.changed {
                true => ("wrote", ""),
                false => ("unchanged", " (already up to date)"),
            };
            eprintln!(
                "{verb} {}: {} packages, {} images{tail}",
                l.path.display(),
                l.packages,
                l.images
            );
        }
    }
    Ok(0)
}

/// A `--snapshot` argument.
pub(crate) fn snapshot(s: &str) -> Result<SnapshotTime> {
    SnapshotTime::parse(s).map_err(|e| Error::Message(format!("cannot use --snapshot: {e}")))
}
