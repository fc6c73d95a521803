//! Node's own distribution site as a release feed: `index.json` lists
//! every release with the platforms it was built for; each release's
//! `SHASUMS256.txt` (clear-signed by a release key as
//! `SHASUMS256.txt.asc`) gives the tarballs' hashes.

use std::collections::BTreeMap;

use distill_debian::Sha256;

use crate::{UpstreamError, UpstreamVersion};

/// Node's name for a Debian architecture, where Node builds for it.
pub fn node_arch(debian_arch: &str) -> Option<&'static str> {
    Some(match debian_arch {
        "amd64" => "x64",
        "arm64" => "arm64",
        "armhf" => "armv7l",
        "ppc64el" => "ppc64le",
        "s390x" => "s390x",
        _ => return None,
    })
}

/// `node-v24.1.0-linux-x64.tar.gz`; its top directory is the same name
/// without `.tar.gz`.
pub fn tarball_name(version: UpstreamVersion, node_arch: &str) -> String {
    format!("node-v{version}-linux-{node_arch}.tar.gz")
}

/// A release of the distribution index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRelease {
    pub version: UpstreamVersion,
    /// The LTS codename, if the release is an LTS one.
    pub lts: Option<String>,
}

/// Every release of the `major` line built for `linux-<node_arch>` in
/// `index.json`, oldest first.
pub fn node_releases(
    index: &[u8],
    major: u64,
    node_arch: &str,
) -> Result<Vec<NodeRelease>, UpstreamError> {
    let bad = |reason: String| UpstreamError::Feed {
        feed: "Node distribution",
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_slice(index).map_err(|e| bad(format!("index.json is not JSON: {e}")))?;
    let list = doc
        .as_array()
        .ok_or_else(|| bad("index.json is not a list".into()))?;
    let platform = format!("linux-{node_arch}");
    let mut out: Vec<NodeRelease> = list
        .iter()
        .filter_map(|r| {
            let version = UpstreamVersion::parse(r["version"].as_str()?)?;
            let built = r["files"]
                .as_array()?
                .iter()
                .any(|f| f.as_str() == Some(&platform));
            (built && version.major == major).then(|| NodeRelease {
                version,
                lts: r["lts"].as_str().map(str::to_owned),
            })
        })
        .collect();
    out.sort_by_key(|r| r.version);
    Ok(out)
}

/// `SHASUMS256.txt` (the verified text): file name → sha256.
pub fn shasums(text: &str) -> Result<BTreeMap<String, Sha256>, UpstreamError> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || UpstreamError::Feed {
            feed: "Node distribution",
            reason: format!("malformed SHASUMS256.txt line {line:?}"),
        };
        let (hash, name) = line.split_once("  ").ok_or_else(bad)?;
        let hash = Sha256::parse(hash).map_err(|_| bad())?;
        out.insert(name.trim().to_owned(), hash);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"[
      {"version":"v26.0.0","files":["linux-x64","linux-arm64"],"lts":false},
      {"version":"v24.11.0","files":["linux-x64","linux-arm64"],"lts":"Krypton"},
      {"version":"v24.9.0","files":["linux-x64"],"lts":"Krypton"},
      {"version":"v24.12.0-rc.1","files":["linux-x64"],"lts":false},
      {"version":"v22.21.0","files":["linux-x64","linux-armv7l"],"lts":"Jod"}
    ]"#;

    fn versions(major: u64, arch: &str) -> Vec<String> {
        node_releases(INDEX.as_bytes(), major, arch)
            .unwrap()
            .iter()
            .map(|r| r.version.to_string())
            .collect()
    }

    #[test]
    fn releases_per_line_and_platform() {
        assert_eq!(versions(24, "x64"), ["24.9.0", "24.11.0"]);
        assert_eq!(versions(24, "arm64"), ["24.11.0"]);
        let r = node_releases(INDEX.as_bytes(), 24, "x64")
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(r.lts.as_deref(), Some("Krypton"));
        assert_eq!(versions(22, "armv7l"), ["22.21.0"]);
        // No armv7l build of 24: none, not an older line's.
        assert!(versions(24, "armv7l").is_empty());
        assert!(node_releases(b"{}", 24, "x64").is_err());
        assert_eq!(node_arch("amd64"), Some("x64"));
        assert_eq!(node_arch("riscv64"), None);
        let v = UpstreamVersion::parse("24.11.0").unwrap();
        assert_eq!(tarball_name(v, "x64"), "node-v24.11.0-linux-x64.tar.gz");
    }

    #[test]
    fn shasums_lines() {
        let h = "ab".repeat(32);
        let text = format!("{h}  node-v24.11.0-linux-x64.tar.gz\n{h}  node-v24.11.0.tar.gz\n");
        let m = shasums(&text).unwrap();
        assert_eq!(m["node-v24.11.0-linux-x64.tar.gz"].as_str(), h);
        assert_eq!(m.len(), 2);
        assert!(shasums("nothash  x\n").is_err());
        assert!(shasums("justoneword\n").is_err());
    }
}
