//! Resolve roots over a decompressed Packages file, best of five.
//! Reported separately: splitting the text into stanzas (what loading an
//! index does once, like apt's `update` building its package cache), the
//! universe over those stanzas, and the resolution itself.
//! `cargo bench -p distill-resolve --bench resolve -- ARCH Packages ROOT...`
//! (bench/resolve-vs-apt.sh prepares the file and times apt beside it).

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use distill_archive::PackageIndex;
use distill_debian::StanzaSource;
use distill_resolve::Universe;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [arch, path, roots @ ..] = &args[..] else {
        println!("usage: cargo bench -p distill-resolve --bench resolve -- ARCH Packages ROOT...");
        return;
    };
    let text = std::fs::read_to_string(path).expect("read Packages");
    let roots: Vec<String> = roots.to_vec();
    let (mut split, mut universe, mut resolve) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let index = PackageIndex::parse(text.clone()).expect("index");
        split = split.min(t.elapsed());
        let t = Instant::now();
        let u = Universe::new(arch, [(0, &index as &dyn StanzaSource)]);
        universe = universe.min(t.elapsed());
        let t = Instant::now();
        let r = u.resolve(&roots, &Default::default()).expect("resolve");
        resolve = resolve.min(t.elapsed());
        size = r.packages.len();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("{size} packages for {} roots", roots.len());
    println!(
        "load: the table            {:>8.1} ms  (once per index, like apt update)",
        ms(split)
    );
    println!(
        "universe                  {:>8.1} ms  (names, Provides)",
        ms(universe)
    );
    println!(
        "resolve                   {:>8.2} ms  (candidates chosen as looked up)",
        ms(resolve)
    );
    println!(
        "universe + resolve        {:>8.1} ms",
        ms(universe + resolve)
    );
}
