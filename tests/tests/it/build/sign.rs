//! Signed images: `push --sign-key` writes what cosign writes, so real
//! cosign (Debian 13's, unpacked by `.ci/run`) verifies distill's
//! signatures and attestations, and distill signs with a key cosign made;
//! `verify --key` refuses, one check a line, every way a signature can
//! fail to vouch for the served image (against the kit's hostile
//! registry, which serves exactly the documents each case needs).

use std::path::Path;
use std::process::Command;

use distill_image::LayoutReader;
use distill_sign::SecretKey;
use distill_sign::cosign::{self, Layer};
use distill_tests::hostile::{Blob, Hostile, REPO};
use distill_tests::registry::{Registry, available};
use distill_tests::sigstore::{ISSUER, Sigstore, token};
use distill_tests::{Run, Setup, Workspace, cosign, sha256_hex, succeeds};

use crate::build::common::*;

const PASSWORD: &str = "correct horse";

fn with_password(ws: &Workspace, args: &[&str]) -> Run {
    ws.command(args)
        .env("COSIGN_PASSWORD", PASSWORD)
        .output()
        .expect("run distill")
        .into()
}

/// `cosign ARGS` in the workspace; (success, stdout + stderr).
fn run_cosign(bin: &Path, ws: &Workspace, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(ws.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", ws.path())
        .output()
        .expect("run cosign");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Whom cosign trusts: a key (with no log), or a keyless identity
/// certified by the kit's sigstore doubles.
#[derive(Clone, Copy)]
enum Trust<'a> {
    Key(&'a str),
    Identity(&'a str, &'a Sigstore),
}

/// `cosign COMMAND --allow-http-registry <trust> ARGS` in the workspace.
fn cosign_with(
    bin: &Path,
    ws: &Workspace,
    command: &str,
    trust: Trust,
    args: &[&str],
) -> std::process::Output {
    let mut c = Command::new(bin);
    c.args([command, "--allow-http-registry"])
        .current_dir(ws.path())
        .env("HOME", ws.path());
    match trust {
        Trust::Key(key) => c.args(["--key", key, "--insecure-ignore-tlog=true"]),
        Trust::Identity(email, fake) => c
            .envs(fake.env())
            .args(["--certificate-identity", email])
            .args(["--certificate-oidc-issuer", ISSUER]),
    };
    c.args(args).output().expect("run cosign")
}

fn cosign_verifies(bin: &Path, ws: &Workspace, trust: Trust, reference: &str) {
    let out = cosign_with(bin, ws, "verify", trust, &[reference]);
    assert!(
        out.status.success(),
        "cosign verify {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The predicate of the one attestation of `kind` cosign verifies on
/// `reference`.
fn cosign_attestation(
    bin: &Path,
    ws: &Workspace,
    trust: Trust,
    kind: &str,
    reference: &str,
) -> serde_json::Value {
    let out = cosign_with(
        bin,
        ws,
        "verify-attestation",
        trust,
        &["--type", kind, reference],
    );
    assert!(
        out.status.success(),
        "cosign verify-attestation --type {kind} {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let envelope: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    use base64::Engine;
    let statement = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&statement).unwrap();
    statement["predicate"].clone()
}

/// Both attestations of platform manifest `reference` verify with cosign,
/// and the provenance names the lock and every .deb of the image (those
/// the SBOM lists) by sha256.
fn attestations_name_the_lock(bin: &Path, s: &Setup, trust: Trust, reference: &str) {
    let sbom = cosign_attestation(bin, &s.ws, trust, "spdxjson", reference);
    let provenance = cosign_attestation(bin, &s.ws, trust, "slsaprovenance1", reference);
    let lock = std::fs::read(s.ws.path().join("snapshots/test.lock")).unwrap();
    let deps = provenance["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert_eq!(deps[0]["uri"], "snapshots/test.lock");
    assert_eq!(deps[0]["digest"]["sha256"], sha256_hex(&lock));
    let sbom_shas: Vec<&str> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["checksums"][0]["checksumValue"].as_str().unwrap())
        .collect();
    let dep_shas: Vec<&str> = deps[1..]
        .iter()
        .map(|d| d["digest"]["sha256"].as_str().unwrap())
        .collect();
    assert!(!sbom_shas.is_empty());
    assert_eq!(dep_shas.len(), sbom_shas.len(), "{deps:?}");
    let lock_text = String::from_utf8_lossy(&lock);
    for sha in &dep_shas {
        assert!(sbom_shas.contains(sha) && lock_text.contains(sha), "{sha}");
    }
    assert_eq!(
        provenance["buildDefinition"]["externalParameters"]["image"],
        "static"
    );
}

fn pushed_tags(run: &Run) -> Vec<(String, String)> {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    doc["tags"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, d)| (t.clone(), d.as_str().unwrap().to_owned()))
        .collect()
}

/// For the tests against real cosign and a real registry: cosign, the
/// registry, and a built workspace with a key pair made by `distill key
/// generate KEY`; `None` where cosign or the registry is not installed.
fn with_cosign(key: &str) -> Option<(std::path::PathBuf, &'static Registry, Setup)> {
    let bin = cosign()?;
    if !available() {
        return None;
    }
    let s = setup(&[], "");
    assert_eq!(build(&s.ws, "out").code, 0);
    let made = with_password(&s.ws, &["key", "generate", key]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    Some((bin, Registry::shared(), s))
}

#[test]
fn a_signed_push_is_verified_by_cosign_and_by_distill() {
    let Some((bin, registry, s)) = with_cosign("distill") else {
        return;
    };
    let target = format!("{}/signed", registry.addr);
    let push = |extra: &[&str]| {
        let mut args = vec![
            "push", &target, "--out", "out", "--json", "--image", "static",
        ];
        args.extend(extra);
        with_password(&s.ws, &args)
    };
    let run = push(&["--sign-key", "distill.key"]);
    let tags = pushed_tags(&run);
    // Every tag (indexes and `<tag>-<arch>` platform manifests), by digest.
    for (tag, digest) in &tags {
        let repo = tag.rsplit_once(':').unwrap().0;
        cosign_verifies(
            &bin,
            &s.ws,
            Trust::Key("distill.pub"),
            &format!("{repo}@{digest}"),
        );
    }
    // Both attestations on a platform manifest; the provenance names the
    // lock and every .deb of the image by sha256.
    let (platform, _) = tags
        .iter()
        .find(|(t, _)| t.ends_with(":latest-arm64"))
        .unwrap();
    attestations_name_the_lock(&bin, &s, Trust::Key("distill.pub"), platform);

    // distill agrees, and a second push adds no signature.
    let reference = format!("{target}/static-test:latest");
    let verify = s.ws.run(&[
        "verify",
        &reference,
        "--image",
        "static",
        "--distro",
        "test",
        "--key",
        "distill.pub",
    ]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(
        verify
            .stdout
            .contains("signed with the key, provenance names this lock"),
        "{}",
        verify.stdout
    );
    let again = push(&["--sign-key", "distill.key"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let doc: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(doc["signed"], 0, "no duplicate signature");

    // The other way round: a key cosign made signs a distill push.
    let (ok, text) = run_cosign(
        &bin,
        &s.ws,
        &["generate-key-pair", "--output-key-prefix", "made-by-cosign"],
    );
    assert!(ok, "{text}");
    let other = format!("{}/cosign-key", registry.addr);
    let run = with_password(
        &s.ws,
        &[
            "push",
            &other,
            "--out",
            "out",
            "--json",
            "--image",
            "static",
            "--tag",
            "latest",
            "--sign-key",
            "made-by-cosign.key",
        ],
    );
    let tags = pushed_tags(&run);
    for (tag, _) in &tags {
        cosign_verifies(&bin, &s.ws, Trust::Key("made-by-cosign.pub"), tag);
    }
    let verify = s.ws.run(&[
        "verify",
        &format!("{other}/static-test:latest"),
        "--image",
        "static",
        "--distro",
        "test",
        "--key",
        "made-by-cosign.pub",
    ]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    // A wrong password is one clear line.
    let wrong =
        s.ws.command(&[
            "push",
            &other,
            "--out",
            "out",
            "--sign-key",
            "made-by-cosign.key",
        ])
        .env("COSIGN_PASSWORD", "wrong")
        .output()
        .unwrap();
    let wrong: Run = wrong.into();
    wrong.assert_error(
        "cannot read the signing key made-by-cosign.key: the key's password is wrong",
    );
}

/// The README's containers policy and registries.d snippet, as written
/// there (the `json` and `yaml` blocks after **Policies.**), for `scope`
/// and the public key `key`: (policy.json, registries.d/distroless.yaml).
fn readme_policy(scope: &str, key: &Path) -> (String, String) {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let policies = &readme[readme
        .find("**Policies.**")
        .expect("README names its policy")..];
    let block = |lang: &str| {
        let start = policies.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
        let end = start + policies[start..].find("```").unwrap();
        policies[start..end]
            .replace("ghcr.io/me/distroless", scope)
            .replace("/etc/containers/cosign.pub", &key.display().to_string())
    };
    (block("json"), block("yaml"))
}

/// The README's policy works: Debian 13's skopeo, with sigstore
/// attachments on, admits each platform of a signed push and refuses it
/// under another key, and refuses an unsigned image.
#[test]
fn the_readme_policy_admits_a_signed_push_in_skopeo() {
    if distill_tests::sigstore_skopeo().is_none() {
        return;
    }
    let Some((_, registry, s)) = with_cosign("distill") else {
        return;
    };
    let scope = format!("{}/policy", registry.addr);
    let push = |repo: &str, extra: &[&str]| {
        let mut args = vec![
            "push", repo, "--out", "out", "--json", "--image", "static", "--tag", "latest",
        ];
        args.extend(extra);
        pushed_tags(&with_password(&s.ws, &args))
    };
    push(&scope, &["--sign-key", "distill.key"]);
    push(&format!("{}/unsigned", registry.addr), &[]);
    let made = with_password(&s.ws, &["key", "generate", "other"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let copy = |key: &str, repo: &str, arch: &str| {
        let dir = tempfile::tempdir().unwrap();
        let (policy, registries) = readme_policy(repo, &s.ws.path().join(key));
        std::fs::write(dir.path().join("policy.json"), policy).unwrap();
        std::fs::create_dir(dir.path().join("registries.d")).unwrap();
        std::fs::write(dir.path().join("registries.d/distroless.yaml"), registries).unwrap();
        let out = distill_tests::sigstore_skopeo()
            .unwrap()
            .args([
                "--policy",
                &dir.path().join("policy.json").display().to_string(),
            ])
            .args([
                "--registries.d",
                &dir.path().join("registries.d").display().to_string(),
            ])
            .args([
                "--override-arch",
                arch,
                "copy",
                "--src-tls-verify=false",
                "--remove-signatures",
            ])
            .arg(format!("docker://{repo}/static-test:latest"))
            .arg(format!("oci:{}:copy", dir.path().join("copy").display()))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for arch in ["amd64", "arm64"] {
        let (ok, err) = copy("distill.pub", &scope, arch);
        assert!(ok, "{arch}: {err}");
    }
    let (ok, err) = copy("other.pub", &scope, "amd64");
    assert!(
        !ok && err.contains("Source image rejected: cryptographic signature verification failed"),
        "another key: {err}"
    );
    let unsigned = format!("{}/unsigned", registry.addr);
    let (ok, err) = copy("distill.pub", &unsigned, "amd64");
    assert!(
        !ok && err.contains("Source image rejected: A signature was required"),
        "unsigned: {err}"
    );
}

/// Puts the image of `layers` under `tag` of the hostile registry, as
/// cosign would have (blobs, config, manifest).
fn put_attached(h: &Hostile, tag: &str, layers: &[Layer]) {
    let mut doc = None;
    let mut last = None;
    for l in layers {
        h.put_blob(
            REPO,
            &Blob {
                media_type: l.descriptor.media_type.clone(),
                bytes: l.bytes.clone(),
            },
        );
        let a = cosign::attach(doc.as_ref(), &l.descriptor).unwrap();
        doc = Some(serde_json::from_slice(&a.manifest).unwrap());
        last = Some(a);
    }
    let a = last.unwrap();
    h.put_blob(
        REPO,
        &Blob {
            media_type: distill_image::CONFIG.into(),
            bytes: a.config,
        },
    );
    h.put_tag(
        REPO,
        tag,
        &Blob {
            media_type: distill_image::MANIFEST.into(),
            bytes: a.manifest,
        },
    );
}

fn provenance(lock_sha: &str) -> serde_json::Value {
    serde_json::json!({"buildDefinition": {"externalParameters": {
        "lock": {"uri": "snapshots/test.lock", "digest": {"sha256": lock_sha}}}}})
}

/// Signs and attests each of `digests` as `identity` with `key`.
fn sign_all(h: &Hostile, key: &SecretKey, identity: &str, digests: &[String], lock_sha: &str) {
    for d in digests {
        put_attached(
            h,
            &cosign::signature_tag(d),
            &[cosign::signature_layer(key, identity, d)],
        );
        let att = cosign::attestation_layer(
            key,
            identity,
            d,
            "https://slsa.dev/provenance/v1",
            &provenance(lock_sha),
        );
        put_attached(h, &cosign::attestation_tag(d), &[att]);
    }
}

/// The digests of `tag` in the layout: the index first, then its platforms.
fn digests(layout: &Path, tag: &str) -> Vec<String> {
    let reader = LayoutReader::open(layout).unwrap();
    let (_, top) = reader.tags().find(|(t, _)| *t == tag).unwrap();
    let mut out = vec![top.digest.clone()];
    out.extend(reader.images(top).unwrap().into_iter().map(|d| d.digest));
    out
}

struct Case {
    s: Setup,
    hostile: Hostile,
    reference: String,
    identity: String,
    key: SecretKey,
    lock_sha: String,
}

impl Case {
    fn new() -> Case {
        let s = setup(&[], "");
        assert_eq!(build(&s.ws, "out").code, 0);
        let key = SecretKey::generate();
        std::fs::write(s.ws.path().join("a.pub"), key.public().to_pem()).unwrap();
        std::fs::write(
            s.ws.path().join("b.pub"),
            SecretKey::generate().public().to_pem(),
        )
        .unwrap();
        let hostile = Hostile::empty();
        hostile.serve_layout(REPO, &s.ws.path().join("out/static-test"), "latest");
        let reference = hostile.reference();
        let identity = reference.strip_suffix(":latest").unwrap().to_owned();
        let lock_sha = sha256_hex(&std::fs::read(s.ws.path().join("snapshots/test.lock")).unwrap());
        Case {
            s,
            hostile,
            reference,
            identity,
            key,
            lock_sha,
        }
    }

    fn digests(&self) -> Vec<String> {
        digests(&self.s.ws.path().join("out/static-test"), "latest")
    }

    fn verify(&self, key: &str) -> Run {
        self.s.ws.run(&[
            "verify",
            &self.reference,
            "--image",
            "static",
            "--distro",
            "test",
            "--key",
            key,
        ])
    }

    /// `verify --key a.pub` exits 2, saying `needle` of each manifest.
    #[track_caller]
    fn refused(&self, key: &str, needle: &str) -> Run {
        let run = self.verify(key);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        for d in self.digests() {
            assert!(
                run.stdout
                    .lines()
                    .any(|l| l.contains(&d) && l.contains(needle)),
                "{d} {needle}: {}",
                run.stdout
            );
        }
        eprintln!("refused: {}", run.stdout.lines().nth(1).unwrap_or_default());
        run
    }
}

#[test]
fn verify_key_passes_a_signed_image_and_refuses_an_unsigned_one() {
    let c = Case::new();
    let run = c.refused("a.pub", "is not signed");
    assert!(
        run.stdout.contains("has no provenance by this key"),
        "{}",
        run.stdout
    );
    // Without --key: the image is what the lock builds, so 0.
    let plain = c.s.ws.run(&[
        "verify",
        &c.reference,
        "--image",
        "static",
        "--distro",
        "test",
    ]);
    assert_eq!(plain.code, 0, "{}", plain.stdout);
    sign_all(&c.hostile, &c.key, &c.identity, &c.digests(), &c.lock_sha);
    let ok = c.verify("a.pub");
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    // Another key.
    c.refused("b.pub", "has no signature by this key");
}

#[test]
fn a_signature_copied_from_another_repository_is_refused() {
    let c = Case::new();
    sign_all(
        &c.hostile,
        &c.key,
        "127.0.0.1:1/another/repo",
        &c.digests(),
        &c.lock_sha,
    );
    c.refused("a.pub", "is for 127.0.0.1:1/another/repo@");
}

#[test]
fn an_edited_payload_is_refused() {
    let c = Case::new();
    for d in c.digests() {
        let mut layer = cosign::signature_layer(&c.key, &c.identity, &d);
        // Another digest in the payload, the signature of the real one.
        let forged = String::from_utf8(layer.bytes.clone())
            .unwrap()
            .replace(&d, &format!("sha256:{}", "0".repeat(64)));
        layer.bytes = forged.into_bytes();
        let sig = layer.descriptor.annotations.clone();
        layer.descriptor = distill_image::Descriptor::of(cosign::SIMPLE_SIGNING, &layer.bytes);
        layer.descriptor.annotations = sig;
        put_attached(&c.hostile, &cosign::signature_tag(&d), &[layer]);
    }
    c.refused("a.pub", "has no signature by this key");
}

#[test]
fn a_provenance_naming_another_lock_is_refused() {
    let c = Case::new();
    sign_all(
        &c.hostile,
        &c.key,
        &c.identity,
        &c.digests(),
        &"1".repeat(64),
    );
    let run = c.refused("a.pub", "not this lock");
    assert!(
        !run.stdout.contains("signature:"),
        "the signatures hold: {}",
        run.stdout
    );
}

#[test]
fn a_tag_moved_to_another_image_keeps_no_signature() {
    let c = Case::new();
    sign_all(&c.hostile, &c.key, &c.identity, &c.digests(), &c.lock_sha);
    // `latest` now names the debug image; the old signatures stay under
    // the old digests.
    let debug = digests(&c.s.ws.path().join("out/static-test"), "debug");
    let moved = c.hostile.get(&Hostile::manifest_path(&debug[0]));
    c.hostile.put_tag(REPO, "latest", &moved);
    let run = c.verify("a.pub");
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout.contains("differs from the lock"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("signature: {} is not signed", debug[0])),
        "{}",
        run.stdout
    );
}

#[test]
fn append_signs_what_it_writes_to_a_registry() {
    let Some((bin, registry, s)) = with_cosign("k") else {
        return;
    };
    std::fs::create_dir_all(s.ws.path().join("app")).unwrap();
    std::fs::write(s.ws.path().join("app/hello"), b"hello\n").unwrap();
    let target = format!("{}/signed-append/app:v1", registry.addr);
    let run = with_password(
        &s.ws,
        &[
            "append",
            "oci:out/static-test:latest",
            "-t",
            &target,
            "--dir",
            "app",
            "--sign-key",
            "k.key",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    cosign_verifies(&bin, &s.ws, Trust::Key("k.pub"), &target);
    // Each platform's manifest by digest (what a runtime pulling one
    // platform checks).
    let raw = succeeds(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{target}")),
    );
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let platforms = index["manifests"].as_array().unwrap();
    assert_eq!(platforms.len(), ARCHS.len());
    let repo = target.rsplit_once(':').unwrap().0;
    for m in platforms {
        cosign_verifies(
            &bin,
            &s.ws,
            Trust::Key("k.pub"),
            &format!("{repo}@{}", m["digest"].as_str().unwrap()),
        );
    }
    with_password(
        &s.ws,
        &[
            "append",
            "oci:out/static-test:latest",
            "-t",
            "oci:app-layout:v1",
            "--dir",
            "app",
            "--sign-key",
            "k.key",
        ],
    )
    .assert_error("--sign-key signs in a registry");
}

#[test]
fn key_generate_needs_a_password_variable_and_never_overwrites() {
    let ws = Workspace::new("", None);
    let run: Run = ws
        .command(&["key", "generate", "k"])
        .env_remove("COSIGN_PASSWORD")
        .output()
        .unwrap()
        .into();
    run.assert_error("set COSIGN_PASSWORD");
    assert!(!ws.path().join("k.key").exists());
    let made = with_password(&ws, &["key", "generate", "k"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ws.path().join("k.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is the owner's alone");
    let key = std::fs::read(ws.path().join("k.key")).unwrap();
    with_password(&ws, &["key", "generate", "k"]).assert_error("k.key exists");
    assert_eq!(std::fs::read(ws.path().join("k.key")).unwrap(), key);
    // The key reads back with the password, and not without it.
    let secret = distill_sign::SecretKey::from_pem(&key, Some(PASSWORD.as_bytes())).unwrap();
    let public = std::fs::read(ws.path().join("k.pub")).unwrap();
    assert_eq!(
        secret.public(),
        distill_sign::PublicKey::from_pem(&public).unwrap()
    );
    let run: Run = ws
        .command(&[
            "append",
            "oci:base:latest",
            "-t",
            "127.0.0.1:1/x:v1",
            "--dir",
            ".",
            "--sign-key",
            "k.key",
        ])
        .env_remove("COSIGN_PASSWORD")
        .output()
        .unwrap()
        .into();
    run.assert_error(
        "cannot read the signing key k.key: the key is encrypted: set COSIGN_PASSWORD",
    );
}

/// The keyless doubles are what real cosign trusts: a signature whose
/// certificate the fake Fulcio issued (SCT from its CT log embedded) and
/// whose entry the fake Rekor logged verifies with `cosign verify
/// --certificate-identity` under the doubles' roots. (The image and its
/// `.sig` are placed with skopeo: this checks the doubles, not push.)
#[test]
fn cosign_trusts_the_keyless_doubles() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    let Some((bin, registry, s)) = with_cosign("unused") else {
        return;
    };
    let fake = Sigstore::new();
    let repo = format!("{}/keyless/static", registry.addr);
    let layout = s.ws.path().join("out/static-test");
    let digest = digests(&layout, "latest-amd64")[0].clone();
    let skopeo = |from: &str, to: &str| {
        succeeds(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--preserve-digests",
            from,
            to,
        ]));
    };
    skopeo(
        &format!("oci:{}:latest-amd64", layout.display()),
        &format!("docker://{repo}:v1"),
    );

    let key = SecretKey::generate();
    let email = "builder@example.test";
    let chain = fake.issue(&key.public().to_pem(), email);
    let payload = cosign::payload(&repo, &digest);
    let signature = B64.encode(key.sign(&payload));
    let entry = serde_json::json!({
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": sha256_hex(&payload)}},
            "signature": {"content": signature, "publicKey": {"content": B64.encode(&chain[0])}},
        },
    });
    let logged = fake.log(&entry);
    let (_, e) = logged.as_object().unwrap().iter().next().unwrap();
    let bundle = serde_json::json!({
        "SignedEntryTimestamp": e["verification"]["signedEntryTimestamp"],
        "Payload": {"body": e["body"], "integratedTime": e["integratedTime"],
                    "logIndex": e["logIndex"], "logID": e["logID"]},
    });
    let mut layer = distill_image::Descriptor::of(cosign::SIMPLE_SIGNING, &payload);
    for (k, v) in [
        (cosign::SIGNATURE, signature.clone()),
        ("dev.sigstore.cosign/certificate", chain[0].clone()),
        ("dev.sigstore.cosign/chain", chain[1].clone()),
        ("dev.sigstore.cosign/bundle", bundle.to_string()),
    ] {
        layer.annotations.insert(k.into(), v);
    }
    let attached = cosign::attach(None, &layer).unwrap();
    let sig_dir = s.ws.path().join("sig");
    let mut out = distill_image::Layout::create(&sig_dir).unwrap();
    out.put(cosign::SIMPLE_SIGNING, &payload).unwrap();
    out.put(distill_image::CONFIG, &attached.config).unwrap();
    let desc = out
        .put(distill_image::MANIFEST, &attached.manifest)
        .unwrap();
    let tag = cosign::signature_tag(&digest);
    out.tag(&tag, desc);
    out.commit().unwrap();
    skopeo(
        &format!("oci:{}:{tag}", sig_dir.display()),
        &format!("docker://{repo}:{tag}"),
    );

    let reference = format!("{repo}:v1");
    cosign_verifies(&bin, &s.ws, Trust::Identity(email, &fake), &reference);
    let other = Trust::Identity("someone@else.test", &fake);
    let out = cosign_with(&bin, &s.ws, "verify", other, &[&reference]);
    assert!(!out.status.success(), "another identity");
}

#[test]
fn a_keyless_push_is_verified_by_cosign() {
    let Some((bin, registry, s)) = with_cosign("unused") else {
        return;
    };
    let fake = std::sync::Arc::new(Sigstore::new());
    let url = fake.serve();
    let email = "ci@example.test";
    let target = format!("{}/keyless-push", registry.addr);
    let push = || -> Run {
        s.ws.command(&[
            "push",
            &target,
            "--out",
            "out",
            "--json",
            "--image",
            "static",
            "--keyless",
            "--fulcio-url",
            &url,
            "--rekor-url",
            &url,
        ])
        .env("SIGSTORE_ID_TOKEN", token(email))
        .output()
        .unwrap()
        .into()
    };
    let tags = pushed_tags(&push());
    let trust = Trust::Identity(email, &fake);
    for (tag, digest) in &tags {
        let repo = tag.rsplit_once(':').unwrap().0;
        cosign_verifies(&bin, &s.ws, trust, &format!("{repo}@{digest}"));
    }
    // Attestations are keyless too: each a dsse entry in the log, its
    // bundle on the `.att` layer.
    let (platform, _) = tags
        .iter()
        .find(|(t, _)| t.ends_with(":latest-arm64"))
        .unwrap();
    attestations_name_the_lock(&bin, &s, trust, platform);
    let logged = fake.entries.lock().unwrap().clone();
    let kinds = |kind: &str| logged.iter().filter(|e| e["kind"] == kind).count();
    let digests: std::collections::BTreeSet<&String> = tags.iter().map(|(_, d)| d).collect();
    assert_eq!(
        kinds("hashedrekord"),
        digests.len(),
        "one signature a digest"
    );
    assert!(
        kinds("dsse") > digests.len(),
        "a provenance a digest, and SBOMs"
    );
    let logged = logged.len();
    // A second push signs nothing again and logs nothing.
    let again = push();
    assert_eq!(again.code, 0, "{}", again.stderr);
    let doc: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(doc["signed"], 0);
    assert_eq!(fake.entries.lock().unwrap().len(), logged);
    // Without a token: one line, before anything is pushed.
    let run: Run =
        s.ws.command(&["push", &target, "--out", "out", "--keyless"])
            .env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .output()
            .unwrap()
            .into();
    run.assert_error("cannot sign keyless: set SIGSTORE_ID_TOKEN");
}
