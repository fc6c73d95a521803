//! A registry is untrusted input: `append` (and `verify`, `push`) against
//! the kit's hostile registry, one attack a test. Each must end in one
//! clear error, exit 1, with nothing written, in bounded time and memory.

use std::time::{Duration, Instant};

use distill_tests::hostile::{Attack, Blob, Hostile, REPO, Sample, index_of, manifest_of};
use distill_tests::proxy::{Proxy, ProxyFault};
use distill_tests::registry::{Registry, available};
use distill_tests::{Run, Workspace, sha256_hex};

use crate::build::common::setup;

/// `append BASE -t oci:app:v1 --layer app.tar` in a fresh workspace, with
/// `env`; the run and how long it took.
fn append(base: &str, env: &[(&str, &str)]) -> (Workspace, Run, Duration) {
    let ws = Workspace::new("", None);
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o755);
    h.set_mtime(0);
    tar.append_data(&mut h, "app", &b"app\n"[..]).unwrap();
    std::fs::write(ws.path().join("app.tar"), tar.into_inner().unwrap()).unwrap();
    let mut c = ws.command(&["append", base, "-t", "oci:app:v1", "--layer", "app.tar"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let start = Instant::now();
    let run: Run = c.output().expect("run distill").into();
    (ws, run, start.elapsed())
}

/// `append` against `hostile` fails with `needle`, and writes nothing.
#[track_caller]
fn refused(hostile: &Hostile, env: &[(&str, &str)], needle: &str) -> Duration {
    let (ws, run, took) = append(&hostile.reference(), env);
    // The attack table of the issue note is this line of each test
    // (`cargo test hostile -- --nocapture`).
    eprintln!("refused in {took:.1?}: {}", run.stderr.trim());
    run.assert_error(needle);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        !ws.path().join("app").exists(),
        "a layout was written on failure"
    );
    took
}

fn amd64(s: &Sample) -> (&Blob, &Blob) {
    let (_, m, c) = &s.platforms[0];
    (m, c)
}

/// The honest registry is enough for `append`: the attacks below fail
/// only because of what they change.
#[test]
fn the_hostile_registry_serves_a_usable_image_when_honest() {
    let (hostile, sample) = Hostile::start();
    let (ws, run, _) = append(&hostile.reference(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let layout = ws.path().join("app");
    assert!(distill_image::LayoutReader::is_layout(&layout));
    // The base layer was transferred into the layout, checked.
    let layer = sample.layer.digest();
    assert!(distill_image::blob_path(&layout, &layer).is_file());
    assert_eq!(hostile.hits(&Hostile::blob_path(&layer)), 1);
}

#[test]
fn a_manifest_by_digest_with_other_bytes_is_refused() {
    let (hostile, sample) = Hostile::start();
    let (m, _) = amd64(&sample);
    let other = &sample.platforms[1].1;
    hostile.attack(
        &Hostile::manifest_path(&m.digest()),
        Attack::Body(other.bytes.clone()),
    );
    // Same length or not, the digest says it: checked before parsing.
    let needle = if other.bytes.len() == m.bytes.len() {
        format!("the registry served {} for {}", other.digest(), m.digest())
    } else {
        format!(
            "for {}, whose descriptor says {}",
            m.digest(),
            m.bytes.len()
        )
    };
    refused(&hostile, &[], &needle);
}

/// The index names a manifest by digest; the registry answers with the
/// index itself: content addressing makes such a loop impossible to
/// follow.
#[test]
fn an_index_that_names_itself_is_refused() {
    let (hostile, sample) = Hostile::start();
    let (m, _) = amd64(&sample);
    let mut forged = sample.index.bytes.clone();
    forged.resize(m.bytes.len(), b' ');
    hostile.attack(&Hostile::manifest_path(&m.digest()), Attack::Body(forged));
    refused(&hostile, &[], &format!("for {}", m.digest()));
}

#[test]
fn an_index_listing_an_index_is_refused() {
    let (hostile, sample) = Hostile::start();
    let mut nested = sample.index.descriptor();
    nested["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    let outer = Blob {
        media_type: sample.index.media_type.clone(),
        bytes: serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": sample.index.media_type,
            "manifests": [nested],
        }))
        .unwrap(),
    };
    hostile.put_tag(REPO, "latest", &outer);
    refused(&hostile, &[], "lists another index");
}

