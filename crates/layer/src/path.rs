//! Paths inside a layer: relative, `/`-separated, no `.` or `..`.

/// The top-level directories a merged-/usr system keeps only as symlinks
/// into `/usr` (base-files ships the links).
const MERGED: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path escapes the root (`..`)")]
    Escapes,
    #[error("absolute path")]
    Absolute,
    #[error("path is not UTF-8")]
    NotUtf8,
}

/// `./usr//bin/./x` → `usr/bin/x`; the root itself is the empty string.
/// A `..` anywhere or an absolute path is refused rather than resolved: a
/// package has no business naming either, and resolving them is how
/// extraction escapes its root.
pub fn normalize(raw: &str) -> Result<String, PathError> {
    let rest = raw.strip_prefix("./").unwrap_or(raw);
    if rest.starts_with('/') {
        return Err(PathError::Absolute);
    }
    let mut out: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(PathError::Escapes),
            p => out.push(p),
        }
    }
    Ok(out.join("/"))
}

/// Where a normalised path lands on a merged-/usr system: `lib/x` →
/// `usr/lib/x`. The top-level names themselves are returned unchanged
/// (the caller keeps them when they are base-files' symlinks).
pub fn usrmerge(path: &str) -> String {
    match path.split_once('/') {
        Some((top, rest)) if MERGED.contains(&top) => format!("usr/{top}/{rest}"),
        _ => path.to_owned(),
    }
}

/// Is `path` one of the merged top-level names (`lib`, `bin`, ...)?
pub(crate) fn is_merged_top(path: &str) -> bool {
    MERGED.contains(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        assert_eq!(normalize("./usr//bin/./x").unwrap(), "usr/bin/x");
        assert_eq!(normalize("./").unwrap(), "");
        assert_eq!(normalize("etc/").unwrap(), "etc");
        assert_eq!(normalize("./a/../../etc"), Err(PathError::Escapes));
        assert_eq!(normalize("/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(normalize(".//etc"), Err(PathError::Absolute));
    }

    #[test]
    fn merges_top_level_dirs_into_usr() {
        assert_eq!(
            usrmerge("lib/x86_64-linux-gnu/libc.so.6"),
            "usr/lib/x86_64-linux-gnu/libc.so.6"
        );
        assert_eq!(usrmerge("sbin/ldconfig"), "usr/sbin/ldconfig");
        assert_eq!(usrmerge("library/x"), "library/x");
        assert_eq!(usrmerge("usr/lib/x"), "usr/lib/x");
        assert_eq!(usrmerge("lib"), "lib");
        assert!(is_merged_top("lib64") && !is_merged_top("usr"));
    }
}
