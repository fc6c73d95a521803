//! A real registry for the tests: Debian's `docker-registry` package
//! (distribution 2.8) on 127.0.0.1, with its own config and storage in a
//! temporary directory, optionally behind htpasswd Basic auth. It runs
//! under a tiny shell guardian that stops it when the test process goes
//! away, so a shared registry never outlives its test binary.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct Registry {
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`
    pub addr: String,
    child: Child,
}

/// Whether `docker-registry` is installed; CI must have it (`.ci/run`
/// installs it), elsewhere the registry tests skip with a note.
pub fn available() -> bool {
    let ok = Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have docker-registry (see .ci/run)"
        );
        eprintln!("skipped: docker-registry is not installed");
    }
    ok
}

/// The user the shared Basic-auth registry knows.
pub const USER: (&str, &str) = ("alice", "right horse");

impl Registry {
    /// The test binary's registry without auth, started on first use and
    /// stopped by its guardian when the test process exits. Tests keep
    /// to their own repositories (a prefix per test).
    pub fn shared() -> &'static Registry {
        static R: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        R.get_or_init(|| Registry::start(None))
    }

    /// The test binary's registry behind htpasswd Basic auth ([`USER`]).
    pub fn shared_basic() -> &'static Registry {
        static R: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        R.get_or_init(|| Registry::start(Some(USER)))
    }

    /// Starts a registry; with `user` (name, password) it requires Basic
    /// auth from an htpasswd file (bcrypt, as distribution demands).
    pub fn start(user: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut auth = String::new();
        if let Some((name, password)) = user {
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{name}:{hash}\n")).expect("htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: distill-tests\n    path: {}\n",
                htpasswd.display()
            );
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("config");
        let log = std::fs::File::create(dir.path().join("log")).expect("log");
        // The guardian: starts the registry, and kills it once the test
        // process (its parent) is gone.
        let script = "docker-registry serve \"$1\" & pid=$!; \
                      trap 'kill $pid' EXIT TERM; \
                      while kill -0 \"$2\" 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 0.2; done";
        let child = Command::new("sh")
            .args(["-c", script, "guardian"])
            .arg(&config_path)
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Registry { dir, addr, child };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not start: {}", self.log());
    }

    /// The registry's log (access lines included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// How many requests the log shows with this method whose path
    /// contains every one of `parts` (distribution logs one "response
    /// completed" line per request).
    pub fn requests(&self, method: &str, parts: &[&str]) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("msg=\"response completed"))
            .filter(|l| l.contains(&format!("http.request.method={method} ")))
            .filter(|l| {
                l.split("http.request.uri=")
                    .nth(1)
                    .and_then(|u| u.split_whitespace().next())
                    .is_some_and(|u| {
                        let u = u.trim_matches('"');
                        parts.iter().all(|p| u.contains(p))
                    })
            })
            .count()
    }

    /// A docker config directory holding `user:password` for this registry.
    pub fn docker_config(&self, user: &str, password: &str) -> PathBuf {
        use base64::Engine;
        let dir = self
            .dir
            .path()
            .join(format!("docker-{user}-{}", password.len()));
        std::fs::create_dir_all(&dir).expect("docker config dir");
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        std::fs::write(
            dir.join("config.json"),
            format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, self.addr),
        )
        .expect("docker config");
        dir
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    /// TERM to the guardian, whose trap stops the registry.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}