#[test]
fn a_config_blob_with_other_bytes_is_refused() {
    let (hostile, sample) = Hostile::start();
    let (_, c) = amd64(&sample);
    let mut flipped = c.bytes.clone();
    flipped[10] ^= 1;
    let wrong = format!("sha256:{}", sha256_hex(&flipped));
    hostile.attack(&Hostile::blob_path(&c.digest()), Attack::Body(flipped));
    refused(
        &hostile,
        &[],
        &format!("the registry served {wrong} for {}", c.digest()),
    );
}

#[test]
fn a_layer_blob_with_other_bytes_is_refused() {
    let (hostile, sample) = Hostile::start();
    let mut flipped = sample.layer.bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let wrong = format!("sha256:{}", sha256_hex(&flipped));
    let layer = sample.layer.digest();
    hostile.attack(&Hostile::blob_path(&layer), Attack::Body(flipped));
    refused(
        &hostile,
        &[],
        &format!("the registry served {wrong} for {layer}"),
    );
}

#[test]
fn a_tag_whose_docker_content_digest_lies_is_refused() {
    let (hostile, sample) = Hostile::start();
    let lie = sample.platforms[0].1.digest();
    hostile.attack(&hostile.tag_path(), Attack::DigestHeader(lie.clone()));
    refused(
        &hostile,
        &[],
        &format!(
            "the registry served {} for {}, whose Docker-Content-Digest says {lie}",
            sample.index.digest(),
            hostile.reference()
        ),
    );
}

/// A forged index at the tag that agrees with itself but gives its
/// manifests' sizes wrong by one, in both directions: exactly the
/// descriptor's size is read.
#[test]
fn manifest_sizes_that_lie_either_way_are_refused() {
    for delta in [-1i64, 1] {
        let (hostile, sample) = Hostile::start();
        let (m, _) = amd64(&sample);
        let mut index: serde_json::Value = serde_json::from_slice(&sample.index.bytes).unwrap();
        let claimed = m.bytes.len() as i64 + delta;
        index["manifests"][0]["size"] = claimed.into();
        let forged = Blob {
            media_type: sample.index.media_type.clone(),
            bytes: serde_json::to_vec(&index).unwrap(),
        };
        hostile.put_tag(REPO, "latest", &forged);
        let served = if delta < 0 {
            format!("at least {}", m.bytes.len())
        } else {
            m.bytes.len().to_string()
        };
        refused(
            &hostile,
            &[],
            &format!(
                "the registry served {served} bytes for {}, whose descriptor says {claimed}",
                m.digest()
            ),
        );
    }
}

/// The same for blobs: a config and a layer whose manifest gives their
/// size wrong (a forged manifest under a forged index, both consistent).
#[test]
fn blob_sizes_that_lie_either_way_are_refused() {
    let cases: [(&str, i64); 4] = [("config", -1), ("config", 1), ("layer", -1), ("layer", 1)];
    for (which, delta) in cases {
        let (hostile, mut sample) = Hostile::start();
        let (arch, _, config) = sample.platforms[0].clone();
        let mut cd = config.descriptor();
        let mut ld = sample.layer.descriptor();
        let (d, real, digest) = match which {
            "config" => (&mut cd, config.bytes.len(), config.digest()),
            _ => (&mut ld, sample.layer.bytes.len(), sample.layer.digest()),
        };
        let claimed = real as i64 + delta;
        d["size"] = claimed.into();
        let mut manifest = manifest_of(&config, &[ld]);
        let mut doc: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
        doc["config"] = cd;
        manifest.bytes = serde_json::to_vec(&doc).unwrap();
        hostile.put_manifest(REPO, &manifest);
        sample.platforms = vec![(arch, manifest, config)];
        hostile.put_tag(REPO, "latest", &index_of(&sample.platforms));
        let served = if delta < 0 {
            format!("at least {}", real)
        } else {
            real.to_string()
        };
        refused(
            &hostile,
            &[],
            &format!(
                "the registry served {served} bytes for {digest}, whose descriptor says {claimed}"
            ),
        );
    }
}

