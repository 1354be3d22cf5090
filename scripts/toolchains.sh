#!/usr/bin/env bash
# The Go toolchain matrix: golang-1.X-go (+ golang-1.X-src) from Debian's suites, unpacked into
# $GOKEYLOG_CACHE/go/1.X (a GOROOT). Uses a private apt configuration; never the system's sources.
#
#   scripts/toolchains.sh            every version of the matrix
#   scripts/toolchains.sh --newest   only the newest version that Debian has
#   scripts/toolchains.sh 1.21 1.27  those versions
#
# Writes $GOKEYLOG_CACHE/go/toolchains.json: which versions exist, from which suite, and where they are.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/private-apt.sh
source "$(dirname "$0")/lib/private-apt.sh"
require_tools jq apt-get apt-cache dpkg-deb

GO_DIR=$GOKEYLOG_CACHE/go
TOOLCHAINS_JSON=$GO_DIR/toolchains.json
mkdir -p "$GO_DIR"

newest_only=false
wanted=()
for arg in "$@"; do
  case $arg in
    --newest) newest_only=true ;;
    1.*) wanted+=("$arg") ;;
    *) die "usage: toolchains.sh [--newest | 1.X ...]" ;;
  esac
done
((${#wanted[@]})) || wanted=("${GO_MATRIX_VERSIONS[@]}")

# The versions toolchains.json lists with a given status.
recorded_versions() {
  [[ -f $TOOLCHAINS_JSON ]] || return 0
  jq -r --arg s "$1" '.[] | select(.status == $s) | .version' "$TOOLCHAINS_JSON"
}

# Warm run: nothing to fetch when every wanted toolchain is unpacked (or known not to exist).
all_present() {
  [[ -f $TOOLCHAINS_JSON ]] || return 1
  local v missing
  missing=$(recorded_versions missing)
  if $newest_only; then
    v=$(recorded_versions unpacked | tail -1)
    [[ -n $v && -x $GO_DIR/$v/bin/go ]]
    return
  fi
  for v in "${wanted[@]}"; do
    grep -qx "$v" <<<"$missing" && continue
    [[ -x $GO_DIR/$v/bin/go ]] || return 1
  done
}

if all_present; then
  note "Go toolchains already unpacked: $(recorded_versions unpacked | tr '\n' ' ')"
  exit 0
fi

private_apt_update

# Unpack golang-1.X-go and golang-1.X-src at one Debian version into root-1.X; 1.X links to its GOROOT.
unpack_toolchain() {
  local v=$1 debversion=$2
  local root=$GO_DIR/root-$v
  if [[ -f $root/.debversion && $(cat "$root/.debversion") == "$debversion" && -x $GO_DIR/$v/bin/go ]]; then
    return 0
  fi
  local go_deb src_deb
  go_deb=$(private_apt_download "golang-$v-go" "$debversion")
  src_deb=$(private_apt_download "golang-$v-src" "$debversion")
  rm -rf "$root.tmp" && mkdir -p "$root.tmp"
  dpkg-deb -x "$go_deb" "$root.tmp"
  dpkg-deb -x "$src_deb" "$root.tmp"
  [[ -x $root.tmp/usr/lib/go-$v/bin/go ]] || die "golang-$v-go $debversion has no usr/lib/go-$v/bin/go"
  printf '%s\n' "$debversion" >"$root.tmp/.debversion"
  rm -rf "$root" && mv "$root.tmp" "$root"
  ln -sfn "root-$v/usr/lib/go-$v" "$GO_DIR/$v"
  # The unpacked tree is what is kept; the .debs would only double the disk used.
  rm -f "$go_deb" "$src_deb"
}

# Which suite offers PACKAGE at VERSION (the first that does).
suite_of() {
  private_apt apt-cache madison "$1" | awk -F'|' -v ver="$2" '{gsub(/ /,"",$2)} $2 == ver {split($3, a, " "); sub(/\/.*/, "", a[2]); print a[2]; exit}'
}

if $newest_only; then
  for ((i = ${#GO_MATRIX_VERSIONS[@]} - 1; i >= 0; i--)); do
    v=${GO_MATRIX_VERSIONS[i]}
    [[ -n $(private_apt_newest "golang-$v-go") ]] && { wanted=("$v"); break; }
  done
fi

records=()
for v in "${GO_MATRIX_VERSIONS[@]}"; do
  debversion=$(private_apt_newest "golang-$v-go")
  want=false
  for w in "${wanted[@]}"; do [[ $w == "$v" ]] && want=true; done
  if [[ -z $debversion ]]; then
    $want && note "go $v: golang-$v-go is in none of ${PRIVATE_APT_SUITES[*]}"
    records+=("$(jq -n --arg v "$v" --arg r "golang-$v-go is in none of: ${PRIVATE_APT_SUITES[*]}" \
      '{version: $v, status: "missing", reason: $r}')")
    continue
  fi
  if $want; then
    note "go $v: golang-$v-go $debversion ($(suite_of "golang-$v-go" "$debversion"))"
    unpack_toolchain "$v" "$debversion"
  fi
  if [[ -x $GO_DIR/$v/bin/go ]]; then
    installed=$(cat "$GO_DIR/root-$v/.debversion")
    goversion=$("$GO_DIR/$v/bin/go" version | awk '{print $3}')
    records+=("$(jq -n --arg v "$v" --arg d "$installed" --arg s "$(suite_of "golang-$v-go" "$installed")" \
      --arg g "$goversion" --arg r "$(readlink -f "$GO_DIR/$v")" \
      '{version: $v, status: "unpacked", debVersion: $d, suite: $s, goVersion: $g, goroot: $r}')")
  else
    records+=("$(jq -n --arg v "$v" --arg d "$debversion" --arg s "$(suite_of "golang-$v-go" "$debversion")" \
      '{version: $v, status: "available", debVersion: $d, suite: $s}')")
  fi
done

printf '%s\n' "${records[@]}" | jq -s . >"$TOOLCHAINS_JSON.tmp"
publish "$TOOLCHAINS_JSON.tmp" "$TOOLCHAINS_JSON"
note "toolchains: $(recorded_versions unpacked | tr '\n' ' ')"
