#!/bin/sh
# Packs, at image build time, the two small images every level imports into its own engine:
# - the level image: the root file system minus /usr, which each level passes down read-only,
#   so a level starts the next without copying the 370 MB of programs. The dpkg and apt
#   databases stay out too (3 MB, most of what is left): with /usr read-only, packages cannot be
#   installed below level 1 anyway; the alternatives stay, the init switches iptables with them.
# - busybox: one static binary and its applet links, a small image any level can `docker run`
#   without a registry (tests, the demo's web server, users' first container).
# Usage: pack-images.sh DIR
set -eu

out=$1

pack_level_rootfs() {
  cd /
  tar --numeric-owner --one-file-system \
      --exclude=./usr --exclude=./proc --exclude=./sys --exclude=./dev \
      --exclude=./var/lib/docker --exclude=./tmp/* --exclude=./run/* \
      --exclude=./var/log/* --exclude=./var/cache/* --exclude=./root/.cache \
      --exclude=./var/lib/dpkg/info --exclude=./var/lib/dpkg/status* --exclude=./var/lib/dpkg/available* \
      --exclude=./var/lib/apt --exclude=./etc/apt \
      -cf "$out/level-rootfs.tar" .
}

pack_busybox() {
  dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
  tar --numeric-owner -C "$dir" -cf "$out/busybox-rootfs.tar" .
  rm -rf "$dir"
}

pack_level_rootfs
pack_busybox
ls -l "$out"
