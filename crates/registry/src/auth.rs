//! Credentials and the registry auth handshake.
//!
//! Credentials come from a docker config file (`$DOCKER_CONFIG/config.json`
//! or `~/.docker/config.json`): `auths.<registry>.auth` (base64
//! `user:password`), or a credential helper (`credHelpers.<registry>`, else
//! `credsStore`) run as `docker-credential-<name> get`. They are never
//! printed: [`Credentials`]'s Debug hides the password.
//!
//! A registry answers 401 with `WWW-Authenticate`: `Basic realm=…` (send
//! the credentials) or `Bearer realm=…,service=…,scope=…` (trade them, or
//! nothing, for a token at the realm).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::RegistryError;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}:***)", self.username)
    }
}

impl Credentials {
    /// `Basic <base64(user:password)>`.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The docker config file to read: `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(Path::new(&dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker/config.json"))
}

/// The credentials a docker config holds for `registry`, if any. A missing
/// file means none; a file that cannot be parsed is an error.
pub fn lookup(config: Option<&Path>, registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let Some(path) = config else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RegistryError::Config(format!("{}: {e}", path.display()))),
    };
    let bad = |why: String| RegistryError::Config(format!("{}: {why}", path.display()));
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct DockerConfig {
        #[serde(default)]
        auths: BTreeMap<String, AuthEntry>,
        #[serde(default)]
        cred_helpers: BTreeMap<String, String>,
        #[serde(default)]
        creds_store: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct AuthEntry {
        #[serde(default)]
        auth: Option<String>,
    }
    let doc: DockerConfig = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    // Docker Hub is keyed by its legacy URL in configs.
    let keys = registry_keys(registry);
    if let Some(helper) = keys.iter().find_map(|k| doc.cred_helpers.get(k)) {
        return helper_get(helper, registry);
    }
    for key in &keys {
        if let Some(auth) = doc.auths.get(key).and_then(|a| a.auth.as_deref()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad(format!("auths.{key}.auth is not base64")))?;
            let raw = String::from_utf8(raw)
                .map_err(|_| bad(format!("auths.{key}.auth is not UTF-8")))?;
            let (username, password) = raw
                .split_once(':')
                .ok_or_else(|| bad(format!("auths.{key}.auth is not user:password")))?;
            return Ok(Some(Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
            }));
        }
    }
    match &doc.creds_store {
        Some(store) => helper_get(store, registry),
        None => Ok(None),
    }
}

fn registry_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    if registry == "index.docker.io" {
        keys.push("https://index.docker.io/v1/".into());
        keys.push("docker.io".into());
    }
    keys
}

/// `docker-credential-<helper> get`, the registry on stdin, JSON out.
fn helper_get(helper: &str, registry: &str) -> Result<Option<Credentials>, RegistryError> {
    use std::io::Write;
    let program = format!("docker-credential-{helper}");
    let fail = |why: String| RegistryError::Config(format!("{program} get: {why}"));
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(registry.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout);
        // Helpers say so when they have nothing for this registry.
        if msg.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("exit {}", out.status.code().unwrap_or(-1))));
    }
    #[derive(serde::Deserialize)]
    struct HelperOut {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let h: HelperOut = serde_json::from_slice(&out.stdout).map_err(|e| fail(e.to_string()))?;
    Ok(Some(Credentials {
        username: h.username,
        password: h.secret,
    }))
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let mut map = BTreeMap::new();
        // key="value" pairs; values may contain commas (scopes do).
        let mut rest = params.trim();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let after = after.trim_start();
            let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            map.insert(key.trim().to_ascii_lowercase(), value.to_owned());
            rest = next.trim_start_matches([',', ' ']);
        }
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: map.remove("realm")?,
                service: map.remove("service"),
                scope: map.remove("scope"),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            Challenge::parse("Basic realm=\"Registry Realm\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                "Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\""
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn docker_config_auths_and_secrets_stay_hidden() {
        let dir = std::env::temp_dir().join(format!("distill-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(
            &path,
            format!(r#"{{"auths": {{"127.0.0.1:5000": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
        let c = lookup(Some(&path), "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password, "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(lookup(Some(&path), "other:1").unwrap(), None);
        assert_eq!(lookup(Some(&dir.join("none.json")), "x").unwrap(), None);
        std::fs::write(&path, "{").unwrap();
        assert!(lookup(Some(&path), "x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
