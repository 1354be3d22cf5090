#!/usr/bin/env bash
# Builds what the deploy/ tests need, into $GOKEYLOG_CACHE/deploy:
#   manifestcheck  test/tools/manifestcheck, a strict decoder of manifests into the real Kubernetes API types,
#                  built in GOPATH mode from Debian sid's golang-k8s-api-dev / -apimachinery-dev sources with
#                  the newest Go toolchain of the cache (no module proxy).
#   image-base     the first layers of deploy/Dockerfile without a container daemon: its FROM debian:SUITE-slim
#                  as mmdebstrap's minbase of SUITE, then its RUN steps before the first COPY, run in a chroot.
#                  The test runs the remaining steps (COPY of `npm pack`, RUN) on an overlay of it.
# Idempotent: each is rebuilt only when what it is made from changes.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/debian-go-sources.sh
source "$(dirname "$0")/lib/debian-go-sources.sh"

step "deploy checks (manifestcheck from Debian's Kubernetes API sources)"
OUT=$GOKEYLOG_CACHE/deploy
mkdir -p "$OUT"
newest=$(installed_toolchains | tail -1)
[[ -n $newest ]] || die "no Go toolchain in $GOKEYLOG_CACHE/go: run scripts/toolchains.sh first"
read -r version goroot <<<"$newest"

debian_go_sources "$OUT/gopath-src" golang-k8s-api-dev golang-k8s-apimachinery-dev golang-k8s-sigs-yaml-dev golang-k8s-sigs-json-dev

source=$REPO_ROOT/test/tools/manifestcheck/main.go
stamp=$(content_hash "$source" "$OUT/gopath-src/packages.txt" "go=$version $(<"$GOKEYLOG_CACHE/go/root-$version/.debversion")")
if [[ -x $OUT/manifestcheck && -f $OUT/manifestcheck.stamp && $(<"$OUT/manifestcheck.stamp") == "$stamp" ]]; then
  note "manifestcheck up to date"
else
  note "building manifestcheck with Go $version"
  work=$(mktemp -d)
  cp "$source" "$work/main.go"
  (cd "$work" && env GO111MODULE=off GOPATH="$DEBIAN_GO_GOPATH" GOPROXY=off GOFLAGS= GOTOOLCHAIN=local GOENV=off GOWORK=off CGO_ENABLED=0 \
    GOCACHE="$GOKEYLOG_CACHE/gocache/$version" "$goroot/bin/go" build -trimpath -o "$work/manifestcheck" main.go) ||
    { rm -rf "$work"; die "building manifestcheck failed"; }
  mv -f "$work/manifestcheck" "$OUT/manifestcheck"
  rm -rf "$work"
  printf '%s' "$stamp" >"$OUT/manifestcheck.stamp"
fi

# The Dockerfile's instructions, one per line (continuations joined, comments dropped).
dockerfile_steps() { sed -e '/^[[:space:]]*#/d' "$1" | awk '{ if (sub(/\\$/, "")) { buf = buf $0; next } print buf $0; buf = "" }' | sed '/^[[:space:]]*$/d'; }

step "deploy image base (deploy/Dockerfile up to its first COPY, without a daemon)"
dockerfile=$REPO_ROOT/deploy/Dockerfile
mapfile -t steps < <(dockerfile_steps "$dockerfile")
from=${steps[0]}
[[ $from =~ ^FROM[[:space:]]+debian:([a-z]+)-slim$ ]] || die "deploy/Dockerfile must start FROM debian:SUITE-slim (found: $from)"
suite=${BASH_REMATCH[1]}
runs=()
for line in "${steps[@]:1}"; do
  [[ $line == COPY* ]] && break
  [[ $line =~ ^RUN[[:space:]]+(.*)$ ]] || die "deploy/Dockerfile: only RUN may come before the first COPY (found: $line)"
  runs+=("${BASH_REMATCH[1]}")
done
base=$OUT/image-base
base_stamp=$(content_hash "suite=$suite" "${runs[@]}")
if [[ -f $base/.stamp && $(<"$base/.stamp") == "$base_stamp" ]]; then
  note "image base for $suite up to date"
else
  if ! command -v mmdebstrap >/dev/null; then
    note "installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends mmdebstrap >/dev/null || die "apt-get install mmdebstrap failed"
  fi
  rm -rf "$base.partial"
  note "mmdebstrap --variant=minbase $suite (what debian:$suite-slim is made of)"
  mmdebstrap --quiet --variant=minbase --mode=root --keyring="$PRIVATE_APT_KEYRING" "$suite" "$base.partial" "$PRIVATE_APT_MIRROR" ||
    die "mmdebstrap $suite failed"
  cp /etc/resolv.conf "$base.partial/etc/resolv.conf"
  for run in "${runs[@]}"; do
    note "RUN ${run:0:100}"
    # A private mount namespace: /proc and /dev for the chroot vanish with it.
    if ! unshare --mount --fork sh -c 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && exec chroot "$1" /bin/sh -c "$2"' sh "$base.partial" "$run" >"$OUT/image-base.log" 2>&1; then
      tail -20 "$OUT/image-base.log" >&2
      die "deploy/Dockerfile step failed: RUN $run (log: $OUT/image-base.log)"
    fi
  done
  : >"$base.partial/etc/resolv.conf"
  printf '%s' "$base_stamp" >"$base.partial/.stamp"
  rm -rf "$base" && mv "$base.partial" "$base"
fi
