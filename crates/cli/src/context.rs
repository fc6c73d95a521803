//! What every command needs: the configuration, the cache, a fetcher with
//! progress, the keyring, the clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use distill_archive::{Config, DistroSpec, Loader};
use distill_debian::SnapshotTime;
use distill_fetch::{Cache, Fetcher, RetryPolicy};
use distill_trust::Keyring;

use crate::Global;
use crate::progress::Bars;

/// A user-facing failure; printed as `error: <message>`.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

pub struct Context {
    pub config: Config,
    pub config_path: PathBuf,
    pub bars: Arc<Bars>,
    pub fetcher: Arc<Fetcher>,
    /// Seconds since the epoch; `DISTILL_NOW` pins it (tests, replays).
    pub now: i64,
}

impl Context {
    pub fn new(global: &Global) -> Result<Context> {
        let config = Config::load(&global.config)?;
        let cache_dir = match &global.cache_dir {
            Some(d) => d.clone(),
            None => default_cache_dir()?,
        };
        let cache = Cache::new(cache_dir)?;
        let bars = Arc::new(Bars::new(global.quiet));
        let mut retry = RetryPolicy::default();
        if let Some(ms) = env_number("DISTILL_RETRY_BASE_MS")? {
            retry.base_delay = Duration::from_millis(ms as u64);
        }
        let fetcher = Fetcher::new(cache, bars.clone())?
            .with_offline(global.offline)
            .with_retry(retry);
        let now = match env_number("DISTILL_NOW")? {
            Some(t) => t,
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| Failure(format!("cannot read the clock: {e}")))?
                .as_secs() as i64,
        };
        Ok(Context {
            config,
            config_path: global.config.clone(),
            bars,
            fetcher: Arc::new(fetcher),
            now,
        })
    }

    pub fn distro(&self, name: &str) -> Result<&DistroSpec> {
        self.config
            .distro(name)
            .map_err(|e| Failure(format!("cannot use {}: {e}", self.config_path.display())))
    }

    /// The keyring for a distro: `--keyring`, else the distro's own, else
    /// Debian's built-in one.
    pub fn keyring(&self, global: &Global, distro: &DistroSpec) -> Result<Keyring> {
        if let Some(path) = &global.keyring {
            return Ok(Keyring::load(path)?);
        }
        if let Some(path) = &distro.keyring {
            let base = self.config_path.parent().unwrap_or(Path::new("."));
            return Ok(Keyring::load(&base.join(path))?);
        }
        Ok(Keyring::debian())
    }

    pub fn loader(&self, keyring: Keyring) -> Loader {
        Loader::new(self.fetcher.clone(), keyring, self.now)
    }

    /// The snapshot to use when none is pinned: now, which
    /// snapshot.debian.org answers with its newest capture.
    pub fn default_snapshot(&self) -> SnapshotTime {
        SnapshotTime::from_unix(self.now)
    }
}

/// Writes command output to stdout. A closed pipe (`distill show x | head`)
/// ends the output quietly instead of panicking as `println!` would.
pub fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure(format!("cannot write output: {e}")))
        }
        _ => Ok(()),
    }
}

fn env_number(name: &str) -> Result<Option<i64>> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| Failure(format!("cannot use {name}={v:?}: not a whole number"))),
        Err(_) => Ok(None),
    }
}

fn default_cache_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "distill")
        .map(|d| d.cache_dir().to_path_buf())
        .ok_or_else(|| {
            Failure("cannot find a cache directory: no home directory; pass --cache-dir".into())
        })
}

/// The Debian name of the machine's architecture, the default `--arch`.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "s390x" => "s390x",
        "powerpc64" => "ppc64el",
        "riscv64" => "riscv64",
        "x86" => "i386",
        other => other,
    }
}
