//! Races and kills: two builds or locks at once over one output and one
//! cache, and `kill -9` at many moments of a build and a lock. Afterwards
//! every layout is complete and equal to a single run's, the lock is the
//! old one or the new one, the cache's store verifies, and the next run
//! succeeds without cleanup.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use crate::common::*;
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

/// `kill -9` at 0 to 300 ms into a build (its layer cache emptied each
/// time so there is work to interrupt): the previous layouts stay whole,
/// and the next build succeeds with the same digests.
#[test]
fn a_build_killed_at_any_moment_leaves_whole_layouts() {
    let s = setup(&[], "");
    let first = build(&s.ws, "out");
    assert_eq!(first.code, 0, "{}", first.stderr);
    let reference = layouts(&s.ws.path().join("out"));
    for delay in (0..=300).step_by(25) {
        let _ = std::fs::remove_dir_all(s.ws.cache().join("layers"));
        let mut child = spawn(&s.ws, &["build", "--out", "out"]);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            layouts(&s.ws.path().join("out")),
            reference,
            "killed at {delay} ms"
        );
        store_verifies(&s.ws);
    }
    let again = build(&s.ws, "out");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, first.stdout);
    assert_eq!(layouts(&s.ws.path().join("out")), reference);
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
