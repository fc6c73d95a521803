//! The two JSON calls keyless signing makes beyond the registry: Fulcio
//! (a certificate for an ephemeral key) and Rekor (a log entry), and the
//! GitHub Actions OIDC token request. Same client, timeouts and bounded
//! reads as the registry's; no retries of a POST (an entry logged twice
//! is harmless, but a certificate request is tied to a token that may
//! be single-use).

use reqwest::header;

use crate::RegistryError;
use crate::client::Client;
use crate::read::{Limit, Named, read_body};

/// The most a sigstore service's answer may be (a certificate chain or a
/// log entry is a few KiB).
const MAX_ANSWER: u64 = 1 << 20;

impl Client {
    /// POSTs `body` (JSON) to `url`, with `bearer` as the token if given;
    /// the answer's body when the status is a success.
    pub async fn post_json(
        &self,
        url: &str,
        body: &[u8],
        bearer: Option<&str>,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut req = self
            .http()
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .timeout(self.deadline())
            .body(body.to_vec());
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        self.answer(url, req).await
    }

    /// GETs `url` (JSON) with `bearer` as the token.
    pub async fn get_json(&self, url: &str, bearer: &str) -> Result<Vec<u8>, RegistryError> {
        let req = self
            .http()
            .get(url)
            .header(header::ACCEPT, "application/json")
            .timeout(self.deadline())
            .bearer_auth(bearer);
        self.answer(url, req).await
    }

    async fn answer(
        &self,
        url: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, RegistryError> {
        let resp = req.send().await.map_err(|e| RegistryError::Request {
            url: url.to_owned(),
            source: e,
        })?;
        if !resp.status().is_success() {
            return Err(self.status_error(url, resp).await);
        }
        let mut out = Vec::new();
        let name = Named {
            what: url,
            digest: None,
        };
        read_body(resp, Limit::AtMost(MAX_ANSWER), &name, &mut out).await?;
        Ok(out)
    }
}
