//! Relation fields (`Depends`, `Pre-Depends`, `Provides`, `Conflicts`,
//! `Breaks`, ...): `a (>= 1) | b:any, c [amd64 !i386] <!nocheck>`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use crate::arch::arch_matches;
use crate::version::compare_versions;

/// Version operators. The obsolete `<` and `>` mean `<=` and `>=` (dpkg).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    /// Does `have OP want` hold?
    pub fn holds(self, have: &str, want: &str) -> bool {
        let c = compare_versions(have, want);
        match self {
            Op::Lt => c == Ordering::Less,
            Op::Le => c != Ordering::Greater,
            Op::Eq => c == Ordering::Equal,
            Op::Ge => c != Ordering::Less,
            Op::Gt => c == Ordering::Greater,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }
}

/// One package in a relation, possibly qualified and restricted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    /// `:any`, `:native` or an architecture name.
    pub arch_qualifier: Option<String>,
    pub version: Option<(Op, String)>,
    /// `[amd64 !i386]`: (negated, pattern) pairs; empty means every arch.
    pub arches: Vec<(bool, String)>,
    /// `<!nocheck> <stage1 cross>`: each group is a conjunction of
    /// (negated, profile) terms; the groups are alternatives.
    pub profiles: Vec<Vec<(bool, String)>>,
}

impl Dependency {
    /// Whether this relation applies on `arch` with no build profiles active
    /// (binary packages never carry profiles; this is for completeness).
    pub fn applies_to(&self, arch: &str) -> bool {
        let arch_ok = if self.arches.is_empty() {
            true
        } else if self.arches.iter().all(|(neg, _)| *neg) {
            // Only negations: applies unless one matches.
            !self.arches.iter().any(|(_, p)| arch_matches(p, arch))
        } else {
            self.arches
                .iter()
                .any(|(neg, p)| !*neg && arch_matches(p, arch))
        };
        let profile_ok =
            self.profiles.is_empty() || self.profiles.iter().any(|g| g.iter().all(|(neg, _)| *neg));
        arch_ok && profile_ok
    }

    /// Whether a package (or a provided name) at `version` satisfies the
    /// version part of this relation. A missing `version` on the candidate
    /// (an unversioned Provides) satisfies only unversioned relations.
    pub fn version_matches(&self, version: Option<&str>) -> bool {
        match (&self.version, version) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((op, want)), Some(have)) => op.holds(have, want),
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {v})", op.as_str())?;
        }
        if !self.arches.is_empty() {
            let list: Vec<String> = self
                .arches
                .iter()
                .map(|(neg, a)| format!("{}{a}", if *neg { "!" } else { "" }))
                .collect();
            write!(f, " [{}]", list.join(" "))?;
        }
        Ok(())
    }
}

/// A comma-separated item: one or more alternatives joined by `|`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub alternatives: Vec<Dependency>,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot parse relation {item:?}: {reason}")]
pub struct RelationError {
    pub item: String,
    pub reason: &'static str,
}

