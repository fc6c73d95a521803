#!/usr/bin/env bash
# Benchmark: load the verified bookworm amd64 index with distill, cold
# (empty cache) and warm, against curl + xz -d of the same file. Needs the
# network (deb.debian.org). Prints wall times; run it twice, not in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p distill-cli
bin=$PWD/target/release/distill
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One suite only, so distill and curl move the same bytes.
cat > "$work/packages.toml" <<TOML
[distros.bench]
codename = "bookworm"
version_id = "12"
architectures = ["amd64"]
[[distros.bench.archives]]
name = "debian"
snapshot = "https://snapshot.debian.org/archive/debian"
mirrors = ["https://deb.debian.org/debian"]
suites = ["bookworm"]
components = ["main"]
TOML

t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); printf '%6.2f s  %s\n' "$(echo "$e - $s" | bc)" "$*" | sed "s|$work|\$tmp|g; s|$bin|distill|"; }

echo "== curl + xz -d (no verification)"
for _ in 1 2 3; do
  t bash -c "curl -fsS https://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages.xz | xz -d > /dev/null"
done
echo "== distill, cold cache (InRelease + verify + Packages.xz + hash + xz + parse)"
for i in 1 2 3; do
  t "$bin" --config "$work/packages.toml" --cache-dir "$work/cold$i" -q show libc6 --distro bench --arch amd64
done
echo "== distill, warm cache (InRelease fetched and verified again; index from cache)"
for _ in 1 2 3; do
  t "$bin" --config "$work/packages.toml" --cache-dir "$work/cold1" -q show libc6 --distro bench --arch amd64
done
echo "== distill, warm and --offline (no network at all)"
for _ in 1 2 3; do
  t "$bin" --config "$work/packages.toml" --cache-dir "$work/cold1" -q --offline show libc6 --distro bench --arch amd64
done
echo "== in-process phases (cargo bench)"
curl -fsS -o "$work/Packages.xz" https://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages.xz
cargo bench -q -p distill-archive --bench index -- "$work/Packages.xz" 2>/dev/null
