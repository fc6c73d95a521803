//! The real images, built from the real archive (`DISTILL_LIVE=1`, as root
//! for chroot; `.ci/run` provides both). The repository's packages.toml is
//! locked afresh for amd64 (mirrors drop superseded versions within days,
//! so the committed lock's .debs may be gone) and built; then the images
//! run real programs and their trees are compared with `dpkg-deb -c`.

#![allow(clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use distill_tests::{Run, distill_bin, env_map, succeeds};

fn live() -> bool {
    if std::env::var("DISTILL_LIVE").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipped: set DISTILL_LIVE=1 to build the real images");
    false
}

struct Live {
    dir: tempfile::TempDir,
}

impl Live {
    fn new() -> Live {
        let dir = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::copy(repo.join("packages.toml"), dir.path().join("packages.toml")).unwrap();
        Live { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn distill(&self, args: &[&str]) -> Run {
        let run: Run = Command::new(distill_bin())
            .args(args)
            .current_dir(self.path())
            .env("DISTILL_CACHE_DIR", self.path().join("cache"))
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap()
            .into();
        assert_eq!(run.code, 0, "distill {args:?}: {}", run.stderr);
        run
    }

    /// `umoci unpack` of image:tag into a fresh bundle; returns rootfs.
    fn unpack(&self, image: &str, tag: &str) -> PathBuf {
        let bundle = self.path().join(format!("bundle-{image}-{tag}"));
        if bundle.exists() {
            return bundle.join("rootfs");
        }
        sh(Command::new("umoci")
            .args(["unpack", "--image", &format!("out/{image}:{tag}")])
            .arg(&bundle)
            .current_dir(self.path()));
        bundle.join("rootfs")
    }
}

/// `cmd`'s standard output; it must succeed.
fn sh(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&succeeds(cmd).stdout).into_owned()
}

fn tools_present() -> bool {
    let have = |t: &str| Command::new(t).arg("--version").output().is_ok();
    let ok = have("umoci") && have("g++") && have("dpkg-deb") && have("chroot");
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have umoci, g++, dpkg-deb and chroot"
        );
        eprintln!("skipped: umoci, g++, dpkg-deb or chroot missing");
    }
    ok
}

