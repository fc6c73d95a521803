//! A typed view of an image layout on disk: its tags, and the index,
//! manifest and config documents behind them. `diff` and docker archives
//! read layouts through it, and so do the tests. Every JSON document is
//! checked against its digest before it is parsed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ImageError;
use crate::layout::blob_path;
use crate::oci::{ConfigDoc, Descriptor, REF_NAME, Unknown};

/// `index.json`, or an image index blob; like [`ManifestDoc`], what
/// distill does not read (`schemaVersion`, `mediaType`) is in `extra`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexDoc {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Unknown,
}

/// An image (or artifact) manifest: the fields distill reads and edits,
/// typed; every other field (`schemaVersion`, `mediaType`, a newer
/// spec's) kept in `extra`, so a base manifest `append` edits says
/// everything it said.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestDoc {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(flatten)]
    pub extra: Unknown,
}

/// An image layout directory, opened for reading.
pub struct LayoutReader {
    root: PathBuf,
    index: IndexDoc,
}

impl LayoutReader {
    /// Opens the layout at `root` (reads its `index.json`).
    pub fn open(root: &Path) -> Result<LayoutReader, ImageError> {
        let path = root.join("index.json");
        let bytes = fs::read(&path).map_err(|source| ImageError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(LayoutReader {
            index: parse(&path, &bytes)?,
            root: root.to_owned(),
        })
    }

    /// Whether `root` looks like an image layout.
    pub fn is_layout(root: &Path) -> bool {
        root.join("index.json").is_file()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every entry of `index.json` (tagged or not), in order.
    pub fn entries(&self) -> &[Descriptor] {
        &self.index.manifests
    }

    /// The tagged entries of `index.json`, as (tag, descriptor).
    pub fn tags(&self) -> impl Iterator<Item = (&str, &Descriptor)> {
        self.index
            .manifests
            .iter()
            .filter_map(|d| Some((d.annotations.get(REF_NAME)?.as_str(), d)))
    }

    /// The file of blob `digest`.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        blob_path(&self.root, digest)
    }

    /// The bytes of the blob `d`, checked against its digest and size.
    pub fn blob(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let path = self.blob_path(&d.digest);
        let bytes = fs::read(&path).map_err(|source| ImageError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let actual = Descriptor::of(&d.media_type, &bytes);
        if actual.digest != d.digest || actual.size != d.size {
            return Err(ImageError::Invalid {
                path: path.display().to_string(),
                reason: format!(
                    "its content is {} ({} bytes), the descriptor says {} ({} bytes)",
                    actual.digest, actual.size, d.digest, d.size
                ),
            });
        }
        Ok(bytes)
    }

    pub fn index(&self, d: &Descriptor) -> Result<IndexDoc, ImageError> {
        parse(&self.blob_path(&d.digest), &self.blob(d)?)
    }

    pub fn manifest(&self, d: &Descriptor) -> Result<ManifestDoc, ImageError> {
        parse(&self.blob_path(&d.digest), &self.blob(d)?)
    }

    pub fn config(&self, d: &Descriptor) -> Result<ConfigDoc, ImageError> {
        parse(&self.blob_path(&d.digest), &self.blob(d)?)
    }

    /// The image manifests a tagged entry stands for: an index's
    /// manifests (with their platforms), or the manifest itself.
    pub fn images(&self, tagged: &Descriptor) -> Result<Vec<Descriptor>, ImageError> {
        if tagged.media_type == crate::oci::INDEX {
            Ok(self.index(tagged)?.manifests)
        } else {
            Ok(vec![tagged.clone()])
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::oci::{INDEX, MANIFEST, index, manifest};

    /// A manifest read and written again keeps every field it had, known
    /// or not, at every level, with its keys sorted: what `append` relies
    /// on to edit a base it did not make.
    #[test]
    fn a_manifest_round_trips_with_the_fields_distill_does_not_know() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","future":{{"x":1}},
            "config":{{"mediaType":"c","digest":"{}","size":2,"data":"e30="}},
            "layers":[{{"mediaType":"l","digest":"{}","size":3,"urls":["https://x/l"],
              "platform":{{"architecture":"amd64","os":"windows","os.version":"10.0"}}}}],
            "annotations":{{"a":"b"}}}}"#,
            d('a'),
            d('b')
        );
        let doc: ManifestDoc = serde_json::from_str(&text).unwrap();
        assert_eq!(
            doc.layers[0].extra["urls"],
            serde_json::json!(["https://x/l"])
        );
        let platform = doc.layers[0].platform.as_ref().unwrap();
        assert_eq!(platform.extra["os.version"], "10.0");
        let want: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(crate::sorted_json(&doc), serde_json::to_vec(&want).unwrap());
        // A digest that is not sha256 + 64 hex does not parse.
        let bad = text.replace(&d('b'), "sha256:../x");
        assert!(serde_json::from_str::<ManifestDoc>(&bad).is_err());
    }

    #[test]
    fn reads_what_the_writer_wrote_and_checks_digests() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("img");
        let mut l = Layout::create(&dest).unwrap();
        let config = l.put(crate::oci::CONFIG, b"{}").unwrap();
        let m = l
            .put(MANIFEST, &manifest(&config, &[], &BTreeMap::new()))
            .unwrap();
        let i = l
            .put(INDEX, &index(std::slice::from_ref(&m), &BTreeMap::new()))
            .unwrap();
        l.tag("latest", i.clone());
        l.tag("latest-amd64", m.clone());
        l.commit().unwrap();

        let r = LayoutReader::open(&dest).unwrap();
        let tags: Vec<&str> = r.tags().map(|(t, _)| t).collect();
        assert_eq!(tags, ["latest", "latest-amd64"]);
        let (_, tagged) = r.tags().next().unwrap();
        let images = r.images(tagged).unwrap();
        assert_eq!(images, std::slice::from_ref(&m));
        assert_eq!(r.manifest(&images[0]).unwrap().config, config);

        // A blob that is not what its descriptor says is refused.
        fs::write(r.blob_path(&m.digest), b"{\"config\":1}").unwrap();
        let e = r.manifest(&m).unwrap_err().to_string();
        assert!(e.contains("the descriptor says"), "{e}");
        assert!(LayoutReader::open(dir.path()).is_err());
    }
}
