//! Reading a file someone names (a keyring, a config, a lock, a key, a
//! cache record) with a bound that fits its kind: a regular file, at most
//! so many bytes. `/dev/zero` or a FIFO given where a keyring belongs is
//! one clear error, not a process that grows until the kernel kills it.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// The bytes of the regular file at `path` (symlinks followed), if it
/// holds at most `limit` bytes; otherwise an error that says why
/// (`InvalidInput`), never a partial read.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > limit {
        return Err(too_big(limit));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(limit));
    }
    Ok(bytes)
}

/// `read_bounded` as UTF-8 text.
pub fn read_bounded_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Opens `path` for reading if it is a regular file (symlinks followed);
/// a device, FIFO, socket or directory is refused before it is opened
/// (opening a FIFO waits for a writer), and checked again once open (it
/// may have been replaced in between).
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    let not_regular = || io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
    if !fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

fn too_big(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("larger than {}", human(limit)),
    )
}

/// `limit` in the largest binary unit that divides it.
pub fn human(limit: u64) -> String {
    match limit {
        l if l >= 1 << 30 && l % (1 << 30) == 0 => format!("{} GiB", l >> 30),
        l if l >= 1 << 20 && l % (1 << 20) == 0 => format!("{} MiB", l >> 20),
        l if l >= 1 << 10 && l % (1 << 10) == 0 => format!("{} KiB", l >> 10),
        l => format!("{l} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_and_oversized_files_are_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        fs::write(&small, b"12345").unwrap();
        assert_eq!(read_bounded(&small, 5).unwrap(), b"12345");
        let e = read_bounded(&small, 4).unwrap_err();
        assert_eq!(e.to_string(), "larger than 4 bytes");
        for special in ["/dev/zero", "/dev/null"] {
            let e = read_bounded(Path::new(special), 1 << 20).unwrap_err();
            assert_eq!(e.to_string(), "not a regular file", "{special}");
        }
        let e = read_bounded(dir.path(), 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        // A FIFO is refused before it is opened: opening one would wait
        // for a writer that never comes.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let e = read_bounded(&fifo, 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        assert_eq!(human(16 << 20), "16 MiB");
    }
}
