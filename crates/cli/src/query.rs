//! `distill show` and `distill resolve`: the archive at an ad-hoc
//! snapshot.

use std::collections::BTreeMap;

use distill_debian::{Served, SnapshotTime, host_arch};
use distill_project::{Project, Result};
use serde_json::json;

use crate::output::{emit, emit_json};
use crate::parse::snapshot;

/// Which archive a question is about: a distro, one architecture, a
/// moment.
#[derive(clap::Args)]
struct Archive {
    /// Distro from packages.toml, e.g. debian12.
    #[arg(long)]
    distro: String,
    /// Debian architecture (default: this machine's).
    #[arg(long)]
    arch: Option<String>,
    /// snapshot.debian.org timestamp, e.g. 20251101T000000Z (default: now,
    /// which the service answers with its newest capture).
    #[arg(long)]
    snapshot: Option<String>,
}

impl Archive {
    fn arch(&self) -> &str {
        self.arch.as_deref().unwrap_or(host_arch())
    }

    fn snapshot(&self) -> Result<Option<SnapshotTime>> {
        self.snapshot.as_deref().map(snapshot).transpose()
    }
}

#[derive(clap::Args)]
pub(crate) struct ShowArgs {
    /// Package name.
    package: String,
    #[command(flatten)]
    at: Archive,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn show(project: &Project, args: ShowArgs) -> Result<u8> {
    let (at, arch) = (&args.at, args.at.arch());
    let found = project.show(&args.package, &at.distro, arch, at.snapshot()?)?;
    if args.json {
        let items: Vec<serde_json::Value> = found
            .iter()
            .map(|f| {
                let fields: serde_json::Map<String, serde_json::Value> = f
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect();
                json!({
                    "archive": f.archive,
                    "suite": f.suite,
                    "component": f.component,
                    "architecture": arch,
                    "source": match &f.served {
                        Served::Snapshot { capture } => json!({"snapshot": capture}),
                        Served::Mirror { base } => json!({"mirror": base}),
                    },
                    "fields": fields,
                })
            })
            .collect();
        emit_json(&items, true)?;
    } else {
        let stanzas: Vec<&str> = found.iter().map(|f| f.text.as_str()).collect();
        emit(&(stanzas.join("\n\n") + "\n"))?;
    }
    Ok(0)
}

#[derive(clap::Args)]
pub(crate) struct ResolveArgs {
    /// Root packages.
    #[arg(required = true)]
    packages: Vec<String>,
    #[command(flatten)]
    at: Archive,
    /// Never choose this package (repeatable).
    #[arg(long)]
    exclude: Vec<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn resolve(project: &Project, args: ResolveArgs) -> Result<u8> {
    let (at, arch) = (&args.at, args.at.arch());
    let excludes: BTreeMap<String, String> = args
        .exclude
        .iter()
        .map(|e| (e.clone(), "--exclude".to_owned()))
        .collect();
    let resolution =
        project.resolve(&args.packages, &excludes, &at.distro, arch, at.snapshot()?)?;
    if args.json {
        let packages: Vec<serde_json::Value> = resolution
            .packages
            .values()
            .map(|c| json!({"name": c.name, "version": c.version, "architecture": c.arch}))
            .collect();
        let cuts: serde_json::Map<String, serde_json::Value> = resolution
            .cuts
            .iter()
            .map(|(name, cut)| {
                let v = json!({"needed_by": cut.needed_by, "relation": cut.relation});
                (name.clone(), v)
            })
            .collect();
        emit_json(&json!({"packages": packages, "excluded": cuts}), true)?;
    } else {
        let text: String = resolution
            .packages
            .values()
            .map(|c| format!("{} {}\n", c.name, c.version))
            .collect();
        emit(&text)?;
    }
    Ok(0)
}
