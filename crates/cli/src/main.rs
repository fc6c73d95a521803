//! The `distill` command line: a shell over `distill-project`. Each
//! command turns its arguments into options, makes one call, and renders
//! the result (text, Markdown or JSON). It is the only crate that prints.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod append;
mod build;
mod cache;
mod diff;
mod docs;
mod key;
mod lock;
mod output;
mod parse;
mod progress;
mod push;
mod query;
mod report;
mod scripts;
mod update;
mod verify;
mod why;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use distill_fetch::{RetryPolicy, Timeouts};
use distill_project::{EnvOptions, Error, Project, Result};
use distill_store::causes;

#[derive(Parser)]
#[command(
    name = "distill",
    version,
    about = "Minimal container images from verified Debian packages"
)]
struct Cli {
    /// Project options are accepted before the command too (`distill
    /// --offline build`), for every command that has a project.
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// What every command takes.
#[derive(clap::Args)]
#[command(next_help_heading = "Global options")]
struct Global {
    /// No progress bars or notices.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// On error, print every cause on a line of its own.
    #[arg(long, short, global = true)]
    verbose: bool,
}

/// Where the project is and how it reaches the archive: only the
/// commands that open a project list them.
#[derive(clap::Args, Clone, Default)]
#[command(next_help_heading = "Project options")]
pub(crate) struct ProjectArgs {
    /// The image and distro definitions [default: packages.toml].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where downloads are cached [default: $XDG_CACHE_HOME/distill].
    #[arg(long, env = "DISTILL_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Use only the cache; fail instead of downloading.
    #[arg(long)]
    offline: bool,
    /// Trust this OpenPGP keyring instead of the built-in Debian keyring.
    #[arg(long)]
    keyring: Option<PathBuf>,
}

impl ProjectArgs {
    /// These options, with the ones given before the command where these
    /// leave one out.
    fn or(self, before: &ProjectArgs) -> ProjectArgs {
        ProjectArgs {
            config: self.config.or_else(|| before.config.clone()),
            cache_dir: self.cache_dir.or_else(|| before.cache_dir.clone()),
            offline: self.offline || before.offline,
            keyring: self.keyring.or_else(|| before.keyring.clone()),
        }
    }

