//! Fake upstream release feeds on the loopback server: Node-like release
//! tarballs (with the npm, npx, corepack and headers a real one carries,
//! so tests can check they are left out), an npm registry serving
//! `node-linux-<arch>` packages with sha512 integrity, and a Node
//! distribution site (`index.json`, `SHASUMS256.txt` with a detached
//! signature by a test key).

use std::collections::BTreeMap;
use std::io::Write;

use sha2::{Digest, Sha512};

use crate::{Server, TestKey, sha256_hex};

/// Node's name for a Debian architecture, as the kit publishes them.
pub fn node_arch(arch: &str) -> &'static str {
    match arch {
        "amd64" => "x64",
        "arm64" => "arm64",
        other => panic!("no fake Node build for {other}"),
    }
}

/// What `/nodejs/bin/node` contains in a fake release: a shell script
/// printing the version, so a chroot could even run it.
pub fn node_binary(version: &str, arch: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho v{version} # {arch}\n").into_bytes()
}

/// A gzip tarball laid out like Node's, under `top/`.
pub fn node_tarball(top: &str, version: &str, arch: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, body: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(1001);
        h.set_gid(1001);
        h.set_mtime(1_700_000_000);
        h.set_size(body.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).expect("link name");
        }
        tar.append_data(&mut h, format!("{top}/{path}"), body)
            .expect("tar entry");
    };
    let dir = tar::EntryType::Directory;
    let file = tar::EntryType::Regular;
    let sym = tar::EntryType::Symlink;
    add("", dir, 0o755, b"", None);
    add("bin", dir, 0o755, b"", None);
    add("bin/node", file, 0o755, &node_binary(version, arch), None);
    add(
        "bin/npm",
        sym,
        0o777,
        b"",
        Some("../lib/node_modules/npm/bin/npm-cli.js"),
    );
    add(
        "bin/npx",
        sym,
        0o777,
        b"",
        Some("../lib/node_modules/npm/bin/npx-cli.js"),
    );
    add(
        "bin/corepack",
        sym,
        0o777,
        b"",
        Some("../lib/node_modules/corepack/dist/corepack.js"),
    );
    add("include/node/node.h", file, 0o644, b"/* node.h */\n", None);
    add(
        "lib/node_modules/npm/bin/npm-cli.js",
        file,
        0o755,
        b"// npm\n",
        None,
    );
    add(
        "lib/node_modules/npm/bin/npx-cli.js",
        file,
        0o755,
        b"// npx\n",
        None,
    );
    add(
        "lib/node_modules/corepack/dist/corepack.js",
        file,
        0o755,
        b"// corepack\n",
        None,
    );
    add("share/doc/node/gdbinit", file, 0o644, b"# gdb\n", None);
    add(
        "LICENSE",
        file,
        0o644,
        b"Node.js is licensed for use as follows: MIT\n",
        None,
    );
    add("README.md", file, 0o644, b"# Node.js\n", None);
    let bytes = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// `sha512-<base64>`, as the npm registry gives it.
pub fn integrity(bytes: &[u8]) -> String {
    use base64::Engine;
    let digest = Sha512::digest(bytes);
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// A fake npm registry under `/npm`: for each architecture, the package
/// `node-linux-<node arch>` with every version given. Returns the
/// registry URL.
pub fn publish_npm(server: &Server, versions: &[&str], archs: &[&str]) -> String {
    let registry = format!("{}/npm", server.url());
    for arch in archs {
        let package = format!("node-linux-{}", node_arch(arch));
        let mut listed = serde_json::Map::new();
        for v in versions {
            let bytes = node_tarball("package", v, arch);
            let path = format!("/npm/{package}/-/{package}-{v}.tgz");
            listed.insert(
                (*v).to_owned(),
                serde_json::json!({
                    "name": package,
                    "version": v,
                    "dist": {
                        "tarball": format!("{}{path}", server.url()),
                        "integrity": integrity(&bytes),
                    },
                }),
            );
            server.put(&path, bytes);
        }
        let doc = serde_json::json!({"name": package, "versions": listed});
        server.put(
            &format!("/npm/{package}"),
            serde_json::to_vec(&doc).expect("json"),
        );
    }
    registry
}

/// A fake Node distribution site under `/dist`: `index.json` listing
/// `versions` built for `archs`, and per version the tarballs and
/// `SHASUMS256.txt` with its detached signature by `key`, made at `at`.
/// Returns the site's URL.
pub fn publish_node_dist(
    server: &Server,
    key: &TestKey,
    at: i64,
    versions: &[&str],
    archs: &[&str],
) -> String {
    let mut index = Vec::new();
    for v in versions {
        let mut sums = BTreeMap::new();
        for arch in archs {
            let name = format!("node-v{v}-linux-{}", node_arch(arch));
            let bytes = node_tarball(&name, v, arch);
            sums.insert(format!("{name}.tar.gz"), sha256_hex(&bytes));
            server.put(&format!("/dist/v{v}/{name}.tar.gz"), bytes);
        }
        let text: String = sums
            .iter()
            .map(|(name, sha)| format!("{sha}  {name}\n"))
            .collect();
        server.put(
            &format!("/dist/v{v}/SHASUMS256.txt.sig"),
            key.detach_sign(text.as_bytes(), at),
        );
        server.put(&format!("/dist/v{v}/SHASUMS256.txt"), text.into_bytes());
        let files: Vec<String> = archs
            .iter()
            .map(|a| format!("linux-{}", node_arch(a)))
            .collect();
        index.push(serde_json::json!({"version": format!("v{v}"), "files": files, "lts": false}));
    }
    server.put(
        "/dist/index.json",
        serde_json::to_vec(&index).expect("json"),
    );
    format!("{}/dist", server.url())
}
