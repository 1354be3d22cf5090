# shellcheck shell=bash
# Debian's Go source packages (golang-*-dev, from sid) unpacked into one GOPATH, for GOPATH-mode builds of
# real Go programs (the Kubernetes API server, client-go clients, a manifest checker) without a module proxy.
#
# Interface (source it after common.sh; or run it: `bash debian-go-sources.sh DEST PKG...`):
#
#   debian_go_sources DEST PKG...
#     Resolves the Depends closure of PKG... in Debian sid with ONE simulated `apt-get install` in the
#     private apt (scripts/lib/private-apt.sh; the system's apt is never read or changed), keeps the
#     golang-*-dev packages of it, downloads the missing .debs in ONE `apt-get download` into
#     $GOKEYLOG_CACHE/debian-go/debs (shared by every caller), and unpacks them all with dpkg-deb -x into DEST.
#     Afterwards:
#       DEBIAN_GO_GOPATH   = DEST/usr/share/gocode   (GO111MODULE=off GOPATH=$DEBIAN_GO_GOPATH GOPROXY=off)
#       DEBIAN_GO_PACKAGES = the "package=version" lines unpacked (also in DEST/packages.txt, sorted)
#     Idempotent: when DEST was unpacked for the same PKG... from the same package lists, nothing is resolved,
#     downloaded or unpacked (a warm call takes about a second); after the lists are refreshed (daily), the
#     closure is resolved again and DEST redone only if it changed. DEST is replaced atomically (built in
#     DEST.partial, then renamed), so an interrupted run never leaves half a GOPATH behind.
#     Dies with one sentence when a package is not in sid or the closure cannot be resolved.
#
#   DEBIAN_GO_SUITE (default sid) picks the suite whose versions win.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  # shellcheck source=common.sh
  source "$(dirname "$0")/common.sh"
fi
DEBIAN_GO_SUITE="${DEBIAN_GO_SUITE:-sid}"
DEBIAN_GO_DEBS="$GOKEYLOG_CACHE/debian-go/debs"

# shellcheck source=private-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/private-apt.sh"

debian_go_sources() {
  local dest=$1
  shift
  (($# > 0)) || die "debian_go_sources: no packages given"
  private_apt_update
  DEBIAN_GO_GOPATH="$dest/usr/share/gocode"
  # Unpacked from these same package lists for the same request: the closure cannot have changed.
  local requested
  requested=$(printf '%s\n' "$@" | LC_ALL=C sort)
  if [[ -f $dest/packages.txt && -f $dest/requested.txt && $(<"$dest/requested.txt") == "$requested" &&
    $dest/packages.txt -nt $PRIVATE_APT_DIR/state/updated ]]; then
    DEBIAN_GO_PACKAGES=$(<"$dest/packages.txt")
    note "Go sources: $(wc -l <<<"$DEBIAN_GO_PACKAGES") Debian $DEBIAN_GO_SUITE packages already unpacked in $dest (lists unchanged)"
    return 0
  fi
  local closure
  closure=$(debian_go_closure "$@")
  [[ -n $closure ]] || die "the Depends closure of $* has no golang-*-dev package"
  DEBIAN_GO_PACKAGES=$closure
  if [[ -f $dest/packages.txt ]] && [[ $(<"$dest/packages.txt") == "$closure" ]]; then
    note "Go sources: $(wc -l <<<"$closure") Debian $DEBIAN_GO_SUITE packages already unpacked in $dest"
    printf '%s\n' "$requested" >"$dest/requested.txt"
    touch "$dest/packages.txt"
    return 0
  fi
  debian_go_download "$closure"
  note "unpacking $(wc -l <<<"$closure") Go source packages into $dest"
  rm -rf "$dest.partial" && mkdir -p "$dest.partial"
  local line
  while read -r line; do
    dpkg-deb -x "$(debian_go_deb_path "$line")" "$dest.partial" || die "dpkg-deb -x of ${line%%=*} failed"
  done <<<"$closure"
  printf '%s\n' "$closure" >"$dest.partial/packages.txt"
  printf '%s\n' "$requested" >"$dest.partial/requested.txt"
  rm -rf "$dest" && mv "$dest.partial" "$dest"
}

# The golang-*-dev part of the Depends closure, "package=version" per line, sorted. With an empty dpkg
# status the simulation lists every package of the closure as an "Inst" line.
debian_go_closure() {
  local out
  out=$(private_apt apt-get -s -q install --no-install-recommends -o APT::Default-Release="$DEBIAN_GO_SUITE" "$@" 2>&1) \
    || { printf '%s\n' "$out" | grep -E '^(E:|  )' >&2; die "cannot resolve the Depends closure of $* in Debian $DEBIAN_GO_SUITE"; }
  # "Inst NAME (VERSION SUITE [ARCH])"
  awk '$1 == "Inst" && $2 ~ /^golang-.*-dev$/ { v = $3; sub(/^\(/, "", v); print $2 "=" v }' <<<"$out" | LC_ALL=C sort
}

debian_go_deb_path() {
  local pkg=${1%%=*} version=${1#*=}
  # apt names files pkg_version_arch.deb with the epoch's ':' escaped.
  printf '%s/%s_%s_all.deb' "$DEBIAN_GO_DEBS" "$pkg" "${version//:/%3a}"
}

debian_go_download() {
  local closure=$1 missing=() line
  mkdir -p "$DEBIAN_GO_DEBS"
  while read -r line; do
    [[ -f $(debian_go_deb_path "$line") ]] || missing+=("$line")
  done <<<"$closure"
  if ((${#missing[@]})); then
    note "downloading ${#missing[@]} Go source packages from Debian $DEBIAN_GO_SUITE"
    (cd "$DEBIAN_GO_DEBS" && private_apt apt-get -q download "${missing[@]}" >/dev/null) \
      || die "apt-get download of ${#missing[@]} Go source packages failed (stale lists? remove $PRIVATE_APT_DIR/state/updated)"
  fi
  for line in "${missing[@]}"; do
    [[ -f $(debian_go_deb_path "$line") ]] || die "downloaded ${line%%=*} but $(debian_go_deb_path "$line") is missing (not Architecture: all?)"
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  (($# >= 2)) || die "usage: debian-go-sources.sh DEST PKG..."
  debian_go_sources "$@"
  note "GOPATH=$DEBIAN_GO_GOPATH"
fi
