//! A .deb builder: real ar + tar + xz/gz/zstd packages with chosen
//! entries (including the hostile ones a builder must refuse), fixed
//! mtimes so the bytes are the same on every run.

use std::io::Write;

use crate::archive::sha256_hex;

#[derive(Debug, Clone)]
pub enum Body {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
    CharDevice,
}

#[derive(Debug, Clone)]
pub struct DebEntry {
    /// The raw tar path, e.g. `./usr/bin/x` (not checked here).
    pub path: String,
    pub body: Body,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub user: String,
    pub group: String,
}

#[derive(Debug, Clone)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// Extra control fields (`Depends: x`), one per line.
    pub control: String,
    pub entries: Vec<DebEntry>,
    /// `xz`, `gz`, `zst` or empty for a plain data.tar.
    pub compression: &'static str,
    /// Maintainer scripts in the control member: (name, text).
    pub scripts: Vec<(String, String)>,
}

/// Fixed mtime of every entry: 2024-06-01.
pub const DEB_MTIME: u64 = 1_717_200_000;

impl Deb {
    pub fn new(name: &str, version: &str, arch: &str) -> Deb {
        Deb {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            control: String::new(),
            entries: Vec::new(),
            compression: "xz",
            scripts: Vec::new(),
        }
    }

    /// A maintainer script (`postinst`, `preinst`, `triggers`) in the
    /// control member.
    pub fn script(mut self, name: &str, text: &str) -> Deb {
        self.scripts.push((name.into(), text.into()));
        self
    }

    pub fn control(mut self, fields: &str) -> Deb {
        self.control += fields;
        if !self.control.ends_with('\n') {
            self.control.push('\n');
        }
        self
    }

    pub fn compression(mut self, c: &'static str) -> Deb {
        self.compression = c;
        self
    }

    pub fn entry(mut self, path: &str, body: Body, mode: u32) -> Deb {
        self.entries.push(entry(path, body, mode));
        self
    }

    pub fn dir(self, path: &str) -> Deb {
        self.entry(path, Body::Dir, 0o755)
    }

    pub fn file(self, path: &str, content: &[u8]) -> Deb {
        self.entry(path, Body::File(content.to_vec()), 0o644)
    }

    /// A gzip-compressed file (`changelog.Debian.gz`).
    pub fn gzipped(self, path: &str, content: &str) -> Deb {
        self.entry(path, Body::File(gzip(content.as_bytes())), 0o644)
    }

    pub fn symlink(self, path: &str, target: &str) -> Deb {
        self.entry(path, Body::Symlink(target.into()), 0o777)
    }

    /// Sets the owner of the last entry.
    pub fn owned(mut self, uid: u64, gid: u64, user: &str, group: &str) -> Deb {
        let e = self.entries.last_mut().expect("an entry to own");
        (e.uid, e.gid, e.user, e.group) = (uid, gid, user.into(), group.into());
        self
    }

    pub fn filename(&self) -> String {
        format!(
            "pool/main/{}/{n}/{n}_{}_{}.deb",
            &self.name[..1],
            self.version.replace(':', "%3a"),
            self.arch,
            n = self.name
        )
    }

    fn control_text(&self) -> String {
        format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Test <t@test.invalid>\nInstalled-Size: 10\n{}Description: test package {}\n",
            self.name, self.version, self.arch, self.control, self.name
        )
    }

    /// The .deb's bytes.
    pub fn build(&self) -> Vec<u8> {
        let md5sums: String = self
            .entries
            .iter()
            .filter_map(|e| match &e.body {
                Body::File(b) => Some(format!(
                    "{}  {}\n",
                    md5_hex(b),
                    e.path.trim_start_matches("./")
                )),
                _ => None,
            })
            .collect();
        let mut members = vec![
            entry("./", Body::Dir, 0o755),
            entry(
                "./control",
                Body::File(self.control_text().into_bytes()),
                0o644,
            ),
            entry("./md5sums", Body::File(md5sums.into_bytes()), 0o644),
        ];
        for (name, text) in &self.scripts {
            let body = Body::File(text.clone().into_bytes());
            members.push(entry(&format!("./{name}"), body, 0o755));
        }
        let control = tar(&members);
        let data = tar(&self.entries);
        let (data_name, data) = match self.compression {
            "xz" => ("data.tar.xz", crate::archive::xz(&data)),
            "gz" => ("data.tar.gz", gzip(&data)),
            "zst" => (
                "data.tar.zst",
                zstd::encode_all(&data[..], 3).expect("zstd"),
            ),
            "" => ("data.tar", data),
            other => panic!("compression {other}"),
        };
        ar(&[
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", gzip(&control)),
            (data_name, data),
        ])
    }

    /// The Packages stanza for these bytes.
    pub fn stanza(&self, bytes: &[u8]) -> String {
        format!(
            "{}Filename: {}\nSize: {}\nSHA256: {}\n",
            self.control_text(),
            self.filename(),
            bytes.len(),
            sha256_hex(bytes)
        )
    }
}

fn entry(path: &str, body: Body, mode: u32) -> DebEntry {
    DebEntry {
        path: path.into(),
        body,
        mode,
        uid: 0,
        gid: 0,
        user: "root".into(),
        group: "root".into(),
    }
}

/// A tar written header by header, the path put in verbatim (the tar
/// crate's own path setter refuses `..`, which tests need to send).
fn tar(entries: &[DebEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (kind, data, link): (tar::EntryType, &[u8], Option<&str>) = match &e.body {
            Body::File(b) => (tar::EntryType::Regular, b, None),
            Body::Dir => (tar::EntryType::Directory, &[], None),
            Body::Symlink(t) => (tar::EntryType::Symlink, &[], Some(t)),
            Body::Hardlink(t) => (tar::EntryType::Link, &[], Some(t)),
            Body::CharDevice => (tar::EntryType::Char, &[], None),
        };
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_username(&e.user).unwrap();
        h.set_groupname(&e.group).unwrap();
        h.set_mtime(DEB_MTIME);
        let name = &mut h.as_old_mut().name;
        assert!(e.path.len() < name.len(), "test paths stay short");
        name[..e.path.len()].copy_from_slice(e.path.as_bytes());
        if let Some(t) = link {
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An ar archive as dpkg-deb writes it.
fn ar(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            0,
            0,
            0,
            "100644",
            data.len()
        );
        assert_eq!(header.len(), 60);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}
