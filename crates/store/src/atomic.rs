//! The one way distill replaces a file: write a temporary file beside the
//! destination, set its mode explicitly (never the umask's), flush it to
//! disk, rename it over the destination. Readers see the old file or the
//! new one, never half; a failure leaves the old one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A file being written that appears at `dest` only on [`commit`].
///
/// [`commit`]: AtomicFile::commit
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts a file that will replace `dest` (its directory is created).
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix("distill"))
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_owned(),
        })
    }

    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Sets `mode`, syncs and renames into place.
    pub fn commit(self, mode: u32) -> io::Result<()> {
        let f = self.tmp.as_file();
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        self.tmp.persist(&self.dest).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Replaces `dest` with `bytes`, mode 0644 (locks, records: ordinary
/// shared files).
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.file().write_all(bytes)?;
    f.commit(0o644)
}

/// The prefix of a temporary file or directory this process makes where
/// others can see it: `.{what}-{pid}-`, so that a later run can tell one
/// a killed process left (its process gone) from one being written now.
pub fn temp_prefix(what: &str) -> String {
    format!(".{what}-{}-", std::process::id())
}

/// Whether the file name `name` is a temporary file made with
/// [`temp_prefix`] by a process that has ended (`/proc` has no such pid).
pub fn is_dead_temp(name: &str) -> bool {
    let pid = name
        .strip_prefix('.')
        .and_then(|n| n.rsplit_once('-'))
        .and_then(|(head, _random)| head.rsplit_once('-'))
        .and_then(|(_, pid)| pid.parse::<u32>().ok());
    pid.is_some_and(|pid| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists())
}

/// The entries of `dir` that are temporary files or directories of
/// processes that have ended ([`is_dead_temp`]); none if `dir` cannot be
/// read. What a killed run left, for its owner to remove.
pub fn dead_temps(dir: &Path) -> Vec<fs::DirEntry> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| is_dead_temp(&e.file_name().to_string_lossy()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_with_a_fixed_mode_and_leaves_nothing_beside() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/x.lock");
        write_atomic(&dest, b"one").unwrap();
        write_atomic(&dest, b"two").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.lock"]);
        // An uncommitted file never appears.
        let mut f = AtomicFile::create(&dest).unwrap();
        f.file().write_all(b"three").unwrap();
        drop(f);
        assert_eq!(fs::read(&dest).unwrap(), b"two");
    }

    #[test]
    fn temporary_names_say_whose_they_are() {
        let mine = format!("{}abc123", temp_prefix("tmp"));
        assert!(!is_dead_temp(&mine), "this process is alive");
        // Past the kernel's pid_max: never a running process.
        assert!(is_dead_temp(".tmp-4194305-abc123"));
        assert!(is_dead_temp(".base-debian12.tmp-4194305-x"));
        for other in ["notes-4194305-x", ".tmp-x-y", ".tmpabc", "a"] {
            assert!(!is_dead_temp(other), "{other}");
        }
    }
}
