//! The security responder: a bump rebuilds only the images that contain it; `diff`.

use distill_tests::*;

use crate::build::common::*;

#[test]
fn a_security_bump_rebuilds_only_the_images_that_contain_it() {
    const TS2: &str = "20250115T000000Z";
    let patched = |arch: &str| {
        Deb::new("libgcc-s1", "14-1+deb13u1", arch)
            .compression("")
            .dir("./usr/")
            .dir("./usr/lib/")
            .dir(&format!("./usr/lib/{}/", triplet(arch)))
            .file(
                &format!("./usr/lib/{}/libgcc_s.so.1", triplet(arch)),
                b"gcc, fixed",
            )
    };
    let s = setup_full(
        &[],
        "",
        &[
            (TS1, DATE1, vec![]),
            (
                TS2,
                EPOCH_2025 + 14 * DAY,
                ARCHS.iter().map(|a| patched(a)).collect(),
            ),
        ],
    );
    let ws = &s.ws;
    let before = build(ws, "out");
    assert_eq!(before.code, 0, "{}", before.stderr);
    let lock = ws.path().join("snapshots/test.lock");
    std::fs::copy(&lock, ws.path().join("old.lock")).unwrap();
    copy_dir(&ws.path().join("out/cc-test"), &ws.path().join("cc-before"));
    let static_index = std::fs::read(ws.path().join("out/static-test/index.json")).unwrap();

    let update = ws.run(&["update", "--archive", "debian-security", "--to", "latest"]);
    assert_eq!(update.code, 2, "{}", update.stderr);
    assert!(
        update
            .stdout
            .contains("| libgcc-s1 | `14-1` | `14-1+deb13u1` | cc (amd64, arm64) |"),
        "{}",
        update.stdout
    );
    assert!(
        update.stdout.contains("- `cc-test` (amd64, arm64)"),
        "{}",
        update.stdout
    );
    assert!(!update.stdout.contains("static-test"), "{}", update.stdout);

    // Only cc is rebuilt; static's layout is not touched.
    let rebuilt = ws.run(&["build", "--changed-since", "old.lock", "--out", "out"]);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    assert_eq!(rebuilt.stdout.lines().count(), 3, "{}", rebuilt.stdout);
    assert!(
        rebuilt.stdout.lines().all(|l| l.starts_with("cc-test:")),
        "{}",
        rebuilt.stdout
    );
    assert_eq!(
        std::fs::read(ws.path().join("out/static-test/index.json")).unwrap(),
        static_index
    );

    // A full build agrees: static's digests are the old ones, cc's new.
    let full = build(ws, "full");
    let lines = |run: &Run, image: &str| -> Vec<String> {
        run.stdout
            .lines()
            .filter(|l| l.starts_with(image))
            .map(String::from)
            .collect()
    };
    assert_eq!(lines(&full, "static-test:"), lines(&before, "static-test:"));
    assert_eq!(lines(&full, "cc-test:"), lines(&rebuilt, "cc-test:"));
    assert_ne!(lines(&full, "cc-test:"), lines(&before, "cc-test:"));

    // Nothing more to do.
    std::fs::copy(&lock, ws.path().join("now.lock")).unwrap();
    let none = ws.run(&["build", "--changed-since", "now.lock"]);
    assert_eq!(
        (none.code, none.stdout.as_str()),
        (0, ""),
        "{}",
        none.stderr
    );

    // diff of the locks and of the two cc layouts.
    let d = ws.run(&["diff", "old.lock", "snapshots/test.lock"]);
    assert_eq!(d.code, 2, "{}", d.stderr);
    assert!(d.stdout.contains("libgcc-s1"), "{}", d.stdout);
    let d = ws.run(&["diff", "cc-before", "out/cc-test"]);
    assert_eq!(d.code, 2, "{}", d.stderr);
    let t = triplet("amd64");
    assert!(
        d.stdout.contains("latest linux/amd64: changed"),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout.contains("distill: libgcc-s1 14-1+deb13u1"),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout.contains(&format!(
            "file ~ /usr/lib/{t}/libgcc_s.so.1: file 0644 0:0 3 bytes -> file 0644 0:0 10 bytes"
        )),
        "{}",
        d.stdout
    );
    assert!(
        !d.stdout.contains("config "),
        "configs are the same: {}",
        d.stdout
    );
    let j = ws.run(&["diff", "cc-before", "out/cc-test", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    let files = v["images"][0]["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["path"] == format!("usr/lib/{t}/libgcc_s.so.1") && f["change"] == "changed")
    );
    let same = ws.run(&["diff", "out/static-test", "full/static-test"]);
    assert_eq!((same.code, same.stdout.as_str()), (0, "no differences\n"));
    ws.run(&["diff", "old.lock", "out/cc-test"])
        .assert_error("give two lock files or two image layouts");
}

/// A security suite that does not publish arm64 gives amd64 a newer
/// tzdata (`all`) than arm64: the lock keeps both .debs, each for its
/// architectures, the check agrees, and each image gets its own.
#[test]
fn an_all_package_can_be_two_debs_one_per_architecture() {
    let newer = Deb::new("tzdata", "2025b-0+deb13u1", "all")
        .compression("zst")
        .dir("./usr/")
        .dir("./usr/share/")
        .dir("./usr/share/zoneinfo/")
        .file("./usr/share/zoneinfo/UTC", b"TZif2 UTC, fixed");
    let s = setup_with_security_archs(&[], "", &[(TS1, DATE1, vec![newer])], &["amd64"]);
    let ws = &s.ws;
    let lock = distill_lock::Lock::parse(&ws.lock_text()).unwrap();
    assert_eq!(
        lock.package("tzdata", "amd64").unwrap().version,
        "2025b-0+deb13u1"
    );
    assert_eq!(lock.package("tzdata", "arm64").unwrap().version, "2025a-1");
    let check = ws.run(&["lock", "--check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let run = build(ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let layout = ws.path().join("out/static-test");
    let utc = |arch: &str| {
        unpack(&layout, &manifest(&layout, "latest", arch))["usr/share/zoneinfo/UTC"]
            .data
            .clone()
    };
    assert_eq!(utc("amd64"), b"TZif2 UTC, fixed");
    assert_eq!(utc("arm64"), b"TZif2 UTC");
}
