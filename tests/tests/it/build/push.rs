//! `distill push` against a real registry (Debian's docker-registry on
//! 127.0.0.1): every distinct blob uploaded once and mounted elsewhere,
//! nothing uploaded the second time, the tags' digests exactly the built
//! ones, SBOMs findable through the referrers tag fallback, Basic auth from
//! a docker config, and a clear error for a wrong password.

use std::collections::BTreeSet;
use std::path::Path;

use crate::build::common::*;
use distill_tests::proxy::{Proxy, ProxyFault};
use distill_tests::registry::{Registry, USER, available};
use distill_tests::{Run, Setup, sha256_hex, succeeds};

/// Every blob (configs, layers, SBOM artifacts' blobs) each layout under
/// `out` names, per layout.
fn layout_blobs(out: &Path) -> Vec<BTreeSet<String>> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(out).unwrap() {
        let layout = e.unwrap().path();
        let index = read_json(&layout.join("index.json"));
        let mut blobs = BTreeSet::new();
        let mut manifests: Vec<String> = Vec::new();
        for m in index["manifests"].as_array().unwrap() {
            let d = m["digest"].as_str().unwrap().to_owned();
            if m["mediaType"] == "application/vnd.oci.image.index.v1+json" {
                for c in blob_json(&layout, &d)["manifests"].as_array().unwrap() {
                    manifests.push(c["digest"].as_str().unwrap().to_owned());
                }
            } else {
                manifests.push(d);
            }
        }
        for m in manifests {
            let doc = blob_json(&layout, &m);
            blobs.insert(doc["config"]["digest"].as_str().unwrap().to_owned());
            for l in doc["layers"].as_array().unwrap() {
                blobs.insert(l["digest"].as_str().unwrap().to_owned());
            }
        }
        all.push(blobs);
    }
    all
}

fn push(s: &Setup, target: &str, extra: &[&str]) -> Run {
    let mut args = vec!["push", target, "--out", "out", "--json"];
    args.extend(extra);
    s.ws.run(&args)
}

