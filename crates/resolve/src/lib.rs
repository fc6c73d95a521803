//! Dependency resolution over verified package indices, the way apt does
//! it for `install --no-install-recommends` into an empty system:
//!
//! - one candidate per package name: the highest version among the
//!   architecture's own and `Architecture: all` stanzas of every suite;
//! - `Pre-Depends` and `Depends`, transitively; `Recommends` are not
//!   followed and `Essential` packages are not added implicitly;
//! - alternatives: one already chosen wins, else the first satisfiable;
//!   a real package beats a virtual one;
//! - `Provides`: an unversioned provide satisfies only unversioned
//!   relations, a versioned one (`Provides: x (= 1)`) versioned ones too;
//! - `pkg:any` needs `Multi-Arch: allowed`; `pkg:native` and `pkg:<arch>`
//!   name the image's own architecture;
//! - cycles are fine: a package is chosen once, its edges recorded;
//! - excluded names are never chosen; a relation only they could satisfy
//!   is cut, and the cut is remembered with its reason;
//! - `Conflicts` / `Breaks` inside the chosen set are errors.
//!
//! The result keeps the dependency graph (petgraph) so `why` can show the
//! paths from the roots to any package.
//!
//! One file of ~650 lines on purpose: the universe's private tables (names,
//! candidates chosen on first lookup, providers) and the resolution loop
//! that reads them are one piece; split, the tables would have to become
//! an internal API. The rule-by-rule tests are in `tests.rs`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::OnceLock;

use distill_debian::{
    Dependency, Paragraph, Relation, compare_versions, paragraphs, parse_relations,
};
use petgraph::graph::{DiGraph, NodeIndex};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("cannot resolve {name}: no package of that name for {arch}")]
    UnknownRoot { name: String, arch: String },
    #[error(
        "cannot resolve {root}: {chain} needs `{relation}`, which nothing for {arch} satisfies"
    )]
    Missing {
        root: String,
        chain: String,
        relation: String,
        arch: String,
    },
    #[error("cannot resolve {root}: root {root} is excluded ({reason})")]
    ExcludedRoot { root: String, reason: String },
    #[error("cannot resolve: {a} {rule} `{relation}`, and {b} is in the set")]
    Conflict {
        a: String,
        b: String,
        rule: &'static str,
        relation: String,
    },
    #[error("cannot resolve: package {name}: {cause}")]
    BadStanza { name: String, cause: String },
    #[error("cannot read a package index: {0}")]
    BadIndex(String),
}

/// The universe's tables are only ever looked up (never iterated into
/// output), so they use a fast fixed hash instead of SipHash: a quarter of
/// the universe build went to hashing 60k names.
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

const FIELDS: [&str; 5] = [
    "Package",
    "Version",
    "Architecture",
    "Multi-Arch",
    "Provides",
];

/// A candidate package: the fields the resolver and the lock need.
#[derive(Debug, Clone)]
pub struct Package<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub multi_arch: &'a str,
    pub provides: Option<&'a str>,
    /// The stanza's text; [`Package::stanza`] parses it on demand (the
    /// resolver touches a few hundred of the tens of thousands).
    pub text: &'a str,
    /// The caller's tag for the index this stanza came from.
    pub origin: usize,
}

impl<'a> Package<'a> {
    /// The full stanza.
    pub fn stanza(&self) -> Paragraph<'a> {
        distill_debian::paragraphs(self.text)
            .next()
            .and_then(Result::ok)
            .expect("a stanza that parsed once parses again")
    }
}

/// One stanza of an index, as the universe takes it: its text (borrowed
/// from the index), its `Package` name, and the caller's tag for the index.
#[derive(Debug, Clone, Copy)]
pub struct Stanza<'a> {
    pub origin: usize,
    pub name: &'a str,
    pub text: &'a str,
    /// The value of its `Provides` field: found by the pass that split
    /// the index, so building a universe parses nothing.
    pub provides: Option<&'a str>,
}

