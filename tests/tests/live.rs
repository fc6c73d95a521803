//! Against the real Debian archive; run only with `DISTILL_LIVE=1` (which
//! `.ci/run` sets). Asserts properties that survive archive updates:
//! signatures verify with the built-in keyring, hashes match, indices
//! parse completely. Never a version number.

#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use distill_archive::{Config, Loader, Served};
use distill_debian::{SnapshotTime, Version, parse_relations};
use distill_fetch::{Cache, Fetcher, Silent};
use distill_tests::distill_bin;
use distill_trust::Keyring;

fn live() -> bool {
    if std::env::var("DISTILL_LIVE").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped: set DISTILL_LIVE=1 to run tests against the real Debian archive");
    false
}

fn repo_config() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packages.toml");
    Config::load(&path).expect("the repository's packages.toml loads")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Loads every suite of `distro` for amd64 with the built-in keyring and
/// checks every stanza. Returns the stanza count per suite.
fn load_distro(distro: &str, cache: &Path) -> BTreeMap<String, usize> {
    let config = repo_config();
    let spec = config.distro(distro).unwrap().clone();
    let fetcher = Fetcher::new(Cache::new(cache).unwrap(), Arc::new(Silent)).unwrap();
    let loader = Loader::new(Arc::new(fetcher), Keyring::debian(), now());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let snapshot = SnapshotTime::from_unix(now());
    let mut counts = BTreeMap::new();
    for archive in &spec.archives {
        for suite in &archive.suites {
            let rel = rt
                .block_on(loader.release(archive, suite, snapshot))
                .unwrap_or_else(|e| panic!("{suite}: {e}"));
            assert!(matches!(
                rel.served,
                Served::Snapshot { .. } | Served::Mirror { .. }
            ));
            assert_eq!(rel.inrelease_sha256.len(), 64);
            for component in &archive.components {
                let index = rt
                    .block_on(loader.packages(&rel, component, "amd64"))
                    .unwrap_or_else(|e| panic!("{suite}: {e}"));
                for p in index.stanzas() {
                    let name = p.get("Package").unwrap();
                    Version::parse(p.get("Version").unwrap())
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
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
                *counts.entry(suite.clone()).or_default() += index.len();
            }
        }
    }
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
