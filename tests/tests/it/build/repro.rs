//! Reproducibility: byte-identical builds anywhere, the golden digest, builds from the lock alone.

use std::process::Command;

use distill_tests::*;

use crate::build::common::*;

#[test]
fn two_builds_in_different_places_are_byte_identical_and_golden() {
    let s = setup(&[], "");
    let first = build(&s.ws, "out");
    assert_eq!(first.code, 0, "{}", first.stderr);
    // static and cc, three tags each.
    assert_eq!(first.stdout.lines().count(), 6, "{}", first.stdout);

    // Another cache, another working directory, another output path and
    // a umask that would leak into any mode taken from the process.
    let other = tempfile::tempdir().unwrap();
    let config = s.ws.path().join("packages.toml");
    let out2 = other.path().join("images");
    let second: Run = Command::new("sh")
        .args([
            "-c",
            "umask 077; exec \"$0\" --config \"$1\" build --out \"$2\"",
        ])
        .arg(distill_bin())
        .arg(&config)
        .arg(&out2)
        .current_dir(other.path())
        .env("DISTILL_CACHE_DIR", other.path().join("cache"))
        .env("DISTILL_NOW", s.ws.now.to_string())
        .output()
        .unwrap()
        .into();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(
        files(&s.ws.path().join("out")),
        files(&out2),
        "every file of every layout, with its mode"
    );

    // Golden: the digest of one image index, pinned. It changes only when
    // the bytes distill writes change, which must be a deliberate act.
    // History: a70ed01a… with miniz_oxide's gzip; 2776ccb1… since layers
    // are gzipped by zlib-rs (2.6x faster at the same level, issue 15);
    // c6406cb0… since in 256 KiB chunks on every core (the same level).
    let line = first
        .stdout
        .lines()
        .find(|l| l.starts_with("static-test:latest "))
        .unwrap();
    assert_eq!(
        line,
        "static-test:latest sha256:c6406cb0d1d6dce53673b1b2de809f5be1a433cb3bb119ce9f935818e0e35dc3",
        "if this change in output is intended, update the golden digest"
    );
}

#[test]
fn build_uses_only_the_lock_and_works_offline_when_warm() {
    let s = setup(&[], "");
    let before = s.server.all_hits();
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = s.server.all_hits();
    let fetched: Vec<&String> = after
        .iter()
        .filter(|(p, n)| before.get(*p) != Some(n))
        .map(|(p, _)| p)
        .collect();
    assert!(!fetched.is_empty());
    assert!(
        fetched
            .iter()
            .all(|p| p.contains("/pool/") && p.ends_with(".deb")),
        "build fetches .debs only, no index: {fetched:?}"
    );
    let offline = s.ws.run(&["--offline", "build", "--out", "again"]);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert_eq!(offline.stdout, run.stdout);
    // A second build over the first replaces what the first wrote and
    // nothing else: a file of the user's in the layout stays.
    std::fs::write(s.ws.path().join("out/cc-test/blobs/stray"), b"x").unwrap();
    std::fs::write(s.ws.path().join("out/cc-test/NOTES"), b"mine").unwrap();
    let again = build(&s.ws, "out");
    assert_eq!(again.stdout, run.stdout);
    assert_eq!(
        std::fs::read(s.ws.path().join("out/cc-test/blobs/stray")).unwrap(),
        b"x"
    );
    assert_eq!(
        std::fs::read(s.ws.path().join("out/cc-test/NOTES")).unwrap(),
        b"mine"
    );
    // A directory that is not an image layout is never replaced.
    let notes = s.ws.path().join("out/static-test");
    std::fs::remove_dir_all(&notes).unwrap();
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("NOTES"), b"mine").unwrap();
    let refused = s.ws.run(&["--offline", "build", "--out", "out"]);
    refused.assert_error(
        "out/static-test: it is a directory with other files, not output distill wrote",
    );
    assert_eq!(std::fs::read(notes.join("NOTES")).unwrap(), b"mine");
    std::fs::remove_dir_all(&notes).unwrap();
    let again = build(&s.ws, "out");
    assert_eq!(again.stdout, run.stdout);
    let names: Vec<String> = std::fs::read_dir(s.ws.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary directories left: {names:?}");
}
