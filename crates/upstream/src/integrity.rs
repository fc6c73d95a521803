//! Subresource-integrity strings as the npm registry gives them:
//! `sha512-<base64 of the digest>`.

use std::fmt;

use base64::Engine;
use sha2::{Digest, Sha512};

use crate::UpstreamError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integrity {
    sha512: [u8; 64],
}

impl Integrity {
    pub fn parse(s: &str) -> Result<Integrity, UpstreamError> {
        let bad = || UpstreamError::Integrity(s.to_owned());
        let b64 = s.strip_prefix("sha512-").ok_or_else(bad)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad())?;
        let sha512 = bytes.try_into().map_err(|_| bad())?;
        Ok(Integrity { sha512 })
    }

    /// The SHA-512 digest.
    pub fn sha512(&self) -> &[u8; 64] {
        &self.sha512
    }

    /// Whether `bytes` have this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Sha512::digest(bytes).as_slice() == self.sha512
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.sha512);
        write!(f, "sha512-{b64}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_checks_and_round_trips() {
        let digest = Sha512::digest(b"node");
        let s = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        let i = Integrity::parse(&s).unwrap();
        assert!(i.matches(b"node"));
        assert!(!i.matches(b"nodf"));
        assert_eq!(i.to_string(), s);
        for bad in ["sha1-abc", "sha512-!!", "sha512-AAAA", ""] {
            assert!(Integrity::parse(bad).is_err(), "{bad}");
        }
    }
}
