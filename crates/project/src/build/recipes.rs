//! The layers distroless images have besides their packages, made from
//! packages.toml's `[build]` and the locked packages: the skeleton
//! (directories, accounts, os-release, the CA bundle), the debug tags'
//! busybox, an image's own symlinks, compiled locales, the Java trust
//! store, and `/etc/ld.so.cache`.

use std::path::Path;

use distill_archive::DistroSpec;
use distill_debian::Sha256;
use distill_layer::{
    FileData, Generated, Node, Owner, PackageMeta, STATUS_DIR, Tree, arch_info, busybox_applets,
    ca_bundle, certs_from_pem_files, extract_files, jks, ld_so_cache, status_files,
};
use distill_lock::LockedPackage;

use super::layers::{Layers, Made, check_hash};
use crate::config::images::KeystoreSpec;
use crate::config::spec::BuildSpec;
use crate::error::{Result, fail};

/// The skeleton every image of the distro shares: directories, the
/// configured files, the dpkg status directory and the CA bundle made from
/// `ca` (the same layer for every architecture when, as in Debian, the
/// package is `all`).
pub(super) fn skeleton(
    layers: &Layers,
    build: &BuildSpec,
    distro: &DistroSpec,
    ca: Option<(&LockedPackage, &Path)>,
) -> Result<Made> {
    let mut g = Generated::new();
    for (path, d) in &build.dirs {
        let node = Node::Dir {
            mode: d.mode,
            owner: owner(d.uid, d.gid),
        };
        g.add(path, node)?;
    }
    let status = Node::Dir {
        mode: 0o755,
        owner: Owner::root(),
    };
    g.add(STATUS_DIR, status)?;
    for (path, f) in &build.files {
        g.file(path, f.mode, f.render(&distro.version_id, &distro.codename))?;
    }
    // The key names the CA package by hash, so a cached skeleton is found
    // without unpacking it.
    let what = format!("skeleton {g:?} {:?}", ca.map(|(p, _)| &p.sha256));
    let sources: Vec<&Sha256> = ca.iter().map(|(p, _)| &p.sha256).collect();
    layers.generated(&what, "distroless skeleton".into(), &sources, || {
        if let Some((p, deb)) = ca {
            add_ca_bundle(&mut g, p, deb)?;
        }
        Ok(g)
    })
}

/// The certificate files of the CA package (and its copyright), read
/// after the package's hash is checked again.
fn ca_files(p: &LockedPackage, deb: &Path) -> Result<(PackageMeta, Vec<FileData>)> {
    let label = format!("{} {}", p.name, p.version);
    check_hash(deb, &p.sha256, &label)?;
    let copyright = format!("usr/share/doc/{}/copyright", p.name);
    Ok(extract_files(deb, &label, |path| {
        path.starts_with("usr/share/ca-certificates/") || path == copyright
    })?)
}

/// The CA bundle made from the ca-certificates package, its copyright and
/// its dpkg status (the rest of the package is not installed).
fn add_ca_bundle(g: &mut Generated, p: &LockedPackage, deb: &Path) -> Result<()> {
    let (meta, files) = ca_files(p, deb)?;
    let copyright = format!("usr/share/doc/{}/copyright", p.name);
    // 0555, as distroless ships the bundle and its copyright.
    g.file(
        "/etc/ssl/certs/ca-certificates.crt",
        0o555,
        ca_bundle(&files),
    )?;
    if let Some((_, text)) = files.iter().find(|(path, _)| *path == copyright) {
        g.file(&copyright, 0o555, text.clone())?;
    }
    let (status_name, status) = status_files(&meta, false).swap_remove(0);
    g.file(&format!("{STATUS_DIR}/{status_name}"), 0o644, status)?;
    Ok(())
}

/// busybox at /busybox/busybox with a symlink per applet (read from the
/// binary's applet table; no foreign code is run), and its dpkg status so
/// scanners see which busybox it is.
pub(super) fn busybox(layers: &Layers, p: &LockedPackage, deb: &Path) -> Result<Made> {
    let label = format!("{} {}", p.name, p.version);
    layers.generated(
        &format!("busybox {}", p.sha256),
        label.clone(),
        &[&p.sha256],
        || {
            check_hash(deb, &p.sha256, &label)?;
            let (meta, files) = extract_files(deb, &label, |path| {
                path == "bin/busybox" || path == "usr/bin/busybox"
            })?;
            let (_, binary) = files
                .first()
                .ok_or_else(|| fail!("cannot use {label}: it has no bin/busybox"))?;
            let applets = busybox_applets(binary).map_err(|e| fail!("cannot use {label}: {e}"))?;
            let mut g = Generated::new();
            g.file("/busybox/busybox", 0o755, binary.clone())?;
            for a in applets.iter().filter(|a| a.as_str() != "busybox") {
                g.add(&format!("/busybox/{a}"), Node::Symlink("busybox".into()))?;
            }
            let (status_name, status) = status_files(&meta, false).swap_remove(0);
            g.file(&format!("{STATUS_DIR}/{status_name}"), 0o644, status)?;
            Ok(g)
        },
    )
}

