#!/bin/sh
# inception-init: runs one level of a nest.
#
# It prepares the container for a Docker engine (descriptors, cgroups, devices, data root,
# storage driver), starts dockerd with its output on the container's stdout so `docker logs`
# shows it, reports readiness on the nest's status board, and, when the plan goes deeper,
# starts the next level from the plan's file for it, as the CLI rendered it.
#
# It stays PID 1 as a small supervisor rather than exec'ing dockerd: on SIGTERM it has its
# engine remove every container it runs (the next level's namespace ends every level below),
# then exits (see collapse); and the container must end when dockerd ends, which `wait` on
# dockerd gives us.
#
# Everything comes in through INCEPTION_* variables, rendered by the CLI for every level (level
# 1's on its container, the others' in the plan). What they mean, and every other fact the CLI
# and this init share (board files, the plan's folder, names, the image seed's folder), is owned
# by src/nesting/contract.ts, whose shell half (contract.sh) is sourced here.
#
# This file is the entry point: the defaults, what every step shares (log, report, fail), the
# descriptor step and main, which runs the steps in order. The steps are in
# $INCEPTION_LIB/init/, one file per concern: cgroups, storage, network, engine, levels.
set -eu

INCEPTION_LIB=${INCEPTION_LIB:-/usr/local/lib/inception}
# The status board (BOARD_DIR): a directory shared by every level of the nest. Level 1 owns it;
# each level bind-mounts it into the next, so one read in level 1 shows the state of every level.
# The daemons' TLS material (TLS_DIR) is put into level 1 by the CLI and passed down read-only;
# the CA's key never enters the nest.
# shellcheck source=image/contract.sh
. "$INCEPTION_LIB/contract.sh"

: "${INCEPTION_LEVEL:=1}"
: "${INCEPTION_DEPTH:=$INCEPTION_LEVEL}"
: "${INCEPTION_NEST:=inception}"
: "${INCEPTION_VERSION:=dev}"
: "${INCEPTION_STORAGE_DRIVER:=overlay2}"
: "${INCEPTION_DATA_ROOT:=volume}"
# This level's MTU; empty: it takes its uplink's.
: "${INCEPTION_MTU:=}"
# This level's dockerd options as the CLI rendered them (its bridge, pool, TLS listener and the
# user's own), space-separated; the init adds only what it decides at run time (engine.sh).
: "${INCEPTION_DOCKERD_OPTIONS:=}"
: "${INCEPTION_READY_TIMEOUT:=60}"
: "${INCEPTION_PRIVILEGE_USED:=unknown}"
# 1: a throwaway level of `inception build` that writes the image seed and ends (write_image_seed).
: "${INCEPTION_MAKE_SEED:=}"

# The roots the steps read and write: the real ones, unless a test points them at a fake tree
# (INCEPTION_PROC, INCEPTION_DATA_DIR; the cgroup and network steps have their own).
PROC=${INCEPTION_PROC:-/proc}
# This engine's data directory, where the data root is mounted: dockerd's and containerd's
# default, so neither is told.
DATA_DIR=${INCEPTION_DATA_DIR:-/var/lib/docker}

log() { printf 'inception-init[level %s]: %s\n' "$INCEPTION_LEVEL" "$*" >&2; }

report() {
  # One line per level: STATE [detail]. Written whole then renamed, so a reader never sees half.
  mkdir -p "$BOARD_DIR"
  printf '%s\n' "$*" >"$BOARD_DIR/.$BOARD_STATE_PREFIX$INCEPTION_LEVEL.tmp"
  mv -f "$BOARD_DIR/.$BOARD_STATE_PREFIX$INCEPTION_LEVEL.tmp" "$BOARD_DIR/$BOARD_STATE_PREFIX$INCEPTION_LEVEL"
}

fail() {
  log "error: $*"
  report "failed $*"
  exit 1
}

# wrapdocker's fix: a descriptor inherited from whatever started this container (a terminal, the
# CLI's pipes, a parent's log) would otherwise stay open in dockerd and in every deeper level.
# dash cannot close descriptors above 9, so the init re-executes itself once through perl-base
# (Essential in Debian, so always present), which closes every descriptor but 0, 1 and 2.
close_inherited_descriptors() {
  if [ -n "${INCEPTION_DESCRIPTORS_CLOSED:-}" ]; then
    unset INCEPTION_DESCRIPTORS_CLOSED
    return 0
  fi
  export INCEPTION_DESCRIPTORS_CLOSED=1
  exec perl -e '
    opendir(my $dir, "/proc/self/fd") or die "inception-init: /proc/self/fd: $!\n";
    my @inherited = grep { /^\d+$/ && $_ > 2 } readdir($dir);
    closedir($dir);
    require POSIX;
    POSIX::close($_) for @inherited;
    exec { $ARGV[0] } @ARGV or die "inception-init: exec $ARGV[0]: $!\n";
  ' /bin/sh "$0" "$@"
}

# shellcheck source=image/init/cgroups.sh
. "$INCEPTION_LIB/init/cgroups.sh"
# shellcheck source=image/init/storage.sh
. "$INCEPTION_LIB/init/storage.sh"
# shellcheck source=image/init/network.sh
. "$INCEPTION_LIB/init/network.sh"
# shellcheck source=image/init/engine.sh
. "$INCEPTION_LIB/init/engine.sh"
# shellcheck source=image/init/levels.sh
. "$INCEPTION_LIB/init/levels.sh"

main() {
  close_inherited_descriptors "$@"
  trap collapse TERM INT
  mkdir -p "$STATE_DIR" "$BOARD_DIR"
  report "starting"
  # containerd first (it needs only the data root), since dockerd waits for it: it boots
  # while the cgroups are made writable and the rest is decided.
  setup_devices
  setup_data_root
  read_dockerd_version
  start_containerd
  setup_cgroups || fail "cannot make the cgroup hierarchies writable"
  choose_storage_driver
  start_image_seed
  start_preparing_next_level
  choose_iptables
  choose_mtu
  wait_for_containerd
  finish_image_seed
  wait_for_next_level_preparation
  start_dockerd
  wait_for_dockerd
  log "dockerd $DOCKERD_VERSION answers"
  ensure_images
  [ "$INCEPTION_MAKE_SEED" != 1 ] || write_image_seed
  if [ "$INCEPTION_LEVEL" -lt "$INCEPTION_DEPTH" ]; then
    launch_next_level
  fi
  publish_level_info
  report "ready $STORAGE_DRIVER"
  log "level $INCEPTION_LEVEL ready (storage driver $STORAGE_DRIVER)"
  # The container lives as long as its engine does. `wait` returns early when a trapped signal
  # arrives, so loop until dockerd has really gone.
  while kill -0 "$DOCKERD_PID" 2>/dev/null; do
    wait "$DOCKERD_PID" || :
  done
  report "failed dockerd exited"
  exit 1
}

# Sourced by the tests (INCEPTION_INIT_SOURCED=1), which run single steps on fake trees.
[ "${INCEPTION_INIT_SOURCED:-}" = 1 ] || main "$@"
