//! The distribution API over reqwest: blobs (HEAD, cross-repository mount,
//! monolithic or chunked upload), manifests (PUT, GET) and the referrers
//! API, with auth (anonymous, Basic, Bearer tokens) and retries on 5xx,
//! 429 and broken connections.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::RegistryError;
use crate::auth::{Challenge, Credentials, lookup};

/// Blobs up to this size go in one PUT; larger ones in PATCH chunks of it.
pub const CHUNK: u64 = 16 << 20;

/// How a blob got into a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// It was there already.
    Present,
    /// Mounted from another repository of the registry.
    Mounted,
    /// Uploaded.
    Uploaded,
}

pub struct Client {
    http: reqwest::Client,
    plain_http: bool,
    docker_config: Option<PathBuf>,
    attempts: u32,
    base_delay: Duration,
    creds: Mutex<BTreeMap<String, Option<Credentials>>>,
    /// (registry, scope) → the `Authorization` value that worked.
    auth: Mutex<BTreeMap<(String, String), String>>,
}

static CRYPTO: Once = Once::new();

impl Client {
    /// `docker_config`: where credentials are looked up; `plain_http`:
    /// use http for every registry (loopback registries always are).
    pub fn new(docker_config: Option<PathBuf>, plain_http: bool) -> Result<Client, RegistryError> {
        CRYPTO.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let http = reqwest::Client::builder()
            .user_agent(concat!("distill/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| RegistryError::Http {
                url: "(client setup)".into(),
                cause: e.to_string(),
            })?;
        Ok(Client {
            http,
            plain_http,
            docker_config,
            attempts: 4,
            base_delay: Duration::from_millis(300),
            creds: Mutex::new(BTreeMap::new()),
            auth: Mutex::new(BTreeMap::new()),
        })
    }

