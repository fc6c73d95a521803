//! `distill lock`, `why` and `resolve` end to end, on a fake signed archive
//! served from 127.0.0.1.

use distill_tests::archive::stanza;
use distill_tests::*;

const TS1: &str = "20250110T000000Z";
const DATE1: i64 = EPOCH_2025 + 8 * DAY;

fn main_suite() -> Suite {
    let mut s = Suite::new("testing", DATE1);
    for arch in ["amd64", "arm64"] {
        s = s
            .with(arch, &stanza("base-files", "13", arch, "Pre-Depends: awk"))
            .with(
                arch,
                &stanza(
                    "mawk",
                    "1.3",
                    arch,
                    "Provides: awk\nPriority: required\nDepends: libc6",
                ),
            )
            .with(
                arch,
                &stanza("gawk", "5", arch, "Provides: awk\nPriority: optional"),
            )
            .with(arch, &stanza("libc6", "2.41-1", arch, "Depends: libgcc-s1"))
            .with(
                arch,
                &stanza("libgcc-s1", "14-1", arch, "Depends: gcc-14-base, libc6"),
            )
            .with(arch, &stanza("gcc-14-base", "14-1", arch, ""))
            .with(
                arch,
                &stanza(
                    "libssl3t64",
                    "3.5-1",
                    arch,
                    "Depends: libc6, openssl-provider-legacy",
                ),
            )
            .with(arch, &stanza("openssl-provider-legacy", "3.5-1", arch, ""));
    }
    s.with(
        "all",
        &stanza(
            "tzdata",
            "2025a-1",
            "all",
            "Depends: debconf (>= 0.5) | debconf-2.0",
        ),
    )
    .with(
        "all",
        &stanza("debconf", "1.5", "all", "Provides: debconf-2.0"),
    )
}

fn security_suite() -> Suite {
    Suite::new("testing-security", DATE1).with(
        "amd64",
        &stanza("libc6", "2.41-1+deb13u1", "amd64", "Depends: libgcc-s1"),
    )
}

const IMAGES: &str = r#"
[images.static]
packages = ["base-files", "tzdata"]
exclude = [
  { package = "awk", reason = "maintainer scripts only" },
  { package = "debconf", reason = "config dialog only" },
  { package = "debconf-2.0", reason = "config dialog only" },
]

[images.base]
extends = "static"
packages = ["libc6", "libssl3t64"]
exclude = [{ package = "libgcc-s1", reason = "only from cc up" }, { package = "openssl-provider-legacy", reason = "legacy" }]

[images.cc]
extends = "base"
packages = ["libgcc-s1"]
architectures = ["amd64"]
"#;

fn setup() -> Setup {
    Setup::snapshots(&["amd64", "arm64"], IMAGES, |server, key| {
        server.put_capture("debian", TS1, &main_suite(), key);
        server.put_capture("debian-security", TS1, &security_suite(), key);
        vec![
            ("debian", &["testing"]),
            ("debian-security", &["testing-security"]),
        ]
    })
}

