//! The java family's machinery end to end, on the kit's archive: an
//! unpublished build base, the C.UTF-8 locale and a Java trust store
//! generated from locked packages, a JDK only on the debug tags, `{arch}`
//! in symlink targets and `{upstream:PKG}` in env; and a third-party
//! archive (as Adoptium's would be) trusted with its own key only.

use std::collections::BTreeMap;

use crate::build::common::*;
use base64::Engine;
use distill_tests::*;
use sha1::Digest;

const JAVA: &str = r#"
[images.java-build-base]
publish = false
extends = "cc"
architectures = ["amd64"]
locales = ["C.utf8"]

[images.java-base]
extends = "java-build-base"
java_keystore = { path = "/etc/ssl/certs/java/cacerts", password = "changeit" }

[images.java17]
extends = "java-base"
packages = ["openjdk-t-jre-headless"]
debug_packages = ["openjdk-t-jdk-headless"]
exclude = [{ package = "java-common", reason = "update-java-alternatives only" }]
entrypoint = ["/usr/bin/java", "-jar"]
symlinks = { "/usr/bin/java" = "/usr/lib/jvm/java-t-{arch}/bin/java" }
env = { JAVA_VERSION = "{upstream:openjdk-t-jre-headless}" }
"#;

/// The DER "certificates" of the fake CA package (the keystore stores
/// DER as it is; keytool's reading of real ones is the live test's).
const CERTS: [(&str, &[u8]); 2] = [("Two_CA.crt", b"second der"), ("One_CA.crt", b"first der")];

fn pem(der: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n").into_bytes()
}

fn java_debs() -> Vec<Deb> {
    let mut ca = Deb::new("ca-certs-pem", "1", "all")
        .dir("./usr/")
        .dir("./usr/share/")
        .dir("./usr/share/ca-certificates/")
        .dir("./usr/share/ca-certificates/mozilla/");
    for (name, der) in CERTS {
        ca = ca.file(
            &format!("./usr/share/ca-certificates/mozilla/{name}"),
            &pem(der),
        );
    }
    vec![
        ca,
        Deb::new("libc-bin", "2.41-1", "all")
            .dir("./usr/")
            .dir("./usr/bin/")
            .entry("./usr/bin/locale", Body::File(b"ELF".to_vec()), 0o755)
            .dir("./usr/lib/")
            .dir("./usr/lib/locale/")
            .dir("./usr/lib/locale/C.utf8/")
            .file("./usr/lib/locale/C.utf8/LC_CTYPE", b"ctype")
            .dir("./usr/lib/locale/C.utf8/LC_MESSAGES/")
            .file(
                "./usr/lib/locale/C.utf8/LC_MESSAGES/SYS_LC_MESSAGES",
                b"msg",
            )
            .dir("./usr/share/")
            .dir("./usr/share/doc/")
            .dir("./usr/share/doc/libc-bin/")
            .file("./usr/share/doc/libc-bin/copyright", b"LGPL\n"),
        Deb::new("java-common", "0.76", "all"),
        jvm_deb("openjdk-t-jre-headless", "java-common, libc6", "java")
            .dir("./usr/lib/jvm/java-t-amd64/lib/")
            .symlink(
                "./usr/lib/jvm/java-t-amd64/lib/cacerts",
                "/etc/ssl/certs/java/cacerts",
            ),
        jvm_deb(
            "openjdk-t-jdk-headless",
            "openjdk-t-jre-headless (= 17.0.8+7-1~deb13u1)",
            "javac",
        ),
    ]
}

/// An openjdk-like package: `bin/<program>` in the JVM's directory.
fn jvm_deb(name: &str, depends: &str, program: &str) -> Deb {
    let jvm = "./usr/lib/jvm/java-t-amd64";
    Deb::new(name, "17.0.8+7-1~deb13u1", "amd64")
        .control(&format!("Depends: {depends}"))
        .dir("./usr/")
        .dir("./usr/lib/")
        .dir("./usr/lib/jvm/")
        .dir(&format!("{jvm}/"))
        .dir(&format!("{jvm}/bin/"))
        .entry(
            &format!("{jvm}/bin/{program}"),
            Body::File(program.as_bytes().to_vec()),
            0o755,
        )
}

