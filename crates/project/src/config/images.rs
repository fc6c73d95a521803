//! The `[images]` of packages.toml: roots and excludes per distro,
//! with `extends` to build on another image.
//!
//! Inheritance: an image's roots and excludes are its parent's plus its
//! own (common, then the distro's section). A package the image lists as
//! a root lifts an inherited exclude of it: distroless's `cc` adds
//! libgcc-s1, which `base` leaves out.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    #[serde(default)]
    pub extends: Option<String>,
    /// `false`: a build base that other images extend, itself neither
    /// locked nor built (distroless's java build base). Not inherited.
    #[serde(default = "yes")]
    pub publish: bool,
    /// Distros this image is built for (default: every distro).
    #[serde(default)]
    pub distros: Option<Vec<String>>,
    /// Architectures (default: the nearest ancestor's, else every
    /// architecture of the distro).
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<Exclude>,
    /// Packages only the debug tags add (a JDK beside the JRE), resolved
    /// with the image's own and locked as the difference.
    #[serde(default)]
    pub debug_packages: Vec<String>,
    /// Upstream artifacts (`[artifacts]`) the image adds, each one layer.
    /// The image is built only on architectures they all have.
    #[serde(default)]
    pub artifacts: Vec<String>,
    /// Additions for one distro only.
    #[serde(default)]
    pub distro: BTreeMap<String, DistroPart>,
    /// Image config: added to (and overriding) the extended image's.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Image config labels; like annotations, `{upstream:PKG}` and
    /// `{artifact:NAME}` are replaced by the locked version.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Extra symlinks, path → target; `{arch}` in a target is the
    /// Debian architecture (`/usr/lib/jvm/java-17-openjdk-{arch}/bin/java`).
    #[serde(default)]
    pub symlinks: BTreeMap<String, String>,
    /// Write /etc/ld.so.cache for the image's libraries.
    #[serde(default)]
    pub ld_so_cache: Option<bool>,
    /// Compiled locales (`C.utf8`) copied from `[build] locales`'s
    /// package into /usr/lib/locale, without installing the package.
    #[serde(default)]
    pub locales: Vec<String>,
    /// A Java trust store made from the image's CA bundle.
    #[serde(default)]
    pub java_keystore: Option<KeystoreSpec>,
    /// Alternatives chosen by hand (dpkg's manual mode): name → the path
    /// of one of the choices the image's packages register.
    #[serde(default)]
    pub alternatives: BTreeMap<String, String>,
    /// What a package's maintainer scripts would do and the build does
    /// not, acknowledged with the reason it does not matter.
    #[serde(default)]
    pub scripts_ignored: Vec<Exclude>,
}

/// `java_keystore = { path = "/etc/ssl/certs/java/cacerts", password = "changeit" }`:
/// a JKS of every certificate in the CA bundle, as trusted-cert entries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeystoreSpec {
    pub path: String,
    /// The store password, which only seals the file's integrity (a
    /// trust store holds no secrets); Java's default is `changeit`.
    pub password: String,
}

fn yes() -> bool {
    true
}

/// An image's settings after inheritance: what it adds to the image
/// config and the generated layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSettings {
    pub env: BTreeMap<String, String>,
    pub entrypoint: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub symlinks: BTreeMap<String, String>,
    pub ld_so_cache: bool,
    pub locales: Vec<String>,
    pub java_keystore: Option<KeystoreSpec>,
    pub alternatives: BTreeMap<String, String>,
    /// Package → why its scripts' unapplied actions do not matter.
    pub scripts_ignored: BTreeMap<String, String>,
}

/// The image's settings: its ancestors' with its own laid over them.
pub(crate) fn settings(
    images: &BTreeMap<String, ImageSpec>,
    image: &str,
) -> Result<ImageSettings, DefinitionError> {
    let mut out = ImageSettings::default();
    for name in chain(images, image)? {
        let s = &images[name];
        out.env.extend(s.env.clone());
        out.annotations.extend(s.annotations.clone());
        out.labels.extend(s.labels.clone());
        out.symlinks.extend(s.symlinks.clone());
        if let Some(e) = &s.entrypoint {
            out.entrypoint = e.clone();
        }
        if let Some(c) = s.ld_so_cache {
            out.ld_so_cache = c;
        }
        for l in &s.locales {
            if !out.locales.contains(l) {
                out.locales.push(l.clone());
            }
        }
        if let Some(k) = &s.java_keystore {
            out.java_keystore = Some(k.clone());
        }
        out.alternatives.extend(s.alternatives.clone());
        for i in &s.scripts_ignored {
            out.scripts_ignored
                .insert(i.package.clone(), i.reason.clone());
        }
    }
    Ok(out)
}

