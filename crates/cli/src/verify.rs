//! `distill verify REF --image I --distro D`: does the registry serve
//! what the lock builds? Exit 0 when it does, 2 when it does not.

use distill_project::{Project, Result, VerifyOptions};

use crate::output::{emit, emit_json};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// What the registry serves: `registry/repository[:tag]`.
    reference: String,
    /// The image of packages.toml it should be.
    #[arg(long)]
    image: String,
    /// The distro of packages.toml whose lock builds it.
    #[arg(long)]
    distro: String,
    /// The tag to compare (default: the reference's, else latest).
    #[arg(long)]
    tag: Option<String>,
    /// Use http for a registry that is not on this machine.
    #[arg(long)]
    plain_http: bool,
    /// Also require the index and every platform manifest to be signed
    /// with this public key (cosign.pub) for this repository, and their
    /// provenance to name this lock.
    #[arg(long, value_name = "FILE")]
    key: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(project: &Project, args: Args) -> Result<u8> {
    let v = project.verify(&VerifyOptions {
        reference: args.reference,
        image: args.image,
        distro: args.distro,
        tag: args.tag,
        plain_http: args.plain_http,
        docker_config: None,
        key: args.key.as_deref().map(crate::key::public).transpose()?,
    })?;
    if args.json {
        let doc = serde_json::json!({
            "reference": v.reference,
            "same": v.same(),
            "built": v.built,
            "served": v.served,
            "diff": v.diff,
            "unsigned": v.unsigned,
        });
        emit_json(&doc, false)?;
    } else if v.same() {
        let mut text = format!("{}: same as the lock builds ({})\n", v.reference, v.built);
        for line in &v.unsigned {
            text += &format!("{}: {line}\n", v.reference);
        }
        if v.unsigned.is_empty() && args.key.is_some() {
            text += &format!(
                "{}: signed with the key, provenance names this lock\n",
                v.reference
            );
        }
        emit(&text)?;
    } else {
        let mut text = format!(
            "{}: differs from the lock\n  built  {}\n  served {}\n",
            v.reference, v.built, v.served
        );
        text += &crate::diff::layouts_text(&v.diff);
        for line in &v.unsigned {
            text += &format!("{}: {line}\n", v.reference);
        }
        emit(&text)?;
    }
    Ok(if v.holds() { 0 } else { 2 })
}
