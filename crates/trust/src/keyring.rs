use std::path::Path;

use openpgp::Cert;
use openpgp::cert::CertParser;
use openpgp::parse::Parse;
use sequoia_openpgp as openpgp;

use crate::TrustError;

/// The public keys from Debian's `debian-archive-keyring` package
/// (2023.3+deb12u2: bullseye, bookworm and trixie; archive, security and
/// stable release keys). See `keyrings/debian/README.md`.
const DEBIAN_KEYS: &[(&str, &[u8])] = &[
    (
        "debian-archive-bullseye-automatic",
        include_bytes!("../../../keyrings/debian/debian-archive-bullseye-automatic.asc"),
    ),
    (
        "debian-archive-bullseye-security-automatic",
        include_bytes!("../../../keyrings/debian/debian-archive-bullseye-security-automatic.asc"),
    ),
    (
        "debian-archive-bullseye-stable",
        include_bytes!("../../../keyrings/debian/debian-archive-bullseye-stable.asc"),
    ),
    (
        "debian-archive-bookworm-automatic",
        include_bytes!("../../../keyrings/debian/debian-archive-bookworm-automatic.asc"),
    ),
    (
        "debian-archive-bookworm-security-automatic",
        include_bytes!("../../../keyrings/debian/debian-archive-bookworm-security-automatic.asc"),
    ),
    (
        "debian-archive-bookworm-stable",
        include_bytes!("../../../keyrings/debian/debian-archive-bookworm-stable.asc"),
    ),
    (
        "debian-archive-trixie-automatic",
        include_bytes!("../../../keyrings/debian/debian-archive-trixie-automatic.asc"),
    ),
    (
        "debian-archive-trixie-security-automatic",
        include_bytes!("../../../keyrings/debian/debian-archive-trixie-security-automatic.asc"),
    ),
    (
        "debian-archive-trixie-stable",
        include_bytes!("../../../keyrings/debian/debian-archive-trixie-stable.asc"),
    ),
];

/// A set of trusted certificates. Only public keys are kept.
#[derive(Debug, Clone)]
pub struct Keyring {
    certs: Vec<Cert>,
}

/// The largest keyring file read.
pub(crate) const MAX_KEYRING: u64 = 16 << 20;

impl Keyring {
    /// Debian's archive keyring, built into the binary.
    pub fn debian() -> Keyring {
        let mut certs = Vec::new();
        for (name, bytes) in DEBIAN_KEYS {
            // The files are part of the source tree and covered by a unit
            // test, so a parse failure here is a build defect, not input.
            let ring = Keyring::from_bytes(bytes, name).expect("built-in Debian keyring parses");
            certs.extend(ring.certs);
        }
        Keyring { certs }
    }

    /// Parses one or more certificates, armored or binary, concatenated
    /// (as `/usr/share/keyrings/*.gpg` files are).
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Keyring, TrustError> {
        let err = |source| TrustError::Keyring {
            origin: origin.to_owned(),
            source,
        };
        let parser = CertParser::from_bytes(bytes).map_err(err)?;
        let certs = parser
            .map(|c| c.map(|c| c.strip_secret_key_material()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        if certs.is_empty() {
            return Err(TrustError::NoCertificates {
                origin: origin.to_owned(),
            });
        }
        Ok(Keyring { certs })
    }

    pub fn load(path: &Path) -> Result<Keyring, TrustError> {
        let origin = path.display().to_string();
        // Debian's keyring is 30 KB; a bound keeps `--keyring /dev/zero`
        // one error instead of a runaway read.
        let bytes = distill_store::read_bounded(path, MAX_KEYRING).map_err(|source| {
            TrustError::KeyringFile {
                origin: origin.clone(),
                source,
            }
        })?;
        Keyring::from_bytes(&bytes, &origin)
    }

    pub fn certs(&self) -> &[Cert] {
        &self.certs
    }

    /// Primary key fingerprints, upper-case hex, sorted.
    pub fn fingerprints(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .certs
            .iter()
            .map(|c| c.fingerprint().to_hex())
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_debian_keyring_has_nine_certs() {
        let ring = Keyring::debian();
        assert_eq!(ring.certs().len(), 9);
        // bookworm archive automatic signing key, as published by Debian.
        assert!(
            ring.fingerprints()
                .contains(&"B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8".to_owned())
        );
    }

    /// The Node.js release keys shipped for `node-dist` artifact feeds
    /// parse, and are exactly the ones keyrings/nodejs/README.md lists as
    /// included.
    #[test]
    fn shipped_nodejs_release_keys() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keyrings/nodejs");
        let ring = Keyring::load(&dir.join("release-keys.asc")).unwrap();
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        let included = readme.split("Included:").nth(1).unwrap();
        let included = included.split("\n\n").nth(1).unwrap();
        let mut listed: Vec<String> = included
            .lines()
            .filter_map(|l| l.strip_prefix("| ")?.split(' ').next())
            .filter(|f| f.len() == 40)
            .map(str::to_owned)
            .collect();
        listed.sort();
        assert_eq!(listed.len(), 3, "{included}");
        assert_eq!(ring.fingerprints(), listed);
    }

    #[test]
    fn garbage_is_an_error() {
        // Sequoia's own error is kept as the cause, not flattened.
        let e = Keyring::from_bytes(b"not a key", "test").unwrap_err();
        assert_eq!(e.to_string(), "cannot read keyring test");
        assert!(std::error::Error::source(&e).is_some(), "{e:?}");
        let e = Keyring::from_bytes(b"", "empty").unwrap_err();
        assert!(
            e.to_string().starts_with("cannot read keyring empty"),
            "{e}"
        );
    }
}
