//! Loopback doubles of sigstore's public-good services, for keyless
//! signing: a Fulcio that issues short-lived code-signing certificates
//! (with an embedded SCT from its own CT log) for an OIDC token's
//! identity, and a Rekor that logs hashedrekord and dsse entries and
//! returns a signed entry timestamp. Real cosign accepts what they issue through
//! `SIGSTORE_ROOT_FILE`, `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE` and
//! `SIGSTORE_REKOR_PUBLIC_KEY` ([`Sigstore::env`]).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use distill_sign::SecretKey;
use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber, SubjectPublicKeyInfo,
};
use sha2::{Digest, Sha256};

/// The OIDC issuer the doubles' tokens name.
pub const ISSUER: &str = "https://oidc.test.invalid";

pub struct Sigstore {
    ca_key: KeyPair,
    ca: rcgen::Certificate,
    ct: SecretKey,
    rekor: SecretKey,
    serial: AtomicU64,
    index: AtomicU64,
    dir: tempfile::TempDir,
    /// Every entry logged, in order.
    pub entries: Mutex<Vec<serde_json::Value>>,
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// An unsigned OIDC token for `email` (the doubles do not check token
/// signatures; what is tested is what distill does with the answer).
pub fn token(email: &str) -> String {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
    format!(
        "{}.{}.c2ln",
        part(serde_json::json!({"alg": "none"})),
        part(serde_json::json!({"iss": ISSUER, "sub": email, "email": email, "aud": "sigstore"}))
    )
}

/// DER of an OCTET STRING or UTF8String (tag) around `content` (short).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 128 {
        out.push(n as u8);
    } else if n < 256 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// The first DER element inside `der`'s outer element: (that element
/// whole, its content).
fn first_element(der: &[u8]) -> (&[u8], &[u8]) {
    let header = |d: &[u8]| -> (usize, usize) {
        match d[1] {
            n if n < 0x80 => (2, n as usize),
            0x81 => (3, d[2] as usize),
            0x82 => (4, ((d[2] as usize) << 8) | d[3] as usize),
            0x83 => (
                5,
                ((d[2] as usize) << 16) | ((d[3] as usize) << 8) | d[4] as usize,
            ),
            other => panic!("length form {other:#x}"),
        }
    };
    let (h, len) = header(der);
    let content = &der[h..h + len];
    let (h2, len2) = header(content);
    (&content[..h2 + len2], &content[h2..h2 + len2])
}

impl Sigstore {
    pub fn new() -> Sigstore {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "distill test");
        dn.push(DnType::CommonName, "fake fulcio");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = now() - time::Duration::days(1);
        params.not_after = now() + time::Duration::days(1);
        let ca = params.self_signed(&ca_key).unwrap();
        let (ct, rekor) = (SecretKey::generate(), SecretKey::generate());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("ctlog.pub"), ct.public().to_pem()).unwrap();
        std::fs::write(dir.path().join("rekor.pub"), rekor.public().to_pem()).unwrap();
        Sigstore {
            ca_key,
            ca,
            ct,
            rekor,
            serial: AtomicU64::new(1),
            index: AtomicU64::new(0),
            dir,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The variables that make cosign trust these doubles.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("SIGSTORE_ROOT_FILE", self.dir.path().join("root.pem")),
            (
                "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE",
                self.dir.path().join("ctlog.pub"),
            ),
            (
                "SIGSTORE_REKOR_PUBLIC_KEY",
                self.dir.path().join("rekor.pub"),
            ),
        ]
    }

    pub fn root_pem(&self) -> String {
        self.ca.pem()
    }

    /// Fulcio: a certificate for `public_pem` naming `email` and
    /// [`ISSUER`], valid ten minutes, with an SCT from the CT log
    /// embedded; PEM, leaf first, then the root.
    pub fn issue(&self, public_pem: &str, email: &str) -> Vec<String> {
        let spki = SubjectPublicKeyInfo::from_pem(public_pem).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.serial_number = Some(SerialNumber::from(
            self.serial.fetch_add(1, Ordering::SeqCst),
        ));
        params.not_before = now() - time::Duration::seconds(30);
        params.not_after = now() + time::Duration::minutes(10);
        params.subject_alt_names = vec![SanType::Rfc822Name(email.try_into().unwrap())];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        // The issuer, as Fulcio writes it: raw (…57264.1.1, deprecated)
        // and as a DER UTF8String (…57264.1.8).
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                ISSUER.as_bytes().to_vec(),
            ),
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 8],
                der(0x0c, ISSUER.as_bytes()),
            ),
        ];
        // The precertificate: the same certificate without the SCT list,
        // whose TBS the CT log signs (RFC 6962 §3.2).
        let pre = params
            .clone()
            .signed_by(&spki, &self.ca, &self.ca_key)
            .unwrap();
        let tbs = first_element(pre.der()).0.to_vec();
        let timestamp = (now().unix_timestamp_nanos() / 1_000_000) as u64;
        let issuer_key_hash = Sha256::digest(self.ca_key.public_key_der());
        let mut signed = vec![0u8, 0u8];
        signed.extend(timestamp.to_be_bytes());
        signed.extend([0u8, 1u8]);
        signed.extend(issuer_key_hash);
        signed.extend(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend(&tbs);
        signed.extend([0u8, 0u8]);
        let sig = self.ct.sign(&signed);
        let mut sct = vec![0u8];
        sct.extend(Sha256::digest(self.ct.public().to_der()));
        sct.extend(timestamp.to_be_bytes());
        sct.extend([0u8, 0u8]);
        sct.extend([4u8, 3u8]);
        sct.extend((sig.len() as u16).to_be_bytes());
        sct.extend(&sig);
        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend((sct.len() as u16).to_be_bytes());
        list.extend(&sct);
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
                der(0x04, &list),
            ));
        let leaf = params.signed_by(&spki, &self.ca, &self.ca_key).unwrap();
        vec![leaf.pem(), self.ca.pem()]
    }

    /// Rekor: logs `entry` (a proposed entry, as POSTed) and returns what
    /// Rekor answers: `{uuid: {body, integratedTime, logID, logIndex,
    /// verification: {signedEntryTimestamp}}}`.
    pub fn log(&self, entry: &serde_json::Value) -> serde_json::Value {
        let body = B64.encode(serde_json::to_vec(&canonical(entry)).unwrap());
        let index = self.index.fetch_add(1, Ordering::SeqCst);
        let log_id = hex::encode(Sha256::digest(self.rekor.public().to_der()));
        let integrated = now().unix_timestamp();
        // The SET signs the canonical JSON of these four (keys sorted,
        // no spaces), as Rekor does.
        let payload = serde_json::json!({
            "body": body, "integratedTime": integrated, "logID": log_id, "logIndex": index,
        });
        let set = B64.encode(self.rekor.sign(&serde_json::to_vec(&payload).unwrap()));
        self.entries.lock().unwrap().push(entry.clone());
        let uuid = hex::encode(Sha256::digest(body.as_bytes()));
        serde_json::json!({ uuid: {
            "body": body, "integratedTime": integrated, "logID": log_id, "logIndex": index,
            "verification": {"signedEntryTimestamp": set},
        }})
    }
}