#[test]
fn real_images_build_reproducibly_and_run() {
    if !live() || !tools_present() {
        return;
    }
    let l = Live::new();
    l.distill(&["lock", "--arch", "amd64"]);
    let first = l.distill(&["build", "--arch", "amd64"]);
    // static, base-nossl, base, cc, nodejs22/24/26 and java-base for both
    // distros, java17 for debian12, python3, java21 and java25 for
    // debian13; four tags each.
    assert_eq!(first.stdout.lines().count(), 20 * 4, "{}", first.stdout);

    // Again, with every layer made anew, into another directory, under
    // another umask: the same digests.
    std::fs::remove_dir_all(l.path().join("cache/layers")).unwrap();
    let second: Run = Command::new("sh")
        .args(["-c", "umask 027; exec \"$0\" build --arch amd64 --out out2"])
        .arg(distill_bin())
        .current_dir(l.path())
        .env("DISTILL_CACHE_DIR", l.path().join("cache"))
        .output()
        .unwrap()
        .into();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(first.stdout, second.stdout);

    // cc-debian12: a dynamically linked C++ program runs.
    let rootfs = l.unpack("cc-debian12", "latest-amd64");
    let src = l.path().join("hello.cc");
    std::fs::write(
        &src,
        "#include <iostream>\n#include <thread>\nint main(){std::thread t([]{std::cout<<\"c++ ok\"<<std::endl;});t.join();}\n",
    )
    .unwrap();
    sh(Command::new("g++")
        .arg("-O1")
        .arg("-pthread")
        .arg(&src)
        .arg("-o")
        .arg(rootfs.join("hello")));
    assert_eq!(
        sh(Command::new("chroot").arg(&rootfs).arg("/hello")),
        "c++ ok\n"
    );

    // base-debian13: dlopen libssl.so.3 and print its version.
    let rootfs = l.unpack("base-debian13", "latest-amd64");
    let version = run_c(
        &l,
        &rootfs,
        "ssl",
        "#include <dlfcn.h>\n#include <stdio.h>\nint main(){void*h=dlopen(\"libssl.so.3\",RTLD_NOW);if(!h){puts(dlerror());return 1;}\nconst char*(*v)(int)=(const char*(*)(int))dlsym(h,\"OpenSSL_version\");puts(v(0));return 0;}\n",
    );
    assert!(version.starts_with("OpenSSL 3."), "{version}");

    // A debug image has a working busybox shell.
    let rootfs = l.unpack("static-debian13", "debug-amd64");
    let out = sh(Command::new("chroot")
        .arg(&rootfs)
        .args(["/busybox/sh", "-c", "echo ok"]));
    assert_eq!(out, "ok\n");

    // python3-debian13 runs with the image's own environment, and its
    // ld.so.cache (written by distill) reads back with ldconfig.
    let rootfs = l.unpack("python3-debian13", "latest-amd64");
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(rootfs.parent().unwrap().join("config.json")).unwrap(),
    )
    .unwrap();
    let env: Vec<&str> = config["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"LANG=C.UTF-8"));
    let mut cmd = Command::new("/usr/sbin/chroot");
    cmd.env_clear()
        .envs(env.iter().filter_map(|kv| kv.split_once('=')));
    let out = sh(cmd.arg(&rootfs).args([
        "/usr/bin/python3",
        "-c",
        "import ssl, sqlite3, json; print('ok')",
    ]));
    assert_eq!(out, "ok\n");
    let cache = sh(Command::new("ldconfig")
        .args(["-p", "-C"])
        .arg(rootfs.join("etc/ld.so.cache")));
    assert!(
        cache.contains("libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6"),
        "{cache}"
    );
    assert!(cache.contains("libsqlite3.so.0 (libc6,x86-64)"), "{cache}");
    assert!(cache.lines().count() > 30, "{cache}");

    // nodejs: the locked Node runs on cc, with TLS roots, crypto and Intl;
    // nothing but bin/node and LICENSE under /nodejs.
    for (image, distro, artifact) in [
        ("nodejs24-debian12", "debian12", "node24"),
        ("nodejs22-debian13", "debian13", "node22"),
    ] {
        let lock: toml::Table =
            std::fs::read_to_string(l.path().join(format!("snapshots/{distro}.lock")))
                .unwrap()
                .parse()
                .unwrap();
        let pin = lock["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["name"].as_str() == Some(artifact) && a["architecture"].as_str() == Some("amd64")
            })
            .unwrap();
        let version = pin["version"].as_str().unwrap();
        for tag in ["latest-amd64", "debug-nonroot-amd64"] {
            let rootfs = l.unpack(image, tag);
            let out = sh(Command::new("chroot")
                .arg(&rootfs)
                .args(["/nodejs/bin/node", "--version"]));
            assert_eq!(out, format!("v{version}\n"), "{image}:{tag}");
            assert_eq!(
                walk(&rootfs.join("nodejs")),
                BTreeSet::from(["LICENSE", "bin", "bin/node"].map(String::from))
            );
        }
        let rootfs = l.unpack(image, "latest-amd64");
        std::fs::write(
            rootfs.join("check.js"),
            "const n = require('tls').rootCertificates.length;\n\
             if (n < 50) throw new Error('only ' + n + ' root certificates');\n\
             const h = require('crypto').createHash('sha256').update('distill').digest('hex');\n\
             const d = new Intl.DateTimeFormat('de-DE', { timeZone: 'UTC' }).format(new Date(0));\n\
             console.log(h, d);\n",
        )
        .unwrap();
        let out = sh(Command::new("chroot")
            .arg(&rootfs)
            .args(["/nodejs/bin/node", "/check.js"]));
        assert_eq!(
            out, "8fc7c369e975ce040f8e211015c641b6e4087e1bdc93f87df00476b4e35403a9 1.1.1970\n",
            "{image}"
        );
    }

    java_images_run(&l);

    // Trees: exactly the packages' files (dpkg-deb's listing, merged /usr
    // applied on debian13), their dpkg metadata and the generated files.
    for (image, merged) in [("cc-debian12", false), ("python3-debian13", true)] {
        // nonroot: the same layers as latest, unpacked fresh (the program
        // copied in above is not part of the image).
        let rootfs = l.unpack(image, "nonroot-amd64");
        let distro = image.rsplit('-').next().unwrap();
        let lock: toml::Table =
            std::fs::read_to_string(l.path().join(format!("snapshots/{distro}.lock")))
                .unwrap()
                .parse()
                .unwrap();
        let image_name = image.rsplit_once('-').unwrap().0;
        let names: Vec<&str> = lock["images"][image_name]["amd64"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut want: BTreeSet<String> = BTreeSet::new();
        for name in &names {
            let pkg = lock["packages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| {
                    p["name"].as_str() == Some(name)
                        && matches!(p["architecture"].as_str(), Some("amd64" | "all"))
                })
                .unwrap();
            let sha = pkg["sha256"].as_str().unwrap();
            let deb = l.path().join("cache/sha256").join(&sha[..2]).join(sha);
            for line in sh(Command::new("dpkg-deb").arg("-c").arg(&deb)).lines() {
                // perms owner size date time path [-> target]
                let path = line.split_whitespace().nth(5).unwrap();
                let path = path.trim_start_matches("./").trim_end_matches('/');
                if path.is_empty() {
                    continue;
                }
                let top = path.split('/').next().unwrap();
                let is_merged_top =
                    ["bin", "sbin", "lib", "lib32", "lib64", "libx32"].contains(&top);
                let path = match (merged, is_merged_top, path == top) {
                    (true, true, true) if line.starts_with('d') => continue,
                    (true, true, false) => format!("usr/{path}"),
                    _ => path.to_owned(),
                };
                want.insert(path);
            }
            want.insert(format!("var/lib/dpkg/status.d/{name}"));
            want.insert(format!("var/lib/dpkg/status.d/{name}.md5sums"));
        }
        for generated in [
            "etc/group",
            "etc/nsswitch.conf",
            "etc/passwd",
            "etc/ssl",
            "etc/ssl/certs",
            "etc/ssl/certs/ca-certificates.crt",
            "home",
            "home/nonroot",
            "root",
            "tmp",
            "usr/lib/os-release",
            "usr/share/doc/ca-certificates",
            "usr/share/doc/ca-certificates/copyright",
            "var/lib/dpkg",
            "var/lib/dpkg/status.d",
            "var/lib/dpkg/status.d/ca-certificates",
        ] {
            want.insert(generated.to_owned());
        }
        if image.starts_with("python3") {
            want.extend(["etc/ld.so.cache", "usr/bin/python", "usr/bin/python3"].map(String::from));
        }
        let have = walk(&rootfs);
        let missing: Vec<&String> = want.difference(&have).collect();
        let extra: Vec<&String> = have.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{image}: missing {missing:?}, extra {extra:?}"
        );
    }
}