/// `image` and its ancestors, root-most first.
fn chain<'a>(
    images: &'a BTreeMap<String, ImageSpec>,
    image: &'a str,
) -> Result<Vec<&'a str>, DefinitionError> {
    let mut cur = images
        .get(image)
        .ok_or_else(|| DefinitionError::Invalid(image.to_owned(), "no such image".into()))?;
    let mut chain = vec![image];
    while let Some(parent) = &cur.extends {
        if chain.contains(&parent.as_str()) {
            return Err(DefinitionError::Invalid(
                image.to_owned(),
                format!("extends itself through {parent}"),
            ));
        }
        chain.push(parent);
        cur = &images[parent];
    }
    chain.reverse();
    Ok(chain)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistroPart {
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<Exclude>,
    /// Architectures on this distro, in place of the image's own (a
    /// distro whose archive serves fewer of them).
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclude {
    /// A package or virtual name.
    pub package: String,
    /// Why it is left out; kept in `why` answers.
    pub reason: String,
}

/// What to resolve for one image on one distro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    pub roots: Vec<String>,
    /// What the debug tags add to `roots`.
    pub debug_roots: Vec<String>,
    /// Upstream artifacts, its ancestors' first.
    pub artifacts: Vec<String>,
    pub excludes: BTreeMap<String, String>,
    pub architectures: Vec<String>,
}

/// An image definition that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DefinitionError {
    #[error("image {0}: {1}")]
    Invalid(String, String),
}

/// Checks what serde cannot: every `extends` names an image, every
/// artifact one of `artifacts`.
pub(crate) fn check_images<A>(
    out: &BTreeMap<String, ImageSpec>,
    artifacts: &BTreeMap<String, A>,
) -> Result<(), DefinitionError> {
    for (name, spec) in out {
        if let Some(a) = spec.artifacts.iter().find(|a| !artifacts.contains_key(*a)) {
            return Err(DefinitionError::Invalid(
                name.clone(),
                format!("uses unknown artifact {a:?} (not in [artifacts])"),
            ));
        }
        if let Some(parent) = &spec.extends
            && !out.contains_key(parent)
        {
            return Err(DefinitionError::Invalid(
                name.clone(),
                format!("extends unknown image {parent:?}"),
            ));
        }
    }
    Ok(())
}