fn image_set(lock: &str, image: &str, arch: &str) -> Vec<String> {
    let v: toml::Table = lock.parse().unwrap();
    v["images"][image][arch]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn lock_resolves_every_image_and_is_byte_identical_twice() {
    let s = setup();
    // 20250120T000000Z is not a capture: the service redirects to TS1.
    let run = s.ws.run(&["lock", "--snapshot", "20250120T000000Z"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = s.ws.lock_text();
    assert!(first.ends_with('\n'));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.ws.path().join("snapshots/test.lock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o644,
            "an ordinary file, whatever tempfile or the umask say"
        );
    }
    assert_eq!(
        image_set(&first, "static", "amd64"),
        ["base-files", "tzdata"]
    );
    assert_eq!(
        image_set(&first, "base", "arm64"),
        ["base-files", "libc6", "libssl3t64", "tzdata"]
    );
    assert_eq!(
        image_set(&first, "cc", "amd64"),
        [
            "base-files",
            "gcc-14-base",
            "libc6",
            "libgcc-s1",
            "libssl3t64",
            "tzdata"
        ]
    );
    let lock: toml::Table = first.parse().unwrap();
    assert!(
        lock["images"]["cc"].get("arm64").is_none(),
        "cc is amd64 only"
    );
    // The pin is what was asked for; the capture actually served is recorded.
    assert_eq!(
        lock["archives"]["debian"].as_str(),
        Some("20250120T000000Z")
    );
    let suites = lock["suites"].as_array().unwrap();
    assert!(
        suites
            .iter()
            .all(|s| s["served"].as_str() == Some(&format!("snapshot {TS1}"))),
        "{suites:?}"
    );
    assert!(
        suites
            .iter()
            .all(|s| s["inrelease_sha256"].as_str().unwrap().len() == 64)
    );
    // Newest version across suites: security's libc6 for amd64, main's for arm64.
    let pkgs = lock["packages"].as_array().unwrap();
    let libc = |arch: &str| {
        pkgs.iter()
            .find(|p| {
                p["name"].as_str() == Some("libc6") && p["architecture"].as_str() == Some(arch)
            })
            .unwrap()
            .clone()
    };
    assert_eq!(libc("amd64")["version"].as_str(), Some("2.41-1+deb13u1"));
    assert_eq!(libc("amd64")["suite"].as_str(), Some("testing-security"));
    assert_eq!(libc("arm64")["version"].as_str(), Some("2.41-1"));
    // tzdata is `all`: locked once.
    assert_eq!(
        pkgs.iter()
            .filter(|p| p["name"].as_str() == Some("tzdata"))
            .count(),
        1
    );

    // Again, from the lock's own pins: byte-identical.
    let run = s.ws.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(s.ws.lock_text(), first);
    assert!(run.stderr.contains("unchanged"), "{}", run.stderr);
}

#[test]
fn why_shows_paths_roots_and_excludes() {
    let s = setup();
    assert_eq!(s.ws.run(&["lock", "--snapshot", TS1]).code, 0);
    let why = |pkg: &str, image: &str| {
        s.ws.run(&[
            "why", pkg, "--image", image, "--distro", "test", "--arch", "amd64",
        ])
    };
    let run = why("gcc-14-base", "cc");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "gcc-14-base 14-1 is in cc:\n  libgcc-s1 -> gcc-14-base\n"
    );
    // In base, where libgcc-s1 is no root, the path starts at libc6.
    let run = why("libc6", "base");
    assert!(
        run.stdout.contains("(a root of the image)"),
        "{}",
        run.stdout
    );
    let run = why("tzdata", "static");
    assert!(
        run.stdout.contains("(a root of the image)"),
        "{}",
        run.stdout
    );
    let run = why("libgcc-s1", "base");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "libgcc-s1 is excluded from base: only from cc up\n  libc6 needs `libgcc-s1`\n"
    );
    // An image/arch the lock does not have is refused, not re-derived.
    let run = s.ws.run(&[
        "why", "libc6", "--image", "cc", "--distro", "test", "--arch", "arm64",
    ]);
    run.assert_error("is not built for arm64");
    let run = why("gawk", "base");
    run.assert_error("answer why: gawk is not in image base");
}

#[test]
fn why_refuses_to_explain_a_set_that_is_not_the_locked_one() {
    let s = setup();
    assert_eq!(s.ws.run(&["lock", "--snapshot", TS1]).code, 0);
    // Tamper with the lock's image list: the archive no longer gives it.
    let path = s.ws.path().join("snapshots/test.lock");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lock = distill_lock::Lock::parse(&text).unwrap();
    lock.images
        .get_mut("base")
        .unwrap()
        .get_mut("amd64")
        .unwrap()
        .retain(|n| n != "tzdata");
    std::fs::write(&path, lock.to_toml()).unwrap();
    let run = s.ws.run(&[
        "why", "libc6", "--image", "base", "--distro", "test", "--arch", "amd64",
    ]);
    run.assert_error("no longer resolves base amd64 to the locked set");
}