/// Parses a whole relation field. Empty items (`a, , b` or a trailing
/// comma) are skipped, as dpkg tolerates them.
pub fn parse_relations(field: &str) -> Result<Vec<Relation>, RelationError> {
    let mut out = Vec::new();
    for item in field.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let alternatives = item
            .split('|')
            .map(|alt| {
                parse_dependency(alt.trim()).map_err(|reason| RelationError {
                    item: item.to_owned(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Relation { alternatives });
    }
    Ok(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-')
}

fn parse_dependency(s: &str) -> Result<Dependency, &'static str> {
    let end = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
    let name = &s[..end];
    if name.is_empty() {
        return Err("missing package name");
    }
    let mut rest = &s[end..];
    let mut dep = Dependency {
        name: name.to_owned(),
        arch_qualifier: None,
        version: None,
        arches: Vec::new(),
        profiles: Vec::new(),
    };
    if let Some(r) = rest.strip_prefix(':') {
        let end = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(r.len());
        if end == 0 {
            return Err("empty architecture qualifier");
        }
        dep.arch_qualifier = Some(r[..end].to_owned());
        rest = &r[end..];
    }
    rest = rest.trim_start();
    if let Some(r) = rest.strip_prefix('(') {
        let close = r.find(')').ok_or("unclosed version constraint")?;
        let inner = r[..close].trim();
        let (op, version) = [
            ("<<", Op::Lt),
            ("<=", Op::Le),
            (">=", Op::Ge),
            (">>", Op::Gt),
            ("=", Op::Eq),
            ("<", Op::Le),
            (">", Op::Ge),
        ]
        .iter()
        .find_map(|(tok, op)| inner.strip_prefix(tok).map(|v| (*op, v.trim())))
        .ok_or("unknown version operator")?;
        if version.is_empty() || version.contains(char::is_whitespace) {
            return Err("bad version in constraint");
        }
        dep.version = Some((op, version.to_owned()));
        rest = r[close + 1..].trim_start();
    }
    if let Some(r) = rest.strip_prefix('[') {
        let close = r.find(']').ok_or("unclosed architecture list")?;
        for a in r[..close].split_whitespace() {
            let (neg, a) = match a.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, a),
            };
            dep.arches.push((neg, a.to_owned()));
        }
        if dep.arches.is_empty() {
            return Err("empty architecture list");
        }
        rest = r[close + 1..].trim_start();
    }
    while let Some(r) = rest.strip_prefix('<') {
        let close = r.find('>').ok_or("unclosed build profile list")?;
        let group = r[..close]
            .split_whitespace()
            .map(|p| match p.strip_prefix('!') {
                Some(p) => (true, p.to_owned()),
                None => (false, p.to_owned()),
            })
            .collect();
        dep.profiles.push(group);
        rest = r[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        return Err("unexpected text after package");
    }
    Ok(dep)
}

/// The (name, version) pairs of a `Provides` field, into `out`. Nearly
/// every field is plain `a, b (= 1)`, read here without allocating (this
/// runs for every stanza of a 60k-package index); anything else goes
/// through the full relation parser.
pub fn provided<'a>(field: &'a str, out: &mut Vec<Provided<'a>>) -> Result<(), RelationError> {
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
    let start = out.len();
    for item in field.split(',') {
        match simple(item) {
            Some(p) => out.push(p),
            None => {
                out.truncate(start);
                let all = parse_relations(field)?
                    .into_iter()
                    .flat_map(|r| r.alternatives);
                out.extend(
                    all.map(|d| (Cow::Owned(d.name), d.version.map(|(_, v)| Cow::Owned(v)))),
                );
                break;
            }
        }
    }
    Ok(())
}

/// A virtual name and the version it is provided at, if any.
pub type Provided<'a> = (Cow<'a, str>, Option<Cow<'a, str>>);

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Dependency {
        let rels = parse_relations(s).unwrap();
        assert_eq!(rels.len(), 1, "{s}");
        assert_eq!(rels[0].alternatives.len(), 1, "{s}");
        rels[0].alternatives[0].clone()
    }

    #[test]
    fn table() {
        // (input, name, qualifier, version, arches, profile groups)
        type Row = (
            &'static str,
            &'static str,
            Option<&'static str>,
            Option<(Op, &'static str)>,
            usize,
            usize,
        );
        let rows: &[Row] = &[
            ("libc6", "libc6", None, None, 0, 0),
            (
                "libc6 (>= 2.36)",
                "libc6",
                None,
                Some((Op::Ge, "2.36")),
                0,
                0,
            ),
            ("libc6(>=2.36)", "libc6", None, Some((Op::Ge, "2.36")), 0, 0),
            (
                "libc6 ( >= 2.36 )",
                "libc6",
                None,
                Some((Op::Ge, "2.36")),
                0,
                0,
            ),
            (
                "a (<< 1:2.0-1~)",
                "a",
                None,
                Some((Op::Lt, "1:2.0-1~")),
                0,
                0,
            ),
            ("a (<= 1)", "a", None, Some((Op::Le, "1")), 0, 0),
            (
                "a (= 1.0-1+b1)",
                "a",
                None,
                Some((Op::Eq, "1.0-1+b1")),
                0,
                0,
            ),
            ("a (>> 1)", "a", None, Some((Op::Gt, "1")), 0, 0),
            ("a (< 1)", "a", None, Some((Op::Le, "1")), 0, 0),
            ("a (> 1)", "a", None, Some((Op::Ge, "1")), 0, 0),
            ("python3:any", "python3", Some("any"), None, 0, 0),
            (
                "python3:any (>= 3.11~)",
                "python3",
                Some("any"),
                Some((Op::Ge, "3.11~")),
                0,
                0,
            ),
            ("gcc:native", "gcc", Some("native"), None, 0, 0),
            ("libc6:amd64", "libc6", Some("amd64"), None, 0, 0),
            ("libc6 [amd64]", "libc6", None, None, 1, 0),
            ("libc6 [amd64 !i386]", "libc6", None, None, 2, 0),
            (
                "libc6 (>= 2) [linux-any]",
                "libc6",
                None,
                Some((Op::Ge, "2")),
                1,
                0,
            ),
            ("foo <!nocheck>", "foo", None, None, 0, 1),
            ("foo <!nocheck> <stage1 cross>", "foo", None, None, 0, 2),
            ("foo [amd64] <!nocheck>", "foo", None, None, 1, 1),
            ("libstdc++6", "libstdc++6", None, None, 0, 0),
            ("g++-12", "g++-12", None, None, 0, 0),
            (
                "libgcc-s1 (>= 3.0)",
                "libgcc-s1",
                None,
                Some((Op::Ge, "3.0")),
                0,
                0,
            ),
        ];
        for &(input, name, qual, version, arches, profiles) in rows {
            let d = one(input);
            assert_eq!(d.name, name, "{input}");
            assert_eq!(d.arch_qualifier.as_deref(), qual, "{input}");
            assert_eq!(
                d.version.as_ref().map(|(o, v)| (*o, v.as_str())),
                version,
                "{input}"
            );
            assert_eq!(d.arches.len(), arches, "{input}");
            assert_eq!(d.profiles.len(), profiles, "{input}");
        }
    }

    #[test]
    fn alternatives_and_lists() {
        let rels =
            parse_relations("a (>= 1) | b:any, c [amd64] <!nocheck>,  , d | e | f,").unwrap();
        assert_eq!(rels.len(), 3);
        assert_eq!(rels[0].alternatives.len(), 2);
        assert_eq!(
            rels[0].alternatives[1].arch_qualifier.as_deref(),
            Some("any")
        );
        assert_eq!(rels[2].alternatives.len(), 3);
        assert_eq!(rels[0].to_string(), "a (>= 1) | b:any");
        assert_eq!(rels[1].to_string(), "c [amd64]");
        assert!(parse_relations("").unwrap().is_empty());
        // Folded across lines, as in real Packages files.
        let rels = parse_relations("a,\n b (>= 2),\n c").unwrap();
        assert_eq!(rels.len(), 3);
    }

    #[test]
    fn errors() {
        for bad in [
            "(>= 1)", "a (>= 1", "a (~ 1)", "a (>=)", "a [amd64", "a [ ]", "a <x", "a b", "a:",
        ] {
            assert!(parse_relations(bad).is_err(), "{bad}");
        }
        let e = parse_relations("x, a (>= 1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot parse relation \"a (>= 1\": unclosed version constraint"
        );
    }

    #[test]
    fn applicability_and_versions() {
        assert!(one("a [amd64]").applies_to("amd64"));
        assert!(!one("a [amd64]").applies_to("arm64"));
        assert!(one("a [!i386]").applies_to("amd64"));
        assert!(!one("a [!i386]").applies_to("i386"));
        assert!(one("a [linux-any]").applies_to("riscv64"));
        assert!(!one("a <stage1>").applies_to("amd64"));
        assert!(one("a <!stage1>").applies_to("amd64"));
        let d = one("a (>= 1.0~rc1)");
        assert!(d.version_matches(Some("1.0")));
        assert!(!d.version_matches(Some("0.9")));
        assert!(!d.version_matches(None));
        assert!(one("a").version_matches(None));
        assert!(!one("a (<< 2)").version_matches(Some("1:0")));
    }
}
