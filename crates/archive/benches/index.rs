//! Decompress and parse one Packages.xz, best of five.
//! `cargo bench -p distill-archive --bench index -- PATH/Packages.xz`
//! (bench/index-load.sh downloads bookworm amd64 and runs it).

#![allow(clippy::print_stdout)]

use std::io::Read;
use std::time::{Duration, Instant};

use distill_archive::PackageIndex;

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..5 {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("ran"))
}

fn main() {
    let Some(path) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        println!("usage: cargo bench -p distill-archive --bench index -- PATH/Packages.xz");
        return;
    };
    let raw = std::fs::read(&path).expect("read Packages.xz");
    let (t_xz, text) = best(|| {
        let mut s = String::new();
        xz2::read::XzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .expect("xz");
        s
    });
    let (t_parse, index) = best(|| PackageIndex::parse(text.clone()).expect("parse"));
    let (t_walk, fields) = best(|| {
        index
            .stanzas()
            .map(|p| p.expect("stanza").fields().len())
            .sum::<usize>()
    });
    println!(
        "{} MB xz -> {} MB, {} stanzas, {fields} fields",
        raw.len() >> 20,
        text.len() >> 20,
        index.len()
    );
    println!("decompress {:>7.1} ms", t_xz.as_secs_f64() * 1e3);
    println!(
        "index      {:>7.1} ms  (stanza spans + sorted names)",
        t_parse.as_secs_f64() * 1e3
    );
    println!(
        "walk all   {:>7.1} ms  (every stanza's fields, borrowed)",
        t_walk.as_secs_f64() * 1e3
    );
}
