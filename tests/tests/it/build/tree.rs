//! The image tree is the packages plus the generated files, nothing else.

use crate::build::common::*;

#[test]
fn image_tree_is_the_packages_plus_the_generated_files_and_nothing_else() {
    let s = setup(&[], "");
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let layout = s.ws.path().join("out/cc-test");
    for arch in ARCHS {
        let m = manifest(&layout, "latest", arch);
        let tree = unpack(&layout, &m);
        let mut want = expected_from_debs(arch, &["base-files", "tzdata", "libc6", "libgcc-s1"]);
        // The generated skeleton and the image's own symlink.
        for (p, k, mode, owner) in [
            ("", 'd', 0o755, "0:0"),
            ("etc/passwd", 'f', 0o644, "0:0"),
            ("etc/ssl", 'd', 0o755, "0:0"),
            ("etc/ssl/certs", 'd', 0o755, "0:0"),
            ("etc/ssl/certs/ca-certificates.crt", 'f', 0o555, "0:0"),
            ("home", 'd', 0o755, "0:0"),
            ("home/nonroot", 'd', 0o700, "65532:65532"),
            ("root", 'd', 0o700, "0:0"),
            ("tmp", 'd', 0o1777, "0:0"),
            ("usr/bin/ldd3", 'l', 0o777, "0:0"),
            ("usr/lib/os-release", 'f', 0o555, "0:0"),
            ("usr/share/doc", 'd', 0o755, "0:0"),
            ("usr/share/doc/ca-certificates", 'd', 0o755, "0:0"),
            ("usr/share/doc/ca-certificates/copyright", 'f', 0o555, "0:0"),
            ("var/lib", 'd', 0o755, "0:0"),
            ("var/lib/dpkg", 'd', 0o755, "0:0"),
            ("var/lib/dpkg/status.d", 'd', 0o755, "0:0"),
            ("var/lib/dpkg/status.d/ca-certificates", 'f', 0o644, "0:0"),
        ] {
            want.retain(|l| !l.starts_with(&format!("{p} ")));
            want.push(format!("{p} {k} {mode:o} {owner}"));
        }
        // The generated layer comes after the packages: its parent
        // directories (0755 root) are what an unpacked image shows.
        for p in ["usr", "usr/bin", "usr/lib", "usr/share", "etc", "var"] {
            want.retain(|l| !l.starts_with(&format!("{p} ")));
            want.push(format!("{p} d 755 0:0"));
        }
        want.sort();
        assert_eq!(listing(&tree), want, "{arch}");

        let t = triplet(arch);
        let libc = &tree[&format!("usr/lib/{t}/libc.so.6")];
        assert_eq!(libc.data, format!("libc for {arch}").as_bytes());
        assert_eq!(tree["usr/bin/ldd2"].data, b"usr/bin/ldd", "hard link kept");
        assert_eq!(tree["lib"].data, b"usr/lib", "base-files' compat link kept");
        assert_eq!(tree["var/local"].mode, 0o2775);
        assert_eq!(tree["var/local"].gid, 50);
        assert_eq!(
            tree["etc/ssl/certs/ca-certificates.crt"].data, b"-----A-----\n-----B-----\n",
            "certificates sorted by path, each ending in a newline"
        );
        assert_eq!(
            tree["usr/lib/os-release"].data,
            b"PRETTY_NAME=\"Distroless\"\nVERSION_ID=\"99\"\nVERSION=\"testing\"\n"
        );
        let status = String::from_utf8(tree["var/lib/dpkg/status.d/libc6"].data.clone()).unwrap();
        assert!(
            status.starts_with("Package: libc6\nStatus: install ok installed\nVersion: 2.41-1\n"),
            "{status}"
        );
        let sums =
            String::from_utf8(tree["var/lib/dpkg/status.d/libc6.md5sums"].data.clone()).unwrap();
        assert!(
            sums.contains(&format!("  usr/lib/{t}/libc.so.6\n")),
            "{sums}"
        );

        // Config: tag user/workdir, env, entrypoint, platform, history.
        let config = blob_json(&layout, m["config"]["digest"].as_str().unwrap());
        assert_eq!(config["config"]["User"], "0");
        assert_eq!(config["config"]["WorkingDir"], "/");
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/usr/bin/ldd"])
        );
        assert_eq!(
            config["config"]["Env"],
            serde_json::json!([
                "LANG=C.UTF-8",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
            ])
        );
        assert_eq!(config["created"], "2025-01-10T00:00:00Z");
        assert_eq!(
            config["rootfs"]["diff_ids"].as_array().unwrap().len(),
            m["layers"].as_array().unwrap().len()
        );
        assert_eq!(m["annotations"]["org.example.libc"], "2.41");
        assert_eq!(m["annotations"]["org.example.source"], "distill tests");
    }

    // nonroot: the same layers, another user and workdir.
    let latest = manifest(&layout, "latest", "amd64");
    let nonroot = manifest(&layout, "nonroot", "amd64");
    assert_eq!(latest["layers"], nonroot["layers"]);
    let config = blob_json(&layout, nonroot["config"]["digest"].as_str().unwrap());
    assert_eq!(config["config"]["User"], "65532");
    assert_eq!(config["config"]["WorkingDir"], "/home/nonroot");

    // debug: busybox and its applets on top, PATH and entrypoint changed.
    let debug = manifest(&layout, "debug", "arm64");
    let tree = unpack(&layout, &debug);
    assert_eq!(tree["busybox/busybox"].data, busybox_binary());
    assert_eq!(tree["busybox/sh"].data, b"busybox");
    let applets: Vec<&String> = tree.keys().filter(|p| p.starts_with("busybox/")).collect();
    assert_eq!(applets.len(), 12, "{applets:?}"); // [ [[ cat ... true + busybox
    let config = blob_json(&layout, debug["config"]["digest"].as_str().unwrap());
    // An image with its own entrypoint keeps it on debug tags (as
    // distroless's runtime images do); one without starts the shell.
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/ldd"])
    );
    let static_debug = manifest(&s.ws.path().join("out/static-test"), "debug", "arm64");
    let static_config = blob_json(
        &s.ws.path().join("out/static-test"),
        static_debug["config"]["digest"].as_str().unwrap(),
    );
    assert_eq!(
        static_config["config"]["Entrypoint"],
        serde_json::json!(["/busybox/sh"])
    );
    assert_eq!(
        config["config"]["Env"][1],
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin:/busybox"
    );
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["variant"], "v8");

    // Every manifest has its SBOM: in the layout as an artifact whose
    // subject is the manifest, and as a file.
    let sbom = read_json(&layout.join("sbom/debug-arm64.spdx.json"));
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    let purls: Vec<&str> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["externalRefs"][0]["referenceLocator"].as_str().unwrap())
        .collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/base-files@13?arch=arm64&distro=debian-99",
            "pkg:deb/debian/busybox-static@1%3A1.37.0-1?arch=arm64&distro=debian-99",
            "pkg:deb/debian/ca-certificates@20250419?arch=all&distro=debian-99",
            "pkg:deb/debian/libc6@2.41-1?arch=arm64&distro=debian-99",
            "pkg:deb/debian/libgcc-s1@14-1?arch=arm64&distro=debian-99",
            "pkg:deb/debian/tzdata@2025a-1?arch=all&distro=debian-99",
        ]
    );
    // Each architecture's SBOM names that architecture's busybox.
    let sbom = read_json(&layout.join("sbom/debug-amd64.spdx.json"));
    let busybox = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "busybox-static")
        .unwrap();
    assert_eq!(
        busybox["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/busybox-static@1%3A1.37.0-1?arch=amd64&distro=debian-99"
    );
    let index = read_json(&layout.join("index.json"));
    let debug_digest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "debug-arm64")
        .unwrap()["digest"]
        .clone();
    let artifact = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["artifactType"] == "application/spdx+json")
        .map(|m| blob_json(&layout, m["digest"].as_str().unwrap()))
        .find(|a| a["subject"]["digest"] == debug_digest)
        .expect("an SBOM artifact for debug-arm64");
    assert_eq!(
        blob(&layout, artifact["layers"][0]["digest"].as_str().unwrap()),
        std::fs::read(layout.join("sbom/debug-arm64.spdx.json")).unwrap()
    );

    // Layers shared between images are the same blobs.
    let static_m = manifest(&s.ws.path().join("out/static-test"), "latest", "amd64");
    let cc_layers: Vec<&serde_json::Value> = latest["layers"].as_array().unwrap().iter().collect();
    for l in static_m["layers"].as_array().unwrap() {
        assert!(cc_layers.contains(&l), "static's {l} is in cc too");
    }
}