/// A Java KeyStore of every certificate the CA bundle holds, as
/// trusted-cert entries aliased as Debian's ca-certificates-java does,
/// created at the build's epoch.
pub(super) fn java_keystore(
    layers: &Layers,
    spec: &KeystoreSpec,
    p: &LockedPackage,
    deb: &Path,
) -> Result<Made> {
    let what = format!("java keystore {spec:?} {}", p.sha256);
    layers.generated(&what, "java keystore".into(), &[&p.sha256], || {
        let (_, files) = ca_files(p, deb)?;
        let certs =
            certs_from_pem_files(&files).map_err(|e| fail!("cannot make {}: {e}", spec.path))?;
        if certs.is_empty() {
            return Err(fail!(
                "cannot make {}: {} {} has no certificates",
                spec.path,
                p.name,
                p.version
            ));
        }
        let store = jks(&certs, layers.epoch * 1000, &spec.password)
            .map_err(|e| fail!("cannot make {}: {e}", spec.path))?;
        let mut g = Generated::new();
        g.file(&spec.path, 0o644, store)?;
        Ok(g)
    })
}

/// Compiled locales (`C.utf8`) copied out of the locales package
/// (`usr/lib/locale/<name>/`, with the package's copyright); nothing else
/// of the package is installed, so it gets no dpkg status entry.
pub(super) fn locales(
    layers: &Layers,
    names: &[String],
    p: &LockedPackage,
    deb: &Path,
) -> Result<Made> {
    let label = format!("locales {} from {} {}", names.join(" "), p.name, p.version);
    let what = format!("locales {names:?} {}", p.sha256);
    layers.generated(&what, label.clone(), &[&p.sha256], || {
        check_hash(deb, &p.sha256, &label)?;
        let copyright = format!("usr/share/doc/{}/copyright", p.name);
        let dirs: Vec<String> = names
            .iter()
            .map(|n| format!("usr/lib/locale/{n}/"))
            .collect();
        let (_, files) = extract_files(deb, &label, |path| {
            path == copyright || dirs.iter().any(|d| path.starts_with(d.as_str()))
        })?;
        for (name, dir) in names.iter().zip(&dirs) {
            if !files.iter().any(|(path, _)| path.starts_with(dir.as_str())) {
                return Err(fail!(
                    "cannot install locale {name}: {} {} has no /{dir}",
                    p.name,
                    p.version
                ));
            }
        }
        let mut g = Generated::new();
        for (path, bytes) in files {
            g.file(&path, 0o644, bytes)?;
        }
        Ok(g)
    })
}

/// The image's own symlinks for one architecture (`{arch}` in a target
/// replaced), if it has any.
pub(super) fn symlinks(
    layers: &Layers,
    links: &std::collections::BTreeMap<String, String>,
    arch: &str,
) -> Result<Option<Made>> {
    if links.is_empty() {
        return Ok(None);
    }
    let mut g = Generated::new();
    for (path, target) in links {
        g.add(path, Node::Symlink(target.replace("{arch}", arch)))?;
    }
    let what = format!("image {g:?}");
    layers
        .generated(&what, "image symlinks".into(), &[], || Ok(g))
        .map(Some)
}

/// `/etc/ld.so.cache` for the libraries of `below`, as ldconfig would
/// write it from Debian's ld.so.conf.d: the multiarch directories first,
/// then /lib and /usr/lib, a directory reached twice (merged /usr)
/// scanned once.
pub(super) fn ld_cache(layers: &Layers, arch: &str, below: &[&Made]) -> Result<Made> {
    let (triplet, flags, big_endian) =
        arch_info(arch).ok_or_else(|| fail!("cannot write ld.so.cache for {arch}: unknown ABI"))?;
    let mut tree = Tree::new();
    for m in below {
        tree.add(&m.label, &m.layer.entries, m.generated)?;
    }
    // `lib/x` → `usr/lib/x` when `lib` is a symlink to `usr/lib`.
    let canonical = |dir: &str| -> String {
        let (top, rest) = dir.split_once('/').unwrap_or((dir, ""));
        let target = tree.get(top).and_then(|(_, e)| e.target.as_deref());
        match target.map(|t| t.trim_start_matches('/')) {
            Some(t) if !t.is_empty() && rest.is_empty() => t.to_owned(),
            Some(t) if !t.is_empty() => format!("{t}/{rest}"),
            _ => dir.to_owned(),
        }
    };
    let mut seen = Vec::new();
    let mut entries = Vec::new();
    for dir in [
        format!("lib/{triplet}"),
        format!("usr/lib/{triplet}"),
        "lib".to_owned(),
        "usr/lib".to_owned(),
    ] {
        let real = canonical(&dir);
        if seen.contains(&real) {
            continue;
        }
        for (_, e) in tree.list(&real) {
            let Some(soname) = &e.soname else { continue };
            if tree.get(&format!("{real}/{soname}")).is_none() {
                continue;
            }
            entries.push((soname.clone(), format!("/{dir}/{soname}")));
        }
        seen.push(real);
    }
    let mut g = Generated::new();
    g.file(
        "/etc/ld.so.cache",
        0o644,
        ld_so_cache(&entries, flags, big_endian),
    )?;
    let what = format!("ld.so.cache {g:?}");
    layers.generated(&what, "ld.so.cache".into(), &[], || Ok(g))
}

fn owner(uid: u64, gid: u64) -> Owner {
    let name = |id: u64| {
        if id == 0 {
            "root".to_owned()
        } else {
            String::new()
        }
    };
    Owner {
        uid,
        gid,
        user: name(uid),
        group: name(gid),
    }
}