/// The image's environment, from umoci's runtime config.
fn image_env(rootfs: &Path) -> BTreeMap<String, String> {
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(rootfs.parent().unwrap().join("config.json")).unwrap(),
    )
    .unwrap();
    env_map(&config["process"]["env"])
}

/// Compiles C `code` with the host's gcc into the rootfs and runs it there.
fn run_c(l: &Live, rootfs: &Path, name: &str, code: &str) -> String {
    let src = l.path().join(format!("{name}.c"));
    std::fs::write(&src, code).unwrap();
    sh(Command::new("gcc")
        .arg(&src)
        .arg("-o")
        .arg(rootfs.join(name))
        .arg("-ldl"));
    sh(Command::new("chroot").arg(rootfs).arg(format!("/{name}")))
}

/// /proc mounted in a rootfs while it lives: the JVM finds its libjli
/// through `$ORIGIN`, which the dynamic loader reads from /proc/self/exe,
/// as it can in any container.
struct Proc(PathBuf);

impl Proc {
    fn mount(rootfs: &Path) -> Proc {
        let dir = rootfs.join("proc");
        std::fs::create_dir_all(&dir).unwrap();
        sh(Command::new("mount").args(["-t", "proc", "proc"]).arg(&dir));
        Proc(dir)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `cmd` in `rootfs` with exactly the image's environment.
fn in_image(rootfs: &Path, cmd: &[&str]) -> String {
    let mut c = Command::new("/usr/sbin/chroot");
    c.env_clear().envs(image_env(rootfs)).arg(rootfs).args(cmd);
    sh(&mut c)
}

const HELLO_JAVA: &str = r#"
import java.security.KeyStore;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class HelloJava {
    public static void main(String[] args) throws Exception {
        TrustManagerFactory f =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        f.init((KeyStore) null);
        int n = 0;
        for (TrustManager t : f.getTrustManagers()) {
            if (t instanceof X509TrustManager) {
                n += ((X509TrustManager) t).getAcceptedIssuers().length;
            }
        }
        System.out.println("hello " + n + " " + System.getProperty("file.encoding")
            + " " + System.getProperty("java.version"));
    }
}
"#;

/// The java images: a jar compiled by the debug image's own javac runs
/// with `/usr/bin/java -jar` on java17-debian12 and java21-debian13, trusts
/// the CA bundle's certificates through the generated keystore, and reads
/// UTF-8 from the C.UTF-8 locale; keytool lists one entry per certificate;
/// javac, a shell and busybox only where distroless has them.
fn java_images_run(l: &Live) {
    // Compile with the JDK of java17's debug tag.
    let jdk = l.unpack("java17-debian12", "debug-amd64");
    let src = jdk.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("HelloJava.java"), HELLO_JAVA).unwrap();
    std::fs::write(src.join("manifest.txt"), "Main-Class: HelloJava\n").unwrap();
    {
        let _proc = Proc::mount(&jdk);
        let bin = "/usr/lib/jvm/java-17-openjdk-amd64/bin";
        in_image(
            &jdk,
            &[&format!("{bin}/javac"), "-d", "/src", "/src/HelloJava.java"],
        );
        in_image(
            &jdk,
            &[
                &format!("{bin}/jar"),
                "cfm",
                "/src/hello.jar",
                "/src/manifest.txt",
                "-C",
                "/src",
                "HelloJava.class",
            ],
        );
        // keytool reads the generated store: one entry per certificate of
        // the image's CA bundle.
        let listed = in_image(
            &jdk,
            &[
                &format!("{bin}/keytool"),
                "-list",
                "-keystore",
                "/etc/ssl/certs/java/cacerts",
                "-storepass",
                "changeit",
            ],
        );
        let bundle =
            std::fs::read_to_string(jdk.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
        let certs = bundle.matches("-----BEGIN CERTIFICATE-----").count();
        assert!(certs >= 100, "{certs} certificates in the bundle");
        assert!(
            listed.contains(&format!("Your keystore contains {certs} entries")),
            "{listed}"
        );
    }
    let jar = std::fs::read(src.join("hello.jar")).unwrap();
    for image in ["java17-debian12", "java21-debian13"] {
        let rootfs = l.unpack(image, "latest-amd64");
        std::fs::write(rootfs.join("hello.jar"), &jar).unwrap();
        let env = image_env(&rootfs);
        assert_eq!(env["LANG"], "C.UTF-8");
        // /usr/bin/java is the JRE's alternative (packages.toml writes
        // no link of its own), as on Debian.
        let (out, version) = {
            let _proc = Proc::mount(&rootfs);
            let version = Command::new("/usr/sbin/chroot")
                .env_clear()
                .envs(image_env(&rootfs))
                .arg(&rootfs)
                .args(["/usr/bin/java", "-version"])
                .output()
                .unwrap();
            let out = in_image(&rootfs, &["/usr/bin/java", "-jar", "/hello.jar"]);
            (out, version)
        };
        assert!(version.status.success(), "{image}: java -version");
        assert!(
            String::from_utf8_lossy(&version.stderr).contains("OpenJDK"),
            "{image}: {}",
            String::from_utf8_lossy(&version.stderr)
        );
        let java = std::fs::read_link(rootfs.join("usr/bin/java")).unwrap();
        assert!(java.starts_with("/usr/lib/jvm/"), "{image}: {java:?}");
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words[0], "hello", "{image}: {out}");
        let trusted: usize = words[1].parse().unwrap();
        assert!(trusted >= 100, "{image}: {out}");
        assert_eq!(words[2], "UTF-8", "{image}: {out}");
        assert!(
            words[3].starts_with(&env["JAVA_VERSION"]),
            "{image}: {out} vs {env:?}"
        );
        let jvm = rootfs.join("usr/lib/jvm");
        let javac = std::fs::read_dir(&jvm)
            .unwrap()
            .any(|d| d.unwrap().path().join("bin/javac").exists());
        assert!(!javac, "{image}: javac outside debug");
        for absent in ["bin/sh", "usr/bin/sh", "busybox"] {
            assert!(!rootfs.join(absent).exists(), "{image}: /{absent}");
        }
        assert!(rootfs.join("etc/ssl/certs/java/cacerts").is_file());
    }
    // java-base: the store and the locale, no JVM, no shell; on debian13
    // harfbuzz (with glib and libatomic) loads.
    for image in ["java-base-debian12", "java-base-debian13"] {
        let rootfs = l.unpack(image, "latest-amd64");
        assert!(!rootfs.join("usr/lib/jvm").exists(), "{image}");
        assert!(!rootfs.join("busybox").exists(), "{image}");
        assert!(
            rootfs.join("usr/lib/locale/C.utf8/LC_CTYPE").is_file(),
            "{image}"
        );
        assert!(
            rootfs.join("etc/ssl/certs/java/cacerts").is_file(),
            "{image}"
        );
    }
    let rootfs = l.unpack("java-base-debian13", "latest-amd64");
    let out = run_c(
        l,
        &rootfs,
        "hb",
        "#include <dlfcn.h>\n#include <stdio.h>\nint main(){void*h=dlopen(\"libharfbuzz.so.0\",RTLD_NOW);if(!h){puts(dlerror());return 1;}puts(\"harfbuzz ok\");return 0;}\n",
    );
    assert_eq!(out, "harfbuzz ok\n");
}

/// Every path under `root` (not following symlinks), relative.
fn walk(root: &Path) -> BTreeSet<String> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(root).unwrap().display().to_string());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                go(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    go(root, root, &mut out);
    out
}

