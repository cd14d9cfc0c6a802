#!/usr/bin/env bash
# Peak memory of `strata pull` for an image with one large layer (default 500 MB of
# incompressible bytes), served by Debian's docker-registry on loopback.
#
# Layers are streamed to disk, never held in memory (DESIGN.md section 11), so the peak
# RSS must not grow with the layer size: compare SIZE_MB=50 and SIZE_MB=500.
#
# Usage: benches/pull_rss.sh                  # builds the release binary first
#        STRATA_BIN=path/to/strata SIZE_MB=500 benches/pull_rss.sh
# Needs: docker-registry, skopeo, python3, /usr/bin/time (apt-get install time).
set -euo pipefail

size_mb=${SIZE_MB:-500}
strata=${STRATA_BIN:-}
if [[ -z "$strata" ]]; then
    cargo build --release --bin strata >&2
    strata="${CARGO_TARGET_DIR:-target}/release/strata"
fi
for tool in docker-registry skopeo python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

work=$(mktemp -d)
registry_pid=
cleanup() {
    [[ -n "$registry_pid" ]] && kill "$registry_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
  secret: bench
EOF
docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

echo "making a ${size_mb} MB layer..." >&2
layout="$work/layout"
mkdir -p "$layout/blobs/sha256" "$work/content"
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
head -c "${size_mb}M" /dev/urandom >"$work/content/random.bin"
tar -C "$work/content" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -1 -n -c "$work/layer.tar" >"$work/layer.tar.gz"
rm -f "$work/layer.tar" "$work/content/random.bin"
layer=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$layout/blobs/sha256/$layer"

blob() { # blob FILE: moves FILE into the layout, sets $digest and $size
    digest=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mv "$1" "$layout/blobs/sha256/$digest"
}
arch=$(uname -m | sed -e 's/x86_64/amd64/' -e 's/aarch64/arm64/')
printf '{"architecture":"%s","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$arch" "$diff_id" >"$work/config.json"
blob "$work/config.json"
config=$digest config_size=$size
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
blob "$work/manifest.json"
manifest=$digest manifest_size=$size
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$manifest" "$manifest_size" >"$layout/index.json"

echo "pushing with skopeo..." >&2
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$layout:latest" "docker://127.0.0.1:$port/bench/big:latest"

echo "pulling with strata..." >&2
/usr/bin/time -v "$strata" --root "$work/root" pull --quiet "127.0.0.1:$port/bench/big:latest" \
    >"$work/pinned.txt" 2>"$work/time.txt" || { cat "$work/time.txt" >&2; exit 1; }
test -f "$work/root/store/blobs/sha256/$layer" || { echo "the layer is not in the store" >&2; exit 1; }

rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
echo "binary: $strata"
echo "layer: ${size_mb} MB random (gzip: $layer_size bytes)"
echo "pinned: $(cat "$work/pinned.txt")"
echo "wall: $wall"
echo "peak RSS: $((rss_kb / 1024)) MiB ($rss_kb KiB)"
