//! `distill append` crane-style: a static binary onto a distroless base in
//! a real registry (docker-registry on 127.0.0.1) without downloading the
//! base's layers, the same digest twice, the result running under chroot;
//! and layout to layout.

use std::collections::BTreeSet;
use std::process::Command;

use crate::build::common::*;
use distill_tests::registry::{Registry, available};
use distill_tests::{Run, succeeds};

/// A static binary printing `hello from append`, or a script when no C
/// compiler is installed (then it is not run).
fn app_dir(root: &std::path::Path) -> (std::path::PathBuf, bool) {
    let dir = root.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    let src = root.join("hello.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(){puts(\"hello from append\");return 0;}\n",
    )
    .unwrap();
    let built = have("gcc")
        && Command::new("gcc")
            .args(["-static", "-O1"])
            .arg(&src)
            .arg("-o")
            .arg(dir.join("hello"))
            .status()
            .is_ok_and(|s| s.success());
    if !built {
        std::fs::write(dir.join("hello"), b"#!/bin/sh\necho hello from append\n").unwrap();
    }
    (dir, built)
}

#[test]
fn append_a_binary_in_the_registry_without_pulling_the_base() {
    if !available() {
        return;
    }
    let registry = Registry::shared();
    let s = setup(&[], "");
    let built = s.ws.run(&["build", "--out", "out", "--image", "static"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let prefix = format!("{}/t-append", registry.addr);
    let pushed = s.ws.run(&["push", &prefix, "--out", "out"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    let (app, runnable) = app_dir(s.ws.path());

    let base = format!("{prefix}/static-test:nonroot");
    let target = format!("{prefix}/apps/hello:v1");
    let append = |target: &str| -> Run {
        s.ws.run(&[
            "append",
            &base,
            "-t",
            target,
            "--dir",
            app.to_str().unwrap(),
            "--entrypoint",
            "[\"/hello\"]",
            "--env",
            "GREETING=hi",
            "--label",
            "app=hello",
            "--owner",
            "65532:65532",
        ])
    };
    let first = append(&target);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let digest = first.stdout.split_whitespace().nth(1).unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{}", first.stdout);
    // The same inputs again: the same image.
    let second = append(&format!("{prefix}/apps/hello:v2"));
    assert_eq!(
        second.stdout.split_whitespace().nth(1),
        Some(digest.as_str())
    );

    // The base's layers were mounted, never downloaded: no GET of any of
    // them (its configs are read, nothing else).
    let layout = s.ws.path().join("out/static-test");
    let mut base_layers = BTreeSet::new();
    for arch in ARCHS {
        for l in manifest(&layout, "nonroot", arch)["layers"]
            .as_array()
            .unwrap()
        {
            base_layers.insert(l["digest"].as_str().unwrap().to_owned());
        }
    }
    for l in &base_layers {
        let gets = registry.requests("GET", &["/v2/t-append/", &format!("/blobs/{l}")]);
        assert_eq!(gets, 0, "{l} was downloaded");
    }
    let mounts = registry.requests("POST", &["/v2/t-append/apps/hello/", "mount="]);
    assert!(mounts > 0, "layers were mounted");

    if runnable && have("skopeo") && have("umoci") && have("chroot") {
        let oci = s.ws.path().join("hello-oci");
        let st = Command::new("skopeo")
            .args([
                "copy",
                "-q",
                "--src-tls-verify=false",
                "--override-arch",
                "amd64",
            ])
            .arg(format!("docker://{target}"))
            .arg(format!("oci:{}:hello", oci.display()))
            .status()
            .unwrap();
        assert!(st.success());
        let bundle = s.ws.path().join("hello-bundle");
        succeeds(
            Command::new("umoci")
                .args(["unpack", "--image", &format!("{}:hello", oci.display())])
                .arg(&bundle),
        );
        let config = read_json(&bundle.join("config.json"));
        assert_eq!(config["process"]["args"], serde_json::json!(["/hello"]));
        assert_eq!(config["process"]["user"]["uid"], 65532, "nonroot kept");
        assert!(
            config["process"]["env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "GREETING=hi")
        );
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(bundle.join("rootfs/hello")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65532, 65532), "--owner");
        let out = Command::new("chroot")
            .arg(bundle.join("rootfs"))
            .arg("/hello")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from append\n");
    }
}

#[test]
fn append_layout_to_layout_with_a_tarball() {
    let s = setup(&[], "");
    let built = s.ws.run(&["build", "--out", "out", "--image", "static"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    // A plain tar layer, gzipped by append.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    tar.append_data(&mut h, "etc/app.conf", &b"x=1"[..])
        .unwrap();
    std::fs::write(s.ws.path().join("layer.tar"), tar.into_inner().unwrap()).unwrap();
    let run = s.ws.run(&[
        "append",
        "oci:out/static-test:latest",
        "-t",
        "oci:app:v1",
        "--layer",
        "layer.tar",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let layout = s.ws.path().join("app");
    for arch in ARCHS {
        let base = manifest(&s.ws.path().join("out/static-test"), "latest", arch);
        let m = manifest(&layout, "v1", arch);
        let (bl, nl) = (
            base["layers"].as_array().unwrap(),
            m["layers"].as_array().unwrap(),
        );
        assert_eq!(nl.len(), bl.len() + 1);
        assert_eq!(&nl[..bl.len()], &bl[..], "the base's layers, unchanged");
        let tree = unpack(&layout, &m);
        assert_eq!(tree["etc/app.conf"].data, b"x=1");
        assert_eq!(
            m["annotations"]["org.opencontainers.image.base.name"],
            "oci:out/static-test:latest"
        );
        let config = blob_json(&layout, m["config"]["digest"].as_str().unwrap());
        assert_eq!(
            config["rootfs"]["diff_ids"].as_array().unwrap().len(),
            nl.len()
        );
    }
    // Bad input: one line, exit 1.
    s.ws.run(&["append", "oci:out/static-test:latest", "-t", "oci:app:v1"])
        .assert_error("give --layer, --dir or --platform");
    s.ws.run(&[
        "append",
        "oci:out/static-test:nope",
        "-t",
        "oci:app:v1",
        "--layer",
        "layer.tar",
    ])
    .assert_error("has no tag nope");
    std::fs::write(s.ws.path().join("junk.tar"), b"not a tar at all").unwrap();
    s.ws.run(&[
        "append",
        "oci:out/static-test:latest",
        "-t",
        "oci:app:v2",
        "--layer",
        "junk.tar",
    ])
    .assert_error("cannot read layer");
}

#[test]
fn append_into_an_existing_layout_adds_only_its_tag() {
    let s = setup(&[], "");
    let built = s.ws.run(&["build", "--out", "out", "--image", "static"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let layout = s.ws.path().join("out/static-test");
    let before = read_json(&layout.join("index.json"));
    let before = before["manifests"].as_array().unwrap().clone();
    let sboms: Vec<_> = std::fs::read_dir(layout.join("sbom"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!sboms.is_empty());
    std::fs::create_dir_all(s.ws.path().join("app")).unwrap();
    std::fs::write(s.ws.path().join("app/x"), b"x").unwrap();
    let append = |tag: &str| {
        s.ws.run(&[
            "append",
            "oci:out/static-test:latest",
            "-t",
            &format!("oci:out/static-test:{tag}"),
            "--dir",
            "app",
        ])
    };
    for _ in 0..2 {
        let run = append("app");
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let after = read_json(&layout.join("index.json"));
    let after = after["manifests"].as_array().unwrap();
    // Every entry it had, in order, and one tag more (the second append
    // replaced it, not added another).
    assert_eq!(&after[..before.len()], &before[..]);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(
        after[before.len()]["annotations"]["org.opencontainers.image.ref.name"],
        "app"
    );
    let still: Vec<_> = std::fs::read_dir(layout.join("sbom"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(still, sboms, "sbom/ kept");
    // Every blob each entry names is there: the layout is whole.
    for entry in after {
        let d = entry["digest"].as_str().unwrap();
        assert!(distill_image::blob_path(&layout, d).is_file(), "{d}");
    }
    if have("skopeo") {
        succeeds(
            Command::new("skopeo")
                .args(["inspect", "--override-arch", "arm64"])
                .arg(format!("oci:{}:app", layout.display())),
        );
    }
}
