//! Dependency resolution over verified package indices, the way apt does
//! it for `install --no-install-recommends` into an empty system:
//!
//! - one candidate per package name: the highest version among the
//!   architecture's own and `Architecture: all` stanzas of every suite,
//!   unless the caller prefers a version (the lock's, as cargo keeps its
//!   lockfile's): then the stanza of exactly that version and `SHA256`
//!   when an index still serves it, as `apt install pkg=version` would;
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
//! The indices look names and provides up themselves (the cached table of
//! each, like apt's binary cache); the universe keeps the candidates it
//! chose on first lookup. One file on purpose: those memo tables and the
//! resolution loop that reads them are one piece. The rule-by-rule tests
//! are in `tests.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use distill_debian::{
    Dependency, Paragraph, Relation, Sha256, StanzaSource, compare_versions, parse_relations,
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

impl ResolveError {
    /// The packages whose candidate made this resolution fail: for a
    /// missing relation, the names it asks for and the package asking;
    /// for a conflict, both sides. A caller that kept older versions
    /// (the lock's) lets these move and tries again.
    pub fn implicated(&self) -> Vec<String> {
        match self {
            ResolveError::Missing {
                chain, relation, ..
            } => {
                let mut names: Vec<String> = parse_relations(relation)
                    .into_iter()
                    .flatten()
                    .flat_map(|r| r.alternatives.into_iter().map(|d| d.name))
                    .collect();
                names.extend(chain.rsplit(" -> ").next().map(str::to_owned));
                names
            }
            ResolveError::Conflict { a, b, .. } => vec![a.clone(), b.clone()],
            _ => Vec::new(),
        }
    }
}

/// The universe's memo tables are only ever looked up (never iterated
/// into output), so they use a fast fixed hash instead of SipHash.
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// A candidate package: the fields the resolver and the lock need.
#[derive(Clone)]
pub struct Package<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub multi_arch: &'a str,
    pub provides: Option<&'a str>,
    /// The caller's tag for the index this stanza came from.
    pub origin: usize,
    /// Where the stanza is: its text is read on demand (the resolver
    /// touches a few hundred of the tens of thousands).
    at: At,
    source: &'a dyn StanzaSource,
}

impl std::fmt::Debug for Package<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.name, self.version, self.arch)
    }
}

impl<'a> Package<'a> {
    /// The stanza's text.
    pub fn text(&self) -> Result<&'a str, ResolveError> {
        self.source
            .stanza_text(self.at.id)
            .map_err(ResolveError::BadIndex)
    }

    /// The full stanza.
    pub fn stanza(&self) -> Result<Paragraph<'a>, ResolveError> {
        self.source
            .stanza(self.at.id)
            .map_err(ResolveError::BadIndex)
    }
}

/// A stanza of the universe: which of its sources, and which stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct At {
    source: u32,
    id: u32,
}

/// The candidate chosen for a name (none when no stanza of it is of the
/// universe's architecture), once chosen.
type Slot<'a> = OnceLock<Option<Box<Package<'a>>>>;

/// What provides a virtual name: (provider, version provided, stanza).
type Providers<'a> = Arc<[(&'a str, Option<&'a str>, At)]>;

/// All candidates for one architecture, over indices that look names and
/// provides up themselves ([`StanzaSource`]): building a universe costs
/// nothing, and a resolution reads only the names it touches.
pub struct Universe<'a> {
    arch: String,
    /// The indices, each with the caller's tag for it.
    sources: Vec<(usize, &'a dyn StanzaSource)>,
    /// One slot per stanza of each source; a name's candidate is kept in
    /// the slot of its first stanza (first source that has it, first in
    /// file order). Boxed: only a few hundred are ever chosen.
    chosen: Vec<Vec<Slot<'a>>>,
    /// Name → the slot of its first stanza: a name asked for again (the
    /// resolver asks many times) costs a hash lookup, not a search.
    slots: Mutex<Map<Box<str>, Option<At>>>,
    /// Virtual name → what provides it, found on first use.
    providers: Mutex<Map<Box<str>, Providers<'a>>>,
    /// Name → the locked (version, sha256) to keep where still served.
    prefer: BTreeMap<String, Preferred>,
}

/// A version the caller wants kept: the candidate when a stanza of the
/// universe has exactly this version and this `SHA256` (the same .deb).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferred {
    pub version: String,
    pub sha256: Sha256,
}

