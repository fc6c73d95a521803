//! `distill key generate PREFIX` and the `--sign-key`/`--key` files:
//! cosign's formats, its password variable (`COSIGN_PASSWORD`, never an
//! argument, never printed), so keys move freely between the two tools.

use std::io::Write;
use std::path::{Path, PathBuf};

use distill_project::{Error, Result};
use distill_sign::{PublicKey, SecretKey};
use distill_store::AtomicFile;

use crate::output::emit;

/// The variable cosign reads a key's password from.
const PASSWORD: &str = "COSIGN_PASSWORD";

#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Write a new key pair, PREFIX.key (encrypted with $COSIGN_PASSWORD,
    /// as `cosign generate-key-pair` writes it) and PREFIX.pub.
    Generate {
        /// Path prefix of the two files (`cosign` → cosign.key, cosign.pub).
        prefix: PathBuf,
    },
}

fn password() -> Option<String> {
    std::env::var(PASSWORD).ok()
}

pub(crate) fn run(command: Command) -> Result<u8> {
    let Command::Generate { prefix } = command;
    let with = |ext: &str| {
        let mut p = prefix.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let (private, public) = (with(".key"), with(".pub"));
    let what = || format!("cannot generate a key pair at {}", prefix.display());
    let Some(password) = password() else {
        return Err(Error::Message(format!(
            "{}: set {PASSWORD} to the password for the private key (empty for none), as cosign reads it",
            what()
        )));
    };
    for p in [&private, &public] {
        if p.exists() {
            return Err(Error::Message(format!(
                "{}: {} exists (distill does not overwrite a key)",
                what(),
                p.display()
            )));
        }
    }
    let key = SecretKey::generate();
    let write = |path: &Path, text: &str, mode: u32| -> std::io::Result<()> {
        let mut f = AtomicFile::create(path)?;
        f.file().write_all(text.as_bytes())?;
        f.commit(mode)
    };
    write(&private, &key.to_encrypted_pem(password.as_bytes()), 0o600)
        .and_then(|_| write(&public, &key.public().to_pem(), 0o644))
        .map_err(|e| Error::Message(format!("{}: {e}", what())))?;
    emit(&format!(
        "wrote {} (private, mode 0600) and {}\n",
        private.display(),
        public.display()
    ))?;
    Ok(0)
}

/// The bytes of a key file, or the one-line error naming it as `what`.
fn read_key_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    // A cosign key file is a few hundred bytes.
    distill_store::read_bounded(path, 64 << 10).map_err(|e| key_error(path, what, &e))
}

fn key_error(path: &Path, what: &str, e: &dyn std::fmt::Display) -> Error {
    Error::Message(format!("cannot read the {what} {}: {e}", path.display()))
}

/// The private key of `--sign-key FILE`, decrypted with
/// `$COSIGN_PASSWORD` when it is cosign's encrypted format.
pub(crate) fn secret(path: &Path) -> Result<SecretKey> {
    let text = read_key_file(path, "signing key")?;
    let password = password();
    SecretKey::from_pem(&text, password.as_deref().map(str::as_bytes))
        .map_err(|e| key_error(path, "signing key", &e))
}

/// The public key of `--key FILE`.
pub(crate) fn public(path: &Path) -> Result<PublicKey> {
    let text = read_key_file(path, "public key")?;
    PublicKey::from_pem(&text).map_err(|e| key_error(path, "public key", &e))
}

/// The OIDC token for keyless signing: `$SIGSTORE_ID_TOKEN`, else GitHub
/// Actions' token request (`id-token: write` gives a job
/// `ACTIONS_ID_TOKEN_REQUEST_URL` and `_TOKEN`).
pub(crate) fn oidc_token() -> Result<distill_project::TokenSource> {
    use distill_project::TokenSource;
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(t) = var("SIGSTORE_ID_TOKEN") {
        return Ok(TokenSource::Token(t));
    }
    match (var("ACTIONS_ID_TOKEN_REQUEST_URL"), var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")) {
        (Some(url), Some(bearer)) => Ok(TokenSource::GitHubActions { url, bearer }),
        _ => Err(Error::Message(
            "cannot sign keyless: set SIGSTORE_ID_TOKEN to an OIDC token, or run in GitHub Actions with `id-token: write`".into(),
        )),
    }
}
