//! A project: `packages.toml`, the locks beside it, and the environment
//! commands run in (cache, network, clock, keyring). Every command is a
//! method of [`Project`] taking typed options.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use distill_archive::{DistroSpec, Loaded, Loader, MirrorFallback, Pins};
use distill_debian::SnapshotTime;
use distill_fetch::{Fetcher, RetryPolicy, Timeouts};
use distill_lock::Lock;
use distill_resolve::Universe;
use distill_store::{Cache, Observer, write_atomic};
use distill_trust::Keyring;

use crate::config::Config;
use crate::error::{Context, Result, fail};

/// Where and how a project's commands run.
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// The download and layer cache.
    pub cache_dir: PathBuf,
    /// Use only the cache; fail instead of downloading.
    pub offline: bool,
    /// Trust this keyring file instead of the distros' own or Debian's.
    pub keyring: Option<PathBuf>,
    /// Seconds since the epoch taken as "now" (the wall clock unless a
    /// replay or a test pins it).
    pub now: i64,
    /// Retries of downloads and registry requests.
    pub retry: RetryPolicy,
    /// Read timeout and per-file deadline of downloads.
    pub timeouts: Timeouts,
}

/// `packages.toml`, its locks, and what commands need to reach the
/// archive: one fetcher (with its cache and observer) and one async
/// runtime for the whole process, so the API stays synchronous.
pub struct Project {
    pub(crate) config: Config,
    config_path: PathBuf,
    pub(crate) fetcher: Arc<Fetcher>,
    runtime: tokio::runtime::Runtime,
    keyring: Option<PathBuf>,
    pub(crate) now: i64,
    /// Distro → the suites this run read from a mirror in place of their
    /// pins (said once, by [`Project::mirror_note`]).
    mirrored: Mutex<BTreeMap<String, MirrorFallback>>,
    /// The archive's timeouts and retries, for the registry client too.
    pub(crate) timeouts: Timeouts,
    pub(crate) retry: RetryPolicy,
}