/// qemu-user's name for a Debian architecture.
fn qemu_for(arch: &str) -> String {
    let q = match arch {
        "arm64" => "aarch64",
        "armhf" => "arm",
        "ppc64el" => "ppc64le",
        other => other,
    };
    format!("qemu-{q}-static")
}

/// The images of every architecture other than amd64 run, each under its
/// qemu-user emulator (no binfmt registration: the emulator is called on
/// the image's own binaries): busybox of a debug tag everywhere, and a
/// dynamically linked python3 with the image's own ld.so and libraries
/// where python3 is built. A few images per architecture, not all, to
/// keep CI's time: the layers are the same code path for every image.
/// A user's own image, as the README shows one: base plus mawk, whose
/// command name `awk` only its postinst's alternative creates. The image
/// runs `awk` by that name, and `distill scripts` says the alternative
/// was applied.
#[test]
fn a_users_image_runs_its_tool_by_its_alternative_name() {
    if !live() || !tools_present() {
        return;
    }
    let l = Live::new();
    let mut toml = std::fs::read_to_string(l.path().join("packages.toml")).unwrap();
    toml.push_str(
        "\n[images.awk]\nextends = \"base\"\ndistros = [\"debian13\"]\narchitectures = [\"amd64\"]\npackages = [\"mawk\"]\n",
    );
    std::fs::write(l.path().join("packages.toml"), toml).unwrap();
    l.distill(&["lock", "--distro", "debian13", "--arch", "amd64"]);
    let built = l.distill(&["build", "--image", "awk", "--distro", "debian13"]);
    assert_eq!(built.stdout.lines().count(), 4, "{}", built.stdout);
    let rootfs = l.unpack("awk-debian13", "latest-amd64");
    let out = {
        let _proc = Proc::mount(&rootfs);
        in_image(&rootfs, &["awk", "BEGIN { print 6 * 7 }"])
    };
    assert_eq!(out, "42\n");
    let link = std::fs::read_link(rootfs.join("usr/bin/awk")).unwrap();
    assert_eq!(link, Path::new("/usr/bin/mawk"));
    let scripts = l.distill(&[
        "scripts", "--image", "awk", "--distro", "debian13", "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&scripts.stdout).unwrap();
    let mawk = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mawk")
        .expect("mawk listed");
    let awk = mawk["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "alternative")
        .expect("mawk's alternative");
    assert_eq!(awk["status"], "applied", "{awk}");
    assert!(
        awk["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l[0] == "/usr/bin/awk" && l[1] == "/usr/bin/mawk"),
        "{awk}"
    );
}

#[test]
fn foreign_architecture_images_run_under_qemu() {
    if !live() || !tools_present() {
        return;
    }
    let have = |t: &str| Command::new(t).arg("--version").output().is_ok();
    let foreign: [(&str, &[&str]); 2] = [
        ("debian12", &["arm64", "armhf", "s390x", "ppc64el"]),
        ("debian13", &["arm64", "armhf", "riscv64"]),
    ];
    let emulators: Vec<String> = foreign
        .iter()
        .flat_map(|(_, archs)| archs.iter().map(|a| qemu_for(a)))
        .collect();
    if !emulators.iter().all(|q| have(q)) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have qemu-user-static ({emulators:?})"
        );
        eprintln!("skipped: qemu-user-static missing");
        return;
    }
    let l = Live::new();
    for (distro, archs) in foreign {
        let mut args = vec!["lock", "--distro", distro];
        for a in archs {
            args.extend(["--arch", a]);
        }
        l.distill(&args);
        let mut build = vec!["build", "--distro", distro, "--image", "base"];
        if distro == "debian13" {
            build.extend(["--image", "python3"]);
        }
        for a in archs {
            build.extend(["--arch", a]);
        }
        l.distill(&build);
        for arch in archs {
            let qemu = qemu_for(arch);
            // Single-platform tags name the OCI architecture (arm, ppc64le).
            let oci = match *arch {
                "armhf" => "arm",
                "ppc64el" => "ppc64le",
                other => other,
            };
            let rootfs = l.unpack(&format!("base-{distro}"), &format!("debug-{oci}"));
            let busybox = rootfs.join("busybox/busybox");
            let out = sh(Command::new(&qemu).arg(&busybox).args([
                "sh",
                "-c",
                "x=$((6 * 7)); echo shell $x",
            ]));
            assert_eq!(out, "shell 42\n", "{distro} {arch} busybox sh");
            // The emulated machine is the image's: the binary is foreign.
            let machine = sh(Command::new(&qemu).arg(&busybox).args(["uname", "-m"]));
            let expected = match *arch {
                "arm64" => "aarch64",
                "armhf" => "armv7l",
                "ppc64el" => "ppc64le",
                other => other,
            };
            assert_eq!(machine.trim(), expected, "{distro} {arch}");
            // The image's os-release is the distro's.
            let release = std::fs::read_to_string(rootfs.join("usr/lib/os-release")).unwrap();
            let version = if distro == "debian12" { "12" } else { "13" };
            assert!(
                release.contains(&format!("VERSION_ID=\"{version}\"")),
                "{release}"
            );
            // python3 is built for amd64, arm64 and riscv64.
            if distro == "debian13" && *arch != "armhf" {
                let py = l.unpack(&format!("python3-{distro}"), &format!("latest-{oci}"));
                let out = sh(Command::new(&qemu)
                    .arg("-L")
                    .arg(&py)
                    .arg(py.join("usr/bin/python3.13"))
                    .args([
                        "-c",
                        "import platform, ssl, sqlite3, zlib; print(platform.machine(), ssl.OPENSSL_VERSION.split()[0], 6 * 7)",
                    ])
                    .env("PYTHONHOME", py.join("usr")));
                assert!(out.ends_with("OpenSSL 42\n"), "{arch} python3: {out}");
            }
        }
    }
}
