#!/usr/bin/env bash
# End-to-end build times: strata against `docker build` (BuildKit) and, when
# installed, buildah, on the same scenarios and the same busybox base image
# (DESIGN.md section 11, STYLE.md item 25).
#
# Scenarios:
#   small  single stage: FROM busybox + COPY of a small dir + RUN
#   multi  3 independent stages (COPY + CPU-bound RUN each) + a final stage
#          doing COPY --from each of them and a RUN
#   ctx20k a 20,000-file context of which the Dockerfile copies one file + RUN
# Each is timed as a cold build (build cache empty, base image present), a
# no-op rebuild and a rebuild after the file the build copies changed.
#
# Usage (as root, from anywhere):
#   benches/e2e.sh | tee benches/results/$(date -u +%F).txt
# Environment:
#   RUNS=5           timed runs per measurement (the median is reported)
#   STRATA=PATH      use this strata binary instead of `cargo build --release`
#   NO_DOCKER=1      skip docker; NO_BUILDAH=1 skip buildah
#   KEEP=1           keep the work directory (logs, contexts) for inspection
#
# Nothing leaves the machine: the base image is made locally from Debian's
# busybox-static, dockerd runs with no bridge, no iptables and a private data
# root, builds use host networking (no RUN here needs any network), and the
# Dockerfiles have no `# syntax=` line that would pull a frontend image.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
RUNS=${RUNS:-5}

