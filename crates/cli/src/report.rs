//! Lock changes as a pull-request body (Markdown) or JSON: shared by
//! `distill update` and `distill diff`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use distill_lock::{BUILD_PACKAGES, LockDiff, PackageChange};
use distill_project::BuildSpec;

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

/// One distro's section of the Markdown summary.
pub(crate) fn markdown(
    diff: &LockDiff,
    images: &BTreeMap<String, BTreeSet<String>>,
    build: &BuildSpec,
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
        out += &format!("\n| {what} | from | to | in |\n|---|---|---|---|\n");
        for c in changes {
            out += &format!(
                "| {} | {} | {} | {} |\n",
                c.name,
                version(c.old.as_ref()),
                version(c.new.as_ref()),
                places(c, build)
            );
        }
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

/// The same as JSON.
pub(crate) fn json(
    diff: &LockDiff,
    images: &BTreeMap<String, BTreeSet<String>>,
) -> serde_json::Value {
    let list = |changes: &[PackageChange], key: &str| -> Vec<serde_json::Value> {
        changes
            .iter()
            .map(|c| serde_json::json!({
                key: c.name,
                "from": c.old,
                "to": c.new,
                "images": c.images.iter().map(|(i, a)| serde_json::json!({"image": i, "arch": a})).collect::<Vec<_>>(),
            }))
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
    out
}
