//! Against the real Debian archive; run only with `DISTILL_LIVE=1` (which
//! `.ci/run` sets). Asserts properties that survive archive updates:
//! signatures verify with the built-in keyring, hashes match, indices
//! parse completely. Never a version number.

#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use distill_archive::Pins;
use distill_debian::{Served, SnapshotTime, Version, parse_relations};
use distill_project::{EnvOptions, Project};
use distill_store::Silent;
use distill_tests::distill_bin;

fn live() -> bool {
    if std::env::var("DISTILL_LIVE").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped: set DISTILL_LIVE=1 to run tests against the real Debian archive");
    false
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The repository's own project (its packages.toml, the built-in
/// keyring) with a cache at `cache`.
fn repo_project(cache: &Path) -> Project {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packages.toml");
    project_at(&path, cache)
}

/// The project of the packages.toml at `path`, with a cache at `cache`.
fn project_at(path: &Path, cache: &Path) -> Project {
    let env = EnvOptions {
        cache_dir: cache.to_owned(),
        offline: false,
        keyring: None,
        now: now(),
        retry: Default::default(),
        timeouts: Default::default(),
    };
    Project::open(path, env, Arc::new(Silent)).expect("packages.toml loads")
}

/// Loads every (suite, component) index of `distro` for `arch` through
/// the library's loader, at "now", and hands each to `f` with its suite.
fn each_index(
    distro: &str,
    arch: &str,
    cache: &Path,
    mut f: impl FnMut(&str, &distill_archive::PackageIndex),
) {
    let project = repo_project(cache);
    let pins = Pins::all(SnapshotTime::from_unix(now()));
    let loaded = project
        .load(distro, &[arch.to_owned()], &pins)
        .unwrap_or_else(|e| panic!("{distro}: {}", distill_store::causes(&e).join(": ")));
    for rel in &loaded.releases {
        assert!(matches!(
            rel.served,
            Served::Snapshot { .. } | Served::Mirror { .. }
        ));
    }
    for idx in &loaded.indices {
        f(&loaded.releases[idx.release].suite, &idx.index);
    }
}

/// Every stanza of `distro`'s amd64 indices must be well-formed. Returns
/// the stanza count per suite.
fn load_distro(distro: &str, cache: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    each_index(distro, "amd64", cache, |suite, index| {
        for p in index.stanzas() {
            let p = p.unwrap();
            let name = p.get("Package").unwrap();
            Version::parse(p.get("Version").unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                p.get("Filename").is_some_and(|f| f.starts_with("pool/")),
                "{name}"
            );
            assert_eq!(p.get("SHA256").map(str::len), Some(64), "{name}");
            for field in ["Depends", "Pre-Depends", "Provides", "Breaks", "Conflicts"] {
                if let Some(v) = p.get(field) {
                    parse_relations(v).unwrap_or_else(|e| panic!("{name} {field}: {e}"));
                }
            }
        }
        *counts.entry(suite.to_owned()).or_default() += index.len();
    });
    counts
}

#[test]
fn bookworm_and_security_verify_and_parse() {
    if !live() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let counts = load_distro("debian12", cache.path());
    assert!(counts["bookworm"] > 50_000, "{counts:?}");
    assert!(counts["bookworm-security"] > 100, "{counts:?}");
}

#[test]
fn trixie_verifies_and_parses() {
    if !live() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let counts = load_distro("debian13", cache.path());
    assert!(counts["trixie"] > 50_000, "{counts:?}");
}

#[test]
fn show_libc6_on_arm64_from_a_fresh_cache() {
    if !live() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packages.toml");
    let out = std::process::Command::new(distill_bin())
        .args([
            "--config",
            config.to_str().unwrap(),
            "show",
            "libc6",
            "--distro",
            "debian12",
            "--arch",
            "arm64",
            "--json",
        ])
        .env("DISTILL_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        assert_eq!(item["fields"]["Package"], "libc6");
        assert_eq!(item["fields"]["Architecture"], "arm64");
    }
    // When snapshot.debian.org is out of reach the fallback is said in
    // exactly one line.
    if items.iter().any(|i| i["source"].get("mirror").is_some()) {
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("note: snapshot "), "{stderr}");
    }
}

