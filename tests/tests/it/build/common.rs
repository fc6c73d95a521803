//! The build tests' archive: real .debs made by the kit (libc, libgcc,
//! busybox, ca-certificates, ...), published signed on 127.0.0.1 and
//! locked; and helpers that read layouts back.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use distill_tests::*;

pub(super) const TS1: &str = "20250110T000000Z";
pub(super) const DATE1: i64 = EPOCH_2025 + 8 * DAY;
pub(super) const ARCHS: [&str; 2] = ["amd64", "arm64"];

pub(super) fn triplet(arch: &str) -> &'static str {
    match arch {
        "amd64" => "x86_64-linux-gnu",
        _ => "aarch64-linux-gnu",
    }
}

/// A fake busybox: bytes around an applet table like the real binary's.
pub(super) fn busybox_binary() -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01 not really \xa0 [".to_vec();
    b.extend_from_slice(b"\0[[\0cat\0echo\0ls\0mkdir\0rm\0sh\0sleep\0test\0true\0\0\x01rest");
    b
}

/// The packages of the fake distro, per architecture.
pub(super) fn debs(arch: &str) -> Vec<Deb> {
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

pub(super) const BUILD: &str = r#"
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

pub(super) const IMAGES: &str = r#"
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

/// A published archive with the kit's packages plus `extra` (for amd64),
/// and a workspace whose packages.toml has `images` (plus the standard
/// ones).
pub(super) fn setup(extra: &[Deb], images: &str) -> Setup {
    setup_full(extra, images, &[])
}

/// A security archive's captures: (timestamp, Release date, packages).
pub(super) type Captures = [(&'static str, i64, Vec<Deb>)];

/// `setup`, plus a `debian-security` archive with these captures (the
/// lock pins its first).
pub(super) fn setup_full(extra: &[Deb], images: &str, security: &Captures) -> Setup {
    setup_with_security_archs(extra, images, security, &ARCHS)
}

/// `setup_full` with a security suite that publishes only `security_archs`
/// (as bookworm-security has no s390x).
pub(super) fn setup_with_security_archs(
    extra: &[Deb],
    images: &str,
    security: &Captures,
    security_archs: &[&str],
) -> Setup {
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
    // Extra packages are amd64's, but `all` ones are in every index.
    for deb in extra {
        publish(deb, if deb.arch == "all" { "all" } else { "amd64" });
    }
    server.put_capture("debian", TS1, &suite, &key);
    let mut archives = vec![snapshot_archive(&server, "debian", &["testing"])];
    for (ts, date, debs) in security {
        let mut suite = Suite::new("testing-security", *date);
        suite.architectures = security_archs.iter().map(|a| a.to_string()).collect();
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
    let s = Setup::from_toml(server, key, &toml);
    let lock = s.ws.run(&["lock", "--snapshot", TS1]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    s
}

/// Whether `tool` is installed (answers `--version`).
pub(super) fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok()
}

pub(super) fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A layout's blob by digest.
pub(super) fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(layout.join("blobs/sha256").join(&digest["sha256:".len()..])).unwrap()
}

pub(super) fn blob_json(layout: &Path, digest: &str) -> serde_json::Value {
    serde_json::from_slice(&blob(layout, digest)).unwrap()
}

/// The manifest of `tag` for `arch` (through the tag's index).
pub(super) fn manifest(layout: &Path, tag: &str, arch: &str) -> serde_json::Value {
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
pub(super) struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// File content, or link target.
    pub data: Vec<u8>,
}

/// The image's file tree, by applying its layers in order the way an OCI
/// runtime unpacks them (later entries replace earlier ones). Read with
/// the tar and flate2 crates, independently of distill's own records.
pub(super) fn unpack(layout: &Path, manifest: &serde_json::Value) -> BTreeMap<String, Node> {
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
pub(super) const TS1_UNIX: u64 = 1_736_467_200;

/// Every file of a tree, as "path kind mode uid:gid".
pub(super) fn listing(tree: &BTreeMap<String, Node>) -> Vec<String> {
    tree.iter()
        .map(|(p, n)| format!("{p} {} {:o} {}:{}", n.kind, n.mode, n.uid, n.gid))
        .collect()
}

pub(super) fn build(ws: &Workspace, out: &str) -> Run {
    ws.run(&["build", "--out", out])
}

/// Relative path → (mode, sha256) of every file under `dir`.
pub(super) fn files(dir: &Path) -> BTreeMap<String, (u32, String)> {
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
pub(super) fn expected_from_debs(arch: &str, names: &[&str]) -> Vec<String> {
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

pub(super) fn copy_dir(from: &Path, to: &Path) {
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

/// `append` of the directory `app` onto the static image's latest tag,
/// as tag `app` of the same layout.
pub(super) const APPEND_APP: [&str; 6] = [
    "append",
    "oci:out/static-test:latest",
    "-t",
    "oci:out/static-test:app",
    "--dir",
    "app",
];

/// The standard setup built into `out/`, then `app/x` (holding `app`)
/// appended into the static layout as tag `app`; the setup and the
/// build's run.
pub(super) fn built_and_appended(app: &[u8]) -> (Setup, Run) {
    let s = setup(&[], "");
    let first = build(&s.ws, "out");
    assert_eq!(first.code, 0, "{}", first.stderr);
    std::fs::create_dir_all(s.ws.path().join("app")).unwrap();
    std::fs::write(s.ws.path().join("app/x"), app).unwrap();
    let appended = s.ws.run(&APPEND_APP);
    assert_eq!(appended.code, 0, "{}", appended.stderr);
    (s, first)
}
