//! `distill lock`.

use distill_project::{LockOptions, Project, Result};

use crate::parse::snapshot;

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

pub(crate) fn run(project: &Project, quiet: bool, args: Args) -> Result<u8> {
    let opts = LockOptions {
        distros: args.distro.into_iter().collect(),
        snapshot: args.snapshot.as_deref().map(snapshot).transpose()?,
        archs: args.archs,
    };
    for l in project.lock_distros(&opts)? {
        if !quiet {
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
