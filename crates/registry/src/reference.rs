//! Image references as docker and crane spell them:
//! `[registry[:port]/]repository[:tag][@sha256:…]`. A first component
//! without a dot, a colon or `localhost` is a Docker Hub repository.

use std::fmt;

use crate::RegistryError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`; Docker Hub is `index.docker.io`.
    pub registry: String,
    pub repository: String,
    /// A tag or a `sha256:` digest; `None` when only a repository is named
    /// (a push prefix).
    pub reference: Option<String>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, RegistryError> {
        let bad = |why: &str| RegistryError::Reference(format!("{s:?}: {why}"));
        if s.is_empty() || s.contains("://") {
            return Err(bad("expected [registry/]repository[:tag|@digest]"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or_else(|| bad("digest is not sha256:"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad("digest is not 64 hex digits"));
                }
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // A tag is after the last colon that comes after the last slash.
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_owned())),
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), path.to_owned())
            }
            _ => {
                let path = if name.contains('/') {
                    name.to_owned()
                } else {
                    format!("library/{name}")
                };
                ("index.docker.io".to_owned(), path)
            }
        };
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c);
        if repository.is_empty() || !repository.chars().all(valid) {
            return Err(bad(
                "repository must be lower-case letters, digits, . _ - /",
            ));
        }
        if let Some(t) = &tag
            && (t.is_empty()
                || t.len() > 128
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            return Err(bad("invalid tag"));
        }
        Ok(Reference {
            registry,
            repository,
            reference: digest.or(tag),
        })
    }

    /// The same repository with another tag or digest.
    pub fn with(&self, reference: &str) -> Reference {
        Reference {
            reference: Some(reference.to_owned()),
            ..self.clone()
        }
    }

    /// A repository below this one (`prefix/name`).
    pub fn child(&self, name: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: format!("{}/{name}", self.repository),
            reference: None,
        }
    }

    /// Whether the registry is this machine, where plain http is allowed.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

/// Whether `host[:port]` is this machine (`localhost`, `127.*`, `[::1]`).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match &self.reference {
            Some(r) if r.starts_with("sha256:") => write!(f, "@{r}"),
            Some(r) => write!(f, ":{r}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_docker_does() {
        let r = Reference::parse("127.0.0.1:5000/distroless/base-debian12:nonroot").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "distroless/base-debian12");
        assert_eq!(r.reference.as_deref(), Some("nonroot"));
        assert!(r.is_loopback());
        assert_eq!(
            r.to_string(),
            "127.0.0.1:5000/distroless/base-debian12:nonroot"
        );
        let hub = Reference::parse("alpine").unwrap();
        assert_eq!(
            (hub.registry.as_str(), hub.repository.as_str()),
            ("index.docker.io", "library/alpine")
        );
        let d = format!("ghcr.io/o/r@sha256:{}", "a".repeat(64));
        let r = Reference::parse(&d).unwrap();
        assert_eq!(r.to_string(), d);
        assert!(!r.is_loopback());
        let prefix = Reference::parse("localhost:5000/distroless").unwrap();
        assert_eq!(prefix.reference, None);
        assert_eq!(
            prefix.child("static-debian12").with("latest").to_string(),
            "localhost:5000/distroless/static-debian12:latest"
        );
        for bad in ["", "https://x/y", "x/Y", "x@sha256:12", "x:"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
