#!/usr/bin/env bash
# Benchmark: resolve the python3-debian13 roots (and cc-debian12's) from
# warm indices with distill, against `apt-get install -s` over the same
# Packages file with an isolated APT_CONFIG (its cache already built, as
# apt's would be after `apt-get update`). Then `distill lock` for both
# distros, all architectures, warm. Needs deb.debian.org; not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck source=bench/apt-root.sh
. bench/apt-root.sh

cc12="base-files netbase tzdata media-types libc6 libssl3 libgomp1 libstdc++6 libgcc-s1 gcc-12-base"
py13="base-files netbase tzdata tzdata-legacy media-types libc6 libssl3t64 libzstd1 zlib1g libgomp1 libstdc++6 libgcc-s1 gcc-14-base libbz2-1.0 libdb5.3t64 libexpat1 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6 libcom-err2 libcrypt1 libc-bin libgssapi-krb5-2 libk5crypto3 libkeyutils1 libkrb5-3 libkrb5support0 libnsl2 libreadline8t64 libtirpc3t64 libffi8 libpython3.13-minimal libpython3.13-stdlib python3.13-minimal python3.13-venv"

for d in bookworm trixie; do
  for s in "debian/dists/$d" "debian/dists/$d-updates" "debian-security/dists/$d-security"; do
    fetch "https://deb.debian.org/$s" amd64 "$work/$d.Packages"
  done
  setup_apt "$work/apt-$d" amd64 "$work/$d.Packages"
done

cargo build --release -q -p distill-cli
cargo bench -q -p distill-resolve --bench resolve --no-run 2>/dev/null
for pair in "bookworm:$cc12" "trixie:$py13"; do
  d=${pair%%:*}; roots=${pair#*:}
  echo "== $d amd64, $(wc -w <<<"$roots") roots"
  echo "-- distill (in process, best of 5)"
  cargo bench -q -p distill-resolve --bench resolve -- amd64 "$work/$d.Packages" $roots 2>/dev/null
  echo "-- apt-get install -s (3 runs)"
  for _ in 1 2 3; do
    s=$(date +%s.%N)
    n=$(APT_CONFIG=$work/apt-$d/apt.conf apt-get install -s -q $roots | grep -c '^Inst')
    e=$(date +%s.%N)
    printf '%8.1f ms  (%s packages)\n' "$(echo "($e - $s) * 1000" | bc)" "$n"
  done
done

[ -n "${DISTILL_CACHE_DIR:-}" ] || exit 0  # lock timing needs a warm cache: DISTILL_CACHE_DIR=...
# LOCK_ARCHS narrows the architectures (e.g. "--arch amd64 --arch arm64"
# where a network serves stale indices for the others).
echo "== distill lock, both distros, warm cache (3 runs) ${LOCK_ARCHS:-all architectures}"
for _ in 1 2 3; do
  # shellcheck disable=SC2086
  /usr/bin/time -f "%e s, peak RSS %M KB" ./target/release/distill -q lock ${LOCK_ARCHS:-} 2>&1 | tail -1
done