impl Project {
    /// Reads and validates `config_path` and sets up the environment.
    pub fn open(
        config_path: &Path,
        env: EnvOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<Project> {
        let config = Config::load(config_path)?;
        let cache = Cache::new(&env.cache_dir)?;
        let retry = env.retry;
        let fetcher = Fetcher::new(cache, observer)?
            .with_timeouts(env.timeouts)?
            .with_offline(env.offline)
            .with_retry(retry.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context(|| "cannot start the async runtime".into())?;
        Ok(Project {
            config,
            config_path: config_path.to_owned(),
            fetcher: Arc::new(fetcher),
            runtime,
            keyring: env.keyring,
            now: env.now,
            mirrored: Mutex::default(),
            timeouts: env.timeouts,
            retry,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The distro named `name`.
    pub fn distro(&self, name: &str) -> Result<&DistroSpec> {
        self.config
            .distro(name)
            .map_err(|e| fail!("cannot use {}: {e}", self.config_path.display()))
    }

    /// The distros a selection names (all of them when it names none),
    /// each checked.
    pub(crate) fn distros(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(self.config.distros.keys().cloned().collect());
        }
        for n in names {
            self.distro(n)?;
        }
        Ok(names.to_vec())
    }

    /// `arch` if the distro has it.
    pub(crate) fn check_arch(&self, distro: &str, arch: &str) -> Result<()> {
        self.distro(distro)?
            .check_arch(distro, arch)
            .map_err(|e| fail!("cannot use architecture {arch}: {e}"))
    }

    /// `snapshots/<distro>.lock` beside packages.toml.
    pub fn lock_path(&self, distro: &str) -> PathBuf {
        let base = self.config_path.parent().unwrap_or(Path::new(""));
        base.join("snapshots").join(format!("{distro}.lock"))
    }

    /// The distro's lock, if there is one; a lock of another distro at
    /// its path is refused.
    pub fn lock(&self, distro: &str) -> Result<Option<Lock>> {
        let path = self.lock_path(distro);
        let Some(lock) = read_lock(&path)? else {
            return Ok(None);
        };
        self.lock_is_of(&lock, distro)
            .map_err(|why| fail!("cannot read {}: {why}", path.display()))?;
        Ok(Some(lock))
    }

    /// The distro's lock, which `what` ("build debian12") cannot do
    /// without.
    pub(crate) fn require_lock(&self, distro: &str, what: &str) -> Result<Lock> {
        self.lock(distro)?.ok_or_else(|| {
            fail!(
                "cannot {what}: no lock at {}; run `distill lock` first",
                self.lock_path(distro).display()
            )
        })
    }

    /// Whether `lock` says it is `distro`'s: its `distro` field, and
    /// suites of that distro's archives (a lock whose suites are all
    /// another codename's is another distro's, whatever its field says).
    pub(crate) fn lock_is_of(&self, lock: &Lock, distro: &str) -> std::result::Result<(), String> {
        if lock.distro != distro {
            return Err(format!(
                "it is the lock of {}, not of {distro} (a copied file?); move it to snapshots/{}.lock and run `distill lock --distro {distro}`",
                lock.distro, lock.distro
            ));
        }
        let Ok(spec) = self.distro(distro) else {
            return Ok(());
        };
        let ours = |suite: &str| {
            spec.archives
                .iter()
                .any(|a| a.suites.iter().any(|s| s == suite))
        };
        if !lock.suites.is_empty() && !lock.suites.iter().any(|s| ours(&s.suite)) {
            let theirs: Vec<&str> = lock.suites.iter().map(|s| s.suite.as_str()).collect();
            return Err(format!(
                "it locks suites {}, none of which {distro} has (codename {}); move it away and run `distill lock --distro {distro}`",
                theirs.join(", "),
                spec.codename
            ));
        }
        Ok(())
    }

    /// Writes `text`, a lock's canonical form, as `distro`'s lock.
    pub(crate) fn write_lock(&self, distro: &str, text: &str) -> Result<()> {
        let path = self.lock_path(distro);
        write_atomic(&path, text.as_bytes()).context(|| format!("cannot write {}", path.display()))
    }

    /// The keyring for a distro: `--keyring`, else the distro's own
    /// (relative to packages.toml), else Debian's built-in one.
    fn keyring(&self, distro: &DistroSpec) -> Result<Keyring> {
        if let Some(path) = &self.keyring {
            return Ok(Keyring::load(path)?);
        }
        if let Some(path) = &distro.keyring {
            let base = self.config_path.parent().unwrap_or(Path::new("."));
            return Ok(Keyring::load(&base.join(path))?);
        }
        Ok(Keyring::debian())
    }

    /// `ts` (a `--snapshot` or `--to`), refused before any request when it
    /// is in the future: no capture can be from then, and a server that
    /// answered for it would be lying (a fast-forward attack).
    pub(crate) fn not_future(&self, ts: Option<SnapshotTime>, flag: &str) -> Result<()> {
        match ts {
            Some(t) if t.unix() > self.now => Err(fail!(
                "cannot use {flag} {t}: snapshot time {t} is in the future (now {})",
                SnapshotTime::from_unix(self.now)
            )),
            _ => Ok(()),
        }
    }

    /// The snapshot to use when none is pinned: now, which
    /// snapshot.debian.org answers with its newest capture.
    pub(crate) fn default_snapshot(&self) -> SnapshotTime {
        SnapshotTime::from_unix(self.now)
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Loads every suite of `distro` at `pins` and the indices of `archs`.
    pub fn load(&self, distro: &str, archs: &[String], pins: &Pins) -> Result<Loaded> {
        let spec = self.distro(distro)?;
        let mut loader = Loader::new(self.fetcher.clone(), self.keyring(spec)?, self.now);
        // A third-party archive is trusted with its own key only, never
        // with Debian's (nor Debian's archives with its key).
        let base = self.config_path.parent().unwrap_or(Path::new("."));
        for a in &spec.archives {
            if let Some(path) = &a.keyring {
                let keyring = Keyring::load(&base.join(path))
                    .context(|| format!("cannot use the keyring of archive {}", a.name))?;
                loader = loader.with_archive_keyring(&a.name, keyring);
            }
        }
        let loaded = self.block_on(distill_archive::load(&loader, spec, archs, pins))?;
        if let Some(m) = &loaded.mirrored {
            self.mirrored
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(distro.to_owned())
                .or_insert_with(|| m.clone());
        }
        Ok(loaded)
    }

    /// One line for the whole run saying which suites came from a mirror
    /// as it is now and what that means; `None` when every pin was served.
    pub fn mirror_note(&self) -> Option<String> {
        let mirrored = self.mirrored.lock().unwrap_or_else(PoisonError::into_inner);
        if mirrored.is_empty() {
            return None;
        }
        let mut pins: Vec<&str> = Vec::new();
        let mut why: Vec<&str> = Vec::new();
        let mut mirrors: Vec<&str> = Vec::new();
        for m in mirrored.values() {
            pins.extend(m.requested.iter().map(String::as_str));
            why.extend(m.why.iter().map(String::as_str));
            mirrors.extend(m.mirrors.iter().map(String::as_str));
        }
        for v in [&mut pins, &mut why, &mut mirrors] {
            v.sort_unstable();
            v.dedup();
        }
        let suites: Vec<String> = mirrored
            .iter()
            .map(|(d, m)| format!("{d} ({})", m.suites.join(", ")))
            .collect();
        Some(format!(
            "note: snapshot {} not served ({}); read {} from {} as it is now: locked versions still served there are kept, anything else is the mirror's newest, which the pin may not have chosen",
            pins.join(", "),
            why.join("; "),
            suites.join(", "),
            mirrors.join(", ")
        ))
    }

    pub(crate) fn observer(&self) -> &dyn Observer {
        self.fetcher.observer().as_ref()
    }
}

/// The resolver's universe of one architecture of a loaded distro.
pub(crate) fn universe<'a>(loaded: &'a Loaded, arch: &'a str) -> Universe<'a> {
    Universe::new(arch, loaded.sources(arch))
}

/// The largest lock read: the whole distroless matrix's are 200 KB.
pub(crate) const MAX_LOCK: u64 = 64 << 20;

/// The lock at `path`, or `None` when there is no file.
fn read_lock(path: &Path) -> Result<Option<Lock>> {
    match distill_store::read_bounded_text(path, MAX_LOCK) {
        Ok(text) => Lock::parse(&text)
            .map(Some)
            .context(|| format!("cannot read {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context(|| format!("cannot read {}", path.display())),
    }
}

/// A lock file named on the command line.
pub fn read_lock_file(path: &Path) -> Result<Lock> {
    read_lock(path)?.ok_or_else(|| fail!("cannot read {}: no such file", path.display()))
}
