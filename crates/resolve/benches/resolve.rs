//! Resolve roots over a decompressed Packages file, best of five:
//! the universe (candidates + Provides) and the resolution itself.
//! `cargo bench -p distill-resolve --bench resolve -- ARCH Packages ROOT...`
//! (bench/resolve-vs-apt.sh prepares the file and times apt beside it).

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use distill_debian::paragraphs;
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
    let mut best = (Duration::MAX, Duration::MAX);
    let mut size = 0;
    let mut parse_only = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let n = paragraphs(&text)
            .map(|p| p.expect("stanza").fields().len())
            .sum::<usize>();
        parse_only = parse_only.min(t.elapsed());
        std::hint::black_box(n);
        let t = Instant::now();
        let universe = Universe::new(arch, [(0, text.as_str())]).expect("universe");
        let t_universe = t.elapsed();
        let t = Instant::now();
        let r = universe
            .resolve(&roots, &Default::default())
            .expect("resolve");
        let t_resolve = t.elapsed();
        size = r.packages.len();
        best = (best.0.min(t_universe), best.1.min(t_resolve));
    }
    println!("{size} packages for {} roots", roots.len());
    println!(
        "universe   {:>8.1} ms  (parse every stanza, pick candidates, index Provides)",
        best.0.as_secs_f64() * 1e3
    );
    println!(
        "  of which parsing {:>6.1} ms",
        parse_only.as_secs_f64() * 1e3
    );
    println!("resolve    {:>8.2} ms", best.1.as_secs_f64() * 1e3);
    println!(
        "total      {:>8.1} ms",
        (best.0 + best.1).as_secs_f64() * 1e3
    );
}