/// The kit's archive with the java packages, its packages.toml given the
/// locales package and a CA package of PEM certificates, locked.
fn java_setup() -> Setup {
    let s = setup(&java_debs(), JAVA);
    let path = s.ws.path().join("packages.toml");
    let toml = std::fs::read_to_string(&path).unwrap().replacen(
        "ca-certificates = \"ca-certificates\"\n",
        "ca-certificates = \"ca-certs-pem\"\nlocales = \"libc-bin\"\n",
        1,
    );
    std::fs::write(&path, toml).unwrap();
    let lock = s.ws.run(&["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    s
}

/// A JKS read back independently: (alias, created ms, DER) per entry,
/// after checking the magic, version and the password seal.
fn read_jks(bytes: &[u8], password: &str) -> Vec<(String, u64, Vec<u8>)> {
    let (body, seal) = bytes.split_at(bytes.len() - 20);
    let mut h = sha1::Sha1::new();
    for unit in password.encode_utf16() {
        h.update(unit.to_be_bytes());
    }
    h.update(b"Mighty Aphrodite");
    h.update(body);
    assert_eq!(&h.finalize()[..], seal, "the seal over {password:?}");
    let mut at = 0;
    let mut take = |n: usize| {
        at += n;
        &body[at - n..at]
    };
    assert_eq!(take(4), [0xFE, 0xED, 0xFE, 0xED]);
    assert_eq!(take(4), [0, 0, 0, 2]);
    let count = u32::from_be_bytes(take(4).try_into().unwrap());
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(take(4), [0, 0, 0, 2], "a trusted-cert entry");
        let n = u16::from_be_bytes(take(2).try_into().unwrap()) as usize;
        let alias = String::from_utf8(take(n).to_vec()).unwrap();
        let created = u64::from_be_bytes(take(8).try_into().unwrap());
        let n = u16::from_be_bytes(take(2).try_into().unwrap()) as usize;
        assert_eq!(take(n), b"X.509");
        let n = u32::from_be_bytes(take(4).try_into().unwrap()) as usize;
        out.push((alias, created, take(n).to_vec()));
    }
    out
}

fn env_of(layout: &std::path::Path, m: &serde_json::Value) -> BTreeMap<String, String> {
    let config = blob_json(layout, m["config"]["digest"].as_str().unwrap());
    env_map(&config["config"]["Env"])
}

#[test]
fn java_images_get_locale_keystore_and_a_jdk_on_debug_tags_only() {
    let s = java_setup();
    let lock: toml::Table = s.ws.lock_text().parse().unwrap();
    let images: Vec<&String> = lock["images"].as_table().unwrap().keys().collect();
    assert!(
        images.contains(&&"java17".to_owned()) && !images.iter().any(|i| *i == "java-build-base"),
        "the build base is not locked: {images:?}"
    );
    let names = |v: &toml::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    };
    let java17 = names(&lock["images"]["java17"]["amd64"]);
    assert!(java17.contains(&"openjdk-t-jre-headless".to_owned()));
    assert!(
        !java17
            .iter()
            .any(|n| n == "openjdk-t-jdk-headless" || n == "java-common")
    );
    assert_eq!(
        names(&lock["debug"]["java17"]["amd64"]),
        ["openjdk-t-jdk-headless"]
    );
    assert!(names(&lock["build"]["amd64"]).contains(&"libc-bin".to_owned()));
    let why = |pkg: &str| {
        let run = s.ws.run(&[
            "why", pkg, "--image", "java17", "--distro", "test", "--arch", "amd64",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
    };
    assert!(why("openjdk-t-jdk-headless").starts_with(
        "openjdk-t-jdk-headless 17.0.8+7-1~deb13u1 is in java17's debug tags (a debug package)"
    ),);
    assert!(
        why("java-common")
            .starts_with("java-common is excluded from java17: update-java-alternatives only")
    );

    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("java17-test:debug sha256:"),
        "{}",
        run.stdout
    );
    assert!(!s.ws.path().join("out/java-build-base-test").exists());
    s.ws.run(&["build", "--image", "java-build-base"])
        .assert_error("build base (publish = false)");

    let layout = s.ws.path().join("out/java17-test");
    let latest = manifest(&layout, "latest", "amd64");
    let debug = manifest(&layout, "debug", "amd64");
    let tree = unpack(&layout, &latest);
    let dtree = unpack(&layout, &debug);

    // The locale's files, the package's copyright; nothing else of it.
    assert_eq!(tree["usr/lib/locale/C.utf8/LC_CTYPE"].data, b"ctype");
    assert_eq!(
        tree["usr/lib/locale/C.utf8/LC_MESSAGES/SYS_LC_MESSAGES"].data,
        b"msg"
    );
    assert_eq!(tree["usr/share/doc/libc-bin/copyright"].mode, 0o644);
    assert!(!tree.contains_key("usr/bin/locale"));
    assert!(!tree.contains_key("var/lib/dpkg/status.d/libc-bin"));

    // The trust store: every certificate of the CA package, aliased as
    // Debian does, sorted, created at the epoch, sealed with changeit.
    let store = &tree["etc/ssl/certs/java/cacerts"];
    assert_eq!((store.kind, store.mode, store.uid), ('f', 0o644, 0));
    let entries = read_jks(&store.data, "changeit");
    let want: Vec<(String, u64, Vec<u8>)> = [
        ("debian:one_ca.pem", CERTS[1].1),
        ("debian:two_ca.pem", CERTS[0].1),
    ]
    .iter()
    .map(|(a, der)| (a.to_string(), TS1_UNIX * 1000, der.to_vec()))
    .collect();
    assert_eq!(entries, want);

    // java through the {arch} symlink; javac only on the debug tags.
    assert_eq!(
        tree["usr/bin/java"].data,
        b"/usr/lib/jvm/java-t-amd64/bin/java"
    );
    assert!(tree.contains_key("usr/lib/jvm/java-t-amd64/bin/java"));
    assert!(!tree.contains_key("usr/lib/jvm/java-t-amd64/bin/javac"));
    assert_eq!(dtree["usr/lib/jvm/java-t-amd64/bin/javac"].data, b"javac");
    assert!(dtree.contains_key("busybox/sh"));
    assert_eq!(dtree["etc/ssl/certs/java/cacerts"], *store);

    // Env from the lock, the runtime as entrypoint on every tag.
    let env = env_of(&layout, &latest);
    assert_eq!(env["JAVA_VERSION"], "17.0.8");
    assert_eq!(env["LANG"], "C.UTF-8");
    for m in [&latest, &debug] {
        let config = blob_json(&layout, m["config"]["digest"].as_str().unwrap());
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/usr/bin/java", "-jar"])
        );
    }

    // The SBOMs name where the files came from: libc-bin for the locale,
    // the JDK on the debug tags only.
    let sbom = |tag: &str| {
        std::fs::read_to_string(layout.join(format!("sbom/{tag}-amd64.spdx.json"))).unwrap()
    };
    assert!(sbom("latest").contains("\"libc-bin\""));
    assert!(!sbom("latest").contains("openjdk-t-jdk-headless"));
    assert!(sbom("debug").contains("openjdk-t-jdk-headless"));

    // java-base: the store and locale, no JVM.
    let base = s.ws.path().join("out/java-base-test");
    let btree = unpack(&base, &manifest(&base, "latest", "amd64"));
    assert_eq!(btree["etc/ssl/certs/java/cacerts"], *store);
    assert!(btree.contains_key("usr/lib/locale/C.utf8/LC_CTYPE"));
    assert!(!btree.keys().any(|p| p.starts_with("usr/lib/jvm")));

    // Made anew from the packages: the same keystore and digests.
    std::fs::remove_dir_all(s.ws.cache().join("layers")).unwrap();
    let again = build(&s.ws, "out2");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, run.stdout);
}