#[test]
fn push_uploads_each_blob_once_then_nothing_and_serves_the_built_digests() {
    if !available() {
        return;
    }
    let registry = Registry::shared();
    let s = setup(&[], "");
    let built = build(&s.ws, "out");
    assert_eq!(built.code, 0, "{}", built.stderr);
    let target = format!("{}/t-push", registry.addr);
    let uploads = || registry.requests("PUT", &["/v2/t-push/", "/blobs/uploads/"]);

    let first = push(&s, &target, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let report: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    let per_layout = layout_blobs(&s.ws.path().join("out"));
    let distinct: BTreeSet<&String> = per_layout.iter().flatten().collect();
    let total: usize = per_layout.iter().map(BTreeSet::len).sum();
    assert_eq!(
        report["blobs"]["uploaded"],
        distinct.len(),
        "each distinct blob once"
    );
    assert_eq!(
        report["blobs"]["mounted"],
        total - distinct.len(),
        "the rest mounted"
    );
    // The registry saw exactly that many completed uploads.
    assert_eq!(uploads(), distinct.len());

    // Every tag serves the digest the build printed.
    let tags = report["tags"].as_object().unwrap();
    for line in built.stdout.lines() {
        let (name, digest) = line.split_once(' ').unwrap();
        let reference = format!("{target}/{name}");
        assert_eq!(tags[&reference], digest, "{reference}");
    }
    assert!(tags.keys().any(|t| t.ends_with("cc-test:debug-arm64")));

    // The SBOMs are found through the referrers tag schema (distribution
    // 2.8 has no referrers API).
    let layout = s.ws.path().join("out/cc-test");
    let index = read_json(&layout.join("index.json"));
    let sbom = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["artifactType"] == "application/spdx+json")
        .unwrap();
    let subject = blob_json(&layout, sbom["digest"].as_str().unwrap())["subject"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let tag = subject.replace(':', "-");
    let listed = http_get_json(
        &registry.addr,
        &format!("/v2/t-push/cc-test/manifests/{tag}"),
    );
    assert!(
        listed["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["digest"] == sbom["digest"] && d["artifactType"] == "application/spdx+json"),
        "{listed}"
    );

    // Idempotent: a second push uploads and mounts nothing.
    let before = uploads();
    let second = push(&s, &target, &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let again: serde_json::Value = serde_json::from_str(&second.stdout).unwrap();
    assert_eq!(again["blobs"]["uploaded"], 0);
    assert_eq!(again["blobs"]["mounted"], 0);
    assert_eq!(again["blobs"]["present"], total);
    assert_eq!(again["tags"], report["tags"]);
    assert_eq!(uploads(), before);

    // skopeo reads back what was pushed, with the same digest.
    if have("skopeo") {
        let out = succeeds(
            std::process::Command::new("skopeo")
                .args(["inspect", "--raw", "--tls-verify=false"])
                .arg(format!(
                    "docker://{}/t-push/static-test:latest",
                    registry.addr
                )),
        );
        let digest = format!("sha256:{}", sha256_hex(&out.stdout));
        let want = built
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("static-test:latest "))
            .unwrap();
        assert_eq!(digest, want);
        // And copies it back into a layout, every platform, unchanged.
        let back = s.ws.path().join("round-trip");
        let st = std::process::Command::new("skopeo")
            .args(["copy", "-q", "--all", "--src-tls-verify=false"])
            .arg(format!("docker://{target}/static-test:latest"))
            .arg(format!("oci:{}:latest", back.display()))
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            read_json(&back.join("index.json"))["manifests"][0]["digest"],
            want
        );
    }
}

#[test]
fn basic_auth_from_a_docker_config_and_a_wrong_password_refused() {
    if !available() {
        return;
    }
    let registry = Registry::shared_basic();
    let s = setup(&[], "");
    let built = s.ws.run(&["build", "--out", "out", "--image", "static"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let target = format!("{}/t-basic", registry.addr);

    let good = registry.docker_config(USER.0, USER.1);
    let run =
        s.ws.command(&["push", &target, "--out", "out"])
            .env("DOCKER_CONFIG", &good)
            .output()
            .unwrap();
    let run: Run = run.into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("static-test:latest sha256:"),
        "{}",
        run.stdout
    );

    let bad = registry.docker_config("alice", "wrong");
    let run: Run =
        s.ws.command(&["push", &target, "--out", "out"])
            .env("DOCKER_CONFIG", &bad)
            .output()
            .unwrap()
            .into();
    run.assert_error(&format!(
        "cannot push {}/t-basic/static-test",
        registry.addr
    ));
    assert!(run.stderr.contains("401 Unauthorized"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("wrong"),
        "the password is never printed"
    );

    // No credentials at all: the same 401, not a hang or a panic.
    let none = s.ws.path().join("no-docker-config");
    let run: Run =
        s.ws.command(&["push", &target, "--out", "out"])
            .env("DOCKER_CONFIG", &none)
            .output()
            .unwrap()
            .into();
    run.assert_error("401 Unauthorized");
}

#[test]
fn push_rides_out_5xx_429_and_resets() {
    if !available() {
        return;
    }
    let registry = Registry::shared();
    let proxy = Proxy::start(&registry.addr);
    proxy.fault("HEAD", "/blobs/", ProxyFault::Status(429, Some(0)));
    proxy.fault("POST", "/blobs/uploads/", ProxyFault::Status(500, None));
    // The connection dies with the upload's bytes sent, unanswered.
    proxy.fault("PUT", "/blobs/uploads/", ProxyFault::Reset);
    proxy.fault("PUT", "/blobs/uploads/", ProxyFault::Status(503, None));
    proxy.fault("PUT", "/manifests/", ProxyFault::Status(502, None));
    let s = setup(&[], "");
    let built = s.ws.run(&["build", "--out", "out", "--image", "static"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let run = push(&s, &format!("{}/t-faults", proxy.addr), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(proxy.pending_faults(), 0, "every fault was met");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    for line in built.stdout.lines() {
        let (name, digest) = line.split_once(' ').unwrap();
        assert_eq!(
            report["tags"][format!("{}/t-faults/{name}", proxy.addr)],
            digest
        );
    }
}

#[test]
fn bearer_token_flow_from_a_docker_config() {
    if !available() {
        return;
    }
    let registry = Registry::shared();
    let proxy = Proxy::start(&registry.addr);
    proxy.require_bearer("bob", "pa55");
    let s = setup(&[], "");
    let built = s.ws.run(&["build", "--out", "out", "--image", "static"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let target = format!("{}/t-bearer", proxy.addr);
    let config = |password: &str| {
        use base64::Engine;
        let dir = s.ws.path().join(format!("docker-{password}"));
        std::fs::create_dir_all(&dir).unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("bob:{password}"));
        let text = format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, proxy.addr);
        std::fs::write(dir.join("config.json"), text).unwrap();
        dir
    };
    let run: Run =
        s.ws.command(&["push", &target, "--out", "out"])
            .env("DOCKER_CONFIG", config("pa55"))
            .output()
            .unwrap()
            .into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(proxy.count("GET", "/token") >= 1, "a token was fetched");
    let run: Run =
        s.ws.command(&["push", &target, "--out", "out"])
            .env("DOCKER_CONFIG", config("nope"))
            .output()
            .unwrap()
            .into();
    run.assert_error("401 Unauthorized");
    assert!(!run.stderr.contains("nope"), "{}", run.stderr);
}

#[test]
fn large_blobs_go_up_in_chunks() {
    if !available() {
        return;
    }
    let registry = Registry::shared();
    let s = setup(&[], "");
    assert_eq!(
        s.ws.run(&["build", "--out", "out", "--image", "static"])
            .code,
        0
    );
    // 20 MiB of incompressible bytes in one layer: more than one chunk.
    let mut tar = tar::Builder::new(Vec::new());
    let mut data = vec![0u8; 20 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    tar.append_data(&mut h, "big.bin", &data[..]).unwrap();
    std::fs::write(s.ws.path().join("big.tar"), tar.into_inner().unwrap()).unwrap();
    let target = format!("{}/t-chunks/big:v1", registry.addr);
    let run = s.ws.run(&[
        "append",
        "oci:out/static-test:latest",
        "-t",
        &target,
        "--layer",
        "big.tar",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let patches = registry.requests("PATCH", &["/v2/t-chunks/big/blobs/uploads/"]);
    assert!(patches >= 2, "{patches} PATCH requests");
    // What the registry serves is what was appended.
    let digest = run.stdout.split_whitespace().nth(1).unwrap();
    let served = http_get(&registry.addr, "/v2/t-chunks/big/manifests/v1");
    assert_eq!(format!("sha256:{}", sha256_hex(&served)), digest);
}

#[test]
fn credentials_from_a_credential_helper() {
    if !available() {
        return;
    }
    let registry = Registry::shared_basic();
    let s = setup(&[], "");
    assert_eq!(
        s.ws.run(&["build", "--out", "out", "--image", "static"])
            .code,
        0
    );
    // A docker-credential-<name> on PATH, named by credsStore.
    let bin = s.ws.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-kit");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\n[ \"$host\" = \"{}\" ] || {{ echo credentials not found; exit 1; }}\nprintf '{{\"Username\":\"{}\",\"Secret\":\"{}\"}}'\n",
            registry.addr, USER.0, USER.1
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = s.ws.path().join("docker-helper");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), r#"{"credsStore": "kit"}"#).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run: Run =
        s.ws.command(&[
            "push",
            &format!("{}/t-helper", registry.addr),
            "--out",
            "out",
        ])
        .env("DOCKER_CONFIG", &config)
        .env("PATH", path)
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains(USER.1) && !run.stdout.contains(USER.1));
}

#[test]
fn push_needs_a_build_and_a_prefix_without_tag() {
    let s = setup(&[], "");
    s.ws.run(&["push", "127.0.0.1:9/x", "--out", "nowhere"])
        .assert_error("no built layout under nowhere");
    s.ws.run(&["push", "127.0.0.1:9/x:latest"])
        .assert_error("without a tag");
    s.ws.run(&["push", "Not A Reference"])
        .assert_error("invalid image reference");
}

/// GET a manifest as JSON (HTTP/1.0 over a plain socket: the registry
/// is on loopback), accepting the OCI index type.
fn http_get_json(addr: &str, path: &str) -> serde_json::Value {
    serde_json::from_slice(&http_get(addr, path)).unwrap()
}

/// The body of a GET (accepting the OCI index type), which must be 200.
fn http_get(addr: &str, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/vnd.oci.image.index.v1+json\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    response[split + 4..].to_vec()
}

#[test]
fn verify_is_0_for_a_fresh_push_and_2_naming_files_after_a_layer_is_replaced() {
    if !available() {
        return;
    }
    let registry = Registry::shared();
    let s = setup(&[], "");
    assert_eq!(build(&s.ws, "out").code, 0);
    let target = format!("{}/t-verify", registry.addr);
    assert_eq!(push(&s, &target, &[]).code, 0);
    let reference = format!("{target}/cc-test:latest");
    let verify = |s: &Setup| {
        s.ws.run(&["verify", &reference, "--image", "cc", "--distro", "test"])
    };
    let same = verify(&s);
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    // Its scratch build is not news.
    assert!(!same.stderr.contains("wrote "), "{}", same.stderr);
    assert!(
        same.stdout.contains("same as the lock builds"),
        "{}",
        same.stdout
    );

    // Someone replaces the amd64 image's top layer in the registry.
    let blob_gets = || registry.requests("GET", &["/v2/t-verify/", "/blobs/"]);
    let before = blob_gets();
    replace_top_layer(&registry.addr, "t-verify/cc-test", "latest", "amd64");
    let differs = verify(&s);
    assert_eq!(differs.code, 2, "{}{}", differs.stdout, differs.stderr);
    let out = &differs.stdout;
    assert!(out.contains("differs from the lock"), "{out}");
    assert!(out.contains("latest linux/amd64: changed"), "{out}");
    assert!(out.contains("file + /etc/evil"), "{out}");
    assert!(!out.contains("linux/arm64"), "arm64 is untouched: {out}");
    // Only the replaced layer was downloaded to explain it.
    assert_eq!(blob_gets(), before + 1);
}

/// Swaps the top layer of `tag`'s `arch` image for one with an extra
/// file, through the registry API, and re-tags.
fn replace_top_layer(addr: &str, repo: &str, tag: &str, arch: &str) {
    use std::io::Write;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client =
        distill_registry::Client::new(None, false, Default::default(), Default::default()).unwrap();
    rt.block_on(async {
        let index = client.get_manifest(addr, repo, tag, None).await.unwrap();
        let mut index: serde_json::Value = serde_json::from_slice(&index.unwrap().bytes).unwrap();
        let entry = index["manifests"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap();
        let digest = entry["digest"].as_str().unwrap().to_owned();
        let m = client
            .get_manifest(addr, repo, &digest, None)
            .await
            .unwrap();
        let mut m: serde_json::Value = serde_json::from_slice(&m.unwrap().bytes).unwrap();

        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_mtime(0);
        tar.append_data(&mut h, "etc/evil", &b"evil\n"[..]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        let layer = gz.finish().unwrap();
        let layer_digest = format!("sha256:{}", sha256_hex(&layer));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &layer).unwrap();
        client
            .put_blob(
                addr,
                repo,
                &layer_digest,
                file.path(),
                layer.len() as u64,
                None,
            )
            .await
            .unwrap();
        let layers = m["layers"].as_array_mut().unwrap();
        let top = layers.last_mut().unwrap();
        top["digest"] = layer_digest.into();
        top["size"] = layer.len().into();
        let m = serde_json::to_vec(&m).unwrap();
        let mt = "application/vnd.oci.image.manifest.v1+json";
        let new = client
            .put_manifest(addr, repo, &format!("sha256:{}", sha256_hex(&m)), mt, &m)
            .await
            .unwrap();
        entry["digest"] = new.into();
        entry["size"] = m.len().into();
        let index = serde_json::to_vec(&index).unwrap();
        let it = "application/vnd.oci.image.index.v1+json";
        client
            .put_manifest(addr, repo, tag, it, &index)
            .await
            .unwrap();
    });
}

/// A registry that is not there: one note that it is being retried, the
/// first failure ends the push (no blob waits out its own retries), and
/// the error names the URL once.
#[test]
fn push_to_a_closed_port_says_so_and_stops_at_the_first_failure() {
    let s = setup(&[], "");
    assert_eq!(build(&s.ws, "out").code, 0);
    let dead = distill_tests::dead_url();
    let addr = dead.trim_start_matches("http://");
    let start = std::time::Instant::now();
    let mut c =
        s.ws.command(&["push", &format!("{addr}/t-dead"), "--out", "out"]);
    c.env("DISTILL_RETRY_BASE_MS", "200");
    let run: Run = c.output().unwrap().into();
    let took = start.elapsed();
    run.assert_error("Connection refused");
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("retrying"))
        .collect();
    assert_eq!(notes.len(), 1, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap();
    assert_eq!(last.matches(&dead).count(), 1, "{last}");
    // Three backoffs of 0.2, 0.4 and 0.8 s, once, not once per blob.
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}
