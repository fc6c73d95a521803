//! The verified archive, end to end: the real `distill` binary against a
//! fake signed archive served from 127.0.0.1 in the snapshot URL layout.
//! One file of ~570 lines: each test is one attack or fault on the same
//! small archive (signatures, dates, hashes, sizes, retries, fallbacks,
//! offline), and reads best next to the others.

use distill_tests::archive::stanza;
use distill_tests::*;

const TS1: &str = "20250110T000000Z";
/// Dated one day before the capture TS1.
const DATE1: i64 = EPOCH_2025 + 8 * DAY;

fn suite() -> Suite {
    Suite::new("testing", DATE1)
        .with(
            "amd64",
            &stanza("hello", "2.10-3", "amd64", "Depends: libc6 (>= 2.34)"),
        )
        .with(
            "arm64",
            &stanza("hello", "2.10-3", "arm64", "Depends: libc6 (>= 2.34)"),
        )
        .with(
            "all",
            &stanza("tzdata", "2025a-1", "all", "Multi-Arch: foreign"),
        )
}

/// One archive `debian` with suite `testing` as capture TS1, and a mirror
/// at `/mirror/debian` serving the same suite.
fn setup_with(suite: Suite, snapshot_up: bool) -> Setup {
    let server = Server::start();
    let key = TestKey::generate("test archive");
    server.put_capture("debian", TS1, &suite, &key);
    server.put_suite("/mirror/debian", &suite, &key);
    let snapshot = if snapshot_up {
        format!("{}/archive/debian", server.url())
    } else {
        dead_url() + "/archive/debian"
    };
    let toml = packages_toml(
        &["amd64", "arm64"],
        &[(
            "debian",
            snapshot,
            vec![format!("{}/mirror/debian", server.url())],
            &["testing"],
        )],
    );
    Setup::from_toml(server, key, &toml)
}

/// The suite without `Acquire-By-Hash`, so faults can target the one
/// canonical path of each index.
fn plain_paths() -> Suite {
    Suite {
        by_hash: false,
        ..suite()
    }
}

fn setup() -> Setup {
    setup_with(suite(), true)
}

/// The mirror's copy of the amd64 index.
const MIRROR_XZ: &str = "/mirror/debian/dists/testing/main/binary-amd64/Packages.xz";

/// `distill show hello` at TS1 with `extra` arguments, to run.
fn show_command(ws: &Workspace, extra: &[&str]) -> std::process::Command {
    let mut args = vec![
        "show",
        "hello",
        "--distro",
        "test",
        "--arch",
        "amd64",
        "--snapshot",
        TS1,
    ];
    args.extend_from_slice(extra);
    ws.command(&args)
}

fn show(ws: &Workspace, extra: &[&str]) -> Run {
    show_command(ws, extra)
        .output()
        .expect("run distill")
        .into()
}

fn assert_nothing_half_written(ws: &Workspace) {
    let (_, tmp) = ws.cache_files();
    assert!(tmp.is_empty(), "leftover temp files: {tmp:?}");
}

fn ipath(file: &str) -> String {
    format!("/archive/debian/{TS1}/dists/testing/{file}")
}

#[test]
fn good_signature_shows_the_stanza() {
    let s = setup();
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("Package: hello\nVersion: 2.10-3\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Depends: libc6 (>= 2.34)"));
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    // by-hash was used, as the Release asks.
    let hits = s.server.all_hits();
    assert!(
        hits.keys()
            .any(|p| p.contains("/binary-amd64/by-hash/SHA256/")),
        "{hits:?}"
    );
}

