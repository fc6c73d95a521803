//! What `append`, `verify` and `push` share about images in a registry:
//! the client (with the archive's timeouts and retries), and reading an
//! index's manifests under the rules that keep a hostile registry from
//! growing the work without bound.

use std::collections::BTreeSet;
use std::path::PathBuf;

use distill_fetch::{RetryPolicy, Timeouts};
use distill_image::{Descriptor, IndexDoc};
use distill_registry::{Client, Document, is_index};
use sha2::Digest;

use crate::error::{Result, fail};
use crate::project::Project;

/// The most image manifests one index may list (distroless has five
/// platforms, Docker Hub's busiest images a few dozen entries): each is
/// read into memory, so an index of a million entries must not be.
pub(crate) const MAX_MANIFESTS: usize = 64;

/// A registry client with credentials from `docker_config`, else
/// `$DOCKER_CONFIG` or `~/.docker/config.json`.
pub(crate) fn registry_client(
    docker_config: Option<&PathBuf>,
    plain_http: bool,
    timeouts: Timeouts,
    retry: RetryPolicy,
) -> Result<Client, distill_registry::RegistryError> {
    let config = docker_config
        .cloned()
        .or_else(distill_registry::auth::docker_config_path);
    Client::new(config, plain_http, timeouts, retry)
}

impl Project {
    /// The registry client of `push` and `verify`: the project's timeouts
    /// and retries, its observer told of retries.
    pub(crate) fn registry_client(
        &self,
        docker_config: Option<&PathBuf>,
        plain_http: bool,
    ) -> Result<Client, distill_registry::RegistryError> {
        let client = registry_client(docker_config, plain_http, self.timeouts, self.retry.clone())?;
        Ok(client.with_observer(self.fetcher.observer().clone()))
    }
}

/// The manifests `top` stands for: an index's entries (one level: an
/// index inside an index is refused, so no chain of them is followed;
/// each digest once; at most [`MAX_MANIFESTS`]), or `top` itself.
pub(crate) fn image_manifests(top: &Document) -> Result<Vec<Descriptor>> {
    if !is_index(&top.media_type) {
        return Ok(vec![Descriptor::of(&top.media_type, &top.bytes)]);
    }
    let index: IndexDoc = parse(&top.bytes)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for d in index.manifests {
        if is_index(&d.media_type) {
            return Err(fail!(
                "index {} lists another index ({}); distill reads one level",
                top.digest,
                d.digest
            ));
        }
        if seen.insert(d.digest.clone()) {
            out.push(d);
        }
    }
    if out.len() > MAX_MANIFESTS {
        return Err(fail!(
            "index {} lists {} manifests, more than the {MAX_MANIFESTS} distill reads",
            top.digest,
            out.len()
        ));
    }
    Ok(out)
}

/// A registry document as `T`, or an error naming its digest.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        fail!(
            "the registry served an unreadable document (sha256:{}): {e}",
            hex::encode(sha2::Sha256::digest(bytes))
        )
    })
}
