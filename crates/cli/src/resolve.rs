//! `distill resolve PKG...`: resolve ad-hoc roots against a distro's
//! verified indices and print the full set, one `name version` per line.
//! The preview a maintainer wants before adding packages to an image; the
//! same resolver `lock` uses.

use std::collections::BTreeMap;

use distill_resolve::Universe;

use crate::Global;
use crate::context::{Failure, Result, emit};
use crate::load::{OneArch, load_one_arch};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Root packages.
    #[arg(required = true)]
    packages: Vec<String>,
    /// Distro from packages.toml, e.g. debian12.
    #[arg(long)]
    distro: String,
    /// Debian architecture (default: this machine's).
    #[arg(long)]
    arch: Option<String>,
    /// Never choose this package (repeatable).
    #[arg(long)]
    exclude: Vec<String>,
    /// snapshot.debian.org timestamp (default: now).
    #[arg(long)]
    snapshot: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(global: &Global, args: Args) -> Result<u8> {
    let OneArch { arch, loaded } = load_one_arch(
        global,
        &args.distro,
        args.arch.as_deref(),
        args.snapshot.as_deref(),
    )?;
    let universe = Universe::new(&arch, loaded.stanzas(&arch))?;
    let excludes: BTreeMap<String, String> = args
        .exclude
        .iter()
        .map(|e| (e.clone(), "--exclude".to_owned()))
        .collect();
    let resolution = universe.resolve(&args.packages, &excludes)?;

    if args.json {
        let packages: Vec<serde_json::Value> = resolution
            .packages
            .values()
            .map(|c| serde_json::json!({"name": c.name, "version": c.version, "architecture": c.arch}))
            .collect();
        let cuts: serde_json::Map<String, serde_json::Value> = resolution
            .cuts
            .iter()
            .map(|(name, cut)| {
                (name.clone(), serde_json::json!({"needed_by": cut.needed_by, "relation": cut.relation}))
            })
            .collect();
        let out = serde_json::json!({"packages": packages, "excluded": cuts});
        let text = serde_json::to_string_pretty(&out).map_err(|e| Failure(format!("cannot write JSON: {e}")))?;
        emit(&(text + "\n"))
    } else {
        let mut text = String::new();
        for c in resolution.packages.values() {
            text += &format!("{} {}\n", c.name, c.version);
        }
        emit(&text)
    }
    .map(|()| 0)
}