    fn config(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from("packages.toml"))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Print the verified index stanza(s) of a package, like apt-cache show.
    Show {
        #[command(flatten)]
        args: query::ShowArgs,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Resolve every image and write snapshots/<distro>.lock.
    Lock {
        #[command(flatten)]
        args: lock::Args,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Build the images from the lock as OCI image layouts.
    Build {
        #[command(flatten)]
        args: build::Args,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Move the snapshot pins forward, re-lock, and summarise the changes
    /// (exit 0: nothing changed, 2: a lock changed).
    Update {
        #[command(flatten)]
        args: update::Args,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Compare two locks or two image layouts (exit 0: same, 2: differ).
    Diff {
        #[command(flatten)]
        args: diff::Args,
        /// For a lock diff: packages.toml (its tag names, and the
        /// archives the changed .debs' changelogs are read from) is used
        /// when there is one.
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Show why a package is in an image (or which exclude removed it).
    Why {
        #[command(flatten)]
        args: why::Args,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// What the maintainer scripts of an image's packages would do, and
    /// what the build does about each (alternatives applied, the rest
    /// named).
    Scripts {
        #[command(flatten)]
        args: scripts::Args,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Resolve packages against a distro and print the full set.
    Resolve {
        #[command(flatten)]
        args: query::ResolveArgs,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Push the built layouts to a registry (blobs, manifests, SBOMs, tags).
    Push {
        #[command(flatten)]
        args: push::Args,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Add layers to an image in a registry or layout without pulling it
    /// (needs no packages.toml).
    Append(append::Args),
    /// Check that a registry serves what the lock builds (exit 0: same,
    /// 2: differs, with the files that differ).
    Verify {
        #[command(flatten)]
        args: verify::Args,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Check the download cache (`verify`) or trim it to what the locks
    /// use (`gc`).
    Cache {
        #[command(flatten)]
        args: cache::Args,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Print a shell completion script (`distill completions bash >
    /// /etc/bash_completion.d/distill`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, every command included (`distill man >
    /// distill.1`).
    Man,
    /// Signing keys in cosign's format (`distill key generate cosign`).
    #[command(subcommand)]
    Key(key::Command),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let (g, before) = (&cli.global, &cli.project);
    let result = match cli.command {
        Command::Diff { args, project } => {
            let p = project.or(before);
            let lock_diff =
                diff::is_lock_diff(&args) && (p.config.is_some() || p.config().is_file());
            match lock_diff {
                true => with_project(g, p, |project| diff::run(Some(project), args)),
                false => diff::run(None, args),
            }
        }
        Command::Append(args) => append::run(args),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
        Command::Key(command) => key::run(command),
        Command::Show { args, project } => {
            with_project(g, project.or(before), |p| query::show(p, args))
        }
        Command::Resolve { args, project } => {
            with_project(g, project.or(before), |p| query::resolve(p, args))
        }
        Command::Lock { args, project } => {
            with_project(g, project.or(before), |p| lock::run(p, g.quiet, args))
        }
        Command::Build { args, project } => {
            with_project(g, project.or(before), |p| build::run(p, args))
        }
        Command::Update { args, project } => {
            with_project(g, project.or(before), |p| update::run(p, args))
        }
        Command::Why { args, project } => {
            with_project(g, project.or(before), |p| why::run(p, args))
        }
        Command::Scripts { args, project } => {
            with_project(g, project.or(before), |p| scripts::run(p, args))
        }
        Command::Push { args, project } => {
            with_project(g, project.or(before), |p| push::run(p, args))
        }
        Command::Verify { args, project } => {
            with_project(g, project.or(before), |p| verify::run(p, args))
        }
        Command::Cache { args, project } => {
            let project = args.project().clone().or(&project.or(before));
            with_project(g, project, |p| cache::run(p, args))
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let causes = causes(&e);
            if g.verbose {
                eprintln!("error: {}", causes[0]);
                for c in &causes[1..] {
                    eprintln!("  caused by: {c}");
                }
            } else {
                eprintln!("error: {}", causes.join(": "));
            }
            ExitCode::from(1)
        }
    }
}

/// Runs `command` on the project of `--config`, then says once (unless
/// `--quiet`) which suites the run read from a mirror as it is now
/// instead of their pins, whether or not the command succeeded.
fn with_project(
    g: &Global,
    p: ProjectArgs,
    command: impl FnOnce(&Project) -> Result<u8>,
) -> Result<u8> {
    let project = open(g, &p)?;
    let result = command(&project);
    if let Some(note) = project.mirror_note().filter(|_| !g.quiet) {
        eprintln!("{note}");
    }
    result
}

/// The project of `--config`, in the environment the flags describe.
fn open(g: &Global, p: &ProjectArgs) -> Result<Project> {
    let cache_dir = match &p.cache_dir {
        Some(d) => d.clone(),
        None => directories::ProjectDirs::from("", "", "distill")
            .map(|d| d.cache_dir().to_path_buf())
            .ok_or_else(|| {
                Error::Message(
                    "cannot find a cache directory: no home directory; pass --cache-dir".into(),
                )
            })?,
    };
    let now = match parse::env_number("DISTILL_NOW")? {
        Some(t) => t,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| Error::Message(format!("cannot read the clock: {e}")))?
            .as_secs() as i64,
    };
    let env = EnvOptions {
        cache_dir,
        offline: p.offline,
        keyring: p.keyring.clone(),
        now,
        retry: retry()?,
        timeouts: timeouts()?,
    };
    Project::open(&p.config(), env, Arc::new(progress::Bars::new(g.quiet)))
}

/// The retry policy, with `DISTILL_RETRY_BASE_MS` as the first backoff
/// when set (tests shorten it).
pub(crate) fn retry() -> Result<RetryPolicy> {
    let mut r = RetryPolicy::default();
    if let Some(ms) = parse::env_number("DISTILL_RETRY_BASE_MS")? {
        r.base_delay = Duration::from_millis(ms.max(0) as u64);
    }
    Ok(r)
}

/// `DISTILL_READ_TIMEOUT` (seconds without a byte) and
/// `DISTILL_FILE_DEADLINE` (seconds for a whole file or registry
/// request), else the defaults.
pub(crate) fn timeouts() -> Result<Timeouts> {
    let mut t = Timeouts::default();
    let secs = |name: &str| -> Result<Option<Duration>> {
        Ok(match parse::env_number(name)? {
            Some(s) if s > 0 => Some(Duration::from_secs(s as u64)),
            Some(s) => {
                return Err(Error::Message(format!(
                    "cannot use {name}={s}: not a positive number of seconds"
                )));
            }
            None => None,
        })
    };
    if let Some(d) = secs("DISTILL_READ_TIMEOUT")? {
        t.read = d;
    }
    if let Some(d) = secs("DISTILL_FILE_DEADLINE")? {
        t.deadline = d;
    }
    Ok(t)
}
