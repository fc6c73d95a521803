use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use distill_debian::Sha256 as Sha256Hex;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use distill_store::{Cache, Observer, Validators, causes};

use crate::{FetchError, cache_err};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries per URL for transient failures (connection errors, 5xx, 429,
    /// truncated bodies).
    pub attempts: u32,
    /// First backoff; doubled on every retry.
    pub base_delay: Duration,
    /// Cap for the backoff and for a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// The expected identity of a file, from a verified index or the lock.
#[derive(Debug, Clone)]
pub struct Pinned {
    pub sha256: Sha256Hex,
    pub size: Option<u64>,
}

/// An unpinned download: its bytes, the URL from the source list that
/// answered, and the final URL after redirects (snapshot.debian.org
/// redirects a timestamp to the capture it actually serves).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub source: usize,
    pub final_url: String,
}

/// Upper bound for files nobody has pinned a size for (InRelease).
const UNPINNED_LIMIT: u64 = 64 << 20;

/// Upper bound for an upstream release tarball known by its SHA-512 only
/// (Node's are about 50 MB).
const SHA512_LIMIT: u64 = 1 << 30;

/// A file fetched by its SHA-512: where it is cached (by SHA-256) and
/// what the lock pins it by.
#[derive(Debug, Clone)]
pub struct Sha512Fetched {
    pub path: PathBuf,
    pub sha256: Sha256Hex,
    pub size: u64,
}

/// How long a download may take: no byte for `read` (a stalled server),
/// or the whole file not done within `deadline` (a trickling one). Either
/// failure moves on to the next source after the retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub read: Duration,
    pub deadline: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            read: Duration::from_secs(60),
            deadline: Duration::from_secs(30 * 60),
        }
    }
}

pub struct Fetcher {
    /// Built on first use: loading the system's roots costs a run that
    /// needs no request (`--offline`, a cached snapshot) ~5 ms.
    client: std::sync::OnceLock<reqwest::Client>,
    timeouts: Timeouts,
    cache: Cache,
    offline: bool,
    retry: RetryPolicy,
    limit: Arc<Semaphore>,
    observer: Arc<dyn Observer>,
    /// Hosts that failed at the connection level this run: later files skip
    /// them instead of paying the retries again.
    dead_hosts: Mutex<BTreeSet<String>>,
    /// (host, why) of each source given up for the next one since the
    /// last [`Fetcher::take_fallbacks`], first failure per host.
    fallbacks: Mutex<Vec<(String, String)>>,
}

