//! Lock changes as a pull-request body (Markdown) or JSON: shared by
//! `distill update` and `distill diff`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use distill_lock::{BUILD_PACKAGES, LockDiff, PackageChange};
use distill_project::{BuildSpec, News, PackageNews, SizeChange, highest};

/// `` `1.0-1` ``, or a dash for nothing.
fn version(v: Option<impl Display>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("`{v}`"))
}

/// Where a change lands: `base, cc (amd64, arm64)`.
fn places(c: &PackageChange, build: &BuildSpec) -> String {
    let mut by_image: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (image, arch) in &c.images {
        by_image.entry(image).or_default().insert(arch);
    }
    let archs: BTreeSet<&str> = by_image.values().flatten().copied().collect();
    let names: Vec<String> = by_image
        .keys()
        .map(|i| match *i {
            BUILD_PACKAGES if build.busybox.as_deref() == Some(c.name.as_str()) => {
                "every image (debug tags)".to_owned()
            }
            BUILD_PACKAGES if build.locales.as_deref() == Some(c.name.as_str()) => {
                "images with locales".to_owned()
            }
            BUILD_PACKAGES => "every image".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    format!(
        "{} ({})",
        names.join(", "),
        archs.into_iter().collect::<Vec<_>>().join(", ")
    )
}

/// How much of the changelog a summary shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entries {
    /// One line per entry: version, distribution, urgency, CVEs, bugs.
    Brief,
    /// The entries as written, in a collapsed block (pull requests).
    Full,
}

/// The line that says what a set of changes fixes: `fixes CVE-…, CVE-…;
/// urgency high`, or `None` when no entry names a CVE or an urgency.
pub(crate) fn summary<'n>(news: impl Iterator<Item = &'n News>) -> Option<String> {
    let news: Vec<&News> = news.collect();
    let cves: BTreeSet<String> = news.iter().flat_map(|n| n.cves()).collect();
    let urgency = highest(news.iter().filter_map(|n| n.urgency()));
    let urgency = urgency.map(|u| format!("urgency {u}"));
    match (cves.is_empty(), urgency) {
        (true, None) => None,
        (true, Some(u)) => Some(u),
        (false, u) => {
            let list: Vec<String> = cves.into_iter().collect();
            let mut line = format!("fixes {}", list.join(", "));
            if let Some(u) = u {
                line += &format!("; {u}");
            }
            Some(line)
        }
    }
}

/// A package's fixes in a table cell: `CVE-… (high)`, `downgrade`, or a
/// dash.
fn fixes(news: Option<&PackageNews>) -> String {
    let Some(n) = news else {
        return "—".to_owned();
    };
    if n.downgrade {
        return "**downgrade**".to_owned();
    }
    let cves = n.cves();
    let urgency = n.urgency().map(|u| format!("({u})"));
    match (cves.is_empty(), urgency) {
        (true, None) => "—".to_owned(),
        (true, Some(u)) => u,
        (false, u) => [cves.join(", "), u.unwrap_or_default()]
            .join(" ")
            .trim()
            .to_owned(),
    }
}

/// `12.3 MB`, or `840.2 kB` below a megabyte.
fn human(bytes: u64) -> String {
    match bytes {
        b if b < 1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{:.1} MB", b as f64 / 1e6),
    }
}

/// A size before and after: `12.3 MB → 12.4 MB (+52.1 kB)`; an image
/// only one lock has is `new`/`gone` (by `present`, the download pair,
/// which is always known); an installed size not known is `?`.
fn size_change(present: (Option<u64>, Option<u64>), size: (Option<u64>, Option<u64>)) -> String {
    match (present, size) {
        ((Some(_), Some(_)), (Some(o), Some(n))) => {
            let delta = n as i64 - o as i64;
            let sign = if delta < 0 { "−" } else { "+" };
            format!(
                "{} → {} ({sign}{})",
                human(o),
                human(n),
                human(delta.unsigned_abs())
            )
        }
        ((None, Some(_)), (_, Some(n))) => format!("new: {}", human(n)),
        ((Some(_), None), (Some(o), _)) => format!("gone (was {})", human(o)),
        _ => "?".to_owned(),
    }
}

/// The changelog entries of each changed package.
fn entries(diff: &LockDiff, news: &News, how: Entries) -> String {
    let mut out = String::new();
    for c in &diff.changes {
        let Some(n) = news.packages.get(&c.name) else {
            continue;
        };
        if n.downgrade {
            out += &format!(
                "- {}: **downgrade** from {} to {}\n",
                c.name,
                version(c.old.as_ref()),
                version(c.new.as_ref())
            );
            continue;
        }
        if let Some(why) = &n.missing {
            out += &format!("- {}: no changelog ({why})\n", c.name);
            continue;
        }
        match how {
            Entries::Brief => {
                for e in &n.entries {
                    let mut line = format!(
                        "- {} `{}` ({}, urgency {})",
                        c.name,
                        e.version,
                        e.distributions.join(" "),
                        e.urgency
                    );
                    if !e.cves.is_empty() {
                        line += &format!(": {}", e.cves.join(", "));
                    }
                    if !e.closes.is_empty() {
                        let bugs: Vec<String> = e.closes.iter().map(|b| format!("#{b}")).collect();
                        line += &format!("; closes {}", bugs.join(", "));
                    }
                    out += &line;
                    out += "\n";
                }
            }
            Entries::Full => {
                out += &format!(
                    "**{}** {} → {}\n\n```\n",
                    c.name,
                    version(c.old.as_ref()),
                    version(c.new.as_ref())
                );
                for e in &n.entries {
                    out += &e.text;
                    out += "\n\n";
                }
                out = out.trim_end().to_owned();
                out += "\n```\n\n";
            }
        }
    }
    out
}

