//! `distill update` and `distill diff` against a fake snapshot service on
//! 127.0.0.1 with two captures per archive: T1, and T2 where one library
//! was upgraded (security) and tzdata too (main archive).

use distill_tests::archive::stanza;
use distill_tests::*;

const T1: &str = "20250110T000000Z";
const T2: &str = "20250120T060000Z";
const DATE1: i64 = EPOCH_2025 + 8 * DAY;
const DATE2: i64 = EPOCH_2025 + 19 * DAY;

fn main_suite(date: i64, tzdata: &str) -> Suite {
    let mut s = Suite::new("testing", date);
    for arch in ["amd64", "arm64"] {
        s = s
            .with(arch, &stanza("base-files", "13", arch, ""))
            .with(arch, &stanza("libc6", "2.41-1", arch, ""))
            .with(arch, &stanza("libssl3t64", "3.5-1", arch, "Depends: libc6"));
    }
    s.with("all", &stanza("tzdata", tzdata, "all", ""))
        .with("all", &stanza("ca-certificates", "20250419", "all", ""))
}

fn security_suite(date: i64, libssl: Option<&str>) -> Suite {
    let mut s = Suite::new("testing-security", date);
    if let Some(v) = libssl {
        for arch in ["amd64", "arm64"] {
            s = s.with(arch, &stanza("libssl3t64", v, arch, "Depends: libc6"));
        }
    }
    s
}

const IMAGES: &str = r#"
[build]
ca-certificates = "ca-certificates"

[build.tags]
latest = { user = "0", workdir = "/" }
nonroot = { user = "65532", workdir = "/home/nonroot" }

[images.static]
packages = ["base-files", "tzdata"]

[images.base]
extends = "static"
packages = ["libc6", "libssl3t64"]
"#;

