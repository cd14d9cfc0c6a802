#!/usr/bin/env bash
# End to end: build strata, make a busybox base image from Debian's busybox-static,
# start a local registry, push the base, build testdata/demo (RUN, COPY, heredoc,
# cache mount, multi-stage) from it and push the result. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --locked
strata="$PWD/target/release/strata"

work=$(mktemp -d /tmp/strata-demo.XXXXXX)
export STRATA_ROOT="$work/root"
cleanup() { [ -n "${registry_pid:-}" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A registry on a free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
registry="127.0.0.1:$port"
echo "registry: $registry"

# The base image: busybox-static as a root filesystem in scratch.
ctx="$work/base"
mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/rootfs/root"
cp /bin/busybox "$ctx/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$ctx/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$ctx/rootfs/etc/group"
chmod 1777 "$ctx/rootfs/tmp"
cp testdata/demo/base.Dockerfile "$ctx/Dockerfile"
"$strata" build --progress=plain -t "$registry/base/busybox:latest" --push "$ctx"

# The demo image, from that base.
"$strata" build --progress=plain --build-arg "BASE=$registry/base/busybox:latest" \
  -t "$registry/demo/app:1.0" --push --iidfile "$work/iid" testdata/demo
echo "image id: $(cat "$work/iid")"
skopeo inspect --tls-verify=false "docker://$registry/demo/app:1.0" | head -20

# A rebuild hits the cache for every step.
"$strata" build --progress=plain --build-arg "BASE=$registry/base/busybox:latest" \
  -t "$registry/demo/app:1.0" testdata/demo 2>&1 | grep -c CACHED | xargs echo "cached steps on rebuild:"
echo "demo: ok"
