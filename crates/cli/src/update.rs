//! `distill update`: move snapshot pins to newer captures, re-resolve,
//! and write the locks when (and only when) a package changed; print what
//! changed as a pull-request body. Exit 0: nothing changed; 2: a lock
//! changed; 1: error, every lock left as it was.

use distill_archive::{Target, newest_capture};
use distill_debian::SnapshotTime;

use crate::Global;
use crate::context::{Context, Failure, Result, emit};
use crate::load::runtime;
use crate::lock::{images, lock_path, pins_from, plans, require_lock, resolve_lock, write_atomic};
use crate::report;

#[derive(clap::Args)]
pub struct Args {
    /// Only this distro (default: every distro).
    #[arg(long)]
    distro: Option<String>,
    /// Move only this archive's pin (the security rebuild:
    /// `--archive debian-security`).
    #[arg(long)]
    archive: Option<String>,
    /// A timestamp, or `latest` for the newest capture even if taken
    /// today. Default: the newest capture before today (UTC), which is
    /// complete.
    #[arg(long)]
    to: Option<String>,
    /// Print JSON instead of Markdown.
    #[arg(long)]
    json: bool,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let ctx = Context::new(global)?;
    let specs = images(&ctx)?;
    let build = crate::build::spec(&ctx)?;
    let names: Vec<String> = match &args.distro {
        Some(d) => {
            ctx.distro(d)?;
            vec![d.clone()]
        }
        None => ctx.config.distros.keys().cloned().collect(),
    };
    let now = ctx.default_snapshot();
    let target = match args.to.as_deref() {
        None => Target::BeforeDay(SnapshotTime::from_unix(
            now.unix().div_euclid(86_400) * 86_400,
        )),
        Some("latest") => Target::Latest,
        Some(ts) => Target::AtOrBefore(SnapshotTime::parse(ts).map_err(|e| {
            Failure(format!(
                "cannot use --to {ts}: {e} (a timestamp or `latest`)"
            ))
        })?),
    };
    if let Some(a) = &args.archive
        && !names
            .iter()
            .any(|d| ctx.config.distros[d].archives.iter().any(|x| &x.name == a))
    {
        return Err(Failure(format!(
            "cannot update archive {a}: no selected distro has it"
        )));
    }
    let rt = runtime()?;
    // Everything is resolved before anything is written: a failure leaves
    // every lock as it was.
    let mut writes = Vec::new();
    let mut sections = Vec::new();
    for name in &names {
        let distro = ctx.distro(name)?;
        let path = lock_path(&ctx, name);
        let old = require_lock(&ctx, name, &format!("update {name}"))?;
        let pins = pins_from(Some(&old), now)?;
        let mut moved = pins.clone();
        for archive in &distro.archives {
            if args.archive.as_ref().is_some_and(|a| a != &archive.name) {
                continue;
            }
            let ts = rt
                .block_on(newest_capture(&ctx.fetcher, archive, target, now))
                .map_err(|e| Failure(e.to_string()))?;
            moved.by_archive.insert(archive.name.clone(), ts);
        }
        let mut archs: Vec<String> = old
            .images
            .values()
            .flat_map(|a| a.keys().cloned())
            .chain(old.build.keys().cloned())
            .collect();
        archs.sort();
        archs.dedup();
        let plans = plans(&ctx, &specs, name, distro)?;
        let new = if moved.by_archive == pins.by_archive {
            old.clone()
        } else {
            resolve_lock(&ctx, global, name, &archs, &moved, &plans, &build)?
        };
        let mut diff = old.diff(&new);
        // Pins move only with the packages: a day passing is not a change.
        if !diff.is_empty() {
            writes.push((path, new.to_toml()));
        } else {
            diff.pins.clear();
        }
        sections.push((diff, new.image_archs()));
    }
    for (path, text) in &writes {
        write_atomic(path, text)?;
    }
    let text = if args.json {
        let all: Vec<serde_json::Value> = sections
            .iter()
            .map(|(d, images)| report::json(d, images))
            .collect();
        serde_json::json!({"changed": !writes.is_empty(), "distros": all}).to_string() + "\n"
    } else {
        let mut md = String::from("## distill update\n\n");
        if writes.is_empty() {
            md += "Nothing changed.\n";
        }
        for (d, images) in &sections {
            if !d.is_empty() {
                md += "\n";
                md += &report::markdown(d, images, &build);
            }
        }
        md
    };
    emit(&text)?;
    Ok(if writes.is_empty() { 0 } else { 2 })
}
