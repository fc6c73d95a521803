use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openpgp::parse::Parse;
use openpgp::parse::stream::{
    DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationError, VerificationHelper,
    VerifierBuilder,
};
use openpgp::policy::StandardPolicy;
use openpgp::{Cert, KeyHandle};
use sequoia_openpgp as openpgp;

use crate::{Keyring, TrustError};

/// The signed text of a verified Release and who signed it.
#[derive(Debug, Clone)]
pub struct Verified {
    pub text: String,
    /// Fingerprints of the keys whose signatures checked out, sorted.
    pub signers: Vec<String>,
}

/// Collects the outcome of every signature; accepts, as apt does, when at
/// least one signature from a trusted key is good.
struct Helper<'a> {
    keyring: &'a Keyring,
    good: Vec<String>,
    problems: Vec<String>,
}

impl VerificationHelper for Helper<'_> {
    /// Only the certs with a key a signature names: each cert handed over
    /// has its binding signatures checked (RSA, pure Rust), and Debian's
    /// keyring holds a dozen certs for an InRelease signed by two. A
    /// signature that names no issuer is tried against them all.
    fn get_certs(&mut self, ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        let named = |c: &&Cert| {
            ids.is_empty()
                || c.keys()
                    .any(|k| ids.iter().any(|id| id.aliases(k.key().key_handle())))
        };
        Ok(self.keyring.certs().iter().filter(named).cloned().collect())
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        for layer in structure.into_iter() {
            let MessageLayer::SignatureGroup { results } = layer else {
                continue;
            };
            for r in results {
                match r {
                    Ok(good) => self.good.push(good.ka.key().fingerprint().to_hex()),
                    Err(e) => self.problems.push(describe(&e)),
                }
            }
        }
        if self.good.is_empty() {
            let detail = if self.problems.is_empty() {
                "no signatures".to_owned()
            } else {
                self.problems.join("; ")
            };
            return Err(anyhow_like(detail).into());
        }
        Ok(())
    }
}

/// The signing key's best name: its fingerprint when the signature carries
/// one, else its 64-bit key id.
fn issuers(sig: &openpgp::packet::Signature) -> String {
    let issuers = sig.get_issuers();
    issuers
        .iter()
        .find(|h| matches!(h, KeyHandle::Fingerprint(_)))
        .or_else(|| issuers.first())
        .map_or_else(|| "of unknown id".to_owned(), |h| h.to_hex())
}

fn describe(e: &VerificationError) -> String {
    match e {
        VerificationError::MissingKey { sig } => {
            format!("signed by key {} which is not in the keyring", issuers(sig))
        }
        VerificationError::BadSignature { sig, error, .. } => {
            // Name the weak digest rather than sequoia's policy wording.
            let weak = matches!(
                sig.hash_algo(),
                openpgp::types::HashAlgorithm::SHA1 | openpgp::types::HashAlgorithm::MD5
            );
            match weak {
                true => format!(
                    "signature by key {} uses {}, which is not collision resistant: {error}",
                    issuers(sig),
                    sig.hash_algo()
                ),
                false => format!("bad signature by key {}: {error}", issuers(sig)),
            }
        }
        VerificationError::BadKey { sig, error, .. } => {
            let when = sig
                .signature_creation_time()
                .map(|t| {
                    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                    format!(
                        " at {}",
                        distill_debian::SnapshotTime::from_unix(secs as i64)
                    )
                })
                .unwrap_or_default();
            // "not live": expired, or not valid yet, when it signed.
            let why = match error.to_string() {
                m if m.contains("not live") => {
                    format!("expired or not yet valid when it signed{when} ({m})")
                }
                m => m,
            };
            format!("key {} not usable: {why}", issuers(sig))
        }
        VerificationError::UnboundKey { sig, error, .. } => {
            format!("key {} not bound: {error}", issuers(sig))
        }
        VerificationError::MalformedSignature { sig, error } => {
            format!("malformed signature by key {}: {error}", issuers(sig))
        }
        other => other.to_string(),
    }
}

/// sequoia's `Result` is `anyhow`-based; wrap our message in its error type
/// without adding anyhow to our own API.
fn anyhow_like(msg: String) -> openpgp::Error {
    openpgp::Error::InvalidOperation(msg)
}

fn policy_time(at: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(at.max(0) as u64)
}

/// The keys whose signatures checked out, sorted and unique.
fn signers(helper: Helper<'_>) -> Result<Vec<String>, TrustError> {
    let mut good = helper.good;
    if good.is_empty() {
        return Err(TrustError::NoGoodSignature("no signatures".into()));
    }
    good.sort();
    good.dedup();
    Ok(good)
}

/// Sequoia's error, in our terms: a failure of our own `check` carries the
/// per-signature problems; anything else means the input was not a
/// well-formed signed message.
fn rejected(e: anyhow::Error, problems: &[String]) -> TrustError {
    if !problems.is_empty() {
        return TrustError::NoGoodSignature(problems.join("; "));
    }
    match e.downcast_ref::<openpgp::Error>() {
        Some(openpgp::Error::InvalidOperation(msg)) => TrustError::NoGoodSignature(msg.clone()),
        _ => TrustError::Unreadable(e),
    }
}

fn helper(keyring: &Keyring) -> Helper<'_> {
    Helper {
        keyring,
        good: Vec::new(),
        problems: Vec::new(),
    }
}

/// Verifies a clear-signed `InRelease` and returns only the signed text:
/// anything outside the signed block is never seen by the caller.
/// Key and signature validity are judged at `at` (seconds since the epoch),
/// the snapshot time for a snapshot, or now for a live mirror.
pub fn verify_inrelease(bytes: &[u8], keyring: &Keyring, at: i64) -> Result<Verified, TrustError> {
    if !bytes.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err(TrustError::Malformed(
            "InRelease is not clear-signed".into(),
        ));
    }
    let policy = StandardPolicy::new();
    // Sequoia buffers a message this small and verifies it while building
    // the verifier, so a bad signature usually surfaces here.
    let mut verifier = VerifierBuilder::from_bytes(bytes)
        .and_then(|b| b.with_policy(&policy, policy_time(at), helper(keyring)))
        .map_err(|e| rejected(e, &[]))?;
    let mut text = Vec::new();
    if let Err(e) = verifier.read_to_end(&mut text) {
        // A message larger than the buffer is checked at its end.
        return Err(rejected(
            anyhow::Error::new(e),
            &verifier.into_helper().problems,
        ));
    }
    if !verifier.message_processed() {
        return Err(TrustError::Malformed(
            "signed message was not fully processed".into(),
        ));
    }
    let signers = signers(verifier.into_helper())?;
    let text = String::from_utf8(text)
        .map_err(|_| TrustError::Malformed("signed text is not UTF-8".into()))?;
    Ok(Verified { text, signers })
}

/// Verifies `Release` against a detached `Release.gpg`.
pub fn verify_detached(
    release: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    at: i64,
) -> Result<Verified, TrustError> {
    let policy = StandardPolicy::new();
    let mut verifier = DetachedVerifierBuilder::from_bytes(signature)
        .and_then(|b| b.with_policy(&policy, policy_time(at), helper(keyring)))
        .map_err(TrustError::Unreadable)?;
    if let Err(e) = verifier.verify_bytes(release) {
        return Err(rejected(e, &verifier.into_helper().problems));
    }
    let signers = signers(verifier.into_helper())?;
    let text = String::from_utf8(release.to_vec())
        .map_err(|_| TrustError::Malformed("Release is not UTF-8".into()))?;
    Ok(Verified { text, signers })
}