/// The body Rekor logs for a proposed entry: a hashedrekord as it came;
/// of a dsse entry only the hashes of the envelope and its payload, and
/// each signature with the verifier (the certificate) that checks it.
fn canonical(entry: &serde_json::Value) -> serde_json::Value {
    let proposed = &entry["spec"]["proposedContent"];
    let Some(envelope) = proposed["envelope"].as_str() else {
        return entry.clone();
    };
    let parsed: serde_json::Value = serde_json::from_str(envelope).unwrap();
    let payload = B64.decode(parsed["payload"].as_str().unwrap()).unwrap();
    let sha = |b: &[u8]| serde_json::json!({"algorithm": "sha256", "value": hex::encode(Sha256::digest(b))});
    let signatures: Vec<_> = parsed["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::json!({"signature": s["sig"], "verifier": proposed["verifiers"][0]}))
        .collect();
    serde_json::json!({
        "apiVersion": entry["apiVersion"], "kind": entry["kind"],
        "spec": {
            "envelopeHash": sha(envelope.as_bytes()),
            "payloadHash": sha(&payload),
            "signatures": signatures,
        },
    })
}

impl Default for Sigstore {
    fn default() -> Self {
        Sigstore::new()
    }
}

impl Sigstore {
    /// Serves Fulcio (`POST /api/v2/signingCert`) and Rekor (`POST
    /// /api/v1/log/entries`) on 127.0.0.1; the base URL.
    pub fn serve(self: &std::sync::Arc<Self>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let me = self.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let me = me.clone();
                std::thread::spawn(move || {
                    let _ = me.answer(conn);
                });
            }
        });
        url
    }

    fn answer(&self, mut conn: std::net::TcpStream) -> std::io::Result<()> {
        use std::io::{BufRead, BufReader, Read, Write};
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let (status, answer) = match path.as_str() {
            "/api/v2/signingCert" => match self.certify(&request) {
                Some(chain) => (
                    "200 OK",
                    serde_json::json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}),
                ),
                None => (
                    "400 Bad Request",
                    serde_json::json!({"message": "bad request"}),
                ),
            },
            "/api/v1/log/entries" => ("201 Created", self.log(&request)),
            _ => ("404 Not Found", serde_json::json!({})),
        };
        let text = answer.to_string();
        write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
    }

    /// Fulcio's checks, as far as a double makes them: a token with a
    /// subject, and a proof that the requester holds the key (the
    /// subject signed by it).
    fn certify(&self, request: &serde_json::Value) -> Option<Vec<String>> {
        let token = request["credentials"]["oidcIdentityToken"].as_str()?;
        let subject = distill_sign::keyless::token_subject(token).ok()?;
        let key = &request["publicKeyRequest"];
        let pem = key["publicKey"]["content"].as_str()?;
        let public = distill_sign::PublicKey::from_pem(pem.as_bytes()).ok()?;
        let proof = B64.decode(key["proofOfPossession"].as_str()?).ok()?;
        if !public.verify(subject.as_bytes(), &proof) {
            return None;
        }
        Some(self.issue(pem, &subject))
    }
}