die() { echo "e2e: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (strata's sandbox, dockerd)"
[ -x /bin/busybox ] || die "needs /bin/busybox (apt-get install busybox-static)"
command -v python3 >/dev/null || die "needs python3 (medians)"

# --- strata -----------------------------------------------------------------
if [ -z "${STRATA:-}" ]; then
  cargo build --release --locked --quiet --bin strata >&2
  STRATA="${CARGO_TARGET_DIR:-$repo/target}/release/strata"
fi
[ -x "$STRATA" ] || die "no strata binary at $STRATA"

# --- work dir and cleanup ---------------------------------------------------
work=$(mktemp -d /tmp/strata-e2e.XXXXXX)
dockerd_pid=""
cleanup() {
  set +e
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$dockerd_pid" 2>/dev/null
  fi
  # dockerd and buildah leave overlay mounts under their roots.
  grep -o " $work[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
logs="$work/logs"
mkdir -p "$logs"

# --- the machine ------------------------------------------------------------
echo "# strata end-to-end benchmark"
echo
echo "date:       $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpu:        $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "memory:     $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "kernel:     $(uname -sr)"
echo "os:         $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "filesystem: $(df -T "$work" | awk 'NR==2 {print $2}') ($work)"
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start)"
echo "strata:     $("$STRATA" --version) ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'), $STRATA)"
echo "rustc:      $(rustc --version 2>/dev/null || echo '?')"
if command -v hyperfine >/dev/null; then
  echo "timer:      $(hyperfine --version), $RUNS runs per measurement, median"
else
  echo "timer:      shell loop (date +%s%N), $RUNS runs per measurement, median"
fi

# --- the base image ---------------------------------------------------------
# busybox-static as a root filesystem in scratch, as scripts/demo.sh makes it.
base="$work/base"
mkdir -p "$base/rootfs/bin" "$base/rootfs/etc" "$base/rootfs/tmp" "$base/rootfs/root"
cp /bin/busybox "$base/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$base/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$base/rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$base/rootfs/etc/group"
chmod 1777 "$base/rootfs/tmp"
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n' > "$base/Dockerfile"
pristine="$work/strata-pristine"
"$STRATA" --root "$pristine" build --progress=plain -t busybox:latest \
  --output "type=docker,dest=$work/base.tar" "$base" > "$logs/base.log" 2>&1 \
  || { tail -20 "$logs/base.log"; die "strata could not build the base image"; }
echo "base image: busybox-static $(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || echo '?'), $(du -h "$work/base.tar" | cut -f1) docker archive"

# --- the scenarios ----------------------------------------------------------
ctx="$work/ctx"
mkdir -p "$ctx/small/app" "$ctx/multi" "$ctx/ctx20k"

cat > "$ctx/small/Dockerfile" <<'EOF'
FROM busybox
COPY app/ /app/
RUN cat /app/* | md5sum > /app.sum && ls -l /app > /app.list
EOF
printf '#!/bin/sh\necho hello\n' > "$ctx/small/app/main.sh"
echo "greeting=hello" > "$ctx/small/app/config.txt"
seq 1 2000 > "$ctx/small/app/data.txt"

cat > "$ctx/multi/Dockerfile" <<'EOF'
FROM busybox AS a
COPY a.txt /in/
RUN seq 1 300000 | md5sum > /out && cat /in/a.txt >> /out

FROM busybox AS b
COPY b.txt /in/
RUN seq 1 300000 | md5sum > /out && cat /in/b.txt >> /out

FROM busybox AS c
COPY c.txt /in/
RUN seq 1 300000 | md5sum > /out && cat /in/c.txt >> /out

FROM busybox
COPY --from=a /out /a.out
COPY --from=b /out /b.out
COPY --from=c /out /c.out
RUN cat /a.out /b.out /c.out | md5sum > /all.sum
EOF
for s in a b c; do echo "input of stage $s" > "$ctx/multi/$s.txt"; done

cat > "$ctx/ctx20k/Dockerfile" <<'EOF'
FROM busybox
COPY files/pkg000/f000.txt /one.txt
RUN md5sum /one.txt > /one.sum
EOF
python3 - "$ctx/ctx20k/files" <<'EOF'
import os, sys
root = sys.argv[1]
for d in range(200):
    p = os.path.join(root, f"pkg{d:03}")
    os.makedirs(p)
    for f in range(100):
        line = f"pkg{d} file{f}\n"
        with open(os.path.join(p, f"f{f:03}.txt"), "w") as fh:
            fh.write(line * (8 + (d * 100 + f) % 120))
EOF
echo "contexts:   small $(du -sh "$ctx/small" | cut -f1), multi $(du -sh "$ctx/multi" | cut -f1)," \
  "ctx20k $(find "$ctx/ctx20k" -type f | wc -l) files $(du -sh "$ctx/ctx20k" | cut -f1)"

scenarios=(small multi ctx20k)
declare -A changed=([small]=app/config.txt [multi]=a.txt [ctx20k]=files/pkg000/f000.txt)
modes=(cold noop change)
declare -A result  # [tool/scenario/mode] = median seconds, or FAIL

# --- timing -----------------------------------------------------------------
# measure KEY PREPARE CMD: runs CMD $RUNS times (after one warm-up run unless
# KEY is a cold build), PREPARE before each; sets result[KEY] to the median.
measure() {
  local key=$1 prepare=$2 cmd=$3 log="$logs/${1//\//_}"
  local warmup=1
  [[ $key == */cold ]] && warmup=0
  if command -v hyperfine >/dev/null; then
    if hyperfine --style basic --runs "$RUNS" --warmup "$warmup" --prepare "$prepare" \
      --export-json "$log.json" -n "$key" "$cmd" > "$log.txt" 2>&1; then
      result[$key]=$(python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$log.json")
    else
      result[$key]=FAIL
    fi
  else
    local times=() i t0 t1 ok=1
    for ((i = 0; i < warmup + RUNS; i++)); do
      bash -c "$prepare" > /dev/null 2>&1 || { ok=0; break; }
      t0=$(date +%s%N)
      bash -c "$cmd" >> "$log.txt" 2>&1 || { ok=0; break; }
      t1=$(date +%s%N)
      ((i >= warmup)) && times+=("$(((t1 - t0) / 1000))")
    done
    if ((ok)); then
      result[$key]=$(printf '%s\n' "${times[@]}" | sort -n | python3 -c 'import sys,statistics; print("%.3f" % (statistics.median(int(l) for l in sys.stdin) / 1e6))')
    else
      result[$key]=FAIL
    fi
  fi
  printf '  %-26s %s\n' "$key" "${result[$key]}"
}

# run_tool TOOL RESET_CMD BUILD_CMD_PREFIX: the three scenarios x three modes.
# BUILD_CMD_PREFIX gets `-t TAG CONTEXT` appended.
run_tool() {
  local tool=$1 reset=$2 build=$3 s
  for s in "${scenarios[@]}"; do
    local cmd="$build -t bench-$s:latest $ctx/$s"
    # One checked build first, so that a failure shows its output here.
    if ! bash -c "$reset && $cmd" > "$logs/$tool-$s-check.log" 2>&1; then
      echo "  $tool/$s FAILED; last lines of its output:"
      tail -25 "$logs/$tool-$s-check.log" | sed 's/^/    | /'
      for m in "${modes[@]}"; do result[$tool/$s/$m]=FAIL; done
      continue
    fi
    measure "$tool/$s/cold" "$reset" "$cmd"
    measure "$tool/$s/noop" "true" "$cmd"
    measure "$tool/$s/change" "date +%s%N >> $ctx/$s/${changed[$s]}" "$cmd"
  done
}

