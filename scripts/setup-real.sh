#!/usr/bin/env bash
# Fetch real, stripped, third-party Go binaries for tests: Debian's etcd/etcdctl/kubectl and npm packages
# that ship Go binaries built by Go 1.15 … newest (buf, old esbuild). Nothing is installed into the system:
# .debs are unpacked with dpkg-deb -x, npm tarballs with tar. Idempotent; everything lives in $CACHE/real/.
# Writes $CACHE/real/manifest.json = {binaries: RealBinary[]} (see test/support/fixtures.ts).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/private-apt.sh"

REAL="$GOKEYLOG_CACHE/real"
mkdir -p "$REAL"

# Debian packages (bookworm, amd64 and arm64) → the binaries they ship.
DEBIAN_PACKAGES=(
  "etcd-server etcd usr/bin/etcd"
  "etcd-client etcdctl usr/bin/etcdctl"
  "kubernetes-client kubectl usr/bin/kubectl"
)
# npm packages: "package version kind binary-inside-tarball". Versions chosen so that `go version` spans
# go1.19 → newest for buf, and go1.15 (pclntab 0xfffffffb), go1.16/go1.17 (0xfffffffa) for esbuild;
# esbuild 0.8.0 does not link crypto/tls (a real negative case).
NPM_PACKAGES=(
  "@bufbuild/buf-linux-x64 1.14.0 buf package/bin/buf"
  "@bufbuild/buf-linux-x64 1.20.0-1 buf package/bin/buf"
  "@bufbuild/buf-linux-x64 1.28.1 buf package/bin/buf"
  "@bufbuild/buf-linux-x64 1.40.1 buf package/bin/buf"
  "@bufbuild/buf-linux-x64 1.52.1 buf package/bin/buf"
  "@bufbuild/buf-linux-x64 1.75.0 buf package/bin/buf"
  "@bufbuild/buf-linux-aarch64 1.15.0 buf package/bin/buf"
  "@bufbuild/buf-linux-aarch64 1.28.1 buf package/bin/buf"
  "@bufbuild/buf-linux-aarch64 1.42.0 buf package/bin/buf"
  "@bufbuild/buf-linux-aarch64 1.53.0 buf package/bin/buf"
  "@bufbuild/buf-linux-aarch64 1.75.0 buf package/bin/buf"
  "esbuild-linux-64 0.8.0 esbuild package/bin/esbuild"
  "esbuild-linux-64 0.8.30 esbuild package/bin/esbuild"
  "esbuild-linux-64 0.9.0 esbuild package/bin/esbuild"
  "esbuild-linux-64 0.12.0 esbuild package/bin/esbuild"
  "esbuild-linux-64 0.13.15 esbuild package/bin/esbuild"
)

step "real third-party Go binaries"
for tool in apt-get apt-cache dpkg dpkg-deb npm tar readelf strings node; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# One manifest row per binary: id path kind arch source stripped. Fields are separated by the ASCII unit
# separator: unlike a tab, `read` keeps an empty field (goVersion before any toolchain exists) in place.
SEP=$'\x1f'
ROWS="$WORK/rows"
: >"$ROWS"

elf_arch() {
  case "$(readelf -h "$1" | sed -n 's/^ *Machine: *//p')" in
    *X86-64*) echo amd64 ;;
    *AArch64*) echo arm64 ;;
    *) die "$1: unexpected ELF machine" ;;
  esac
}

# A binary without a .symtab section is stripped (Go's -s, or Debian's dh_strip).
is_stripped() {
  if readelf -S -W "$1" | grep -q ' \.symtab '; then echo false; else echo true; fi
}

add_row() { printf "%s$SEP%s$SEP%s$SEP%s$SEP%s$SEP%s\n" "$@" >>"$ROWS"; }

# A private apt (scripts/lib/private-apt.sh) for bookworm with arm64 added, in its own folder: Debian's
# arm64 etcd is dynamically linked (cgo), a shape the fixtures only have on amd64. The system's apt
# configuration is never read or changed.
use_private_apt() {
  PRIVATE_APT_DIR="$GOKEYLOG_CACHE/apt-real"
  PRIVATE_APT_SUITES=(bookworm)
  private_apt_configure
  # apt.conf.d is read on top of the generated apt.conf: one more architecture for lists and downloads.
  echo 'APT::Architectures:: "arm64";' >"$PRIVATE_APT_DIR/etc/apt.conf.d/arm64.conf"
  private_apt_update
}

