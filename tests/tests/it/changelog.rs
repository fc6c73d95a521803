//! What a bump fixes, read from the new .debs' Debian changelogs: a
//! security upload with two CVEs, a binNMU (its own
//! `changelog.Debian.<arch>.gz` first), a package whose doc directory is
//! a symlink to its sibling's, and a downgrade; in `distill update`'s
//! pull-request body, its summary file, and `distill diff` (text and
//! JSON), with the sizes before and after.

use distill_tests::*;

const T1: &str = "20250110T000000Z";
const T2: &str = "20250120T060000Z";
const DATE1: i64 = EPOCH_2025 + 8 * DAY;
const DATE2: i64 = EPOCH_2025 + 19 * DAY;

const LIBSSL_OLD: &str = "\
openssl (3.5-1) unstable; urgency=medium

  * New upstream release.

 -- Maintainer <m@example.org>  Mon, 01 Dec 2024 10:00:00 +0000
";

const LIBSSL_NEW: &str = "\
openssl (3.5-1+deb13u1) trixie-security; urgency=high

  * Fix CVE-2025-2222: a use after free in the TLS 1.3 handshake.
  * Fix CVE-2025-1111 (an out-of-bounds read). Closes: #1000001

 -- Security Team <team@security.debian.org>  Sun, 19 Jan 2025 10:00:00 +0000
";

const GLIBC: &str = "\
glibc (2.41-1) unstable; urgency=medium

  * New upstream release.

 -- Maintainer <m@example.org>  Mon, 01 Dec 2024 10:00:00 +0000
";

const GLIBC_BINNMU: &str = "\
glibc (2.41-1+b1) unstable; urgency=low, binary-only=yes

  * Binary-only non-maintainer upload for amd64; no source changes.
  * Rebuild against the new toolchain.

 -- amd64 Build Daemon <buildd@example.org>  Sat, 18 Jan 2025 10:00:00 +0000
";

fn debs(t2: bool) -> Vec<(&'static str, Deb)> {
    let ssl = if t2 { "3.5-1+deb13u1" } else { "3.5-1" };
    let ssl_log = if t2 {
        format!("{LIBSSL_NEW}\n{LIBSSL_OLD}")
    } else {
        LIBSSL_OLD.to_owned()
    };
    let libc = Deb::new("libc6", if t2 { "2.41-1+b1" } else { "2.41-1" }, "amd64")
        .dir("./usr/")
        .dir("./usr/share/")
        .dir("./usr/share/doc/")
        .dir("./usr/share/doc/libc6/")
        .gzipped("./usr/share/doc/libc6/changelog.Debian.gz", GLIBC);
    let libc = if t2 {
        libc.gzipped(
            "./usr/share/doc/libc6/changelog.Debian.amd64.gz",
            GLIBC_BINNMU,
        )
    } else {
        libc
    };
    let security = if t2 { "debian-security" } else { "debian" };
    vec![
        (
            "debian",
            Deb::new("base-files", "13", "amd64")
                .dir("./etc/")
                .file("./etc/debian_version", b"13\n"),
        ),
        ("debian", libc),
        (
            security,
            Deb::new("libssl3t64", ssl, "amd64")
                .control("Depends: libc6")
                .dir("./usr/")
                .dir("./usr/share/")
                .dir("./usr/share/doc/")
                .dir("./usr/share/doc/libssl3t64/")
                .gzipped("./usr/share/doc/libssl3t64/changelog.Debian.gz", &ssl_log),
        ),
        // Its doc directory is libssl3t64's (same source, and it depends
        // on it), as Debian policy allows.
        (
            security,
            Deb::new("openssl-provider-legacy", ssl, "amd64")
                .control(&format!("Depends: libssl3t64 (= {ssl})"))
                .dir("./usr/")
                .dir("./usr/share/")
                .dir("./usr/share/doc/")
                .symlink("./usr/share/doc/openssl-provider-legacy", "libssl3t64"),
        ),
        // An older tzdata at T2: a downgrade.
        (
            "debian",
            Deb::new("tzdata", if t2 { "2025a-1" } else { "2025b-1" }, "all")
                .dir("./etc/")
                .file("./etc/tz", b"zones"),
        ),
    ]
}

/// Publishes the packages of `t2` (or T1) under `ts`; returns the two
/// archives' suites.
fn publish(server: &Server, key: &TestKey, ts: &str, date: i64, t2: bool) {
    let mut main = Suite::new("testing", date);
    let mut sec = Suite::new("testing-security", date);
    for (archive, deb) in debs(t2) {
        let bytes = deb.build();
        let arch = if deb.arch == "all" { "all" } else { "amd64" };
        server.put(
            &format!("/archive/{archive}/{ts}/{}", deb.filename()),
            bytes.clone(),
        );
        let stanza = deb.stanza(&bytes);
        if archive == "debian" {
            main = main.with(arch, &stanza);
        } else {
            sec = sec.with(arch, &stanza);
        }
    }
    server.put_capture("debian", ts, &main, key);
    server.put_capture("debian-security", ts, &sec, key);
}

const IMAGES: &str = r#"
[build.tags]
latest = { user = "0", workdir = "/" }

[images.base]
packages = ["base-files", "libc6", "libssl3t64", "openssl-provider-legacy", "tzdata"]
"#;

