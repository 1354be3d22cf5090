#!/usr/bin/env bash
# A real Kubernetes control plane for the tests and `gokeylog demo --real`, from Debian sid, cached in
# $GOKEYLOG_CACHE/kube (nothing is installed into the system):
#
#   bin/apiextensions-apiserver   k8s.io/apiextensions-apiserver's own main, unmodified: a real API server
#                                 (CRDs and custom resources in etcd, audit log, x509 authentication)
#   bin/apiserver                 the same server options with AlwaysAllow authorization, /apis discovery and
#                                 static tokens (test/fixtures/kube/apiserver: our own ~70 lines)
#   bin/nodeclient                a long-lived client-go client (test/fixtures/kube/nodeclient)
#   debian/…/etcd, etcdctl, kubectl   Debian sid's etcd-server, etcd-client and kubectl, unpacked
#
# The three Go programs are built in GOPATH mode from the golang-*-dev closure that
# scripts/lib/debian-go-sources.sh unpacks (~315 packages, ~2 GB of source), with Debian's Go 1.27 from
# $GOKEYLOG_CACHE/go (scripts/toolchains.sh), stripped (-trimpath -s -w) like the official images. A binary is
# rebuilt only when its sources, the Debian package set or the toolchain change.
# Writes $GOKEYLOG_CACHE/kube/manifest.json (see test/support/kube.ts) atomically.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/debian-go-sources.sh
source "$(dirname "$0")/lib/debian-go-sources.sh"
require_tools jq apt-get apt-cache dpkg-deb sha256sum

KUBE=$GOKEYLOG_CACHE/kube
GO_VERSION_WANTED=1.27
GOROOT_KUBE=$GOKEYLOG_CACHE/go/$GO_VERSION_WANTED
GO=$GOROOT_KUBE/bin/go
SOURCES=$REPO_ROOT/test/fixtures/kube
# Debian sid packages → the binary each ships.
DEBIAN_BINARIES=(
  "etcd-server etcd usr/bin/etcd"
  "etcd-client etcdctl usr/bin/etcdctl"
  "kubectl kubectl usr/bin/kubectl"
)
mkdir -p "$KUBE/bin" "$KUBE/debian" "$KUBE/logs"

step "real Kubernetes control plane (Debian sid)"
started=$SECONDS
[[ -x $GO ]] || die "Go $GO_VERSION_WANTED is not in $GOKEYLOG_CACHE/go: run scripts/toolchains.sh $GO_VERSION_WANTED first"

debian_go_sources "$KUBE/gopath" golang-k8s-apiextensions-apiserver-dev golang-k8s-client-go-dev

# The version of PACKAGE in sid (the private apt lists every suite; sid is the one wanted here).
sid_version() {
  private_apt apt-cache madison "$1" | awk -F'|' '$3 ~ / sid\// {gsub(/ /, "", $2); print $2; exit}'
}

declare -A DEBIAN_PATH DEBIAN_SOURCE
for entry in "${DEBIAN_BINARIES[@]}"; do
  read -r pkg name member <<<"$entry"
  version=$(sid_version "$pkg")
  [[ -n $version ]] || die "$pkg is not in Debian sid"
  dest=$KUBE/debian/$pkg-$version
  if [[ ! -x $dest/$name ]]; then
    note "downloading debian sid $pkg $version"
    deb=$(private_apt_download "$pkg" "$version")
    rm -rf "$dest.partial" && mkdir -p "$dest.partial/x"
    dpkg-deb -x "$deb" "$dest.partial/x"
    install -m 0755 "$dest.partial/x/$member" "$dest.partial/$name"
    rm -rf "$dest.partial/x" "$deb"
    rm -rf "$dest" && mv "$dest.partial" "$dest"
  fi
  DEBIAN_PATH[$name]=$dest/$name
  DEBIAN_SOURCE[$name]="debian sid $pkg $version"
done