/// A manifest endpoint that never stops sending: cut at 4 MiB, at once
/// (before this, `append` held 15 GB after 90 s and was still reading).
#[test]
fn an_endless_manifest_is_cut_at_the_document_limit() {
    let (hostile, _) = Hostile::start();
    hostile.attack(&hostile.tag_path(), Attack::Endless);
    let took = refused(
        &hostile,
        &[],
        &format!(
            "the registry sent more than 4 MiB for {}, the most distill reads",
            hostile.reference()
        ),
    );
    let sent = hostile.sent(&hostile.tag_path());
    // What the client read, plus what the kernel's socket buffers held.
    eprintln!("the endless manifest got {sent} bytes out in {took:.1?}");
    assert!(sent < 16 << 20, "the registry got {sent} bytes out");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

/// A layer endpoint that never stops: cut at the descriptor's size.
#[test]
fn an_endless_blob_is_cut_at_its_size() {
    let (hostile, sample) = Hostile::start();
    let layer = sample.layer.digest();
    hostile.attack(&Hostile::blob_path(&layer), Attack::Endless);
    refused(
        &hostile,
        &[],
        &format!(
            "for {layer}, whose descriptor says {}",
            sample.layer.bytes.len()
        ),
    );
    let sent = hostile.sent(&Hostile::blob_path(&layer));
    assert!(sent < 16 << 20, "the registry got {sent} bytes out");
}

/// Half a body, then silence: given up after the read timeout.
#[test]
fn a_stalled_body_is_given_up_after_the_read_timeout() {
    let (hostile, _) = Hostile::start();
    hostile.attack(&hostile.tag_path(), Attack::Stall);
    let took = refused(
        &hostile,
        &[("DISTILL_READ_TIMEOUT", "1")],
        "no data within the read timeout",
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
}

/// A byte every 200 ms (never stalled): given up at the deadline.
#[test]
fn a_trickling_body_is_given_up_at_the_deadline() {
    let (hostile, _) = Hostile::start();
    hostile.attack(&hostile.tag_path(), Attack::Trickle);
    let took = refused(
        &hostile,
        &[("DISTILL_FILE_DEADLINE", "2")],
        "not complete within 2s, the per-request deadline",
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn a_redirect_loop_is_cut_and_not_retried() {
    let (hostile, _) = Hostile::start();
    hostile.attack(&hostile.tag_path(), Attack::RedirectLoop);
    refused(&hostile, &[], "too many redirects");
    // The first request and five redirects; no second round.
    assert_eq!(hostile.hits(&hostile.tag_path()), 6);
}

/// 401 → token → 401: one token, one retry, then an error.
#[test]
fn an_auth_loop_is_cut_after_one_token() {
    let (hostile, _) = Hostile::start();
    hostile.attack(&hostile.tag_path(), Attack::AuthLoop);
    refused(&hostile, &[], "401 Unauthorized");
    assert_eq!(hostile.hits("/token"), 1);
    assert_eq!(hostile.hits(&hostile.tag_path()), 2);
}

#[test]
fn an_endless_token_is_cut() {
    let (hostile, _) = Hostile::start();
    hostile.attack(&hostile.tag_path(), Attack::EndlessToken);
    refused(
        &hostile,
        &[],
        "the registry sent more than 1 MiB for the token",
    );
    assert!(hostile.sent("/token") < 16 << 20);
}

/// JSON nested a million deep in a manifest that is otherwise sound
/// (2 MiB, well-formed): a parse error, not a stack overflow.
#[test]
fn deeply_nested_json_is_an_error_not_a_crash() {
    let (hostile, mut sample) = Hostile::start();
    let (arch, _, config) = sample.platforms[0].clone();
    let mut manifest = manifest_of(&config, &[sample.layer.descriptor()]);
    let depth = 1 << 20;
    manifest.bytes.pop(); // the closing brace
    manifest.bytes.extend_from_slice(br#","nest":"#);
    manifest.bytes.extend(std::iter::repeat_n(b'[', depth));
    manifest.bytes.extend(std::iter::repeat_n(b']', depth));
    manifest.bytes.push(b'}');
    hostile.put_manifest(REPO, &manifest);
    sample.platforms = vec![(arch, manifest, config)];
    hostile.put_tag(REPO, "latest", &index_of(&sample.platforms));
    refused(&hostile, &[], "recursion limit exceeded");
}

/// A digest that is a path: refused before it names a URL or a file.
#[test]
fn a_digest_that_is_a_path_is_refused() {
    let (hostile, mut sample) = Hostile::start();
    let (arch, _, config) = sample.platforms[0].clone();
    let mut evil = sample.layer.descriptor();
    evil["digest"] = "sha256:../../../../../tmp/distill-evil".into();
    let manifest = manifest_of(&config, &[evil]);
    hostile.put_manifest(REPO, &manifest);
    sample.platforms = vec![(arch, manifest, config)];
    hostile.put_tag(REPO, "latest", &index_of(&sample.platforms));
    refused(&hostile, &[], "is not a sha256 digest");
}

/// An index of more manifests than distill reads into memory.
#[test]
fn an_index_of_too_many_manifests_is_refused() {
    let (hostile, sample) = Hostile::start();
    let (_, _, config) = &sample.platforms[0];
    let platforms: Vec<(String, Blob, Blob)> = (0..65)
        .map(|i| {
            let layers = [serde_json::json!({
                "mediaType": sample.layer.media_type,
                "digest": format!("sha256:{:064x}", i),
                "size": i,
            })];
            (
                format!("arch{i}"),
                manifest_of(config, &layers),
                config.clone(),
            )
        })
        .collect();
    hostile.put_tag(REPO, "latest", &index_of(&platforms));
    refused(
        &hostile,
        &[],
        "lists 65 manifests, more than the 64 distill reads",
    );
}

/// A `Retry-After` of 31 710 years is capped like the backoff: the client
/// (with a short cap here) waits the cap, not the years, and goes on.
#[test]
fn a_huge_retry_after_is_capped() {
    let (hostile, sample) = Hostile::start();
    for huge in ["1000000000000", "99999999999999999999999"] {
        hostile.attack(&hostile.tag_path(), Attack::RetryAfter(huge.into()));
        let retry = distill_fetch::RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(300),
        };
        let client = distill_registry::Client::new(None, false, Default::default(), retry).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let start = Instant::now();
        let doc = rt
            .block_on(client.get_manifest(&hostile.addr, REPO, "latest", None))
            .unwrap()
            .unwrap();
        assert_eq!(doc.digest, sample.index.digest());
        assert!(start.elapsed() < Duration::from_secs(5), "{huge}");
    }
    assert_eq!(hostile.hits(&hostile.tag_path()), 4);
}

/// `verify` reads the served image with the same checks: a lying tag is
/// refused at once, and a served layer the build lacks is cut at its
/// descriptor's size when it never ends.
#[test]
fn verify_refuses_what_append_refuses() {
    let s = setup(&[], "");
    let built = s.ws.run(&["build", "--out", "out", "--image", "static"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let layout = s.ws.path().join("out/static-test");
    let hostile = Hostile::empty();
    let repo = "evil/static";
    hostile.serve_layout(repo, &layout, "latest");
    let reference = format!("{}/{repo}:latest", hostile.addr);
    let verify = || {
        s.ws.run(&[
            "verify", &reference, "--image", "static", "--distro", "test",
        ])
    };
    let honest = verify();
    assert_eq!(honest.code, 0, "{}{}", honest.stdout, honest.stderr);

    let tag = format!("/v2/{repo}/manifests/latest");
    hostile.attack(
        &tag,
        Attack::DigestHeader(format!("sha256:{}", "0".repeat(64))),
    );
    verify().assert_error("whose Docker-Content-Digest says sha256:000");

    // A served index whose amd64 image has one more layer, which never
    // ends: the index and manifest are consistent, the layer is cut.
    let index = hostile.get(&tag);
    let mut doc: serde_json::Value = serde_json::from_slice(&index.bytes).unwrap();
    let entry = &mut doc["manifests"][0];
    let manifest = hostile.get(&format!(
        "/v2/{repo}/manifests/{}",
        entry["digest"].as_str().unwrap()
    ));
    let mut m: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let extra = format!("sha256:{}", "e".repeat(64));
    m["layers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": extra, "size": 1000}));
    let forged_manifest = Blob {
        media_type: manifest.media_type.clone(),
        bytes: serde_json::to_vec(&m).unwrap(),
    };
    hostile.put_manifest(repo, &forged_manifest);
    entry["digest"] = forged_manifest.digest().into();
    entry["size"] = forged_manifest.bytes.len().into();
    let forged = Blob {
        media_type: index.media_type.clone(),
        bytes: serde_json::to_vec(&doc).unwrap(),
    };
    hostile.put_tag(repo, "latest", &forged);
    hostile.cease(&tag);
    let layer = format!("/v2/{repo}/blobs/{extra}");
    hostile.attack(&layer, Attack::Endless);
    verify().assert_error(&format!("for {extra}, whose descriptor says 1000"));
    assert!(hostile.sent(&layer) < 16 << 20);
}

/// `push` reads the referrers fallback tag back before extending it: an
/// endless answer there is cut at the document limit, and no tag is
/// pushed.
#[test]
fn push_cuts_an_endless_referrers_list_and_pushes_no_tag() {
    if !available() {
        return;
    }
    let registry = Registry::shared();
    let proxy = Proxy::start(&registry.addr);
    proxy.fault("GET", "/manifests/sha256-", ProxyFault::Endless);
    let s = setup(&[], "");
    let built = s.ws.run(&["build", "--out", "out", "--image", "static"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let run =
        s.ws.run(&["push", &format!("{}/t-endless", proxy.addr), "--out", "out"]);
    run.assert_error("the registry sent more than 4 MiB for");
    assert_eq!(
        proxy.count("PUT", "/manifests/latest"),
        0,
        "a tag was pushed"
    );
}

/// In process: a layer download that fails leaves nothing in its
/// directory (the temporary file goes with the error), and one that
/// succeeds leaves exactly the checked file.
#[test]
fn a_failed_blob_download_leaves_no_file() {
    let (hostile, sample) = Hostile::start();
    let layer = sample.layer.digest();
    let size = sample.layer.bytes.len() as u64;
    let client =
        distill_registry::Client::new(None, false, Default::default(), Default::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layer");
    let listing = || std::fs::read_dir(dir.path()).unwrap().count();
    rt.block_on(client.download_blob(&hostile.addr, REPO, &layer, size, &dest))
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), sample.layer.bytes);
    std::fs::remove_file(&dest).unwrap();
    for attack in [Attack::Endless, Attack::Body(b"short".to_vec())] {
        hostile.attack(&Hostile::blob_path(&layer), attack);
        let e = rt
            .block_on(client.download_blob(&hostile.addr, REPO, &layer, size, &dest))
            .unwrap_err();
        assert!(e.to_string().contains(&layer), "{e}");
        assert_eq!(listing(), 0, "{e}");
    }
}

/// A base as `docker build` writes it: `null` for fields without a
/// value, fields distill does not know (`ExposedPorts`, `os.version`,
/// `empty_layer` history), a manifest without `created`.
fn docker_built(config: serde_json::Value) -> Hostile {
    let hostile = Hostile::empty();
    let sample = Sample::new();
    let config = Blob {
        media_type: "application/vnd.oci.image.config.v1+json".into(),
        bytes: serde_json::to_vec(&config).unwrap(),
    };
    let manifest = manifest_of(&config, &[sample.layer.descriptor()]);
    hostile.put_tag(REPO, "latest", &manifest);
    hostile.put_blob(REPO, &config);
    hostile.put_blob(REPO, &sample.layer);
    hostile
}

#[test]
fn a_docker_built_base_keeps_every_field_distill_does_not_know() {
    let diff_id = format!(
        "sha256:{}",
        sha256_hex(&distill_tests::hostile::tar_with("hello.txt", b"hello\n"))
    );
    let hostile = docker_built(serde_json::json!({
        "architecture": "amd64", "os": "linux", "os.version": "x",
        "docker_version": "27.0.1",
        "config": {"Cmd": null, "Entrypoint": null, "Labels": null, "OnBuild": null,
                   "Env": ["PATH=/bin"], "ExposedPorts": {"8080/tcp": {}}, "StopSignal": "SIGINT"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "ENV PATH=/bin", "empty_layer": true},
                    {"created": "2025-01-01T00:00:00Z", "created_by": "COPY hello.txt"}],
    }));
    let (ws, run, _) = append(&hostile.reference(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reader = distill_image::LayoutReader::open(&ws.path().join("app")).unwrap();
    let (_, top) = reader.tags().find(|(t, _)| *t == "v1").unwrap();
    let config = reader.manifest(top).unwrap().config;
    let config: serde_json::Value = serde_json::from_slice(&reader.blob(&config).unwrap()).unwrap();
    // Kept as the base had it: what distill does not know, at every level.
    assert_eq!(config["os.version"], "x");
    assert_eq!(config["docker_version"], "27.0.1");
    assert_eq!(
        config["config"]["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}})
    );
    assert_eq!(config["config"]["StopSignal"], "SIGINT");
    assert_eq!(
        config["config"].get("OnBuild"),
        Some(&serde_json::Value::Null)
    );
    assert_eq!(config["history"][0]["empty_layer"], true);
    // Docker's nulls read as absent, the new layer on top, no `created`
    // made up for a base that had none.
    assert!(config["config"].get("Cmd").is_none(), "{config}");
    assert_eq!(config["config"]["Env"], serde_json::json!(["PATH=/bin"]));
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(config["history"].as_array().unwrap().len(), 3);
    assert!(config.get("created").is_none());
}

#[test]
fn a_base_config_of_the_wrong_shape_is_an_error_not_a_panic() {
    let hostile = docker_built(serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": "not a map"},
        "rootfs": {"type": "layers", "diff_ids": []},
    }));
    refused(&hostile, &[], "invalid type");
}