#[test]
fn resolve_previews_ad_hoc_roots() {
    let s = setup();
    let run = s.ws.run(&[
        "resolve",
        "base-files",
        "--distro",
        "test",
        "--arch",
        "amd64",
        "--snapshot",
        TS1,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // mawk (Priority: required) is apt's choice for awk, not gawk.
    assert_eq!(
        run.stdout,
        "base-files 13\ngcc-14-base 14-1\nlibc6 2.41-1+deb13u1\nlibgcc-s1 14-1\nmawk 1.3\n"
    );
    let run = s.ws.run(&[
        "resolve",
        "base-files",
        "--exclude",
        "awk",
        "--distro",
        "test",
        "--arch",
        "amd64",
        "--snapshot",
        TS1,
        "--json",
    ]);
    insta::assert_snapshot!("resolve_json_with_an_exclude", run.stdout);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["packages"].as_array().unwrap().len(), 1);
    assert_eq!(v["excluded"]["awk"]["needed_by"][0], "base-files");
}

#[test]
fn a_missing_dependency_fails_and_leaves_the_old_lock() {
    let s = setup();
    assert_eq!(s.ws.run(&["lock", "--snapshot", TS1]).code, 0);
    let before = s.ws.lock_text();
    let toml = std::fs::read_to_string(s.ws.path().join("packages.toml")).unwrap()
        + "\n[images.broken]\npackages = [\"libc6\", \"nonexistent-lib\"]\n";
    std::fs::write(s.ws.path().join("packages.toml"), toml).unwrap();
    let run = s.ws.run(&["lock"]);
    run.assert_error(
        "error: cannot lock image broken for test amd64: cannot resolve nonexistent-lib",
    );
    assert_eq!(s.ws.lock_text(), before);
    let leftovers: Vec<_> = std::fs::read_dir(s.ws.path().join("snapshots"))
        .unwrap()
        .collect();
    assert_eq!(leftovers.len(), 1, "no temp files beside the lock");
}

#[test]
fn corrupt_and_future_locks_have_fix_its() {
    let s = setup();
    std::fs::create_dir_all(s.ws.path().join("snapshots")).unwrap();
    std::fs::write(s.ws.path().join("snapshots/test.lock"), "version = 3\n").unwrap();
    let run = s.ws.run(&["lock"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr.trim_end(),
        "error: cannot read snapshots/test.lock: unsupported lock version 3 (this distill reads versions 1 to 2); run `distill lock` to re-create it"
    );
    std::fs::write(
        s.ws.path().join("snapshots/test.lock"),
        "version = 1\n[[packages]\n",
    )
    .unwrap();
    let run = s.ws.run(&[
        "why", "libc6", "--image", "base", "--distro", "test", "--arch", "amd64",
    ]);
    run.assert_error("read snapshots/test.lock: ");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        s.server.all_hits().is_empty(),
        "a bad lock is refused before any download"
    );
}

#[test]
fn lock_can_be_restricted_to_architectures() {
    let s = setup();
    let run = s.ws.run(&["lock", "--snapshot", TS1, "--arch", "arm64"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lock: toml::Table = s.ws.lock_text().parse().unwrap();
    for (image, archs) in lock["images"].as_table().unwrap() {
        let keys: Vec<&String> = archs.as_table().unwrap().keys().collect();
        assert_eq!(keys, ["arm64"], "{image}");
    }
    // cc is amd64-only, so it has nothing to lock on arm64.
    assert!(lock["images"].get("cc").is_none());
    assert!(
        lock["packages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["architecture"].as_str() != Some("amd64"))
    );
    let run = s.ws.run(&["lock", "--snapshot", TS1, "--arch", "mips"]);
    run.assert_error("cannot use architecture mips: distro test has architectures amd64, arm64");
}

/// The same through the library, in-process: lock, a second lock that
/// changes nothing, and why answers as values.
#[test]
fn lock_and_why_through_the_project_api() {
    use distill_debian::SnapshotTime;
    use distill_project::{LockOptions, Why};

    let s = setup();
    let project = s.project();
    let opts = LockOptions {
        snapshot: Some(SnapshotTime::parse(TS1).unwrap()),
        ..LockOptions::default()
    };
    let locked = project.lock_distros(&opts).unwrap();
    assert_eq!(locked.len(), 1);
    assert!(locked[0].changed);
    assert_eq!((locked[0].packages, locked[0].images), (9, 3));
    let first = s.ws.lock_text();
    let again = project.lock_distros(&LockOptions::default()).unwrap();
    assert!(!again[0].changed, "the pins are reused");
    assert_eq!(s.ws.lock_text(), first);

    let lock = project.lock("test").unwrap().expect("written");
    assert_eq!(lock.images["cc"].keys().collect::<Vec<_>>(), ["amd64"]);

    match project.why("gcc-14-base", "cc", "test", "amd64").unwrap() {
        Why::Included {
            version,
            path,
            debug_only,
        } => {
            assert!(!debug_only);
            assert_eq!(version, "14-1");
            assert_eq!(path, ["libgcc-s1", "gcc-14-base"]);
        }
        other => panic!("{other:?}"),
    }
    match project.why("libgcc-s1", "base", "test", "amd64").unwrap() {
        Why::Excluded(cut) => {
            assert_eq!(cut.reason, "only from cc up");
            assert_eq!(cut.needed_by, ["libc6"]);
        }
        other => panic!("{other:?}"),
    }
    let e = project.why("libc6", "cc", "test", "arm64").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot answer why: image cc is not built for arm64"
    );
}

/// Error lines are part of the contract: reviewed as snapshots.
#[test]
fn error_lines() {
    let s = setup();
    let lines: Vec<String> = [
        &["lock", "--arch", "mips"][..],
        &[
            "why", "libc6", "--image", "base", "--distro", "test", "--arch", "amd64",
        ],
        &["lock", "--distro", "nope"],
        &["lock", "--snapshot", "yesterday"],
        &["build"],
    ]
    .iter()
    .map(|args| {
        let run = s.ws.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        format!("distill {}\n  {}", args.join(" "), run.stderr.trim_end())
    })
    .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

/// `lock --check` after `edit` changed the written lock: the run, and
/// proof that the check wrote nothing.
fn check_after(edit: impl FnOnce(&mut distill_lock::Lock)) -> Run {
    let s = setup();
    let run = s.ws.run(&["lock", "--snapshot", TS1]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let path = s.ws.path().join("snapshots/test.lock");
    let mut lock = distill_lock::Lock::parse(&s.ws.lock_text()).unwrap();
    edit(&mut lock);
    let text = lock.to_toml();
    std::fs::write(&path, &text).unwrap();
    let run = s.ws.run(&["lock", "--check"]);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "nothing written"
    );
    run
}

#[test]
fn lock_check_passes_the_lock_as_written() {
    let run = check_after(|_| {});
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "snapshots/test.lock: matches the signed indices at its pins\n"
    );
}

#[test]
fn lock_check_names_a_hand_edited_sha256() {
    let forged = "ff".repeat(32);
    let run = check_after(|l| {
        let p = l
            .packages
            .iter_mut()
            .find(|p| p.name == "libc6" && p.architecture == "arm64")
            .unwrap();
        p.sha256 = distill_debian::Sha256::parse(&forged).unwrap();
    });
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "package libc6 (arm64): the lock says sha256 {forged}, the signed index "
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .starts_with("snapshots/test.lock: 1 difference(s)")
    );
}

#[test]
fn lock_check_names_an_added_package() {
    let run = check_after(|l| {
        let mut evil = l.package("libc6", "amd64").unwrap().clone();
        evil.name = "evil".into();
        evil.filename = "pool/main/e/evil/evil_1_amd64.deb".into();
        l.packages.push(evil);
        l.images
            .get_mut("static")
            .unwrap()
            .get_mut("amd64")
            .unwrap()
            .push("evil".into());
    });
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "  package evil (amd64) 2.41-1+deb13u1: in the lock, but not chosen at its pins\n"
        ) && run.stdout.contains(
            "  image static (amd64): the lock adds evil, which the resolver does not choose\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn lock_check_names_a_removed_package_and_a_removed_exclude() {
    let run = check_after(|l| {
        l.images
            .get_mut("static")
            .unwrap()
            .get_mut("arm64")
            .unwrap()
            .retain(|n| n != "tzdata");
    });
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "  image static (arm64): the lock lacks tzdata, which the resolver chooses\n"
        ),
        "{}",
        run.stdout
    );

    // packages.toml changed without a re-lock: an exclude removed lets
    // mawk in, which the lock does not have.
    let s = setup();
    assert_eq!(s.ws.run(&["lock", "--snapshot", TS1]).code, 0);
    let path = s.ws.path().join("packages.toml");
    let toml = std::fs::read_to_string(&path).unwrap().replace(
        "  { package = \"awk\", reason = \"maintainer scripts only\" },\n",
        "",
    );
    std::fs::write(&path, toml).unwrap();
    let run = s.ws.run(&["lock", "--check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("  image static (amd64): the lock lacks mawk, which the resolver chooses\n"),
        "{}",
        run.stdout
    );
}

/// Fast-forward: a pin in the future is refused before any request (no
/// capture can be from then; a server answering for it would be lying).
#[test]
fn future_snapshot_times_are_refused_before_any_request() {
    let s = setup();
    let future = "20990101T000000Z";
    for args in [
        &["lock", "--snapshot", future][..],
        &["update", "--to", future],
        &[
            "resolve",
            "--distro",
            "test",
            "--arch",
            "amd64",
            "--snapshot",
            future,
            "libc6",
        ],
        &[
            "show",
            "--distro",
            "test",
            "--arch",
            "amd64",
            "--snapshot",
            future,
            "libc6",
        ],
    ] {
        let run = s.ws.run(args);
        run.assert_error(&format!("snapshot time {future} is in the future"));
        assert!(
            s.server.all_hits().is_empty(),
            "{args:?}: {:?}",
            s.server.all_hits()
        );
        assert!(
            !s.ws.path().join("snapshots").exists(),
            "{args:?} wrote a lock"
        );
    }
}

/// Rollback and indefinite freeze: once a lock records a suite's Release
/// date, a source serving an older (validly signed) Release is refused by
/// `lock` and `update`, and the lock stays as it was.
#[test]
fn an_older_release_than_the_lock_records_is_refused() {
    let s = setup();
    let run = s.ws.run(&["lock", "--snapshot", TS1]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = s.ws.lock_text();
    assert!(before.contains("date = \"20250109T000000Z\""), "{before}");
    // The capture now answers with an older Release (a replay).
    let mut old = main_suite();
    old.date = DATE1 - 2 * DAY;
    s.server.put_capture("debian", TS1, &old, &s.key);
    // Seen from a machine that has not cached the capture (one that has
    // reads the capture's InRelease from its cache: it cannot change).
    std::fs::remove_dir_all(s.ws.cache()).unwrap();
    let run = s.ws.run(&["lock"]);
    run.assert_error("refusing a rollback");
    assert!(
        run.stderr.contains("served a Release dated 20250107T000000Z, older than the 20250109T000000Z the lock records"),
        "{}",
        run.stderr
    );
    assert_eq!(s.ws.lock_text(), before);
    s.ws.run(&["lock", "--check"])
        .assert_error("refusing a rollback");
}

/// A version 1 lock (no Release dates) still builds and checks; `lock`
/// rewrites it as version 2 and says so.
#[test]
fn a_version_1_lock_is_read_and_rewritten_as_version_2_with_a_note() {
    let s = setup();
    assert_eq!(s.ws.run(&["lock", "--snapshot", TS1]).code, 0);
    let v2 = s.ws.lock_text();
    let v1: String = v2
        .replace("version = 2\n", "version = 1\n")
        .lines()
        .filter(|l| !l.starts_with("date = "))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = s.ws.path().join("snapshots/test.lock");
    std::fs::write(&path, &v1).unwrap();
    assert_eq!(s.ws.run(&["lock", "--check"]).code, 0);
    let run = s.ws.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("snapshots/test.lock is a version 1 lock; writing it as version 2"),
        "{}",
        run.stderr
    );
    assert_eq!(s.ws.lock_text(), v2);
}

// A lock that must keep meaning what it says when the snapshot cannot
// serve its pins and the mirror has moved on.

const TS_KEEP: &str = "20250110T000000Z";

/// The archive at the pin: main, an (empty) updates suite, and a
/// security suite that publishes amd64 only, with a newer tzdata (`all`).
/// `now` adds what the mirror serves today: newer libc6 and zlib1g in
/// updates, and a package that needs the newer libc6.
fn keep_suites(now: bool) -> [Suite; 3] {
    let date = if now { DATE1 + 10 * DAY } else { DATE1 };
    let mut main = Suite::new("testing", DATE1);
    let mut updates = Suite::new("testing-updates", date);
    for arch in ["amd64", "arm64"] {
        main = main
            .with(arch, &stanza("base-files", "13", arch, ""))
            .with(arch, &stanza("libc6", "2.41-1", arch, ""))
            .with(
                arch,
                &stanza("zlib1g", "1:1.3-1", arch, "Depends: libc6 (>= 2.41)"),
            );
        // One version in two suites, two different builds: the lock
        // takes the first suite's, and so must its check.
        let twin = stanza("libtwin", "1.0", arch, "");
        let other = twin.replace(
            &sha256_hex(format!("libtwin_1.0_{arch}").as_bytes()),
            &"ee".repeat(32),
        );
        main = main.with(arch, &twin);
        updates = updates.with(arch, &other);
        if now {
            updates = updates
                .with(arch, &stanza("libc6", "2.41-2", arch, ""))
                .with(
                    arch,
                    &stanza("zlib1g", "1:1.3-2", arch, "Depends: libc6 (>= 2.41)"),
                )
                .with(
                    arch,
                    &stanza("newtool", "1", arch, "Depends: libc6 (>= 2.41-2)"),
                );
        }
    }
    main = main.with("all", &stanza("tzdata", "2025a-1", "all", ""));
    let mut security = Suite::new("testing-security", date);
    security.architectures = vec!["amd64".into()];
    let security = security.with("all", &stanza("tzdata", "2025b-0+deb13u1", "all", ""));
    [main, updates, security]
}

const KEEP_IMAGES: &str = r#"
[build]
ca-certificates = "tzdata"

[images.static]
packages = ["base-files", "tzdata", "libtwin"]

[images.base]
extends = "static"
packages = ["libc6"]
"#;

/// Locked at the pin from the snapshot; then the snapshot goes away and
/// the mirror serves `keep_suites(true)`.
fn keep_setup() -> Setup {
    let server = Server::start();
    let key = TestKey::generate("test archive");
    let [main, updates, security] = keep_suites(false);
    for s in [&main, &updates] {
        server.put_capture("debian", TS_KEEP, s, &key);
    }
    server.put_capture("debian-security", TS_KEEP, &security, &key);
    let [main, updates, security] = keep_suites(true);
    for s in [&main, &updates] {
        server.put_suite("/mirror/debian", s, &key);
    }
    server.put_suite("/mirror/debian-security", &security, &key);
    let url = server.url();
    let toml = packages_toml(
        &["amd64", "arm64"],
        &[
            (
                "debian",
                format!("{url}/archive/debian"),
                vec![format!("{url}/mirror/debian")],
                &["testing", "testing-updates"],
            ),
            (
                "debian-security",
                format!("{url}/archive/debian-security"),
                vec![format!("{url}/mirror/debian-security")],
                &["testing-security"],
            ),
        ],
    ) + KEEP_IMAGES;
    let s = Setup::from_toml(server, key, &toml);
    let run = s.ws.run(&["lock", "--snapshot", TS_KEEP]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let check = s.ws.run(&["lock", "--check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert_eq!(
        check.stdout,
        "snapshots/test.lock: matches the signed indices at its pins\n"
    );
    // The snapshot service goes away: the pins fall back to the mirror.
    let toml = std::fs::read_to_string(s.ws.path().join("packages.toml"))
        .unwrap()
        .replace(
            &format!("{url}/archive/"),
            &format!("{}/archive/", dead_url()),
        );
    std::fs::write(s.ws.path().join("packages.toml"), toml).unwrap();
    s
}

fn add_image(ws: &Workspace, text: &str) {
    let path = ws.path().join("packages.toml");
    let toml = std::fs::read_to_string(&path).unwrap() + text;
    std::fs::write(path, toml).unwrap();
}

fn read_lock(ws: &Workspace) -> distill_lock::Lock {
    distill_lock::Lock::parse(&ws.lock_text()).unwrap()
}

#[test]
fn an_all_package_a_suite_lacks_for_one_architecture_is_locked_per_deb() {
    let s = keep_setup();
    let lock = read_lock(&s.ws);
    let tz: Vec<_> = lock
        .packages
        .iter()
        .filter(|p| p.name == "tzdata")
        .collect();
    assert_eq!(tz.len(), 2, "{tz:?}");
    assert_eq!(
        lock.package("tzdata", "amd64").unwrap().version,
        "2025b-0+deb13u1"
    );
    assert_eq!(lock.package("tzdata", "arm64").unwrap().version, "2025a-1");
    assert_eq!(
        lock.package("tzdata", "arm64").unwrap().for_architectures,
        Some(vec!["arm64".to_owned()])
    );
    // The same version in two suites: main's build, as apt's first source.
    let twin = lock.package("libtwin", "amd64").unwrap();
    assert_eq!(twin.suite, "testing");
    assert_ne!(twin.sha256.to_string(), "ee".repeat(32));
}

#[test]
fn relocking_without_the_snapshot_keeps_what_the_lock_says() {
    let s = keep_setup();
    let before = read_lock(&s.ws);
    // A new image, with the pins unavailable and the mirror moved on.
    add_image(
        &s.ws,
        "\n[images.zlib]\nextends = \"base\"\npackages = [\"zlib1g\"]\n",
    );
    let run = s.ws.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("not served"))
        .collect();
    assert_eq!(notes.len(), 1, "said once per run: {}", run.stderr);
    assert!(
        notes[0].contains("read test (testing, testing-updates, testing-security) from 127.0.0.1"),
        "{}",
        notes[0]
    );
    let after = read_lock(&s.ws);
    // Every package the lock had is there byte for byte; the new image
    // adds only its own, at the mirror's newest.
    for p in &before.packages {
        assert!(
            after.packages.contains(p),
            "{} moved: {:?}",
            p.name,
            after.package(&p.name, "amd64")
        );
    }
    let added: Vec<(&str, &str)> = after
        .packages
        .iter()
        .filter(|p| !before.packages.contains(p))
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(added, [("zlib1g", "1:1.3-2"), ("zlib1g", "1:1.3-2")]);
    for image in ["static", "base"] {
        assert_eq!(after.images[image], before.images[image], "{image}");
    }
    assert_eq!(after.package("libc6", "amd64").unwrap().version, "2.41-1");
    // A fresh lock passes its check, again and again, with the pins not
    // served; the check says what it compared against.
    let text = s.ws.lock_text();
    for _ in 0..3 {
        let check = s.ws.run(&["lock", "--check"]);
        assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
        assert!(
            check.stdout.starts_with(
                "snapshots/test.lock: matches the signed indices a mirror serves now, not its pins, which were not served (testing dated 20250109T000000Z (locked 20250109T000000Z, as locked); testing-updates dated 20250119T000000Z (locked 20250119T000000Z, as locked)"
            ),
            "{}",
            check.stdout
        );
        // What the lock keeps below the mirror's newest is listed, not failed.
        assert!(
            check.stdout.ends_with(
                "  1 package(s) held below the newest those indices serve (`distill update` moves them):\n    libc6 2.41-1, newest 2.41-2 (amd64, arm64)\n"
            ),
            "{}",
            check.stdout
        );
        assert_eq!(s.ws.lock_text(), text, "the check writes nothing");
    }
    // And a second lock changes nothing.
    let again = s.ws.run(&["lock"]);
    assert!(again.stderr.contains("unchanged"), "{}", again.stderr);
    assert_eq!(s.ws.lock_text(), text);
    // why explains the locked version, not the mirror's newest.
    let why = s.ws.run(&[
        "why", "libc6", "--image", "zlib", "--distro", "test", "--arch", "amd64",
    ]);
    assert_eq!(why.code, 0, "{}", why.stderr);
    assert_eq!(
        why.stdout,
        "libc6 2.41-1 is in zlib (a root of the image):\n  libc6\n"
    );
    // The snapshot back: its capture at the pin is older than the mirror
    // the lock was last written from, and is what the pin means (no
    // rollback refusal); the kept versions are still served there.
    let toml: String = std::fs::read_to_string(s.ws.path().join("packages.toml"))
        .unwrap()
        .lines()
        .map(|l| {
            match l
                .strip_prefix("snapshot = \"")
                .and_then(|u| u.split_once("/archive/"))
            {
                Some((_, name)) => format!("snapshot = \"{}/archive/{name}\n", s.server.url()),
                None => format!("{l}\n"),
            }
        })
        .collect();
    std::fs::write(s.ws.path().join("packages.toml"), toml).unwrap();
    let back = s.ws.run(&["lock", "--check"]);
    assert_eq!(back.code, 2, "{}{}", back.stdout, back.stderr);
    assert!(
        back.stdout.contains("zlib1g") && !back.stdout.contains("libc6"),
        "only what the mirror alone served differs at the pin: {}",
        back.stdout
    );
    let relock = s.ws.run(&["lock"]);
    assert_eq!(relock.code, 0, "{}", relock.stderr);
    assert_eq!(
        read_lock(&s.ws).package("zlib1g", "amd64").unwrap().version,
        "1:1.3-1"
    );
    assert_eq!(
        read_lock(&s.ws).package("libc6", "amd64").unwrap().version,
        "2.41-1"
    );
    std::fs::write(s.ws.path().join("snapshots/test.lock"), &text).unwrap();
    // With the snapshot serving the pin again, zlib1g (locked from the
    // mirror) is not what the pin gives: why says so rather than explain
    // another set.
    let why = s.ws.run(&[
        "why", "libc6", "--image", "zlib", "--distro", "test", "--arch", "amd64",
    ]);
    why.assert_error("no longer resolves zlib amd64 to the locked set (zlib1g is 1:1.3-2 in the lock, 1:1.3-1 in the indices)");
}

/// Through the library, in-process: the lock's semantics, not the
/// command line (whose lines and exit codes the tests above check).
fn lock_in_process(s: &Setup, archs: &[&str]) -> (distill_lock::Lock, Vec<String>) {
    let recorder = std::sync::Arc::new(Recorder::default());
    let project = s.project_with(recorder.clone());
    let opts = distill_project::LockOptions {
        archs: archs.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    };
    project
        .lock_distros(&opts)
        .unwrap_or_else(|e| panic!("{}", distill_store::causes(&e).join(": ")));
    let checks = project.check_locks(&[]).unwrap();
    if archs.is_empty() {
        // A lock just written is what `lock --check` makes again.
        assert!(
            checks.iter().all(|c| c.discrepancies.is_empty()),
            "{:?}",
            checks.iter().map(|c| &c.discrepancies).collect::<Vec<_>>()
        );
    }
    (
        project.lock("test").unwrap().expect("written"),
        recorder.notes(),
    )
}

#[test]
fn a_kept_version_that_no_longer_resolves_is_let_go_and_named() {
    let s = keep_setup();
    add_image(
        &s.ws,
        "\n[images.tool]\nextends = \"base\"\npackages = [\"newtool\"]\n",
    );
    let (lock, notes) = lock_in_process(&s, &[]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("test amd64: the locked libc6 no longer resolve with the rest")),
        "{notes:?}"
    );
    assert_eq!(lock.package("libc6", "amd64").unwrap().version, "2.41-2");
}

#[test]
fn lock_arch_re_resolves_only_that_architecture() {
    let s = keep_setup();
    let before = read_lock(&s.ws);
    add_image(
        &s.ws,
        "\n[images.zlib]\nextends = \"base\"\npackages = [\"zlib1g\"]\n",
    );
    let (after, _) = lock_in_process(&s, &["amd64"]);
    assert_eq!(after.images["zlib"].keys().collect::<Vec<_>>(), ["amd64"]);
    for image in ["static", "base"] {
        assert_eq!(
            after.images[image], before.images[image],
            "{image}: arm64 kept"
        );
    }
    assert_eq!(after.build, before.build);
    for p in before.packages.iter().filter(|p| p.serves("arm64")) {
        assert_eq!(after.package(&p.name, "arm64"), Some(p), "{}", p.name);
    }
    // Without --arch, arm64 gets the new image too.
    let (all, _) = lock_in_process(&s, &[]);
    assert!(all.images["zlib"].contains_key("arm64"));
}

#[test]
fn a_lock_of_another_distro_is_refused_by_every_command() {
    let s = setup();
    add_image(
        &s.ws,
        "\n[build.tags]\nlatest = { user = \"0\", workdir = \"/\" }\n",
    );
    assert_eq!(s.ws.run(&["lock", "--snapshot", TS1]).code, 0);
    let path = s.ws.path().join("snapshots/test.lock");
    let good = s.ws.lock_text();
    std::fs::write(
        &path,
        good.replace("distro = \"test\"", "distro = \"other\""),
    )
    .unwrap();
    for args in [
        &["lock"][..],
        &["lock", "--check"],
        &["build"],
        &[
            "why", "libc6", "--image", "base", "--distro", "test", "--arch", "amd64",
        ],
    ] {
        let run = s.ws.run(args);
        run.assert_error(
            "cannot read snapshots/test.lock: it is the lock of other, not of test (a copied file?); move it to snapshots/other.lock and run `distill lock --distro test`",
        );
    }
    // Its field right but its suites another codename's: refused too.
    std::fs::write(
        &path,
        good.replace("suite = \"testing\"", "suite = \"bookworm\"")
            .replace(
                "suite = \"testing-security\"",
                "suite = \"bookworm-security\"",
            ),
    )
    .unwrap();
    s.ws.run(&["build"]).assert_error(
        "it locks suites bookworm, bookworm-security, none of which test has (codename testing)",
    );
    // --changed-since and diff with another distro's lock.
    std::fs::write(&path, &good).unwrap();
    let other = s.ws.path().join("other.lock");
    std::fs::write(
        &other,
        good.replace("distro = \"test\"", "distro = \"other\""),
    )
    .unwrap();
    s.ws.run(&["build", "--changed-since", "other.lock"])
        .assert_error("cannot build --changed-since other.lock: it is a lock of other, and this build is of test");
    s.ws.run(&["diff", "other.lock", "snapshots/test.lock"])
        .assert_error("the first is a lock of other, the second of test");
}

#[test]
fn a_failure_in_one_distro_writes_no_lock_of_any() {
    let s = setup();
    let path = s.ws.path().join("packages.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let distro: String = toml
        .split("\n[images.")
        .next()
        .unwrap()
        .replace("distros.test", "distros.two");
    std::fs::write(
        &path,
        format!("{toml}\n{distro}\n[images.broken]\ndistros = [\"two\"]\npackages = [\"nonexistent-lib\"]\n"),
    )
    .unwrap();
    let run = s.ws.run(&["lock", "--snapshot", TS1]);
    run.assert_error("cannot lock image broken for two amd64: cannot resolve nonexistent-lib");
    assert!(
        !s.ws.path().join("snapshots/test.lock").exists(),
        "test resolved, but nothing is written while two fails"
    );
}