fn setup() -> Setup {
    let mut s = Setup::snapshots(&["amd64"], IMAGES, |server, key| {
        publish(server, key, T1, DATE1, false);
        publish(server, key, T2, DATE2, true);
        server.publish_timestamps();
        vec![
            ("debian", &["testing"]),
            ("debian-security", &["testing-security"]),
        ]
    });
    s.ws.now = DATE2 + 2 * DAY;
    let lock = s.ws.run(&["lock", "--snapshot", T1]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    // A build caches every .deb of the old lock: installed sizes known.
    let build = s.ws.run(&["build", "--out", "out"]);
    assert_eq!(build.code, 0, "{}", build.stderr);
    s
}

#[test]
fn the_pull_request_says_what_the_bump_fixes() {
    let s = setup();
    let old = s.ws.lock_text();
    let run =
        s.ws.run(&["update", "--to", "latest", "--summary-file", "title.txt"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let md = &run.stdout;
    assert!(
        md.starts_with(
            "## distill update\n\n**Fixes CVE-2025-1111, CVE-2025-2222; urgency high.**\n"
        ),
        "{md}"
    );
    let title = std::fs::read_to_string(s.ws.path().join("title.txt")).unwrap();
    assert_eq!(title, "fixes CVE-2025-1111, CVE-2025-2222; urgency high\n");
    for row in [
        "| libssl3t64 | `3.5-1` | `3.5-1+deb13u1` | base (amd64) | CVE-2025-1111, CVE-2025-2222 (high) |",
        // Through its doc directory's symlink to libssl3t64.
        "| openssl-provider-legacy | `3.5-1` | `3.5-1+deb13u1` | base (amd64) | CVE-2025-1111, CVE-2025-2222 (high) |",
        "| libc6 | `2.41-1` | `2.41-1+b1` | base (amd64) | (low) |",
        "| tzdata | `2025b-1` | `2025a-1` | base (amd64) | **downgrade** |",
    ] {
        assert!(md.contains(row), "{row}\n{md}");
    }
    // The entries after the old version, in a collapsed block: the
    // security entry and the binNMU's, not what the old version had.
    let details =
        &md[md.find("<details>").expect("a details block")..md.find("</details>").unwrap()];
    assert!(details.contains(LIBSSL_NEW.trim_end()), "{details}");
    assert!(details.contains(GLIBC_BINNMU.trim_end()), "{details}");
    assert!(!details.contains("New upstream release"), "{details}");
    assert!(
        details.contains("- tzdata: **downgrade** from `2025b-1` to `2025a-1`"),
        "{details}"
    );
    // Sizes: the .debs' always; installed only where every .deb is in
    // the cache (the downgraded tzdata's is not: nothing was read of it).
    assert!(md.contains("| image | arch | .debs | installed |"), "{md}");
    assert!(md.contains("| `base-test` | amd64 | "), "{md}");

    // distill diff says the same, one line an entry, and as JSON.
    std::fs::write(s.ws.path().join("old.lock"), &old).unwrap();
    let diff = s.ws.run(&["diff", "old.lock", "snapshots/test.lock"]);
    assert_eq!(diff.code, 2, "{}", diff.stderr);
    assert!(
        diff.stdout
            .starts_with("Fixes CVE-2025-1111, CVE-2025-2222; urgency high\n"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains(
            "- libssl3t64 `3.5-1+deb13u1` (trixie-security, urgency high): CVE-2025-1111, CVE-2025-2222; closes #1000001\n"
        ),
        "{}",
        diff.stdout
    );
    assert!(!diff.stdout.contains("<details>"), "{}", diff.stdout);
    let full =
        s.ws.run(&["diff", "--changelog", "old.lock", "snapshots/test.lock"]);
    assert!(
        full.stdout.contains(LIBSSL_NEW.trim_end()),
        "{}",
        full.stdout
    );

    let json =
        s.ws.run(&["diff", "--json", "old.lock", "snapshots/test.lock"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        v["fixes"],
        serde_json::json!(["CVE-2025-1111", "CVE-2025-2222"])
    );
    assert_eq!(v["urgency"], "high");
    let change = |name: &str| {
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["package"] == name)
            .unwrap()
            .clone()
    };
    let ssl = change("libssl3t64");
    let entries = ssl["changelog"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{ssl}");
    assert_eq!(entries[0]["version"], "3.5-1+deb13u1");
    assert_eq!(
        entries[0]["distributions"],
        serde_json::json!(["trixie-security"])
    );
    assert_eq!(entries[0]["urgency"], "high");
    assert_eq!(entries[0]["closes"], serde_json::json!([1000001]));
    assert_eq!(
        entries[0]["maintainer"],
        "Security Team <team@security.debian.org>"
    );
    let libc = change("libc6");
    assert_eq!(libc["changelog"][0]["version"], "2.41-1+b1");
    assert_eq!(libc["changelog"].as_array().unwrap().len(), 1, "{libc}");
    assert_eq!(change("tzdata")["downgrade"], true);
    let size = &v["sizes"][0];
    assert_eq!(size["image"], "base");
    // Five packages of Installed-Size 10 (KiB), all cached by the build.
    assert_eq!(size["installed"]["from"], 51_200);
    assert_eq!(size["installed"]["to"], serde_json::Value::Null);
    assert_ne!(size["download"]["from"], size["download"]["to"]);
}
