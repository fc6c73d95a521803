//! A package index: a `Packages` text and its table, the fields a
//! resolver chooses by ([`Summary`]) and where each stanza is.
//!
//! An index whose text the cache keeps holds only its table (~13 MB,
//! against 50–60 MB of text for bookworm amd64), fresh or not: the text
//! stays in its file, and a stanza is read from it when first asked for.
//! A warm `resolve` reads a few hundred stanzas instead of hashing and
//! copying the whole text. A text the cache cannot keep (the Release
//! names no uncompressed file) is held in memory.
//!
//! The cache keeps the text under its sha256, which the signed Release
//! names, written only after it matched; the table is made in the same
//! process from those very bytes and stored bound to that hash. What
//! guards them on later runs is damage detection, not a new trust: the
//! table carries an xxh3 of itself and of every stanza; a stanza read back
//! that does not match is taken instead from the text made anew from the
//! cached compressed index (hash-checked against the Release again), and
//! the damaged copy is replaced. `cache verify` re-hashes every text.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use distill_debian::{ControlError, Paragraph, StanzaSource, Summary, paragraphs};
use xxhash_rust::xxh3::xxh3_64;

/// A decompressed Packages file and the table of its stanzas.
#[derive(Default)]
pub struct PackageIndex {
    table: Table,
    text: Text,
}

impl std::fmt::Debug for PackageIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = match &self.text {
            Text::Memory(_) => "memory".to_owned(),
            Text::File(l) => l.path.display().to_string(),
        };
        write!(f, "PackageIndex({} stanzas, {at})", self.len())
    }
}

enum Text {
    Memory(String),
    File(Box<Lazy>),
}

impl Default for Text {
    fn default() -> Text {
        Text::Memory(String::new())
    }
}

/// Makes the verified text of an index anew (from the cached compressed
/// file), for when a stanza read back from the cached text is damaged.
pub(crate) type Remake = std::sync::Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// The text of a cached index, read a stanza at a time.
struct Lazy {
    file: std::fs::File,
    path: PathBuf,
    /// Each stanza's text once read and checked.
    read: Box<[OnceLock<Box<str>>]>,
    remake: Remake,
    remade: OnceLock<Result<String, String>>,
}

impl PackageIndex {
    /// The index of a text held in memory.
    pub fn parse(text: String) -> Result<PackageIndex, ControlError> {
        let table = Table::of(&text)?;
        Ok(PackageIndex::with_table(text, table))
    }

    /// The index of `text` from its [`Table`], which must have been made
    /// from this very text.
    pub(crate) fn with_table(text: String, table: Table) -> PackageIndex {
        PackageIndex {
            table,
            text: Text::Memory(text),
        }
    }

    /// The index of the cached text at `path`, its stanzas read when first
    /// asked for; `table` must have been made from the text that file was
    /// written with ([`Table::from_bytes`] checks the binding).
    pub(crate) fn cached(
        path: PathBuf,
        table: Table,
        remake: Remake,
    ) -> std::io::Result<PackageIndex> {
        let file = std::fs::File::open(&path)?;
        let read = (0..table.len()).map(|_| OnceLock::new()).collect();
        Ok(PackageIndex {
            table,
            text: Text::File(Box::new(Lazy {
                file,
                path,
                read,
                remake,
                remade: OnceLock::new(),
            })),
        })
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Every stanza, in file order.
    pub fn stanzas(&self) -> impl Iterator<Item = Result<Paragraph<'_>, String>> {
        (0..self.table.len() as u32).map(|i| self.stanza(i))
    }

    /// The stanzas of package `name`, in file order.
    pub fn get(&self, name: &str) -> Result<Vec<Paragraph<'_>>, String> {
        self.table
            .named(name)
            .iter()
            .map(|&i| self.stanza(i))
            .collect()
    }
}

impl StanzaSource for PackageIndex {
    fn count(&self) -> u32 {
        self.table.len() as u32
    }

    fn summary(&self, id: u32) -> Summary<'_> {
        self.table.summary(id)
    }

    fn named(&self, name: &str) -> &[u32] {
        self.table.named(name)
    }

    fn providing(&self, virt: &str) -> Vec<(u32, Option<&str>)> {
        self.table.providing(virt)
    }

    fn stanza_text(&self, id: u32) -> Result<&str, String> {
        let r = self
            .table
            .records
            .get(id as usize)
            .ok_or_else(|| format!("{self:?} has no stanza {id}"))?;
        match &self.text {
            // Spans were checked against the text when the table was made.
            Text::Memory(text) => Ok(&text[r.span()]),
            Text::File(lazy) => lazy.stanza(id, r),
        }
    }
}

