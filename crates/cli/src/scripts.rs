//! `distill scripts --image I --distro D [--arch A] [--json]`: what the
//! maintainer scripts of an image's packages would do, and what the build
//! does about each.

use distill_project::{Project, Result, ScriptStatus, ScriptsOptions, ScriptsReport};

use crate::output::{emit, emit_json};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Image from packages.toml.
    #[arg(long)]
    image: String,
    /// Distro from packages.toml.
    #[arg(long)]
    distro: String,
    /// Debian architecture (default: the image's first locked one).
    #[arg(long)]
    arch: Option<String>,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(project: &Project, args: Args) -> Result<u8> {
    let report = project.scripts(&ScriptsOptions {
        image: args.image,
        distro: args.distro,
        arch: args.arch,
    })?;
    if args.json {
        emit_json(&report, false)?;
    } else {
        emit(&text(&report))?;
    }
    Ok(0)
}

/// Per package with scripts, one line per action (its status first),
/// its links and reasons below it, then what packages.toml can declare
/// for what is not applied.
fn text(r: &ScriptsReport) -> String {
    let mut out = format!("{}-{} {}:\n", r.image, r.distro, r.arch);
    let mut quiet = 0;
    for p in &r.packages {
        if p.actions.is_empty() {
            quiet += 1;
            continue;
        }
        let debug = if p.debug { " (debug tags)" } else { "" };
        out.push_str(&format!("{} {}{debug}\n", p.name, p.version));
        let mut instead = std::collections::BTreeMap::new();
        let mut reasons = std::collections::BTreeSet::new();
        for a in &p.actions {
            out.push_str(&format!(
                "  {:<12} {} {}: {}\n",
                a.status.as_str(),
                a.script,
                a.kind.as_str(),
                a.command
            ));
            match (&a.why, a.status) {
                // One acknowledgement covers the package: said once.
                (Some(why), ScriptStatus::Acknowledged) => {
                    reasons.insert(why.clone());
                }
                // The same for every library (`--json` has it).
                (Some(_), ScriptStatus::Covered) => {}
                (Some(why), _) => out.push_str(&format!("{:15}{why}\n", "")),
                (None, _) => {}
            }
            for (link, target) in &a.links {
                out.push_str(&format!("{:15}{link} -> {target}\n", ""));
            }
            if let (ScriptStatus::NotApplied, Some(hint)) = (a.status, a.instead) {
                instead.insert(a.kind.as_str(), hint);
            }
        }
        for why in reasons {
            out.push_str(&format!("  acknowledged: {why}\n"));
        }
        for (kind, hint) in instead {
            out.push_str(&format!("  instead ({kind}): {hint}\n"));
        }
    }
    out.push_str(&format!(
        "{quiet} packages have no maintainer scripts that act on a fresh install\n"
    ));
    out
}