/// Installs rustls's crypto provider for the process, once: reqwest is
/// built without a default (aws-lc needs cmake and a C toolchain), and
/// ring is pure enough to build anywhere. Every HTTP client of distill
/// (this crate's and the registry's) calls it before it is built.
pub fn install_crypto() {
    static CRYPTO: Once = Once::new();
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The HTTP client: rustls with ring, bounded connect and read waits.
fn client(timeouts: Timeouts) -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .user_agent(concat!("distill/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(timeouts.read)
        .build()
        .map_err(|source| FetchError::Request {
            url: "(client setup)".into(),
            source,
        })
}

impl Fetcher {
    pub fn new(cache: Cache, observer: Arc<dyn Observer>) -> Result<Fetcher, FetchError> {
        install_crypto();
        let timeouts = Timeouts::default();
        Ok(Fetcher {
            client: std::sync::OnceLock::new(),
            timeouts,
            cache,
            offline: false,
            retry: RetryPolicy::default(),
            limit: Arc::new(Semaphore::new(8)),
            observer,
            dead_hosts: Mutex::new(BTreeSet::new()),
            fallbacks: Mutex::new(Vec::new()),
        })
    }

    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Result<Self, FetchError> {
        // The client is built once, on first use, with these limits.
        if timeouts != self.timeouts {
            self.client = std::sync::OnceLock::new();
            self.timeouts = timeouts;
        }
        Ok(self)
    }

    pub fn with_offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.limit = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    /// The HTTP client, built on first use.
    fn http(&self) -> Result<&reqwest::Client, FetchError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let built = client(self.timeouts)?;
        Ok(self.client.get_or_init(|| built))
    }

    /// Where notes and progress go.
    pub fn observer(&self) -> &Arc<dyn Observer> {
        &self.observer
    }

    /// The sources given up since the last call: (host, why), first
    /// failure per host. Taken, not read, so a second distro's note gives
    /// its own reasons.
    pub fn take_fallbacks(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.fallbacks.lock().expect("lock"))
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// A file whose hash is known: from the cache, or from the first source
    /// that serves the right bytes. Returns the path of the cached blob.
    pub async fn fetch_pinned(&self, urls: &[String], pin: &Pinned) -> Result<PathBuf, FetchError> {
        if let Some(p) = self.cache.get(pin.sha256.as_str()) {
            return Ok(p);
        }
        let what = urls
            .first()
            .cloned()
            .unwrap_or_else(|| pin.sha256.to_string());
        if self.offline {
            return Err(FetchError::Offline { what });
        }
        self.over_sources(urls, &what, |url| async move {
            let tmp = self.download(&url, Some(pin), UNPINNED_LIMIT).await?;
            Ok(self.cache.commit(tmp.0, pin.sha256.as_str())?)
        })
        .await
        .map(|(p, _)| p)
    }

    /// What `url` served last time, from the cache (hash-checked), without
    /// asking the server: for content that cannot change, such as a
    /// snapshot capture's InRelease. The caller must verify it.
    pub fn cached_unpinned(&self, url: &str) -> Option<Fetched> {
        let (sha, final_url) = self.cache.get_url(url)?;
        Some(Fetched {
            bytes: self.read_cached(&sha)?,
            source: 0,
            final_url,
        })
    }

    /// A file nobody can pin yet (InRelease). The caller must verify it.
    pub async fn fetch_unpinned(&self, urls: &[String]) -> Result<Fetched, FetchError> {
        let what = urls.first().cloned().unwrap_or_default();
        if self.offline {
            for (i, url) in urls.iter().enumerate() {
                if let Some(mut f) = self.cached_unpinned(url) {
                    f.source = i;
                    return Ok(f);
                }
            }
            return Err(FetchError::Offline { what });
        }
        let (fetched, source) = self
            .over_sources(urls, &what, |url| async move {
                // A copy this URL served before is revalidated (a 304 costs
                // a round trip, not the file); it is still only a candidate
                // the caller verifies, as a fresh download would be.
                let fresh = || self.download_within_deadline(&url, None, UNPINNED_LIMIT, None);
                let cached = self
                    .cache
                    .get_url_note(&url)
                    .and_then(|(sha, final_url, v)| {
                        let bytes = self.read_cached(&sha)?;
                        (!v.is_empty()).then_some((bytes, final_url, v))
                    });
                let got = match cached {
                    Some((bytes, final_url, validators)) => {
                        match self.download_if(&url, &validators).await? {
                            None => return Ok((bytes, final_url)),
                            changed => changed,
                        }
                    }
                    // Never served, or the copy is gone or damaged.
                    None => fresh().await?,
                };
                let (tmp, final_url, validators) = got.ok_or_else(|| not_modified(&url))?;
                let bytes = std::fs::read(tmp.path()).map_err(|e| cache_err(tmp.path(), e))?;
                let sha = hex::encode(Sha256::digest(&bytes));
                // Also when a damaged copy is in the way.
                if self.read_cached(&sha).is_none() {
                    self.cache.commit(tmp, &sha)?;
                }
                self.cache.set_url(&url, &sha, &final_url, &validators)?;
                Ok((bytes, final_url))
            })
            .await?;
        Ok(Fetched {
            bytes: fetched.0,
            source,
            final_url: fetched.1,
        })
    }

    /// A file known by its SHA-512 only (an npm registry's `integrity`):
    /// from the cache when one of `urls` served it before and the blob
    /// still has that SHA-512, else downloaded and checked before it is
    /// cached. It is cached by its SHA-256, returned with its size, so the
    /// lock pins it and later runs fetch it like any pinned file.
    pub async fn fetch_sha512(
        &self,
        urls: &[String],
        sha512: &[u8; 64],
    ) -> Result<Sha512Fetched, FetchError> {
        for url in urls {
            if let Some((sha, _)) = self.cache.get_url(url) {
                let path = self.cache.blob_path(&sha);
                if hash_file(&path)?.1 == *sha512 {
                    return self.sha512_fetched(path);
                }
            }
        }
        let what = urls.first().cloned().unwrap_or_default();
        if self.offline {
            return Err(FetchError::Offline { what });
        }
        let (path, _) = self
            .over_sources(urls, &what, |url| async move {
                let (tmp, final_url) = self.download(&url, None, SHA512_LIMIT).await?;
                let (sha256, got) = hash_file(tmp.path())?;
                if got != *sha512 {
                    return Err(FetchError::HashMismatch {
                        url,
                        algorithm: "sha512",
                        expected: hex::encode(sha512),
                        actual: hex::encode(got),
                    });
                }
                let path = self.cache.commit(tmp, &sha256)?;
                self.cache
                    .set_url(&url, &sha256, &final_url, &Validators::default())?;
                Ok(path)
            })
            .await?;
        self.sha512_fetched(path)
    }

    fn sha512_fetched(&self, path: PathBuf) -> Result<Sha512Fetched, FetchError> {
        let size = std::fs::metadata(&path)
            .map_err(|e| cache_err(&path, e))?
            .len();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let sha256 = Sha256Hex::parse(name)
            .map_err(|e| cache_err(&path, std::io::Error::other(e.to_string())))?;
        Ok(Sha512Fetched { path, sha256, size })
    }

    /// Tries each source in order; a transient failure is retried with
    /// backoff on the same source first. Reports each fallback.
    async fn over_sources<T, F, Fut>(
        &self,
        urls: &[String],
        what: &str,
        attempt: F,
    ) -> Result<(T, usize), FetchError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        let mut last = None;
        for (i, url) in urls.iter().enumerate() {
            let host = host_of(url);
            let dead = self.dead_hosts.lock().expect("lock").contains(&host);
            let result = if dead {
                Err(FetchError::Http {
                    url: url.clone(),
                    cause: format!("{host} was unreachable earlier in this run"),
                })
            } else {
                self.with_retries(url, &attempt).await
            };
            match result {
                Ok(v) => return Ok((v, i)),
                Err(e) => {
                    if !dead && e.is_unreachable() {
                        self.dead_hosts.lock().expect("lock").insert(host.clone());
                    }
                    if urls.get(i + 1).is_some() {
                        let mut seen = self.fallbacks.lock().expect("lock");
                        let shown = authority(url);
                        if !seen.iter().any(|(h, _)| *h == shown) {
                            seen.push((shown.to_owned(), causes(&e).join(": ")));
                        }
                    }
                    // Report the most telling failure: bytes that were
                    // served but wrong matter more than a host that is down.
                    let keep_previous = matches!(
                        last,
                        Some(FetchError::HashMismatch { .. } | FetchError::SizeMismatch { .. })
                    );
                    if !keep_previous {
                        last = Some(e);
                    }
                }
            }
        }
        Err(last.unwrap_or(FetchError::NoSource {
            what: what.to_owned(),
        }))
    }

    async fn with_retries<T, F, Fut>(&self, url: &str, attempt: &F) -> Result<T, FetchError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        let mut delay = self.retry.base_delay;
        let mut tries = 0;
        loop {
            tries += 1;
            let result = {
                let _permit = self.limit.acquire().await.expect("semaphore open");
                attempt(url.to_owned()).await
            };
            match result {
                Err(e) if e.is_transient() && tries < self.retry.attempts => {
                    let wait = match &e {
                        FetchError::Status {
                            retry_after: Some(s),
                            ..
                        } => Duration::from_secs(*s).min(self.retry.max_delay),
                        _ => delay,
                    };
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(self.retry.max_delay);
                }
                other => return other,
            }
        }
    }

    /// One GET into a temporary file, hashing and counting as it streams;
    /// checks size and (when pinned) hash before handing the file over.
    /// Never more than the size it must have (endless data is cut there)
    /// nor longer than the per-file deadline (slow retrieval).
    async fn download(
        &self,
        url: &str,
        pin: Option<&Pinned>,
        unpinned_limit: u64,
    ) -> Result<(tempfile::NamedTempFile, String), FetchError> {
        let got = self
            .download_within_deadline(url, pin, unpinned_limit, None)
            .await?;
        got.map(|(tmp, final_url, _)| (tmp, final_url))
            .ok_or_else(|| not_modified(url))
    }

    /// Asks whether `url` still serves what `validators` describe: `None`
    /// when it does (304), else the new content.
    async fn download_if(
        &self,
        url: &str,
        validators: &Validators,
    ) -> Result<Option<Downloaded>, FetchError> {
        self.download_within_deadline(url, None, UNPINNED_LIMIT, Some(validators))
            .await
    }

    /// A blob of the cache, if it is there and still has its hash.
    fn read_cached(&self, sha256: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.cache.get(sha256)?).ok()?;
        (hex::encode(Sha256::digest(&bytes)) == sha256).then_some(bytes)
    }

    async fn download_within_deadline(
        &self,
        url: &str,
        pin: Option<&Pinned>,
        unpinned_limit: u64,
        conditional: Option<&Validators>,
    ) -> Result<Option<Downloaded>, FetchError> {
        let deadline = self.timeouts.deadline;
        tokio::time::timeout(
            deadline,
            self.download_within(url, pin, unpinned_limit, conditional),
        )
        .await
        .unwrap_or_else(|_| {
            Err(FetchError::Interrupted {
                url: url.to_owned(),
                cause: format!(
                    "not complete within {}s, the per-file deadline",
                    deadline.as_secs_f64()
                ),
            })
        })
    }

    /// One GET of `url` into a temporary file of the cache, checked against
    /// `pin`; `None` when `conditional` validators were sent and the server
    /// answered 304 Not Modified.
    async fn download_within(
        &self,
        url: &str,
        pin: Option<&Pinned>,
        unpinned_limit: u64,
        conditional: Option<&Validators>,
    ) -> Result<Option<Downloaded>, FetchError> {
        let mut request = self.http()?.get(url);
        if let Some(v) = conditional {
            if let Some(etag) = &v.etag {
                request = request.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(date) = &v.last_modified {
                request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
            }
        }
        let resp = request.send().await.map_err(|e| {
            // hyper-util reports resolver failures as connect errors
            // "dns error"; a name that does not resolve now will not in
            // the next seconds either.
            let dns = e.is_connect() && causes(&e).iter().any(|m| m.contains("dns error"));
            let (url, source) = (url.to_owned(), e.without_url());
            match dns {
                true => FetchError::Unresolvable { url, source },
                false => FetchError::Request { url, source },
            }
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && conditional.is_some() {
            return Ok(None);
        }
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                retry_after,
            });
        }
        let final_url = resp.url().to_string();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let expected = pin.and_then(|p| p.size);
        let limit = expected.unwrap_or(unpinned_limit);
        let progress = self.observer.start(url, expected.or(resp.content_length()));
        let mut tmp = self.cache.temp()?;
        let mut hasher = Sha256::new();
        let mut got: u64 = 0;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| FetchError::Broken {
                url: url.to_owned(),
                got,
                source: e.without_url(),
            })?;
            got += chunk.len() as u64;
            if got > limit {
                return Err(FetchError::SizeMismatch {
                    url: url.to_owned(),
                    expected: limit,
                    actual: got,
                });
            }
            hasher.update(&chunk);
            tmp.write_all(&chunk)
                .map_err(|e| cache_err(tmp.path(), e))?;
            progress.advance(chunk.len() as u64);
        }
        if let Some(size) = expected
            && got != size
        {
            return Err(FetchError::SizeMismatch {
                url: url.to_owned(),
                expected: size,
                actual: got,
            });
        }
        if let Some(pin) = pin {
            let actual = hex::encode(hasher.finalize());
            if actual != pin.sha256.as_str() {
                return Err(FetchError::HashMismatch {
                    url: url.to_owned(),
                    algorithm: "sha256",
                    expected: pin.sha256.to_string(),
                    actual,
                });
            }
        }
        Ok(Some((tmp, final_url, validators)))
    }
}

/// A download: the file, the URL that served it, its validators.
type Downloaded = (tempfile::NamedTempFile, String, Validators);

/// A 304 to a request that did not ask for one.
fn not_modified(url: &str) -> FetchError {
    FetchError::Status {
        url: url.to_owned(),
        status: 304,
        retry_after: None,
    }
}

/// The SHA-256 (hex) and SHA-512 of a file, in one read.
fn hash_file(path: &std::path::Path) -> Result<(String, [u8; 64]), FetchError> {
    let cache = |e| cache_err(path, e);
    let mut f = std::fs::File::open(path).map_err(cache)?;
    let (mut h256, mut h512) = (Sha256::new(), sha2::Sha512::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(cache)?;
        if n == 0 {
            break;
        }
        h256.update(&buf[..n]);
        h512.update(&buf[..n]);
    }
    Ok((hex::encode(h256.finalize()), h512.finalize().into()))
}

/// `host[:port]` as the URL spells it, for notes.
pub fn authority(url: &str) -> &str {
    url.split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(url)
}

fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_else(|| url.to_owned())
}
