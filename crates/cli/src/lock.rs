//! `distill lock`.

use distill_project::{LockOptions, Project, Result};

use crate::output::emit;
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
    /// Write nothing: re-resolve each lock at its own pins from the signed
    /// indices and report every difference (exit 0: the lock is right,
    /// 2: it differs).
    #[arg(long, conflicts_with_all = ["snapshot", "archs"])]
    check: bool,
}

pub(crate) fn run(project: &Project, quiet: bool, args: Args) -> Result<u8> {
    if args.check {
        return check(project, args.distro);
    }
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

/// `lock --check`: the report on stdout, one line per difference.
fn check(project: &Project, distro: Option<String>) -> Result<u8> {
    let mut text = String::new();
    let mut differs = false;
    for c in project.check_locks(&distro.into_iter().collect::<Vec<_>>())? {
        if c.discrepancies.is_empty() {
            text += &format!(
                "{}: matches the signed indices at its pins\n",
                c.path.display()
            );
            continue;
        }
        differs = true;
        text += &format!(
            "{}: {} difference(s) from the signed indices at its pins\n",
            c.path.display(),
            c.discrepancies.len()
        );
        for d in &c.discrepancies {
            text += &format!("  {d}\n");
        }
    }
    emit(&text)?;
    Ok(if differs { 2 } else { 0 })
}
