//! A Java KeyStore (JKS) of trusted certificates, as `keytool` reads it
//! and as Debian's `ca-certificates-java` writes `/etc/ssl/certs/java/cacerts`
//! (groundwork for the java images). Deterministic: entries sorted by
//! alias, one creation time for all, no randomness in the format.
//!
//! Layout (big-endian): magic `FEEDFEED`, version 2, entry count; per
//! entry tag 2 (trusted certificate), alias (u16 length + modified UTF-8),
//! creation time (u64 ms), type `X.509` (u16 + UTF-8), certificate (u32
//! length + DER); then SHA-1 over the password as UTF-16BE, the bytes
//! `Mighty Aphrodite`, and everything before.

use sha1::{Digest, Sha1};

/// One certificate to trust, under its alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCert {
    pub alias: String,
    pub der: Vec<u8>,
}

/// The certificates of a CA bundle's source files (`path`, PEM text), one
/// per file, aliased as Debian does: `debian:<file name>.pem`, lower-case.
pub fn certs_from_pem_files(files: &[(String, Vec<u8>)]) -> Result<Vec<TrustedCert>, String> {
    use base64::Engine;
    let mut out = Vec::new();
    for (path, pem) in files.iter().filter(|(p, _)| p.ends_with(".crt")) {
        let text = std::str::from_utf8(pem).map_err(|_| format!("{path}: not UTF-8"))?;
        let body = text
            .split("-----BEGIN CERTIFICATE-----")
            .nth(1)
            .and_then(|r| r.split("-----END CERTIFICATE-----").next())
            .ok_or_else(|| format!("{path}: no PEM certificate"))?;
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("{path}: {e}"))?;
        let name = path.rsplit('/').next().unwrap_or(path);
        let stem = name.strip_suffix(".crt").unwrap_or(name);
        out.push(TrustedCert {
            alias: format!("debian:{}.pem", stem.to_lowercase()),
            der,
        });
    }
    Ok(out)
}

/// The keystore bytes: `certs` sorted by alias, each created at
/// `created_ms`, sealed with `password`. Two certificates under one alias
/// are refused.
pub fn jks(certs: &[TrustedCert], created_ms: u64, password: &str) -> Result<Vec<u8>, String> {
    let mut sorted: Vec<&TrustedCert> = certs.iter().collect();
    sorted.sort_by(|a, b| a.alias.cmp(&b.alias));
    if let Some(w) = sorted.windows(2).find(|w| w[0].alias == w[1].alias) {
        return Err(format!("two certificates under alias {}", w[0].alias));
    }
    let mut out = Vec::new();
    out.extend_from_slice(&0xFEED_FEEDu32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_be_bytes());
    for c in sorted {
        out.extend_from_slice(&2u32.to_be_bytes());
        write_utf(&mut out, &c.alias)?;
        out.extend_from_slice(&created_ms.to_be_bytes());
        write_utf(&mut out, "X.509")?;
        let len = u32::try_from(c.der.len()).map_err(|_| format!("{}: too large", c.alias))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&c.der);
    }
    let mut h = Sha1::new();
    for unit in password.encode_utf16() {
        h.update(unit.to_be_bytes());
    }
    h.update(b"Mighty Aphrodite");
    h.update(&out);
    out.extend_from_slice(&h.finalize());
    Ok(out)
}

