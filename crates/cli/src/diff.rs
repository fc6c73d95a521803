//! `distill diff OLD NEW`: two locks or two image layouts. Exit 0 when
//! they are the same, 2 when they differ.

use std::path::{Path, PathBuf};

use distill_image::LayoutReader;
use distill_layer::EntryInfo;
use distill_project::{
    BuildSpec, Config, Error, LayoutDiff, Result, Status, diff_layouts, diff_lock_files,
};

use crate::output::{emit, emit_json};
use crate::report;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The old lock file or image layout directory.
    old: PathBuf,
    /// The new one, of the same kind.
    new: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(config: Option<&Path>, args: Args) -> Result<u8> {
    let (old, new) = (&args.old, &args.new);
    let differ = if LayoutReader::is_layout(old) && LayoutReader::is_layout(new) {
        let d = diff_layouts(old, new)?;
        match args.json {
            true => emit_json(&d, false)?,
            false if d.is_empty() => emit("no differences\n")?,
            false => emit(&layouts_text(&d))?,
        }
        !d.is_empty()
    } else if old.is_file() && new.is_file() {
        let (diff, images) = diff_lock_files(old, new)?;
        let differ = !diff.is_empty() || !diff.pins.is_empty();
        match args.json {
            true => emit_json(&report::json(&diff, &images), false)?,
            false if !differ => emit("no differences\n")?,
            false => emit(&report::markdown(&diff, &images, &build_spec(config)?))?,
        }
        differ
    } else {
        return Err(Error::Message(format!(
            "cannot diff {} and {}: {}",
            old.display(),
            new.display(),
            mismatch(old, new)
        )));
    };
    Ok(if differ { 2 } else { 0 })
}

/// Why two paths cannot be compared: one is missing, or they are of two
/// kinds.
fn mismatch(old: &Path, new: &Path) -> String {
    let kind = |p: &Path| {
        if LayoutReader::is_layout(p) {
            "an image layout"
        } else if p.is_file() {
            "a file (a lock)"
        } else if p.is_dir() {
            "a directory that is not an image layout"
        } else {
            "not there"
        }
    };
    match (kind(old), kind(new)) {
        ("not there", _) => format!("{} is not there", old.display()),
        (_, "not there") => format!("{} is not there", new.display()),
        (a, b) => format!(
            "{} is {a}, {} {b}; give two lock files or two image layouts",
            old.display(),
            new.display()
        ),
    }
}

/// The tag names of the summary come from packages.toml when there is
/// one (a lock diff needs no project otherwise); a `--config` given must
/// be there.
fn build_spec(config: Option<&Path>) -> Result<BuildSpec> {
    let default = Path::new("packages.toml");
    match config {
        Some(c) => Ok(Config::load(c)?.build),
        None if default.is_file() => Ok(Config::load(default)?.build),
        None => Ok(BuildSpec::default()),
    }
}

fn brief(e: &EntryInfo) -> String {
    let mut s = format!("{} {:04o} {}:{}", e.kind, e.mode, e.uid, e.gid);
    if e.kind == "file" {
        s += &format!(" {} bytes", e.size);
    }
    if let Some(t) = &e.target {
        s += &format!(" -> {t}");
    }
    s
}

pub(crate) fn layouts_text(d: &LayoutDiff) -> String {
    let mut text = String::new();
    for i in &d.images {
        let (tag, platform) = (&i.tag, &i.platform);
        match i.status {
            Status::Added => text += &format!("{tag} {platform}: added\n"),
            Status::Removed => text += &format!("{tag} {platform}: removed\n"),
            Status::Changed => {
                text += &format!("{tag} {platform}: changed\n");
                for c in &i.config {
                    text += &format!("  config {}: {} -> {}\n", c.field, c.old, c.new);
                }
                for l in &i.layers.added {
                    text += &format!("  layer + {} {}\n", l.digest, l.created_by);
                }
                for l in &i.layers.removed {
                    text += &format!("  layer - {} {}\n", l.digest, l.created_by);
                }
                for f in &i.files {
                    let p = &f.path;
                    text += &match (&f.old, &f.new) {
                        (Some(a), Some(b)) => {
                            let mut line = format!("  file ~ /{p}: {} -> {}\n", brief(a), brief(b));
                            if a.sha256 != b.sha256 && a.kind == "file" && b.kind == "file" {
                                line += "    content changed\n";
                            }
                            line
                        }
                        (None, Some(b)) => format!("  file + /{p}: {}\n", brief(b)),
                        (Some(a), None) => format!("  file - /{p}: {}\n", brief(a)),
                        (None, None) => String::new(),
                    };
                }
            }
        }
    }
    text
}
