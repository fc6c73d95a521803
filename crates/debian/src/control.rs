//! deb822 control stanzas (Packages, Release, status, control files).
//!
//! Rules followed, from deb822(5) and what real archives contain:
//! - stanzas are separated by one or more blank (or whitespace-only) lines;
//! - a line starting with space or tab continues the previous field;
//! - a line starting with `#` is a comment (Release files may carry them);
//! - field names compare case-insensitively;
//! - CRLF line endings are tolerated.

/// One stanza: its fields in file order, each value borrowed from the input.
///
/// A value is the raw text after the colon, continuation lines included
/// (with their leading space and line breaks); `get` trims the ends, and
/// `lines` walks a multiline value line by line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph<'a> {
    fields: Vec<(&'a str, &'a str)>,
    text: &'a str,
}

impl<'a> Paragraph<'a> {
    /// The trimmed value of `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// Several fields in one pass over the stanza (trimmed values, in the
    /// order asked), for hot loops over whole indices.
    pub fn get_many<const N: usize>(&self, names: [&str; N]) -> [Option<&'a str>; N] {
        let mut out = [None; N];
        for (k, v) in &self.fields {
            // Length first: most fields are ruled out without reading them.
            let hit = names
                .iter()
                .position(|n| n.len() == k.len() && k.eq_ignore_ascii_case(n));
            if let Some(i) = hit {
                out[i].get_or_insert_with(|| v.trim());
            }
        }
        out
    }

    /// The non-empty lines of a (multiline) field, each trimmed.
    pub fn lines(&self, name: &str) -> impl Iterator<Item = &'a str> {
        self.get(name)
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
    }

    /// Fields in the order they appear.
    pub fn fields(&self) -> &[(&'a str, &'a str)] {
        &self.fields
    }

    /// The stanza's exact source text (without the separating blank line).
    pub fn text(&self) -> &'a str {
        self.text
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("line {line}: expected `Field: value`, found {found:?}")]
    NotAField { line: usize, found: String },
    #[error("line {line}: continuation line before any field")]
    OrphanContinuation { line: usize },
    #[error("line {line}: empty field name")]
    EmptyName { line: usize },
    #[error("package {package}: bad {field}: {cause}")]
    BadField {
        package: String,
        field: &'static str,
        cause: String,
    },
}

impl ControlError {
    /// The same error in a text that had `lines` more lines before the
    /// part that was parsed.
    pub fn after_lines(self, lines: usize) -> ControlError {
        match self {
            ControlError::NotAField { line, found } => ControlError::NotAField {
                line: line + lines,
                found,
            },
            ControlError::OrphanContinuation { line } => {
                ControlError::OrphanContinuation { line: line + lines }
            }
            ControlError::EmptyName { line } => ControlError::EmptyName { line: line + lines },
            other => other,
        }
    }
}

/// Iterates over the stanzas of `text`.
pub fn paragraphs(text: &str) -> Paragraphs<'_> {
    Paragraphs {
        text,
        newlines: memchr::memchr_iter(b'\n', text.as_bytes()),
        pos: 0,
        line: 0,
    }
}

pub struct Paragraphs<'a> {
    text: &'a str,
    /// Every line end, found by one SIMD scan over the whole text rather
    /// than a fresh search per (short) line.
    newlines: memchr::Memchr<'a>,
    pos: usize,
    line: usize,
}

impl<'a> Paragraphs<'a> {
    /// The next line (without its terminator, `\r` stripped) and its start.
    fn next_line(&mut self) -> Option<(usize, &'a str)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let start = self.pos;
        let end = self.newlines.next().unwrap_or(self.text.len());
        self.pos = end + 1;
        self.line += 1;
        let line = &self.text[start..end];
        Some((start, line.strip_suffix('\r').unwrap_or(line)))
    }
}

