//! distill's promises held against a user's hands and a damaged disk,
//! one case of the hostile try (issue 36) a test: nothing distill did not
//! write is removed or overwritten, nothing unverified is output, every
//! input is bounded and checked.

use std::path::Path;

use crate::build::common::*;
use distill_tests::*;

/// The tags of the layout at `dir`.
fn tags(dir: &Path) -> Vec<String> {
    let index = read_json(&dir.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_owned)
        .collect()
}

/// 1. A rebuild keeps the tag `append` added (and every blob it
///    reaches) and the files a user put in the layout; a docker archive
///    never replaces a user's file.
#[test]
fn a_rebuild_keeps_what_the_user_added_to_the_layout() {
    let (s, first) = built_and_appended(b"x");
    let layout = s.ws.path().join("out/static-test");
    std::fs::write(layout.join("sbom/mine.json"), b"mine").unwrap();
    std::fs::create_dir_all(layout.join("blobs/sha512")).unwrap();
    std::fs::write(layout.join("blobs/sha512/x"), b"mine").unwrap();
    let again = build(&s.ws, "out");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, first.stdout, "the same digests");
    assert!(
        tags(&layout).contains(&"app".to_owned()),
        "{:?}",
        tags(&layout)
    );
    assert_eq!(
        std::fs::read(layout.join("sbom/mine.json")).unwrap(),
        b"mine"
    );
    assert_eq!(
        std::fs::read(layout.join("blobs/sha512/x")).unwrap(),
        b"mine"
    );
    // The appended tag is whole: every blob it reaches is there.
    let m = manifest(&layout, "app", "amd64");
    for l in m["layers"].as_array().unwrap() {
        assert!(distill_image::blob_path(&layout, l["digest"].as_str().unwrap()).is_file());
    }
    if have("skopeo") {
        succeeds(
            std::process::Command::new("skopeo")
                .args(["inspect", "--override-arch", "arm64"])
                .arg(format!("oci:{}:app", layout.display())),
        );
    }

    // A docker archive goes only where nothing, or its own archive, is.
    let archive = |ws: &Workspace| {
        ws.run(&[
            "build",
            "--out",
            "out",
            "--image",
            "static",
            "--arch",
            "amd64",
            "--format",
            "docker-archive",
        ])
    };
    let tar = s.ws.path().join("out/static-test-amd64.tar");
    std::fs::write(&tar, b"my own notes").unwrap();
    archive(&s.ws).assert_error("out/static-test-amd64.tar: it is a file distill did not write");
    assert_eq!(std::fs::read(&tar).unwrap(), b"my own notes");
    std::fs::remove_file(&tar).unwrap();
    let target = s.ws.path().join("precious");
    std::fs::write(&target, b"precious").unwrap();
    std::os::unix::fs::symlink(&target, &tar).unwrap();
    archive(&s.ws).assert_error("it is a symbolic link");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    std::fs::remove_file(&tar).unwrap();
    let made = archive(&s.ws);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let remade = archive(&s.ws);
    assert_eq!(
        remade.code, 0,
        "its own archive is replaced: {}",
        remade.stderr
    );
}

/// Every layer blob of the cache, by path.
fn layer_blobs(ws: &Workspace) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(ws.cache().join("layers/blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    v.sort();
    v
}

/// 2. A damaged cached layer (truncated, a byte flipped, replaced by a
///    symlink, edited through the layout's hard link) never reaches the
///    output: it is found on read, made again with one note, and the
///    build prints the clean digests.
#[test]
fn a_damaged_cached_layer_is_remade_not_output() {
    let s = setup(&[], "");
    let clean = build(&s.ws, "out");
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    let blobs = layer_blobs(&s.ws);
    assert!(blobs.len() > 4);
    let damages: [Damage; 4] = [
        ("truncated", &|p| {
            let b = std::fs::read(p).unwrap();
            std::fs::remove_file(p).unwrap();
            std::fs::write(p, &b[..b.len() / 2]).unwrap();
        }),
        ("flipped", &|p| {
            make_writable(p);
            flip_byte(p, 40)
        }),
        ("symlink", &|p| {
            std::fs::remove_file(p).unwrap();
            std::os::unix::fs::symlink("/etc/passwd", p).unwrap();
        }),
        ("edited through the layout", &|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let in_out = s.ws.path().join("out/static-test/blobs/sha256").join(&name);
            let target = if in_out.exists() {
                in_out
            } else {
                p.to_owned()
            };
            make_writable(&target);
            flip_byte(&target, 30);
        }),
    ];
    for (i, (what, damage)) in damages.iter().enumerate() {
        let blob = &blobs[i % blobs.len()];
        damage(blob);
        let run = build(&s.ws, "out");
        assert_eq!(run.code, 0, "{what}: {}", run.stderr);
        assert_eq!(run.stdout, clean.stdout, "{what}: the clean digests");
        let notes: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains("damaged"))
            .collect();
        assert_eq!(notes.len(), 1, "{what}: one note: {}", run.stderr);
        // Every blob of every layout is what its name says.
        for layout in ["out/static-test", "out/cc-test"] {
            for b in std::fs::read_dir(s.ws.path().join(layout).join("blobs/sha256")).unwrap() {
                let b = b.unwrap().path();
                let name = b.file_name().unwrap().to_string_lossy().into_owned();
                assert_eq!(
                    sha256_hex(&std::fs::read(&b).unwrap()),
                    name,
                    "{what}: {}",
                    b.display()
                );
            }
        }
    }
    // A clean warm build reads no blob again and says nothing.
    let warm = build(&s.ws, "out");
    assert!(!warm.stderr.contains("damaged"), "{}", warm.stderr);
}

