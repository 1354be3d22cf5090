# shellcheck shell=bash
# A private apt: its own sources, lists, state and cache inside $GOKEYLOG_CACHE/apt, so that fetching
# packages from other Debian suites never touches the system's apt configuration.
# Requires common.sh.

PRIVATE_APT_DIR="$GOKEYLOG_CACHE/apt"
PRIVATE_APT_SUITES=(bullseye bookworm bookworm-backports trixie trixie-backports sid experimental)
PRIVATE_APT_MIRROR="http://deb.debian.org/debian"
# The system keyring, unless a newer one has been unpacked into the cache (see private_apt_update).
PRIVATE_APT_KEYRING="${PRIVATE_APT_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"
PRIVATE_APT_NEWER_KEYRING="$PRIVATE_APT_DIR/keyring/usr/share/keyrings/debian-archive-keyring.gpg"
SIGNATURE_ERRORS='NO_PUBKEY|not signed|EXPKEYSIG|KEYEXPIRED|BADSIG|signature'

private_apt_configure() {
  local d=$PRIVATE_APT_DIR keyring=$PRIVATE_APT_KEYRING
  [[ -f $PRIVATE_APT_NEWER_KEYRING ]] && keyring=$PRIVATE_APT_NEWER_KEYRING
  mkdir -p "$d/etc/apt.conf.d" "$d/etc/preferences.d" "$d/etc/sources.list.d" \
    "$d/state/lists/partial" "$d/cache/archives/partial" "$d/debs"
  touch "$d/state/status"
  local suite
  for suite in "${PRIVATE_APT_SUITES[@]}"; do
    # Signatures are always verified. The mirror can lag behind the clock, and sid's and experimental's
    # Release files are only "valid" for a week, so their Valid-Until (replay protection) is not enforced.
    printf 'deb [signed-by=%s check-valid-until=no] %s %s main\n' "$keyring" "$PRIVATE_APT_MIRROR" "$suite"
  done >"$d/etc/sources.list"
  # Every directory apt reads or writes is redirected; the system's apt.conf.d is not read either.
  cat >"$d/etc/apt.conf" <<CONF
Dir::Etc "$d/etc";
Dir::Etc::main "$d/etc/apt.conf";
Dir::Etc::Parts "$d/etc/apt.conf.d";
Dir::Etc::SourceList "$d/etc/sources.list";
Dir::Etc::SourceParts "$d/etc/sources.list.d";
Dir::Etc::Preferences "$d/etc/preferences";
Dir::Etc::PreferencesParts "$d/etc/preferences.d";
Dir::State "$d/state";
Dir::State::Lists "$d/state/lists";
Dir::State::status "$d/state/status";
Dir::Cache "$d/cache";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::Retries "3";
APT::Sandbox::User "root";
// Keep the lists compressed and skip the source package cache: ~400 MB less, nothing lost.
Acquire::GzipIndexes "true";
Dir::Cache::srcpkgcache "";
CONF
}

private_apt() { APT_CONFIG="$PRIVATE_APT_DIR/etc/apt.conf" "$@"; }

# Fresh lists if they are missing or older than a day.
private_apt_update() {
  private_apt_configure
  local stamp=$PRIVATE_APT_DIR/state/updated
  if [[ -f $stamp ]] && [[ -z $(find "$stamp" -mmin +1440) ]]; then
    note "package lists of ${#PRIVATE_APT_SUITES[@]} Debian suites are fresh"
    return 0
  fi
  note "updating package lists of ${PRIVATE_APT_SUITES[*]}"
  local log=$PRIVATE_APT_DIR/update.log
  if ! private_apt_update_verified "$log" && [[ ! -f $PRIVATE_APT_NEWER_KEYRING ]] && grep -Eq "$SIGNATURE_ERRORS" "$log"; then
    # A suite newer than the system's keyring: take the newest debian-archive-keyring that a suite we can
    # verify offers (apt checks the .deb against that suite's signed index), then try again with it.
    note "some suites are signed with keys the system keyring lacks: fetching a newer debian-archive-keyring"
    private_apt_use_newer_keyring
    private_apt_update_verified "$log" || true
  fi
  if grep -Eq "$SIGNATURE_ERRORS" "$log"; then
    cat "$log" >&2
    die "a Debian suite's signature could not be verified (see above); refusing to continue unverified"
  fi
  grep -q '^E:' "$log" && { cat "$log" >&2; die "private apt-get update failed"; }
  touch "$stamp"
}

# apt-get update into LOG; fails on any error.
private_apt_update_verified() {
  private_apt apt-get -q update >"$1" 2>&1 && ! grep -q '^E:' "$1"
}

private_apt_use_newer_keyring() {
  local version deb
  version=$(private_apt_newest debian-archive-keyring)
  [[ -n $version ]] || die "no verifiable suite offers debian-archive-keyring"
  deb=$(private_apt_download debian-archive-keyring "$version")
  rm -rf "$PRIVATE_APT_DIR/keyring" && dpkg-deb -x "$deb" "$PRIVATE_APT_DIR/keyring" && rm -f "$deb"
  [[ -f $PRIVATE_APT_NEWER_KEYRING ]] || die "debian-archive-keyring $version has no debian-archive-keyring.gpg"
  note "using debian-archive-keyring $version from the cache"
  private_apt_configure
}

# The newest version of PACKAGE in any configured suite (empty when none has it).
private_apt_newest() {
  local pkg=$1 best="" v
  while read -r v; do
    if [[ -z $best ]] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
  done < <(private_apt apt-cache madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}')
  printf '%s' "$best"
}

# Download PACKAGE=VERSION into the private debs folder; prints the .deb path.
private_apt_download() {
  local pkg=$1 version=$2 d=$PRIVATE_APT_DIR/debs
  local deb
  deb=$(find "$d" -maxdepth 1 -name "${pkg}_$(printf '%s' "$version" | sed 's/:/%3a/')_*.deb" | head -1)
  if [[ -z $deb ]]; then
    (cd "$d" && private_apt apt-get -q download "$pkg=$version" >/dev/null) || die "downloading $pkg $version failed"
    deb=$(find "$d" -maxdepth 1 -name "${pkg}_$(printf '%s' "$version" | sed 's/:/%3a/')_*.deb" | head -1)
  fi
  [[ -n $deb ]] || die "downloaded $pkg $version but cannot find its .deb"
  printf '%s' "$deb"
}