GO_ENV=(GO111MODULE=off "GOPATH=$DEBIAN_GO_GOPATH" GOPROXY=off GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0
  "GOROOT=$GOROOT_KUBE" "GOCACHE=$GOKEYLOG_CACHE/gocache")
GO_VERSION=$(env "${GO_ENV[@]}" "$GO" env GOVERSION)

# build NAME PACKAGE-OR-DIR [SOURCE-DIR]: bin/NAME, unless its stamp says it is current.
build() {
  local name=$1 target=$2 source_dir=${3:-} stamp hash log
  stamp=$KUBE/bin/$name.stamp
  log=$KUBE/logs/$name.log
  local inputs=("$KUBE/gopath/packages.txt" "$GO_VERSION" "recipe=1")
  [[ -n $source_dir ]] && inputs+=("$source_dir"/*.go)
  hash=$(content_hash "${inputs[@]}")
  if [[ -x $KUBE/bin/$name && -f $stamp && $(<"$stamp") == "$hash" ]]; then
    note "$name is up to date"
    return 0
  fi
  note "building $name ($GO_VERSION, GOPATH mode; a first build takes minutes on 2 cores, log: $log)"
  local t0=$SECONDS
  # A directory outside GOPATH builds as a local package whose imports come from GOPATH.
  if ! (cd "${source_dir:-$KUBE}" && env "${GO_ENV[@]}" "$GO" build -trimpath -ldflags='-s -w' \
      -o "$KUBE/bin/$name.partial" "$target") >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "building $name failed (log: $log)"
  fi
  mv -f "$KUBE/bin/$name.partial" "$KUBE/bin/$name"
  printf '%s\n' "$hash" >"$stamp"
  note "built $name in $((SECONDS - t0)) s"
}

build apiextensions-apiserver k8s.io/apiextensions-apiserver
build apiserver . "$SOURCES/apiserver"
build nodeclient . "$SOURCES/nodeclient"

package_version() { grep "^$1=" "$KUBE/gopath/packages.txt" | cut -d= -f2; }

jq -n \
  --arg goVersion "$GO_VERSION" \
  --arg upstream "$KUBE/bin/apiextensions-apiserver" --arg apiserver "$KUBE/bin/apiserver" \
  --arg nodeclient "$KUBE/bin/nodeclient" \
  --arg apiextensions "$(package_version golang-k8s-apiextensions-apiserver-dev)" \
  --arg clientGo "$(package_version golang-k8s-client-go-dev)" \
  --arg etcd "${DEBIAN_PATH[etcd]}" --arg etcdSource "${DEBIAN_SOURCE[etcd]}" \
  --arg etcdctl "${DEBIAN_PATH[etcdctl]}" --arg etcdctlSource "${DEBIAN_SOURCE[etcdctl]}" \
  --arg kubectl "${DEBIAN_PATH[kubectl]}" --arg kubectlSource "${DEBIAN_SOURCE[kubectl]}" \
  --argjson packages "$(wc -l <"$KUBE/gopath/packages.txt")" \
  '{
    goVersion: $goVersion, goSourcePackages: $packages,
    upstreamApiserver: {path: $upstream, source: ("k8s.io/apiextensions-apiserver main from golang-k8s-apiextensions-apiserver-dev " + $apiextensions)},
    apiserver: {path: $apiserver, source: ("test/fixtures/kube/apiserver on golang-k8s-apiextensions-apiserver-dev " + $apiextensions)},
    nodeclient: {path: $nodeclient, source: ("test/fixtures/kube/nodeclient on golang-k8s-client-go-dev " + $clientGo)},
    etcd: {path: $etcd, source: $etcdSource},
    etcdctl: {path: $etcdctl, source: $etcdctlSource},
    kubectl: {path: $kubectl, source: $kubectlSource}
  }' >"$KUBE/manifest.json.tmp"
publish "$KUBE/manifest.json.tmp" "$KUBE/manifest.json"
note "control plane ready in $((SECONDS - started)) s: $KUBE/manifest.json"
