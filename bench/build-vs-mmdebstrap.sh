#!/usr/bin/env bash
# Benchmark: cc-debian12 amd64 built by distill from a warm cache, against
# `mmdebstrap --variant=extract` of the same package set from a local
# mirror holding the same .debs, in the same run (copy://, apt's local
# method that mmdebstrap needs: file:// paths are not visible from its
# chroot). The whole matrix is measured by bench/speed.sh.
# Needs mmdebstrap, dpkg-dev and GNU time (apt-get install mmdebstrap
# dpkg-dev time), root for mmdebstrap's root mode, and deb.debian.org once
# to warm the cache. RUNS (default 5) runs of each, alternately, and their
# medians. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DISTILL_CACHE_DIR=${DISTILL_CACHE_DIR:-$work/cache}
# DISTILL=path measures another binary (an older build, say).
if [ -z "${DISTILL:-}" ]; then cargo build --release -q -p distill-cli; fi
bin=${DISTILL:-$PWD/target/release/distill}
timed() { # label command...
  local label=$1
  shift
  /usr/bin/time -f "%e s  %M KB peak RSS" -o "$work/t" "$@" >/dev/null 2>&1
  printf '  %-44s %s\n' "$label" "$(cat "$work/t")"
}

echo "== warming the cache (every .deb of both locks)"
"$bin" build -q --out "$work/warm" >/dev/null

# The cc-debian12 amd64 package set and a flat file:// repository of it.
mapfile -t debs < <(python3 - "$DISTILL_CACHE_DIR" <<'PY'
import sys, tomllib
lock = tomllib.load(open("snapshots/debian12.lock", "rb"))
names = lock["images"]["cc"]["amd64"]
for p in lock["packages"]:
    if p["name"] in names and p["architecture"] in ("amd64", "all"):
        s = p["sha256"]
        print(f'{p["name"]} {sys.argv[1]}/sha256/{s[:2]}/{s}')
PY
)
mkdir -p "$work/repo"
include=()
for line in "${debs[@]}"; do
  name=${line%% *}
  cp "${line#* }" "$work/repo/$name.deb"
  include+=("$name")
done
# Relations are dropped from the local index: distroless leaves out what
# some of these depend on (debconf, awk), and extract only unpacks anyway.
(cd "$work/repo" && dpkg-scanpackages -m . 2>/dev/null |
  grep -v -E '^(Pre-)?Depends:|^(Recommends|Suggests|Breaks|Conflicts|Replaces):' > Packages)
includes=$(IFS=,; echo "${include[*]}")
runs=${RUNS:-5}
echo "== cc-debian12 amd64: ${#include[@]} packages ($runs runs each, alternately)"
: > "$work/mm-times"
: > "$work/distill-times"
for ((i = 0; i < runs; i++)); do
  rm -rf "$work/mm"
  timed "mmdebstrap --variant=extract (local mirror)" \
    mmdebstrap --quiet --mode=root --variant=extract --architectures=amd64 \
    --include="$includes" --aptopt='Acquire::Languages "none"' \
    bookworm "$work/mm" "deb [trusted=yes] copy://$work/repo ./"
  cut -d' ' -f1 "$work/t" >> "$work/mm-times"
  rm -rf "$DISTILL_CACHE_DIR/layers"
  timed "distill build, layers made from the .debs" \
    "$bin" build -q --image cc --distro debian12 --arch amd64 --out "$work/o"
  cut -d' ' -f1 "$work/t" >> "$work/distill-times"
done
median_of() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'; }
mm=$(median_of "$work/mm-times")
ds=$(median_of "$work/distill-times")
echo "  medians: mmdebstrap $mm s, distill $ds s: distill is $(awk -v a="$mm" -v b="$ds" 'BEGIN { printf "%.1f", a / b }')x faster"
for i in 1 2 3 4 5; do
  timed "distill build, layers cached" \
    "$bin" build -q --image cc --distro debian12 --arch amd64 --out "$work/o"
done
