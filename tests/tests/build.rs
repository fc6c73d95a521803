//! `distill build` end to end: real .debs built by the kit, published in a
//! fake signed archive on 127.0.0.1, locked, then built into OCI layouts
//! that are checked byte for byte, entry by entry, and (when installed)
//! by skopeo and umoci.

#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use distill_tests::*;

const TS1: &str = "20250110T000000Z";
const DATE1: i64 = EPOCH_2025 + 8 * DAY;
const ARCHS: [&str; 2] = ["amd64", "arm64"];

fn triplet(arch: &str) -> &'static str {
    match arch {
        "amd64" => "x86_64-linux-gnu",
        _ => "aarch64-linux-gnu",
    }
}

/// A fake busybox: bytes around an applet table like the real binary's.
fn busybox_binary() -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01 not really \xa0 [".to_vec();
    b.extend_from_slice(b"\0[[\0cat\0echo\0ls\0mkdir\0rm\0sh\0sleep\0test\0true\0\0\x01rest");
    b
}

/// The packages of the fake distro, per architecture.
fn debs(arch: &str) -> Vec<Deb> {
    let t = triplet(arch);
    vec![
        Deb::new("base-files", "13", arch)
            .dir("./")
            .dir("./etc/")
            .file("./etc/debian_version", b"13.0\n")
            .dir("./usr/")
            .dir("./usr/lib/")
            .file("./usr/lib/os-release", b"PRETTY_NAME=\"Debian\"\n")
            .symlink("./etc/os-release", "../usr/lib/os-release")
            .symlink("./lib", "usr/lib")
            .symlink("./bin", "usr/bin")
            .dir("./var/")
            .entry("./var/local/", Body::Dir, 0o2775)
            .owned(0, 50, "root", "staff"),
        Deb::new("libc6", "2.41-1", arch)
            .control("Depends: libgcc-s1")
            .compression("gz")
            .dir("./lib/")
            .dir(&format!("./lib/{t}/"))
            .entry(
                &format!("./lib/{t}/libc.so.6"),
                Body::File(format!("libc for {arch}").into_bytes()),
                0o755,
            )
            .dir("./usr/")
            .dir("./usr/bin/")
            .entry("./usr/bin/ldd", Body::File(b"#!/bin/sh\n".to_vec()), 0o755)
            .entry(
                "./usr/bin/ldd2",
                Body::Hardlink("./usr/bin/ldd".into()),
                0o755,
            )
            .dir("./usr/lib/")
            .dir(&format!("./usr/lib/{t}/"))
            .symlink(&format!("./usr/lib/{t}/libc.so"), "libc.so.6"),
        Deb::new("libgcc-s1", "14-1", arch)
            .compression("")
            .dir("./usr/")
            .dir("./usr/lib/")
            .dir(&format!("./usr/lib/{t}/"))
            .file(&format!("./usr/lib/{t}/libgcc_s.so.1"), b"gcc"),
        Deb::new("tzdata", "2025a-1", "all")
            .compression("zst")
            .dir("./usr/")
            .dir("./usr/share/")
            .dir("./usr/share/zoneinfo/")
            .file("./usr/share/zoneinfo/UTC", b"TZif2 UTC"),
        Deb::new("ca-certificates", "20250419", "all")
            .dir("./etc/")
            .file("./etc/ca-certificates.conf", b"mozilla/A.crt\n")
            .dir("./usr/")
            .dir("./usr/share/")
            .dir("./usr/share/ca-certificates/")
            .dir("./usr/share/ca-certificates/mozilla/")
            .file(
                "./usr/share/ca-certificates/mozilla/B.crt",
                b"-----B-----\n",
            )
            .file("./usr/share/ca-certificates/mozilla/A.crt", b"-----A-----")
            .dir("./usr/share/doc/")
            .dir("./usr/share/doc/ca-certificates/")
            .file("./usr/share/doc/ca-certificates/copyright", b"MPL-2.0\n"),
        Deb::new("busybox-static", "1:1.37.0-1", arch)
            .dir("./usr/")
            .dir("./usr/bin/")
            .entry("./usr/bin/busybox", Body::File(busybox_binary()), 0o755),
    ]
}