/// The plan for `image` on `distro` (whose architectures are given), or
/// `None` when the image is not built for that distro.
pub(crate) fn plan(
    images: &BTreeMap<String, ImageSpec>,
    image: &str,
    distro: &str,
    distro_archs: &[String],
) -> Result<Option<ImagePlan>, DefinitionError> {
    let spec = images
        .get(image)
        .ok_or_else(|| DefinitionError::Invalid(image.to_owned(), "no such image".into()))?;
    if !spec.publish
        || spec
            .distros
            .as_ref()
            .is_some_and(|d| !d.iter().any(|x| x == distro))
    {
        return Ok(None);
    }
    let chain = chain(images, image)?;
    // The nearest definition up the chain, the distro's part first: a
    // runtime family's build base names its architectures once.
    let inherited = chain.iter().rev().find_map(|n| {
        let s = &images[*n];
        s.distro
            .get(distro)
            .and_then(|p| p.architectures.as_ref())
            .or(s.architectures.as_ref())
    });
    let mut roots: Vec<String> = Vec::new();
    let mut seen_roots: BTreeSet<String> = BTreeSet::new();
    let mut debug_roots: Vec<String> = Vec::new();
    let mut artifacts: Vec<String> = Vec::new();
    let mut excludes: BTreeMap<String, String> = BTreeMap::new();
    for name in &chain {
        let s = &images[*name];
        let part = s.distro.get(distro).cloned().unwrap_or_default();
        let own: Vec<&String> = s.packages.iter().chain(&part.packages).collect();
        let named = own
            .iter()
            .copied()
            .chain(s.debug_packages.iter())
            .chain(s.exclude.iter().chain(&part.exclude).map(|e| &e.package));
        for n in named {
            if !distill_debian::is_package_name(n) {
                return Err(DefinitionError::Invalid(
                    (*name).to_owned(),
                    format!("{n:?} is not a Debian package name"),
                ));
            }
        }
        let own_set: BTreeSet<&str> = own.iter().map(|r| r.as_str()).collect();
        for r in &own {
            excludes.remove(r.as_str());
        }
        for e in s.exclude.iter().chain(&part.exclude) {
            if own_set.contains(e.package.as_str()) {
                return Err(DefinitionError::Invalid(
                    (*name).to_owned(),
                    format!("{} is both a package and excluded", e.package),
                ));
            }
            excludes.insert(e.package.clone(), e.reason.clone());
        }
        // In order, each once: a set beside the list keeps this linear
        // in the number of packages (80k names used to take 42 s).
        for r in own {
            if seen_roots.insert(r.clone()) {
                roots.push(r.clone());
            }
        }
        for a in &s.artifacts {
            if !artifacts.contains(a) {
                artifacts.push(a.clone());
            }
        }
        for d in &s.debug_packages {
            if !debug_roots.contains(d) {
                debug_roots.push(d.clone());
            }
        }
    }
    let architectures = match inherited {
        Some(a) => {
            if let Some(bad) = a.iter().find(|x| !distro_archs.contains(x)) {
                return Err(DefinitionError::Invalid(
                    image.to_owned(),
                    format!("architecture {bad} is not one of distro {distro}'s"),
                ));
            }
            a.clone()
        }
        None => distro_archs.to_vec(),
    };
    Ok(Some(ImagePlan {
        roots,
        debug_roots,
        artifacts,
        excludes,
        architectures,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_images(text: &str) -> Result<BTreeMap<String, ImageSpec>, DefinitionError> {
        let images: BTreeMap<String, ImageSpec> = toml::from_str(text)
            .map_err(|e| DefinitionError::Invalid("?".into(), e.message().to_owned()))?;
        let artifacts: BTreeMap<String, ()> = [("node".to_owned(), ())].into();
        check_images(&images, &artifacts)?;
        Ok(images)
    }

    fn images(text: &str) -> BTreeMap<String, ImageSpec> {
        parse_images(text).unwrap()
    }

    const TOML: &str = r#"
        [static]
        packages = ["base-files", "tzdata"]
        exclude = [{ package = "debconf", reason = "maintainer scripts only" }]
        [static.distro.debian13]
        packages = ["tzdata-legacy"]

        [base]
        extends = "static"
        packages = ["libc6"]
        exclude = [{ package = "libgcc-s1", reason = "only from cc up" }]

        [cc]
        extends = "base"
        packages = ["libgcc-s1"]

        [py]
        extends = "cc"
        distros = ["debian13"]
        architectures = ["amd64"]
        packages = ["python3.13-minimal"]
    "#;

    #[test]
    fn inheritance_and_lifted_excludes() {
        let imgs = images(TOML);
        let archs = vec!["amd64".to_owned(), "arm64".to_owned()];
        let base = plan(&imgs, "base", "debian12", &archs).unwrap().unwrap();
        assert_eq!(base.roots, ["base-files", "tzdata", "libc6"]);
        assert_eq!(
            base.excludes.keys().collect::<Vec<_>>(),
            ["debconf", "libgcc-s1"]
        );
        let cc = plan(&imgs, "cc", "debian13", &archs).unwrap().unwrap();
        assert_eq!(
            cc.roots,
            [
                "base-files",
                "tzdata",
                "tzdata-legacy",
                "libc6",
                "libgcc-s1"
            ]
        );
        assert_eq!(cc.excludes.keys().collect::<Vec<_>>(), ["debconf"]);
        assert_eq!(cc.architectures, archs);
        assert!(plan(&imgs, "py", "debian12", &archs).unwrap().is_none());
        assert_eq!(
            plan(&imgs, "py", "debian13", &archs)
                .unwrap()
                .unwrap()
                .architectures,
            ["amd64"]
        );
    }

    #[test]
    fn artifacts_are_inherited_and_must_exist() {
        let imgs = images(
            "[cc]\npackages = [\"libc6\"]\n[js]\nextends = \"cc\"\nartifacts = [\"node\"]\n\
             [js2]\nextends = \"js\"\nartifacts = [\"node\"]\n",
        );
        let archs = vec!["amd64".to_owned()];
        let js2 = plan(&imgs, "js2", "d", &archs).unwrap().unwrap();
        assert_eq!(js2.artifacts, ["node"], "listed once");
        assert!(
            plan(&imgs, "cc", "d", &archs)
                .unwrap()
                .unwrap()
                .artifacts
                .is_empty()
        );
        let e = parse_images("[js]\nartifacts = [\"nodejs\"]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "image js: uses unknown artifact \"nodejs\" (not in [artifacts])"
        );
    }

    #[test]
    fn build_bases_debug_packages_and_inherited_architectures() {
        let imgs = images(
            "[base]\npackages = [\"libc6\"]\n\
             [jbuild]\npublish = false\nextends = \"base\"\narchitectures = [\"arm64\"]\n\
             locales = [\"C.utf8\"]\npackages = [\"zlib1g\"]\n\
             [java]\nextends = \"jbuild\"\npackages = [\"jre\"]\ndebug_packages = [\"jdk\"]\n\
             java_keystore = { path = \"/etc/ssl/certs/java/cacerts\", password = \"changeit\" }\n",
        );
        let archs = vec!["amd64".to_owned(), "arm64".to_owned()];
        // The build base is neither locked nor built; its children are.
        assert!(plan(&imgs, "jbuild", "d", &archs).unwrap().is_none());
        let java = plan(&imgs, "java", "d", &archs).unwrap().unwrap();
        assert_eq!(java.roots, ["libc6", "zlib1g", "jre"]);
        assert_eq!(java.debug_roots, ["jdk"]);
        assert_eq!(java.architectures, ["arm64"], "inherited from the base");
        // A distro's part names its own architectures, for its children too.
        let per_distro = images(
            "[jbuild]\npublish = false\narchitectures = [\"amd64\", \"s390x\"]\n\
             [jbuild.distro.e]\narchitectures = [\"amd64\"]\n\
             [java]\nextends = \"jbuild\"\n",
        );
        let three = vec!["amd64".to_owned(), "arm64".to_owned(), "s390x".to_owned()];
        let on = |d: &str, a: &[String]| {
            plan(&per_distro, "java", d, a)
                .unwrap()
                .unwrap()
                .architectures
        };
        assert_eq!(on("d", &three), ["amd64", "s390x"]);
        assert_eq!(on("e", &archs), ["amd64"]);
        assert!(
            plan(&imgs, "base", "d", &archs)
                .unwrap()
                .unwrap()
                .debug_roots
                .is_empty()
        );
        let s = settings(&imgs, "java").unwrap();
        assert_eq!(s.locales, ["C.utf8"]);
        assert_eq!(
            s.java_keystore,
            Some(KeystoreSpec {
                path: "/etc/ssl/certs/java/cacerts".into(),
                password: "changeit".into()
            })
        );
        assert!(settings(&imgs, "base").unwrap().java_keystore.is_none());
    }

    #[test]
    fn errors() {
        let t = parse_images;
        assert!(
            t("[a]\nextends = \"nope\"")
                .unwrap_err()
                .to_string()
                .contains("extends unknown image \"nope\"")
        );
        assert!(t("[a]\npackagez = []").is_err());
        let imgs = images("[a]\nextends = \"b\"\n[b]\nextends = \"a\"");
        assert!(
            plan(&imgs, "a", "d", &[])
                .unwrap_err()
                .to_string()
                .contains("extends itself")
        );
        let imgs =
            images("[a]\npackages = [\"x\"]\nexclude = [{ package = \"x\", reason = \"r\" }]");
        assert!(plan(&imgs, "a", "d", &[]).is_err());
        let imgs = images("[a]\narchitectures = [\"mips\"]");
        assert!(
            plan(&imgs, "a", "d", &["amd64".into()])
                .unwrap_err()
                .to_string()
                .contains("mips")
        );
    }
}
