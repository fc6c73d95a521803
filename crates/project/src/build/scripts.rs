//! What the image's packages' maintainer scripts would have done
//! (`distill_scripts` reads them), and what the build makes of it: the
//! alternatives dpkg's auto mode would choose become links in their own
//! layer; everything else is named, and is either covered by the build
//! (`ldconfig`), acknowledged in packages.toml (`scripts_ignored`), or
//! not applied.
//!
//! Links point straight at the chosen path, not through
//! `/etc/alternatives/NAME` as dpkg's do: that indirection exists so an
//! administrator can switch the choice with `update-alternatives`, which
//! an image has neither the tool nor the database for. Resolving a
//! command is one hop shorter, and the links are those distroless writes
//! by hand.

use std::collections::{BTreeMap, BTreeSet};

use distill_layer::{EntryInfo, Generated, Node, Tree, arch_info, usrmerge};
use distill_lock::LockedPackage;
use distill_scripts::{Action, Alternative, FileKind, Kind};
use serde::Serialize;

use super::layers::{Layers, Made};
use crate::config::images::ImageSettings;
use crate::error::{Result, fail};

/// What one package's scripts would do in one image.
#[derive(Debug, Clone, Serialize)]
pub struct PackageScripts {
    pub name: String,
    pub version: String,
    /// Added by the debug tags only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub debug: bool,
    pub actions: Vec<ScriptAction>,
}

/// One action, and what the build does about it.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptAction {
    /// `preinst`, `postinst` or `triggers`.
    pub script: String,
    pub kind: Kind,
    /// The command (or trigger directive) as the script would run it.
    pub command: String,
    pub status: Status,
    /// Why, where the status alone does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The links an applied alternative made: (link, target).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<(String, String)>,
    /// What packages.toml can declare instead, for what is not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instead: Option<&'static str>,
    /// The registration, for an alternative.
    #[serde(skip)]
    pub(crate) alternative: Option<Alternative>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The build did it (an alternative's links).
    Applied,
    /// Another package's alternative won.
    NotChosen,
    /// The build does what it was for (the loader's cache).
    Covered,
    /// packages.toml says why it does not matter.
    Acknowledged,
    /// Nobody does it.
    NotApplied,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::NotChosen => "not chosen",
            Status::Covered => "covered",
            Status::Acknowledged => "acknowledged",
            Status::NotApplied => "not applied",
        }
    }
}

/// The scripts of an image's stack, reviewed: per package what they
/// would do, and the alternatives' links (link path as placed → target).
pub(super) struct Review {
    pub packages: Vec<PackageScripts>,
    pub links: BTreeMap<String, String>,
}

impl Review {
    /// Packages with something not applied, and its kinds.
    pub(super) fn unapplied(&self) -> BTreeMap<String, BTreeSet<Kind>> {
        let mut out: BTreeMap<String, BTreeSet<Kind>> = BTreeMap::new();
        for p in &self.packages {
            for a in p.actions.iter().filter(|a| a.status == Status::NotApplied) {
                out.entry(p.name.clone()).or_default().insert(a.kind);
            }
        }
        out
    }

    /// The layer of the links, if there are any.
    pub(super) fn layer(&self, layers: &Layers) -> Result<Option<Made>> {
        if self.links.is_empty() {
            return Ok(None);
        }
        let mut g = Generated::new();
        for (link, target) in &self.links {
            g.add(link, Node::Symlink(target.clone()))?;
        }
        let what = format!("alternatives {g:?}");
        layers
            .generated(&what, "alternatives".into(), &[], || Ok(g))
            .map(Some)
    }
}