/// Every stanza of one name, and the candidate among them, chosen on the
/// first lookup (a resolution touches a few hundred of 60k names).
struct Entry<'a> {
    /// Most names have one stanza: kept inline, no allocation.
    first: (usize, &'a str),
    more: Vec<(usize, &'a str)>,
    /// Boxed: 60k entries stay small (the map's memory is most of the
    /// universe's build time), and only a few hundred are ever chosen.
    chosen: OnceLock<Option<Box<Package<'a>>>>,
}

/// All candidates for one architecture.
pub struct Universe<'a> {
    arch: String,
    /// A hash map for speed (60k names): it is only ever looked up.
    names: Map<&'a str, Entry<'a>>,
    /// Virtual name → (provider, provided version, the providing stanza);
    /// a provide counts only while that stanza is its name's candidate.
    providers: Providers<'a>,
}

impl<'a> Universe<'a> {
    /// Builds the universe from the stanzas of every suite of a distro
    /// for `arch` (suite order does not matter: highest version wins, as
    /// with equal apt pins). Nothing is parsed here but `Provides` values:
    /// an index loaded once (like apt's package cache) gives a universe in
    /// a few tens of milliseconds.
    pub fn new(
        arch: &str,
        stanzas: impl IntoIterator<Item = Stanza<'a>>,
    ) -> Result<Universe<'a>, ResolveError> {
        let mut names: Map<&'a str, Entry<'a>> =
            Map::with_capacity_and_hasher(1 << 16, Default::default());
        let mut providers: Providers<'a> =
            Map::with_capacity_and_hasher(1 << 13, Default::default());
        for s in stanzas {
            match names.entry(s.name) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    e.get_mut().more.push((s.origin, s.text))
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(Entry {
                        first: (s.origin, s.text),
                        more: Vec::new(),
                        chosen: OnceLock::new(),
                    });
                }
            }
            if let Some(field) = s.provides {
                for (virt, version) in provided(s.name, field)? {
                    providers
                        .entry(virt)
                        .or_default()
                        .push((s.name, version, s.text));
                }
            }
        }
        Ok(Universe {
            arch: arch.to_owned(),
            names,
            providers,
        })
    }

    /// The universe of whole Packages texts, each tagged with its origin
    /// (tests and benchmarks; the CLI hands over its parsed indices).
    pub fn from_texts(
        arch: &str,
        texts: impl IntoIterator<Item = (usize, &'a str)>,
    ) -> Result<Universe<'a>, ResolveError> {
        let mut stanzas = Vec::new();
        for (origin, text) in texts {
            let mut it = paragraphs(text);
            while let Some(next) = it.next_fields(["Package", "Provides"]) {
                let (text, [name, provides]) =
                    next.map_err(|e| ResolveError::BadIndex(e.to_string()))?;
                if let Some(name) = name {
                    stanzas.push(Stanza {
                        origin,
                        name,
                        text,
                        provides,
                    });
                }
            }
        }
        Universe::new(arch, stanzas)
    }

    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The candidate of `name`: the highest version among its stanzas of
    /// the universe's architecture or `all`.
    pub fn get(&self, name: &str) -> Option<&Package<'a>> {
        let entry = self.names.get(name)?;
        entry
            .chosen
            .get_or_init(|| {
                let all = std::iter::once(&entry.first).chain(&entry.more);
                self.choose(name, all).map(Box::new)
            })
            .as_deref()
    }

    fn choose<'s>(
        &self,
        name: &str,
        stanzas: impl Iterator<Item = &'s (usize, &'a str)>,
    ) -> Option<Package<'a>>
    where
        'a: 's,
    {
        let mut best: Option<Package<'a>> = None;
        for &(origin, text) in stanzas {
            let Some(Ok((text, [n, version, parch, multi_arch, provides]))) =
                paragraphs(text).next_fields(FIELDS)
            else {
                continue;
            };
            let (Some(n), Some(version), Some(parch)) = (n, version, parch) else {
                continue;
            };
            if n != name || (parch != self.arch && parch != "all") {
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|b| compare_versions(version, b.version).is_gt())
            {
                best = Some(Package {
                    name: n,
                    version,
                    arch: parch,
                    multi_arch: multi_arch.unwrap_or("no"),
                    provides,
                    text,
                    origin,
                });
            }
        }
        best
    }

    /// A name the resolution already found a candidate for.
    fn must(&self, name: &str) -> &Package<'a> {
        self.get(name).expect("resolved names have candidates")
    }

    /// Does the candidate `name` itself satisfy `dep` (name, version,
    /// architecture qualifier)?
    fn real_satisfies(&self, name: &str, dep: &Dependency) -> bool {
        let Some(c) = self.get(name) else {
            return false;
        };
        if c.name != dep.name || !dep.version_matches(Some(c.version)) {
            return false;
        }
        match dep.arch_qualifier.as_deref() {
            None | Some("native") => true,
            Some("any") => c.multi_arch == "allowed",
            Some(a) => a == self.arch || c.arch == "all",
        }
    }

    /// Candidates that provide `dep`, best first: apt prefers the provider
    /// with the most important `Priority` (mawk, `required`, over gawk,
    /// `optional`, for `awk`), then we take name order. (Every candidate is
    /// of the image's architecture or `all`, so an arch qualifier on a
    /// virtual name has nothing more to rule out.)
    fn providers_of(&self, dep: &Dependency) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = self
            .providers
            .get(dep.name.as_str())
            .into_iter()
            .flatten()
            .filter(|(p, v, text)| {
                dep.version_matches(v.as_deref())
                    && self
                        .get(p)
                        .is_some_and(|c| std::ptr::eq(c.text.as_ptr(), text.as_ptr()))
            })
            .map(|(p, _, _)| *p)
            .collect();
        out.sort_by_key(|p| (priority_rank(self.must(p).stanza().get("Priority")), *p));
        out.dedup();
        out
    }

    /// Resolves `roots` with `excludes` (name → reason).
    pub fn resolve(
        &self,
        roots: &[String],
        excludes: &BTreeMap<String, String>,
    ) -> Result<Resolution, ResolveError> {
        let mut graph: DiGraph<String, String> = DiGraph::new();
        let mut nodes: BTreeMap<&'a str, NodeIndex> = BTreeMap::new();
        let mut parent: BTreeMap<&'a str, &'a str> = BTreeMap::new();
        let mut queue: VecDeque<&'a str> = VecDeque::new();
        let mut cuts: BTreeMap<String, Cut> = BTreeMap::new();
        let mut root_nodes = Vec::new();

        for root in roots {
            if let Some(reason) = excludes.get(root) {
                return Err(ResolveError::ExcludedRoot {
                    root: root.clone(),
                    reason: reason.clone(),
                });
            }
            let Some(c) = self.get(root.as_str()) else {
                return Err(ResolveError::UnknownRoot {
                    name: root.clone(),
                    arch: self.arch.clone(),
                });
            };
            if !nodes.contains_key(c.name) {
                let n = graph.add_node(c.name.to_owned());
                nodes.insert(c.name, n);
                queue.push_back(c.name);
                root_nodes.push(n);
            }
        }

        while let Some(name) = queue.pop_front() {
            let pkg = &self.must(name);
            let mut rels = Vec::new();
            for field in ["Pre-Depends", "Depends"] {
                if let Some(v) = pkg.stanza().get(field) {
                    rels.extend(relations(name, v)?);
                }
            }
            for rel in rels {
                let alts: Vec<&Dependency> = rel
                    .alternatives
                    .iter()
                    .filter(|d| d.applies_to(&self.arch))
                    .collect();
                if alts.is_empty() {
                    continue;
                }
                let label = rel.to_string();
                // 1. Already satisfied by something chosen?
                let chosen = alts.iter().find_map(|d| {
                    if nodes.contains_key(d.name.as_str()) && self.real_satisfies(&d.name, d) {
                        return Some(self.must(d.name.as_str()).name);
                    }
                    self.providers_of(d)
                        .into_iter()
                        .find(|p| nodes.contains_key(p))
                });
                let target = match chosen {
                    Some(t) => Some(t),
                    None => {
                        // 2. First satisfiable alternative, real before virtual.
                        alts.iter().find_map(|d| {
                            if excludes.contains_key(&d.name) {
                                return None;
                            }
                            if self.real_satisfies(&d.name, d) {
                                return Some(self.must(d.name.as_str()).name);
                            }
                            self.providers_of(d)
                                .into_iter()
                                .find(|p| !excludes.contains_key(*p))
                        })
                    }
                };
                match target {
                    Some(t) => {
                        let tn = *nodes.entry(t).or_insert_with(|| {
                            queue.push_back(t);
                            parent.insert(t, name);
                            graph.add_node(t.to_owned())
                        });
                        if tn != nodes[name] {
                            graph.add_edge(nodes[name], tn, label);
                        }
                    }
                    None => {
                        let blocked: Vec<&str> = alts
                            .iter()
                            .map(|d| d.name.as_str())
                            .filter(|n| excludes.contains_key(*n))
                            .collect();
                        let needed_by = chain(&parent, name);
                        if blocked.is_empty() {
                            return Err(ResolveError::Missing {
                                root: needed_by[0].clone(),
                                chain: needed_by.join(" -> "),
                                relation: label,
                                arch: self.arch.clone(),
                            });
                        }
                        for b in blocked {
                            cuts.entry(b.to_owned()).or_insert_with(|| Cut {
                                reason: excludes[b].clone(),
                                needed_by: needed_by.clone(),
                                relation: label.clone(),
                            });
                        }
                    }
                }
            }
        }

        let chosen: BTreeSet<&str> = nodes.keys().copied().collect();
        self.check_conflicts(&chosen)?;
        let packages = nodes.keys().map(|n| self.must(n).clone()).map(|p| Chosen {
            name: p.name.to_owned(),
            version: p.version.to_owned(),
            arch: p.arch.to_owned(),
        });
        Ok(Resolution {
            packages: packages.map(|c| (c.name.clone(), c)).collect(),
            graph,
            roots: root_nodes,
            cuts,
        })
    }

    fn check_conflicts(&self, chosen: &BTreeSet<&str>) -> Result<(), ResolveError> {
        for &name in chosen {
            let pkg = &self.must(name);
            for (field, rule) in [("Conflicts", "conflicts with"), ("Breaks", "breaks")] {
                let Some(v) = pkg.stanza().get(field) else {
                    continue;
                };
                for rel in relations(name, v)? {
                    for d in &rel.alternatives {
                        if !d.applies_to(&self.arch) {
                            continue;
                        }
                        let real_hit = d.name != name && chosen.contains(d.name.as_str()) && {
                            let other = &self.must(d.name.as_str());
                            d.version_matches(Some(other.version))
                        };
                        // A virtual conflict hits every other provider, but
                        // only unversioned ones (versioned provides are
                        // matched like real versions).
                        let virtual_hit = self
                            .providers_of(d)
                            .into_iter()
                            .find(|p| *p != name && chosen.contains(p));
                        if let Some(b) = real_hit
                            .then(|| d.name.clone())
                            .or(virtual_hit.map(str::to_owned))
                        {
                            return Err(ResolveError::Conflict {
                                a: name.to_owned(),
                                b,
                                rule,
                                relation: d.to_string(),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// dpkg's priorities, most important first; unknown or missing last.
fn priority_rank(priority: Option<&str>) -> u8 {
    match priority {
        Some("required") => 0,
        Some("important") => 1,
        Some("standard") => 2,
        Some("optional") => 3,
        Some("extra") => 4,
        _ => 5,
    }
}

/// The (name, version) pairs of a `Provides` field. Nearly every field is
/// plain `a, b (= 1)`, read here without allocating (this runs for every
/// candidate of a 60k-package universe); anything else goes through the
/// full relation parser.
fn provided<'a>(name: &str, field: &'a str) -> Result<Vec<Provided<'a>>, ResolveError> {
    let simple = |item: &'a str| -> Option<Provided<'a>> {
        let item = item.trim();
        let (virt, rest) = item
            .split_once(|c: char| c.is_whitespace() || c == '(')
            .unwrap_or((item, ""));
        let plain = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        };
        if !plain(virt) {
            return None;
        }
        let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if rest.is_empty() {
            return Some((Cow::Borrowed(virt), None));
        }
        let version = rest.strip_prefix('=')?.strip_suffix(')')?.trim();
        let ok = !version.is_empty()
            && version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.~:".contains(&b));
        ok.then_some((Cow::Borrowed(virt), Some(Cow::Borrowed(version))))
    };
    if let Some(all) = field.split(',').map(simple).collect::<Option<Vec<_>>>() {
        return Ok(all);
    }
    Ok(relations(name, field)?
        .into_iter()
        .flat_map(|r| r.alternatives)
        .map(|d| (Cow::Owned(d.name), d.version.map(|(_, v)| Cow::Owned(v))))
        .collect())
}

/// Virtual name → (provider, provided version, providing stanza).
type Providers<'a> = Map<Cow<'a, str>, Vec<(&'a str, Option<Cow<'a, str>>, &'a str)>>;

/// A virtual name and the version it is provided at, if any.
type Provided<'a> = (Cow<'a, str>, Option<Cow<'a, str>>);

fn relations(name: &str, field: &str) -> Result<Vec<Relation>, ResolveError> {
    parse_relations(field).map_err(|e| ResolveError::BadStanza {
        name: name.to_owned(),
        cause: e.to_string(),
    })
}

/// Root → … → `name`, following first-discovery parents.
fn chain(parent: &BTreeMap<&str, &str>, name: &str) -> Vec<String> {
    let mut out = vec![name.to_owned()];
    let mut cur = name;
    while let Some(p) = parent.get(cur) {
        out.push((*p).to_owned());
        cur = p;
    }
    out.reverse();
    out
}

/// A package in the resolved set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub name: String,
    pub version: String,
    pub arch: String,
}

/// A relation cut by an exclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub reason: String,
    /// Root → … → the package whose relation was cut.
    pub needed_by: Vec<String>,
    pub relation: String,
}

#[derive(Debug)]
pub struct Resolution {
    /// The chosen set, by name.
    pub packages: BTreeMap<String, Chosen>,
    graph: DiGraph<String, String>,
    roots: Vec<NodeIndex>,
    /// Excluded name → where it was needed.
    pub cuts: BTreeMap<String, Cut>,
}

impl Resolution {
    /// Shortest dependency path from a root to `name` (names, root first),
    /// via breadth-first search over the recorded edges.
    pub fn why(&self, name: &str) -> Option<Vec<String>> {
        let target = self.graph.node_indices().find(|&n| self.graph[n] == name)?;
        let mut prev: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
        let mut seen: BTreeSet<NodeIndex> = self.roots.iter().copied().collect();
        let mut queue: VecDeque<NodeIndex> = self.roots.iter().copied().collect();
        while let Some(n) = queue.pop_front() {
            if n == target {
                let mut path = vec![self.graph[n].clone()];
                let mut cur = n;
                while let Some(&p) = prev.get(&cur) {
                    path.push(self.graph[p].clone());
                    cur = p;
                }
                path.reverse();
                return Some(path);
            }
            // Neighbours in name order, so the answer is stable.
            let mut next: Vec<NodeIndex> = self.graph.neighbors(n).collect();
            next.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
            for m in next {
                if seen.insert(m) {
                    prev.insert(m, n);
                    queue.push_back(m);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
