//! One architecture's image for one tag, from its layers: the image
//! config (env, user, workdir, entrypoint, history), the manifest with its
//! annotations, and the SBOM attached to it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use distill_image::{
    ConfigDoc, Descriptor, History, ImageConfig, Layout, MANIFEST, RootFs, SPDX_MEDIA_TYPE,
    SbomPackage, manifest, platform_of, rfc3339, spdx,
};
use distill_layer::Tree;
use distill_lock::LockedPackage;

use super::layers::Made;
use super::scripts::{Review, review};
use super::{Built, ImageBuild, Parts, Tools, recipes};
use crate::config::artifacts::ArtifactSpec;
use crate::config::spec::{BuildSpec, TagSpec};
use crate::error::{Context, Result, fail};

/// What every image of a distro's build shares.
pub(super) struct Assembly<'a> {
    pub build: &'a BuildSpec,
    pub artifacts: &'a BTreeMap<String, ArtifactSpec>,
    pub distro: &'a str,
    pub version_id: &'a str,
    pub epoch: u64,
    /// The layer stacks (digest, generated) already checked.
    pub checked: std::cell::RefCell<std::collections::BTreeSet<Vec<(String, bool)>>>,
    /// Where the note on what maintainer scripts would have done goes.
    pub observer: &'a dyn distill_store::Observer,
}