/// A way to damage a cached blob, named.
type Damage<'a> = (&'a str, &'a dyn Fn(&Path));

fn make_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// 3. `cache verify` checks layer records against their blobs: an edited
///    diff_id is found and removed, and the next build has the clean
///    digests.
#[test]
fn cache_verify_checks_layer_records() {
    let s = setup(&[], "");
    let clean = build(&s.ws, "out");
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    let record = std::fs::read_dir(s.ws.cache().join("layers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let text = std::fs::read_to_string(&record).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let diff_id = r["layer"]["diff_id"].as_str().unwrap();
    let edited = text.replace(diff_id, &format!("sha256:{}", "0".repeat(64)));
    std::fs::write(&record, edited).unwrap();
    let verify = s.ws.run(&["cache", "verify", "--cache-dir", "cache"]);
    assert_eq!(verify.code, 2, "{}{}", verify.stdout, verify.stderr);
    let name = record.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        verify
            .stdout
            .lines()
            .any(|l| l.starts_with("removed") && l.ends_with(&name)),
        "{}",
        verify.stdout
    );
    let again = s.ws.run(&["cache", "verify", "--cache-dir", "cache"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    let rebuilt = build(&s.ws, "out");
    assert_eq!(rebuilt.stdout, clean.stdout);
    // Edited without `cache verify`, the build itself finds it.
    let text = std::fs::read_to_string(&record).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let diff_id = r["layer"]["diff_id"].as_str().unwrap();
    std::fs::write(
        &record,
        text.replace(diff_id, &format!("sha256:{}", "1".repeat(64))),
    )
    .unwrap();
    let rebuilt = build(&s.ws, "out");
    assert_eq!(rebuilt.stdout, clean.stdout);
    assert!(rebuilt.stderr.contains("damaged"), "{}", rebuilt.stderr);
}

/// 4. The lock's words must be the .deb's: an edited version (hash
///    unchanged) stops the build naming both; a name outside Debian's
///    alphabet is refused when the lock is read.
#[test]
fn the_lock_must_say_what_the_deb_says() {
    let s = setup(&[], "");
    let lock = s.ws.path().join("snapshots/test.lock");
    let text = s.ws.lock_text();
    std::fs::write(
        &lock,
        text.replace("version = \"2025a-1\"", "version = \"2099z-1\""),
    )
    .unwrap();
    let run = build(&s.ws, "out");
    run.assert_error("the lock says tzdata 2099z-1 all, its .deb");
    assert!(
        run.stderr.contains("says tzdata 2025a-1 all"),
        "{}",
        run.stderr
    );
    for (edit, needle) in [
        (
            "name = \"../../etc/x\"",
            "\"../../etc/x\" is not a Debian package name",
        ),
        ("name = \"tz\\ndata\"", "is not a Debian package name"),
        ("architecture = \"vax\"", "\"vax\" is not an architecture"),
    ] {
        let first = if edit.starts_with("name") {
            "name = \"tzdata\""
        } else {
            "architecture = \"all\""
        };
        std::fs::write(&lock, text.replacen(first, edit, 1)).unwrap();
        build(&s.ws, "out").assert_error(needle);
    }
    // Two entries for one package that disagree: refused, not first-wins.
    let start = text.find("[[packages]]\nname = \"tzdata\"").unwrap();
    let len = text[start..].find("\n\n").unwrap() + 2;
    let entry = &text[start..start + len];
    let twice = text.replacen(
        entry,
        &format!("{entry}{}", entry.replace("2025a-1", "2025b-1")),
        1,
    );
    std::fs::write(&lock, twice).unwrap();
    build(&s.ws, "out").assert_error("two entries for tzdata all disagree");
    std::fs::write(&lock, text).unwrap();
}

/// 5. Every input is bounded: a special file where a file belongs is one
///    error line; an epoch past 9999 is refused.
#[test]
fn special_files_and_out_of_range_numbers_are_refused() {
    let s = setup(&[], "");
    for args in [
        &["--keyring", "/dev/zero", "lock"][..],
        &["--config", "/dev/zero", "build"],
        &["build", "--changed-since", "/dev/zero"],
        &[
            "verify",
            "127.0.0.1:1/x",
            "--image",
            "static",
            "--distro",
            "test",
            "--key",
            "/dev/zero",
        ],
    ] {
        let run = s.ws.run(args);
        run.assert_error("not a regular file");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    }
    let mut c = s.ws.command(&["build", "--out", "out"]);
    c.env("SOURCE_DATE_EPOCH", "253402300800");
    let run: Run = c.output().unwrap().into();
    run.assert_error("cannot use SOURCE_DATE_EPOCH=253402300800: not between 0 and 253402300799");
    let mut c = s.ws.command(&["build", "--out", "out"]);
    c.env("SOURCE_DATE_EPOCH", "253402300799");
    let run: Run = c.output().unwrap().into();
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A tarball with these (path, type, link) entries.
fn tarball(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut raw = Vec::new();
    for (path, kind, link) in entries {
        let mut h = tar::Header::new_gnu();
        // Set by bytes: the tar crate refuses `..` and absolute paths.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(0);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        h.set_cksum();
        raw.extend_from_slice(h.as_bytes());
    }
    raw.extend_from_slice(&[0u8; 1024]);
    raw
}

/// 6. append's layers meet the package layers' rules.
#[test]
fn append_refuses_unsafe_layer_entries() {
    let s = setup(&[], "");
    let built = s.ws.run(&["build", "--out", "out", "--image", "static"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    use tar::EntryType as T;
    // `append` of a tarball with `entries` onto the static image.
    let append = |entries: &[(&str, T, &str)]| {
        std::fs::write(s.ws.path().join("layer.tar"), tarball(entries)).unwrap();
        s.ws.run(&[
            "append",
            "oci:out/static-test:latest",
            "-t",
            "oci:app:v1",
            "--layer",
            "layer.tar",
        ])
    };
    for (entries, needle) in [
        (
            vec![("../../etc/x", T::Regular, "")],
            "../../etc/x: path escapes the root",
        ),
        (vec![("/etc/x", T::Regular, "")], "/etc/x: absolute path"),
        (
            vec![("app/x", T::Regular, ""), ("app/x", T::Regular, "")],
            "app/x: duplicate entry",
        ),
        (vec![("dev/null", T::Char, "")], "dev/null: device node"),
        (
            vec![("app/l", T::Link, "app/none")],
            "hard link to app/none",
        ),
    ] {
        let run = append(&entries);
        run.assert_error(needle);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(!s.ws.path().join("app").exists(), "nothing written");
    }
    let fine = [
        ("app/", T::Directory, ""),
        ("app/", T::Directory, ""),
        ("app/x", T::Regular, ""),
    ];
    let run = append(&fine);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// 7. The smaller gaps: an architecture without a platform, an archive
///    named twice, a mode or id out of range are refused where
///    packages.toml is read; `cache verify --cache-dir` is accepted
///    after the action (the test above).
#[test]
fn packages_toml_refuses_what_it_cannot_mean() {
    let s = setup(&[], "");
    let toml = std::fs::read_to_string(s.ws.path().join("packages.toml")).unwrap();
    let archive = &toml[toml.find("[[distros.test.archives]]").unwrap()..];
    let archive = &archive[..archive[1..].find("\n[").map_or(archive.len(), |i| i + 1)];
    for (edited, needle) in [
        (
            toml.replace("\"arm64\"", "\"vax\""),
            "\"vax\" is not an architecture distill builds for",
        ),
        (
            toml.replace("\"arm64\"", "\"../../x\""),
            "\"../../x\" is not an architecture",
        ),
        (
            toml.replacen(archive, &format!("{archive}\n{archive}"), 1),
            "lists archive debian twice",
        ),
        (
            toml.replace("mode = 0o1777", "mode = 0o77777777"),
            "mode 0o77777777 is more than 0o7777",
        ),
        (
            toml.replace("uid = 65532", "uid = 99999999999"),
            "id 99999999999 is more than 4294967294",
        ),
    ] {
        assert_ne!(edited, toml, "{needle}: the edit applies");
        std::fs::write(s.ws.path().join("packages.toml"), &edited).unwrap();
        let run = s.ws.run(&["build", "--out", "out"]);
        run.assert_error(needle);
    }
}
