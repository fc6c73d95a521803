//! One architecture's image for one tag, from its layers: the image
//! config (env, user, workdir, entrypoint, history), the manifest with its
//! annotations, and the SBOM attached to it.

use std::collections::BTreeMap;

use distill_image::{
    ConfigDoc, Descriptor, History, ImageConfig, Layout, MANIFEST, RootFs, SPDX_MEDIA_TYPE,
    SbomPackage, manifest, platform_of, rfc3339, spdx,
};
use distill_layer::Tree;
use distill_lock::LockedPackage;

use super::ImageBuild;
use super::layers::Made;
use crate::error::{Context, Result, fail};
use crate::spec::{BuildSpec, TagSpec};

/// What every image of a distro's build shares.
pub(super) struct Assembly<'a> {
    pub build: &'a BuildSpec,
    pub distro: &'a str,
    pub version_id: &'a str,
    pub epoch: u64,
}

impl Assembly<'_> {
    /// Writes the config and manifest of `t` for `arch` and `tag` into
    /// the layout; returns the manifest's descriptor, with its platform.
    pub fn image(
        &self,
        layout: &mut Layout,
        t: &ImageBuild<'_>,
        arch: &str,
        tag: &TagSpec,
        layers: &[&Made],
        annotations: &BTreeMap<String, String>,
    ) -> Result<Descriptor> {
        let mut tree = Tree::new();
        for m in layers {
            tree.add(&m.label, &m.layer.entries, m.generated)
                .context(|| format!("cannot build {} {arch}", t.image))?;
        }
        let platform = platform_of(arch)?;
        let mut env: BTreeMap<String, String> = self.build.env.clone();
        env.extend(t.settings.env.clone());
        let mut entrypoint = t.settings.entrypoint.clone();
        if tag.debug {
            let path = env.entry("PATH".into()).or_default();
            path.push_str(":/busybox");
            entrypoint = vec!["/busybox/sh".into()];
        }
        let created = rfc3339(self.epoch);
        let config = ConfigDoc {
            created: created.clone(),
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
            config: ImageConfig {
                user: tag.user.clone(),
                env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                entrypoint,
                cmd: Vec::new(),
                working_dir: tag.workdir.clone(),
                labels: BTreeMap::new(),
            },
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: layers.iter().map(|m| m.layer.diff_id.clone()).collect(),
            },
            history: layers
                .iter()
                .map(|m| History {
                    created: created.clone(),
                    created_by: format!("distill: {}", m.label),
                    comment: None,
                })
                .collect(),
        };
        let config_desc = layout.put(distill_image::CONFIG, &config.to_bytes())?;
        let mut layer_descs = Vec::new();
        for m in layers {
            layout.put_file(&m.blob, &m.layer.digest)?;
            layer_descs.push(Descriptor {
                media_type: m.layer.compression.media_type().to_owned(),
                digest: m.layer.digest.clone(),
                size: m.layer.size,
                platform: None,
                artifact_type: None,
                annotations: BTreeMap::new(),
            });
        }
        let bytes = manifest(&config_desc, &layer_descs, annotations);
        let mut desc = layout.put(MANIFEST, &bytes)?;
        desc.platform = Some(platform);
        Ok(desc)
    }

    /// The SPDX document of one image manifest, attached to it in the
    /// layout and written as `sbom/<tag>-<arch>.spdx.json` inside it.
    pub fn sbom(
        &self,
        layout: &mut Layout,
        image: &str,
        tag: &str,
        arch: &str,
        manifest: &Descriptor,
        pkgs: &[&LockedPackage],
    ) -> Result<()> {
        let mut listed: Vec<SbomPackage> = pkgs
            .iter()
            .map(|p| SbomPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
                sha256: p.sha256.to_string(),
            })
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        let name = format!("{image}-{}:{tag}-{arch}", self.distro);
        let doc = spdx(&name, self.version_id, &rfc3339(self.epoch), &listed);
        layout.attach(manifest, SPDX_MEDIA_TYPE, &doc)?;
        layout.write_file(&format!("sbom/{tag}-{arch}.spdx.json"), &doc)?;
        Ok(())
    }

    /// Annotations with `{upstream:PKG}` filled in from the lock.
    pub fn annotations(&self, t: &ImageBuild<'_>) -> Result<BTreeMap<String, String>> {
        let mut out = self.build.annotations.clone();
        out.extend(t.settings.annotations.clone());
        for v in out.values_mut() {
            while let Some(start) = v.find("{upstream:") {
                let end = v[start..]
                    .find('}')
                    .map(|e| start + e)
                    .ok_or_else(|| fail!("cannot use annotation {v:?}: unclosed {{"))?;
                let pkg = &v[start + "{upstream:".len()..end];
                let version = t
                    .archs
                    .values()
                    .flatten()
                    .find(|p| p.name == pkg)
                    .map(|p| upstream(&p.version))
                    .ok_or_else(|| {
                        fail!(
                            "cannot build {}: annotation names {pkg}, which the image does not contain",
                            t.image
                        )
                    })?;
                v.replace_range(start..=end, &version);
            }
        }
        Ok(out)
    }
}

/// `1:3.13.5-2+b1` → `3.13.5`.
fn upstream(version: &str) -> String {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    v.rsplit_once('-').map_or(v, |(u, _)| u).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_versions() {
        assert_eq!(upstream("3.13.5-2"), "3.13.5");
        assert_eq!(upstream("1:2.36-9+deb12u4"), "2.36");
        assert_eq!(upstream("2025b"), "2025b");
    }
}