impl Assembly<'_> {
    /// The layout of image `t`: its generated layers per architecture,
    /// then per tag and architecture the stack, image and SBOM, and per
    /// tag the index; written to `dest` in one commit.
    pub(super) fn layout(
        &self,
        t: &ImageBuild<'_>,
        parts: &Parts<'_, '_>,
        dest: &Path,
    ) -> Result<Vec<Built>> {
        let mut extras: BTreeMap<&str, Vec<Made>> = BTreeMap::new();
        // Per architecture, without and with the debug tags' packages: the
        // scripts' review and the alternatives' layer.
        let mut reviews: BTreeMap<(&str, bool), (Review, Option<Made>)> = BTreeMap::new();
        let debug_tags: BTreeSet<bool> = self.build.tags.values().map(|t| t.debug).collect();
        for (arch, pkgs) in &t.archs {
            extras.insert(arch, self.extras(t, arch, pkgs, parts)?);
            for &debug in &debug_tags {
                let review = review_of(t, arch, debug, parts)?;
                let layer = review.layer(parts.layers)?;
                reviews.insert((arch, debug), (review, layer));
            }
        }
        self.note_unapplied(t, reviews.values().map(|(r, _)| r));
        // The same on every manifest and index of the image.
        let annotations = self.annotations(t)?;
        let mut layout = Layout::create(dest)?;
        let mut built = Vec::new();
        for (tag, tag_spec) in &self.build.tags {
            let mut manifests = Vec::new();
            for arch in t.archs.keys() {
                let arch = arch.as_str();
                let pkgs: Vec<&LockedPackage> =
                    t.packages(arch, tag_spec.debug).map(|(p, _)| p).collect();
                // The alternatives' links, then the image's own layers.
                let generated: Vec<&Made> = (reviews[&(arch, tag_spec.debug)].1.iter())
                    .chain(&extras[arch])
                    .collect();
                let stack = stack(t, arch, tag, tag_spec, &pkgs, &generated, parts)?;
                let desc = self.image(&mut layout, t, arch, tag_spec, &stack, &annotations)?;
                let listed = listed(t, tag_spec, pkgs, &parts.plan.tools[arch]);
                self.sbom(&mut layout, t, tag, arch, &desc, &listed)?;
                let platform = desc.platform.clone().expect("image descriptors have one");
                layout.tag(&format!("{tag}-{}", platform.architecture), desc.clone());
                manifests.push(desc);
            }
            let index = distill_image::index(&manifests, &annotations);
            let desc = layout.put(distill_image::INDEX, &index)?;
            built.push(Built {
                image: t.image.clone(),
                distro: self.distro.to_owned(),
                tag: tag.clone(),
                digest: desc.digest.clone(),
                path: dest.to_owned(),
            });
            layout.tag(tag, desc);
        }
        layout.commit()?;
        Ok(built)
    }

    /// One note per image whose packages' scripts would do what the build
    /// does not and packages.toml does not acknowledge.
    fn note_unapplied<'r>(&self, t: &ImageBuild<'_>, reviews: impl Iterator<Item = &'r Review>) {
        let mut all: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
        for r in reviews {
            for (p, kinds) in r.unapplied() {
                all.entry(p)
                    .or_default()
                    .extend(kinds.iter().map(|k| k.as_str()));
            }
        }
        if all.is_empty() {
            return;
        }
        let list: Vec<String> = all
            .iter()
            .map(|(p, k)| format!("{p} ({})", k.iter().copied().collect::<Vec<_>>().join(", ")))
            .collect();
        self.observer.note(&format!(
            "{}-{}: maintainer scripts would do what the build does not: {}; see `distill scripts --image {} --distro {}`, or acknowledge with scripts_ignored",
            t.image,
            self.distro,
            list.join(", "),
            t.image,
            self.distro
        ));
    }

    /// The image's generated layers for `arch`, shared by its tags:
    /// symlinks, locales, the Java trust store, ld.so.cache.
    fn extras(
        &self,
        t: &ImageBuild<'_>,
        arch: &str,
        pkgs: &[&LockedPackage],
        parts: &Parts<'_, '_>,
    ) -> Result<Vec<Made>> {
        let (layers, tools, debs) = (parts.layers, &parts.plan.tools[arch], &parts.inputs.debs);
        let mut own = Vec::new();
        own.extend(recipes::symlinks(layers, &t.settings.symlinks, arch)?);
        if !t.settings.locales.is_empty() {
            let p = tools.locales.ok_or_else(|| {
                fail!(
                    "cannot build {}: it wants locales but [build] names no locales package",
                    t.image
                )
            })?;
            own.push(recipes::locales(
                layers,
                &t.settings.locales,
                p,
                &debs[&p.sha256],
            )?);
        }
        if let Some(spec) = &t.settings.java_keystore {
            let p = tools.ca.ok_or_else(|| {
                fail!(
                    "cannot build {}: its java_keystore needs [build] ca-certificates",
                    t.image
                )
            })?;
            own.push(recipes::java_keystore(layers, spec, p, &debs[&p.sha256])?);
        }
        if t.settings.ld_so_cache {
            let below: Vec<&Made> = pkgs
                .iter()
                .map(|p| &parts.made.packages[p.sha256.as_str()])
                .collect();
            own.push(recipes::ld_cache(layers, arch, &below)?);
        }
        Ok(own)
    }

    /// Writes the config and manifest of `t` for `arch` and `tag` into
    /// the layout; returns the manifest's descriptor, with its platform.
    pub(super) fn image(
        &self,
        layout: &mut Layout,
        t: &ImageBuild<'_>,
        arch: &str,
        tag: &TagSpec,
        layers: &[&Made],
        annotations: &BTreeMap<String, String>,
    ) -> Result<Descriptor> {
        self.check(layers)
            .context(|| format!("cannot build {} {arch}", t.image))?;
        let platform = platform_of(arch)?;
        let mut env: BTreeMap<String, String> = self.build.env.clone();
        env.extend(self.fill(t, &t.settings.env)?);
        let mut entrypoint = t.settings.entrypoint.clone();
        if tag.debug {
            let path = env.entry("PATH".into()).or_default();
            path.push_str(":/busybox");
            // A runtime image keeps its runtime as the entrypoint on debug
            // tags too (`--entrypoint=sh` reaches the shell), as
            // distroless's do; the others start the shell.
            if entrypoint.is_empty() {
                entrypoint = vec!["/busybox/sh".into()];
            }
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
                labels: self.fill(t, &t.settings.labels)?,
                extra: Default::default(),
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
                    extra: Default::default(),
                })
                .collect(),
            extra: Default::default(),
        };
        let config_desc = layout.put(distill_image::CONFIG, &config.to_bytes())?;
        let mut layer_descs = Vec::new();
        for m in layers {
            layout.put_file(&m.blob, &m.layer.digest)?;
            layer_descs.push(Descriptor::blob(
                m.layer.compression.media_type(),
                &m.layer.digest,
                m.layer.size,
            ));
        }
        let bytes = manifest(&config_desc, &layer_descs, annotations);
        let mut desc = layout.put(MANIFEST, &bytes)?;
        desc.platform = Some(platform);
        Ok(desc)
    }

    /// Checks that `layers` stack without conflicts ([`Tree`]), once per
    /// distinct stack: the tags of an image mostly share theirs.
    fn check(&self, layers: &[&Made]) -> std::result::Result<(), distill_layer::TreeError> {
        let key: Vec<(String, bool)> = layers
            .iter()
            .map(|m| (m.layer.digest.clone(), m.generated))
            .collect();
        if self.checked.borrow().contains(&key) {
            return Ok(());
        }
        let mut tree = Tree::new();
        for m in layers {
            tree.add(&m.label, &m.layer.entries, m.generated)?;
        }
        self.checked.borrow_mut().insert(key);
        Ok(())
    }

    /// The SPDX document of one image manifest, attached to it in the
    /// layout and written as `sbom/<tag>-<arch>.spdx.json` inside it:
    /// `pkgs` and the image's artifacts for `arch`.
    pub(super) fn sbom(
        &self,
        layout: &mut Layout,
        t: &ImageBuild<'_>,
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
                download: None,
            })
            .collect();
        // Upstream software by its own name and URL: no Debian purl, no
        // dpkg status entry, so scanners do not take it for a package.
        listed.extend(t.artifacts[arch].iter().map(|a| {
            SbomPackage {
                name: self
                    .artifacts
                    .get(&a.name)
                    .map_or_else(|| a.name.clone(), |s| s.upstream.clone()),
                version: a.version.clone(),
                architecture: a.architecture.clone(),
                sha256: a.sha256.to_string(),
                download: Some(a.url.clone()),
            }
        }));
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        let name = format!("{}-{}:{tag}-{arch}", t.image, self.distro);
        let doc = spdx(&name, self.version_id, &rfc3339(self.epoch), &listed);
        layout.attach(manifest, SPDX_MEDIA_TYPE, &doc)?;
        layout.write_file(&format!("sbom/{tag}-{arch}.spdx.json"), &doc)?;
        Ok(())
    }

    /// Annotations with versions filled in from the lock ([`Self::fill`]).
    pub(super) fn annotations(&self, t: &ImageBuild<'_>) -> Result<BTreeMap<String, String>> {
        let mut out = self.build.annotations.clone();
        out.extend(t.settings.annotations.clone());
        self.fill(t, &out)
    }

    /// `{upstream:PKG}` (the package's upstream version) and
    /// `{artifact:NAME}` (the artifact's version) replaced by what the lock
    /// holds for the image.
    fn fill(
        &self,
        t: &ImageBuild<'_>,
        values: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        let mut out = values.clone();
        for v in out.values_mut() {
            for (marker, of) in [
                ("{upstream:", Kind::Package),
                ("{artifact:", Kind::Artifact),
            ] {
                while let Some(start) = v.find(marker) {
                    let end = v[start..]
                        .find('}')
                        .map(|e| start + e)
                        .ok_or_else(|| fail!("cannot use {v:?}: unclosed {{"))?;
                    let name = &v[start + marker.len()..end];
                    let version = match of {
                        Kind::Package => t
                            .archs
                            .values()
                            .flatten()
                            .find(|p| p.name == name)
                            .map(|p| upstream(&p.version)),
                        Kind::Artifact => t
                            .artifacts
                            .values()
                            .flatten()
                            .find(|a| a.name == name)
                            .map(|a| a.version.clone()),
                    };
                    let version = version.ok_or_else(|| {
                        fail!(
                            "cannot build {}: {v:?} names {name}, which the image does not contain",
                            t.image
                        )
                    })?;
                    v.replace_range(start..=end, &version);
                }
            }
        }
        Ok(out)
    }
}

