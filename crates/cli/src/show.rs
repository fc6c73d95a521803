//! `distill show PKG`: the verified stanzas of a package across a distro's
//! suites, highest version first, like `apt-cache show`.

use std::cmp::Ordering;

use distill_archive::{Served, SuiteRelease};
use distill_debian::{SnapshotTime, compare_versions};
use futures_util::future::try_join_all;

use crate::Global;
use crate::context::{Context, Failure, Result, emit, host_arch};

#[derive(clap::Args)]
pub struct Args {
    /// Package name.
    package: String,
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
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

struct Found {
    archive: String,
    suite: String,
    component: String,
    served: Served,
    text: String,
    fields: Vec<(String, String)>,
    version: String,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let ctx = Context::new(global)?;
    let distro = ctx.distro(&args.distro)?;
    let arch = args.arch.clone().unwrap_or_else(|| host_arch().to_owned());
    if !distro.architectures.contains(&arch) {
        return Err(Failure(format!(
            "cannot show {} for {arch}: distro {} has architectures {}",
            args.package,
            args.distro,
            distro.architectures.join(", ")
        )));
    }
    let snapshot = match &args.snapshot {
        Some(s) => {
            SnapshotTime::parse(s).map_err(|e| Failure(format!("cannot use --snapshot: {e}")))?
        }
        None => ctx.default_snapshot(),
    };
    let loader = ctx.loader(ctx.keyring(global, distro)?);

    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure(format!("cannot start the runtime: {e}")))?;
    let mut found: Vec<Found> = runtime.block_on(async {
        let suites: Vec<_> = distro
            .archives
            .iter()
            .flat_map(|a| a.suites.iter().map(move |s| (a, s)))
            .collect();
        let releases: Vec<SuiteRelease> =
            try_join_all(suites.iter().map(|(a, s)| loader.release(a, s, snapshot))).await?;
        let mirrored: Vec<(String, String)> = releases
            .iter()
            .filter_map(|r| match &r.served {
                Served::Mirror { base } => Some((r.suite.clone(), base.clone())),
                Served::Snapshot { .. } => None,
            })
            .collect();
        ctx.bars.note_mirrors(&mirrored, &snapshot.to_string());
        let jobs: Vec<_> = releases
            .iter()
            .zip(&suites)
            .flat_map(|(rel, (a, _))| a.components.iter().map(move |c| (rel, c)))
            .collect();
        let indices =
            try_join_all(jobs.iter().map(|(rel, c)| loader.packages(rel, c, &arch))).await?;
        let mut found = Vec::new();
        for ((rel, component), index) in jobs.iter().zip(&indices) {
            for p in index.get(&args.package) {
                found.push(Found {
                    archive: rel.archive.clone(),
                    suite: rel.suite.clone(),
                    component: component.to_string(),
                    served: rel.served.clone(),
                    text: p.text().to_owned(),
                    fields: p
                        .fields()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.trim().to_owned()))
                        .collect(),
                    version: p.get("Version").unwrap_or("").to_owned(),
                });
            }
        }
        Ok::<_, Failure>(found)
    })?;
    if found.is_empty() {
        let suites: Vec<&str> = distro
            .archives
            .iter()
            .flat_map(|a| a.suites.iter().map(String::as_str))
            .collect();
        return Err(Failure(format!(
            "cannot find package {} for {arch} in {} ({})",
            args.package,
            args.distro,
            suites.join(", ")
        )));
    }
    // Highest version first; the suite order of packages.toml breaks ties.
    found.sort_by(|a, b| match compare_versions(&b.version, &a.version) {
        Ordering::Equal => Ordering::Equal,
        o => o,
    });

    if args.json {
        let items: Vec<serde_json::Value> = found
            .iter()
            .map(|f| {
                let fields: serde_json::Map<String, serde_json::Value> =
                    f.fields.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
                serde_json::json!({
                    "archive": f.archive,
                    "suite": f.suite,
                    "component": f.component,
                    "architecture": arch,
                    "source": match &f.served {
                        Served::Snapshot { capture } => serde_json::json!({"snapshot": capture.to_string()}),
                        Served::Mirror { base } => serde_json::json!({"mirror": base}),
                    },
                    "fields": fields,
                })
            })
            .collect();
        let out = serde_json::to_string_pretty(&items)
            .map_err(|e| Failure(format!("cannot write JSON: {e}")))?;
        emit(&(out + "\n"))?;
    } else {
        let stanzas: Vec<&str> = found.iter().map(|f| f.text.as_str()).collect();
        emit(&(stanzas.join("\n\n") + "\n"))?;
    }
    Ok(0)
}