impl Lazy {
    fn stanza(&self, id: u32, r: &Record) -> Result<&str, String> {
        let cell = &self.read[id as usize];
        if let Some(text) = cell.get() {
            return Ok(text);
        }
        let mut buf = vec![0; r.len as usize];
        let read = self.file.read_exact_at(&mut buf, r.start as u64);
        let text = match read.ok().filter(|_| xxh3_64(&buf) == r.hash) {
            Some(()) => String::from_utf8(buf).ok(),
            None => None,
        };
        let text = match text {
            Some(t) => t,
            None => {
                // Damaged (or cut short) since it was written: not used.
                // The text is made again from the compressed index, once,
                // which also puts a good copy back in place of this one
                // (removed first, and only then: a later damaged stanza,
                // read from the old file, must not remove the new copy).
                let whole = self
                    .remade
                    .get_or_init(|| {
                        let _ = std::fs::remove_file(&self.path);
                        (self.remake)()
                    })
                    .as_ref()?;
                let t = whole
                    .get(r.span())
                    .filter(|t| xxh3_64(t.as_bytes()) == r.hash)
                    .ok_or_else(|| {
                        format!(
                            "the cached index table for {} does not match its text",
                            self.path.display()
                        )
                    })?;
                t.to_owned()
            }
        };
        let _ = cell.set(text.into_boxed_str());
        Ok(cell.get().expect("set just now"))
    }
}

/// A [`Table`] made as its text arrives: whole stanzas at a time.
pub(crate) struct TableBuilder {
    t: Table,
}

impl TableBuilder {
    /// For a text of about `size` bytes.
    pub(crate) fn new(size: usize) -> TableBuilder {
        // Sized from what Debian's indices hold (a stanza per ~750 bytes,
        // ~45 bytes of summary each), so the pool and records rarely grow.
        TableBuilder {
            t: Table {
                records: Vec::with_capacity(size / 600),
                pool: String::with_capacity(size / 12),
                ..Table::default()
            },
        }
    }

    /// Adds the stanzas of `region`: whole stanzas only, starting `at`
    /// bytes into the text. Errors name lines of the region.
    pub(crate) fn feed(&mut self, region: &str, at: usize) -> Result<(), ControlError> {
        let t = &mut self.t;
        let base = region.as_ptr() as usize;
        let mut stanzas = paragraphs(region);
        let fields = [
            "Package",
            "Version",
            "Architecture",
            "Multi-Arch",
            "Provides",
        ];
        let mut provided = Vec::new();
        while let Some(next) = stanzas.next_fields(fields) {
            let (s, [name, version, arch, multi_arch, provides]) = next?;
            let Some(name) = name else {
                // A stanza without a name cannot be asked for; dpkg skips
                // such entries too.
                continue;
            };
            // Nor can one whose name, version or architecture is outside
            // what Debian Policy allows: skipped, so nothing outside
            // that alphabet reaches a lock, an SBOM, a path or a terminal.
            let well_formed = distill_debian::is_package_name(name)
                && version.is_none_or(|v| distill_debian::Version::parse(v).is_ok())
                && arch.is_none_or(distill_debian::is_arch_name);
            if !well_formed {
                continue;
            }
            let id = t.records.len() as u32;
            if let Some(field) = provides {
                provided.clear();
                distill_debian::provided(field, &mut provided).map_err(|e| {
                    ControlError::BadField {
                        package: name.to_owned(),
                        field: "Provides",
                        cause: e.to_string(),
                    }
                })?;
                for (virt, version) in &provided {
                    let p = Provide {
                        virt: t.put(Some(virt)),
                        version: t.put(version.as_deref()),
                        id,
                    };
                    t.provides.push(p);
                }
            }
            let r = Record {
                start: (at + s.as_ptr() as usize - base) as u32,
                len: s.len() as u32,
                name: t.put(Some(name)),
                version: t.put(version),
                arch: t.put(arch),
                multi_arch: t.put(multi_arch),
                provides: t.put(provides),
                hash: xxh3_64(s.as_bytes()),
            };
            t.records.push(r);
        }
        Ok(())
    }

