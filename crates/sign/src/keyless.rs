//! Keyless signing's documents, as cosign and sigstore's services write
//! them: the Fulcio certificate request (an ephemeral key, proven by
//! signing the token's subject), the Rekor entries (`hashedrekord` for a
//! signature, `dsse` for an attestation), and the
//! `dev.sigstore.cosign/*` annotations (certificate, chain, bundle) that
//! let a verifier check a signature offline against Fulcio's root and
//! Rekor's key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use distill_image::Descriptor;
use sha2::{Digest, Sha256};

use crate::SignError;
use crate::cosign::{Layer, SIGNATURE, SIMPLE_SIGNING};

pub const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN: &str = "dev.sigstore.cosign/chain";
pub const BUNDLE: &str = "dev.sigstore.cosign/bundle";

fn bad(what: impl std::fmt::Display) -> SignError {
    SignError::Document(what.to_string())
}

/// The identity an OIDC token names (`email`, else `sub`): what Fulcio
/// wants signed as proof of holding the key. The token is not verified
/// here; Fulcio does that.
pub fn token_subject(token: &str) -> Result<String, SignError> {
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .ok_or_else(|| bad("the OIDC token is not a JWT"))?;
    claims["email"]
        .as_str()
        .or(claims["sub"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| bad("the OIDC token names no subject"))
}

/// Fulcio v2's `signingCert` request for `public_pem`.
pub fn fulcio_request(token: &str, public_pem: &str, proof: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": public_pem},
            "proofOfPossession": B64.encode(proof),
        },
    }))
    .expect("serialises")
}

/// The certificate chain (PEM, leaf first) of Fulcio's answer; only a
/// certificate with its SCT embedded, which is what verifiers check.
pub fn fulcio_chain(answer: &[u8]) -> Result<Vec<String>, SignError> {
    let v: serde_json::Value =
        serde_json::from_slice(answer).map_err(|e| bad(format!("Fulcio's answer: {e}")))?;
    let certs = v["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .ok_or_else(|| bad("Fulcio's answer has no certificate with an embedded SCT"))?;
    let chain: Vec<String> = certs
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    if chain.is_empty() || chain.iter().any(|c| !c.contains("BEGIN CERTIFICATE")) {
        return Err(bad("Fulcio's answer holds no PEM certificates"));
    }
    Ok(chain)
}

/// The `hashedrekord` entry of a signature over `payload`.
pub fn hashedrekord(payload: &[u8], signature_b64: &str, certificate_pem: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))}},
            "signature": {"content": signature_b64, "publicKey": {"content": B64.encode(certificate_pem)}},
        },
    }))
    .expect("serialises")
}

/// cosign's bundle annotation from Rekor's answer to an entry: the signed
/// entry timestamp and what it signs.
pub fn bundle(answer: &[u8]) -> Result<String, SignError> {
    let v: serde_json::Value =
        serde_json::from_slice(answer).map_err(|e| bad(format!("Rekor's answer: {e}")))?;
    let e = v
        .as_object()
        .and_then(|m| m.values().next())
        .ok_or_else(|| bad("Rekor's answer holds no entry"))?;
    let set = e["verification"]["signedEntryTimestamp"]
        .as_str()
        .ok_or_else(|| bad("Rekor's entry has no signed entry timestamp"))?;
    let (Some(body), Some(time), Some(index), Some(id)) = (
        e["body"].as_str(),
        e["integratedTime"].as_i64(),
        e["logIndex"].as_i64(),
        e["logID"].as_str(),
    ) else {
        return Err(bad(
            "Rekor's entry lacks body, integratedTime, logIndex or logID",
        ));
    };
    Ok(serde_json::json!({
        "SignedEntryTimestamp": set,
        "Payload": {"body": body, "integratedTime": time, "logIndex": index, "logID": id},
    })
    .to_string())
}

/// The `dsse` entry (v0.0.1) of an attestation: the envelope as the
/// layer holds it, so the log's envelope hash is the layer's digest.
pub fn dsse_entry(envelope: &[u8], certificate_pem: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": String::from_utf8_lossy(envelope),
                "verifiers": [B64.encode(certificate_pem)],
            },
        },
    }))
    .expect("serialises")
}

/// The signature layer of a keyless signature.
pub fn signature_layer(
    payload: Vec<u8>,
    signature_b64: String,
    chain: &[String],
    bundle: String,
) -> Layer {
    let mut descriptor = Descriptor::of(SIMPLE_SIGNING, &payload);
    descriptor
        .annotations
        .insert(SIGNATURE.into(), signature_b64);
    certify(
        Layer {
            descriptor,
            bytes: payload,
        },
        chain,
        bundle,
    )
}

/// `layer` (a signature or an attestation) with the certificate that
/// vouches for its key and the log's bundle, as cosign annotates it.
pub fn certify(mut layer: Layer, chain: &[String], bundle: String) -> Layer {
    let a = &mut layer.descriptor.annotations;
    a.insert(CERTIFICATE.into(), chain[0].clone());
    a.insert(CHAIN.into(), chain[1..].concat());
    a.insert(BUNDLE.into(), bundle);
    layer
}