impl<'a> Universe<'a> {
    /// The universe of the indices of every suite of a distro for `arch`,
    /// each with a tag the candidates carry as their `origin` (suite order
    /// does not matter: highest version wins, as with equal apt pins).
    pub fn new(
        arch: &str,
        sources: impl IntoIterator<Item = (usize, &'a dyn StanzaSource)>,
    ) -> Universe<'a> {
        let sources: Vec<(usize, &'a dyn StanzaSource)> = sources.into_iter().collect();
        let chosen = sources
            .iter()
            .map(|(_, s)| (0..s.count()).map(|_| OnceLock::new()).collect())
            .collect();
        Universe {
            arch: arch.to_owned(),
            sources,
            chosen,
            slots: Mutex::default(),
            providers: Mutex::default(),
            prefer: BTreeMap::new(),
        }
    }

    /// The same universe, keeping these choices where still served.
    pub fn preferring(mut self, prefer: BTreeMap<String, Preferred>) -> Universe<'a> {
        self.prefer = prefer;
        self
    }

    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The candidate of `name`: the highest version among its stanzas of
    /// the universe's architecture or `all`.
    pub fn get(&self, name: &str) -> Option<&Package<'a>> {
        let at = self.slot(name)?;
        self.chosen[at.source as usize][at.id as usize]
            .get_or_init(|| self.choose(name).map(Box::new))
            .as_deref()
    }

    /// Where the candidate of `name` is kept, if any stanza has that name.
    fn slot(&self, name: &str) -> Option<At> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = slots.get(name) {
            return *at;
        }
        let at = self.sources.iter().enumerate().find_map(|(n, (_, src))| {
            src.named(name).first().map(|&id| At {
                source: n as u32,
                id,
            })
        });
        slots.insert(name.into(), at);
        at
    }

    fn choose(&self, name: &str) -> Option<Package<'a>> {
        let prefer = self.prefer.get(name);
        let mut best: Option<Package<'a>> = None;
        for (n, &(origin, source)) in self.sources.iter().enumerate() {
            for &id in source.named(name) {
                let s = source.summary(id);
                let (Some(version), Some(parch)) = (s.version, s.arch) else {
                    continue;
                };
                if parch != self.arch && parch != "all" {
                    continue;
                }
                // The kept version: the very .deb, not just its version
                // string (one version in two suites can be two builds).
                let kept = prefer.is_some_and(|p| {
                    p.version == version
                        && source.stanza(id).is_ok_and(|st| {
                            st.get("SHA256")
                                .is_some_and(|h| h.eq_ignore_ascii_case(p.sha256.as_str()))
                        })
                });
                if kept
                    || best
                        .as_ref()
                        .is_none_or(|b| compare_versions(version, b.version).is_gt())
                {
                    best = Some(Package {
                        name: s.name,
                        version,
                        arch: parch,
                        multi_arch: s.multi_arch.unwrap_or("no"),
                        provides: s.provides,
                        origin,
                        at: At {
                            source: n as u32,
                            id,
                        },
                        source,
                    });
                    if kept {
                        return best;
                    }
                }
            }
        }
        best
    }

    /// Every stanza that provides `virt`, in source then file order.
    fn provided_by(&self, virt: &str) -> Providers<'a> {
        let mut memo = self
            .providers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = memo.get(virt) {
            return found.clone();
        }
        let found: Providers<'a> = self
            .sources
            .iter()
            .enumerate()
            .flat_map(|(n, &(_, src))| {
                src.providing(virt).into_iter().map(move |(id, version)| {
                    let at = At {
                        source: n as u32,
                        id,
                    };
                    (src.summary(id).name, version, at)
                })
            })
            .collect();
        memo.insert(virt.into(), found.clone());
        found
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
    fn providers_of(&self, dep: &Dependency) -> Result<Vec<&'a str>, ResolveError> {
        let mut out = Vec::new();
        for &(p, v, at) in self.provided_by(&dep.name).iter() {
            if dep.version_matches(v) && self.get(p).is_some_and(|c| c.at == at) {
                let priority = self.must(p).stanza()?.get("Priority");
                out.push((priority_rank(priority), p));
            }
        }
        out.sort();
        out.dedup();
        Ok(out.into_iter().map(|(_, p)| p).collect())
    }

    /// Resolves `roots` with `excludes` (name → reason).
    ///
    /// Long on purpose: one breadth-first pass whose steps share the
    /// graph, the parent links, the queue and the cuts; each relation's
    /// three choices (already satisfied, first satisfiable alternative,
    /// blocked) are numbered in place, in the order apt tries them.
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
            let stanza = self.must(name).stanza()?;
            let mut rels = Vec::new();
            for field in ["Pre-Depends", "Depends"] {
                if let Some(v) = stanza.get(field) {
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
                let mut target = None;
                for d in &alts {
                    if nodes.contains_key(d.name.as_str()) && self.real_satisfies(&d.name, d) {
                        target = Some(self.must(d.name.as_str()).name);
                    } else {
                        target = self
                            .providers_of(d)?
                            .into_iter()
                            .find(|p| nodes.contains_key(p));
                    }
                    if target.is_some() {
                        break;
                    }
                }
                // 2. First satisfiable alternative, real before virtual.
                for d in alts.iter().filter(|d| !excludes.contains_key(&d.name)) {
                    if target.is_some() {
                        break;
                    }
                    if self.real_satisfies(&d.name, d) {
                        target = Some(self.must(d.name.as_str()).name);
                    } else {
                        target = self
                            .providers_of(d)?
                            .into_iter()
                            .find(|p| !excludes.contains_key(*p));
                    }
                }
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
            let stanza = self.must(name).stanza()?;
            for (field, rule) in [("Conflicts", "conflicts with"), ("Breaks", "breaks")] {
                let Some(v) = stanza.get(field) else {
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
                            .providers_of(d)?
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
