#!/usr/bin/env bash
# Download the Prometheus-family tools the tests run, at the exact Debian unstable versions
# pinned in tools/tool-versions.txt, and unpack them into .tools/ (binaries linked in
# .tools/bin). apt runs with a private state under .tools/apt (own sources list, lists and
# cache; the system's sources, preferences and dpkg status are not read): nothing is
# installed on the system and no service is started.
#
#   tools/fetch_tools.sh     (what `make tools` runs; a no-op when .tools/bin is up to date)
#
# DEBIAN_MIRROR overrides the mirror (default: the one the machine's own apt sources use).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSIONS_FILE="$ROOT/tools/tool-versions.txt"
TOOLS="$ROOT/.tools"
APT_DIR="$TOOLS/apt"
PKGS="$TOOLS/pkgs"
BIN="$TOOLS/bin"
STAMP="$BIN/.stamp"
SUITE=unstable
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# The binaries each package ships in /usr/bin (checked against the .debs) and the extra
# names we link to them.
declare -A BINARIES=(
  [prometheus]="prometheus"
  [promtool]="promtool"
  [prometheus-alertmanager]="prometheus-alertmanager amtool"
  [prometheus-node-exporter]="prometheus-node-exporter"
  [prometheus-blackbox-exporter]="prometheus-blackbox-exporter"
)
declare -A ALIASES=(
  [alertmanager]="prometheus-alertmanager"
)

die() { echo "fetch_tools.sh: $*" >&2; exit 1; }

[ -r "$VERSIONS_FILE" ] || die "missing $VERSIONS_FILE"
declare -A PINNED=()
PACKAGES=()
while read -r package version _; do
  case "$package" in ''|'#'*) continue ;; esac
  [ -n "$version" ] || die "no version for $package in $VERSIONS_FILE"
  [ -n "${BINARIES[$package]:-}" ] || die "$package in $VERSIONS_FILE: unknown package (add its binaries to BINARIES in tools/fetch_tools.sh)"
  PINNED[$package]="$version"
  PACKAGES+=("$package")
done < "$VERSIONS_FILE"
for package in "${!BINARIES[@]}"; do
  [ -n "${PINNED[$package]:-}" ] || die "$package has no pinned version in $VERSIONS_FILE"
done

# The upstream version a binary prints for Debian version [epoch:]upstream[+dsN]-revision.
upstream() { local v="${1#*:}"; v="${v%-*}"; echo "${v%%+*}"; }

want_stamp() {
  { sha256sum "$VERSIONS_FILE" "${BASH_SOURCE[0]}" | cut -d' ' -f1; uname -m; }
}

verify() {
  local package binary out
  for package in "${PACKAGES[@]}"; do
    for binary in ${BINARIES[$package]}; do
      [ -x "$BIN/$binary" ] || return 1
      out="$(timeout 20 "$BIN/$binary" --version 2>&1)" || { echo "$BIN/$binary --version failed: $out" >&2; return 1; }
      grep -qF "$(upstream "${PINNED[$package]}")" <<<"$out" \
        || { echo "$BIN/$binary --version does not report $(upstream "${PINNED[$package]}"): $out" >&2; return 1; }
    done
  done
  for alias in "${!ALIASES[@]}"; do
    [ -x "$BIN/$alias" ] || return 1
  done
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_stamp)" ] && verify 2>/dev/null; then
  exit 0
fi

command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg (a Debian machine)"
[ -r "$KEYRING" ] || die "missing $KEYRING (Debian package debian-archive-keyring)"

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # The machine's own Debian mirror (deb822 .sources or one-line sources.list), not -security.
  mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n' | grep -E '/debian/?$' | head -n1 || true)"
  [ -n "$mirror" ] || mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\/debian\/\?\)[[:space:]].*/\2/p' | head -n1 || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi
mirror="${mirror%/}"

mkdir -p "$APT_DIR/etc" "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs" "$PKGS" "$BIN"
echo "deb [signed-by=$KEYRING] $mirror $SUITE main" > "$APT_DIR/etc/sources.list"
arch="$(dpkg --print-architecture)"
APT_OPTS=(
  -o "Dir::Etc::SourceList=$APT_DIR/etc/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::Etc::Preferences=/dev/null"
  -o "Dir::Etc::PreferencesParts=/dev/null"
  -o "Dir::State::Lists=$APT_DIR/lists"
  -o "Dir::State::status=/dev/null"
  -o "Dir::Cache=$APT_DIR/cache"
  -o "APT::Architecture=$arch"
  -o "APT::Architectures=$arch"
)
# As root apt downloads as the _apt user, who may not be able to write into this checkout.
[ "$(id -u)" = 0 ] && APT_OPTS+=(-o "APT::Sandbox::User=root")

echo "fetch_tools.sh: apt-get update ($mirror $SUITE, private state in $APT_DIR)"
timeout 600 apt-get "${APT_OPTS[@]}" -qq update || die "apt-get update of $mirror $SUITE failed"

missing=0
for package in "${PACKAGES[@]}"; do
  # madison: "package | version | source"; `apt-cache show pkg=version` exits 0 on a missing version.
  if ! apt-cache "${APT_OPTS[@]}" madison "$package" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep -qxF "${PINNED[$package]}"; then
    available="$(apt-cache "${APT_OPTS[@]}" policy "$package" 2>/dev/null | sed -n 's/^[[:space:]]*Candidate:[[:space:]]*//p')"
    echo "fetch_tools.sh: $package ${PINNED[$package]} (pinned in tools/tool-versions.txt) is not in Debian $SUITE any more;" \
         "apt-cache policy $package shows ${available:-no version}. Put that version in tools/tool-versions.txt and run make tools again." >&2
    missing=1
  fi
done
[ "$missing" = 0 ] || exit 1

pins=()
for package in "${PACKAGES[@]}"; do pins+=("$package=${PINNED[$package]}"); done
rm -f "$APT_DIR/debs"/*.deb
(cd "$APT_DIR/debs" && timeout 600 apt-get "${APT_OPTS[@]}" -qq download "${pins[@]}") || die "apt-get download ${pins[*]} failed"

rm -f "$STAMP"
for package in "${PACKAGES[@]}"; do
  deb=("$APT_DIR/debs/${package}_"*.deb)
  [ -f "${deb[0]}" ] || die "apt-get download left no .deb for $package"
  rm -rf "${PKGS:?}/$package"
  dpkg -x "${deb[0]}" "$PKGS/$package"
  for binary in ${BINARIES[$package]}; do
    [ -x "$PKGS/$package/usr/bin/$binary" ] || die "$package ${PINNED[$package]} has no usr/bin/$binary"
    ln -sfn "../pkgs/$package/usr/bin/$binary" "$BIN/$binary"
  done
done
for alias in "${!ALIASES[@]}"; do
  ln -sfn "${ALIASES[$alias]}" "$BIN/$alias"
done
rm -f "$APT_DIR/debs"/*.deb "$APT_DIR/cache/archives"/*.deb

verify || die "the unpacked binaries do not run or do not report the pinned versions (see above)"
want_stamp > "$STAMP"
for package in "${PACKAGES[@]}"; do
  echo "fetch_tools.sh: $package ${PINNED[$package]}: ${BINARIES[$package]} -> $BIN"
done
