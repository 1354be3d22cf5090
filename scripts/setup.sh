#!/usr/bin/env bash
# Prepares this machine (Debian 12, as root) for gokeylog's demo or, with --tests, its whole test suite.
# Idempotent: every step is skipped when its result is already there, so a warm run takes seconds.
# Everything downloaded or built lives in ${GOKEYLOG_CACHE:-~/.cache/gokeylog}, never in the repo.
#
#   bash scripts/setup.sh           packages, npm build, tracefs, newest Go, amd64 exe tlsserver/tlsclient
#   bash scripts/setup.sh --tests   + every Go toolchain of the matrix, every fixture, real third-party binaries,
#                                   the real Kubernetes control plane (scripts/setup-kube.sh)
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

tests=false
case "${1:-}" in
  --tests) tests=true ;;
  "") ;;
  *) die "usage: setup.sh [--tests]" ;;
esac
started=$SECONDS
cd "$REPO_ROOT"

# jq: the setup scripts write JSON with it; gcc/libc6-dev: cgo and race fixtures and the C fixture;
# tcpreplay: tcprewrite cuts real captures into IP fragments for the reassembly tests.
# ethtool: bench:analyze turns segmentation offloads off on its loopback (real 1500-byte frames).
# time: GNU time measures the peak memory of analyze on hostile captures.
# zsh: the shell completion test runs the generated script in a real zsh (bash is there anyway).
DEBIAN_PACKAGES=(tcpdump tshark bpftrace iproute2 openssl curl binutils gcc libc6-dev jq ca-certificates tcpreplay ethtool time zsh)
# chromium (tests only): the HTML report is tested in headless Chromium, driven by puppeteer-core (no
# browser download: it runs Debian's /usr/bin/chromium); its layout checks measure text in DejaVu Sans.
if $tests; then DEBIAN_PACKAGES+=(chromium fonts-dejavu-core); fi

step "Debian packages"
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  note "all installed"
else
  [[ $(id -u) == 0 ]] || die "installing ${missing[*]} needs root"
  note "installing ${missing[*]}"
  # tshark asks whether non-root users may capture; answer no instead of stopping for a prompt.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -1) ]]; then
    apt-get -qq update
  fi
  apt_install() { DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  # Lists a day old may name versions the mirror has dropped: refresh once and retry.
  apt_install || { apt-get -qq update && apt_install; } || die "apt-get install ${missing[*]} failed"
fi

step "tracefs"
if mountpoint -q /sys/kernel/tracing; then
  note "mounted at /sys/kernel/tracing"
elif mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
  note "mounted tracefs at /sys/kernel/tracing"
else
  warn "cannot mount tracefs at /sys/kernel/tracing (not root?): probing will not work"
fi

step "npm dependencies"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json || package.json -nt node_modules/.package-lock.json ]]; then
  note "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
else
  note "node_modules up to date"
fi

step "Go toolchains"
if $tests; then bash scripts/toolchains.sh; else bash scripts/toolchains.sh --newest; fi

step "Go fixtures"
if $tests; then bash scripts/build-fixtures.sh; else bash scripts/build-fixtures.sh --demo; fi

if $tests; then
  if [[ -f scripts/setup-real.sh ]]; then
    bash scripts/setup-real.sh
  else
    step "real third-party binaries"
    note "scripts/setup-real.sh does not exist yet: skipped"
  fi
  # The real control plane (API server built from Debian's k8s.io sources, etcd, kubectl): the audit-log referee.
  bash scripts/setup-kube.sh
  # The manifest checker and the image's base layers for the deploy/ tests.
  bash scripts/setup-deploy.sh
fi

# Last, so that a type error in the tree does not keep the machine from being set up.
step "build (npm run build)"
build_stamp=dist/.setup-build
if [[ -f $build_stamp && -z $(find src test bench tsconfig.json package.json -newer "$build_stamp" -print -quit 2>/dev/null) ]]; then
  note "dist/ up to date"
else
  npm run --silent build || die "npm run build failed (see the errors above); everything else is set up"
  touch "$build_stamp"
fi

step "done in $((SECONDS - started)) s; cache: $(du -sh "$GOKEYLOG_CACHE" 2>/dev/null | cut -f1) in $GOKEYLOG_CACHE"
