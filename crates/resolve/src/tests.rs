//! Every rule of the resolver on small synthetic archives.

use std::collections::BTreeMap;

use super::*;

/// Stanzas from `name version arch [Field: value]...` lines, one package
/// per line, fields separated by `;`.
fn archive(spec: &str) -> String {
    let mut out = String::new();
    for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.split(';');
        let head: Vec<&str> = parts.next().unwrap().split_whitespace().collect();
        out += &format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\n",
            head[0], head[1], head[2]
        );
        for f in parts {
            out += f.trim();
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

fn resolve(
    text: &str,
    roots: &[&str],
    excludes: &[(&str, &str)],
) -> Result<Resolution, ResolveError> {
    let index = distill_archive::PackageIndex::parse(text.to_owned())
        .map_err(|e| ResolveError::BadIndex(e.to_string()))?;
    let u = Universe::new("amd64", [(0, &index as &dyn StanzaSource)]);
    let roots: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
    let ex: BTreeMap<String, String> = excludes
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    u.resolve(&roots, &ex)
}

fn names(r: &Resolution) -> Vec<String> {
    r.packages.keys().cloned().collect()
}

#[test]
fn transitive_depends_and_pre_depends() {
    let a = archive(
        "app 1 amd64; Depends: libfoo (>= 1), data; Pre-Depends: libc6
         libfoo 1.2 amd64; Depends: libc6
         libc6 2.36 amd64
         data 1 all
         unrelated 1 amd64",
    );
    let r = resolve(&a, &["app"], &[]).unwrap();
    assert_eq!(names(&r), ["app", "data", "libc6", "libfoo"]);
    assert_eq!(r.packages["data"].arch, "all");
}

#[test]
fn recommends_and_essential_are_not_followed() {
    let a = archive(
        "app 1 amd64; Recommends: extra; Suggests: more
         extra 1 amd64
         more 1 amd64
         base-files 13 amd64; Essential: yes",
    );
    assert_eq!(names(&resolve(&a, &["app"], &[]).unwrap()), ["app"]);
}

#[test]
fn highest_version_wins_across_suites() {
    // Two "suites" concatenated: the newer security version wins.
    let a = archive("lib 1.0-1 amd64\nlib 1.0-1+deb12u1 amd64\nlib 0.9 amd64\nlib 9 arm64");
    let r = resolve(&a, &["lib"], &[]).unwrap();
    assert_eq!(r.packages["lib"].version, "1.0-1+deb12u1");
}

#[test]
fn versioned_constraint_not_met_is_missing_with_the_chain() {
    let a = archive(
        "app 1 amd64; Depends: mid
         mid 1 amd64; Depends: libfoo (>= 2)
         libfoo 1 amd64",
    );
    let e = resolve(&a, &["app"], &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot resolve app: app -> mid needs `libfoo (>= 2)`, which nothing for amd64 satisfies"
    );
}

#[test]
fn alternatives_first_satisfiable_and_prefer_chosen() {
    let a = archive(
        "app 1 amd64; Depends: awk-a | awk-b, other
         other 1 amd64; Depends: awk-b | awk-a
         awk-a 1 amd64
         awk-b 1 amd64",
    );
    // app's relation picks awk-a first; other's is then already satisfied.
    assert_eq!(
        names(&resolve(&a, &["app"], &[]).unwrap()),
        ["app", "awk-a", "other"]
    );
    // A missing first alternative falls through to the next.
    let a = archive("app 1 amd64; Depends: gone | there\nthere 1 amd64");
    assert_eq!(
        names(&resolve(&a, &["app"], &[]).unwrap()),
        ["app", "there"]
    );
    // An alternative with a failing version falls through as well.
    let a = archive("app 1 amd64; Depends: x (>= 5) | y\nx 1 amd64\ny 1 amd64");
    assert_eq!(names(&resolve(&a, &["app"], &[]).unwrap()), ["app", "y"]);
}

#[test]
fn provides_real_beats_virtual_and_versions() {
    let a = archive(
        "app 1 amd64; Depends: mail-transport-agent
         exim 4 amd64; Provides: mail-transport-agent
         postfix 3 amd64; Provides: mail-transport-agent",
    );
    // Several providers of equal priority: the first by name.
    assert_eq!(names(&resolve(&a, &["app"], &[]).unwrap()), ["app", "exim"]);
    // A more important Priority wins over name order, as in apt.
    let a = archive(
        "base 1 all; Pre-Depends: awk
         gawk 5 amd64; Provides: awk; Priority: optional
         mawk 1.3 amd64; Provides: awk; Priority: required",
    );
    assert_eq!(
        names(&resolve(&a, &["base"], &[]).unwrap()),
        ["base", "mawk"]
    );

    let a = archive(
        "app 1 amd64; Depends: foo
         foo 1 amd64
         bar 1 amd64; Provides: foo",
    );
    assert_eq!(names(&resolve(&a, &["app"], &[]).unwrap()), ["app", "foo"]);

    // Unversioned provides do not satisfy versioned relations...
    let a = archive("app 1 amd64; Depends: foo (>= 1)\nbar 1 amd64; Provides: foo");
    assert!(matches!(
        resolve(&a, &["app"], &[]),
        Err(ResolveError::Missing { .. })
    ));
    // ...versioned ones do, when the version fits.
    let a = archive("app 1 amd64; Depends: foo (>= 1)\nbar 1 amd64; Provides: foo (= 2)");
    assert_eq!(names(&resolve(&a, &["app"], &[]).unwrap()), ["app", "bar"]);
    let a = archive("app 1 amd64; Depends: foo (>= 3)\nbar 1 amd64; Provides: foo (= 2)");
    assert!(resolve(&a, &["app"], &[]).is_err());
}

#[test]
fn multi_arch_qualifiers() {
    let a = archive(
        "app 1 amd64; Depends: python3:any, perl:any | perl-base
         python3 3 amd64; Multi-Arch: allowed
         perl 5 amd64
         perl-base 5 amd64",
    );
    // python3:any is fine (allowed); perl:any is not (no Multi-Arch).
    assert_eq!(
        names(&resolve(&a, &["app"], &[]).unwrap()),
        ["app", "perl-base", "python3"]
    );
    let a = archive("app 1 amd64; Depends: lib:amd64, tool:native\nlib 1 amd64\ntool 1 amd64");
    assert_eq!(
        names(&resolve(&a, &["app"], &[]).unwrap()),
        ["app", "lib", "tool"]
    );
    let a = archive("app 1 amd64; Depends: lib:arm64\nlib 1 amd64");
    assert!(resolve(&a, &["app"], &[]).is_err());
}

#[test]
fn arch_restricted_relations() {
    let a = archive(
        "app 1 amd64; Depends: only-arm [arm64], only-amd [amd64], not-amd [!amd64]\nonly-amd 1 amd64",
    );
    assert_eq!(
        names(&resolve(&a, &["app"], &[]).unwrap()),
        ["app", "only-amd"]
    );
}

#[test]
fn cycles_resolve_and_why_follows_edges() {
    let a = archive(
        "app 1 amd64; Depends: a
         a 1 amd64; Depends: b
         b 1 amd64; Depends: c
         c 1 amd64; Depends: a, b",
    );
    let r = resolve(&a, &["app"], &[]).unwrap();
    assert_eq!(names(&r), ["a", "app", "b", "c"]);
    assert_eq!(r.why("c").unwrap(), ["app", "a", "b", "c"]);
    assert_eq!(r.why("app").unwrap(), ["app"]);
    assert!(r.why("zzz").is_none());
}

#[test]
fn excludes_cut_with_reason_and_block_alternatives() {
    let a = archive(
        "libc6 2 amd64; Depends: libgcc-s1
         libgcc-s1 12 amd64; Depends: gcc-12-base, libc6
         gcc-12-base 12 amd64
         tool 1 amd64; Depends: debconf (>= 1) | debconf-2.0
         debconf 1 all; Provides: debconf-2.0
         cdebconf 1 amd64; Provides: debconf-2.0",
    );
    let r = resolve(
        &a,
        &["tool"],
        &[
            ("debconf", "only maintainer scripts use it"),
            ("cdebconf", "same"),
        ],
    )
    .unwrap();
    assert_eq!(names(&r), ["tool"]);
    let cut = &r.cuts["debconf"];
    assert_eq!(cut.reason, "only maintainer scripts use it");
    assert_eq!(cut.needed_by, ["tool"]);
    // Excluding one provider moves to the next.
    let r = resolve(&a, &["tool"], &[("debconf", "x")]).unwrap();
    assert_eq!(names(&r), ["cdebconf", "tool"]);
    // An excluded root is an error, not a silent empty set.
    assert!(matches!(
        resolve(&a, &["debconf"], &[("debconf", "x")]),
        Err(ResolveError::ExcludedRoot { .. })
    ));
    // Full closure without excludes.
    assert_eq!(
        names(&resolve(&a, &["libc6"], &[]).unwrap()),
        ["gcc-12-base", "libc6", "libgcc-s1"]
    );
}

#[test]
fn conflicts_and_breaks_name_both_packages() {
    let a = archive(
        "app 1 amd64; Depends: x, y
         x 1 amd64; Conflicts: y
         y 1 amd64",
    );
    assert_eq!(
        resolve(&a, &["app"], &[]).unwrap_err().to_string(),
        "cannot resolve: x conflicts with `y`, and y is in the set"
    );
    let a = archive("app 1 amd64; Depends: x, y\nx 1 amd64; Breaks: y (<< 2)\ny 1 amd64");
    assert!(
        resolve(&a, &["app"], &[])
            .unwrap_err()
            .to_string()
            .contains("x breaks `y (<< 2)`")
    );
    // A versioned Breaks that does not match is fine.
    let a = archive("app 1 amd64; Depends: x, y\nx 1 amd64; Breaks: y (<< 1)\ny 1 amd64");
    assert!(resolve(&a, &["app"], &[]).is_ok());
    // Conflicts with a virtual name hits the other provider, not itself.
    let a = archive(
        "app 1 amd64; Depends: x, y
         x 1 amd64; Provides: mta; Conflicts: mta
         y 1 amd64; Provides: mta",
    );
    assert!(
        resolve(&a, &["app"], &[])
            .unwrap_err()
            .to_string()
            .contains("x conflicts with `mta`, and y is in the set")
    );
    let a = archive("x 1 amd64; Provides: mta; Conflicts: mta");
    assert!(resolve(&a, &["x"], &[]).is_ok());
}

#[test]
fn unknown_root_and_bad_relations() {
    let a = archive("app 1 amd64; Depends: (broken");
    assert_eq!(
        resolve(&a, &["nope"], &[]).unwrap_err(),
        ResolveError::UnknownRoot {
            name: "nope".into(),
            arch: "amd64".into()
        }
    );
    assert!(matches!(
        resolve(&a, &["app"], &[]),
        Err(ResolveError::BadStanza { .. })
    ));
}