/// A stanza's text and the values of the fields asked for.
pub type Fields<'a, const N: usize> = (&'a str, [Option<&'a str>; N]);

impl<'a> Paragraphs<'a> {
    /// Reads the next stanza, handing each field (name, raw value) to
    /// `field` as it completes; returns the stanza's text.
    fn next_with(
        &mut self,
        mut field: impl FnMut(&'a str, &'a str),
    ) -> Option<Result<&'a str, ControlError>> {
        let mut start = None;
        let mut end = 0;
        // Value of the field being read: start offset, end offset.
        let mut open: Option<(&'a str, usize, usize)> = None;
        while let Some((at, line)) = self.next_line() {
            let first = line.as_bytes().first().copied();
            // Blank (or whitespace-only) line: checked from the first byte
            // so ordinary lines are not scanned twice.
            let blank = match first {
                None => true,
                Some(b' ' | b'\t') => line.bytes().all(|b| b.is_ascii_whitespace()),
                Some(_) => false,
            };
            if blank {
                if start.is_some() {
                    break;
                }
                continue;
            }
            if first == Some(b'#') {
                continue;
            }
            if matches!(first, Some(b' ' | b'\t')) {
                match open.as_mut() {
                    Some((_, _, value_end)) => *value_end = at + line.len(),
                    None => {
                        return Some(Err(ControlError::OrphanContinuation { line: self.line }));
                    }
                }
                end = at + line.len();
                continue;
            }
            // Field names are short: a plain scan beats a SIMD search here.
            let Some(colon) = line.bytes().position(|b| b == b':') else {
                return Some(Err(ControlError::NotAField {
                    line: self.line,
                    found: line.chars().take(60).collect(),
                }));
            };
            let name = line[..colon].trim_end();
            if name.is_empty() {
                return Some(Err(ControlError::EmptyName { line: self.line }));
            }
            if let Some((k, s, e)) = open.take() {
                field(k, &self.text[s..e]);
            }
            start.get_or_insert(at);
            open = Some((name, at + colon + 1, at + line.len()));
            end = at + line.len();
        }
        if let Some((k, s, e)) = open.take() {
            field(k, &self.text[s..e]);
        }
        let start = start?;
        Some(Ok(&self.text[start..end]))
    }

    /// The next stanza's text and the trimmed values of the fields named
    /// (case-insensitive, first occurrence wins), without collecting the
    /// rest: the fast path for hot loops over whole indices.
    pub fn next_fields<const N: usize>(
        &mut self,
        names: [&str; N],
    ) -> Option<Result<Fields<'a, N>, ControlError>> {
        let mut out = [None; N];
        let text = self.next_with(|k, v| {
            // Length first: most fields are ruled out without reading them.
            let hit = names
                .iter()
                .position(|n| n.len() == k.len() && k.eq_ignore_ascii_case(n));
            if let Some(i) = hit {
                out[i].get_or_insert_with(|| v.trim());
            }
        });
        Some(text?.map(|text| (text, out)))
    }
}

impl<'a> Iterator for Paragraphs<'a> {
    type Item = Result<Paragraph<'a>, ControlError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut fields: Vec<(&'a str, &'a str)> = Vec::with_capacity(24);
        let text = self.next_with(|k, v| fields.push((k, v)));
        Some(text?.map(|text| Paragraph { fields, text }))
    }
}

/// The fields of a `Packages` stanza a resolver chooses candidates by,
/// trimmed, as the stanza has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary<'a> {
    pub name: &'a str,
    pub version: Option<&'a str>,
    pub arch: Option<&'a str>,
    pub multi_arch: Option<&'a str>,
    pub provides: Option<&'a str>,
}