fn setup() -> Setup {
    let mut s = Setup::snapshots(&["amd64", "arm64"], IMAGES, |server, key| {
        server.put_capture("debian", T1, &main_suite(DATE1, "2025a-1"), key);
        server.put_capture("debian", T2, &main_suite(DATE2, "2025b-1"), key);
        server.put_capture("debian-security", T1, &security_suite(DATE1, None), key);
        let bumped = security_suite(DATE2, Some("3.5-1+deb13u1"));
        server.put_capture("debian-security", T2, &bumped, key);
        server.publish_timestamps();
        vec![
            ("debian", &["testing"]),
            ("debian-security", &["testing-security"]),
        ]
    });
    // Two days after T2: both captures are complete.
    s.ws.now = DATE2 + 2 * DAY;
    let lock = s.ws.run(&["lock", "--snapshot", T1]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    s
}

fn pins(ws: &Workspace) -> (String, String) {
    let t: toml::Table = ws.lock_text().parse().unwrap();
    let a = &t["archives"];
    (
        a["debian"].as_str().unwrap().to_owned(),
        a["debian-security"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn security_update_moves_only_its_pin_and_names_what_changed() {
    let s = setup();
    let run =
        s.ws.run(&["update", "--archive", "debian-security", "--to", "latest"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let md = &run.stdout;
    assert!(md.starts_with("## distill update\n"), "{md}");
    insta::assert_snapshot!("security_update_markdown", md);
    assert!(
        md.contains("| libssl3t64 | `3.5-1` | `3.5-1+deb13u1` | base (amd64, arm64) |"),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "- `debian-security` pinned to `{T2}` (was `{T1}`)"
        )),
        "{md}"
    );
    assert!(md.contains("- `base-test` (amd64, arm64)"), "{md}");
    assert!(!md.contains("static-test"), "static has no libssl: {md}");
    assert!(
        !md.contains("tzdata"),
        "the main archive did not move: {md}"
    );
    assert_eq!(pins(&s.ws), (T1.to_owned(), T2.to_owned()));

    // Nothing newer: exit 0, lock untouched.
    let before = s.ws.lock_text();
    let again =
        s.ws.run(&["update", "--archive", "debian-security", "--to", "latest"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("Nothing changed."),
        "{}",
        again.stdout
    );
    assert_eq!(s.ws.lock_text(), before);

    // The daily run moves the main archive too: tzdata, in every image.
    let daily = s.ws.run(&["update", "--json"]);
    assert_eq!(daily.code, 2, "{}", daily.stderr);
    let v: serde_json::Value = serde_json::from_str(&daily.stdout).unwrap();
    insta::assert_snapshot!(
        "daily_update_json",
        serde_json::to_string_pretty(&v).unwrap()
    );
    assert_eq!(v["changed"], true);
    let changes = &v["distros"][0]["changes"];
    assert_eq!(changes[0]["package"], "tzdata");
    assert_eq!(changes[0]["from"], "2025a-1");
    assert_eq!(changes[0]["to"], "2025b-1");
    assert_eq!(
        v["distros"][0]["rebuild"],
        serde_json::json!({"base": ["amd64", "arm64"], "static": ["amd64", "arm64"]})
    );
    assert_eq!(pins(&s.ws), (T2.to_owned(), T2.to_owned()));
}

#[test]
fn default_target_skips_todays_capture() {
    let s = setup();
    let mut ws = s.ws;
    // "Now" is the day of T2: its capture may still be importing.
    ws.now = DATE2 + DAY / 2;
    let run = ws.run(&["update"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(pins(&ws), (T1.to_owned(), T1.to_owned()));
    let run = ws.run(&["update", "--to", "20250120T060000Z"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn html_listing_is_the_fallback_and_flaky_service_is_retried() {
    let s = setup();
    // The machine-readable list is broken: the month listing answers.
    s.server
        .put("/mr/timestamp/", b"<html>oops</html>".to_vec());
    // And the listing itself needs retries first.
    let listing = "/archive/debian-security/?year=2025&month=1";
    s.server.fault(listing, Fault::Status(503, None));
    s.server.fault(listing, Fault::Status(429, Some(0)));
    let run =
        s.ws.run(&["update", "--archive", "debian-security", "--to", "latest"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(pins(&s.ws), (T1.to_owned(), T2.to_owned()));
    assert_eq!(s.server.hits(listing), 3);
}

#[test]
fn failures_leave_the_lock_untouched() {
    let s = setup();
    let before = s.ws.lock_text();

    // The service keeps failing.
    for _ in 0..10 {
        s.server.fault("/mr/timestamp/", Fault::Status(503, None));
        s.server.fault(
            "/archive/debian/?year=2025&month=1",
            Fault::Status(503, None),
        );
    }
    let run = s.ws.run(&["update", "--archive", "debian"]);
    run.assert_error("cannot find the captures of debian");
    assert_eq!(s.ws.lock_text(), before);

    // Garbage everywhere.
    let s = setup();
    let before = s.ws.lock_text();
    s.server.put("/mr/timestamp/", b"{\"result\": 1}".to_vec());
    for m in 1..=12 {
        s.server.put(
            &format!("/archive/debian/?year=2025&month={m}"),
            b"<html>no links</html>".to_vec(),
        );
        s.server.put(
            &format!("/archive/debian/?year=2024&month={m}"),
            b"<html>no links</html>".to_vec(),
        );
    }
    let run =
        s.ws.run(&["update", "--archive", "debian", "--to", "latest"]);
    run.assert_error("no result.debian list");
    assert_eq!(s.ws.lock_text(), before);

    // T2's security Release is not signed.
    let s = setup();
    let before = s.ws.lock_text();
    let release = security_suite(DATE2, Some("3.5-1+deb13u1")).release_text();
    let path = format!("/archive/debian-security/{T2}/dists/testing-security/InRelease");
    s.server.put(&path, release.into_bytes());
    s.server.remove(&format!(
        "/archive/debian-security/{T2}/dists/testing-security/Release.gpg"
    ));
    let run = s.ws.run(&["update", "--to", "latest"]);
    run.assert_error("cannot verify");
    assert_eq!(s.ws.lock_text(), before);
}

#[test]
fn update_without_a_lock_or_with_an_unknown_archive() {
    let s = setup();
    s.ws.run(&["update", "--archive", "debian-ports"])
        .assert_error("cannot update archive debian-ports: no selected distro has it");
    s.ws.run(&["update", "--to", "yesterday"])
        .assert_error("cannot use --to yesterday");
    std::fs::remove_file(s.ws.path().join("snapshots/test.lock")).unwrap();
    s.ws.run(&["update"])
        .assert_error("no lock at snapshots/test.lock; run `distill lock` first");
}

/// The bot's update through the library: the report as values, the locks
/// written only when a package changed.
#[test]
fn update_through_the_project_api() {
    use distill_debian::SnapshotTime;
    use distill_project::{UpdateOptions, UpdateTo};

    let s = setup();
    let project = s.project();
    let before = s.ws.lock_text();
    // Pinned to T1: nothing moves, nothing is written.
    let at_t1 = UpdateOptions {
        to: UpdateTo::AtOrBefore(SnapshotTime::parse(T1).unwrap()),
        ..UpdateOptions::default()
    };
    let report = project.update(&at_t1).unwrap();
    assert!(!report.changed);
    assert!(report.distros[0].diff.is_empty());
    assert!(report.distros[0].diff.pins.is_empty());
    assert_eq!(s.ws.lock_text(), before);

    let security = UpdateOptions {
        archive: Some("debian-security".into()),
        to: UpdateTo::Latest,
        ..UpdateOptions::default()
    };
    let report = project.update(&security).unwrap();
    assert!(report.changed);
    let d = &report.distros[0];
    let changed: Vec<(&str, Option<&str>, Option<&str>)> = d
        .diff
        .changes
        .iter()
        .map(|c| (c.name.as_str(), c.old.as_deref(), c.new.as_deref()))
        .collect();
    assert_eq!(
        changed,
        [("libssl3t64", Some("3.5-1"), Some("3.5-1+deb13u1"))]
    );
    assert_eq!(
        d.diff.affected(&d.images).keys().collect::<Vec<_>>(),
        ["base"]
    );
    assert_eq!(pins(&s.ws), (T1.to_owned(), T2.to_owned()));
}

/// `kill -9` at any moment of an update: the lock is the old one or the
/// new one (never a part), and the next update succeeds.
#[test]
fn an_update_killed_at_any_moment_leaves_the_old_or_the_new_lock() {
    let s = setup();
    let path = s.ws.path().join("snapshots/test.lock");
    let old = std::fs::read_to_string(&path).unwrap();
    let mut seen_new = None;
    for delay in (0..=150).step_by(10) {
        std::fs::write(&path, &old).unwrap();
        let _ = std::fs::remove_dir_all(s.ws.cache());
        let mut child =
            s.ws.command(&["update"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read_to_string(&path).unwrap();
        if now != old {
            // A whole new lock, and always the same one.
            distill_lock::Lock::parse(&now).unwrap();
            assert_eq!(
                seen_new.get_or_insert_with(|| now.clone()),
                &now,
                "at {delay} ms"
            );
        }
    }
    std::fs::write(&path, &old).unwrap();
    let run = s.ws.run(&["update"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    if let Some(new) = seen_new {
        assert_eq!(std::fs::read_to_string(&path).unwrap(), new);
    }
}