/// Reviews the scripts of `pkgs` (each with its layer, and whether only
/// the debug tags add it) in the image whose layers are `below`, for
/// `arch`.
pub(super) fn review(
    image: &str,
    settings: &ImageSettings,
    arch: &str,
    usrmerged: bool,
    pkgs: &[(&LockedPackage, &Made, bool)],
    below: &[&Made],
) -> Result<Review> {
    let mut tree = Tree::new();
    for m in below {
        tree.add(&m.label, &m.layer.entries, m.generated)
            .map_err(|e| fail!("cannot build {image} {arch}: {e}"))?;
    }
    let triplet = arch_info(arch).map(|(t, _, _)| t);
    let mut packages = Vec::new();
    for (p, made, debug) in pkgs {
        let own: BTreeMap<&str, &str> = made
            .layer
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind.as_str()))
            .collect();
        let file = |path: &str| {
            let rel = path.trim_start_matches('/').trim_end_matches('/');
            let rel = if usrmerged {
                usrmerge(rel)
            } else {
                rel.to_owned()
            };
            own.get(rel.as_str()).map(|k| match *k {
                "dir" => FileKind::Dir,
                "symlink" => FileKind::Symlink,
                _ => FileKind::File,
            })
        };
        let actions = distill_scripts::actions(&made.scripts, &p.name, arch, triplet, &file);
        packages.push(PackageScripts {
            name: p.name.clone(),
            version: p.version.clone(),
            debug: *debug,
            actions: actions.into_iter().map(|a| judge(a, p, settings)).collect(),
        });
    }
    let links = choose(image, arch, settings, &tree, &mut packages)?;
    Ok(Review { packages, links })
}

/// What the build does about an action other than an alternative.
fn judge(a: Action, p: &LockedPackage, settings: &ImageSettings) -> ScriptAction {
    let (status, why) = match a.kind {
        Kind::Alternative => (Status::NotApplied, None),
        Kind::Ldconfig if settings.ld_so_cache => (
            Status::Covered,
            Some("the image's /etc/ld.so.cache lists its libraries".to_owned()),
        ),
        Kind::Ldconfig => (
            Status::Covered,
            Some("the loader finds Debian's library directories without a cache".to_owned()),
        ),
        _ => match settings.scripts_ignored.get(&p.name) {
            Some(reason) => (Status::Acknowledged, Some(reason.clone())),
            None => (Status::NotApplied, None),
        },
    };
    let instead =
        (status == Status::NotApplied && a.kind != Kind::Alternative).then(|| a.kind.instead());
    // An alternative is judged in `choose`, against the others.
    ScriptAction {
        script: a.script,
        kind: a.kind,
        command: a.command,
        status,
        why,
        links: Vec::new(),
        instead,
        alternative: a.alternative,
    }
}

/// One registration of an alternative: which package, which action.
struct Choice {
    package: usize,
    action: usize,
    alt: Alternative,
}

