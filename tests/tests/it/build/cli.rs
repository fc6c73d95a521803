//! Selection, JSON output and the error contract of `distill build`.

use distill_tests::*;

use crate::build::common::*;

#[test]
fn selection_and_json_output() {
    let s = setup(&[], "");
    let run =
        s.ws.run(&["build", "--image", "static", "--arch", "arm64", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l["image"] == "static" && l["distro"] == "test")
    );
    let layout = s.ws.path().join("out/static-test");
    let index = read_json(&layout.join("index.json"));
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert_eq!(
        tags,
        [
            "debug-arm64",
            "debug",
            "latest-arm64",
            "latest",
            "nonroot-arm64",
            "nonroot"
        ]
    );
    assert!(!s.ws.path().join("out/cc-test").exists());
    s.ws.run(&["build", "--image", "nope"])
        .assert_error("image nope: not in packages.toml");
    s.ws.run(&["build", "--format", "docker-archive", "--image", "cc"])
        .assert_error("name one --image and one --arch");
}

#[test]
fn hostile_packages_are_refused_naming_package_and_path() {
    let evil = |name: &str, deb: Deb| (name.to_owned(), deb);
    let cases = [
        (
            evil(
                "escape",
                Deb::new("escape", "1", "amd64").file("./../etc/shadow", b"x"),
            ),
            "escape 1: ./../etc/shadow: path escapes the root",
        ),
        (
            evil(
                "absolute",
                Deb::new("absolute", "1", "amd64").file("/etc/shadow", b"x"),
            ),
            "absolute 1: /etc/shadow: absolute path",
        ),
        (
            evil(
                "device",
                Deb::new("device", "1", "amd64").entry("./dev/sda", Body::CharDevice, 0o660),
            ),
            "device 1: ./dev/sda: device node",
        ),
        (
            evil(
                "dup",
                Deb::new("dup", "1", "amd64")
                    .file("./etc/x", b"1")
                    .symlink("./etc/x", "y"),
            ),
            "dup 1: etc/x: duplicate entry",
        ),
        (
            evil(
                "clash",
                Deb::new("clash", "1", "amd64").file("./etc/debian_version", b"sid\n"),
            ),
            "etc/debian_version is shipped differently by base-files 13 and clash 1",
        ),
        (
            evil(
                "under-link",
                Deb::new("under-link", "1", "amd64").file("./etc/os-release/x", b"x"),
            ),
            "under-link 1 ships etc/os-release/x under etc/os-release, a symlink from base-files 13",
        ),
        (
            evil(
                "under-file",
                Deb::new("under-file", "1", "amd64").file("./usr/lib/os-release/x", b"x"),
            ),
            "under-file 1 ships usr/lib/os-release/x under usr/lib/os-release, a file from base-files 13",
        ),
        (
            evil(
                "fake-link",
                Deb::new("fake-link", "1", "amd64").file("./lib", b"not a dir"),
            ),
            "fake-link 1: ./lib: a file where merged /usr has a symlink",
        ),
    ];
    for ((name, deb), needle) in cases {
        let image = format!(
            "\n[images.evil-{name}]\npackages = [\"base-files\", \"{name}\"]\narchitectures = [\"amd64\"]\n"
        );
        let s = setup(&[deb], &image);
        let run = s.ws.run(&["build", "--image", &format!("evil-{name}")]);
        run.assert_error(needle);
        assert!(
            !s.ws.path().join(format!("out/evil-{name}-test")).exists(),
            "no layout for a refused image"
        );
    }
}

