//! The distribution API over reqwest: blobs (HEAD, cross-repository mount,
//! monolithic or chunked upload, download), manifests (PUT, GET) and the
//! referrers API, with auth (anonymous, Basic, Bearer tokens) and retries
//! on 5xx, 429 and broken connections.
//!
//! A registry is untrusted input. Every read is bounded ([`crate::read`]):
//! documents to [`MAX_DOCUMENT`], blobs to their descriptor's size, token
//! and error bodies to a few KiB; every request to the read timeout (no
//! byte for that long) and the per-request deadline; redirects to five; a
//! 401 is answered once; a `Retry-After` is capped like the backoff.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use distill_fetch::{RetryPolicy, Timeouts};
use distill_image::is_digest;
use distill_store::{AtomicFile, Observer, Silent, causes};
use reqwest::{Method, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::RegistryError;
use crate::auth::{Challenge, Credentials, lookup};
use crate::read::{
    FileSink, Limit, MANIFEST_TYPES, MAX_DOCUMENT, MAX_ERROR_BODY, MAX_TOKEN, Named, content_type,
    digest_header, media_type, read_body,
};
use crate::reference::is_loopback_host;

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

/// A manifest or index as a registry served it, after its checks.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document's own `mediaType`, else the Content-Type it came with.
    pub media_type: String,
    /// The digest of [`Document::bytes`], computed here: never a header's.
    pub digest: String,
    pub bytes: Vec<u8>,
}

pub struct Client {
    http: reqwest::Client,
    plain_http: bool,
    docker_config: Option<PathBuf>,
    retry: RetryPolicy,
    timeouts: Timeouts,
    /// Where a retry is said (a registry that is down is not waited for
    /// in silence), once per registry and reason.
    observer: Arc<dyn Observer>,
    said: Mutex<std::collections::BTreeSet<(String, String)>>,
    creds: Mutex<BTreeMap<String, Option<Credentials>>>,
    /// (registry, scope) → the `Authorization` value that worked.
    auth: Mutex<BTreeMap<(String, String), String>>,
}

impl Client {
    /// `docker_config`: where credentials are looked up; `plain_http`:
    /// use http for every registry (loopback registries always are);
    /// `timeouts` and `retry` as for the archive's downloads.
    pub fn new(
        docker_config: Option<PathBuf>,
        plain_http: bool,
        timeouts: Timeouts,
        retry: RetryPolicy,
    ) -> Result<Client, RegistryError> {
        distill_fetch::install_crypto();
        let http = reqwest::Client::builder()
            .user_agent(concat!("distill/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(timeouts.read)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| http_error("(client setup)", e))?;
        Ok(Client {
            http,
            plain_http,
            docker_config,
            retry,
            timeouts,
            observer: Arc::new(Silent),
            said: Mutex::new(Default::default()),
            creds: Mutex::new(BTreeMap::new()),
            auth: Mutex::new(BTreeMap::new()),
        })
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The per-request deadline.
    pub(crate) fn deadline(&self) -> Duration {
        self.timeouts.deadline
    }

    /// Says each retry to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// `fut` (one whole request: its retries and its body) within the
    /// per-request deadline: a trickling registry is cut off there.
    async fn within<T>(
        &self,
        url: &str,
        fut: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        let deadline = self.timeouts.deadline;
        tokio::time::timeout(deadline, fut)
            .await
            .unwrap_or_else(|_| {
                Err(http_error_msg(
                    url,
                    &format!(
                        "not complete within {}s, the per-request deadline",
                        deadline.as_secs_f64()
                    ),
                ))
            })
    }

    fn base(&self, registry: &str) -> String {
        let scheme = if self.plain_http || is_loopback_host(registry) {
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
            _ => Err(self.status_error(&format!("HEAD {url}"), resp).await),
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
            _ => return Err(self.status_error(&format!("POST {start}"), resp).await),
        }
        let mut location = location(&base, &resp)?;
        let what = path.display().to_string();
        let io = |cause: String| RegistryError::Io {
            path: what.clone(),
            cause,
        };
        let mut file = std::fs::File::open(path).map_err(|e| io(e.to_string()))?;
        let on_disk = file.metadata().map_err(|e| io(e.to_string()))?.len();
        if on_disk != size {
            return Err(io(format!(
                "it has {on_disk} bytes, not the {size} of {digest}"
            )));
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
            file.read_exact(&mut data).map_err(|e| io(e.to_string()))?;
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
                return Err(self.status_error(&format!("PATCH {location}"), resp).await);
            }
            location = location_of(&base, &resp)?.unwrap_or(location);
            offset += len;
        }
        let actual = prefixed(hasher);
        if actual != digest {
            return Err(io(format!("its content is {actual}, not {digest}")));
        }
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
            return Err(self.status_error(&format!("PUT {put}"), resp).await);
        }
        check_stored(&resp, digest, &put)?;
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
            _ => Err(self.status_error(&format!("POST {url}"), resp).await),
        }
    }

