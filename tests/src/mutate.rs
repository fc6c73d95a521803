//! A seeded mutation fuzzer for stable Rust: real sample inputs, mutated
//! (bit flips, byte changes, insertions, deletions, duplicated and spliced
//! ranges, truncations, tokens parsers care about), fed to a parser under
//! `catch_unwind`. Runs are reproducible from the seed; every input that
//! panics is written to `target/fuzz-crashes/` and the run fails.
//!
//! `DISTILL_FUZZ_ITERS` sets the executions per target (default 300, for
//! `cargo test`); `DISTILL_FUZZ_SEED` the seed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// Bytes parsers split on or compare with, spliced in at random places.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\n\n",
    b":",
    b": ",
    b" ",
    b",",
    b"|",
    b"(",
    b")",
    b">=",
    b"<<",
    b"=",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b"-",
    b"+",
    b"~",
    b".",
    b"/",
    b"..",
    b"0",
    b"9",
    b"\xff",
    b"\0",
    b"-----BEGIN PGP SIGNATURE-----\n",
    b"\x7fELF",
    b"version = ",
    b"sha256:",
];

/// xorshift64*: small, fast, and the same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// One to four stacked mutations of `input`, some taking from `other`.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(8) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next_u64() as u8;
            }
            2 => b.insert(at, rng.next_u64() as u8),
            3 if !b.is_empty() => {
                let n = 1 + rng.below(16.min(b.len() - at.min(b.len() - 1)));
                let from = at.min(b.len() - 1);
                b.drain(from..(from + n).min(b.len()));
            }
            4 if !b.is_empty() => {
                let from = rng.below(b.len());
                let n = 1 + rng.below(64.min(b.len() - from));
                let chunk = b[from..from + n].to_vec();
                b.splice(at..at, chunk);
            }
            5 => b.truncate(at),
            6 if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = 1 + rng.below(256.min(other.len() - from));
                b.splice(at..at, other[from..from + n].iter().copied());
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
        }
    }
    b
}

/// Executions per target: `DISTILL_FUZZ_ITERS`, else `default`.
pub fn iterations(default: usize) -> usize {
    std::env::var("DISTILL_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a target's run did.
#[derive(Debug)]
pub struct Report {
    pub target: &'static str,
    pub executions: usize,
    pub crashes: Vec<PathBuf>,
}

/// Runs `parse` on every seed, then on `iters` mutations of them; returns
/// the inputs that panicked (saved under `target/fuzz-crashes/`).
pub fn fuzz(
    target: &'static str,
    seeds: &[Vec<u8>],
    iters: usize,
    parse: impl Fn(&[u8]),
) -> Report {
    assert!(!seeds.is_empty(), "{target}: no seeds");
    let seed = std::env::var("DISTILL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x05ee_dd15_7111_u64);
    // Each target its own stream, so adding one does not change another.
    let name_hash = target
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    let mut rng = Rng::new(seed ^ name_hash);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-crashes");
    let mut crashes = Vec::new();
    let mut run = |input: &[u8], n: usize| {
        if catch_unwind(AssertUnwindSafe(|| parse(input))).is_err() {
            let path = dir.join(format!("{target}-{n}.bin"));
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(&path, input);
            crashes.push(path);
        }
    };
    for (i, s) in seeds.iter().enumerate() {
        run(s, i);
    }
    for n in 0..iters {
        let a = &seeds[rng.below(seeds.len())];
        let b = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, a, b);
        run(&input, seeds.len() + n);
    }
    Report {
        target,
        executions: seeds.len() + iters,
        crashes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_reproducible_and_vary() {
        let input = b"Package: hello\nVersion: 1.0\n";
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..50)
                .map(|_| mutate(&mut rng, input, b"other"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let outs = run(7);
        assert!(outs.iter().filter(|o| o.as_slice() != input).count() > 40);
        // A parser that panics on one byte is caught and reported.
        let r = fuzz("self-test", &[input.to_vec()], 300, |b| {
            assert!(!b.contains(&b'|'), "found a bar");
        });
        assert_eq!(r.executions, 301);
        assert!(!r.crashes.is_empty());
        for p in r.crashes {
            std::fs::remove_file(p).unwrap();
        }
    }
}