/// Roots for the apt parity check: the list plus a spread of
/// everyday packages with alternatives, virtual packages and cycles.
const PARITY_ROOTS: &[&str] = &[
    "python3",
    "openssl",
    "curl",
    "perl",
    "libstdc++6",
    "ca-certificates",
    "busybox-static",
    "bash",
    "coreutils",
    "tar",
    "gzip",
    "zstd",
    "xz-utils",
    "git",
    "wget",
    "gnupg",
    "sed",
    "grep",
    "findutils",
    "procps",
    "iproute2",
    "less",
    "file",
    "nano",
    "vim-tiny",
    "dpkg",
    "tzdata",
    "netbase",
    "libgomp1",
    "make",
    "diffutils",
    "unzip",
    "jq",
    "sqlite3",
    "openssh-client",
    "libc6",
];

/// The stanzas of every suite of `distro` for `arch`, as one Packages text.
fn packages_text(distro: &str, arch: &str, cache: &Path) -> String {
    let mut text = String::new();
    each_index(distro, arch, cache, |_, index| {
        for p in index.stanzas() {
            text += p.unwrap().text();
            text += "\n\n";
        }
    });
    text
}

/// What `apt-get install -s --no-install-recommends ROOT` would install
/// into an empty system, with an isolated configuration over `packages`.
struct Apt {
    dir: tempfile::TempDir,
}

impl Apt {
    fn new(packages: &str, arch: &str) -> Apt {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "repo",
            "etc/apt/sources.list.d",
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "log",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("repo/Packages"), packages).unwrap();
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list"),
            format!(
                "deb [trusted=yes] file:{} ./\n",
                root.join("repo").display()
            ),
        )
        .unwrap();
        let r = root.display();
        std::fs::write(
            root.join("apt.conf"),
            format!(
                "Dir \"{r}/\";\nDir::State::status \"{r}/var/lib/dpkg/status\";\nDir::Etc \"{r}/etc/apt/\";\n\
                 Dir::Cache \"{r}/var/cache/apt/\";\nDir::State \"{r}/var/lib/apt/\";\nDir::Log \"{r}/log/\";\n\
                 APT::Architecture \"{arch}\";\nAPT::Architectures {{ \"{arch}\"; }};\n\
                 pkgCacheGen::Essential \"none\";\nAPT::Install-Recommends \"false\";\n\
                 Acquire::Languages \"none\";\nDebug::NoLocking \"true\";\n"
            ),
        )
        .unwrap();
        let apt = Apt { dir };
        let out = apt.cmd(&["update", "-qq"]);
        assert!(
            out.status.success(),
            "apt-get update: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        apt
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("apt-get")
            .args(args)
            .env("APT_CONFIG", self.dir.path().join("apt.conf"))
            .env("LC_ALL", "C")
            .output()
            .unwrap()
    }

    fn install_set(&self, root: &str) -> Result<Vec<String>, String> {
        let out = self.cmd(&["install", "-s", "-q", "--no-install-recommends", root]);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr));
        }
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("Inst "))
            .map(|l| {
                l.split_whitespace()
                    .next()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        names.sort();
        Ok(names)
    }
}

