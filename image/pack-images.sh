#!/bin/sh
# Packs, at image build time, the two small images every level imports into its own engine:
# - the level image: the root file system minus /usr, which each level passes down read-only,
#   so a level starts the next without copying the 370 MB of programs. The dpkg and apt
#   databases stay out too (3 MB, most of what is left): with /usr read-only, packages cannot be
#   installed below level 1 anyway; the alternatives stay, the init switches iptables with them.
#   The 296 links in /etc/ssl/certs (one per certificate, one per subject hash) stay out too,
#   not the bundle they duplicate, ca-certificates.crt, which Go (dockerd), curl and OpenSSL
#   read: level 1 unpacks these files into its data root before it can start level 2, and on
#   the ext4 of the virtual disks measured every new inode costs 0.6 to 1 ms of system time (a hard
#   link 0.02 ms). For the same reason the service managers' files stay out (/etc/init.d, rc?.d,
#   systemd, runit: 86 entries with lxcfs's and procps's): a level's only PID 1 is its init.
# - busybox: the binary, its applet links and the few shared libraries it loads, a small image
#   any level can `docker run` without a registry (tests, the demo's web server, users' first
#   container). The dynamically linked busybox, not the static one: a static glibc cannot load
#   the name-service code that getaddrinfo needs, and crashes as soon as a name is looked up
#   (`wget http://web/` on a user network). glibc's files and dns lookups are built into libc.
#   Its applets are hard links to it, as in the official busybox image: 271 symbolic links were
#   271 new inodes for level 1 to create as it unpacks (0.2 s here), hard links none.
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
      --exclude='./etc/ssl/certs/*.pem' --exclude='./etc/ssl/certs/*.[0-9]' \
      --exclude=./etc/init.d --exclude='./etc/rc?.d' --exclude=./etc/systemd --exclude=./var/lib/systemd \
      --exclude=./etc/runit --exclude=./etc/sv --exclude=./etc/sysctl.d \
      -cf "$out/level-rootfs.tar" .
}

# Copies a program's shared libraries (as ldd names them) into DIR, at the same paths.
copy_libraries() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r library; do
      mkdir -p "$2$(dirname "$library")"
      cp -L "$library" "$2$library"
    done
}

pack_busybox() {
  dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root"
  cp /bin/busybox "$dir/bin/busybox"
  copy_libraries /bin/busybox "$dir"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln "$dir/bin/busybox" "$dir/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  printf 'hosts: files dns\n' >"$dir/etc/nsswitch.conf"
  chmod 1777 "$dir/tmp"
  tar --numeric-owner -C "$dir" -cf "$out/busybox-rootfs.tar" .
  rm -rf "$dir"
}

pack_level_rootfs
pack_busybox
ls -l "$out"
