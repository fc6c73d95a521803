//! `distill diff OLD NEW`: two locks or two image layouts. Exit 0 when
//! they are the same, 2 when they differ.

use std::path::{Path, PathBuf};

use distill_image::LayoutReader;
use distill_layer::EntryInfo;
use distill_project::{Error, LayoutDiff, Project, Result, Status, diff_layouts, diff_lock_files};

use crate::output::{emit, emit_json};
use crate::report::{self, Entries};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The old lock file or image layout directory.
    old: PathBuf,
    /// The new one, of the same kind.
    new: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// For locks: each changed package's Debian changelog entries as
    /// written (default: one line per entry).
    #[arg(long)]
    changelog: bool,
}

/// Whether `args` name two lock files (not two layouts).
pub(crate) fn is_lock_diff(args: &Args) -> bool {
    args.old.is_file() && args.new.is_file()
}

/// Runs the diff; a lock diff with a `project` also reads what the
/// changes bring (changelogs, sizes).
pub(crate) fn run(project: Option<&Project>, args: Args) -> Result<u8> {
    let (old, new) = (&args.old, &args.new);
    let differ = if LayoutReader::is_layout(old) && LayoutReader::is_layout(new) {
        let d = diff_layouts(old, new)?;
        match args.json {
            true => emit_json(&d, false)?,
            false if d.is_empty() => emit("no differences\n")?,
            false => emit(&layouts_text(&d))?,
        }
        !d.is_empty()
    } else if is_lock_diff(&args) {
        let d = diff_lock_files(old, new)?;
        let differ = !d.diff.is_empty() || !d.diff.pins.is_empty();
        let news = match project {
            Some(p) if !d.diff.is_empty() => Some(p.news(&d.old, &d.new, &d.diff)?),
            _ => None,
        };
        let build = project
            .map(|p| p.config().build.clone())
            .unwrap_or_default();
        let how = if args.changelog {
            Entries::Full
        } else {
            Entries::Brief
        };
        match args.json {
            true => emit_json(&report::json(&d.diff, &d.images, news.as_ref()), false)?,
            false if !differ => emit("no differences\n")?,
            false => {
                let mut text = String::new();
                if let Some(line) = report::summary(news.iter()) {
                    text += &format!("{}\n\n", capitalise(&line));
                }
                text += &report::markdown(&d.diff, &d.images, &build, news.as_ref(), how);
                emit(&text)?
            }
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

/// `Fixes …` for a line that starts a text.
pub(crate) fn capitalise(line: &str) -> String {
    let mut c = line.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
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
