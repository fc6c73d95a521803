#!/usr/bin/env bash
# Benchmark for issue 12: push the whole built matrix (every layout in
# out/, from the committed locks) to Debian's docker-registry on
# 127.0.0.1, twice, and compare with `skopeo copy` of the same layouts one
# tag at a time. Counts blob uploads from the registry's own log (one PUT
# per finished upload) and mounts (POST ...?mount=). Needs docker-registry,
# skopeo and GNU time; a warm cache makes the build part quick. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release -q -p distill-cli
bin=$PWD/target/release/distill
"$bin" build -q --out "$work/out" >/dev/null

registry() { # name port
  mkdir -p "$work/$1"
  cat > "$work/$1/config.yml" <<YML
version: 0.1
log: { level: info, accesslog: { disabled: false } }
storage: { filesystem: { rootdirectory: $work/$1/data } }
http: { addr: 127.0.0.1:$2 }
YML
  docker-registry serve "$work/$1/config.yml" > "$work/$1/log" 2>&1 &
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$2/v2/" >/dev/null && return; sleep 0.1; done
  echo "registry $1 did not start" >&2; exit 1
}
count() { # log pattern
  grep -c -E "$2" "$1" || true
}
registry distill 5101
registry skopeo 5102

echo "== distill push of $(ls "$work/out" | wc -l) layouts (every tag, <tag>-<arch>, SBOMs)"
for run in first second; do
  : > "$work/distill/log"
  /usr/bin/time -f "%e s wall, %M KB peak RSS" -o "$work/t" \
    "$bin" push -q --json --out "$work/out" 127.0.0.1:5101/distroless > "$work/push-$run.json"
  python3 - "$work/push-$run.json" "$run" "$(cat "$work/t")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
b = s.get("blobs", s)
print(f"  {sys.argv[2]:6} push: {sys.argv[3]}; blobs {json.dumps(b) if not isinstance(b, list) else len(b)}")
PY
  echo "         registry log: $(count "$work/distill/log" '"PUT /v2/[^ ]*/blobs/uploads/') blob PUTs, $(count "$work/distill/log" '"POST /v2/[^ ]*/blobs/uploads/\?mount=') mount POSTs"
done

echo "== skopeo copy, one tag at a time (--all: index, manifests, blobs)"
start=$(date +%s.%N)
n=0
for layout in "$work"/out/*/; do
  name=$(basename "$layout")
  for tag in $(python3 -c 'import json,sys; [print(m["annotations"]["org.opencontainers.image.ref.name"]) for m in json.load(open(sys.argv[1]))["manifests"] if "org.opencontainers.image.ref.name" in m.get("annotations", {})]' "$layout/index.json"); do
    skopeo copy -q --all --dest-tls-verify=false "oci:$layout:$tag" "docker://127.0.0.1:5102/distroless/$name:$tag"
    n=$((n + 1))
  done
done
end=$(date +%s.%N)
printf '  skopeo: %d refs in %.1f s; registry log: %s blob PUTs\n' "$n" "$(echo "$end - $start" | bc)" \
  "$(count "$work/skopeo/log" '"PUT /v2/[^ ]*/blobs/uploads/')"
