#!/usr/bin/env bash
# Makes the base images the examples build FROM, with strata, in its local store
# ($STRATA_ROOT, or --root's default). No registry is involved: a build resolves
# `FROM busybox:latest` from the local store first.
#
#   busybox:latest   Debian's busybox-static (/bin/busybox) and its applet links in an
#                    empty image; takes seconds.
#   debian:bookworm  `debootstrap --variant=minbase bookworm` in an empty image; about a
#                    minute the first time, then the root filesystem comes from
#                    $STRATA_EXAMPLES_CACHE (default /var/cache/strata-examples).
#
# Usage: examples/make-bases.sh [busybox] [debian]     (default: both; needs root)
# Environment: STRATA_BIN (the strata binary; default `strata` on PATH, else
# target/release/strata), STRATA_ROOT, STRATA_EXAMPLES_CACHE, DEBIAN_MIRROR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

strata=${STRATA_BIN:-}
if [ -z "$strata" ]; then
  if command -v strata >/dev/null; then
    strata=strata
  elif [ -x "$here/../target/release/strata" ]; then
    strata="$here/../target/release/strata"
  else
    echo "make-bases.sh: no strata binary; set STRATA_BIN or run \`cargo build --release\`" >&2
    exit 1
  fi
fi
cache=${STRATA_EXAMPLES_CACHE:-/var/cache/strata-examples}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

bases=("$@")
[ ${#bases[@]} -gt 0 ] || bases=(busybox debian)

work=$(mktemp -d /tmp/strata-bases.XXXXXX)
trap 'rm -rf "$work"' EXIT

# busybox:latest from Debian's busybox-static.
make_busybox() {
  [ -x /bin/busybox ] || {
    echo "make-bases.sh: /bin/busybox is missing; apt-get install busybox-static" >&2
    exit 1
  }
  local rootfs="$work/busybox/rootfs"
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
  "$strata" build --progress=plain -t busybox:latest \
    -f "$here/bases/busybox.Dockerfile" "$work/busybox"
}

# debian:bookworm from debootstrap, its root filesystem cached between runs.
make_debian() {
  local cached="$cache/debian-bookworm"
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9 # one debootstrap at a time; a second run waits and reuses it
  if [ ! -d "$cached/rootfs" ]; then
    command -v debootstrap >/dev/null || {
      echo "installing: debootstrap" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    rm -rf "$cached.tmp"
    echo "debootstrap --variant=minbase bookworm ($mirror), about a minute..." >&2
    debootstrap --variant=minbase bookworm "$cached.tmp/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
      tail -20 "$work/debootstrap.log" >&2
      exit 1
    }
    # What an image does not carry: device nodes (the sandbox makes /dev), the
    # downloaded packages and the package lists (a Dockerfile runs apt-get update).
    find "$cached.tmp/rootfs/dev" -mindepth 1 -delete
    find "$cached.tmp/rootfs/var/cache/apt" -name '*.bin' -delete
    find "$cached.tmp/rootfs/var/cache/apt/archives" -name '*.deb' -delete
    find "$cached.tmp/rootfs/var/lib/apt/lists" -mindepth 1 -maxdepth 1 ! -name partial -exec rm -rf {} +
    mv "$cached.tmp" "$cached"
  fi
  "$strata" build --progress=plain -t debian:bookworm \
    -f "$here/bases/debian.Dockerfile" "$cached"
  exec 9>&-
}

for base in "${bases[@]}"; do
  case "$base" in
    busybox) make_busybox ;;
    debian) make_debian ;;
    *)
      echo "make-bases.sh: unknown base \`$base\` (busybox, debian)" >&2
      exit 2
      ;;
  esac
done