/// dpkg's auto mode over every alternative the packages register, in
/// their order: per name, the highest priority whose path the image has
/// wins, the first registered on a tie (dpkg keeps its current choice,
/// and the first registration made it current); `alternatives` in
/// packages.toml pins a choice instead. Marks each registration's
/// action; returns the links (placed path → target).
fn choose(
    image: &str,
    arch: &str,
    settings: &ImageSettings,
    tree: &Tree<'_>,
    packages: &mut [PackageScripts],
) -> Result<BTreeMap<String, String>> {
    let mut groups: BTreeMap<String, Vec<Choice>> = BTreeMap::new();
    for (pi, p) in packages.iter().enumerate() {
        for (ai, a) in p.actions.iter().enumerate() {
            if let Some(alt) = &a.alternative {
                groups.entry(alt.name.clone()).or_default().push(Choice {
                    package: pi,
                    action: ai,
                    alt: alt.clone(),
                });
            }
        }
    }
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    let mut links = BTreeMap::new();
    for (name, choices) in &groups {
        let present: Vec<usize> = (0..choices.len())
            .filter(|&i| resolve(tree, &choices[i].alt.path).is_some())
            .collect();
        let chosen = match settings.alternatives.get(name) {
            Some(path) => Some(
                *present
                    .iter()
                    .find(|&&i| &choices[i].alt.path == path)
                    .ok_or_else(|| {
                        let paths: Vec<&str> =
                            present.iter().map(|&i| choices[i].alt.path.as_str()).collect();
                        fail!(
                            "cannot build {image}: alternatives pins {name} to {path}, which no package of the image provides (choices: {})",
                            if paths.is_empty() { "none".to_owned() } else { paths.join(", ") }
                        )
                    })?,
            ),
            // Strictly higher wins: on a tie the earlier stays.
            None => present.iter().copied().fold(None, |best: Option<usize>, i| match best {
                Some(b) if choices[b].alt.priority >= choices[i].alt.priority => Some(b),
                _ => Some(i),
            }),
        };
        // The group's link is the one its first registration names, as
        // dpkg keeps the master link of an existing group.
        let master = choices[0].alt.link.clone();
        for (i, c) in choices.iter().enumerate() {
            let a = &mut packages[c.package].actions[c.action];
            if !present.contains(&i) {
                a.status = Status::NotApplied;
                a.why = Some(format!(
                    "the image has no {} (dpkg would refuse it)",
                    c.alt.path
                ));
                continue;
            }
            let Some(w) = chosen.filter(|&w| w == i).map(|w| &choices[w]) else {
                let w = &choices[chosen.expect("a present choice means a chosen one")];
                a.status = Status::NotChosen;
                a.why = Some(format!(
                    "{name} is {} (priority {}, from {})",
                    w.alt.path, w.alt.priority, names[w.package]
                ));
                continue;
            };
            let mut made = Vec::new();
            let mut refused = Vec::new();
            let slaves = w
                .alt
                .slaves
                .iter()
                .filter(|s| resolve(tree, &s.path).is_some())
                .map(|s| (s.link.as_str(), s.path.as_str()));
            for (link, target) in
                std::iter::once((master.as_str(), w.alt.path.as_str())).chain(slaves)
            {
                match place(tree, link) {
                    // packages.toml's own symlink wins; the same one is
                    // the alternative applied by hand.
                    Ok(placed) if settings.symlinks.contains_key(link) => {
                        if settings.symlinks[link].replace("{arch}", arch) == target {
                            made.push((format!("/{placed}"), target.to_owned()));
                        } else {
                            refused.push(format!("{link}: the image's own symlink is there"));
                        }
                    }
                    Ok(placed) => {
                        made.push((format!("/{placed}"), target.to_owned()));
                        links.insert(placed, target.to_owned());
                    }
                    Err(why) => refused.push(why),
                }
            }
            a.status = if made.is_empty() {
                Status::NotApplied
            } else {
                Status::Applied
            };
            a.why = (!refused.is_empty()).then(|| format!("not linked: {}", refused.join("; ")));
            // (A slave whose directory the image lacks is left out, where
            // dpkg would fail the install: distroless drops man pages.)
            a.links = made;
        }
    }
    Ok(links)
}

/// The entry `path` (absolute) names in the image, symlinks followed as
/// the kernel would; `None` when nothing is there.
fn resolve<'t>(tree: &Tree<'t>, path: &str) -> Option<&'t EntryInfo> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
    let mut hops = 0;
    let mut last = None;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        parts.push(part);
        let here = parts.join("/");
        let (_, e) = tree.get(&here)?;
        if let (Some(target), "symlink") = (&e.target, e.kind.as_str()) {
            hops += 1;
            if hops > 40 {
                return None;
            }
            parts.pop();
            if target.starts_with('/') {
                parts.clear();
            }
            todo.extend(target.split('/').rev().map(str::to_owned));
            last = None;
            continue;
        }
        last = Some(e);
    }
    last
}

/// Where a link at `link` (absolute) goes in a layer: its directory
/// resolved (merged /usr: `/bin/x` is `usr/bin/x`), which must exist; an
/// entry already there must be a symlink (dpkg replaces no file with a
/// link).
fn place(tree: &Tree<'_>, link: &str) -> std::result::Result<String, String> {
    let (dir, name) = link
        .trim_end_matches('/')
        .rsplit_once('/')
        .unwrap_or(("", link));
    let parent = if dir.is_empty() {
        String::new()
    } else {
        let e = resolve(tree, dir).ok_or_else(|| format!("{link}: the image has no {dir}"))?;
        if e.kind != "dir" {
            return Err(format!("{link}: {dir} is not a directory"));
        }
        e.path.clone()
    };
    let placed = if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    };
    match tree.get(&placed) {
        Some((owner, e)) if e.kind != "symlink" => Err(format!("{link}: a {} of {owner}", e.kind)),
        _ => Ok(placed),
    }
}
