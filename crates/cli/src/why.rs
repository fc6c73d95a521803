//! `distill why PKG --image I --distro D`.

use distill_debian::host_arch;
use distill_project::{Project, Result, Why};

use crate::output::emit;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Package name.
    package: String,
    /// Image from packages.toml.
    #[arg(long)]
    image: String,
    /// Distro from packages.toml.
    #[arg(long)]
    distro: String,
    /// Debian architecture (default: this machine's).
    #[arg(long)]
    arch: Option<String>,
}

pub(crate) fn run(project: &Project, args: Args) -> Result<u8> {
    let arch = args.arch.as_deref().unwrap_or(host_arch());
    let (pkg, image) = (&args.package, &args.image);
    let text = match project.why(pkg, image, &args.distro, arch)? {
        Why::Included {
            version,
            path,
            debug_only,
        } => {
            let how = match (path.len() == 1, debug_only) {
                (true, false) => " (a root of the image)",
                (true, true) => "'s debug tags (a debug package)",
                (false, true) => "'s debug tags",
                (false, false) => "",
            };
            format!(
                "{pkg} {version} is in {image}{how}:\n  {}\n",
                path.join(" -> ")
            )
        }
        Why::Excluded(cut) => format!(
            "{pkg} is excluded from {image}: {}\n  {} needs `{}`\n",
            cut.reason,
            cut.needed_by.join(" -> "),
            cut.relation
        ),
    };
    emit(&text)?;
    Ok(0)
}
