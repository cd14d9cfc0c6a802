#!/usr/bin/env bash
# Benchmark (not a test): push an image with one 512 MB layer (256 MB random, 256 MB
# text; gzip) from a strata root to a local registry with `strata push`, and the same
# image from an OCI layout to another local registry with `skopeo copy`; where dockerd
# is installed (Debian docker.io) and we are root, also with `docker push` from a
# private daemon that `docker load`ed the same image, to a third registry. Prints the
# wall times, the ratios, and the peak RSS of strata and skopeo (GNU time's "Maximum
# resident set size", i.e. VmHWM; docker's work happens in the daemon, so its client's
# RSS means nothing).
#
# Usage: benches/push_512mb.sh            (builds strata --release first)
#        STRATA=/path/to/strata benches/push_512mb.sh
#        NO_DOCKER=1 benches/push_512mb.sh  (skip docker push)
# Needs: docker-registry, skopeo, GNU time (installed with apt-get if missing), ~3.5 GB
# free under $TMPDIR (~2.5 GB without docker).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -z "${STRATA:-}" ]; then
  cargo build --release --quiet --bin strata
  STRATA="${CARGO_TARGET_DIR:-target}/release/strata"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-push-bench.XXXXXX")
dockerd_pid=
cleanup() {
  for f in "$work"/*/pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  if [ -n "$dockerd_pid" ]; then
    # SIGTERM: dockerd stops its containerd and unmounts its layers before exiting.
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_registry() { # name -> prints host:port
  local name=$1 port
  port=$(free_port)
  mkdir -p "$work/$name"
  cat >"$work/$name/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/$name/storage
http:
  addr: 127.0.0.1:$port
EOF
  /usr/bin/docker-registry serve "$work/$name/config.yml" >"$work/$name/log" 2>&1 &
  # Called in $(...): a subshell, so the pid goes to a file for cleanup.
  echo $! >"$work/$name/pid"
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "127.0.0.1:$port"
}

echo "== making the image" >&2
mkdir -p "$work/rootfs/data" "$work/layout/blobs/sha256"
head -c $((256 * 1024 * 1024)) /dev/urandom >"$work/rootfs/data/random.bin"
# Text: numbered lines of words, compressible like logs or source code.
# (The generator dies of SIGPIPE when head has enough: not a failure.)
(set +o pipefail
  awk 'BEGIN { for (i = 0; ; i++) printf "line %d: the quick brown fox jumps over the lazy dog %x\n", i, i * 2654435761 }' \
    | head -c $((256 * 1024 * 1024)) >"$work/rootfs/data/text.txt")
tar -C "$work/rootfs" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/layer.tar" data
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -1 -n -c "$work/layer.tar" >"$work/layer.tar.gz"
rm -rf "$work/rootfs" "$work/layer.tar"
layer_digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$work/layout/blobs/sha256/$layer_digest"

arch=$(uname -m); case $arch in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created_by":"bench"}]}' \
  "$arch" "$diff_id" >"$work/config.json"
config_digest=$(sha256sum "$work/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$work/config.json")
mv "$work/config.json" "$work/layout/blobs/sha256/$config_digest"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
  "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
manifest_digest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$work/manifest.json")
mv "$work/manifest.json" "$work/layout/blobs/sha256/$manifest_digest"
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' \
  "$manifest_digest" "$manifest_size" >"$work/layout/index.json"
echo "layer: 512 MiB uncompressed, $((layer_size / 1000000)) MB gzip" >&2

strata_registry=$(start_registry strata-registry)
skopeo_registry=$(start_registry skopeo-registry)
name="$strata_registry/bench:1"

# Into a strata root: the root is an OCI layout, and the image is named like strata names
# pulled and built images (the full reference).
root="$work/root"
"$STRATA" --root "$root" images >/dev/null
skopeo --insecure-policy copy --quiet "oci:$work/layout:bench" "oci:$root/store:$name"
sync

echo "== strata push" >&2
/usr/bin/time -v -o "$work/strata.time" "$STRATA" --root "$root" push "$name" >"$work/strata.out"
echo "== skopeo copy" >&2
/usr/bin/time -v -o "$work/skopeo.time" skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
  "oci:$work/layout:bench" "docker://$skopeo_registry/bench:1"

seconds() { # GNU time's "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:03.21"
  awk -F': ' '/Elapsed/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"
}
rss_mb() { awk -F': ' '/Maximum resident/ { printf "%.1f", $2 / 1024 }' "$1"; }

strata_s=$(seconds "$work/strata.time")
skopeo_s=$(seconds "$work/skopeo.time")

# docker push: a private daemon (own data root, exec root and socket, no networking
# set-up) loads the same image from a `docker save`-style tarball of the layout, then
# pushes it. It recompresses the layer from its overlay2 copy (a loaded image has no
# compressed blob to reuse): that is what docker users pay.
docker_s=
docker_note="not run (NO_DOCKER set)"
if [ -z "${NO_DOCKER:-}" ]; then
  docker_note="not run (no /usr/sbin/dockerd, or not root)"
fi
if [ -z "${NO_DOCKER:-}" ] && [ -x /usr/sbin/dockerd ] && [ "$(id -u)" -eq 0 ]; then
  docker_client=/usr/bin/docker
  [ -x "$docker_client" ] || docker_client=docker
  docker_registry=$(start_registry docker-registry)
  d="$work/dockerd"
  mkdir -p "$d"
  /usr/sbin/dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
    --userland-proxy=false --data-root "$d/data" --exec-root "$d/exec" \
    --pidfile "$d/dockerd.pid" -H "unix://$d/d.sock" >"$d/log" 2>&1 &
  dockerd_pid=$!
  dk() { DOCKER_CONFIG="$d/client" "$docker_client" -H "unix://$d/d.sock" "$@"; }
  for _ in $(seq 300); do dk version >/dev/null 2>&1 && break; sleep 0.2; done
  echo "== docker load" >&2
  printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s/bench:1"],"Layers":["blobs/sha256/%s"]}]' \
    "$config_digest" "$docker_registry" "$layer_digest" >"$work/layout/manifest.json"
  tar -C "$work/layout" -cf "$work/docker.tar" manifest.json blobs
  rm "$work/layout/manifest.json"
  dk load -q -i "$work/docker.tar" >&2
  rm "$work/docker.tar"
  sync
  echo "== docker push" >&2
  /usr/bin/time -v -o "$work/docker.time" "$docker_client" -H "unix://$d/d.sock" \
    push -q "$docker_registry/bench:1" >"$work/docker.out"
  docker_s=$(seconds "$work/docker.time")
  docker_note="$(tail -1 "$work/docker.out")"
fi

echo
echo "image:   one layer, 512 MiB uncompressed ($((layer_size / 1000000)) MB gzip), manifest sha256:${manifest_digest:0:12}"
echo "pushed:  $(cat "$work/strata.out")"
printf 'strata push:  %6.2f s   peak RSS %s MB\n' "$strata_s" "$(rss_mb "$work/strata.time")"
printf 'skopeo copy:  %6.2f s   peak RSS %s MB\n' "$skopeo_s" "$(rss_mb "$work/skopeo.time")"
if [ -n "$docker_s" ]; then
  printf 'docker push:  %6.2f s   (work done in dockerd; %s)\n' "$docker_s" "$docker_note"
else
  echo "docker push:  $docker_note"
fi
awk -v a="$strata_s" -v b="$skopeo_s" 'BEGIN { printf "ratio strata/skopeo: %.2f\n", a / b }'
if [ -n "$docker_s" ]; then
  awk -v a="$strata_s" -v b="$docker_s" 'BEGIN { printf "ratio strata/docker: %.2f\n", a / b }'
fi