    /// The table, with its name and provides orders.
    pub(crate) fn finish(self) -> Table {
        let mut t = self.t;
        // Unstable sorts of keys that end in the stanza number: the order
        // of a stable sort, without its buffer; the strings at hand in the
        // keys, not looked up for each comparison.
        let mut names: Vec<(&str, u32)> = (0..t.records.len() as u32)
            .map(|i| (t.name(i), i))
            .collect();
        names.sort_unstable();
        let by_name = names.into_iter().map(|(_, i)| i).collect();
        let mut virts: Vec<(&str, u32, usize)> = (t.provides.iter().enumerate())
            .map(|(n, p)| (t.string(p.virt).unwrap_or(""), p.id, n))
            .collect();
        virts.sort_unstable();
        let provides = virts.into_iter().map(|(_, _, n)| t.provides[n]).collect();
        (t.by_name, t.provides) = (by_name, provides);
        t
    }
}

/// Whether `bytes` is an index table of this format with an intact
/// checksum (what `cache verify` can check without the text's hash).
pub fn table_intact(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
        && bytes
            .split_last_chunk::<8>()
            .is_some_and(|(body, sum)| xxh3_64(body) == u64::from_le_bytes(*sum))
}

/// Where each stanza of a Packages text is and its [`Summary`], with an
/// xxh3 of its text; the stanzas in name order; and every provide, in
/// virtual-name order: what a cached index keeps beside the text, so a
/// universe looks names up here instead of building its own tables.
#[derive(Debug, Default)]
pub(crate) struct Table {
    records: Vec<Record>,
    /// Stanza numbers sorted by (name, number).
    by_name: Vec<u32>,
    /// Sorted by (virtual name, stanza number).
    provides: Vec<Provide>,
    /// The summaries' and provides' strings, one after another.
    pool: String,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    start: u32,
    len: u32,
    name: Ref,
    version: Ref,
    arch: Ref,
    multi_arch: Ref,
    provides: Ref,
    hash: u64,
}