tools=(strata)
echo
echo "## strata"
sroot="$work/strata-root"
run_tool strata "rm -rf $sroot && cp -a $pristine $sroot" "$STRATA --root $sroot build --progress=plain"

# --- docker build (BuildKit) ------------------------------------------------
if [ -z "${NO_DOCKER:-}" ] && command -v dockerd >/dev/null; then
  # Debian's docker.io CLI has BuildKit built in; a newer CLI elsewhere in PATH
  # may want the buildx plugin instead.
  docker=$(command -v /usr/bin/docker || command -v docker)
  sock="$work/docker.sock"
  dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false \
    --ip-masq=false --userland-proxy=false --data-root "$work/docker-data" \
    --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
    -H "unix://$sock" > "$logs/dockerd.log" 2>&1 &
  dockerd_pid=$!
  export DOCKER_HOST="unix://$sock" DOCKER_BUILDKIT=1 DOCKER_CONFIG="$work/docker-config"
  mkdir -p "$DOCKER_CONFIG"
  # buildah reads this too (for auth) and fails when the file is missing.
  echo '{}' > "$DOCKER_CONFIG/config.json"
  for _ in $(seq 100); do "$docker" version > /dev/null 2>&1 && break; sleep 0.2; done
  if ! "$docker" version > /dev/null 2>&1; then
    echo "## docker: dockerd did not start; last lines of its log:"
    tail -10 "$logs/dockerd.log" | sed 's/^/    | /'
  elif ! "$docker" load -i "$work/base.tar" > "$logs/docker-load.log" 2>&1; then
    echo "## docker: cannot load the base image:"
    sed 's/^/    | /' "$logs/docker-load.log"
  else
    echo
    echo "## docker build (BuildKit): $("$docker" version -f 'server {{.Server.Version}}, client {{.Client.Version}}'), storage $("$docker" info -f '{{.Driver}}')"
    tools+=(docker)
    run_tool docker "$docker builder prune -af > /dev/null" "$docker build --network=host --progress=plain"
  fi
fi

# --- buildah ----------------------------------------------------------------
if [ -z "${NO_BUILDAH:-}" ] && command -v buildah >/dev/null; then
  runtime=$(command -v runc || true)
  bh="buildah --root $work/buildah-root --runroot $work/buildah-run --storage-driver overlay"
  if $bh pull -q "docker-archive:$work/base.tar" > "$logs/buildah-pull.log" 2>&1; then
    echo
    echo "## buildah: $(buildah --version | cut -d' ' -f3), bud --layers --runtime ${runtime:-default}, storage overlay"
    tools+=(buildah)
    run_tool buildah \
      "$bh rmi -af > /dev/null 2>&1; $bh pull -q docker-archive:$work/base.tar > /dev/null" \
      "$bh bud --layers --network host --isolation oci ${runtime:+--runtime $runtime} --pull=never"
  else
    echo "## buildah: cannot load the base image:"
    sed 's/^/    | /' "$logs/buildah-pull.log"
  fi
fi

# --- the table --------------------------------------------------------------
echo
echo "## medians in seconds (ratio = other / strata; > 1 means strata is faster)"
echo
header=$(printf '| %-8s | %-6s | %8s |' scenario build strata)
rule="|----------|--------|----------|"
for t in "${tools[@]:1}"; do
  header+=$(printf ' %8s | %6s |' "$t" ratio)
  rule+="----------|--------|"
done
echo "$header"
echo "$rule"
for s in "${scenarios[@]}"; do
  for m in "${modes[@]}"; do
    line=$(printf '| %-8s | %-6s | %8s |' "$s" "$m" "${result[strata/$s/$m]}")
    for t in "${tools[@]:1}"; do
      other=${result[$t/$s/$m]}
      ratio=$(python3 -c 'import sys
try: print("%.1fx" % (float(sys.argv[1]) / float(sys.argv[2])))
except (ValueError, ZeroDivisionError): print("-")' "$other" "${result[strata/$s/$m]}")
      line+=$(printf ' %8s | %6s |' "$other" "$ratio")
    done
    echo "$line"
  done
done
echo
echo "cold: build cache emptied before each run (strata: a fresh root holding only"
echo "the base image; docker: builder prune -af; buildah: rmi -af + reload base)."
echo "noop: the same build again. change: the one file the build copies is modified"
echo "(small: app/config.txt, multi: a.txt of stage a, ctx20k: files/pkg000/f000.txt)."
