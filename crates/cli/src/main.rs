//! The `distill` command line. Thin on purpose: parse arguments, load the
//! configuration, call the library crates, print. It is the only crate
//! that prints.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod build;
mod context;
mod diff;
mod load;
mod lock;
mod progress;
mod report;
mod resolve;
mod show;
mod update;
mod why;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "distill",
    version,
    about = "Minimal container images from verified Debian packages"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
pub struct Global {
    /// The image and distro definitions.
    #[arg(long, global = true, default_value = "packages.toml")]
    config: PathBuf,
    /// Where downloads are cached (default: $XDG_CACHE_HOME/distill).
    #[arg(long, global = true, env = "DISTILL_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Use only the cache; fail instead of downloading.
    #[arg(long, global = true)]
    offline: bool,
    /// Trust this OpenPGP keyring instead of the built-in Debian keyring.
    #[arg(long, global = true)]
    keyring: Option<PathBuf>,
    /// No progress bars or notices.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Print the verified index stanza(s) of a package, like apt-cache show.
    Show(show::Args),
    /// Resolve every image and write snapshots/<distro>.lock.
    Lock(lock::Args),
    /// Build the images from the lock as OCI image layouts.
    Build(build::Args),
    /// Move the snapshot pins forward, re-lock, and summarise the changes
    /// (exit 0: nothing changed, 2: a lock changed).
    Update(update::Args),
    /// Compare two locks or two image layouts (exit 0: same, 2: differ).
    Diff(diff::Args),
    /// Show why a package is in an image (or which exclude removed it).
    Why(why::Args),
    /// Resolve packages against a distro and print the full set.
    Resolve(resolve::Args),
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
    let result = match cli.command {
        Command::Show(args) => show::run(&cli.global, args),
        Command::Resolve(args) => resolve::run(&cli.global, args),
        Command::Lock(args) => lock::run(&cli.global, args),
        Command::Build(args) => build::run(&cli.global, args),
        Command::Update(args) => update::run(&cli.global, args),
        Command::Diff(args) => diff::run(&cli.global, args),
        Command::Why(args) => why::run(&cli.global, args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
