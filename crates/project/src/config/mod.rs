//! `packages.toml`, read once into one typed, validated model: the
//! distros (archives, suites, architectures), the images (packages,
//! excludes, `extends`, settings) and `[build]` (what every image gets,
//! and the tags).
//!
//! The model, one file a part: `images` (image specs, `extends`, the
//! per-image plan), `spec` (`[build]`: tags, generated files),
//! `artifacts` (upstream artifacts and their feeds).

pub(crate) mod artifacts;
pub(crate) mod images;
pub(crate) mod spec;

use std::collections::BTreeMap;
use std::path::Path;

use distill_archive::DistroSpec;
use serde::Deserialize;

use self::artifacts::ArtifactSpec;
use self::images::{ImagePlan, ImageSpec, check_images, plan};
use self::spec::BuildSpec;
use crate::error::{Context, Result, fail};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub distros: BTreeMap<String, DistroSpec>,
    #[serde(default)]
    pub images: BTreeMap<String, ImageSpec>,
    #[serde(default)]
    pub build: BuildSpec,
    /// Upstream release tarballs images may use (`node24`).
    #[serde(default)]
    pub artifacts: BTreeMap<String, ArtifactSpec>,
}

/// The largest packages.toml read.
pub(crate) const MAX_CONFIG: u64 = 4 << 20;

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        // This repository's packages.toml is 16 KB.
        let text = distill_store::read_bounded_text(path, MAX_CONFIG)
            .context(|| format!("cannot read {}", path.display()))?;
        Config::parse(&text, path)
    }

    /// Parses and validates; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            // toml's message is multi-line with a source excerpt; keep the
            // first line, which says what and where.
            let line = e
                .span()
                .map(|s| format!(" (at line {})", text[..s.start].matches('\n').count() + 1))
                .unwrap_or_default();
            fail!("cannot parse {}: {}{line}", path.display(), e.message())
        })?;
        let invalid = |cause: String| fail!("cannot use {}: {cause}", path.display());
        for (name, d) in &config.distros {
            d.validate(name).map_err(invalid)?;
        }
        for (name, a) in &config.artifacts {
            a.validate(name).map_err(invalid)?;
        }
        check_images(&config.images, &config.artifacts).map_err(|e| invalid(e.to_string()))?;
        // Every plan is made once here, so a bad definition is reported
        // when the file is read, whatever the command.
        for distro in config.distros.keys() {
            config.plans(distro).map_err(invalid)?;
        }
        Ok(config)
    }

    pub fn distro(&self, name: &str) -> Result<&DistroSpec, String> {
        self.distros.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.distros.keys().map(String::as_str).collect();
            format!("unknown distro {name:?} (known: {})", known.join(", "))
        })
    }

    /// Every image built for `distro`, with what to resolve for it.
    pub fn plans(&self, distro: &str) -> Result<Vec<(String, ImagePlan)>, String> {
        let archs = &self.distro(distro)?.architectures;
        let mut out = Vec::new();
        for name in self.images.keys() {
            let p = plan(&self.images, name, distro, archs).map_err(|e| e.to_string())?;
            if let Some(p) = p {
                out.push((name.clone(), p));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISTRO: &str = r#"
[distros.d]
codename = "c"
version_id = "1"
architectures = ["amd64"]

[[distros.d.archives]]
name = "debian"
snapshot = "https://snapshot.example/archive/debian"
suites = ["s"]
components = ["main"]
"#;

    fn parse(extra: &str) -> Result<Config> {
        Config::parse(&format!("{DISTRO}{extra}"), Path::new("p.toml"))
    }

    fn message(extra: &str) -> String {
        distill_store::causes(&parse(extra).unwrap_err()).join(": ")
    }

    #[test]
    fn one_typed_validated_model() {
        let c = parse(
            "[build]\nbusybox = \"bb\"\n[build.tags]\nlatest = { user = \"0\", workdir = \"/\" }\n\
             [images.a]\npackages = [\"x\"]\n[images.b]\nextends = \"a\"\n",
        )
        .unwrap();
        assert_eq!(c.build.packages(), ["bb"]);
        assert_eq!(c.plans("d").unwrap().len(), 2);
        assert_eq!(
            c.distro("e").unwrap_err(),
            "unknown distro \"e\" (known: d)"
        );
    }

    #[test]
    fn a_third_party_archive_needs_mirrors_when_it_has_no_snapshot() {
        let vendor = |mirrors: &str| {
            format!(
                "\n[[distros.d.archives]]\nname = \"adoptium\"\nmirrors = [{mirrors}]\n\
                 keyring = \"adoptium.asc\"\nsuites = [\"trixie\"]\ncomponents = [\"main\"]\n"
            )
        };
        let c = parse(&vendor("\"https://packages.adoptium.net/artifactory/deb\"")).unwrap();
        let a = c.distros["d"].archive("adoptium").unwrap();
        assert!(a.snapshot.is_none());
        assert_eq!(a.bases("20250101T000000Z"), a.mirrors);
        assert_eq!(a.keyring.as_deref(), Some(Path::new("adoptium.asc")));
        assert_eq!(
            message(&vendor("")),
            "cannot use p.toml: archive adoptium of distro d needs a snapshot or mirrors"
        );
    }

    #[test]
    fn bad_definitions_are_reported_when_the_file_is_read() {
        // A misspelt key, with its line.
        let e = message("[images.a]\npackagez = []\n");
        assert!(
            e.starts_with("cannot parse p.toml: unknown field `packagez`"),
            "{e}"
        );
        assert!(e.ends_with("(at line 13)"), "{e}");
        // What serde cannot see: a missing parent, a bad architecture, a
        // package both listed and excluded; each names the image.
        let e = message("[images.a]\nextends = \"nope\"\n");
        assert_eq!(
            e,
            "cannot use p.toml: image a: extends unknown image \"nope\""
        );
        let e = message("[images.a]\narchitectures = [\"mips\"]\n");
        assert!(
            e.contains("image a: architecture mips is not one of distro d's"),
            "{e}"
        );
        let e = message(
            "[images.a]\npackages = [\"x\"]\nexclude = [{ package = \"x\", reason = \"r\" }]\n",
        );
        assert!(e.contains("x is both a package and excluded"), "{e}");
        let e = message("[build]\ntags = 3\n");
        assert!(e.starts_with("cannot parse p.toml: invalid type"), "{e}");
        let e = distill_store::causes(&Config::load(Path::new("/nonexistent/p.toml")).unwrap_err())
            .join(": ");
        assert!(
            e.starts_with("cannot read /nonexistent/p.toml: No such file"),
            "{e}"
        );
    }
}
