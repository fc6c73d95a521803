//! cosign's key files. `cosign generate-key-pair` writes the private key
//! as PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (older releases: `ENCRYPTED
//! COSIGN PRIVATE KEY`) whose body is go-securesystemslib's JSON:
//! `{"kdf":{"name":"scrypt","params":{"N","r","p"},"salt"},
//! "cipher":{"name":"nacl/secretbox","nonce"},"ciphertext"}` around the
//! PKCS#8 DER of an ECDSA P-256 key; the public key is PKIX PEM.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::der::pem::{self, LineEnding};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::SignError;

const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// cosign's scrypt cost (N = 2^16, r = 8, p = 1: 64 MiB, a fraction of a
/// second), used for the keys distill writes.
const LOG_N: u8 = 16;
/// The most memory a key file may make scrypt use (128·r·N bytes): a
/// file is input, and N = 2^40 would ask for terabytes.
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;

/// A private signing key (ECDSA P-256 with SHA-256, as cosign's default).
#[derive(Clone)]
pub struct SecretKey(SigningKey);

/// Never the key itself, in a log or a panic: only whose it is.
impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretKey(public {:?})",
            self.public().to_pem().lines().nth(1)
        )
    }
}

/// A public key, to verify with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

#[derive(Serialize, Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn bad(what: impl std::fmt::Display) -> SignError {
    SignError::Key(what.to_string())
}

impl SecretKey {
    /// A new random key.
    pub fn generate() -> SecretKey {
        SecretKey(SigningKey::random(&mut OsRng))
    }

    /// Reads a private key file: cosign's encrypted PEM (with `password`;
    /// `None` when none was given), or a plain PKCS#8 (`PRIVATE KEY`) or
    /// SEC1 (`EC PRIVATE KEY`) PEM.
    pub fn from_pem(text: &[u8], password: Option<&[u8]>) -> Result<SecretKey, SignError> {
        let (label, body) =
            pem::decode_vec(text).map_err(|e| bad(format!("not a PEM file: {e}")))?;
        let body = Zeroizing::new(body);
        let key = match label {
            SIGSTORE_LABEL | COSIGN_LABEL => {
                let password = password.ok_or(SignError::NoPassword)?;
                let der = decrypt(&body, password)?;
                SigningKey::from_pkcs8_der(&der)
            }
            "PRIVATE KEY" => SigningKey::from_pkcs8_der(&body),
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&body)
                .map(SigningKey::from)
                .map_err(|_| p256::pkcs8::Error::KeyMalformed),
            other => return Err(bad(format!("a PEM {other}, not a private key"))),
        };
        key.map(SecretKey)
            .map_err(|e| bad(format!("not an ECDSA P-256 key: {e}")))
    }

    /// cosign's encrypted PEM of this key, under `password` (may be
    /// empty, as `COSIGN_PASSWORD=` gives cosign).
    pub fn to_encrypted_pem(&self, password: &[u8]) -> String {
        let der = self.0.to_pkcs8_der().expect("a P-256 key encodes");
        let mut salt = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let secret = derive(password, &salt, LOG_N, 8, 1).expect("cosign's parameters are valid");
        let ciphertext = XSalsa20Poly1305::new(secret.as_slice().into())
            .encrypt(Nonce::from_slice(&nonce), der.as_bytes())
            .expect("secretbox encrypts");
        let doc = Encrypted {
            kdf: Kdf {
                name: "scrypt".into(),
                params: ScryptParams {
                    n: 1 << LOG_N,
                    r: 8,
                    p: 1,
                },
                salt: B64.encode(salt),
            },
            cipher: Cipher {
                name: "nacl/secretbox".into(),
                nonce: B64.encode(nonce),
            },
            ciphertext: B64.encode(ciphertext),
        };
        let json = serde_json::to_vec(&doc).expect("serialises");
        pem::encode_string(SIGSTORE_LABEL, LineEnding::LF, &json).expect("PEM encodes")
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(*self.0.verifying_key())
    }

    /// The ASN.1 DER signature of `message` (SHA-256, RFC 6979), the form
    /// cosign puts, base64, in its signature annotation.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: Signature = self.0.sign(message);
        sig.to_der().as_bytes().to_vec()
    }
}

impl PublicKey {
    /// A PKIX `PUBLIC KEY` PEM, as `cosign.pub`.
    pub fn from_pem(text: &[u8]) -> Result<PublicKey, SignError> {
        let text = std::str::from_utf8(text).map_err(|_| bad("not a PEM file"))?;
        VerifyingKey::from_public_key_pem(text.trim())
            .map(PublicKey)
            .map_err(|e| bad(format!("not an ECDSA P-256 public key: {e}")))
    }

    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 key encodes")
    }

    /// Its SubjectPublicKeyInfo DER (what a transparency log's ID hashes).
    pub fn to_der(&self) -> Vec<u8> {
        self.0
            .to_public_key_der()
            .expect("a P-256 key encodes")
            .into_vec()
    }

    /// Whether `signature` (ASN.1 DER) is this key's over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_der(signature).is_ok_and(|s| self.0.verify(message, &s).is_ok())
    }
}