    /// First retry backoff (doubled per retry).
    pub fn with_retry_base(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    fn base(&self, registry: &str) -> String {
        let loopback = crate::Reference {
            registry: registry.to_owned(),
            repository: "x".into(),
            reference: None,
        }
        .is_loopback();
        let scheme = if self.plain_http || loopback {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{registry}")
    }

    /// Whether `repo` has blob `digest`.
    pub async fn blob_exists(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base(registry));
        let resp = self
            .send(
                registry,
                &push_scope(repo, None),
                Method::HEAD,
                &url,
                &[],
                Body::Empty,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(status_error(&format!("HEAD {url}"), s, resp).await),
        }
    }

    /// Puts blob `digest` (the file at `path`, `size` bytes) into `repo`:
    /// nothing if it is there, a mount from `from` (another repository of
    /// the registry) if given and honoured, else an upload.
    pub async fn put_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
        path: &Path,
        size: u64,
        from: Option<&str>,
    ) -> Result<Placed, RegistryError> {
        if self.blob_exists(registry, repo, digest).await? {
            return Ok(Placed::Present);
        }
        let scope = push_scope(repo, from);
        let base = self.base(registry);
        let start = match from {
            Some(from) => format!("{base}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"),
            None => format!("{base}/v2/{repo}/blobs/uploads/"),
        };
        let resp = self
            .send(registry, &scope, Method::POST, &start, &[], Body::Empty)
            .await?;
        match resp.status() {
            StatusCode::CREATED if from.is_some() => return Ok(Placed::Mounted),
            StatusCode::ACCEPTED => {}
            s => return Err(status_error(&format!("POST {start}"), s, resp).await),
        }
        let mut location = location(&base, &resp)?;
        let what = path.display().to_string();
        let io = |e: std::io::Error| RegistryError::Io {
            path: what.clone(),
            cause: e.to_string(),
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let on_disk = file.metadata().map_err(io)?.len();
        if on_disk != size {
            return Err(RegistryError::Digest {
                what: what.clone(),
                expected: format!("{digest} ({size} bytes)"),
                actual: format!("{on_disk} bytes"),
            });
        }
        // Large blobs go in chunks read one at a time (each PATCH is small
        // enough to retry, and memory stays at one chunk per upload); the
        // bytes are hashed as they go, and the upload is only committed
        // below if they have the digest.
        let chunked = size > CHUNK;
        let mut hasher = Sha256::new();
        let mut data = Vec::new();
        let mut offset = 0u64;
        while offset < size {
            let len = if chunked {
                CHUNK.min(size - offset)
            } else {
                size
            };
            data.resize(len as usize, 0);
            file.read_exact(&mut data).map_err(io)?;
            hasher.update(&data);
            if !chunked {
                break;
            }
            let range = format!("{offset}-{}", offset + len - 1);
            let headers = [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_RANGE, range),
            ];
            let resp = self
                .send(
                    registry,
                    &scope,
                    Method::PATCH,
                    &location,
                    &headers,
                    Body::Bytes(&data),
                )
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                let s = resp.status();
                return Err(status_error(&format!("PATCH {location}"), s, resp).await);
            }
            location = location_of(&base, &resp)?.unwrap_or(location);
            offset += len;
        }
        expect_digest(&what, digest, prefixed(hasher))?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let body = if chunked {
            Body::Empty
        } else {
            Body::Bytes(&data)
        };
        let headers = [(header::CONTENT_TYPE, "application/octet-stream".to_owned())];
        let resp = self
            .send(registry, &scope, Method::PUT, &put, &headers, body)
            .await?;
        if resp.status() != StatusCode::CREATED {
            let s = resp.status();
            return Err(status_error(&format!("PUT {put}"), s, resp).await);
        }
        check_digest_header(&resp, digest, &put)?;
        Ok(Placed::Uploaded)
    }

    /// Puts blob `digest` into `repo` without sending its bytes: true when
    /// the repository has it or the registry mounted it from `from`.
    pub async fn mount_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
        from: &str,
    ) -> Result<bool, RegistryError> {
        if self.blob_exists(registry, repo, digest).await? {
            return Ok(true);
        }
        let url = format!(
            "{}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}",
            self.base(registry)
        );
        let resp = self
            .send(
                registry,
                &push_scope(repo, Some(from)),
                Method::POST,
                &url,
                &[],
                Body::Empty,
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => Ok(false),
            s => Err(status_error(&format!("POST {url}"), s, resp).await),
        }
    }

    /// PUTs a manifest or index under `reference` (its digest or a tag);
    /// returns the digest the registry confirmed.
    pub async fn put_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base(registry));
        let digest = digest_of(bytes);
        let headers = [(header::CONTENT_TYPE, media_type.to_owned())];
        let resp = self
            .send(
                registry,
                &push_scope(repo, None),
                Method::PUT,
                &url,
                &headers,
                Body::Bytes(bytes),
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            let s = resp.status();
            return Err(status_error(&format!("PUT {url}"), s, resp).await);
        }
        check_digest_header(&resp, &digest, &url)?;
        Ok(digest)
    }

    /// A manifest or index by tag or digest: (media type, bytes), or `None`
    /// when the registry has no such reference. A digest reference is
    /// checked against the bytes.
    pub async fn get_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
    ) -> Result<Option<(String, Vec<u8>)>, RegistryError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base(registry));
        let accept = [(
            header::ACCEPT,
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.list.v2+json, \
             application/vnd.docker.distribution.manifest.v2+json"
                .to_owned(),
        )];
        let resp = self
            .send(
                registry,
                &pull_scope(repo),
                Method::GET,
                &url,
                &accept,
                Body::Empty,
            )
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let media_type = resp
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| http_error(&url, &e))?
                    .to_vec();
                if reference.starts_with("sha256:") {
                    check_digest(&url, reference, &bytes)?;
                }
                Ok(Some((media_type, bytes)))
            }
            s => Err(status_error(&format!("GET {url}"), s, resp).await),
        }
    }

    /// Blob `digest` of `repo`, checked against its digest.
    pub async fn get_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base(registry));
        let resp = self
            .send(
                registry,
                &pull_scope(repo),
                Method::GET,
                &url,
                &[],
                Body::Empty,
            )
            .await?;
        if !resp.status().is_success() {
            let s = resp.status();
            return Err(status_error(&format!("GET {url}"), s, resp).await);
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| http_error(&url, &e))?
            .to_vec();
        check_digest(&url, digest, &bytes)?;
        Ok(bytes)
    }

    /// Whether the registry serves the OCI 1.1 referrers API.
    pub async fn has_referrers_api(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/{repo}/referrers/{digest}", self.base(registry));
        let resp = self
            .send(
                registry,
                &pull_scope(repo),
                Method::GET,
                &url,
                &[],
                Body::Empty,
            )
            .await?;
        let is_index = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/vnd.oci.image.index.v1+json"));
        Ok(resp.status().is_success() && is_index)
    }

    /// One request with auth and retries: a 401 is answered once with
    /// the challenge's credentials or token; 5xx, 429 (honouring
    /// `Retry-After`) and broken connections are retried with backoff.
    async fn send(
        &self,
        registry: &str,
        scope: &str,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, String)],
        body: Body<'_>,
    ) -> Result<reqwest::Response, RegistryError> {
        let key = (registry.to_owned(), scope.to_owned());
        let mut authorized_once = false;
        let mut delay = self.base_delay;
        let mut tries = 0;
        loop {
            tries += 1;
            let mut req = self.http.request(method.clone(), url);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            if let Some(a) = self.auth.lock().expect("lock").get(&key) {
                req = req.header(header::AUTHORIZATION, a);
            }
            req = match body {
                Body::Empty => req.header(header::CONTENT_LENGTH, "0"),
                Body::Bytes(b) => req.body(b.to_vec()),
            };
            let result = req.send().await;
            let transient = match &result {
                Err(e) => !e.is_builder(),
                Ok(r) => {
                    r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS
                }
            };
            if transient && tries < self.attempts {
                let wait = result
                    .as_ref()
                    .ok()
                    .and_then(|r| r.headers().get(header::RETRY_AFTER))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or(delay, |s| Duration::from_secs(s.min(30)));
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(Duration::from_secs(30));
                continue;
            }
            let resp = result.map_err(|e| http_error(url, &e))?;
            if resp.status() != StatusCode::UNAUTHORIZED || authorized_once {
                return Ok(resp);
            }
            authorized_once = true;
            let challenge = resp
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse);
            let value = match challenge {
                Some(Challenge::Basic) => match self.credentials(registry)? {
                    Some(c) => c.basic(),
                    None => return Ok(resp),
                },
                Some(Challenge::Bearer { realm, service, .. }) => {
                    self.token(registry, &realm, service.as_deref(), scope)
                        .await?
                }
                None => return Ok(resp),
            };
            self.auth.lock().expect("lock").insert(key.clone(), value);
        }
    }

    fn credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        let mut cache = self.creds.lock().expect("lock");
        if let Some(c) = cache.get(registry) {
            return Ok(c.clone());
        }
        let c = lookup(self.docker_config.as_deref(), registry)?;
        cache.insert(registry.to_owned(), c.clone());
        Ok(c)
    }

    /// A Bearer token from the challenge's realm for `scope`, with Basic
    /// credentials when the docker config has some (anonymous otherwise).
    async fn token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let mut url =
            reqwest::Url::parse(realm).map_err(|e| http_error_msg(realm, &e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scope.split(' ') {
                q.append_pair("scope", s);
            }
        }
        let mut req = self.http.get(url.clone());
        if let Some(c) = self.credentials(registry)? {
            req = req.header(header::AUTHORIZATION, c.basic());
        }
        let resp = req.send().await.map_err(|e| http_error(realm, &e))?;
        if !resp.status().is_success() {
            let s = resp.status();
            return Err(status_error(&format!("GET {realm} (token)"), s, resp).await);
        }
        #[derive(serde::Deserialize)]
        struct Token {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let bytes = resp.bytes().await.map_err(|e| http_error(realm, &e))?;
        let t: Token =
            serde_json::from_slice(&bytes).map_err(|e| http_error_msg(realm, &e.to_string()))?;
        let token = t
            .token
            .or(t.access_token)
            .ok_or_else(|| http_error_msg(realm, "the token response has no token"))?;
        Ok(format!("Bearer {token}"))
    }
}

