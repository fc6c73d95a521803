//! `distill build`.

use std::path::PathBuf;

use distill_layer::Compression;
use distill_project::{BuildOptions, Format, Project, Result};
use serde_json::json;

use crate::output::emit;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Only these images (repeatable; default: every image in the lock).
    #[arg(long = "image")]
    images: Vec<String>,
    /// Only these distros (repeatable; default: every distro).
    #[arg(long = "distro")]
    distros: Vec<String>,
    /// Only these architectures (repeatable; default: all locked ones).
    #[arg(long = "arch")]
    archs: Vec<String>,
    /// Where the image layouts go: <DIR>/<image>-<distro>/.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Layer compression.
    #[arg(long, value_enum, default_value = "gzip")]
    compression: Comp,
    /// `oci`: an image layout per image; `docker-archive`: a tar that
    /// `docker load` reads, <DIR>/<image>-<distro>-<arch>.tar, for one
    /// --image and one --arch (all tags).
    #[arg(long, value_enum, default_value = "oci")]
    format: Fmt,
    /// One JSON object per line: image, distro, tag, digest, path.
    #[arg(long)]
    json: bool,
    /// Build only the images whose packages differ from this older lock
    /// (repeatable, one per distro; distros without one are skipped).
    /// The others keep their layouts, and their digests.
    #[arg(long = "changed-since", value_name = "OLD_LOCK")]
    changed_since: Vec<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Fmt {
    Oci,
    DockerArchive,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Comp {
    Gzip,
    Zstd,
}

pub(crate) fn run(project: &Project, args: Args) -> Result<u8> {
    let epoch = crate::parse::source_date_epoch()?;
    let opts = BuildOptions {
        images: args.images,
        distros: args.distros,
        archs: args.archs,
        out: args.out,
        compression: match args.compression {
            Comp::Gzip => Compression::Gzip,
            Comp::Zstd => Compression::Zstd,
        },
        format: match args.format {
            Fmt::Oci => Format::Oci,
            Fmt::DockerArchive => Format::DockerArchive,
        },
        changed_since: args.changed_since,
        epoch,
        scratch: false,
    };
    let report = project.build(&opts)?;
    let mut text = String::new();
    for b in &report.tags {
        text += &match args.json {
            true => json!({
                "image": b.image, "distro": b.distro, "tag": b.tag,
                "digest": b.digest, "path": b.path,
            })
            .to_string(),
            false => format!("{}-{}:{} {}", b.image, b.distro, b.tag, b.digest),
        };
        text.push('\n');
    }
    for (image, distro, arch, path) in &report.archives {
        text += &match args.json {
            true => {
                json!({"image": image, "distro": distro, "arch": arch, "path": path}).to_string()
            }
            false => path.display().to_string(),
        };
        text.push('\n');
    }
    emit(&text)?;
    Ok(0)
}
