//! Every end-to-end test in one binary (one link instead of eight; one
//! place to find a test): `cargo test -p distill-tests --test it
//! MODULE::` runs one area. The modules:
//!
//! - `archive`: the fake signed archive, verification, snapshot and
//!   mirror behaviour;
//! - `build`: `distill build` and the registry commands end to end;
//! - `lock`, `update`: locking and the bot;
//! - `distroless`: the repository's packages.toml against distroless;
//! - `fuzz`: every outside parser fed mutated samples;
//! - `live`, `live_build`: against the real Debian archive
//!   (`DISTILL_LIVE=1`).

mod archive;
mod build;
mod changelog;
mod distroless;
mod fuzz;
mod live;
mod live_build;
mod lock;
mod update;
