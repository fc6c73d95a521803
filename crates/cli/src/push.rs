//! `distill push REGISTRY/PREFIX`: the built layouts to a registry.

use std::path::PathBuf;

use distill_project::{KeylessOptions, Project, PushOptions, Result};

use crate::output::{emit, emit_json};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Registry and repository prefix (`ghcr.io/me/distroless`); each
    /// layout goes to `<prefix>/<image>-<distro>`.
    target: String,
    /// Only this image (repeatable; default: every image built).
    #[arg(long = "image")]
    images: Vec<String>,
    /// Only this distro (repeatable; default: all).
    #[arg(long = "distro")]
    distros: Vec<String>,
    /// Only this tag and its `<tag>-<arch>` (repeatable; default: all).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Where `distill build` wrote the layouts.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Use http for a registry that is not on this machine (loopback
    /// registries always are).
    #[arg(long)]
    plain_http: bool,
    /// Sign every manifest and index pushed with this key, and attest
    /// each image's SBOM and provenance, as cosign does (a key from
    /// `cosign generate-key-pair` or `distill key generate`; its password
    /// from $COSIGN_PASSWORD).
    #[arg(long, value_name = "FILE", conflicts_with = "keyless")]
    sign_key: Option<PathBuf>,
    /// Sign keyless, as `cosign sign` does: an ephemeral key certified by
    /// Fulcio for the OIDC identity of $SIGSTORE_ID_TOKEN (or of GitHub
    /// Actions' token), each signature logged in Rekor. Attestations need
    /// --sign-key.
    #[arg(long)]
    keyless: bool,
    /// Fulcio for --keyless.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://fulcio.sigstore.dev"
    )]
    fulcio_url: String,
    /// Rekor for --keyless.
    #[arg(long, value_name = "URL", default_value = "https://rekor.sigstore.dev")]
    rekor_url: String,
    /// Print JSON: tags → digests, blobs uploaded / mounted / present.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(project: &Project, args: Args) -> Result<u8> {
    let opts = PushOptions {
        target: args.target,
        images: args.images,
        distros: args.distros,
        tags: args.tags,
        out: args.out,
        plain_http: args.plain_http,
        docker_config: None,
        sign_key: args
            .sign_key
            .as_deref()
            .map(crate::key::secret)
            .transpose()?,
        keyless: match args.keyless {
            true => Some(KeylessOptions {
                fulcio: args.fulcio_url,
                rekor: args.rekor_url,
                token: crate::key::oidc_token()?,
            }),
            false => None,
        },
    };
    let r = project.push(&opts)?;
    if args.json {
        let doc = serde_json::json!({
            "tags": r.tags.iter().map(|(t, d)| (t.clone(), serde_json::Value::from(d.clone()))).collect::<serde_json::Map<_, _>>(),
            "blobs": {"uploaded": r.uploaded, "mounted": r.mounted, "present": r.present, "bytes": r.bytes},
            "signed": r.signed,
        });
        emit_json(&doc, false)?;
    } else {
        let mut text: String = r.tags.iter().map(|(t, d)| format!("{t} {d}\n")).collect();
        text += &format!(
            "blobs: {} uploaded ({} bytes), {} mounted, {} already there\n",
            r.uploaded, r.bytes, r.mounted, r.present
        );
        if opts.sign_key.is_some() || opts.keyless.is_some() {
            text += &format!(
                "signatures and attestations: {} added (the rest were there)\n",
                r.signed
            );
        }
        emit(&text)?;
    }
    Ok(0)
}
