//! `distill update`: the bot's command. Prints a pull-request body
//! (Markdown) or JSON; exit 0 when nothing changed, 2 when a lock did.

use distill_debian::SnapshotTime;
use distill_project::{Error, Project, Result, UpdateOptions, UpdateTo};

use crate::output::{emit, emit_json};
use crate::report;

#[derive(clap::Args)]
pub(crate) struct Args {
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
    /// Also write one line saying what the update fixes (`fixes CVE-…;
    /// urgency high`) to this file, for a pull request's title.
    #[arg(long, value_name = "FILE")]
    summary_file: Option<std::path::PathBuf>,
}

pub(crate) fn run(project: &Project, args: Args) -> Result<u8> {
    let to = match args.to.as_deref() {
        None => UpdateTo::BeforeToday,
        Some("latest") => UpdateTo::Latest,
        Some(ts) => UpdateTo::AtOrBefore(SnapshotTime::parse(ts).map_err(|e| {
            Error::Message(format!(
                "cannot use --to {ts}: {e} (a timestamp or `latest`)"
            ))
        })?),
    };
    let opts = UpdateOptions {
        distros: args.distro.into_iter().collect(),
        archive: args.archive,
        to,
    };
    let report = project.update(&opts)?;
    if let Some(path) = &args.summary_file {
        let line = report::summary(report.distros.iter().map(|d| &d.news))
            .unwrap_or_else(|| "no CVE or urgency named".to_owned());
        distill_store::write_atomic(path, format!("{line}\n").as_bytes())
            .map_err(|e| Error::Message(format!("cannot write {}: {e}", path.display())))?;
    }
    if args.json {
        let all: Vec<serde_json::Value> = report
            .distros
            .iter()
            .map(|d| report::json(&d.diff, &d.images, Some(&d.news)))
            .collect();
        let doc = serde_json::json!({"changed": report.changed, "distros": all});
        emit_json(&doc, false)?;
    } else {
        emit(&markdown(project, &report))?;
    }
    Ok(if report.changed { 2 } else { 0 })
}

fn markdown(project: &Project, report: &distill_project::UpdateReport) -> String {
    let mut md = String::from("## distill update\n\n");
    if !report.changed {
        md += "Nothing changed.\n";
    }
    if let Some(line) = report::summary(report.distros.iter().map(|d| &d.news)) {
        md += &format!("**{}.**\n", crate::diff::capitalise(&line));
    }
    for d in &report.distros {
        if !d.diff.is_empty() {
            md += "\n";
            md += &report::markdown(
                &d.diff,
                &d.images,
                &project.config().build,
                Some(&d.news),
                report::Entries::Full,
            );
        }
    }
    md
}