impl Record {
    fn span(&self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// Stanza `id` provides `virt`, at `version` if it says one.
#[derive(Debug, Clone, Copy)]
struct Provide {
    virt: Ref,
    version: Ref,
    id: u32,
}

/// A string of the pool: offset and length; `off == u32::MAX` for none.
#[derive(Debug, Clone, Copy)]
struct Ref {
    off: u32,
    len: u32,
}

impl Ref {
    const NONE: Ref = Ref {
        off: u32::MAX,
        len: 0,
    };
}

/// The serialised table: this header, the records, the by-name order, the
/// provides, the pool, then an xxh3 of everything before it.
/// Little-endian throughout.
const MAGIC: &[u8; 16] = b"distill-table 2\n";
const HEADER: usize = 16 + 64 + 8 + 4 + 4 + 4;
const RECORD: usize = 4 + 4 + 5 * 8 + 8;
const PROVIDE: usize = 8 + 8 + 4;

impl Table {
    /// The table of `text`: one pass over its stanzas, then the sorts.
    pub(crate) fn of(text: &str) -> Result<Table, ControlError> {
        let mut b = TableBuilder::new(text.len());
        b.feed(text, 0)?;
        Ok(b.finish())
    }

    fn put(&mut self, v: Option<&str>) -> Ref {
        match v {
            None => Ref::NONE,
            Some(v) => {
                let r = Ref {
                    off: self.pool.len() as u32,
                    len: v.len() as u32,
                };
                self.pool.push_str(v);
                r
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    fn string(&self, r: Ref) -> Option<&str> {
        (r.off != u32::MAX).then(|| &self.pool[r.off as usize..(r.off + r.len) as usize])
    }

    fn name(&self, id: u32) -> &str {
        self.string(self.records[id as usize].name).unwrap_or("")
    }

    fn summary(&self, id: u32) -> Summary<'_> {
        let r = &self.records[id as usize];
        Summary {
            name: self.string(r.name).unwrap_or(""),
            version: self.string(r.version),
            arch: self.string(r.arch),
            multi_arch: self.string(r.multi_arch),
            provides: self.string(r.provides),
        }
    }

    fn named(&self, name: &str) -> &[u32] {
        let start = self.by_name.partition_point(|&i| self.name(i) < name);
        let len = self.by_name[start..]
            .iter()
            .take_while(|&&i| self.name(i) == name)
            .count();
        &self.by_name[start..start + len]
    }

    fn providing(&self, virt: &str) -> Vec<(u32, Option<&str>)> {
        let of = |p: &Provide| self.string(p.virt).unwrap_or("");
        let start = self.provides.partition_point(|p| of(p) < virt);
        self.provides[start..]
            .iter()
            .take_while(|p| of(p) == virt)
            .map(|p| (p.id, self.string(p.version)))
            .collect()
    }

    /// The table as bytes, bound to its text: `sha256` (hex) and length.
    pub(crate) fn to_bytes(&self, sha256: &str, text_len: u64) -> Vec<u8> {
        let size = HEADER
            + self.records.len() * (RECORD + 4)
            + self.provides.len() * PROVIDE
            + self.pool.len()
            + 8;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(sha256.as_bytes());
        out.extend_from_slice(&text_len.to_le_bytes());
        for n in [self.records.len(), self.provides.len(), self.pool.len()] {
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        let put_ref = |out: &mut Vec<u8>, s: Ref| {
            out.extend_from_slice(&s.off.to_le_bytes());
            out.extend_from_slice(&s.len.to_le_bytes());
        };
        for r in &self.records {
            out.extend_from_slice(&r.start.to_le_bytes());
            out.extend_from_slice(&r.len.to_le_bytes());
            for s in [r.name, r.version, r.arch, r.multi_arch, r.provides] {
                put_ref(&mut out, s);
            }
            out.extend_from_slice(&r.hash.to_le_bytes());
        }
        for id in &self.by_name {
            out.extend_from_slice(&id.to_le_bytes());
        }
        for p in &self.provides {
            put_ref(&mut out, p.virt);
            put_ref(&mut out, p.version);
            out.extend_from_slice(&p.id.to_le_bytes());
        }
        out.extend_from_slice(self.pool.as_bytes());
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// The table in `bytes` if it is whole and made for the text with
    /// `sha256` (hex) and length `text_len`: its checksum matches, and
    /// every span, string and stanza number lies where it can (so a lookup
    /// cannot go out of bounds). `None` for anything else: the caller
    /// makes it anew.
    pub(crate) fn from_bytes(bytes: &[u8], sha256: &str, text_len: u64) -> Option<Table> {
        let (body, sum) = bytes.split_last_chunk::<8>()?;
        if xxh3_64(body) != u64::from_le_bytes(*sum) || body.len() < HEADER {
            return None;
        }
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        if &body[..16] != MAGIC
            || &body[16..80] != sha256.as_bytes()
            || body[80..88] != text_len.to_le_bytes()
        {
            return None;
        }
        let count = u32_at(body, 88) as usize;
        let provides = u32_at(body, 92) as usize;
        let pool_len = u32_at(body, 96) as usize;
        let records_end = HEADER.checked_add(count.checked_mul(RECORD)?)?;
        let order_end = records_end.checked_add(count.checked_mul(4)?)?;
        let provides_end = order_end.checked_add(provides.checked_mul(PROVIDE)?)?;
        if body.len() != provides_end.checked_add(pool_len)? {
            return None;
        }
        let pool = std::str::from_utf8(&body[provides_end..]).ok()?.to_owned();
        let string = |b: &[u8], at: usize| -> Option<Ref> {
            let r = Ref {
                off: u32_at(b, at),
                len: u32_at(b, at + 4),
            };
            if r.off == u32::MAX {
                return Some(Ref::NONE);
            }
            let end = (r.off as usize).checked_add(r.len as usize)?;
            (pool.is_char_boundary(r.off as usize)
                && end <= pool.len()
                && pool.is_char_boundary(end))
            .then_some(r)
        };
        let mut records = Vec::with_capacity(count);
        for b in body[HEADER..records_end].chunks_exact(RECORD) {
            let r = Record {
                start: u32_at(b, 0),
                len: u32_at(b, 4),
                name: string(b, 8)?,
                version: string(b, 16)?,
                arch: string(b, 24)?,
                multi_arch: string(b, 32)?,
                provides: string(b, 40)?,
                hash: u64::from_le_bytes(b[48..56].try_into().unwrap()),
            };
            if r.name.off == u32::MAX || r.start as u64 + r.len as u64 > text_len {
                return None;
            }
            records.push(r);
        }
        let id = |b: &[u8], at: usize| Some(u32_at(b, at)).filter(|&i| (i as usize) < count);
        let by_name = body[records_end..order_end]
            .chunks_exact(4)
            .map(|b| id(b, 0))
            .collect::<Option<Vec<u32>>>()?;
        let provides = body[order_end..provides_end]
            .chunks_exact(PROVIDE)
            .map(|b| {
                let virt = string(b, 0).filter(|v| v.off != u32::MAX)?;
                Some(Provide {
                    virt,
                    version: string(b, 8)?,
                    id: id(b, 16)?,
                })
            })
            .collect::<Option<Vec<Provide>>>()?;
        Some(Table {
            records,
            by_name,
            provides,
            pool,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: b\nVersion: 1\nArchitecture: all\n\n\
        Package: a\nVersion: 2\nArchitecture: amd64\nMulti-Arch: same\nProvides: x (= 2), y\n\n\
        Version: 9\n\n\
        Package: b\nVersion: 3\n";

    #[test]
    fn lookup_by_name() {
        let idx = PackageIndex::parse(TEXT.into()).unwrap();
        assert_eq!(idx.len(), 3, "the stanza without a name is left out");
        let b: Vec<_> = idx
            .get("b")
            .unwrap()
            .iter()
            .map(|p| p.get("Version").unwrap())
            .collect();
        assert_eq!(b, ["1", "3"]);
        assert_eq!(idx.get("a").unwrap().len(), 1);
        assert!(idx.get("c").unwrap().is_empty());
        assert!(idx.get("").unwrap().is_empty());
        assert_eq!(idx.stanzas().count(), 3);
        assert_eq!(
            idx.summary(1),
            Summary {
                name: "a",
                version: Some("2"),
                arch: Some("amd64"),
                multi_arch: Some("same"),
                provides: Some("x (= 2), y"),
            }
        );
        assert_eq!(idx.summary(2).arch, None);
        assert_eq!(idx.named("b"), [0, 2]);
        assert_eq!(idx.providing("x"), [(1, Some("2"))]);
        assert_eq!(idx.providing("y"), [(1, None)]);
        assert!(idx.providing("a").is_empty());
    }

    #[test]
    fn a_bad_provides_is_an_error_naming_the_package() {
        let e = PackageIndex::parse("Package: a\nProvides: x (= \n".into()).unwrap_err();
        assert!(e.to_string().starts_with("package a: bad Provides"), "{e}");
    }

    /// A stored table reads back whole; bound to its text's hash and
    /// length; and any damage to it is refused rather than trusted.
    #[test]
    fn table_round_trips_and_refuses_damage() {
        let table = Table::of(TEXT).unwrap();
        let sha = "ab".repeat(32);
        let bytes = table.to_bytes(&sha, TEXT.len() as u64);
        let back = Table::from_bytes(&bytes, &sha, TEXT.len() as u64).unwrap();
        let idx = PackageIndex::with_table(TEXT.into(), back);
        assert_eq!(idx.summary(1).provides, Some("x (= 2), y"));
        assert_eq!(idx.get("b").unwrap().len(), 2);
        assert_eq!(idx.providing("x"), [(1, Some("2"))]);

        assert!(Table::from_bytes(&bytes, &"cd".repeat(32), TEXT.len() as u64).is_none());
        assert!(Table::from_bytes(&bytes, &sha, TEXT.len() as u64 + 1).is_none());
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert!(
                Table::from_bytes(&bad, &sha, TEXT.len() as u64).is_none(),
                "a flipped byte at {at} was taken"
            );
        }
        assert!(Table::from_bytes(&bytes[..bytes.len() - 1], &sha, TEXT.len() as u64).is_none());
        assert!(Table::from_bytes(b"", &sha, 0).is_none());
    }

    /// A cached index reads stanzas from its file; a stanza damaged on
    /// disk is taken from the remade text instead, and the damaged file
    /// is removed.
    #[test]
    fn a_damaged_stanza_on_disk_is_remade_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text");
        let open = |remade: &'static str| {
            let table = Table::of(TEXT).unwrap();
            let remake: Remake = std::sync::Arc::new(move || Ok(remade.to_owned()));
            PackageIndex::cached(path.clone(), table, remake).unwrap()
        };
        std::fs::write(&path, TEXT).unwrap();
        let idx = open("unused");
        assert_eq!(idx.get("a").unwrap()[0].get("Version"), Some("2"));

        let damaged = TEXT.replace("Version: 2", "Version: 7");
        std::fs::write(&path, &damaged).unwrap();
        let idx = open(TEXT);
        assert_eq!(idx.get("a").unwrap()[0].get("Version"), Some("2"));
        assert!(!path.exists(), "the damaged copy is removed");

        // Remade wrong too (cannot happen: it is hash-checked): an error.
        std::fs::write(&path, &damaged).unwrap();
        let idx = open("Package: a\n");
        let e = idx.get("a").unwrap_err();
        assert!(e.contains("does not match"), "{e}");
    }
}
