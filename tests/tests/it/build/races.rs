//! Races and kills: two builds or locks at once over one output and one
//! cache, and `kill -9` at many moments of a build and a lock. Afterwards
//! every layout is complete and equal to a single run's, the lock is the
//! old one or the new one, the cache's store verifies, and the next run
//! succeeds without cleanup.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use crate::build::common::*;
use distill_tests::*;

/// Every layout under `out`, as `files` sees it (temporary directories of
/// a killed run aside, which a later commit never reads).
fn layouts(out: &Path) -> BTreeMap<String, BTreeMap<String, (u32, String)>> {
    let mut all = BTreeMap::new();
    for e in std::fs::read_dir(out).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        all.insert(name, files(&p));
    }
    all
}

/// Every file of the cache's content store has the hash it is named by.
fn store_verifies(ws: &Workspace) {
    let (blobs, _) = ws.cache_files();
    for b in blobs {
        let name = b.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            sha256_hex(&std::fs::read(&b).unwrap()),
            name,
            "{}",
            b.display()
        );
    }
}

fn spawn(ws: &Workspace, args: &[&str]) -> Child {
    ws.command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn two_builds_at_once_share_the_output_and_the_cache() {
    let s = setup(&[], "");
    let (a, b) = (
        spawn(&s.ws, &["build", "--out", "out"]),
        spawn(&s.ws, &["build", "--out", "out"]),
    );
    let (a, b): (Run, Run) = (
        a.wait_with_output().unwrap().into(),
        b.wait_with_output().unwrap().into(),
    );
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
    assert_eq!(a.stdout, b.stdout, "the same digests");
    let single = build(&s.ws, "single");
    assert_eq!(single.stdout, a.stdout);
    assert_eq!(
        layouts(&s.ws.path().join("out")),
        layouts(&s.ws.path().join("single"))
    );
    let leftovers: Vec<_> = std::fs::read_dir(s.ws.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (_, tmp) = s.ws.cache_files();
    assert!(tmp.is_empty(), "{tmp:?}");
    store_verifies(&s.ws);
}

#[test]
fn two_locks_at_once_write_one_whole_lock() {
    let s = setup(&[], "");
    let want = s.ws.lock_text();
    std::fs::remove_file(s.ws.path().join("snapshots/test.lock")).unwrap();
    let args = ["lock", "--snapshot", TS1];
    let (a, b) = (spawn(&s.ws, &args), spawn(&s.ws, &args));
    let (a, b): (Run, Run) = (
        a.wait_with_output().unwrap().into(),
        b.wait_with_output().unwrap().into(),
    );
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
    assert_eq!(s.ws.lock_text(), want);
}

/// Every temporary file or directory (named with a leading `.`) under
/// `dir`, at any depth.
fn temporaries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                out.push(p.clone());
            }
            if p.is_dir() && !p.is_symlink() {
                out.extend(temporaries(&p));
            }
        }
    }
    out
}