enum Kind {
    Package,
    Artifact,
}

/// The version upstream released: without epoch, Debian revision or a
/// `+` suffix (a Java build number, a `+dfsg` repack):
/// `1:3.13.5-2+b1` → `3.13.5`, `17.0.8+7-1~deb12u1` → `17.0.8`.
fn upstream(version: &str) -> String {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    let v = v.rsplit_once('-').map_or(v, |(u, _)| u);
    v.split('+').next().unwrap_or(v).to_owned()
}

/// The layers of one tag's image for `arch`, bottom first: its packages,
/// the skeleton, the alternatives' links, the image's generated layers,
/// busybox on debug tags, and on top the upstream artifacts (as
/// distroless puts Node on its cc images).
fn stack<'m>(
    t: &ImageBuild<'_>,
    arch: &str,
    tag: &str,
    tag_spec: &TagSpec,
    pkgs: &[&LockedPackage],
    generated: &[&'m Made],
    parts: &Parts<'m, '_>,
) -> Result<Vec<&'m Made>> {
    let made = parts.made;
    let mut stack: Vec<&Made> = pkgs
        .iter()
        .map(|p| &made.packages[p.sha256.as_str()])
        .collect();
    stack.push(&made.skeletons[arch]);
    stack.extend(generated);
    if tag_spec.debug {
        stack.push(
            made.busybox
                .get(arch)
                .ok_or_else(|| fail!("cannot build tag {tag}: no busybox package configured"))?,
        );
    }
    let own = &t.artifacts[arch];
    stack.extend(own.iter().map(|a| &made.artifacts[a.sha256.as_str()]));
    Ok(stack)
}