#[derive(Clone, Copy)]
enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
}

fn push_scope(repo: &str, from: Option<&str>) -> String {
    match from {
        Some(f) => format!("repository:{repo}:pull,push repository:{f}:pull"),
        None => format!("repository:{repo}:pull,push"),
    }
}

fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// The upload location a response names, absolute.
fn location(base: &str, resp: &reqwest::Response) -> Result<String, RegistryError> {
    location_of(base, resp)?
        .ok_or_else(|| http_error_msg(base, "upload response without a Location"))
}

fn location_of(base: &str, resp: &reqwest::Response) -> Result<Option<String>, RegistryError> {
    let Some(l) = resp.headers().get(header::LOCATION) else {
        return Ok(None);
    };
    let l = l
        .to_str()
        .map_err(|_| http_error_msg(base, "Location is not text"))?;
    Ok(Some(
        if l.starts_with("http://") || l.starts_with("https://") {
            l.to_owned()
        } else {
            format!("{base}{l}")
        },
    ))
}

/// `sha256:<hex>` of `bytes`.
fn digest_of(bytes: &[u8]) -> String {
    prefixed(Sha256::new_with_prefix(bytes))
}

/// `sha256:<hex>` of what `hasher` was fed.
fn prefixed(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// `bytes` (from `what`) must have the digest `expected`.
fn check_digest(what: &str, expected: &str, bytes: &[u8]) -> Result<(), RegistryError> {
    expect_digest(what, expected, digest_of(bytes))
}

/// The digest of `what` was `actual`; it must be `expected`.
fn expect_digest(what: &str, expected: &str, actual: String) -> Result<(), RegistryError> {
    if actual != expected {
        return Err(RegistryError::Digest {
            what: what.to_owned(),
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(())
}

fn check_digest_header(
    resp: &reqwest::Response,
    digest: &str,
    url: &str,
) -> Result<(), RegistryError> {
    match resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        Some(d) if d != digest => Err(RegistryError::Digest {
            what: url.to_owned(),
            expected: digest.to_owned(),
            actual: d.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn http_error(url: &str, e: &reqwest::Error) -> RegistryError {
    let mut cause = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = format!("{cause}: {s}");
        src = s.source();
    }
    http_error_msg(url, &cause)
}

fn http_error_msg(url: &str, cause: &str) -> RegistryError {
    RegistryError::Http {
        url: url.to_owned(),
        cause: cause.to_owned(),
    }
}

/// A status the operation did not expect, with the registry's own error
/// message (`{"errors":[{"code","message"}]}`) when it sent one.
async fn status_error(what: &str, status: StatusCode, resp: reqwest::Response) -> RegistryError {
    let body = resp.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = &v["errors"][0];
            Some(format!(
                "{}: {}",
                e["code"].as_str()?,
                e["message"].as_str().unwrap_or("")
            ))
        })
        .unwrap_or_default();
    RegistryError::Status {
        what: what.to_owned(),
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_owned(),
        detail,
    }
}
