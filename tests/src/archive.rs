//! Fake Debian suites: Packages, Packages.xz, by-hash copies, a Release
//! listing their true sizes and SHA-256, and InRelease / Release.gpg made
//! with a [`TestKey`].

use std::collections::BTreeMap;
use std::io::Write;

use distill_debian::time::format_release_date;
use sha2::{Digest, Sha256};

use crate::TestKey;

/// One suite of a fake archive.
#[derive(Clone)]
pub struct Suite {
    pub name: String,
    pub codename: String,
    pub date: i64,
    pub valid_until: Option<i64>,
    pub architectures: Vec<String>,
    /// The Release's `Components` value (`main`, or `updates/main` as
    /// debian-security writes it); files always live under `main/`.
    pub components_field: String,
    pub by_hash: bool,
    /// Arch → Packages text for component main.
    pub packages: BTreeMap<String, String>,
}

/// A minimal but complete binary stanza.
pub fn stanza(name: &str, version: &str, arch: &str, extra: &str) -> String {
    let sha = hex::encode(Sha256::digest(
        format!("{name}_{version}_{arch}").as_bytes(),
    ));
    let mut s = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Test <t@test.invalid>\nInstalled-Size: 10\n"
    );
    s += extra;
    if !extra.is_empty() && !extra.ends_with('\n') {
        s.push('\n');
    }
    s += &format!(
        "Filename: pool/main/{}/{name}/{name}_{version}_{arch}.deb\nSize: 1234\nSHA256: {sha}\nDescription: test package {name}\n",
        &name[..1]
    );
    s
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(bytes).expect("xz");
    enc.finish().expect("xz")
}

impl Suite {
    pub fn new(name: &str, date: i64) -> Suite {
        Suite {
            name: name.to_owned(),
            codename: name.to_owned(),
            date,
            valid_until: None,
            architectures: vec!["amd64".into(), "arm64".into()],
            components_field: "main".into(),
            by_hash: true,
            packages: BTreeMap::new(),
        }
    }

    /// Adds a stanza to `arch`'s Packages (an `all` package goes into every
    /// architecture's index, as in the real archive).
    pub fn with(mut self, arch: &str, stanza: &str) -> Suite {
        let archs: Vec<String> = if arch == "all" {
            self.architectures.clone()
        } else {
            vec![arch.to_owned()]
        };
        for a in archs {
            let text = self.packages.entry(a).or_default();
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(stanza);
        }
        self
    }

    /// The index files, by path relative to `dists/<suite>/`.
    pub fn index_files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        for arch in &self.architectures {
            let text = self.packages.get(arch).cloned().unwrap_or_default();
            let dir = format!("main/binary-{arch}");
            let plain = text.into_bytes();
            let packed = xz(&plain);
            for (name, bytes) in [("Packages", plain), ("Packages.xz", packed)] {
                if self.by_hash {
                    files.insert(
                        format!("{dir}/by-hash/SHA256/{}", sha256_hex(&bytes)),
                        bytes.clone(),
                    );
                }
                files.insert(format!("{dir}/{name}"), bytes);
            }
        }
        files
    }

    pub fn release_text(&self) -> String {
        let mut r = format!(
            "Origin: Test\nLabel: Test\nSuite: {}\nCodename: {}\nDate: {}\n",
            self.name,
            self.codename,
            format_release_date(self.date)
        );
        if let Some(v) = self.valid_until {
            r += &format!("Valid-Until: {}\n", format_release_date(v));
        }
        if self.by_hash {
            r += "Acquire-By-Hash: yes\n";
        }
        r += &format!(
            "Architectures: {}\nComponents: {}\nDescription: fake suite for tests\nSHA256:\n",
            self.architectures.join(" "),
            self.components_field
        );
        for (path, bytes) in self.index_files() {
            if !path.contains("/by-hash/") {
                r += &format!(" {} {:>8} {path}\n", sha256_hex(&bytes), bytes.len());
            }
        }
        r
    }

    /// Every file of `dists/<suite>/`, signed by `key`.
    pub fn files(&self, key: &TestKey) -> BTreeMap<String, Vec<u8>> {
        let mut files = self.index_files();
        let release = self.release_text();
        files.insert(
            "InRelease".into(),
            key.clearsign(release.as_bytes(), self.date),
        );
        files.insert(
            "Release.gpg".into(),
            key.detach_sign(release.as_bytes(), self.date),
        );
        files.insert("Release".into(), release.into_bytes());
        files
    }
}
