//! `debian/changelog` entries, as dpkg-parsechangelog reads them: a
//! header `source (version) distributions; urgency=…`, indented change
//! lines, and a trailer ` -- Maintainer <email>  date`. What a bump fixes
//! is in them: the CVE ids and the Debian bugs an upload closes.

use std::cmp::Ordering;

use serde::Serialize;

use crate::compare_versions;

/// One upload's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangelogEntry {
    pub source: String,
    pub version: String,
    pub distributions: Vec<String>,
    /// `low`, `medium`, `high`, `emergency` or `critical` (lowercase).
    pub urgency: String,
    /// `CVE-YYYY-NNNN…` ids named anywhere in the entry, sorted, once.
    pub cves: Vec<String>,
    /// Debian bugs closed (`Closes: #N, #M`), sorted, once.
    pub closes: Vec<u64>,
    pub maintainer: String,
    pub date: String,
    /// The entry as written, header to trailer.
    pub text: String,
}

/// The rank of an urgency word, for comparing (`low` 1 … `critical` 5;
/// unknown words 0).
pub fn urgency_rank(urgency: &str) -> u8 {
    match urgency {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "emergency" => 4,
        "critical" => 5,
        _ => 0,
    }
}

/// Every entry of a changelog, newest first. Lines outside an entry
/// (an old format's tail, editor variables) are skipped.
pub fn parse_changelog(text: &str) -> Vec<ChangelogEntry> {
    let mut out = Vec::new();
    let mut current: Option<(ChangelogEntry, Vec<&str>)> = None;
    for line in text.lines() {
        if let Some((entry, lines)) = current.as_mut() {
            lines.push(line);
            if let Some(trailer) = line.strip_prefix(" -- ") {
                let (who, date) = trailer.split_once("  ").unwrap_or((trailer, ""));
                entry.maintainer = who.trim().to_owned();
                entry.date = date.trim().to_owned();
                let (mut entry, lines) = current.take().expect("an entry is open");
                entry.text = lines.join("\n");
                entry.cves = cves(&entry.text);
                entry.closes = closes(&entry.text);
                out.push(entry);
            }
            continue;
        }
        if let Some(entry) = header(line) {
            current = Some((entry, vec![line]));
        }
    }
    out
}

/// `source (version) dist…; key=value, …`.
fn header(line: &str) -> Option<ChangelogEntry> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (source, rest) = line.split_once(" (")?;
    let (version, rest) = rest.split_once(')')?;
    let (dists, fields) = rest.split_once(';')?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.~:".contains(c))
    };
    if !valid(source) || !valid(version) {
        return None;
    }
    let urgency = fields
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("urgency"))
        .map(|(_, v)| {
            v.split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    Some(ChangelogEntry {
        source: source.to_owned(),
        version: version.to_owned(),
        distributions: dists.split_whitespace().map(str::to_owned).collect(),
        urgency,
        cves: Vec::new(),
        closes: Vec::new(),
        maintainer: String::new(),
        date: String::new(),
        text: String::new(),
    })
}

/// `CVE-YYYY-N…` (four or more digits), as written anywhere.
fn cves(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("CVE-") {
        let start = i + at;
        let mut j = start + 4;
        let year = (j..j + 4).all(|k| b.get(k).is_some_and(u8::is_ascii_digit));
        if year && b.get(j + 4) == Some(&b'-') {
            j += 5;
            let digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits >= 4 {
                out.push(text[start..j + digits].to_owned());
                i = j + digits;
                continue;
            }
        }
        i = start + 4;
    }
    out.sort();
    out.dedup();
    out
}

/// The bugs of every `Closes: #N, #M` (dpkg's pattern: `closes:`, any
/// case, then `bug`/`#` numbers separated by commas).
fn closes(text: &str) -> Vec<u64> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("closes:") {
        rest = &rest[at + "closes:".len()..];
        loop {
            let t = rest.trim_start();
            let t = t.strip_prefix("bug").unwrap_or(t);
            let t = t.strip_prefix('#').unwrap_or(t).trim_start();
            let digits = t.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                break;
            }
            if let Ok(n) = t[..digits].parse() {
                out.push(n);
            }
            rest = &t[digits..];
            match rest.trim_start().strip_prefix(',') {
                Some(more) => rest = more,
                None => break,
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The entries after `old` (newer by dpkg's order), newest first: all of
/// them for a package that is new.
pub fn entries_since(entries: &[ChangelogEntry], old: Option<&str>) -> Vec<ChangelogEntry> {
    entries
        .iter()
        .take_while(|e| old.is_none_or(|o| compare_versions(&e.version, o) == Ordering::Greater))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
openssl (3.0.17-1~deb12u2) bookworm-security; urgency=high

  * Fix CVE-2025-9230 (out-of-bounds read in CMS).
  * Fix CVE-2025-9232, CVE-2025-9230 again. Closes: #1100001, #1100002

 -- Debian Security Team <team@security.debian.org>  Tue, 30 Sep 2025 10:00:00 +0200

openssl (3.0.17-1~deb12u1) bookworm; urgency=medium (routine)

  * New upstream (closes: bug#999).
  * Not a CVE: CVE-20-1 or CVE-2025-12.

 -- Maintainer <m@example.org>  Mon, 01 Sep 2025 10:00:00 +0200

Local variables:
mode: debian-changelog
End:
";

    #[test]
    fn entries_with_their_fixes() {
        let e = parse_changelog(LOG);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].source, "openssl");
        assert_eq!(e[0].version, "3.0.17-1~deb12u2");
        assert_eq!(e[0].distributions, ["bookworm-security"]);
        assert_eq!(e[0].urgency, "high");
        assert_eq!(e[0].cves, ["CVE-2025-9230", "CVE-2025-9232"]);
        assert_eq!(e[0].closes, [1100001, 1100002]);
        assert_eq!(
            e[0].maintainer,
            "Debian Security Team <team@security.debian.org>"
        );
        assert_eq!(e[0].date, "Tue, 30 Sep 2025 10:00:00 +0200");
        assert!(e[0].text.starts_with("openssl (3.0.17-1~deb12u2)"));
        assert!(e[0].text.ends_with("+0200"));
        assert_eq!(e[1].urgency, "medium");
        assert!(e[1].cves.is_empty(), "{:?}", e[1].cves);
        assert_eq!(e[1].closes, [999]);
    }

    #[test]
    fn since_by_dpkg_order_not_string_order() {
        let e = parse_changelog(LOG);
        let since = |old| entries_since(&e, old);
        assert_eq!(since(Some("3.0.17-1~deb12u1")).len(), 1);
        assert_eq!(since(Some("3.0.16-1~deb12u1")).len(), 2);
        // `~` sorts before the end: deb12u2 is newer than 3.0.17-1~.
        assert_eq!(since(Some("3.0.17-1~")).len(), 2);
        assert_eq!(since(Some("3.0.17-1~deb12u2")).len(), 0);
        assert_eq!(since(None).len(), 2);
    }
}