/// `kill -9` at 30 moments of a build (its layer cache emptied each time
/// so there is work to interrupt, and the appended tag on top) and at 10
/// of an `append` into the same layout: every layout stays whole (the
/// previous one, which equals the next), `cache verify` exits 0 after
/// one repair pass, the next build succeeds with the same digests, and
/// after `cache gc` no temporary file is left anywhere.
#[test]
fn a_build_or_append_killed_at_any_moment_leaves_whole_layouts() {
    let (s, first) = built_and_appended(&vec![7u8; 1 << 20]);
    let append = APPEND_APP;
    let reference = layouts(&s.ws.path().join("out"));
    let index_of =
        |layout: &str| read_json(&s.ws.path().join("out").join(layout).join("index.json"));
    let reference_index = index_of("static-test");
    // Moments spread over 0..400 ms, the same on every run.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut moment = |max: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % max
    };
    for round in 0..40 {
        let (args, delay) = if round < 30 {
            let _ = std::fs::remove_dir_all(s.ws.cache().join("layers"));
            (&["build", "--out", "out"][..], moment(400))
        } else {
            (&append[..], moment(60))
        };
        let mut child = spawn(&s.ws, args);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let now = layouts(&s.ws.path().join("out"));
        let differ: Vec<String> = reference
            .iter()
            .flat_map(|(l, files)| {
                let other = now.get(l).cloned().unwrap_or_default();
                let keys: std::collections::BTreeSet<&String> =
                    files.keys().chain(other.keys()).collect();
                keys.into_iter()
                    .filter(|k| files.get(*k) != other.get(*k))
                    .map(|k| format!("{l}/{k}"))
                    .collect::<Vec<_>>()
            })
            .collect();
        // A completed append writes index.json with its keys in another
        // order than a build: the same document.
        // Temporary files a killed append left (named with a leading
        // `.`) are not the layout; the next commit removes them.
        let differ: Vec<&String> = differ
            .iter()
            .filter(|k| *k != "static-test/index.json")
            .filter(|k| !k.rsplit('/').next().unwrap_or("").starts_with('.'))
            .collect();
        assert!(
            differ.is_empty(),
            "{} killed at {delay} ms: {differ:?}",
            args[0]
        );
        assert_eq!(
            index_of("static-test"),
            reference_index,
            "{} killed at {delay} ms",
            args[0]
        );
        store_verifies(&s.ws);
    }
    let repair = s.ws.run(&["cache", "verify"]);
    assert!(repair.code == 0 || repair.code == 2, "{}", repair.stderr);
    let verified = s.ws.run(&["cache", "verify"]);
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    let again = build(&s.ws, "out");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, first.stdout);
    assert_eq!(index_of("static-test"), reference_index);
    let gc = s.ws.run(&["cache", "gc"]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    let left: Vec<_> = temporaries(&s.ws.cache())
        .into_iter()
        .chain(temporaries(&s.ws.path().join("out")))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// `kill -9` during `lock`: the lock is the old one or the new one, never
/// a part, and the next `lock` succeeds.
#[test]
fn a_lock_killed_at_any_moment_is_old_or_new() {
    let s = setup(&[], "");
    let path = s.ws.path().join("snapshots/test.lock");
    let locked = s.ws.lock_text();
    for delay in (0..=150).step_by(10) {
        let _ = std::fs::remove_dir_all(s.ws.cache());
        let mut child = spawn(&s.ws, &["lock", "--snapshot", TS1]);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read_to_string(&path).unwrap();
        assert_eq!(now, locked, "killed at {delay} ms");
    }
    let run = s.ws.run(&["lock", "--snapshot", TS1]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(s.ws.lock_text(), locked);
    store_verifies(&s.ws);
}

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// `None` (with the reason printed) where mounting is not allowed.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root and can mount"
            );
            eprintln!("skipped: cannot mount a tmpfs here (not root)");
            return None;
        }
        Some(Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A full disk: a clear error, nothing partial in the output, the cache
/// still verifies, and the build succeeds once there is room.
#[test]
fn a_full_disk_is_a_clear_error_with_nothing_partial() {
    let s = setup(&[], "");
    let out = s.ws.path().join("small");
    let Some(_fs) = Tmpfs::mount(&out, "64k") else {
        return;
    };
    let run = s.ws.run(&["build", "--out", "small"]);
    run.assert_error("No space left on device");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "partial output: {left:?}");
    store_verifies(&s.ws);
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// `cache verify` re-hashes everything and drops what is damaged; the
/// next build fetches and makes it again.
#[test]
fn cache_verify_drops_damaged_files() {
    let s = setup(&[], "");
    let first = build(&s.ws, "out");
    assert_eq!(first.code, 0, "{}", first.stderr);
    let ok = s.ws.run(&["cache", "verify"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stdout.contains("; removed 0, freed 0.0 MiB"),
        "{}",
        ok.stdout
    );
    // Damage one stored .deb, one layer blob and one index table.
    let (blobs, _) = s.ws.cache_files();
    let deb = blobs
        .iter()
        .max_by_key(|b| b.metadata().unwrap().len())
        .unwrap();
    let first_in = |dir: &str| {
        std::fs::read_dir(s.ws.cache().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .unwrap()
    };
    let layer = first_in("layers/blobs");
    let table = first_in("derived");
    for p in [deb, &layer, &table] {
        flip_byte(p, 0);
    }
    let bad = s.ws.run(&["cache", "verify"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    for p in [deb, &layer, &table] {
        assert!(
            bad.stdout.contains(&format!("removed {}", p.display())),
            "{}",
            bad.stdout
        );
        assert!(!p.exists());
    }
    assert_eq!(s.ws.run(&["cache", "verify"]).code, 0);
    let again = build(&s.ws, "out2");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, first.stdout);
}

/// `cache gc` keeps exactly what the locks use: after an image is
/// dropped and the lock redone, its packages and their layers go, and the
/// remaining images still build offline.
#[test]
fn cache_gc_removes_what_no_lock_uses() {
    let s = setup(&[], "");
    assert_eq!(build(&s.ws, "out").code, 0);
    let unused = s.ws.run(&["cache", "gc"]);
    assert_eq!(unused.code, 0, "{}", unused.stderr);
    assert!(
        !unused.stdout.contains(".deb"),
        "nothing of the lock goes: {}",
        unused.stdout
    );
    let lock = distill_lock::Lock::parse(&s.ws.lock_text()).unwrap();
    let libc = lock.package("libc6", "amd64").unwrap().sha256.to_string();
    // Drop cc (the only image with libc6) and lock again.
    let path = s.ws.path().join("packages.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let cc = toml.find("[images.cc]").unwrap();
    let end = toml[cc..].find("\"\n\n").map_or(toml.len(), |e| cc + e + 2);
    std::fs::write(&path, format!("{}{}", &toml[..cc], &toml[end..])).unwrap();
    let relock = s.ws.run(&["lock"]);
    assert_eq!(relock.code, 0, "{}", relock.stderr);
    assert!(!s.ws.lock_text().contains("name = \"libc6\""));
    let gc = s.ws.run(&["cache", "gc"]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    assert!(gc.stdout.contains(&libc), "{}", gc.stdout);
    assert!(
        gc.stdout.contains("layers/"),
        "its layer records go too: {}",
        gc.stdout
    );
    let offline = s.ws.run(&["--offline", "build", "--out", "out3"]);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert_eq!(s.ws.run(&["cache", "verify"]).code, 0);
}
