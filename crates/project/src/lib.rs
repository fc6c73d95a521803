//! A distill project: `packages.toml` and the locks beside it, and every
//! command as an API taking typed options. The CLI is a shell over this
//! crate. Tests of what a command does may call it in-process
//! (`tests/tests/it`: `build::inprocess`, the lock's semantics in
//! `lock`, fuzzing and the live resolver checks), with the kit's
//! `Recorder` as observer; tests of the command-line contract (lines,
//! exit codes, what is left on disk) run the binary.
//!
//! - [`Config`]: packages.toml, typed and validated once: distros,
//!   [`ImageSpec`]s (with `extends`), [`BuildSpec`] (`[build]`) and
//!   upstream [`ArtifactSpec`]s (Node's builds, from a [`Feed`]);
//! - [`Project`]: a config opened with an environment ([`EnvOptions`]:
//!   cache, offline, keyring, clock) and an observer for progress and
//!   notes. Its commands:
//!   - [`Project::lock_distros`] resolves every image and writes the locks;
//!   - [`Project::build`] turns a lock into OCI layouts;
//!   - [`Project::update`] moves snapshot and artifact pins and re-locks;
//!   - [`Project::push`] publishes the built layouts to a registry, and
//!     [`Project::verify`] checks a registry serves what the lock builds,
//!     and [`append`] adds layers to an image crane-style (no project
//!     needed);
//!   - [`Project::why`], [`Project::show`], [`Project::resolve`] answer
//!     questions about the lock and the archive;
//! - [`diff_layouts`], [`diff_lock_files`]: what changed between two
//!   builds or two locks;
//! - [`Error`]: every failure, its causes kept as sources
//!   ([`distill_store::causes`] lists them).
//!
//! Nothing here prints: progress and notes go to the
//! [`distill_store::Observer`] given to [`Project::open`].

mod append;
mod build;
mod cache;
mod config;
mod diff;
mod error;
mod lock;
mod news;
mod project;
mod push;
mod query;
mod remote;
mod sign;
mod update;
mod verify;
mod why;

pub use append::{AppendOptions, Appended, append};
pub use build::{
    BuildOptions, BuildReport, Built, Format, PackageScripts, ScriptAction, ScriptsOptions,
    ScriptsReport, Status as ScriptStatus,
};
pub use cache::CacheReport;
pub use config::Config;
pub use config::artifacts::{ArtifactSpec, Feed};
pub use config::images::{
    DefinitionError, DistroPart, Exclude, ImagePlan, ImageSettings, ImageSpec, KeystoreSpec,
};
pub use config::spec::{BuildSpec, DirSpec, FileSpec, TagSpec};
pub use diff::{
    ConfigChange, FileChange, ImageDiff, LayerChanges, LayerRef, LayoutDiff, LockFilesDiff, Status,
    diff_layouts, diff_lock_files,
};
pub use distill_scripts::Kind as ScriptKind;
pub use error::{Error, Result};
pub use lock::{LockCheck, LockOptions, Locked};
pub use news::{News, PackageNews, SizeChange, highest};
pub use project::{EnvOptions, Project, read_lock_file};
pub use push::{PushOptions, PushReport};
pub use query::Found;
pub use sign::{KeylessOptions, TokenSource};
pub use update::{DistroUpdate, UpdateOptions, UpdateReport, UpdateTo};
pub use verify::{Verified, VerifyOptions};
pub use why::Why;
