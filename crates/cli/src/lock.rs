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
    /// Re-resolve only these architectures (repeatable; default: all of
    /// the distro's). The lock's other architectures stay as they are.
    #[arg(long = "arch")]
    archs: Vec<String>,
    /// Write nothing: make each lock again as `distill lock` would, from
    /// the signed indices at its own pins, and report every difference
    /// (exit 0: the lock is right, 2: it differs).
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

/// `lock --check`: the report on stdout, one line per difference, and
/// what the lock was compared against: its pins, or (when they were not
/// served) the mirror as it is now, with each such suite's Release date
/// against the lock's.
fn check(project: &Project, distro: Option<String>) -> Result<u8> {
    let mut text = String::new();
    let mut differs = false;
    for c in project.check_locks(&distro.into_iter().collect::<Vec<_>>())? {
        let against = if c.not_at_pins.is_empty() {
            "the signed indices at its pins".to_owned()
        } else {
            let dates: Vec<String> = c
                .not_at_pins
                .iter()
                .map(|s| {
                    let show = |d: Option<distill_debian::SnapshotTime>| {
                        d.map_or("unrecorded".to_owned(), |d| d.to_string())
                    };
                    let same = if s.date == s.locked_date {
                        ", as locked"
                    } else {
                        ""
                    };
                    format!(
                        "{} dated {} (locked {}{same})",
                        s.suite,
                        show(s.date),
                        show(s.locked_date)
                    )
                })
                .collect();
            format!(
                "the signed indices a mirror serves now, not its pins, which were not served ({})",
                dates.join("; ")
            )
        };
        // Kept below the newest served: not a difference, but worth a look.
        let held = |text: &mut String| {
            if !c.held.is_empty() {
                *text += &format!(
                    "  {} package(s) held below the newest those indices serve (`distill update` moves them):\n",
                    c.held.len()
                );
                for h in &c.held {
                    *text += &format!("    {h}\n");
                }
            }
        };
        if c.discrepancies.is_empty() {
            text += &format!("{}: matches {against}\n", c.path.display());
            held(&mut text);
            continue;
        }
        differs = true;
        text += &format!(
            "{}: {} difference(s) from {against}\n",
            c.path.display(),
            c.discrepancies.len()
        );
        for d in &c.discrepancies {
            text += &format!("  {d}\n");
        }
        held(&mut text);
    }
    emit(&text)?;
    Ok(if differs { 2 } else { 0 })
}
