//! `distill why PKG --image I --distro D`: the dependency path from the
//! image's roots to PKG, or the exclude that removed it. Re-resolves from
//! the lock's pins (the indices are in the cache after `lock`).

use distill_resolve::Universe;

use crate::Global;
use crate::context::{Context, Failure, Result, emit, host_arch};
use crate::load::{check_arch, load};
use crate::lock::{images, lock_path, pins_from, plans, require_lock, resolve_image};

#[derive(clap::Args)]
pub struct Args {
    /// Package name.
    package: String,
    /// Image from packages.toml.
    #[arg(long)]
    image: String,
    #[arg(long)]
    distro: String,
    /// Debian architecture (default: this machine's).
    #[arg(long)]
    arch: Option<String>,
}

pub fn run(global: &Global, args: Args) -> Result<u8> {
    let ctx = Context::new(global)?;
    let distro = ctx.distro(&args.distro)?;
    let arch = args.arch.clone().unwrap_or_else(|| host_arch().to_owned());
    check_arch(&args.distro, distro, &arch)?;
    let lock = require_lock(&ctx, &args.distro, "answer why")?;
    let path = lock_path(&ctx, &args.distro);
    let images = images(&ctx)?;
    let plans = plans(&ctx, &images, &args.distro, distro)?;
    let Some((_, plan)) = plans.iter().find(|(n, _)| *n == args.image) else {
        return Err(Failure(format!(
            "cannot answer why: image {} is not built for {}",
            args.image, args.distro
        )));
    };
    if !plan.architectures.contains(&arch) {
        return Err(Failure(format!(
            "cannot answer why: image {} is not built for {arch}",
            args.image
        )));
    }
    let pins = pins_from(Some(&lock), ctx.default_snapshot())?;
    let loaded = load(&ctx, global, distro, std::slice::from_ref(&arch), &pins)?;
    let universe = Universe::new(&arch, loaded.stanzas(&arch))?;
    let resolution = resolve_image(&universe, &args.image, &args.distro, plan)?;
    // The answer must explain the locked set. A lock made from a live
    // mirror (not a snapshot) can drift as the mirror moves on.
    let locked = lock
        .images
        .get(&args.image)
        .and_then(|a| a.get(&arch))
        .ok_or_else(|| {
            Failure(format!(
                "cannot answer why: {} has no {} {arch} image; run `distill lock`",
                path.display(),
                args.image
            ))
        })?;
    if !resolution.packages.keys().eq(locked.iter()) {
        return Err(Failure(format!(
            "cannot answer why: the archive no longer resolves {} {arch} to the locked set (a mirror moved on since the lock was written); run `distill lock`",
            args.image
        )));
    }
    if let Some(path) = resolution.why(&args.package) {
        let version = &resolution.packages[&args.package].version;
        let how = if path.len() == 1 {
            " (a root of the image)"
        } else {
            ""
        };
        return emit(&format!(
            "{} {version} is in {}{how}:\n  {}\n",
            args.package,
            args.image,
            path.join(" -> ")
        ))
        .map(|()| 0);
    }
    if let Some(cut) = resolution.cuts.get(&args.package) {
        return emit(&format!(
            "{} is excluded from {}: {}\n  {} needs `{}`\n",
            args.package,
            args.image,
            cut.reason,
            cut.needed_by.join(" -> "),
            cut.relation
        ))
        .map(|()| 0);
    }
    Err(Failure(format!(
        "cannot answer why: {} is not in image {} for {} {arch}, and nothing there needs it",
        args.package, args.image, args.distro
    )))
}
