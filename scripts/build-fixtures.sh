#!/usr/bin/env bash
# Builds the Go fixture matrix from test/fixtures/go with every unpacked toolchain, plus the C program,
# into $GOKEYLOG_CACHE/fixtures, and writes fixtures/manifest.json ({fixtures, skipped}) atomically.
# Incremental: a binary is rebuilt only when its sources, toolchain or build flags change.
#
#   scripts/build-fixtures.sh          the whole matrix
#   scripts/build-fixtures.sh --demo   only the newest toolchain's amd64 exe tlsserver/tlsclient
#
# Modes: exe = CGO_ENABLED=0 default build; pie = CGO_ENABLED=0 -buildmode=pie; cgo = CGO_ENABLED=1
# -ldflags=-linkmode=external; race = -race. Each comes unstripped and stripped (-ldflags "-s -w").
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
require_tools jq gcc sha256sum

demo=false
case "${1:-}" in
  --demo) demo=true ;;
  "") ;;
  *) die "usage: build-fixtures.sh [--demo]" ;;
esac

FIXTURES=$GOKEYLOG_CACHE/fixtures
SOURCES=$REPO_ROOT/test/fixtures/go
MANIFEST=$FIXTURES/manifest.json
MAX_JOBS=2
# Bump when the way binaries are built changes, so that every stamp goes stale.
RECIPE=1
mkdir -p "$FIXTURES/logs"

mapfile -t TOOLCHAINS < <(installed_toolchains | awk '{print $1}')
((${#TOOLCHAINS[@]})) || die "no Go toolchain in $GOKEYLOG_CACHE/go: run scripts/toolchains.sh first"
NEWEST=${TOOLCHAINS[-1]}
# notls needs no full matrix: the oldest, one in the middle and the newest toolchain.
NOTLS_TOOLCHAINS=" ${TOOLCHAINS[0]} 1.21 $NEWEST "

# The whole matrix, one "TOOLCHAIN ARCH MODE PROGRAM" per line; each line builds an unstripped/stripped pair.
full_matrix() {
  local tc
  for tc in "${TOOLCHAINS[@]}"; do
    printf '%s amd64 %s tlsserver\n' "$tc" exe "$tc" pie "$tc" cgo
    [[ $tc == "$NEWEST" ]] && printf '%s amd64 race tlsserver\n' "$tc"
    printf '%s arm64 %s tlsserver\n' "$tc" exe "$tc" pie
    printf '%s amd64 exe tlsclient\n' "$tc"
    [[ $NOTLS_TOOLCHAINS == *" $tc "* ]] && printf '%s amd64 exe notls\n' "$tc"
  done
  return 0
}

demo_matrix() { printf '%s amd64 exe %s\n' "$NEWEST" tlsserver "$NEWEST" tlsclient; }

version_at_least() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1) == "$2" ]]; }

fixture_id() { printf 'go%s/%s/%s/%s/%s' "$1" "$2" "$3" "$( [[ $4 == true ]] && echo stripped || echo unstripped)" "$5"; }

# Failures that mean "this toolchain cannot build this combination", not a broken fixture.
UNSUPPORTED='requires external \(cgo\) linking|not supported|unsupported|-race requires cgo'

# What a fixture is built from, hashed once per program and toolchain so that a warm run forks little.
declare -A SOURCE_HASH DEB_VERSION
for program in tlsserver tlsclient notls; do
  SOURCE_HASH[$program]=$(content_hash "$SOURCES/go.mod" "$SOURCES/$program"/*.go "$SOURCES"/internal/*/*.go)
done
for tc in "${TOOLCHAINS[@]}"; do DEB_VERSION[$tc]=$(<"$GOKEYLOG_CACHE/go/root-$tc/.debversion"); done

# The stamp of TOOLCHAIN ARCH MODE STRIPPED PROGRAM: it changes when anything the binary is built from does.
fixture_stamp() { printf 'recipe=%s deb=%s %s %s %s %s src=%s' "$RECIPE" "${DEB_VERSION[$1]}" "$2" "$3" "$4" "$5" "${SOURCE_HASH[$5]}"; }

