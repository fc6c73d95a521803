//! `/etc/ld.so.cache` written from the image's files, without running
//! ldconfig (which would mean running foreign-architecture code): ELF
//! SONAMEs are read from the libraries' dynamic sections, and the cache is
//! glibc's `glibc-ld.so.cache1.1` format in the target's byte order.

/// The SONAME of an ELF shared object, if `bytes` is one. Every read is
/// bounds-checked and every offset sum is checked arithmetic: the bytes
/// come from a package, and a crafted `.so` must give `None`, not a panic.
pub fn elf_soname(bytes: &[u8]) -> Option<String> {
    let ident: [u8; 6] = bytes.get(..6)?.try_into().ok()?;
    if ident[..4] != *b"\x7fELF" {
        return None;
    }
    let wide = match ident[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match ident[5] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let r = Reader { bytes, big };
    // ET_DYN only: executables are not libraries.
    if r.u16(0x10)? != 3 {
        return None;
    }
    let (shoff, shentsize, shnum) = if wide {
        (r.u64(0x28)?, r.u16(0x3A)? as u64, r.u16(0x3C)? as u64)
    } else {
        (
            r.u32(0x20)? as u64,
            r.u16(0x2E)? as u64,
            r.u16(0x30)? as u64,
        )
    };
    // (type, offset, size, link) of section `i`.
    let section = |i: u64| -> Option<(u32, u64, u64, u32)> {
        let at = usize::try_from(shoff.checked_add(i.checked_mul(shentsize)?)?).ok()?;
        let field = |off: usize| at.checked_add(off);
        if wide {
            Some((
                r.u32(field(4)?)?,
                r.u64(field(0x18)?)?,
                r.u64(field(0x20)?)?,
                r.u32(field(0x28)?)?,
            ))
        } else {
            Some((
                r.u32(field(4)?)?,
                r.u32(field(0x10)?)? as u64,
                r.u32(field(0x14)?)? as u64,
                r.u32(field(0x18)?)?,
            ))
        }
    };
    const SHT_DYNAMIC: u32 = 6;
    const DT_SONAME: u64 = 14;
    for i in 0..shnum {
        let (kind, off, size, link) = section(i)?;
        if kind != SHT_DYNAMIC {
            continue;
        }
        let (_, str_off, str_size, _) = section(link as u64)?;
        let step: u64 = if wide { 16 } else { 8 };
        let end = off.checked_add(size)?;
        let mut at = off;
        while at.checked_add(step)? <= end {
            let a = usize::try_from(at).ok()?;
            let (tag, val) = if wide {
                (r.u64(a)?, r.u64(a.checked_add(8)?)?)
            } else {
                (r.u32(a)? as u64, r.u32(a.checked_add(4)?)? as u64)
            };
            if tag == 0 {
                break;
            }
            if tag == DT_SONAME && val < str_size {
                let start = usize::try_from(str_off.checked_add(val)?).ok()?;
                let name = bytes.get(start..)?;
                let len = name.iter().position(|&b| b == 0)?;
                return String::from_utf8(name[..len].to_vec()).ok();
            }
            at += step;
        }
    }
    None
}

struct Reader<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn take<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.bytes.get(at..at.checked_add(N)?)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.take(at)?;
        Some(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.take(at)?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn u64(&self, at: usize) -> Option<u64> {
        let b = self.take(at)?;
        Some(if self.big {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }
}

/// Per Debian architecture: the multiarch triplet, ld.so.cache's entry
/// flags (FLAG_ELF_LIBC6 plus the ABI bits of glibc's dl-cache.h) and
/// whether it is big-endian.
pub fn arch_info(debian_arch: &str) -> Option<(&'static str, i32, bool)> {
    Some(match debian_arch {
        "amd64" => ("x86_64-linux-gnu", 0x0303, false),
        "arm64" => ("aarch64-linux-gnu", 0x0a03, false),
        "armhf" => ("arm-linux-gnueabihf", 0x0903, false),
        "ppc64el" => ("powerpc64le-linux-gnu", 0x0503, false),
        "s390x" => ("s390x-linux-gnu", 0x0403, true),
        "riscv64" => ("riscv64-linux-gnu", 0x1003, false),
        "i386" => ("i386-linux-gnu", 0x0003, false),
        _ => return None,
    })
}

/// glibc's `_dl_cache_libcmp`: runs of digits compare as numbers, so
/// `libfoo.so.10` sorts after `libfoo.so.9`.
pub(crate) fn libcmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() {
        if j >= b.len() {
            return Ordering::Greater;
        }
        match (a[i].is_ascii_digit(), b[j].is_ascii_digit()) {
            (true, true) => {
                let (mut x, mut y) = (0u64, 0u64);
                while i < a.len() && a[i].is_ascii_digit() {
                    x = x.saturating_mul(10).saturating_add((a[i] - b'0') as u64);
                    i += 1;
                }
                while j < b.len() && b[j].is_ascii_digit() {
                    y = y.saturating_mul(10).saturating_add((b[j] - b'0') as u64);
                    j += 1;
                }
                if x != y {
                    return x.cmp(&y);
                }
            }
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            (false, false) if a[i] != b[j] => return a[i].cmp(&b[j]),
            (false, false) => {
                i += 1;
                j += 1;
            }
        }
    }
    if j < b.len() {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

/// The cache for `(soname, full path)` entries. Entries are sorted the
/// way ld.so's binary search expects (descending by [`libcmp`]); string
/// offsets count from the start of the file, as in the new format.
pub fn ld_so_cache(entries: &[(String, String)], flags: i32, big_endian: bool) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = entries.iter().collect();
    sorted.sort_by(|x, y| libcmp(&y.0, &x.0).then_with(|| x.1.cmp(&y.1)));
    sorted.dedup_by(|x, y| x.0 == y.0);
    const HEADER: usize = 48;
    const ENTRY: usize = 24;
    let strings_at = HEADER + ENTRY * sorted.len();
    let mut strings = Vec::new();
    let mut offsets = Vec::new();
    for (key, value) in &sorted {
        let k = strings_at + strings.len();
        strings.extend_from_slice(key.as_bytes());
        strings.push(0);
        let v = strings_at + strings.len();
        strings.extend_from_slice(value.as_bytes());
        strings.push(0);
        offsets.push((k as u32, v as u32));
    }
    let u32b = |n: u32| {
        if big_endian {
            n.to_be_bytes()
        } else {
            n.to_le_bytes()
        }
    };
    let mut out = Vec::with_capacity(strings_at + strings.len());
    out.extend_from_slice(b"glibc-ld.so.cache1.1");
    out.extend_from_slice(&u32b(sorted.len() as u32));
    out.extend_from_slice(&u32b(strings.len() as u32));
    // cache_file_new_flags_endian_little / _big.
    out.push(if big_endian { 3 } else { 2 });
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&u32b(0)); // no extension section
    out.extend_from_slice(&[0; 12]);
    for (k, v) in offsets {
        out.extend_from_slice(&u32b(flags as u32));
        out.extend_from_slice(&u32b(k));
        out.extend_from_slice(&u32b(v));
        out.extend_from_slice(&u32b(0)); // osversion
        out.extend_from_slice(&[0; 8]); // hwcap
    }
    out.extend_from_slice(&strings);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn libcmp_is_numeric_on_digit_runs() {
        assert_eq!(libcmp("libfoo.so.10", "libfoo.so.9"), Greater);
        assert_eq!(libcmp("libc.so.6", "libc.so.6"), Equal);
        assert_eq!(libcmp("libc.so", "libc.so.6"), Less);
        assert_eq!(libcmp("liba", "libb"), Less);
        assert_eq!(libcmp("lib2", "liba"), Greater);
    }

    /// A minimal 64-bit little-endian shared object whose SONAME is
    /// `libx.so.1`: header, string table, dynamic section, 3 sections.
    fn tiny_so() -> Vec<u8> {
        let mut b = vec![0u8; 304];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[0x10..0x12].copy_from_slice(&3u16.to_le_bytes());
        b[0x28..0x30].copy_from_slice(&112u64.to_le_bytes());
        b[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        b[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
        b[64..75].copy_from_slice(b"\0libx.so.1\0");
        b[80..88].copy_from_slice(&14u64.to_le_bytes());
        b[88..96].copy_from_slice(&1u64.to_le_bytes());
        let mut section = |i: usize, kind: u32, off: u64, size: u64, link: u32| {
            let at = 112 + i * 64;
            b[at + 4..at + 8].copy_from_slice(&kind.to_le_bytes());
            b[at + 0x18..at + 0x20].copy_from_slice(&off.to_le_bytes());
            b[at + 0x20..at + 0x28].copy_from_slice(&size.to_le_bytes());
            b[at + 0x28..at + 0x2C].copy_from_slice(&link.to_le_bytes());
        };
        section(1, 6, 80, 32, 2);
        section(2, 3, 64, 11, 0);
        b
    }

    #[test]
    fn soname_of_a_real_layout_and_no_panic_on_crafted_ones() {
        let so = tiny_so();
        assert_eq!(elf_soname(&so).as_deref(), Some("libx.so.1"));
        // Every truncation: None or the right answer, never a panic.
        for n in 0..so.len() {
            assert_ne!(elf_soname(&so[..n]).as_deref(), Some("other"));
        }
        // Offsets and sizes at the edge of u64 (sums that would overflow).
        let put = |at: usize, v: u64| {
            let mut b = so.clone();
            b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            b
        };
        for v in [u64::MAX, u64::MAX - 7, u64::MAX - 64, 1 << 63] {
            assert_eq!(elf_soname(&put(0x28, v)), None, "shoff {v}");
            // The dynamic section's offset and size, the string table's.
            for at in [112 + 64 + 0x18, 112 + 64 + 0x20, 112 + 128 + 0x18] {
                let _ = elf_soname(&put(at, v));
            }
            // The SONAME's string offset.
            let _ = elf_soname(&put(88, v));
        }
        // A 32-bit header with a short file.
        assert_eq!(elf_soname(b"\x7fELF\x01\x01"), None);
        assert_eq!(elf_soname(b"\x7fELF"), None);
    }

    #[test]
    fn cache_layout() {
        let c = ld_so_cache(
            &[
                ("libc.so.6".into(), "/lib/x/libc.so.6".into()),
                ("libz.so.1".into(), "/lib/x/libz.so.1".into()),
            ],
            0x0303,
            false,
        );
        assert_eq!(&c[..20], b"glibc-ld.so.cache1.1");
        assert_eq!(u32::from_le_bytes(c[20..24].try_into().unwrap()), 2);
        // Descending: libz first.
        let key = u32::from_le_bytes(c[48 + 4..48 + 8].try_into().unwrap()) as usize;
        assert_eq!(&c[key..key + 9], b"libz.so.1");
    }

    #[test]
    fn soname_of_this_test_binary_is_none_and_garbage_is_safe() {
        // The test executable is ET_EXEC or ET_DYN (PIE) without SONAME.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(elf_soname(&me), None);
        assert_eq!(elf_soname(b"\x7fELF\x02\x01"), None);
        let mut bad = me.clone();
        bad.truncate(100);
        assert_eq!(elf_soname(&bad), None);
    }
}
