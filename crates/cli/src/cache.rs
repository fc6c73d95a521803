//! `distill cache verify` and `distill cache gc`.

use distill_project::{CacheReport, Project, Result};
use serde_json::json;

use crate::ProjectArgs;
use crate::output::{emit, emit_json};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Re-hash every cached file and check every layer against its
    /// record; drop the bad ones and killed runs' temporary files (exit 2
    /// when there were bad ones).
    Verify {
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Remove what no lock of the project uses, and say what was freed.
    Gc {
        #[command(flatten)]
        project: ProjectArgs,
    },
}

impl Args {
    /// The project options given after the action (`cache verify
    /// --cache-dir X`), where the README says they may be.
    pub(crate) fn project(&self) -> &ProjectArgs {
        match &self.action {
            Action::Verify { project } | Action::Gc { project } => project,
        }
    }
}

pub(crate) fn run(project: &Project, args: Args) -> Result<u8> {
    let (report, verb) = match args.action {
        Action::Verify { .. } => (project.cache_verify()?, "verified"),
        Action::Gc { .. } => (project.cache_gc()?, "looked at"),
    };
    if args.json {
        emit_json(
            &json!({
                "files": report.files,
                "bytes": report.bytes,
                "removed": report.removed,
                "freed": report.freed,
            }),
            false,
        )?;
    } else {
        emit(&text(&report, verb))?;
    }
    let bad = verb == "verified" && !report.removed.is_empty();
    Ok(if bad { 2 } else { 0 })
}

fn text(r: &CacheReport, verb: &str) -> String {
    let mut out = String::new();
    for p in &r.removed {
        out += &format!("removed {}\n", p.display());
    }
    out += &format!(
        "{verb} {} files ({}); removed {}, freed {}\n",
        r.files,
        mib(r.bytes),
        r.removed.len(),
        mib(r.freed)
    );
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}