#[test]
fn arch_all_packages_are_in_every_index_and_json_names_the_capture() {
    let s = setup();
    let run = s.ws.run(&[
        "show",
        "tzdata",
        "--distro",
        "test",
        "--arch",
        "arm64",
        "--snapshot",
        "20250120T120000Z",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v[0]["fields"]["Architecture"], "all");
    // 20250120T120000Z is not a capture: the service redirects to TS1 and
    // the answer says which capture was actually used.
    assert_eq!(v[0]["source"]["snapshot"], TS1);
    assert_eq!(v[0]["suite"], "testing");
}

#[test]
fn highest_version_first_across_suites() {
    let server = Server::start();
    let key = TestKey::generate("k");
    let main = Suite::new("testing", DATE1).with("amd64", &stanza("hello", "2.10-3", "amd64", ""));
    let updates = Suite::new("testing-updates", DATE1)
        .with("amd64", &stanza("hello", "2.10-3+deb1u1", "amd64", ""));
    let security = Suite::new("testing-security", DATE1)
        .with("amd64", &stanza("hello", "1:1.0-1", "amd64", ""));
    server.put_capture("debian", TS1, &main, &key);
    server.put_suite(&format!("/archive/debian/{TS1}"), &updates, &key);
    server.put_capture("debian-security", TS1, &security, &key);
    let toml = packages_toml(
        &["amd64"],
        &[
            snapshot_archive(&server, "debian", &["testing", "testing-updates"]),
            snapshot_archive(&server, "debian-security", &["testing-security"]),
        ],
    );
    let ws = Workspace::new(&toml, Some(&key));
    let run = show(&ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let versions: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Version: "))
        .collect();
    assert_eq!(versions, ["1:1.0-1", "2.10-3+deb1u1", "2.10-3"]);
}

#[test]
fn tampered_inrelease_is_rejected() {
    let s = setup();
    let good = s.server.get(&ipath("InRelease")).unwrap();
    let bad = String::from_utf8(good)
        .unwrap()
        .replace("Origin: Test", "Origin: Evil");
    s.server.put(&ipath("InRelease"), bad.into_bytes());
    let run = show(&s.ws, &[]);
    run.assert_error("no good signature from a trusted key");
    assert!(
        run.stderr.contains("bad signature by key"),
        "{}",
        run.stderr
    );
    // Nothing past the InRelease was fetched.
    assert!(!s.server.all_hits().keys().any(|p| p.contains("Packages")));
    assert_nothing_half_written(&s.ws);
}

#[test]
fn signature_by_an_untrusted_key_is_rejected_and_named() {
    let s = setup();
    let stranger = TestKey::generate("stranger");
    let text = suite().release_text();
    s.server.put(
        &ipath("InRelease"),
        stranger.clearsign(text.as_bytes(), DATE1),
    );
    let run = show(&s.ws, &[]);
    run.assert_error("which is not in the keyring");
    let fpr = stranger
        .cert
        .keys()
        .subkeys()
        .next()
        .unwrap()
        .key()
        .fingerprint()
        .to_hex();
    assert!(run.stderr.contains(&fpr), "want {fpr} in {}", run.stderr);
    assert_ne!(stranger.fingerprint(), s.key.fingerprint());
}

#[test]
fn release_dated_after_the_snapshot_is_rejected() {
    // Signed (and dated) two days after the capture that serves it: the
    // signature itself is not yet valid at the snapshot time.
    let s = setup_with(
        Suite {
            date: DATE1 + 2 * DAY,
            ..suite()
        },
        true,
    );
    let run = show(&s.ws, &[]);
    run.assert_error("no good signature from a trusted key");
    assert!(run.stderr.contains("Not live until"), "{}", run.stderr);

    // Signed before the capture, but its Date claims later: our own check.
    let s = setup();
    let text = Suite {
        date: DATE1 + 2 * DAY,
        ..suite()
    }
    .release_text();
    s.server
        .put(&ipath("InRelease"), s.key.clearsign(text.as_bytes(), DATE1));
    let run = show(&s.ws, &[]);
    run.assert_error("is later than the snapshot time");
    assert!(run.stderr.contains(TS1), "{}", run.stderr);
}

#[test]
fn release_expired_at_the_snapshot_time_is_rejected() {
    let s = setup_with(
        Suite {
            date: DATE1 - 10 * DAY,
            valid_until: Some(DATE1 - 3 * DAY),
            ..suite()
        },
        true,
    );
    let run = show(&s.ws, &[]);
    run.assert_error("Release expired: Valid-Until");
}

#[test]
fn valid_until_is_judged_at_the_snapshot_not_the_wall_clock() {
    // Valid for a week after its date, like a security Release: long
    // expired by the workspace's "now", valid at the capture.
    let s = setup_with(
        Suite {
            valid_until: Some(DATE1 + 7 * DAY),
            ..suite()
        },
        true,
    );
    assert!(s.ws.now > DATE1 + 7 * DAY);
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn packages_with_wrong_hash_is_rejected_and_not_cached() {
    let s = setup_with(plain_paths(), true);
    let path = ipath("main/binary-amd64/Packages.xz");
    let mut bytes = s.server.get(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // same size, different content
    s.server.put(&path, bytes.clone());
    s.server.put(MIRROR_XZ, bytes);
    let run = show(&s.ws, &[]);
    run.assert_error("sha256 mismatch");
    let (blobs, _) = s.ws.cache_files();
    // Only the InRelease may be cached; nothing with the bad hash.
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert_nothing_half_written(&s.ws);
}

#[test]
fn packages_with_wrong_size_is_rejected() {
    let s = setup_with(plain_paths(), false);
    let mut bytes = s.server.get(MIRROR_XZ).unwrap();
    bytes.extend_from_slice(b"trailing junk");
    s.server.put(MIRROR_XZ, bytes);
    let run = show(&s.ws, &[]);
    run.assert_error("size mismatch");
    // From a live mirror, say what apt says: it is probably mid-sync.
    assert!(
        run.stderr.contains("a mirror sync is probably in progress"),
        "{}",
        run.stderr
    );
    assert_nothing_half_written(&s.ws);
}

#[test]
fn truncated_download_is_retried_then_succeeds() {
    let s = setup_with(plain_paths(), true);
    let path = ipath("main/binary-amd64/Packages.xz");
    s.server.fault(&path, Fault::Truncate);
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(s.server.hits(&path), 2);
    assert_nothing_half_written(&s.ws);
}

#[test]
fn truncated_every_time_is_an_error_with_nothing_cached() {
    let s = setup_with(plain_paths(), true);
    let path = ipath("main/binary-amd64/Packages.xz");
    let mirror = MIRROR_XZ;
    for _ in 0..4 {
        s.server.fault(&path, Fault::Truncate);
        s.server.fault(mirror, Fault::Truncate);
    }
    let run = show(&s.ws, &[]);
    run.assert_error("Packages.xz");
    assert_eq!(s.server.hits(&path), 4, "retried up to the limit");
    let (blobs, _) = s.ws.cache_files();
    assert_eq!(blobs.len(), 1, "only the InRelease: {blobs:?}");
    assert_nothing_half_written(&s.ws);
}

#[test]
fn service_unavailable_then_success() {
    let s = setup();
    s.server
        .fault(&ipath("InRelease"), Fault::Status(503, None));
    s.server
        .fault(&ipath("InRelease"), Fault::Status(502, None));
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(s.server.hits(&ipath("InRelease")), 3);
    assert_eq!(
        s.server.hits("/mirror/debian/dists/testing/InRelease"),
        0,
        "no fallback needed"
    );
}

#[test]
fn rate_limit_honours_retry_after() {
    let s = setup();
    s.server
        .fault(&ipath("InRelease"), Fault::Status(429, Some(1)));
    let start = std::time::Instant::now();
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The retry base is 5 ms in tests; only Retry-After explains a wait.
    assert!(
        start.elapsed() >= std::time::Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(s.server.hits(&ipath("InRelease")), 2);
}

#[test]
fn snapshot_down_falls_back_to_the_mirror_and_says_so_once() {
    let s = setup_with(suite(), false);
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("Package: hello\n"));
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with(&format!("note: snapshot {TS1} not served (")),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("read test (testing) from 127.0.0.1"),
        "{}",
        lines[0]
    );
    assert!(s.server.hits("/mirror/debian/dists/testing/InRelease") == 1);
}

#[test]
fn not_found_on_snapshot_falls_back_to_the_mirror() {
    let s = setup();
    s.server.remove(&ipath("main/binary-amd64/Packages.xz"));
    s.server.remove(&ipath(&format!(
        "main/binary-amd64/by-hash/SHA256/{}",
        sha256_hex(&suite().index_files()["main/binary-amd64/Packages.xz"])
    )));
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hits = s.server.all_hits();
    assert!(
        hits.keys()
            .any(|p| p.starts_with("/mirror/debian/dists/testing/main/binary-amd64/")),
        "{hits:?}"
    );
}

#[test]
fn cache_serves_offline_runs() {
    let s = setup();
    let first = show(&s.ws, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let Setup { server, ws, .. } = s;
    drop(server); // nothing listens any more
    let offline = show(&ws, &["--offline"]);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert_eq!(offline.stdout, first.stdout);
    // A package index never fetched is a clear error offline.
    let run = ws.run(&[
        "show",
        "hello",
        "--distro",
        "test",
        "--arch",
        "arm64",
        "--snapshot",
        TS1,
        "--offline",
    ]);
    run.assert_error("--offline");
}

#[test]
fn offline_with_an_empty_cache_is_an_error() {
    let s = setup();
    let run = show(&s.ws, &["--offline"]);
    run.assert_error("not in the cache and --offline was given");
    assert!(
        s.server.all_hits().is_empty(),
        "offline must not touch the network"
    );
}

#[test]
fn release_and_detached_signature_when_there_is_no_inrelease() {
    let s = setup();
    s.server.remove(&ipath("InRelease"));
    s.server.remove("/mirror/debian/dists/testing/InRelease");
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(s.server.hits(&ipath("Release.gpg")), 1);
    // And a Release.gpg by a stranger is rejected.
    let stranger = TestKey::generate("stranger");
    s.server.put(
        &ipath("Release.gpg"),
        stranger.detach_sign(suite().release_text().as_bytes(), DATE1),
    );
    let ws2 = Workspace::new(
        &std::fs::read_to_string(s.ws.path().join("packages.toml")).unwrap(),
        Some(&s.key),
    );
    let run = show(&ws2, &[]);
    run.assert_error("not in the keyring");
}

#[test]
fn a_signed_release_of_another_suite_is_rejected() {
    let s = setup_with(
        Suite {
            codename: "oldstable".into(),
            name: "testing".into(),
            ..suite()
        },
        true,
    );
    // Suite: testing is what we asked for, so make both names differ.
    let text = suite()
        .release_text()
        .replace("Suite: testing", "Suite: other")
        .replace("Codename: testing", "Codename: other");
    s.server
        .put(&ipath("InRelease"), s.key.clearsign(text.as_bytes(), DATE1));
    let run = show(&s.ws, &[]);
    run.assert_error("describes suite \"other\"");
}

#[test]
fn security_layout_components_updates_main() {
    let s = setup_with(
        Suite {
            components_field: "updates/main".into(),
            ..suite()
        },
        true,
    );
    let toml = std::fs::read_to_string(s.ws.path().join("packages.toml"))
        .unwrap()
        .replace("components = [\"main\"]", "components = [\"updates/main\"]");
    std::fs::write(s.ws.path().join("packages.toml"), toml).unwrap();
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Package: hello"));
}

#[test]
fn a_suite_without_the_architecture_is_empty_not_an_error() {
    let s = setup_with(
        Suite {
            architectures: vec!["amd64".into()],
            ..suite()
        },
        true,
    );
    let run = s.ws.run(&[
        "show",
        "hello",
        "--distro",
        "test",
        "--arch",
        "arm64",
        "--snapshot",
        TS1,
    ]);
    run.assert_error("cannot find package hello for arm64 in test (testing)");
}

#[test]
fn user_errors_are_one_line_and_exit_1() {
    let s = setup();
    s.ws.run(&["show", "hello", "--distro", "nope"])
        .assert_error("unknown distro \"nope\" (known: test)");
    s.ws.run(&["show", "hello", "--distro", "test", "--arch", "mips"])
        .assert_error("has architectures amd64, arm64");
    s.ws.run(&[
        "show",
        "hello",
        "--distro",
        "test",
        "--arch",
        "amd64",
        "--snapshot",
        "yesterday",
    ])
    .assert_error("invalid time \"yesterday\"");
    std::fs::write(s.ws.path().join("packages.toml"), "[distros.test\n").unwrap();
    show(&s.ws, &[]).assert_error("cannot parse packages.toml");
    std::fs::write(
        s.ws.path().join("packages.toml"),
        "[distros.test]\ncodename = 1\n",
    )
    .unwrap();
    show(&s.ws, &[]).assert_error("cannot parse packages.toml");
    let run = s.ws.run(&[
        "--keyring",
        "/nonexistent/k.gpg",
        "show",
        "hello",
        "--distro",
        "test",
        "--arch",
        "amd64",
    ]);
    assert_eq!(run.code, 1);
}

#[test]
fn a_custom_keyring_file_with_garbage_is_an_error() {
    let s = setup();
    std::fs::write(s.ws.path().join("test-keyring.pgp"), b"garbage").unwrap();
    show(&s.ws, &[]).assert_error("cannot read keyring");
}

/// Endless data: a source that sends more than the Release says is cut
/// at that size (not read on), and the next source serves the index.
#[test]
fn endless_data_is_cut_at_the_size_the_release_gives() {
    let s = setup_with(plain_paths(), true);
    let path = ipath("main/binary-amd64/Packages.xz");
    s.server.fault(&path, Fault::Endless);
    let started = std::time::Instant::now();
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    assert_eq!(s.server.hits(&path), 1, "not retried: the bytes were wrong");
    // Cut at the size: the server got out little more than what socket
    // buffers hold before distill hung up, not the gigabyte it offered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.server.sent(&path) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = s.server.sent(&path);
    assert!(sent > 0 && sent < 64 << 20, "{sent} bytes sent");
    assert_eq!(s.server.hits(MIRROR_XZ), 1);
    assert_nothing_half_written(&s.ws);
}

/// `show` with the download limits set through the environment.
fn show_limited(s: &Setup, vars: &[(&str, &str)]) -> (Run, std::time::Duration) {
    let started = std::time::Instant::now();
    let run: Run = show_command(&s.ws, &[])
        .envs(vars.iter().copied())
        .output()
        .unwrap()
        .into();
    (run, started.elapsed())
}

/// Slow retrieval: a source that stops sending mid-body hits the read
/// timeout (`DISTILL_READ_TIMEOUT`), and after its retries the next source
/// is used.
#[test]
fn a_stalled_download_times_out_and_the_mirror_serves() {
    let s = setup_with(plain_paths(), true);
    let path = ipath("main/binary-amd64/Packages.xz");
    for _ in 0..4 {
        s.server.fault(&path, Fault::Stall);
    }
    let (run, took) = show_limited(&s, &[("DISTILL_READ_TIMEOUT", "1")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(took.as_secs() < 20, "{took:?}");
    assert_eq!(s.server.hits(&path), 4, "retried, then given up");
    assert_eq!(s.server.hits(MIRROR_XZ), 1);
    assert_nothing_half_written(&s.ws);
}

/// Slow retrieval, a byte at a time: each read is quick, so only the
/// per-file deadline (`DISTILL_FILE_DEADLINE`) ends it.
#[test]
fn a_trickling_download_hits_the_per_file_deadline() {
    let s = setup_with(plain_paths(), true);
    let path = ipath("main/binary-amd64/Packages.xz");
    for _ in 0..4 {
        s.server.fault(&path, Fault::Trickle);
    }
    let (run, took) = show_limited(&s, &[("DISTILL_FILE_DEADLINE", "1")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(took.as_secs() < 20, "{took:?}");
    assert_eq!(s.server.hits(MIRROR_XZ), 1);
    assert_nothing_half_written(&s.ws);

    let (run, _) = show_limited(&s, &[("DISTILL_FILE_DEADLINE", "0")]);
    run.assert_error("DISTILL_FILE_DEADLINE=0");
}

/// A signature by a key of the keyring that had expired when the
/// Release was signed is no signature: refused, the expiry named.
#[test]
fn a_signature_by_an_expired_key_is_rejected() {
    let expired = TestKey::expiring("expired", std::time::Duration::from_secs(365 * 86_400));
    let s = setup();
    std::fs::write(s.ws.path().join("test-keyring.pgp"), expired.public_bytes()).unwrap();
    let text = suite().release_text();
    s.server.put(
        &ipath("InRelease"),
        expired.clearsign(text.as_bytes(), DATE1),
    );
    let run = show(&s.ws, &[]);
    run.assert_error("expired or not yet valid when it signed at 20250109T000000Z");
    assert_nothing_half_written(&s.ws);
}

/// SHA-1 signatures are collision-prone: refused even from a trusted key,
/// with the digest named.
#[test]
fn a_sha1_signature_is_rejected() {
    let s = setup();
    let key = TestKey {
        cert: s.key.cert.clone(),
        hash: sequoia_openpgp::types::HashAlgorithm::SHA512,
    }
    .with_hash(sequoia_openpgp::types::HashAlgorithm::SHA1);
    let text = suite().release_text();
    s.server
        .put(&ipath("InRelease"), key.clearsign(text.as_bytes(), DATE1));
    let run = show(&s.ws, &[]);
    run.assert_error("uses SHA1, which is not collision resistant");
    assert_nothing_half_written(&s.ws);
}

/// Mix and match: an index from another capture of the same suite is not
/// the one the verified Release names; it is refused, never combined.
#[test]
fn an_index_from_another_capture_is_not_mixed_in() {
    let s = setup_with(plain_paths(), true);
    let other = Suite {
        date: DATE1 + DAY,
        ..plain_paths().with("amd64", &stanza("evil", "1", "amd64", ""))
    };
    let bytes = other.index_files()["main/binary-amd64/Packages.xz"].clone();
    let path = ipath("main/binary-amd64/Packages.xz");
    s.server.fault(&path, Fault::Replace(bytes.clone()));
    s.server.fault(MIRROR_XZ, Fault::Replace(bytes));
    let run = show(&s.ws, &[]);
    run.assert_error("Packages.xz");
    assert!(run.stderr.contains("mismatch"), "{}", run.stderr);
    assert_nothing_half_written(&s.ws);
}

/// The uncompressed index is kept in the cache under the hash the
/// verified Release gives it, and used instead of downloading and
/// decompressing again; a damaged copy is detected, dropped and made anew.
#[test]
fn the_decompressed_index_cache_is_used_and_a_damaged_copy_is_remade() {
    let s = setup_with(plain_paths(), true);
    assert_eq!(show(&s.ws, &[]).code, 0);
    let files = plain_paths().index_files();
    let plain = sha256_hex(&files["main/binary-amd64/Packages"]);
    let packed = sha256_hex(&files["main/binary-amd64/Packages.xz"]);
    let blob = |sha: &str| s.ws.cache_blob(sha);
    assert!(blob(&plain).is_file(), "the decompressed index is kept");

    // Used: with the compressed index gone from the cache and from every
    // source, `show` still answers.
    std::fs::remove_file(blob(&packed)).unwrap();
    let xz = ipath("main/binary-amd64/Packages.xz");
    let mirror = MIRROR_XZ;
    s.server.remove(&xz);
    s.server.remove(mirror);
    let before = s.server.hits(&xz);
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(s.server.hits(&xz), before, "no index download");

    // Kept with it: its table, so a run reads only the stanzas it needs.
    let table = s.ws.cache().join(format!("derived/{plain}.table"));
    let good_table = std::fs::read(&table).unwrap();

    // Damaged: a byte of the very stanza `show` reads. The table's
    // checksum of that stanza catches it; the text is made again from the
    // compressed index (fetched anew: it is gone from the cache), hashed
    // against the Release, and kept. The damaged bytes are never shown.
    let text = &files["main/binary-amd64/Packages"];
    let hello = text
        .windows(14)
        .position(|w| w == b"Package: hello")
        .unwrap();
    flip_byte(&blob(&plain), hello + 12);
    s.server
        .put(&xz, files["main/binary-amd64/Packages.xz"].clone());
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Package: hello"), "{}", run.stdout);
    assert_eq!(
        s.server.hits(&xz),
        before + 1,
        "the index was fetched again"
    );
    assert_eq!(sha256_hex(&std::fs::read(blob(&plain)).unwrap()), plain);

    // A damaged table fails its checksum: made again from the text (read
    // and hashed against the Release), with no download.
    flip_byte(&table, 200);
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Package: hello"), "{}", run.stdout);
    assert_eq!(s.server.hits(&xz), before + 1, "no download");
    assert_eq!(std::fs::read(&table).unwrap(), good_table);
    assert_nothing_half_written(&s.ws);
}

#[test]
fn a_snapshot_captures_inrelease_is_fetched_once_then_read_from_the_cache() {
    let s = setup();
    let inrelease = ipath("InRelease");
    assert_eq!(show(&s.ws, &[]).code, 0);
    assert_eq!(s.server.hits(&inrelease), 1);
    // A capture never changes: the next run makes no request for it (and
    // verifies the cached copy again).
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Package: hello"), "{}", run.stdout);
    assert_eq!(s.server.hits(&inrelease), 1, "no request for the capture");

    // A damaged cached copy fails its hash and is fetched again.
    let sha = sha256_hex(&s.server.get(&inrelease).unwrap());
    let blob = s.ws.cache_blob(&sha);
    flip_byte(&blob, 40);
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(s.server.hits(&inrelease), 2, "fetched again");
    assert_eq!(sha256_hex(&std::fs::read(&blob).unwrap()), sha);
}

#[test]
fn a_mirrors_inrelease_is_revalidated_and_a_new_one_is_taken() {
    let s = setup_with(suite(), false);
    let inrelease = "/mirror/debian/dists/testing/InRelease";
    assert_eq!(show(&s.ws, &[]).code, 0);
    assert_eq!(s.server.not_modified(inrelease), 0);
    // Unchanged: the mirror answers 304 and the cached copy is used.
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Version: 2.10-3"), "{}", run.stdout);
    assert_eq!(s.server.hits(inrelease), 2);
    assert_eq!(s.server.not_modified(inrelease), 1);

    // Changed: the new InRelease is downloaded, verified and used.
    let newer = Suite::new("testing", DATE1 + DAY).with(
        "amd64",
        &stanza("hello", "2.10-4", "amd64", "Depends: libc6 (>= 2.34)"),
    );
    s.server.put_suite("/mirror/debian", &newer, &s.key);
    let run = show(&s.ws, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Version: 2.10-4"), "{}", run.stdout);
    assert_eq!(s.server.not_modified(inrelease), 1, "a full answer");
}
