//! distill's test kit: a signing key made with sequoia, a fake Debian
//! archive whose Release files are really signed and whose hashes are
//! really right, and a loopback HTTP server that serves it in the
//! snapshot.debian.org URL layout (with redirects to captures, and faults
//! on demand). Nothing here talks to any host but 127.0.0.1.

#![allow(clippy::print_stderr)]

pub mod archive;
pub mod deb;
pub mod hostile;
pub mod key;
pub mod mutate;
pub mod proxy;
pub mod registry;
pub mod server;
pub mod sigstore;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

pub use archive::{Suite, sha256_hex, stanza};
pub use deb::{Body, Deb};
pub use key::TestKey;
pub use server::{Fault, Server, dead_url};

/// 2025-01-01T00:00:00Z: fake archives are dated around here and tests
/// pin "now" to a fixed time after it, so no test depends on the clock.
pub const EPOCH_2025: i64 = 1_735_689_600;
pub const DAY: i64 = 86_400;

/// The `distill` binary cargo built for this test run (it lives beside the
/// `deps/` directory that holds the test executable).
pub fn distill_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("distill{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not built; run the tests through `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// An image config's `["K=V", ...]` environment as a map.
pub fn env_map(env: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    env.as_array()
        .expect("an env array")
        .iter()
        .filter_map(|v| v.as_str()?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The outcome of one `distill` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The error contract: exit 1, nothing on stdout, and a last stderr
    /// line `error: cannot ...` that contains `needle`; never a panic.
    #[track_caller]
    pub fn assert_error(&self, needle: &str) {
        assert_eq!(
            self.code, 1,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        let last = self.stderr.lines().last().unwrap_or("");
        assert!(
            last.starts_with("error: cannot "),
            "stderr: {}",
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "expected {needle:?} in: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

/// A scratch workspace: a packages.toml, a keyring, a cache, and a pinned
/// clock; runs the real binary in it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub now: i64,
}

impl Workspace {
    pub fn new(packages_toml: &str, key: Option<&TestKey>) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("packages.toml"), packages_toml)
            .expect("write packages.toml");
        if let Some(key) = key {
            std::fs::write(dir.path().join("test-keyring.pgp"), key.public_bytes())
                .expect("write keyring");
        }
        Workspace {
            dir,
            now: EPOCH_2025 + 30 * DAY,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The lock of distro `test`, as text.
    pub fn lock_text(&self) -> String {
        std::fs::read_to_string(self.path().join("snapshots/test.lock")).expect("the lock")
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Where the cache's content store keeps the file with this sha256.
    pub fn cache_blob(&self, sha256: &str) -> PathBuf {
        self.cache().join("sha256").join(&sha256[..2]).join(sha256)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("run distill").into()
    }

    /// The command `run` runs, to adjust (another cache, cwd, umask).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(distill_bin());
        c.args(args)
            .current_dir(self.path())
            .env("DISTILL_CACHE_DIR", self.cache())
            .env("DISTILL_NOW", self.now.to_string())
            .env("DISTILL_RETRY_BASE_MS", "5")
            .env_remove("RUST_BACKTRACE")
            .env_remove("SOURCE_DATE_EPOCH");
        c
    }

    /// Files in the cache's content store and temp dir (for "nothing
    /// half-written" checks).
    pub fn cache_files(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p, out)
                    } else {
                        out.push(p)
                    }
                }
            }
        }
        let (mut blobs, mut tmp) = (Vec::new(), Vec::new());
        walk(&self.cache().join("sha256"), &mut blobs);
        walk(&self.cache().join("tmp"), &mut tmp);
        (blobs, tmp)
    }
}

/// Damages the file at `path` in place: one bit of byte `at` flipped, the
/// size unchanged.
pub fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).expect("read the file to damage");
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).expect("write the damaged file");
}

/// An archive of `packages_toml`: name, snapshot base, mirrors, suites.
pub type ArchiveEntry<'a> = (&'a str, String, Vec<String>, &'a [&'a str]);

/// An archive served only by `server`, in the snapshot URL layout.
pub fn snapshot_archive<'a>(
    server: &Server,
    name: &'a str,
    suites: &'a [&'a str],
) -> ArchiveEntry<'a> {
    (
        name,
        format!("{}/archive/{name}", server.url()),
        vec![],
        suites,
    )
}