const BUILD: &str = r#"
[build]
ca-certificates = "ca-certificates"
busybox = "busybox-static"
env = { PATH = "/usr/sbin:/usr/bin:/sbin:/bin", SSL_CERT_FILE = "/etc/ssl/certs/ca-certificates.crt" }
annotations = { "org.example.source" = "distill tests" }

[build.dirs]
"/" = {}
"/tmp" = { mode = 0o1777 }
"/root" = { mode = 0o700 }
"/home/nonroot" = { mode = 0o700, uid = 65532, gid = 65532 }

[build.files."/etc/passwd"]
content = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"

[build.files."/usr/lib/os-release"]
mode = 0o555
content = "PRETTY_NAME=\"Distroless\"\nVERSION_ID=\"{version_id}\"\nVERSION=\"{codename}\"\n"

[build.tags]
latest = { user = "0", workdir = "/" }
nonroot = { user = "65532", workdir = "/home/nonroot" }
debug = { user = "0", workdir = "/", debug = true }
"#;

const IMAGES: &str = r#"
[images.static]
packages = ["base-files", "tzdata"]

[images.cc]
extends = "static"
packages = ["libc6"]
entrypoint = ["/usr/bin/ldd"]
env = { LANG = "C.UTF-8" }
symlinks = { "/usr/bin/ldd3" = "ldd" }
annotations = { "org.example.libc" = "{upstream:libc6}" }
"#;

struct Setup {
    server: Server,
    ws: Workspace,
}

/// A published archive with the kit's packages plus `extra` (for amd64),
/// and a workspace whose packages.toml has `images` (plus the standard
/// ones).
fn setup(extra: &[Deb], images: &str) -> Setup {
    setup_full(extra, images, &[])
}

/// A security archive's captures: (timestamp, Release date, packages).
type Captures = [(&'static str, i64, Vec<Deb>)];

/// `setup`, plus a `debian-security` archive with these captures (the
/// lock pins its first).
fn setup_full(extra: &[Deb], images: &str, security: &Captures) -> Setup {
    let server = Server::start();
    let key = TestKey::generate("k");
    let mut suite = Suite::new("testing", DATE1);
    let mut publish = |deb: &Deb, arch: &str| {
        let bytes = deb.build();
        suite = std::mem::replace(&mut suite, Suite::new("x", 0)).with(arch, &deb.stanza(&bytes));
        server.put(&format!("/archive/debian/{TS1}/{}", deb.filename()), bytes);
    };
    for arch in ARCHS {
        for deb in debs(arch) {
            if deb.arch == "all" && arch != "amd64" {
                continue;
            }
            let a = deb.arch.clone();
            publish(&deb, &a);
        }
    }
    for deb in extra {
        publish(deb, "amd64");
    }
    server.put_capture("debian", TS1, &suite, &key);
    let mut archives = vec![snapshot_archive(&server, "debian", &["testing"])];
    for (ts, date, debs) in security {
        let mut suite = Suite::new("testing-security", *date);
        for deb in debs {
            let bytes = deb.build();
            suite = suite.with(&deb.arch, &deb.stanza(&bytes));
            server.put(
                &format!("/archive/debian-security/{ts}/{}", deb.filename()),
                bytes,
            );
        }
        server.put_capture("debian-security", ts, &suite, &key);
    }
    if !security.is_empty() {
        server.publish_timestamps();
        archives.push(snapshot_archive(
            &server,
            "debian-security",
            &["testing-security"],
        ));
    }
    let toml = packages_toml(&ARCHS, &archives).replace(
        "keyring = \"test-keyring.pgp\"\n",
        "keyring = \"test-keyring.pgp\"\nmerged_usr = true\n",
    ) + BUILD
        + IMAGES
        + images;
    let ws = Workspace::new(&toml, Some(&key));
    let lock = ws.run(&["lock", "--snapshot", TS1]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    Setup { server, ws }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A layout's blob by digest.
fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(layout.join("blobs/sha256").join(&digest["sha256:".len()..])).unwrap()
}

fn blob_json(layout: &Path, digest: &str) -> serde_json::Value {
    serde_json::from_slice(&blob(layout, digest)).unwrap()
}

/// The manifest of `tag` for `arch` (through the tag's index).
fn manifest(layout: &Path, tag: &str, arch: &str) -> serde_json::Value {
    let index = read_json(&layout.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag}"));
    let tag_index = blob_json(layout, entry["digest"].as_str().unwrap());
    let oci_arch = if arch == "amd64" { "amd64" } else { "arm64" };
    let m = tag_index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == oci_arch)
        .unwrap();
    blob_json(layout, m["digest"].as_str().unwrap())
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    /// File content, or link target.
    data: Vec<u8>,
}

/// The image's file tree, by applying its layers in order the way an OCI
/// runtime unpacks them (later entries replace earlier ones). Read with
/// the tar and flate2 crates, independently of distill's own records.
fn unpack(layout: &Path, manifest: &serde_json::Value) -> BTreeMap<String, Node> {
    let mut tree = BTreeMap::new();
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let bytes = blob(layout, layer["digest"].as_str().unwrap());
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned();
            let h = e.header().clone();
            assert!(h.mtime().unwrap() <= TS1_UNIX, "{path}: mtime clamped");
            let (kind, data) = match h.entry_type() {
                tar::EntryType::Directory => ('d', vec![]),
                tar::EntryType::Regular => {
                    let mut d = Vec::new();
                    e.read_to_end(&mut d).unwrap();
                    ('f', d)
                }
                tar::EntryType::Symlink => ('l', e.link_name_bytes().unwrap().into_owned()),
                tar::EntryType::Link => ('h', e.link_name_bytes().unwrap().into_owned()),
                other => panic!("{path}: unexpected {other:?}"),
            };
            tree.insert(
                path,
                Node {
                    kind,
                    mode: h.mode().unwrap(),
                    uid: h.uid().unwrap(),
                    gid: h.gid().unwrap(),
                    data,
                },
            );
        }
    }
    tree
}