fn derive(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, SignError> {
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(|e| bad(format!("scrypt: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, out.as_mut_slice())
        .map_err(|e| bad(format!("scrypt: {e}")))?;
    Ok(out)
}

/// The PKCS#8 DER inside an encrypted key file's JSON body.
fn decrypt(body: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, SignError> {
    let doc: Encrypted =
        serde_json::from_slice(body).map_err(|e| bad(format!("not a cosign key: {e}")))?;
    if doc.kdf.name != "scrypt" || doc.cipher.name != "nacl/secretbox" {
        return Err(bad(format!(
            "a key sealed with {} and {}, not scrypt and nacl/secretbox",
            doc.kdf.name, doc.cipher.name
        )));
    }
    let ScryptParams { n, r, p } = doc.kdf.params;
    if !n.is_power_of_two() || n < 2 || r == 0 || p == 0 || p > 16 {
        return Err(bad(format!(
            "scrypt parameters N={n} r={r} p={p} are invalid"
        )));
    }
    if 128u64.saturating_mul(r as u64).saturating_mul(n) > MAX_SCRYPT_MEMORY {
        return Err(bad(format!(
            "scrypt parameters N={n} r={r} would need more than 1 GiB"
        )));
    }
    let decode = |what: &str, s: &str| B64.decode(s).map_err(|e| bad(format!("its {what}: {e}")));
    let (salt, nonce, sealed) = (
        decode("salt", &doc.kdf.salt)?,
        decode("nonce", &doc.cipher.nonce)?,
        decode("ciphertext", &doc.ciphertext)?,
    );
    if nonce.len() != 24 {
        return Err(bad("its nonce is not 24 bytes"));
    }
    let secret = derive(password, &salt, n.trailing_zeros() as u8, r, p)?;
    XSalsa20Poly1305::new(secret.as_slice().into())
        .decrypt(Nonce::from_slice(&nonce), sealed.as_slice())
        .map(Zeroizing::new)
        .map_err(|_| SignError::WrongPassword)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encrypted_key_round_trips_and_signs() {
        let key = SecretKey::generate();
        let pem = key.to_encrypted_pem(b"pw");
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let back = SecretKey::from_pem(pem.as_bytes(), Some(b"pw")).unwrap();
        assert_eq!(back.public(), key.public());
        let public = PublicKey::from_pem(key.public().to_pem().as_bytes()).unwrap();
        let sig = back.sign(b"payload");
        assert_eq!(sig, key.sign(b"payload"), "deterministic (RFC 6979)");
        assert!(public.verify(b"payload", &sig));
        assert!(!public.verify(b"payloaD", &sig));
        assert!(!SecretKey::generate().public().verify(b"payload", &sig));
        assert!(matches!(
            SecretKey::from_pem(pem.as_bytes(), Some(b"other")),
            Err(SignError::WrongPassword)
        ));
        assert!(matches!(
            SecretKey::from_pem(pem.as_bytes(), None),
            Err(SignError::NoPassword)
        ));
    }

    #[test]
    fn plain_pkcs8_and_hostile_files() {
        let key = SecretKey::generate();
        let der = key.0.to_pkcs8_der().unwrap();
        let plain = pem::encode_string("PRIVATE KEY", LineEnding::LF, der.as_bytes()).unwrap();
        let back = SecretKey::from_pem(plain.as_bytes(), None).unwrap();
        assert_eq!(back.public(), key.public());
        let e = SecretKey::from_pem(b"hello", None).err().unwrap();
        assert!(e.to_string().starts_with("not a PEM file"), "{e}");
        let public = key.public().to_pem();
        let e = SecretKey::from_pem(public.as_bytes(), None).err().unwrap();
        assert_eq!(e.to_string(), "a PEM PUBLIC KEY, not a private key");
        // A key file asking scrypt for 2^40 blocks is refused before any work.
        let huge = br#"{"kdf":{"name":"scrypt","params":{"N":1099511627776,"r":8,"p":1},"salt":""},"cipher":{"name":"nacl/secretbox","nonce":""},"ciphertext":""}"#;
        let sealed = pem::encode_string(SIGSTORE_LABEL, LineEnding::LF, huge).unwrap();
        let e = SecretKey::from_pem(sealed.as_bytes(), Some(b""))
            .err()
            .unwrap();
        assert!(e.to_string().contains("more than 1 GiB"), "{e}");
    }
}
