use distill_debian::{ControlError, Paragraph, paragraphs};

/// A decompressed Packages file and the position of each stanza in it.
/// Stanzas are parsed on demand from the owned text: a full parse of
/// bookworm amd64 (63k stanzas) borrows instead of copying 50 MB.
#[derive(Debug, Clone, Default)]
pub struct PackageIndex {
    text: String,
    /// Byte range of each stanza, in file order.
    spans: Vec<(u32, u32)>,
    /// Byte range of each stanza's `Package` value.
    names: Vec<(u32, u32)>,
    /// Byte range of each stanza's `Provides` value, if it has one (found
    /// by the same pass, so the universe need not search for it).
    provides: Vec<Option<(u32, u32)>>,
    /// Stanza numbers sorted by package name (file order within), made on
    /// the first lookup: resolving and locking build their own map.
    by_name: std::sync::OnceLock<Vec<u32>>,
}

/// Where the stanzas of a text are: what [`PackageIndex`] keeps beside
/// the text. Found from a borrowed text, so it can be computed while the
/// same text is being hashed.
#[derive(Debug)]
pub(crate) struct Spans {
    spans: Vec<(u32, u32)>,
    names: Vec<(u32, u32)>,
    provides: Vec<Option<(u32, u32)>>,
}

impl Spans {
    pub(crate) fn of(text: &str) -> Result<Spans, ControlError> {
        let mut spans = Vec::new();
        let mut names = Vec::new();
        let mut provides = Vec::new();
        let base = text.as_ptr() as usize;
        let offset = |s: &str| (s.as_ptr() as usize - base) as u32;
        // Only the name and what it provides are read here (the universe
        // and `get` read the rest of a stanza when they need it).
        let mut stanzas = paragraphs(text);
        while let Some(next) = stanzas.next_fields(["Package", "Provides"]) {
            let (t, [name, provided]) = next?;
            let Some(name) = name else {
                // A stanza without a name cannot be asked for; dpkg skips
                // such entries too.
                continue;
            };
            spans.push((offset(t), offset(t) + t.len() as u32));
            names.push((offset(name), offset(name) + name.len() as u32));
            provides.push(provided.map(|p| (offset(p), offset(p) + p.len() as u32)));
        }
        Ok(Spans {
            spans,
            names,
            provides,
        })
    }
}

impl PackageIndex {
    pub fn parse(text: String) -> Result<PackageIndex, ControlError> {
        let spans = Spans::of(&text)?;
        Ok(PackageIndex::with_spans(text, spans))
    }

    /// The index of `text` from its [`Spans`], which must have been found
    /// in this very text.
    pub(crate) fn with_spans(text: String, spans: Spans) -> PackageIndex {
        PackageIndex {
            text,
            spans: spans.spans,
            names: spans.names,
            provides: spans.provides,
            by_name: Default::default(),
        }
    }

    /// Every stanza as (package name, stanza text, `Provides` value), in
    /// file order: split once when the index was loaded, so nothing is
    /// parsed again.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, Option<&str>)> {
        let at = |(s, e): (u32, u32)| &self.text[s as usize..e as usize];
        (0..self.spans.len()).map(move |i| {
            (
                at(self.names[i]),
                at(self.spans[i]),
                self.provides[i].map(at),
            )
        })
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn name(&self, i: u32) -> &str {
        let (s, e) = self.names[i as usize];
        &self.text[s as usize..e as usize]
    }

    fn stanza(&self, i: u32) -> Paragraph<'_> {
        let (s, e) = self.spans[i as usize];
        paragraphs(&self.text[s as usize..e as usize])
            .next()
            .expect("span holds one stanza")
            .expect("span parsed before")
    }

    /// Every stanza, in file order.
    pub fn stanzas(&self) -> impl Iterator<Item = Paragraph<'_>> {
        (0..self.spans.len() as u32).map(|i| self.stanza(i))
    }

    /// The stanzas of package `name`, in file order.
    pub fn get(&self, name: &str) -> Vec<Paragraph<'_>> {
        let by_name = self.by_name.get_or_init(|| {
            let mut order: Vec<u32> = (0..self.spans.len() as u32).collect();
            // Unstable sort on (name, stanza number): the order of a
            // stable sort by name, without its buffer.
            order.sort_unstable_by(|&a, &b| self.name(a).cmp(self.name(b)).then(a.cmp(&b)));
            order
        });
        let start = by_name.partition_point(|&i| self.name(i) < name);
        by_name[start..]
            .iter()
            .take_while(|&&i| self.name(i) == name)
            .map(|&i| self.stanza(i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_name() {
        let idx = PackageIndex::parse(
            "Package: b\nVersion: 1\n\nPackage: a\nVersion: 2\n\nPackage: b\nVersion: 3\n".into(),
        )
        .unwrap();
        assert_eq!(idx.len(), 3);
        let b: Vec<_> = idx
            .get("b")
            .iter()
            .map(|p| p.get("Version").unwrap())
            .collect();
        assert_eq!(b, ["1", "3"]);
        assert_eq!(idx.get("a").len(), 1);
        assert!(idx.get("c").is_empty());
        assert!(idx.get("").is_empty());
        assert_eq!(idx.stanzas().count(), 3);
    }
}
