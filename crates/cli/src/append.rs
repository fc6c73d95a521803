//! `distill append BASE -t TARGET --layer F | --dir D ...`: layers on top
//! of an image in a registry or a layout, without pulling the base.

use std::path::PathBuf;

use distill_project::{AppendOptions, Error, Result};

use crate::output::emit;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The base: `registry/repo:tag` or `oci:DIR:TAG`.
    base: String,
    /// The new image: `registry/repo:tag` or `oci:DIR:TAG`.
    #[arg(short = 't', long = "target")]
    target: String,
    /// A layer tarball (.tar, .tar.gz, .tar.zst) for every platform.
    #[arg(long = "layer")]
    layers: Vec<PathBuf>,
    /// A directory made into a layer (owners 0:0, mtimes SOURCE_DATE_EPOCH
    /// or the base's created time).
    #[arg(long = "dir")]
    dirs: Vec<PathBuf>,
    /// UID:GID of the --dir layers' entries (default 0:0).
    #[arg(long)]
    owner: Option<String>,
    /// `os/arch[/variant]=FILE`: a layer for one platform only.
    #[arg(long = "platform")]
    platforms: Vec<String>,
    /// JSON array, e.g. '["/app"]'.
    #[arg(long)]
    entrypoint: Option<String>,
    /// JSON array.
    #[arg(long)]
    cmd: Option<String>,
    /// K=V (repeatable).
    #[arg(long = "env")]
    env: Vec<String>,
    /// The user the image runs as (`65532`, `nonroot:nonroot`).
    #[arg(long)]
    user: Option<String>,
    /// The working directory the image starts in.
    #[arg(long)]
    workdir: Option<String>,
    /// K=V (repeatable).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Use http for a registry that is not on this machine.
    #[arg(long)]
    plain_http: bool,
    /// Sign the new manifests and index (a registry target) with this
    /// key, as `push --sign-key` does; its password from $COSIGN_PASSWORD.
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<u8> {
    let json_list = |flag: &str, v: &Option<String>| -> Result<Option<Vec<String>>> {
        v.as_deref()
            .map(|s| {
                serde_json::from_str::<Vec<String>>(s).map_err(|e| {
                    Error::Message(format!(
                        "cannot use --{flag} {s}: {e} (a JSON array of strings)"
                    ))
                })
            })
            .transpose()
    };
    let pairs = |flag: &str, v: &[String]| -> Result<Vec<(String, String)>> {
        v.iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| {
                        Error::Message(format!("cannot use --{flag} {kv}: expected K=V"))
                    })
            })
            .collect()
    };
    let platform_layers = pairs("platform", &args.platforms)?
        .into_iter()
        .map(|(p, f)| (p, PathBuf::from(f)))
        .collect();
    let epoch = crate::parse::source_date_epoch()?;
    let owner = args
        .owner
        .as_deref()
        .map(|o| {
            o.split_once(':')
                .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)))
                .ok_or_else(|| Error::Message(format!("cannot use --owner {o}: expected UID:GID")))
        })
        .transpose()?;
    let opts = AppendOptions {
        base: args.base,
        target: args.target,
        layers: args.layers,
        dirs: args.dirs,
        owner,
        platform_layers,
        entrypoint: json_list("entrypoint", &args.entrypoint)?,
        cmd: json_list("cmd", &args.cmd)?,
        env: pairs("env", &args.env)?,
        user: args.user,
        workdir: args.workdir,
        labels: pairs("label", &args.labels)?,
        epoch,
        plain_http: args.plain_http,
        docker_config: None,
        timeouts: crate::timeouts()?,
        retry: crate::retry()?,
        sign_key: args
            .sign_key
            .as_deref()
            .map(crate::key::secret)
            .transpose()?,
    };
    let a = distill_project::append(&opts)?;
    emit(&format!("{} {}\n", a.target, a.digest))?;
    Ok(0)
}
