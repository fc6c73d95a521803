//! `distill show PKG`: the verified stanzas of a package across a distro's
//! suites, highest version first, like `apt-cache show`.

use distill_archive::Served;
use distill_debian::compare_versions;

use crate::Global;
use crate::context::{Failure, Result, emit};
use crate::load::{OneArch, load_one_arch};

#[derive(clap::Args)]
pub(crate) struct Args {
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

pub(crate) fn run(global: &Global, args: Args) -> Result<u8> {
    let OneArch { arch, loaded } = load_one_arch(
        global,
        &args.distro,
        args.arch.as_deref(),
        args.snapshot.as_deref(),
    )?;
    let mut found = Vec::new();
    for idx in loaded.for_arch(&arch) {
        let rel = &loaded.releases[idx.release];
        for p in idx.index.get(&args.package) {
            found.push(Found {
                archive: rel.archive.clone(),
                suite: rel.suite.clone(),
                component: idx.component.clone(),
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
    if found.is_empty() {
        let suites: Vec<&str> = loaded.releases.iter().map(|r| r.suite.as_str()).collect();
        return Err(Failure(format!(
            "cannot find package {} for {arch} in {} ({})",
            args.package,
            args.distro,
            suites.join(", ")
        )));
    }
    // Highest version first; the sort is stable, so packages.toml's suite
    // order breaks ties.
    found.sort_by(|a, b| compare_versions(&b.version, &a.version));

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
