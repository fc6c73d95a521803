#!/usr/bin/env bash
# The speed table of issue 15, whole processes, medians of RUNS (default 5)
# runs, for one or more distill binaries side by side (same machine, same
# run):
#
#   bench/speed.sh [OLD_BINARY] [NEW_BINARY]     (default: this tree's release build)
#
# 1. warm `resolve git gnupg wget` (debian12 amd64; online = InRelease
#    revalidated, and --offline) against `apt-get install -s` over an
#    isolated root holding the same three indices, its cache built;
# 2. warm `lock --arch amd64 --arch arm64`, both distros;
# 3. cold `lock` (empty cache) against the floor: curl + xz -d of the same
#    12 indices, two at a time (2 cores), run alternately with it;
# 4. `build` with layers made from cached .debs: the images the issue's
#    table was measured on (static, base-nossl, base, cc, python3), and
#    the whole matrix with nodejs and java (once: minutes);
# 5. warm `build` of the whole matrix (layers cached).
# Needs deb.debian.org, registry.npmjs.org (cold lock), apt-get, curl, xz,
# GNU time. Each binary gets its own cache. SKIP_BUILD=1 stops after the
# lock and resolve rows. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNS=${RUNS:-5}
if [ $# -eq 0 ]; then
  cargo build --release -q -p distill-cli
  set -- "$root/target/release/distill"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# one timed run of a command: its wall time (s) appended to the file $1,
# its peak RSS kept for row
once() { # times-file command...
  local out=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>"$work/err" || {
    cat "$work/err" >&2
    return 1
  }
  cut -d' ' -f1 "$work/t" >> "$out"
  cut -d' ' -f2 "$work/t" > "$work/rss"
}
# the median of the times in a file; prints "x.xxx"
median_of() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'; }
# median of the wall times (s) of RUNS runs of a command; prints "x.xxx"
median() {
  local i
  : > "$work/times"
  for ((i = 0; i < RUNS; i++)); do once "$work/times" "$@" || return 1; done
  median_of "$work/times"
}
# a / b to two places
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# label value: the value and the peak RSS of the last measured run
row() { printf '  %-58s %8s  (peak RSS %s MB)\n' "$1" "$2" "$(($(cat "$work/rss") / 1024))"; }

# A project copy per binary: lock writes snapshots/ beside packages.toml.
project() { # dir
  mkdir -p "$1"
  cp -r "$root/packages.toml" "$root/snapshots" "$root/keyrings" "$1/"
}

echo "== apt-get install -s git gnupg wget (bookworm amd64, isolated root, cache built)"
# shellcheck source=bench/apt-root.sh
. bench/apt-root.sh
apt=$work/apt
for s in debian/dists/bookworm debian/dists/bookworm-updates debian-security/dists/bookworm-security; do
  fetch "https://deb.debian.org/$s" amd64 "$work/bookworm.Packages"
done
setup_apt "$apt" amd64 "$work/bookworm.Packages"
apt_t=$(median env APT_CONFIG="$apt/apt.conf" apt-get install -s -q git gnupg wget)
row "apt-get install -s" "$apt_t"

# The floor of a cold lock: curl + xz -d of the 12 indices, 2 at a time.
# It is measured alternately with each binary's cold lock, since the
# network's speed drifts over the minutes a run takes.
for d in bookworm trixie; do
  for a in amd64 arm64; do
    for s in debian/dists/$d debian/dists/$d-updates debian-security/dists/$d-security; do
      echo "https://deb.debian.org/$s/main/binary-$a/Packages.xz"
    done
  done
done > "$work/indices"
printf '#!/bin/sh\nexec xargs -P2 -I{} sh -c "curl -fsS {} | xz -d > /dev/null" < "%s"\n' \
  "$work/indices" > "$work/floor"

n=0
for bin in "$@"; do
  n=$((n + 1))
  echo "== [$n] $bin"
  p=$work/p$n
  project "$p"
  export DISTILL_CACHE_DIR=$work/cache$n
  # Wrappers as files: GNU time runs programs, not shell functions.
  d=$work/d$n
  printf '#!/bin/sh\nexec "%s" --config "%s" -q "$@"\n' "$bin" "$p/packages.toml" > "$d"
  chmod +x "$d"
  # Cold = an empty cache but for any Node tarball lock had to fetch to
  # pin it (not part of the index floor; a kept pin fetches none).
  "$d" lock --arch amd64 --arch arm64
  seed=$work/seed$n
  python3 - "$DISTILL_CACHE_DIR" "$seed" "$p"/snapshots/*.lock <<'PY'
import hashlib, os, shutil, sys, tomllib
cache, seed = sys.argv[1], sys.argv[2]
os.makedirs(f"{seed}/url", exist_ok=True)
for lock in sys.argv[3:]:
    for a in tomllib.load(open(lock, "rb")).get("artifacts", []):
        s = a["sha256"]
        if not os.path.exists(f"{cache}/sha256/{s[:2]}/{s}"):
            continue  # a kept pin: lock did not need the tarball
        os.makedirs(f"{seed}/sha256/{s[:2]}", exist_ok=True)
        shutil.copy(f"{cache}/sha256/{s[:2]}/{s}", f"{seed}/sha256/{s[:2]}/{s}")
        note = hashlib.sha256(a["url"].encode()).hexdigest()
        shutil.copy(f"{cache}/url/{note}", f"{seed}/url/{note}")
PY
  printf '#!/bin/sh\nrm -rf "%s"; cp -r "%s" "%s"; exec "%s" lock --arch amd64 --arch arm64\n' \
    "$DISTILL_CACHE_DIR" "$seed" "$DISTILL_CACHE_DIR" "$d" > "$work/cold$n"
  : > "$work/floor-times"
  : > "$work/cold-times"
  for ((i = 0; i < RUNS; i++)); do
    once "$work/floor-times" sh "$work/floor"
    once "$work/cold-times" sh "$work/cold$n"
  done
  floor=$(median_of "$work/floor-times")
  c=$(median_of "$work/cold-times")
  row "cold lock (empty cache but Node tarballs), amd64+arm64" "$c"
  printf '  %-58s %8s\n' "  curl | xz -d of the 12 indices, -P2, alternately" "$floor"
  row "  ratio to the curl+xz floor" "$(ratio "$c" "$floor")"
  row "warm lock, both distros, amd64+arm64" "$(median "$d" lock --arch amd64 --arch arm64)"
  for f in debian12 debian13; do
    cmp -s "$p/snapshots/$f.lock" "$root/snapshots/$f.lock" && echo "  $f.lock byte-identical to the committed one" ||
      echo "  $f.lock differs from the committed one (the archive moved, or a bug)"
  done
  r=$(median "$d" resolve git gnupg wget --distro debian12 --arch amd64)
  row "warm resolve git gnupg wget" "$r"
  row "  apt-get install -s / distill" "$(ratio "$apt_t" "$r")x"
  r=$(median "$d" --offline resolve git gnupg wget --distro debian12 --arch amd64)
  row "warm resolve git gnupg wget --offline" "$r"
  row "  apt-get install -s / distill --offline" "$(ratio "$apt_t" "$r")x"
  [ -z "${SKIP_BUILD:-}" ] || continue # SKIP_BUILD=1: lock and resolve only
  "$d" build --out "$work/out$n" >/dev/null # every .deb and tarball cached
  images=()
  for i in static base-nossl base cc python3; do images+=(--image "$i"); done
  printf '#!/bin/sh\nrm -rf "%s/layers"; exec "%s" build --out "%s" "$@"\n' \
    "$DISTILL_CACHE_DIR" "$d" "$work/out$n" > "$work/layers$n"
  row "build, layers from cached .debs, static..python3 (36 tags)" "$(median sh "$work/layers$n" "${images[@]}")"
  row "build, layers from cached .debs, whole matrix (1 run)" "$(RUNS=1 median sh "$work/layers$n")"
  row "warm build, whole matrix" "$(median "$d" build --out "$work/out$n")"
  "$d" build --out "$work/out$n" | sha256sum | sed 's/^/  digests: /'
done
