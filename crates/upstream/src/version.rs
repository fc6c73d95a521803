//! Release versions of upstream projects: `major.minor.patch`, ordered
//! numerically. Pre-releases (`24.0.0-rc.1`) are not releases and do not
//! parse.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UpstreamVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl UpstreamVersion {
    /// `24.1.0` or `v24.1.0`.
    pub fn parse(s: &str) -> Option<UpstreamVersion> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut it = s.split('.');
        let mut num = || -> Option<u64> {
            let p = it.next()?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let v = UpstreamVersion {
            major: num()?,
            minor: num()?,
            patch: num()?,
        };
        it.next().is_none().then_some(v)
    }
}

impl fmt::Display for UpstreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_order_and_refusals() {
        let v = |s| UpstreamVersion::parse(s).unwrap();
        assert!(v("24.10.0") > v("24.9.1"));
        assert_eq!(v("v22.1.2").to_string(), "22.1.2");
        for bad in ["24.0.0-rc.1", "24.1", "24.1.0.1", "x.1.0", "", "v"] {
            assert_eq!(UpstreamVersion::parse(bad), None, "{bad}");
        }
    }
}