#[test]
fn missing_lock_and_tampered_cache_are_clear_errors() {
    let s = setup(&[], "");
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Replace a cached .deb with other bytes under the same name, and drop
    // the layer records so the package is read again.
    let lock: toml::Table = std::fs::read_to_string(s.ws.path().join("snapshots/test.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let libc = lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("libc6"))
        .unwrap();
    let sha = libc["sha256"].as_str().unwrap();
    let cached = s.ws.cache_blob(sha);
    std::fs::write(&cached, b"tampered").unwrap();
    std::fs::remove_dir_all(s.ws.cache().join("layers")).unwrap();
    s.ws.run(&["build", "--out", "out2"]).assert_error(&format!(
        "cannot use libc6 2.41-1: {} has sha256",
        cached.display()
    ));
    assert!(!s.ws.path().join("out2").join("cc-test").exists());

    std::fs::remove_file(s.ws.path().join("snapshots/test.lock")).unwrap();
    s.ws.run(&["build"])
        .assert_error("no lock at snapshots/test.lock; run `distill lock` first");
}

/// Project options go before the command or after it, and only the
/// commands with a project list or take them.
#[test]
fn project_options_belong_to_project_commands() {
    let s = setup(&[], "");
    assert_eq!(s.ws.run(&["build", "--image", "static"]).code, 0);
    // Warm: the same build offline, the flag before or after the command.
    for args in [
        &["--offline", "build", "--image", "static"][..],
        &["build", "--offline", "--image", "static"][..],
    ] {
        let run = s.ws.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
    let help = |cmd: &str| s.ws.run(&[cmd, "--help"]).stdout;
    // diff has a project too: a lock diff reads the changed .debs'
    // changelogs from the archives packages.toml names.
    for cmd in ["build", "lock", "verify", "why", "diff"] {
        let h = help(cmd);
        assert!(
            h.contains("Project options:") && h.contains("--offline"),
            "{cmd}: {h}"
        );
    }
    let h = help("append");
    assert!(!h.contains("--offline") && !h.contains("--keyring"), "{h}");
    assert!(h.contains("--quiet"), "{h}");
    let lock = s.ws.path().join("snapshots/test.lock");
    let lock = lock.to_str().unwrap();
    let run = s.ws.run(&["diff", "--offline", lock, lock]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "no differences\n");
    let run = s.ws.run(&["append", "--offline", lock, "-t", lock]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("unexpected argument '--offline'"),
        "{}",
        run.stderr
    );
}

/// `diff` says what is wrong with its arguments: a path that is not
/// there, two of different kinds, a file that is not a lock (without
/// suggesting `distill lock`, which would not make it one).
#[test]
fn diff_names_what_is_wrong_with_its_arguments() {
    let s = setup(&[], "");
    assert_eq!(s.ws.run(&["build", "--image", "static"]).code, 0);
    std::fs::write(s.ws.path().join("notes.txt"), "hello secret\n").unwrap();
    let lock = "snapshots/test.lock";
    s.ws.run(&["diff", "nosuch1", "nosuch2"])
        .assert_error("cannot diff nosuch1 and nosuch2: nosuch1 is not there");
    s.ws.run(&["diff", lock, "out/static-test"])
        .assert_error("is a file (a lock), out/static-test an image layout");
    let run = s.ws.run(&["diff", lock, "notes.txt"]);
    run.assert_error("cannot diff notes.txt: not a distill lock");
    assert!(!run.stderr.contains("distill lock`"), "{}", run.stderr);
}

/// `append` names the input that is wrong, without echoing its bytes.
#[test]
fn append_names_a_bad_layer_or_dir() {
    let s = setup(&[], "");
    assert_eq!(s.ws.run(&["build", "--image", "static"]).code, 0);
    std::fs::write(s.ws.path().join("app.log"), "hello secret\n".repeat(100)).unwrap();
    let base = "oci:out/static-test:latest";
    let run =
        s.ws.run(&["append", base, "-t", "oci:app:v1", "--layer", "app.log"]);
    run.assert_error("cannot read layer app.log: not a tar archive (.tar, .tar.gz or .tar.zst)");
    assert!(!run.stderr.contains("secret"), "{}", run.stderr);
    s.ws.run(&["append", base, "-t", "oci:app:v1", "--dir", "/nonexistent"])
        .assert_error("cannot read /nonexistent: No such file or directory");
    assert!(!s.ws.path().join("app").exists());
}

/// Completions and the man page come from the parser's own definitions:
/// every command is in them.
#[test]
fn completions_and_man_page_cover_every_command() {
    let ws = Workspace::new("", None);
    for shell in ["bash", "zsh", "fish"] {
        let run = ws.run(&["completions", shell]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        for cmd in ["build", "append", "verify", "changed-since"] {
            assert!(run.stdout.contains(cmd), "{shell}: no {cmd}");
        }
    }
    let man = ws.run(&["man"]);
    assert_eq!(man.code, 0, "{}", man.stderr);
    for page in [
        "distill",
        "distill-build",
        "distill-append",
        "distill-verify",
    ] {
        assert!(
            man.stdout.contains(&format!(".TH {page} 1")),
            "no page {page}"
        );
    }
    let bad = ws.run(&["completions", "tcsh"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("invalid value 'tcsh'"),
        "{}",
        bad.stderr
    );
}