/// 2025-01-10T00:00:00Z, the pin: every mtime is at most this.
const TS1_UNIX: u64 = 1_736_467_200;

/// Every file of a tree, as "path kind mode uid:gid".
fn listing(tree: &BTreeMap<String, Node>) -> Vec<String> {
    tree.iter()
        .map(|(p, n)| format!("{p} {} {:o} {}:{}", n.kind, n.mode, n.uid, n.gid))
        .collect()
}

fn build(ws: &Workspace, out: &str) -> Run {
    ws.run(&["build", "--out", out])
}

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
    let line = first
        .stdout
        .lines()
        .find(|l| l.starts_with("static-test:latest "))
        .unwrap();
    assert_eq!(
        line,
        "static-test:latest sha256:a70ed01a0fbf5cd12283a08b53bf8998bd5713155a737fbcde9a306684523c13",
        "if this change in output is intended, update the golden digest"
    );
}

/// Relative path → (mode, sha256) of every file under `dir`.
fn files(dir: &Path) -> BTreeMap<String, (u32, String)> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel + "/", (mode, String::new()));
                walk(root, &p, out);
            } else {
                out.insert(rel, (mode, sha256_hex(&std::fs::read(&p).unwrap())));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What the kit's packages put in an image, merged /usr applied: the
/// independent expectation the built tree is compared with.
fn expected_from_debs(arch: &str, names: &[&str]) -> Vec<String> {
    let mut tree: BTreeMap<String, String> = BTreeMap::new();
    for deb in debs(arch)
        .iter()
        .filter(|d| names.contains(&d.name.as_str()))
    {
        for e in &deb.entries {
            let p = e.path.trim_start_matches("./").trim_end_matches('/');
            if p.is_empty() {
                continue;
            }
            let top = p.split('/').next().unwrap();
            let is_dir = matches!(e.body, Body::Dir);
            let p = match top {
                "lib" | "bin" | "sbin" if p == top && is_dir => continue,
                "lib" | "bin" | "sbin" if p != top => format!("usr/{p}"),
                _ => p.to_owned(),
            };
            let kind = match e.body {
                Body::Dir => 'd',
                Body::File(_) => 'f',
                Body::Symlink(_) => 'l',
                Body::Hardlink(_) => 'h',
                Body::CharDevice => 'c',
            };
            tree.entry(p.clone())
                .or_insert(format!("{p} {kind} {:o} {}:{}", e.mode, e.uid, e.gid));
        }
        tree.insert(
            format!("var/lib/dpkg/status.d/{}", deb.name),
            format!("var/lib/dpkg/status.d/{} f 644 0:0", deb.name),
        );
        tree.insert(
            format!("var/lib/dpkg/status.d/{}.md5sums", deb.name),
            format!("var/lib/dpkg/status.d/{}.md5sums f 644 0:0", deb.name),
        );
    }
    tree.into_values().collect()
}

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
    assert_eq!(
        config["config"]["Entrypoint"],
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
    // A second build over the first replaces it whole: a stray file goes.
    std::fs::write(s.ws.path().join("out/cc-test/stray"), b"x").unwrap();
    let again = build(&s.ws, "out");
    assert_eq!(again.stdout, run.stdout);
    assert!(!s.ws.path().join("out/cc-test/stray").exists());
    let names: Vec<String> = std::fs::read_dir(s.ws.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary directories left: {names:?}");
}

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
    let cached: PathBuf = s.ws.cache().join("sha256").join(&sha[..2]).join(sha);
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

#[test]
fn a_security_bump_rebuilds_only_the_images_that_contain_it() {
    const TS2: &str = "20250115T000000Z";
    let patched = |arch: &str| {
        Deb::new("libgcc-s1", "14-1+deb13u1", arch)
            .compression("")
            .dir("./usr/")
            .dir("./usr/lib/")
            .dir(&format!("./usr/lib/{}/", triplet(arch)))
            .file(
                &format!("./usr/lib/{}/libgcc_s.so.1", triplet(arch)),
                b"gcc, fixed",
            )
    };
    let s = setup_full(
        &[],
        "",
        &[
            (TS1, DATE1, vec![]),
            (
                TS2,
                EPOCH_2025 + 14 * DAY,
                ARCHS.iter().map(|a| patched(a)).collect(),
            ),
        ],
    );
    let ws = &s.ws;
    let before = build(ws, "out");
    assert_eq!(before.code, 0, "{}", before.stderr);
    let lock = ws.path().join("snapshots/test.lock");
    std::fs::copy(&lock, ws.path().join("old.lock")).unwrap();
    copy_dir(&ws.path().join("out/cc-test"), &ws.path().join("cc-before"));
    let static_index = std::fs::read(ws.path().join("out/static-test/index.json")).unwrap();

    let update = ws.run(&["update", "--archive", "debian-security", "--to", "latest"]);
    assert_eq!(update.code, 2, "{}", update.stderr);
    assert!(
        update
            .stdout
            .contains("| libgcc-s1 | `14-1` | `14-1+deb13u1` | cc (amd64, arm64) |"),
        "{}",
        update.stdout
    );
    assert!(
        update.stdout.contains("- `cc-test` (amd64, arm64)"),
        "{}",
        update.stdout
    );
    assert!(!update.stdout.contains("static-test"), "{}", update.stdout);

    // Only cc is rebuilt; static's layout is not touched.
    let rebuilt = ws.run(&["build", "--changed-since", "old.lock", "--out", "out"]);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    assert_eq!(rebuilt.stdout.lines().count(), 3, "{}", rebuilt.stdout);
    assert!(
        rebuilt.stdout.lines().all(|l| l.starts_with("cc-test:")),
        "{}",
        rebuilt.stdout
    );
    assert_eq!(
        std::fs::read(ws.path().join("out/static-test/index.json")).unwrap(),
        static_index
    );

    // A full build agrees: static's digests are the old ones, cc's new.
    let full = build(ws, "full");
    let lines = |run: &Run, image: &str| -> Vec<String> {
        run.stdout
            .lines()
            .filter(|l| l.starts_with(image))
            .map(String::from)
            .collect()
    };
    assert_eq!(lines(&full, "static-test:"), lines(&before, "static-test:"));
    assert_eq!(lines(&full, "cc-test:"), lines(&rebuilt, "cc-test:"));
    assert_ne!(lines(&full, "cc-test:"), lines(&before, "cc-test:"));

    // Nothing more to do.
    std::fs::copy(&lock, ws.path().join("now.lock")).unwrap();
    let none = ws.run(&["build", "--changed-since", "now.lock"]);
    assert_eq!(
        (none.code, none.stdout.as_str()),
        (0, ""),
        "{}",
        none.stderr
    );

    // diff of the locks and of the two cc layouts.
    let d = ws.run(&["diff", "old.lock", "snapshots/test.lock"]);
    assert_eq!(d.code, 2, "{}", d.stderr);
    assert!(d.stdout.contains("libgcc-s1"), "{}", d.stdout);
    let d = ws.run(&["diff", "cc-before", "out/cc-test"]);
    assert_eq!(d.code, 2, "{}", d.stderr);
    let t = triplet("amd64");
    assert!(
        d.stdout.contains("latest linux/amd64: changed"),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout.contains("distill: libgcc-s1 14-1+deb13u1"),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout.contains(&format!(
            "file ~ /usr/lib/{t}/libgcc_s.so.1: file 0644 0:0 3 bytes -> file 0644 0:0 10 bytes"
        )),
        "{}",
        d.stdout
    );
    assert!(
        !d.stdout.contains("config "),
        "configs are the same: {}",
        d.stdout
    );
    let j = ws.run(&["diff", "cc-before", "out/cc-test", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    let files = v["images"][0]["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["path"] == format!("usr/lib/{t}/libgcc_s.so.1") && f["change"] == "changed")
    );
    let same = ws.run(&["diff", "out/static-test", "full/static-test"]);
    assert_eq!((same.code, same.stdout.as_str()), (0, "no differences\n"));
    ws.run(&["diff", "old.lock", "out/cc-test"])
        .assert_error("give two lock files or two image layouts");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// skopeo and umoci read every layout (`.ci/run` installs them; a
/// developer machine without them skips, CI never does).
#[test]
fn skopeo_and_umoci_accept_the_layouts() {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !(have("skopeo") && have("umoci")) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have skopeo and umoci (.ci/run installs them)"
        );
        eprintln!("skipped: skopeo or umoci not installed");
        return;
    }
    let s = setup(&[], "");
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tool = |cmd: &str, args: &[&str]| {
        let o = Command::new(cmd)
            .args(args)
            .current_dir(s.ws.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for image in ["static-test", "cc-test"] {
        for tag in ["latest", "nonroot", "debug", "latest-arm64"] {
            let raw = tool(
                "skopeo",
                &["inspect", "--raw", &format!("oci:out/{image}:{tag}")],
            );
            assert!(raw.contains("schemaVersion"));
            let info = tool(
                "skopeo",
                &[
                    "inspect",
                    "--override-arch",
                    "arm64",
                    &format!("oci:out/{image}:{tag}"),
                ],
            );
            let info: serde_json::Value = serde_json::from_str(&info).unwrap();
            assert_eq!(info["Architecture"], "arm64");
        }
    }
    tool(
        "skopeo",
        &[
            "copy",
            "--override-arch",
            "amd64",
            "oci:out/cc-test:nonroot",
            "docker-archive:cc.tar:cc:nonroot",
        ],
    );
    assert!(std::fs::metadata(s.ws.path().join("cc.tar")).unwrap().len() > 0);
    tool(
        "umoci",
        &["unpack", "--image", "out/cc-test:latest-amd64", "bundle"],
    );
    let rootfs = s.ws.path().join("bundle/rootfs");
    assert_eq!(
        std::fs::read(rootfs.join("usr/lib/x86_64-linux-gnu/libc.so.6")).unwrap(),
        b"libc for amd64"
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("lib")).unwrap(),
        Path::new("usr/lib")
    );
    let config = read_json(&s.ws.path().join("bundle/config.json"));
    assert_eq!(
        config["process"]["args"],
        serde_json::json!(["/usr/bin/ldd"])
    );

    // A docker archive of one image and architecture, every tag in it,
    // with the same configs as the layout.
    let run = s.ws.run(&[
        "build",
        "--format",
        "docker-archive",
        "--image",
        "cc",
        "--arch",
        "arm64",
        "--out",
        "dk",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "dk/cc-test-arm64.tar\n");
    let names: Vec<String> = std::fs::read_dir(s.ws.path().join("dk"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["cc-test-arm64.tar"],
        "no scratch layout left behind"
    );
    for tag in ["latest", "nonroot", "debug"] {
        let from_tar = tool(
            "skopeo",
            &[
                "inspect",
                "--config",
                &format!("docker-archive:dk/cc-test-arm64.tar:cc-test:{tag}"),
            ],
        );
        let from_layout = tool(
            "skopeo",
            &[
                "inspect",
                "--config",
                &format!("oci:out/cc-test:{tag}-arm64"),
            ],
        );
        assert_eq!(from_tar, from_layout, "{tag}");
    }
}