/// A package index's stanzas by number: each one's [`Summary`] at hand,
/// looked up by name or by what it provides, its text had on first use
/// (an index kept in the cache reads only the stanzas a resolution
/// touches, like apt's binary package cache).
pub trait StanzaSource: Sync {
    /// How many stanzas; numbers run from 0.
    fn count(&self) -> u32;
    /// The summary of stanza `id` (< count).
    fn summary(&self, id: u32) -> Summary<'_>;
    /// The text of stanza `id` (one paragraph), or why it cannot be had.
    fn stanza_text(&self, id: u32) -> Result<&str, String>;
    /// Stanza `id`, parsed.
    fn stanza(&self, id: u32) -> Result<Paragraph<'_>, String> {
        match paragraphs(self.stanza_text(id)?).next() {
            Some(Ok(p)) => Ok(p),
            _ => Err(format!("stanza {id} does not parse")),
        }
    }
    /// The stanzas whose `Package` is `name`, in file order.
    fn named(&self, name: &str) -> &[u32];
    /// The stanzas whose `Provides` names `virt`, in file order, each
    /// with the version it provides, if any.
    fn providing(&self, virt: &str) -> Vec<(u32, Option<&str>)>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Paragraph<'_>> {
        paragraphs(text).collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn simple_and_folded_fields() {
        let text =
            "Package: a\nDescription: short\n long line\n .\n more\n\n\nPackage: b\nversion: 1\n";
        let ps = all(text);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("a"));
        assert_eq!(
            ps[0].lines("Description").collect::<Vec<_>>(),
            ["short", "long line", ".", "more"]
        );
        assert_eq!(ps[1].get("Version"), Some("1"));
        assert_eq!(ps[1].text(), "Package: b\nversion: 1");
    }

    #[test]
    fn crlf_comments_and_multiline_hash_lists() {
        let text = "# comment\r\nOrigin: Debian\r\nSHA256:\r\n abc 12 main/x\r\n def 34 main/y\r\n";
        let ps = all(text);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].get("Origin"), Some("Debian"));
        assert_eq!(
            ps[0].lines("sha256").collect::<Vec<_>>(),
            ["abc 12 main/x", "def 34 main/y"]
        );
    }

    #[test]
    fn whitespace_only_separator_and_no_trailing_newline() {
        let ps = all("A: 1\n \t \nB: 2");
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].get("b"), Some("2"));
    }

    #[test]
    fn errors_name_the_line() {
        let err = paragraphs("A: 1\nnot a field\n")
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err,
            ControlError::NotAField {
                line: 2,
                found: "not a field".into()
            }
        );
        let err = paragraphs(" cont\n").next().unwrap().unwrap_err();
        assert_eq!(err, ControlError::OrphanContinuation { line: 1 });
        assert!(paragraphs("\n\n").next().is_none());
    }

    #[test]
    fn get_many_reads_several_fields_in_one_pass() {
        let ps = all("Package: a\nVersion: 1\nversion: 2\nArchitecture: all\n");
        assert_eq!(
            ps[0].get_many(["architecture", "Version", "Provides"]),
            [Some("all"), Some("1"), None]
        );
    }

    #[test]
    fn next_fields_agrees_with_paragraphs() {
        let text = "# c\nPackage: a\nVersion: 1\nDepends: x,\n y\nversion: 2\n\n \nPackage: b\r\n";
        let mut it = paragraphs(text);
        let (t, [p, v, d, m]) = it
            .next_fields(["package", "Version", "Depends", "Multi-Arch"])
            .unwrap()
            .unwrap();
        assert_eq!(t, all(text)[0].text());
        assert_eq!((p, v, d, m), (Some("a"), Some("1"), Some("x,\n y"), None));
        let (t, [p]) = it.next_fields(["Package"]).unwrap().unwrap();
        assert_eq!((t, p), ("Package: b", Some("b")));
        assert!(it.next_fields(["Package"]).is_none());
        let err = paragraphs("A: 1\nbad\n").next_fields(["A"]).unwrap();
        assert_eq!(
            err.unwrap_err(),
            ControlError::NotAField {
                line: 2,
                found: "bad".into()
            }
        );
    }

    #[test]
    fn value_with_colons_is_kept_whole() {
        let ps = all("Filename: pool/main/a/a_1:2.deb\n");
        assert_eq!(ps[0].get("filename"), Some("pool/main/a/a_1:2.deb"));
    }
}
