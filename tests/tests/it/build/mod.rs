//! `distill build` end to end: real .debs built by the kit, published in a
//! fake signed archive on 127.0.0.1, locked, then built into OCI layouts
//! that are checked byte for byte, entry by entry, and (when installed)
//! by skopeo and umoci.

#![allow(clippy::print_stderr)]

mod append;
mod artifacts;
mod cli;
mod common;
mod hostile;
mod inprocess;
mod java;
mod promises;
mod push;
mod races;
mod repro;
mod scripts;
mod security;
mod sign;
mod tools;
mod tree;
