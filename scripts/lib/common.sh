# shellcheck shell=bash
# Shared helpers for the setup scripts. Source it; it defines no side effects beyond variables.

GOKEYLOG_CACHE="${GOKEYLOG_CACHE:-$HOME/.cache/gokeylog}"
# shellcheck disable=SC2034 # used by the scripts that source this file
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Every toolchain the test matrix wants, oldest first.
GO_MATRIX_VERSIONS=(1.15 1.19 1.21 1.22 1.23 1.24 1.25 1.26 1.27)

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
require_tools() {
  local tool
  for tool in "$@"; do command -v "$tool" >/dev/null || die "$tool is required (bash scripts/setup.sh installs it)"; done
}

# Hash of files' contents (sorted by name) plus any extra words: a stamp that changes when any input does.
content_hash() {
  local words=() files=() arg
  for arg in "$@"; do
    if [[ -f $arg ]]; then files+=("$arg"); else words+=("$arg"); fi
  done
  {
    printf '%s\n' "${words[@]}"
    if ((${#files[@]})); then
      printf '%s\n' "${files[@]}" | LC_ALL=C sort | while read -r f; do sha256sum <"$f"; done
    fi
  } | sha256sum | cut -d' ' -f1
}

# Move a finished temp file into place, so readers never see half a file.
publish() {
  local tmp=$1 dest=$2
  chmod 0644 "$tmp"
  mv -f "$tmp" "$dest"
}

# The unpacked toolchains, "VERSION GOROOT" per line, oldest first.
installed_toolchains() {
  local v
  for v in "${GO_MATRIX_VERSIONS[@]}"; do
    [[ -x $GOKEYLOG_CACHE/go/$v/bin/go ]] && printf '%s %s\n' "$v" "$GOKEYLOG_CACHE/go/$v"
  done
  return 0
}
