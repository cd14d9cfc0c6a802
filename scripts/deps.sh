#!/usr/bin/env bash
# Install the system packages strata's tests and demo use (Debian 12, as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v runc >/dev/null || need+=(runc)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
command -v git >/dev/null || need+=(git)
# cargo links with cc; ring and zstd-sys compile C
command -v cc >/dev/null || need+=(gcc libc6-dev)
[ -x /usr/bin/time ] || need+=(time)
updated=
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  apt-get update -qq
  updated=1
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# dockerd, for tests/docker_load.rs, tests/docker_parity.rs and benches/push_512mb.sh, which start a private
# daemon of their own. Without recommends (needrestart would prompt, apparmor is not
# needed), and with service starts denied while installing, so that no system daemon
# starts (CI hosts without systemd would otherwise run /etc/init.d/docker).
# About 62 MB of packages (docker.io, containerd, tini): ~30 s on a 2-core VM.
if [ ! -x /usr/sbin/dockerd ]; then
  echo "installing: docker.io" >&2
  [ -n "$updated" ] || apt-get update -qq
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  status=0
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null || status=$?
  [ -z "$own_policy" ] || rm -f "$policy"
  [ "$status" -eq 0 ] || exit "$status"
fi
command -v cargo >/dev/null || { echo "cargo is required (rustup stable)" >&2; exit 1; }
