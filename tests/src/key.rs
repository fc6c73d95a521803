use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use openpgp::Cert;
use openpgp::cert::{CertBuilder, CipherSuite};
use openpgp::crypto::KeyPair;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::SerializeInto;
use openpgp::serialize::stream::{Armorer, Message, Signer};
use openpgp::types::HashAlgorithm;
use sequoia_openpgp as openpgp;

/// An archive signing key for tests (Ed25519, created in 2001 so any
/// pinned test time is after it).
pub struct TestKey {
    pub cert: Cert,
    /// The digest its signatures use (SHA-512 unless a test asks for a
    /// weak one).
    pub hash: HashAlgorithm,
}

impl TestKey {
    pub fn generate(name: &str) -> TestKey {
        TestKey::build(name, None)
    }

    /// A key that expires `valid_for` after its creation (2001).
    pub fn expiring(name: &str, valid_for: Duration) -> TestKey {
        TestKey::build(name, Some(valid_for))
    }

    fn build(name: &str, valid_for: Option<Duration>) -> TestKey {
        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_creation_time(UNIX_EPOCH + Duration::from_secs(1_000_000_000))
            .set_validity_period(valid_for)
            .add_userid(format!("{name} <archive@test.invalid>"))
            .add_signing_subkey()
            .generate()
            .expect("generate test key");
        TestKey {
            cert,
            hash: HashAlgorithm::SHA512,
        }
    }

    /// The same key, signing with `hash` from now on (SHA-1: a signature
    /// apt and sequoia both reject).
    pub fn with_hash(mut self, hash: HashAlgorithm) -> TestKey {
        self.hash = hash;
        self
    }

    /// The public certificate, binary, as a keyring file holds it.
    pub fn public_bytes(&self) -> Vec<u8> {
        self.cert.to_vec().expect("serialize cert")
    }

    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    fn keypair(&self) -> KeyPair {
        let p = StandardPolicy::new();
        self.cert
            .keys()
            .secret()
            .with_policy(&p, UNIX_EPOCH + Duration::from_secs(1_000_000_001))
            .for_signing()
            .next()
            .expect("signing key")
            .key()
            .clone()
            .into_keypair()
            .expect("keypair")
    }

    /// A clear-signed message (InRelease), signed at `at`.
    pub fn clearsign(&self, text: &[u8], at: i64) -> Vec<u8> {
        let mut out = Vec::new();
        self.sign(Message::new(&mut out), text, at, |s| s.cleartext());
        out
    }

    /// An armored detached signature (Release.gpg), signed at `at`.
    pub fn detach_sign(&self, text: &[u8], at: i64) -> Vec<u8> {
        let mut out = Vec::new();
        let armored = Armorer::new(Message::new(&mut out))
            .kind(openpgp::armor::Kind::Signature)
            .build()
            .expect("armorer");
        self.sign(armored, text, at, |s| s.detached());
        out
    }

    fn sign<'a>(
        &self,
        sink: Message<'a>,
        text: &[u8],
        at: i64,
        mode: impl FnOnce(Signer<'a>) -> Signer<'a>,
    ) {
        let signer = Signer::new(sink, self.keypair())
            .expect("signer")
            .hash_algo(self.hash)
            .expect("hash algorithm");
        let mut s = mode(signer)
            .creation_time(UNIX_EPOCH + Duration::from_secs(at as u64))
            .build()
            .expect("build signer");
        s.write_all(text).expect("sign");
        s.finalize().expect("finalize");
    }
}