/// What the SBOM lists: the image's packages and the ones the build took
/// files from (CA bundle, busybox on debug tags, locales).
fn listed<'l>(
    t: &ImageBuild<'_>,
    tag_spec: &TagSpec,
    mut pkgs: Vec<&'l LockedPackage>,
    tools: &Tools<'l>,
) -> Vec<&'l LockedPackage> {
    pkgs.extend(tools.ca);
    if tag_spec.debug {
        pkgs.extend(tools.busybox);
    }
    if !t.settings.locales.is_empty() {
        pkgs.extend(tools.locales);
    }
    pkgs
}

/// What the scripts of `t`'s packages for `arch` (with the debug tags'
/// when `debug`) would do, in the stack of packages and skeleton they run
/// in.
pub(super) fn review_of(
    t: &ImageBuild<'_>,
    arch: &str,
    debug: bool,
    parts: &Parts<'_, '_>,
) -> Result<Review> {
    let made = parts.made;
    let pkgs: Vec<(&LockedPackage, &Made, bool)> = t
        .packages(arch, debug)
        .map(|(p, d)| (p, &made.packages[p.sha256.as_str()], d))
        .collect();
    let mut below: Vec<&Made> = pkgs.iter().map(|(_, m, _)| *m).collect();
    below.push(&made.skeletons[arch]);
    review(
        &t.image,
        &t.settings,
        arch,
        parts.layers.usrmerge,
        &pkgs,
        &below,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_versions() {
        assert_eq!(upstream("3.13.5-2"), "3.13.5");
        assert_eq!(upstream("1:2.36-9+deb12u4"), "2.36");
        assert_eq!(upstream("2025b"), "2025b");
        assert_eq!(upstream("17.0.8+7-1~deb12u1"), "17.0.8");
        assert_eq!(upstream("21.0.13.1+2-1~deb13u1"), "21.0.13.1");
        assert_eq!(upstream("2.12.1+dfsg-5+deb12u4"), "2.12.1");
    }
}