#[test]
fn resolver_matches_apt() {
    if !live() {
        return;
    }
    if std::process::Command::new("apt-get")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("apt-get is needed for the parity check (.ci/run runs on Debian)");
    }
    let cache = tempfile::tempdir().unwrap();
    let mut mismatches = Vec::new();
    let mut checked = 0;
    let mut compared_packages = 0;
    for (distro, arch) in [
        ("debian12", "amd64"),
        ("debian12", "arm64"),
        ("debian13", "amd64"),
        ("debian13", "arm64"),
    ] {
        let text = packages_text(distro, arch, cache.path());
        let apt = Apt::new(&text, arch);
        let index = distill_archive::PackageIndex::parse(text.clone()).unwrap();
        let source = &index as &dyn distill_debian::StanzaSource;
        let universe = distill_resolve::Universe::new(arch, [(0, source)]);
        // apt-get takes about 2 s a call on this index size: use both cores.
        type Outcome = (
            &'static str,
            Result<Vec<String>, String>,
            Result<Vec<String>, String>,
        );
        let results: Vec<Outcome> = std::thread::scope(|scope| {
            let (universe, apt) = (&universe, &apt);
            let workers: Vec<_> = PARITY_ROOTS
                .chunks(PARITY_ROOTS.len().div_ceil(2))
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|root| {
                                let ours = universe
                                    .resolve(&[root.to_string()], &Default::default())
                                    .map(|r| r.packages.keys().cloned().collect::<Vec<_>>())
                                    .map_err(|e| e.to_string());
                                (*root, ours, apt.install_set(root))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        for (root, ours, theirs) in results {
            checked += 1;
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) if a == b => compared_packages += a.len(),
                _ => {
                    let diff = match (&ours, &theirs) {
                        (Ok(a), Ok(b)) => format!(
                            "only distill: {:?}; only apt: {:?}",
                            a.iter().filter(|x| !b.contains(x)).collect::<Vec<_>>(),
                            b.iter().filter(|x| !a.contains(x)).collect::<Vec<_>>()
                        ),
                        _ => format!("distill: {ours:?}\napt: {theirs:?}"),
                    };
                    mismatches.push(format!("{distro} {arch} {root}: {diff}"));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checked} differ from apt:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // 36 roots x 4: the sets compared must be real closures, not empties.
    assert_eq!(checked, PARITY_ROOTS.len() * 4);
    assert!(
        compared_packages > 1500,
        "only {compared_packages} packages compared"
    );
}

/// What a bump fixes, from the real archive: a fresh lock of trixie for
/// amd64, and an "old" lock where base-files (a native package:
/// `changelog.gz`) and libc6 (`changelog.Debian.gz`) were at version 0.
/// Each gets the entries of its new .deb's changelog newer than 0: the
/// newest is the locked version, every one is newer than 0, and each
/// names its distribution and urgency.
#[test]
fn a_diff_of_real_locks_reads_the_new_debs_changelogs() {
    if !live() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(repo.join("packages.toml"), dir.path().join("packages.toml")).unwrap();
    let lock = std::process::Command::new(distill_bin())
        .args(["lock", "--distro", "debian13", "--arch", "amd64"])
        .current_dir(dir.path())
        .env("DISTILL_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        lock.status.success(),
        "{}",
        String::from_utf8_lossy(&lock.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("snapshots/debian13.lock")).unwrap();
    let new = distill_lock::Lock::parse(&text).unwrap();
    let mut old = new.clone();
    for p in &mut old.packages {
        if p.name == "base-files" || p.name == "libc6" {
            p.version = "0".into();
        }
    }
    let project = project_at(&dir.path().join("packages.toml"), &dir.path().join("cache"));
    let diff = old.diff(&new);
    let news = project.news(&old, &new, &diff).unwrap();
    for name in ["base-files", "libc6"] {
        let n = &news.packages[name];
        assert!(n.missing.is_none(), "{name}: {:?}", n.missing);
        let locked = &new
            .packages
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .version;
        assert!(!n.entries.is_empty(), "{name}");
        // The newest entry is the locked version (a binNMU's own first).
        assert_eq!(&n.entries[0].version, locked, "{name}");
        for e in &n.entries {
            assert!(Version::parse(&e.version).unwrap() > Version::parse("0").unwrap());
            assert!(
                !e.distributions.is_empty() && !e.urgency.is_empty(),
                "{e:?}"
            );
            assert!(!e.maintainer.is_empty() && !e.date.is_empty(), "{e:?}");
        }
    }
    // Sizes for every image of the lock; the .debs read for the
    // changelogs are cached, so those counted.
    assert!(
        news.sizes.iter().any(|s| s.image == "base"),
        "{:?}",
        news.sizes
    );
    assert!(news.sizes.iter().all(|s| s.download.0 == s.download.1));
}
