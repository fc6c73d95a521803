//! Which captures snapshot.debian.org has: the machine-readable list
//! (`/mr/timestamp/`), else the archive's HTML month listings
//! (`/archive/<name>/?year=Y&month=M`). Used to move pins forward.

use distill_debian::SnapshotTime;
use distill_fetch::Fetcher;
use distill_store::causes;

use crate::ArchiveSpec;

#[derive(Debug, thiserror::Error)]
#[error("cannot find the captures of {archive}: {cause}")]
pub struct DiscoverError {
    pub archive: String,
    pub cause: String,
}

/// Which capture to pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The newest capture taken before `today` (a UTC midnight): today's
    /// captures may still be importing.
    BeforeDay(SnapshotTime),
    /// The newest capture at or before this time (`--to TS`).
    AtOrBefore(SnapshotTime),
    /// The newest capture there is (`--to latest`).
    Latest,
}

impl Target {
    fn admits(self, t: SnapshotTime) -> bool {
        match self {
            Target::BeforeDay(day) => t < day,
            Target::AtOrBefore(limit) => t <= limit,
            Target::Latest => true,
        }
    }
}

/// The service root and archive name of `<root>/archive/<name>`.
fn service(spec: &ArchiveSpec) -> Result<(String, String), DiscoverError> {
    let Some(base) = spec.snapshot.as_deref() else {
        return Err(DiscoverError {
            archive: spec.name.clone(),
            cause: "it has no snapshot service".into(),
        });
    };
    let base = base.trim_end_matches('/');
    match base.rsplit_once("/archive/") {
        Some((root, name)) if !name.is_empty() && !name.contains('/') => {
            Ok((root.to_owned(), name.to_owned()))
        }
        _ => Err(DiscoverError {
            archive: spec.name.clone(),
            cause: format!("snapshot URL {base} is not <service>/archive/<name>"),
        }),
    }
}

/// The newest capture of `spec`'s archive that `target` admits. `now`
/// chooses the months the HTML fallback looks at.
pub async fn newest_capture(
    fetcher: &Fetcher,
    spec: &ArchiveSpec,
    target: Target,
    now: SnapshotTime,
) -> Result<SnapshotTime, DiscoverError> {
    let (root, name) = service(spec)?;
    let fail = |cause: String| DiscoverError {
        archive: name.clone(),
        cause,
    };
    let pick = |all: Vec<SnapshotTime>| {
        all.into_iter()
            .filter(|t| target.admits(*t))
            .max()
            .ok_or_else(|| fail(format!("no capture matches ({target:?})")))
    };
    let mr = format!("{root}/mr/timestamp/");
    let api = match fetcher.fetch_unpinned(std::slice::from_ref(&mr)).await {
        Ok(f) => captures_from_json(&f.bytes, &name).map_err(|e| format!("{mr}: {e}")),
        Err(e) => Err(causes(&e).join(": ")),
    };
    let api_err = match api {
        Ok(all) => return pick(all),
        Err(e) => e,
    };
    // The listing of the target's month, then earlier months.
    let (mut year, mut month) = month_of(match target {
        Target::AtOrBefore(t) | Target::BeforeDay(t) => t.min(now),
        Target::Latest => now,
    });
    let mut html_err = String::new();
    for _ in 0..3 {
        let url = format!("{root}/archive/{name}/?year={year}&month={month}");
        match fetcher.fetch_unpinned(std::slice::from_ref(&url)).await {
            Ok(f) => {
                let found: Vec<SnapshotTime> = captures_from_html(&f.bytes)
                    .into_iter()
                    .filter(|t| target.admits(*t))
                    .collect();
                if !found.is_empty() {
                    return pick(found);
                }
                html_err = format!("{url}: no capture links");
            }
            Err(e) => html_err = causes(&e).join(": "),
        }
        (year, month) = if month == 1 {
            (year - 1, 12)
        } else {
            (year, month - 1)
        };
    }
    Err(fail(format!("{api_err}; and {html_err}")))
}

fn month_of(t: SnapshotTime) -> (i64, i64) {
    let s = t.to_string();
    (s[..4].parse().unwrap_or(1970), s[4..6].parse().unwrap_or(1))
}

/// `{"result": {"<archive>": ["20250101T000000Z", ...]}}`.
pub fn captures_from_json(bytes: &[u8], archive: &str) -> Result<Vec<SnapshotTime>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let list = v["result"][archive]
        .as_array()
        .ok_or_else(|| format!("no result.{archive} list"))?;
    list.iter()
        .map(|t| {
            t.as_str()
                .and_then(|s| SnapshotTime::parse(s).ok())
                .ok_or_else(|| format!("bad timestamp {t}"))
        })
        .collect()
}

/// Every `href="YYYYMMDDTHHMMSSZ/"` of a listing page.
pub fn captures_from_html(bytes: &[u8]) -> Vec<SnapshotTime> {
    let text = String::from_utf8_lossy(bytes);
    text.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split_once("/\"").map(|(ts, _)| ts))
        .filter_map(|ts| SnapshotTime::parse(ts).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> SnapshotTime {
        SnapshotTime::parse(s).unwrap()
    }

    #[test]
    fn parses_both_listings() {
        let json = br#"{"_api":"0.3","result":{"debian":["20250101T000000Z","20250102T060000Z"],"debian-security":["20250103T000000Z"]}}"#;
        assert_eq!(
            captures_from_json(json, "debian").unwrap(),
            [t("20250101T000000Z"), t("20250102T060000Z")]
        );
        assert!(captures_from_json(json, "debian-ports").is_err());
        assert!(captures_from_json(b"<html>", "debian").is_err());
        let html = br#"<a href="../">up</a><a href="20250101T000000Z/">x</a> <a href="20250102T060000Z/">y</a><a href="junk/">z</a>"#;
        assert_eq!(
            captures_from_html(html),
            [t("20250101T000000Z"), t("20250102T060000Z")]
        );
        assert!(captures_from_html(b"garbage").is_empty());
    }

    #[test]
    fn targets() {
        let day = t("20250102T000000Z");
        assert!(Target::BeforeDay(day).admits(t("20250101T235959Z")));
        assert!(!Target::BeforeDay(day).admits(day));
        assert!(Target::AtOrBefore(day).admits(day));
        assert!(Target::Latest.admits(t("20990101T000000Z")));
        let spec = |url: &str| ArchiveSpec {
            name: "debian".into(),
            snapshot: Some(url.into()),
            mirrors: vec![],
            keyring: None,
            suites: vec![],
            components: vec![],
        };
        assert_eq!(
            service(&spec("https://snapshot.debian.org/archive/debian/")).unwrap(),
            ("https://snapshot.debian.org".into(), "debian".into())
        );
        assert!(service(&spec("https://example.org/debian")).is_err());
    }
}
