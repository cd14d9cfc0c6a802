#!/usr/bin/env bash
# The README's first command, end to end on a fresh Debian 12 machine (as root):
# installs what strata needs (scripts/deps.sh), builds strata (release), makes the
# busybox base image locally (examples/make-bases.sh), starts a docker-registry on a
# free 127.0.0.1 port, builds examples/static-site (COPY, RUN, a heredoc, two stages)
# and pushes it there, prints the pushed digest and inspects it with skopeo, rebuilds
# from the cache, and stops the registry on exit.
#
# Usage: scripts/demo.sh [--keep]
#   --keep  leave the registry running after the demo, until Ctrl-C, to look around
# Environment: STRATA_BIN (use this binary instead of building the release one),
# STRATA_ROOT (strata's state; default a temporary directory removed at exit).
set -euo pipefail
cd "$(dirname "$0")/.."

keep=
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    *)
      echo "usage: scripts/demo.sh [--keep]" >&2
      exit 2
      ;;
  esac
done

say() { printf '\n==> %s\n' "$*" >&2; }

say "prerequisites (scripts/deps.sh)"
scripts/deps.sh

if [ -n "${STRATA_BIN:-}" ]; then
  strata=$STRATA_BIN
else
  say "building strata (cargo build --release --locked)"
  cargo build --release --locked
  strata="${CARGO_TARGET_DIR:-$PWD/target}/release/strata"
fi
export STRATA_BIN=$strata

work=$(mktemp -d /tmp/strata-demo.XXXXXX)
export STRATA_ROOT=${STRATA_ROOT:-$work/root}
registry_pid=
cleanup() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    echo "registry stopped" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Whether a docker-registry answers /v2/ on 127.0.0.1:$1 (bash's /dev/tcp: no curl
# on a fresh machine).
registry_answers() (
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf 'GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  IFS= read -r -t 2 status <&3 || status=
  [[ "$status" == "HTTP/1.0 200"* || "$status" == "HTTP/1.1 200"* ]]
)

# Starts docker-registry on a free loopback port: a random port that nothing answers
# on, retried if the registry cannot bind it after all.
start_registry() {
  local attempt
  for attempt in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
    cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
    docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
    registry_pid=$!
    for _ in $(seq 100); do
      kill -0 "$registry_pid" 2>/dev/null || break
      if registry_answers "$port" 2>/dev/null && kill -0 "$registry_pid" 2>/dev/null; then
        return 0
      fi
      sleep 0.1
    done
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=
    echo "registry did not start on port $port (attempt $attempt):" >&2
    tail -3 "$work/registry.log" >&2
  done
  return 1
}

say "base image busybox:latest, made locally (examples/make-bases.sh busybox)"
examples/make-bases.sh busybox >&2

say "a local registry"
start_registry
registry="127.0.0.1:$port"
echo "registry: $registry (docker-registry, pid $registry_pid)"

image="$registry/examples/static-site:latest"
say "strata build --push -t $image examples/static-site"
"$strata" build --progress=plain -t "$image" --push \
  --metadata-file "$work/metadata.json" examples/static-site >"$work/image-id"
digest=$(sed -n 's/.*"containerimage.digest": *"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' "$work/metadata.json")
[ -n "$digest" ] || {
  echo "no containerimage.digest in the metadata file:" >&2
  cat "$work/metadata.json" >&2
  exit 1
}
echo "image id: $(cat "$work/image-id")"
echo "pushed: $image"
echo "digest: $digest"
inspect="skopeo inspect --tls-verify=false docker://$registry/examples/static-site@$digest"
echo "inspect: $inspect"

say "$inspect"
$inspect >"$work/inspect.json"
grep -E '"(Name|Digest|Created|Architecture|Os)"' "$work/inspect.json" >&2
grep -q "\"Digest\": \"$digest\"" "$work/inspect.json" || {
  echo "the registry holds another digest than the one strata pushed:" >&2
  cat "$work/inspect.json" >&2
  exit 1
}

say "rebuild: every step comes from the cache"
"$strata" build --progress=plain -t "$image" examples/static-site 2>"$work/rebuild.log" >/dev/null
cached=$(grep -c ' CACHED$' "$work/rebuild.log" || true)
echo "cached steps on rebuild: $cached"
echo "demo: ok"

if [ -n "$keep" ]; then
  trap 'exit 0' INT TERM
  echo "the registry stays up at $registry until Ctrl-C; try: $inspect"
  wait "$registry_pid"
fi