# Built (or known unbuildable) from the current inputs; STAGED=.new asks about a staged result.
is_fresh() {
  local out staged=${STAGED:-}
  out=$FIXTURES/$(fixture_id "$@")
  [[ -f $out.stamp$staged && $(<"$out.stamp$staged") == "$(fixture_stamp "$@")" ]] &&
    [[ -f $out.json$staged || -f $out.skip$staged ]]
}

# Rebuilt files are staged as *.new and promoted together at the end, just before the manifest is
# written, so that tests running meanwhile never see a binary that differs from its manifest entry.
STAGED_SUFFIXES=("" .json .skip .stamp)

# Build one binary (when stale) and stage it with BIN.json (its record) or BIN.skip (why it cannot exist),
# and BIN.stamp.
build_one() {
  local tc=$1 arch=$2 mode=$3 program=$4 stripped=$5 twin_nm=$6
  local id out go log stamp
  id=$(fixture_id "$tc" "$arch" "$mode" "$stripped" "$program")
  out=$FIXTURES/$id
  go=$GOKEYLOG_CACHE/go/$tc/bin/go
  log=$FIXTURES/logs/${id//\//_}.log
  stamp=$(fixture_stamp "$tc" "$arch" "$mode" "$stripped" "$program")
  is_fresh "$tc" "$arch" "$mode" "$stripped" "$program" && return 0
  # Staged by an earlier run that stopped before promoting: still good.
  STAGED=.new is_fresh "$tc" "$arch" "$mode" "$stripped" "$program" && return 0
  local suffix
  for suffix in "${STAGED_SUFFIXES[@]}"; do rm -f "$out$suffix.new"; done
  mkdir -p "$(dirname "$out")"

  local cgo=0 flags=() ldflags=()
  case $mode in
    pie) flags+=(-buildmode=pie) ;;
    cgo) cgo=1; ldflags+=(-linkmode=external) ;;
    race) cgo=1; flags+=(-race) ;;
  esac
  [[ $stripped == true ]] && ldflags+=(-s -w)
  ((${#ldflags[@]})) && flags+=("-ldflags=${ldflags[*]}")
  # From 1.18 the go command stamps VCS state, which would tie the binary to the repo's git state.
  version_at_least "$tc" 1.18 && flags+=(-buildvcs=false)

  if ! (cd "$SOURCES" && env GOOS=linux GOARCH="$arch" CGO_ENABLED=$cgo GOTOOLCHAIN=local GOPROXY=off GOFLAGS= \
      GO111MODULE=on GOENV=off GOWORK=off GOCACHE="$GOKEYLOG_CACHE/gocache/$tc" GOPATH="$GOKEYLOG_CACHE/gopath" \
      "$go" build -o "$out.tmp" "${flags[@]}" "./$program") >"$log" 2>&1; then
    rm -f "$out.tmp"
    local reason
    reason=$(grep -Em1 "$UNSUPPORTED" "$log" || true)
    if [[ -z $reason ]]; then
      printf 'build of %s failed:\n' "$id" >&2
      cat "$log" >&2
      return 1
    fi
    jq -n --arg id "$id" --arg r "go $tc: $reason" '{id: $id, reason: $r}' >"$out.skip.new"
    printf '%s\n' "$stamp" >"$out.stamp.new"
    printf '    skipped %s: %s\n' "$id" "$reason"
    return 0
  fi
  mv -f "$out.tmp" "$out.new"

  local goversion nm twin=null
  goversion=$("$go" version | awk '{print $3}')
  if [[ $stripped == true ]]; then
    nm=$twin_nm
    twin=$(jq -n --arg p "$FIXTURES/$(fixture_id "$tc" "$arch" "$mode" false "$program")" '$p')
  else
    nm=$("$go" tool nm "$out.new" | grep 'crypto/tls.(\*Config).writeKeyLog$' | awk '{print "0x" $1}' || true)
  fi
  jq -n --arg id "$id" --arg path "$out" --arg program "$program" --arg tc "$tc" --arg gv "$goversion" \
    --arg arch "$arch" --arg mode "$mode" --argjson stripped "$stripped" --argjson twin "$twin" --arg nm "$nm" \
    '{id: $id, path: $path, program: $program, toolchain: $tc, goVersion: $gv, arch: $arch, mode: $mode,
      stripped: $stripped, twin: $twin, nmWriteKeyLog: (if $nm == "" then null else $nm end)}' >"$out.json.new"
  printf '%s\n' "$stamp" >"$out.stamp.new"
  printf '    built %s\n' "$id"
}

# An unstripped/stripped pair: the stripped twin's ground truth comes from the unstripped one's symbols.
build_pair() {
  local tc=$1 arch=$2 mode=$3 program=$4 unstripped nm
  build_one "$tc" "$arch" "$mode" "$program" false "" || return 1
  unstripped=$FIXTURES/$(fixture_id "$tc" "$arch" "$mode" false "$program")
  nm=""
  if [[ -f $unstripped.json.new ]]; then
    nm=$(jq -r '.nmWriteKeyLog // ""' "$unstripped.json.new")
  elif [[ -f $unstripped.json ]]; then
    nm=$(jq -r '.nmWriteKeyLog // ""' "$unstripped.json")
  fi
  build_one "$tc" "$arch" "$mode" "$program" true "$nm"
}

build_c_program() {
  local src=$REPO_ROOT/test/fixtures/c/hello.c out=$FIXTURES/c/hello stamp
  stamp=$(content_hash "$src" "$(gcc --version | head -1)")
  [[ -x $out && -f $out.stamp && $(cat "$out.stamp") == "$stamp" ]] && return 0
  mkdir -p "$FIXTURES/c"
  gcc -O2 -o "$out.tmp" "$src" && mv -f "$out.tmp" "$out" && printf '%s\n' "$stamp" >"$out.stamp"
  printf '    built c/hello\n'
}

# Move every staged fixture into place; a staged skip removes the binary it replaces, and vice versa.
promote_staged() {
  local stamp out suffix
  while IFS= read -r -d '' stamp; do
    out=${stamp%.stamp.new}
    for suffix in "${STAGED_SUFFIXES[@]}"; do
      [[ $suffix == .stamp ]] && continue
      if [[ -f $out$suffix.new ]]; then mv -f "$out$suffix.new" "$out$suffix"; else rm -f "$out$suffix"; fi
    done
    mv -f "$stamp" "$out.stamp"
  done < <(find "$FIXTURES" -name '*.stamp.new' -print0)
}

write_manifest() {
  local tc arch mode program stripped id fixtures=() skipped=()
  while read -r tc arch mode program; do
    for stripped in false true; do
      id=$(fixture_id "$tc" "$arch" "$mode" "$stripped" "$program")
      if [[ -f $FIXTURES/$id.json && -x $FIXTURES/$id ]]; then
        fixtures+=("$FIXTURES/$id.json")
      elif [[ -f $FIXTURES/$id.skip ]]; then
        skipped+=("$FIXTURES/$id.skip")
      fi
    done
  done < <(full_matrix)
  {
    if ((${#fixtures[@]})); then cat "${fixtures[@]}"; fi | jq -s .
    if ((${#skipped[@]})); then cat "${skipped[@]}"; fi | jq -s .
  } | jq -s '{fixtures: .[0], skipped: .[1]}' >"$MANIFEST.tmp"
  publish "$MANIFEST.tmp" "$MANIFEST"
  note "manifest: ${#fixtures[@]} fixtures, ${#skipped[@]} skipped ($MANIFEST)"
}

build_c_program

if $demo; then mapfile -t JOBS < <(demo_matrix); else mapfile -t JOBS < <(full_matrix); fi
failed=0
running=0
for job in "${JOBS[@]}"; do
  read -r tc arch mode program <<<"$job"
  is_fresh "$tc" "$arch" "$mode" false "$program" && is_fresh "$tc" "$arch" "$mode" true "$program" && continue
  build_pair "$tc" "$arch" "$mode" "$program" &
  running=$((running + 1))
  if ((running >= MAX_JOBS)); then
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  fi
done
while ((running > 0)); do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done

promote_staged
write_manifest
((failed == 0)) || die "$failed fixture build(s) failed (logs in $FIXTURES/logs)"
