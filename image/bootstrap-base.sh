#!/bin/sh
# Makes a Debian root file system from Debian's packages, for a base image when no registry can
# provide one: debootstrap a minimal bookworm into a scratch directory and pack it as a tar file
# that `inception build` imports through the engine API.
# Usage: bootstrap-base.sh OUT.tar [SUITE]
# The mirror is the one this machine's apt already uses (INCEPTION_DEBIAN_MIRROR overrides).
set -eu

out=$1
suite=${2:-trixie}

say() { printf 'bootstrap-base: %s\n' "$*" >&2; }

apt_mirror() {
  if [ -n "${INCEPTION_DEBIAN_MIRROR:-}" ]; then
    printf '%s\n' "$INCEPTION_DEBIAN_MIRROR"
    return 0
  fi
  # deb822 sources ("URIs: http://.../debian") first, then one-line sources ("deb URL suite").
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { print $2 }'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
  } | grep -E '/debian/?$' | head -n 1
}

require_root_debootstrap() {
  if [ "$(id -u)" -ne 0 ]; then
    say "debootstrap needs root; run as root, or load a Debian $suite base image into the engine"
    exit 1
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "debootstrap is not installed: apt-get install debootstrap (scripts/ensure-engine.sh does)"
    exit 1
  fi
}

main() {
  require_root_debootstrap
  mirror=$(apt_mirror)
  [ -n "$mirror" ] || { say "no Debian mirror in /etc/apt; set INCEPTION_DEBIAN_MIRROR"; exit 1; }
  dir=$(mktemp -d /var/tmp/inception-base.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  # A debootstrap older than the suite has no script for it (bookworm's knows no forky): every
  # suite since buster is bootstrapped the same way, which is what the sid script does.
  script=/usr/share/debootstrap/scripts/$suite
  [ -f "$script" ] || script=/usr/share/debootstrap/scripts/sid
  say "debootstrap --variant=minbase $suite from $mirror"
  debootstrap --variant=minbase "$suite" "$dir" "$mirror" "$script" >"$dir.log" 2>&1 || {
    tail -n 20 "$dir.log" >&2; rm -f "$dir.log"; exit 1
  }
  rm -f "$dir.log"
  # The image's apt must reach the same mirror; debootstrap wrote it into sources.list already.
  rm -rf "$dir/var/cache/apt/archives"/*.deb "$dir/var/lib/apt/lists"/*
  tar -C "$dir" --numeric-owner -cf "$out" .
  say "packed $(du -h "$out" | cut -f1) into $out"
}

main "$@"