    /// PUTs a manifest or index under `reference` (its digest or a tag);
    /// returns its digest, which the registry must confirm.
    pub async fn put_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base(registry));
        let digest = prefixed(Sha256::new_with_prefix(bytes));
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
            return Err(self.status_error(&format!("PUT {url}"), resp).await);
        }
        check_stored(&resp, &digest, &url)?;
        Ok(digest)
    }

    /// A manifest or index by tag or digest, or `None` when the registry
    /// has no such reference. At most [`MAX_DOCUMENT`] bytes are read, and
    /// exactly `size` when a descriptor gives it. By digest, the bytes must
    /// have it; by tag, a `Docker-Content-Digest` must name them. Either
    /// way the digest returned is the one computed here.
    pub async fn get_manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
        size: Option<u64>,
    ) -> Result<Option<Document>, RegistryError> {
        let by_digest = reference.contains(':');
        if by_digest && !is_digest(reference) {
            return Err(RegistryError::BadDigest(reference.to_owned()));
        }
        let sep = if by_digest { '@' } else { ':' };
        let what = format!("{registry}/{repo}{sep}{reference}");
        let limit = document_limit(&what, size)?;
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base(registry));
        let accept = [(header::ACCEPT, MANIFEST_TYPES.join(", "))];
        self.within(&url, async {
            let resp = self.pull(registry, repo, &url, &accept).await?;
            match resp.status() {
                StatusCode::NOT_FOUND => return Ok(None),
                s if s.is_success() => {}
                _ => return Err(self.status_error(&format!("GET {url}"), resp).await),
            }
            let served = content_type(&resp);
            let header = digest_header(&resp);
            let name = Named {
                what: &what,
                digest: by_digest.then_some(reference),
            };
            let mut bytes = Vec::new();
            let digest = read_body(resp, limit, &name, &mut bytes).await?;
            if let Some(header) = header.filter(|h| !by_digest && *h != digest) {
                return Err(RegistryError::DigestHeader {
                    what,
                    header,
                    actual: digest,
                });
            }
            let media_type = media_type(&what, served.as_deref(), &bytes)?;
            Ok(Some(Document {
                media_type,
                digest,
                bytes,
            }))
        })
        .await
    }

    /// Blob `digest` of `repo` (a config: at most [`MAX_DOCUMENT`]),
    /// exactly `size` bytes with that digest.
    pub async fn get_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
        size: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("{registry}/{repo}@{digest}");
        let limit = document_limit(&what, Some(size))?;
        let mut bytes = Vec::new();
        self.blob_into(registry, repo, digest, limit, &mut bytes)
            .await?;
        Ok(bytes)
    }

    /// Blob `digest` of `repo` (a layer, of any size) into the file
    /// `dest`: exactly `size` bytes with that digest, streamed to a
    /// temporary file beside it and renamed into place only when checked.
    pub async fn download_blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
        size: u64,
        dest: &Path,
    ) -> Result<(), RegistryError> {
        let io = |e: std::io::Error| RegistryError::Io {
            path: dest.display().to_string(),
            cause: e.to_string(),
        };
        let mut file = AtomicFile::create(dest).map_err(io)?;
        let mut sink = FileSink {
            file: file.file(),
            path: dest,
        };
        self.blob_into(registry, repo, digest, Limit::Exactly(size), &mut sink)
            .await?;
        file.commit(0o644).map_err(io)
    }

    async fn blob_into(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
        limit: Limit,
        sink: &mut dyn crate::read::Sink,
    ) -> Result<(), RegistryError> {
        if !is_digest(digest) {
            return Err(RegistryError::BadDigest(digest.to_owned()));
        }
        let what = format!("{registry}/{repo}@{digest}");
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base(registry));
        self.within(&url, async {
            let resp = self.pull(registry, repo, &url, &[]).await?;
            if !resp.status().is_success() {
                return Err(self.status_error(&format!("GET {url}"), resp).await);
            }
            let name = Named {
                what: &what,
                digest: Some(digest),
            };
            read_body(resp, limit, &name, sink).await.map(drop)
        })
        .await
    }

    /// Whether the registry serves the OCI 1.1 referrers API (its answer's
    /// body is not read).
    pub async fn has_referrers_api(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/{repo}/referrers/{digest}", self.base(registry));
        let resp = self.pull(registry, repo, &url, &[]).await?;
        let is_index = content_type(&resp)
            .is_some_and(|v| v.starts_with("application/vnd.oci.image.index.v1+json"));
        Ok(resp.status().is_success() && is_index)
    }

    /// A GET of `url` in `repo` with pull rights.
    async fn pull(
        &self,
        registry: &str,
        repo: &str,
        url: &str,
        headers: &[(header::HeaderName, String)],
    ) -> Result<reqwest::Response, RegistryError> {
        let scope = pull_scope(repo);
        self.send(registry, &scope, Method::GET, url, headers, Body::Empty)
            .await
    }

    /// One request with auth and retries: a 401 is answered once with
    /// the challenge's credentials or token (a second 401 is an error);
    /// 5xx, 429 (honouring `Retry-After` up to the backoff's cap) and
    /// broken connections are retried with backoff. Each attempt gets the
    /// per-request deadline for its response; redirects (five at most)
    /// are not retried.
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
        let mut delay = self.retry.base_delay;
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
            let result = match tokio::time::timeout(self.timeouts.deadline, req.send()).await {
                Ok(r) => r.map_err(|e| (!e.is_builder() && !e.is_redirect(), http_error(url, e))),
                Err(_) => Err((
                    true,
                    http_error_msg(
                        url,
                        &format!(
                            "no response within {}s, the per-request deadline",
                            self.timeouts.deadline.as_secs_f64()
                        ),
                    ),
                )),
            };
            let transient = match &result {
                Err((transient, _)) => *transient,
                Ok(r) => {
                    r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS
                }
            };
            if transient && tries < self.retry.attempts {
                let wait = result
                    .as_ref()
                    .ok()
                    .and_then(|r| r.headers().get(header::RETRY_AFTER))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or(delay, |s| {
                        Duration::from_secs(s.min(self.retry.max_delay.as_secs()))
                    })
                    .min(self.retry.max_delay);
                let why = match &result {
                    Ok(r) => r.status().to_string(),
                    Err((_, e)) => causes(e).pop().unwrap_or_default(),
                };
                let first =
                    (self.said.lock().expect("lock")).insert((registry.to_owned(), why.clone()));
                if first {
                    self.observer.note(&format!(
                        "{registry}: {why}; retrying, {} tries in all",
                        self.retry.attempts
                    ));
                }
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(self.retry.max_delay);
                continue;
            }
            let resp = result.map_err(|(_, e)| e)?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if authorized_once {
                let what = format!("{method} {url} (after authenticating)");
                return Err(self.status_error(&what, resp).await);
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
    /// Credentials go to a plain-http realm only on this machine (or with
    /// `plain_http`): a registry cannot ask for them in the clear.
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
            let local = url.host_str().is_some_and(is_loopback_host);
            if url.scheme() != "https" && !local && !self.plain_http {
                return Err(http_error_msg(
                    realm,
                    "the registry asks for credentials over plain http; refused",
                ));
            }
            req = req.header(header::AUTHORIZATION, c.basic());
        }
        self.within(realm, async {
            let resp = req.send().await.map_err(|e| http_error(realm, e))?;
            if !resp.status().is_success() {
                return Err(self
                    .status_error(&format!("GET {realm} (token)"), resp)
                    .await);
            }
            #[derive(serde::Deserialize)]
            struct Token {
                #[serde(default)]
                token: Option<String>,
                #[serde(default)]
                access_token: Option<String>,
            }
            let what = format!("the token from {realm}");
            let name = Named {
                what: &what,
                digest: None,
            };
            let mut bytes = Vec::new();
            read_body(resp, Limit::AtMost(MAX_TOKEN), &name, &mut bytes).await?;
            let t: Token = serde_json::from_slice(&bytes)
                .map_err(|source| RegistryError::Document { what, source })?;
            let token = t
                .token
                .or(t.access_token)
                .ok_or_else(|| http_error_msg(realm, "the token response has no token"))?;
            Ok(format!("Bearer {token}"))
        })
        .await
    }

    /// A status the operation did not expect, with the registry's own error
    /// message (`{"errors":[{"code","message"}]}`) when it sent one: at
    /// most [`MAX_ERROR_BODY`] of it is read, within the deadline.
    pub(crate) async fn status_error(&self, what: &str, resp: reqwest::Response) -> RegistryError {
        let status = resp.status();
        let name = Named { what, digest: None };
        let mut body = Vec::new();
        let read = read_body(resp, Limit::AtMost(MAX_ERROR_BODY), &name, &mut body);
        let detail = match tokio::time::timeout(self.timeouts.deadline, read).await {
            Ok(Ok(_)) => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    let e = &v["errors"][0];
                    Some(format!(
                        "{}: {}",
                        e["code"].as_str()?,
                        e["message"].as_str().unwrap_or("")
                    ))
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        RegistryError::Status {
            what: what.to_owned(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            detail,
        }
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

/// How much of a document to read: exactly its descriptor's size (which
/// must be within [`MAX_DOCUMENT`]), else at most that.
fn document_limit(what: &str, size: Option<u64>) -> Result<Limit, RegistryError> {
    match size {
        Some(n) if n > MAX_DOCUMENT => Err(RegistryError::TooLarge {
            what: format!("{what} (its descriptor says {n} bytes)"),
            limit: MAX_DOCUMENT,
        }),
        Some(n) => Ok(Limit::Exactly(n)),
        None => Ok(Limit::AtMost(MAX_DOCUMENT)),
    }
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

/// `sha256:<hex>` of what `hasher` was fed.
fn prefixed(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// After a PUT: a `Docker-Content-Digest` must name what was sent.
fn check_stored(resp: &reqwest::Response, digest: &str, url: &str) -> Result<(), RegistryError> {
    match digest_header(resp) {
        Some(d) if d != digest => Err(RegistryError::Stored {
            url: url.to_owned(),
            expected: digest.to_owned(),
            actual: d,
        }),
        _ => Ok(()),
    }
}

/// A failed request, its error the source (without the URL reqwest would
/// repeat in its message).
fn http_error(url: &str, e: reqwest::Error) -> RegistryError {
    RegistryError::Request {
        url: url.to_owned(),
        source: e.without_url(),
    }
}

fn http_error_msg(url: &str, cause: &str) -> RegistryError {
    RegistryError::Http {
        url: url.to_owned(),
        cause: cause.to_owned(),
    }
}