fetch_debian() {
  local pkg="$1" kind="$2" member="$3" arch="$4" version dest
  version="$(private_apt_newest "$pkg:$arch")"
  [[ -n "$version" ]] || die "$pkg:$arch is not in Debian bookworm"
  dest="$REAL/debian/$pkg-$version-$arch"
  if [[ ! -x "$dest/$kind" ]]; then
    note "downloading debian $pkg:$arch $version"
    rm -rf "$WORK/deb" && mkdir -p "$WORK/deb/x"
    (cd "$WORK/deb" && private_apt apt-get -qq download "$pkg:$arch=$version") \
      || die "apt-get download $pkg:$arch=$version failed (stale lists? remove $PRIVATE_APT_DIR/state/updated)"
    dpkg-deb -x "$WORK/deb/${pkg}_"*.deb "$WORK/deb/x"
    mkdir -p "$dest"
    install -m 0755 "$WORK/deb/x/$member" "$dest/$kind.tmp"
    mv "$dest/$kind.tmp" "$dest/$kind"
  fi
  add_row "$kind/$version/$arch" "$dest/$kind" "$kind" "$arch" "debian $pkg:$arch $version" "$(is_stripped "$dest/$kind")"
}

fetch_npm() {
  local pkg="$1" version="$2" kind="$3" member="$4" dest tgz arch
  dest="$REAL/npm/$(tr / - <<<"${pkg#@}")-$version"
  if [[ ! -x "$dest/$kind" ]]; then
    note "downloading npm $pkg@$version"
    mkdir -p "$WORK/npm"
    tgz="$(cd "$WORK/npm" && npm pack --silent --ignore-scripts "$pkg@$version" | tail -n 1)"
    [[ -f "$WORK/npm/$tgz" ]] || die "npm pack $pkg@$version produced no tarball"
    mkdir -p "$WORK/x" "$dest"
    tar -xzf "$WORK/npm/$tgz" -C "$WORK/x" "$member"
    install -m 0755 "$WORK/x/$member" "$dest/$kind.tmp"
    mv "$dest/$kind.tmp" "$dest/$kind"
    rm -rf "$WORK/x" "$WORK/npm/$tgz"
  fi
  arch="$(elf_arch "$dest/$kind")"
  add_row "$kind/$version/$arch" "$dest/$kind" "$kind" "$arch" "npm $pkg@$version" "$(is_stripped "$dest/$kind")"
}

use_private_apt
for arch in amd64 arm64; do
  for entry in "${DEBIAN_PACKAGES[@]}"; do
    # shellcheck disable=SC2086
    fetch_debian $entry "$arch"
  done
done
for entry in "${NPM_PACKAGES[@]}"; do
  # shellcheck disable=SC2086
  fetch_npm $entry
done

# The peer's answer for the Go version: `go version` of the newest unpacked toolchain. Empty until the
# toolchains exist; the next run fills it in.
NEWEST_GOROOT="$(installed_toolchains | tail -n 1 | cut -d' ' -f2)"
NEWEST_GO="${NEWEST_GOROOT:+$NEWEST_GOROOT/bin/go}"
[[ -n "$NEWEST_GO" ]] || warn "no Go toolchain in $GOKEYLOG_CACHE/go yet: goVersion left empty (run again after toolchains.sh)"

FINAL="$WORK/rows-final"
: >"$FINAL"
while IFS=$SEP read -r id path kind arch source stripped; do
  go_version=""
  if [[ -n "$NEWEST_GO" ]]; then
    # `go version BIN` prints "BIN: go1.x.y"; keep the version word.
    go_version="$("$NEWEST_GO" version "$path" 2>/dev/null | sed -n 's/^.*: \(go[^ ]*\).*$/\1/p')"
  fi
  # pclntab function names survive -s -w, so this string is present exactly when writeKeyLog is linked.
  if grep -q -a -F 'crypto/tls.(*Config).writeKeyLog' "$path"; then has_tls=true; else has_tls=false; fi
  printf "%s$SEP%s$SEP%s$SEP%s$SEP%s$SEP%s$SEP%s$SEP%s\n" "$id" "$path" "$kind" "$arch" "$source" "$go_version" "$has_tls" "$stripped" >>"$FINAL"
done <"$ROWS"

# Write the manifest atomically: readers never see a half-written file.
node - "$FINAL" "$REAL/manifest.json.tmp" <<'EOF'
const fs = require('node:fs');
const [rowsFile, out] = process.argv.slice(2);
const binaries = fs.readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean).map((line) => {
  const [id, path, kind, arch, source, goVersion, hasTls, stripped] = line.split('\x1f');
  return { id, path, kind, arch, source, goVersion, hasTls: hasTls === 'true', stripped: stripped === 'true' };
});
fs.writeFileSync(out, JSON.stringify({ binaries }, null, 2) + '\n');
EOF
publish "$REAL/manifest.json.tmp" "$REAL/manifest.json"

while IFS=$SEP read -r id _ _ _ _ go_version has_tls stripped; do
  note "$(printf '%-28s %-10s tls=%-5s stripped=%s' "$id" "${go_version:-?}" "$has_tls" "$stripped")"
done <"$FINAL"
note "manifest: $REAL/manifest.json ($(wc -l <"$FINAL") binaries)"