/// The sizes that moved, per image and architecture.
fn sizes(diff: &LockDiff, sizes: &[SizeChange]) -> String {
    let moved: Vec<&SizeChange> = sizes
        .iter()
        .filter(|s| s.download.0 != s.download.1)
        .collect();
    if moved.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n| image | arch | .debs | installed |\n|---|---|---|---|\n");
    for s in moved {
        out += &format!(
            "| `{}-{}` | {} | {} | {} |\n",
            s.image,
            diff.distro,
            s.arch,
            size_change(s.download, s.download),
            size_change(s.download, s.installed)
        );
    }
    out
}

/// One distro's section of the Markdown summary; with `news`, each
/// package's fixes, its changelog entries (`how`) and the sizes.
pub(crate) fn markdown(
    diff: &LockDiff,
    images: &BTreeMap<String, BTreeSet<String>>,
    build: &BuildSpec,
    news: Option<&News>,
    how: Entries,
) -> String {
    let mut out = format!("### {}\n\n", diff.distro);
    for (archive, (old, new)) in &diff.pins {
        out += &format!(
            "- `{archive}` pinned to {} (was {})\n",
            version(new.as_ref()),
            version(old.as_ref())
        );
    }
    if diff.is_empty() {
        out += "\nNo package changed.\n";
        return out;
    }
    for (what, changes) in [("package", &diff.changes), ("artifact", &diff.artifacts)] {
        if changes.is_empty() {
            continue;
        }
        let with_fixes = news.is_some() && what == "package";
        out += &format!("\n| {what} | from | to | in |");
        out += if with_fixes {
            " fixes |\n|---|---|---|---|---|\n"
        } else {
            "\n|---|---|---|---|\n"
        };
        for c in changes {
            out += &format!(
                "| {} | {} | {} | {} |",
                c.name,
                version(c.old.as_ref()),
                version(c.new.as_ref()),
                places(c, build)
            );
            if with_fixes {
                out += &format!(" {} |", fixes(news.and_then(|n| n.packages.get(&c.name))));
            }
            out += "\n";
        }
    }
    if let Some(news) = news {
        let text = entries(diff, news, how);
        if !text.is_empty() {
            out += &match how {
                Entries::Brief => format!("\nDebian changelog:\n\n{text}"),
                Entries::Full => format!(
                    "\n<details><summary>Debian changelog entries</summary>\n\n{text}</details>\n"
                ),
            };
        }
        out += &sizes(diff, &news.sizes);
    }
    let tags: Vec<&str> = build.tags.keys().map(String::as_str).collect();
    out += "\nImages to rebuild (tags ";
    out += &tags.join(", ");
    out += "):\n\n";
    for (image, archs) in diff.affected(images) {
        out += &format!(
            "- `{image}-{}` ({})\n",
            diff.distro,
            archs.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    out
}

/// The same as JSON; with `news`, each package change carries its
/// `changelog` entries (or `downgrade`, or why it has none), and the
/// distro its `fixes`, `urgency` and `sizes`.
pub(crate) fn json(
    diff: &LockDiff,
    images: &BTreeMap<String, BTreeSet<String>>,
    news: Option<&News>,
) -> serde_json::Value {
    let list = |changes: &[PackageChange], key: &str| -> Vec<serde_json::Value> {
        changes
            .iter()
            .map(|c| {
                let mut v = serde_json::json!({
                    key: c.name,
                    "from": c.old,
                    "to": c.new,
                    "images": c.images.iter().map(|(i, a)| serde_json::json!({"image": i, "arch": a})).collect::<Vec<_>>(),
                });
                if let Some(n) = news.and_then(|n| n.packages.get(&c.name)) {
                    v["changelog"] = serde_json::to_value(&n.entries).expect("serialises");
                    if n.downgrade {
                        v["downgrade"] = true.into();
                    }
                    if let Some(why) = &n.missing {
                        v["changelog_missing"] = why.clone().into();
                    }
                }
                v
            })
            .collect()
    };
    let mut out = serde_json::json!({
        "distro": diff.distro,
        "pins": diff.pins.iter().map(|(a, (o, n))| (a.clone(), serde_json::json!({"from": o, "to": n}))).collect::<serde_json::Map<_, _>>(),
        "changes": list(&diff.changes, "package"),
        "rebuild": diff.affected(images),
    });
    // Only when there are any, so summaries of package-only changes read
    // as before.
    if !diff.artifacts.is_empty() {
        out["artifacts"] = list(&diff.artifacts, "artifact").into();
    }
    if let Some(n) = news {
        out["fixes"] = n.cves().into();
        out["urgency"] = n.urgency().into();
        out["sizes"] = n
            .sizes
            .iter()
            .map(|s| {
                serde_json::json!({
                    "image": s.image, "arch": s.arch,
                    "download": {"from": s.download.0, "to": s.download.1},
                    "installed": {"from": s.installed.0, "to": s.installed.1},
                })
            })
            .collect::<Vec<_>>()
            .into();
    }
    out
}