/// Java's `writeUTF`: a u16 length, then modified UTF-8 (U+0000 as two
/// bytes, characters beyond the BMP as two three-byte surrogates).
fn write_utf(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
    let mut bytes = Vec::new();
    for unit in s.encode_utf16() {
        match unit {
            0x0001..=0x007F => bytes.push(unit as u8),
            0x0000 | 0x0080..=0x07FF => {
                bytes.push(0xC0 | (unit >> 6) as u8);
                bytes.push(0x80 | (unit & 0x3F) as u8);
            }
            _ => {
                bytes.push(0xE0 | (unit >> 12) as u8);
                bytes.push(0x80 | ((unit >> 6) & 0x3F) as u8);
                bytes.push(0x80 | (unit & 0x3F) as u8);
            }
        }
    }
    let len = u16::try_from(bytes.len()).map_err(|_| format!("alias {s:?} is too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a JKS back: (alias, time, DER) per entry, checking the seal.
    fn read(bytes: &[u8], password: &str) -> Vec<(String, u64, Vec<u8>)> {
        let (body, seal) = bytes.split_at(bytes.len() - 20);
        let mut h = Sha1::new();
        for unit in password.encode_utf16() {
            h.update(unit.to_be_bytes());
        }
        h.update(b"Mighty Aphrodite");
        h.update(body);
        assert_eq!(h.finalize().as_slice(), seal, "seal");
        let mut at = 0;
        let mut take = |n: usize| {
            let s = &body[at..at + n];
            at += n;
            s.to_vec()
        };
        let u32_of = |b: Vec<u8>| u32::from_be_bytes(b.try_into().unwrap());
        assert_eq!(u32_of(take(4)), 0xFEED_FEED);
        assert_eq!(u32_of(take(4)), 2);
        let n = u32_of(take(4));
        let mut out = Vec::new();
        for _ in 0..n {
            assert_eq!(u32_of(take(4)), 2);
            let len = u16::from_be_bytes(take(2).try_into().unwrap()) as usize;
            let alias = String::from_utf8(take(len)).unwrap();
            let time = u64::from_be_bytes(take(8).try_into().unwrap());
            let tlen = u16::from_be_bytes(take(2).try_into().unwrap()) as usize;
            assert_eq!(take(tlen), b"X.509");
            let dlen = u32_of(take(4)) as usize;
            out.push((alias, time, take(dlen)));
        }
        assert_eq!(at, body.len(), "nothing after the entries");
        out
    }

    fn pem(der: &[u8]) -> Vec<u8> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n").into_bytes()
    }

    #[test]
    fn deterministic_sorted_and_sealed() {
        let files = vec![
            ("mozilla/Z_Root.crt".to_owned(), pem(b"\x30\x03zzz")),
            ("mozilla/A_Root.crt".to_owned(), pem(b"\x30\x03aaa")),
            ("mozilla/README".to_owned(), b"not a cert".to_vec()),
        ];
        let certs = certs_from_pem_files(&files).unwrap();
        let a = jks(&certs, 1_736_467_200_000, "changeit").unwrap();
        let mut reversed = certs.clone();
        reversed.reverse();
        assert_eq!(
            jks(&reversed, 1_736_467_200_000, "changeit").unwrap(),
            a,
            "order-independent"
        );
        let entries = read(&a, "changeit");
        assert_eq!(
            entries,
            [
                (
                    "debian:a_root.pem".to_owned(),
                    1_736_467_200_000,
                    b"\x30\x03aaa".to_vec()
                ),
                (
                    "debian:z_root.pem".to_owned(),
                    1_736_467_200_000,
                    b"\x30\x03zzz".to_vec()
                ),
            ]
        );
        let dup = [certs[0].clone(), certs[0].clone()];
        assert!(
            jks(&dup, 0, "changeit")
                .unwrap_err()
                .contains("two certificates")
        );
        assert!(certs_from_pem_files(&[("x.crt".into(), b"garbage".to_vec())]).is_err());
    }

    #[test]
    fn modified_utf8_as_java_writes_it() {
        let mut out = Vec::new();
        write_utf(&mut out, "ő\u{0}😀").unwrap();
        // ő: C5 91; NUL: C0 80; U+1F600 as surrogates D83D DE00.
        assert_eq!(
            out,
            [
                0, 10, 0xC5, 0x91, 0xC0, 0x80, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80
            ]
        );
    }

    /// keytool itself reads the store, when a JDK is installed: every
    /// certificate of this machine's Mozilla bundle is listed.
    #[test]
    #[allow(clippy::print_stderr)]
    fn keytool_lists_every_certificate() {
        let dir = std::path::Path::new("/usr/share/ca-certificates/mozilla");
        let keytool = std::process::Command::new("keytool").arg("-help").output();
        if keytool.is_err() || !dir.is_dir() {
            // .ci/run installs a JRE and ca-certificates: CI never skips.
            assert!(std::env::var_os("CI").is_none(), "CI must have keytool");
            eprintln!("skipped: keytool or the Mozilla bundle is missing");
            return;
        }
        let mut files = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            files.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
        let certs = certs_from_pem_files(&files).unwrap();
        let store = jks(&certs, 1_736_467_200_000, "changeit").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cacerts");
        std::fs::write(&path, store).unwrap();
        let out = std::process::Command::new("keytool")
            .args(["-list", "-storepass", "changeit", "-keystore"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("Your keystore contains {} entries", certs.len())),
            "{text}"
        );
        assert_eq!(text.matches("trustedCertEntry").count(), certs.len());
    }
}