/// A packages.toml with one distro `test` over the given archives.
pub fn packages_toml(archs: &[&str], archives: &[ArchiveEntry<'_>]) -> String {
    let q = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!(
        "[distros.test]\ncodename = \"testing\"\nversion_id = \"99\"\narchitectures = [{}]\nkeyring = \"test-keyring.pgp\"\n",
        q(&archs.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    );
    for (name, snapshot, mirrors, suites) in archives {
        s += &format!(
            "\n[[distros.test.archives]]\nname = {name:?}\nsnapshot = {snapshot:?}\nmirrors = [{}]\nsuites = [{}]\ncomponents = [\"main\"]\n",
            q(mirrors),
            q(&suites.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        );
    }
    s
}

/// What every end-to-end test starts from: a loopback server publishing a
/// signed archive, the key that signed it, and a workspace whose
/// packages.toml trusts that key.
pub struct Setup {
    pub server: Server,
    pub key: TestKey,
    pub ws: Workspace,
}

impl Setup {
    /// A server and key; `publish` puts the captures on the server and
    /// returns the archives (name, suites) packages.toml names, each
    /// served only by the server's snapshot layout. `extra` is appended
    /// to packages.toml (images, `[build]`).
    pub fn snapshots(
        archs: &[&str],
        extra: &str,
        publish: impl FnOnce(&Server, &TestKey) -> Vec<(&'static str, &'static [&'static str])>,
    ) -> Setup {
        let server = Server::start();
        let key = TestKey::generate("test archive");
        let archives = publish(&server, &key);
        let entries: Vec<ArchiveEntry<'_>> = archives
            .iter()
            .map(|(name, suites)| snapshot_archive(&server, name, suites))
            .collect();
        let toml = packages_toml(archs, &entries) + extra;
        Setup::from_toml(server, key, &toml)
    }

    /// A workspace with this packages.toml over `server`'s archive.
    pub fn from_toml(server: Server, key: TestKey, toml: &str) -> Setup {
        let ws = Workspace::new(toml, Some(&key));
        Setup { server, key, ws }
    }

    /// The workspace's project, opened in-process the way the binary
    /// opens it (same cache, same pinned clock), observed by `observer`.
    pub fn project_with(
        &self,
        observer: Arc<dyn distill_store::Observer>,
    ) -> distill_project::Project {
        let env = distill_project::EnvOptions {
            cache_dir: self.ws.cache(),
            offline: false,
            keyring: None,
            now: self.ws.now,
            retry: distill_fetch::RetryPolicy {
                base_delay: Duration::from_millis(5),
                ..Default::default()
            },
            timeouts: Default::default(),
        };
        distill_project::Project::open(&self.ws.path().join("packages.toml"), env, observer)
            .unwrap_or_else(|e| panic!("{}", distill_store::causes(&e).join(": ")))
    }

    /// [`Setup::project_with`] a silent observer.
    pub fn project(&self) -> distill_project::Project {
        self.project_with(Arc::new(distill_store::Silent))
    }
}

/// An observer for in-process tests: records every note and the counted
/// steps (what, total, how far they got).
#[derive(Default)]
pub struct Recorder {
    notes: std::sync::Mutex<Vec<String>>,
    steps: Arc<std::sync::Mutex<Vec<(String, u64, u64)>>>,
}

impl Recorder {
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap().clone()
    }

    pub fn steps(&self) -> Vec<(String, u64, u64)> {
        self.steps.lock().unwrap().clone()
    }
}

struct Counting(Arc<std::sync::Mutex<Vec<(String, u64, u64)>>>, usize);

impl distill_store::Transfer for Counting {
    fn advance(&self, amount: u64) {
        self.0.lock().unwrap()[self.1].2 += amount;
    }
}

impl distill_store::Observer for Recorder {
    fn steps(&self, total: u64, what: &str) -> Box<dyn distill_store::Transfer> {
        let mut steps = self.steps.lock().unwrap();
        steps.push((what.to_owned(), total, 0));
        Box::new(Counting(self.steps.clone(), steps.len() - 1))
    }
    fn note(&self, line: &str) {
        self.notes.lock().unwrap().push(line.to_owned());
    }
}

/// Runs `cmd`, which must succeed (what it printed is the failure's
/// message); its output.
pub fn succeeds(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `found` when `command` runs (`ARG` succeeds); else `None`, with a
/// note that the checks needing `what` skip, and a failure under CI,
/// which must have it (`.ci/run` provides it, through `variable`).
fn outside_tool<T>(
    found: Option<T>,
    command: impl Fn(&T) -> Command,
    arg: &str,
    what: &str,
    variable: &str,
) -> Option<T> {
    let found = found.filter(|f| {
        command(f)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {what} (see .ci/run)"
        );
        eprintln!("skipped: {what} is not there (set {variable})");
    }
    found
}

/// The cosign binary the tests verify signatures with: `$DISTILL_COSIGN`
/// (`.ci/run` unpacks Debian 13's there), else `cosign` on PATH. CI must
/// have it; elsewhere the cosign checks skip with a note.
pub fn cosign() -> Option<PathBuf> {
    let path = std::env::var_os("DISTILL_COSIGN").map_or_else(|| "cosign".into(), PathBuf::from);
    outside_tool(
        Some(path),
        |p: &PathBuf| Command::new(p),
        "version",
        "cosign",
        "DISTILL_COSIGN",
    )
}

/// Debian 13's skopeo, whose sigstore verification Debian 12's lacks:
/// unpacked by `.ci/run` with its own libc into `$DISTILL_SKOPEO_ROOT`
/// and run through that libc's loader (it needs a newer glibc than this
/// machine's). CI must have it; elsewhere its checks skip with a note.
pub fn sigstore_skopeo() -> Option<Command> {
    let command = |root: &PathBuf| {
        let lib = root.join("usr/lib/x86_64-linux-gnu");
        let mut c = Command::new(lib.join("ld-linux-x86-64.so.2"));
        c.arg("--library-path")
            .arg(&lib)
            .arg(root.join("usr/bin/skopeo"));
        c
    };
    let root = std::env::var_os("DISTILL_SKOPEO_ROOT").map(PathBuf::from);
    let found = outside_tool(
        root,
        command,
        "--version",
        "Debian 13's skopeo",
        "DISTILL_SKOPEO_ROOT",
    );
    found.map(|root| command(&root))
}