/// A third-party archive beside the distro's (Adoptium's, for Temurin):
/// no snapshot service, its own mirror, signed by its own key, which is
/// the only key trusted for it.
#[test]
fn a_third_party_archive_is_trusted_with_its_own_key_only() {
    let s = setup(&[], "");
    let vendor = TestKey::generate("vendor");
    let jre = Deb::new("temurin-t-jre", "21.0.5.0.0+11-1", "amd64")
        .control("Depends: libc6")
        .dir("./usr/")
        .dir("./usr/lib/")
        .dir("./usr/lib/jvm/")
        .dir("./usr/lib/jvm/temurin-21-jre-amd64/")
        .file(
            "./usr/lib/jvm/temurin-21-jre-amd64/release",
            b"JAVA_VERSION=\"21.0.5\"\n",
        );
    let bytes = jre.build();
    let suite = Suite::new("vendor", DATE1).with("amd64", &jre.stanza(&bytes));
    s.server
        .put(&format!("/adoptium/{}", jre.filename()), bytes);
    s.server.put_suite("/adoptium", &suite, &vendor);
    std::fs::write(s.ws.path().join("vendor.pgp"), vendor.public_bytes()).unwrap();
    let path = s.ws.path().join("packages.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap();
    toml += "\n[images.temurin]\nextends = \"cc\"\narchitectures = [\"amd64\"]\n\
             packages = [\"temurin-t-jre\"]\n";
    toml += &format!(
        "\n[[distros.test.archives]]\nname = \"adoptium\"\nmirrors = [\"{}/adoptium\"]\n\
         keyring = \"vendor.pgp\"\nsuites = [\"vendor\"]\ncomponents = [\"main\"]\n",
        s.server.url()
    );
    std::fs::write(&path, toml).unwrap();

    let lock = s.ws.run(&["lock", "--snapshot", TS1]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    let doc: toml::Table = s.ws.lock_text().parse().unwrap();
    let pkg = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("temurin-t-jre"))
        .unwrap();
    assert_eq!(pkg["archive"].as_str(), Some("adoptium"));
    let served: Vec<&str> = doc["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["served"].as_str().unwrap())
        .collect();
    assert!(
        served.contains(&format!("mirror {}/adoptium", s.server.url()).as_str()),
        "{served:?}"
    );
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let layout = s.ws.path().join("out/temurin-test");
    let tree = unpack(&layout, &manifest(&layout, "latest", "amd64"));
    assert!(tree.contains_key("usr/lib/jvm/temurin-21-jre-amd64/release"));

    // Signed with the distro's key instead: refused, though that key is
    // trusted for the distro's own archive.
    s.server.put_suite("/adoptium", &suite, &s.key);
    s.ws.run(&["lock", "--snapshot", TS1])
        .assert_error("adoptium");
    // And the vendor's key does not vouch for the distro's archive.
    let path = s.ws.path().join("test-keyring.pgp");
    std::fs::write(&path, vendor.public_bytes()).unwrap();
    s.server.put_suite("/adoptium", &suite, &vendor);
    s.ws.run(&["lock", "--snapshot", TS1])
        .assert_error("archive/debian");
}
