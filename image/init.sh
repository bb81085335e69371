#!/bin/sh
# inception-init: runs one level of a nest.
#
# It prepares the container for a Docker engine (descriptors, cgroups, devices, data root,
# storage driver), starts dockerd with its output on the container's stdout so `docker logs`
# shows it, reports readiness on the nest's status board (or the step that failed, and why),
# and, when the plan goes deeper, starts the next level from the plan's file for it, as the CLI
# rendered it.
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
# This file is the entry point: the defaults, what every step shares (log, report, fail, the step
# runner), the descriptor step and main, which runs the steps in order through `step` and shows
# which background jobs overlap which steps. The steps are in $INCEPTION_LIB/init/, one file per
# concern: jobs (the background jobs' API), cgroups, storage, network, engine, images (the level
# and busybox images, the image seed), next-level (its data root, its start, the watch on it),
# collapse (SIGTERM), budgets (the truth about a level's budget) and board (this level's details).
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it
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
# The proxy, what bypasses it, and CA certificates (base64 PEM) for this level's engine; empty: none.
: "${INCEPTION_HTTP_PROXY:=}"
: "${INCEPTION_NO_PROXY:=}"
: "${INCEPTION_CA_CERTS:=}"
# This level's dockerd options as the CLI rendered them (its bridge, pool, TLS listener and the
# user's own), space-separated; the init adds only what it decides at run time (engine.sh).
: "${INCEPTION_DOCKERD_OPTIONS:=}"
: "${INCEPTION_READY_TIMEOUT:=60}"
: "${INCEPTION_PRIVILEGE_USED:=unknown}"
# Level 1's only: the plan's files for the levels below (write_plan).
: "${INCEPTION_PLAN:=}"
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

# A step's failure, said by the step: on the board ("failed STEP: REASON", which the CLI shows to
# users, so REASON is written for them) and in the log; then the init ends.
fail() {
  log "error: ${STEP:+$STEP: }$*"
  report "failed ${STEP:+$STEP: }$*"
  exit 1
}

# The step runner. main runs every step as `step TITLE COMMAND [ARG...]`, in this shell (steps set
# what later steps read), and never inside an if, while, until, !, && or || (test/unit/init-steps
# checks main): there set -e would be off for the whole step, and a failed command in it would be
# passed over. So a step ends the init in one of two ways: `fail REASON`, where it checks a
# command itself, or set -e, for any command it does not check; the EXIT trap then puts the
# step's title on the board (report_unexpected_exit). A trap rather than the runner checking the
# step's status: checking would need the step in an `||` list, with set -e off inside it.
STEP=

step() {
  STEP=$1
  shift
  "$@"
  STEP=
}

# main's EXIT trap: an init that ends with a failure no `fail` reported (the board does not say
# failed already) says so, naming the step it was in. Subshells (jobs, command substitutions) do
# not run it: dash resets traps there.
report_unexpected_exit() {
  local status=$? state=
  [ "$status" -ne 0 ] || return 0
  read -r state <"$BOARD_DIR/$BOARD_STATE_PREFIX$INCEPTION_LEVEL" 2>/dev/null || :
  case "$state" in failed*) return 0 ;; esac
  log "error: ${STEP:-the init}: a command failed with status $status (see the log above)"
  report "failed ${STEP:-the init}: a command failed with status $status (see the log above)" || :
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

# shellcheck source=image/init/jobs.sh
. "$INCEPTION_LIB/init/jobs.sh"
# shellcheck source=image/init/cgroups.sh
. "$INCEPTION_LIB/init/cgroups.sh"
# shellcheck source=image/init/storage.sh
. "$INCEPTION_LIB/init/storage.sh"
# shellcheck source=image/init/network.sh
. "$INCEPTION_LIB/init/network.sh"
# shellcheck source=image/init/engine.sh
. "$INCEPTION_LIB/init/engine.sh"
# shellcheck source=image/init/images.sh
. "$INCEPTION_LIB/init/images.sh"
# shellcheck source=image/init/next-level.sh
. "$INCEPTION_LIB/init/next-level.sh"
# shellcheck source=image/init/collapse.sh
. "$INCEPTION_LIB/init/collapse.sh"
# shellcheck source=image/init/budgets.sh
. "$INCEPTION_LIB/init/budgets.sh"
# shellcheck source=image/init/board.sh
. "$INCEPTION_LIB/init/board.sh"

# The steps in order. Comments name the background jobs a step starts or awaits (jobs.sh): each
# runs beside the steps between the two.
main() {
  # Set first, so that a re-exec that fails (exec runs no EXIT trap when it succeeds) is reported.
  trap report_unexpected_exit EXIT
  step "close the inherited descriptors" close_inherited_descriptors "$@"
  trap collapse TERM INT
  report "starting"
  step "make the state folder" mkdir -p "$STATE_DIR"
  step "make the device nodes" setup_devices
  step "mount the data root" setup_data_root
  step "read dockerd's version" read_dockerd_version
  # containerd first (it needs only the data root), since dockerd waits for it: it boots while
  # the cgroups are made writable and the rest is decided.
  step "start containerd" start_containerd                          # starts containerd
  step "make the cgroup hierarchies writable" setup_cgroups
  step "show this level its budget" start_proc_view                 # starts lxcfs (level 1 of a nest with budgets)
  step "count the OOM kills at this level's budget" start_oom_count # starts oom_count
  step "choose a storage driver" choose_storage_driver
  step "unpack the image seed" start_image_seed                     # starts seed_store, seed_layers
  step "prepare level $NEXT_LEVEL's data root" start_preparing_next_level # starts next_data_root
  step "choose the iptables backend" choose_iptables
  step "choose the MTU" choose_mtu
  step "start containerd" wait_for_containerd                       # containerd listens
  step "unpack the image seed" finish_image_seed                    # awaits seed_store
  step "prepare level $NEXT_LEVEL's data root" await_next_data_root # awaits next_data_root
  step "show this level its budget" mount_proc_view                 # lxcfs shows its files
  step "start dockerd" start_dockerd                                # starts dockerd
  step "start dockerd" wait_for_dockerd                             # dockerd answers
  log "dockerd $DOCKERD_VERSION answers"
  step "import the images" ensure_images                            # awaits seed_layers; level_image
  if [ "$INCEPTION_MAKE_SEED" = 1 ]; then
    step "write the image seed" write_image_seed                    # stops dockerd, containerd
  fi
  if [ "$INCEPTION_LEVEL" -lt "$INCEPTION_DEPTH" ]; then
    step "start level $NEXT_LEVEL" launch_next_level                # starts next_level_watch
  fi
  step "write the docker CLI's settings" write_client_config
  step "publish this level's details" publish_level_info
  report "ready $STORAGE_DRIVER"
  log "level $INCEPTION_LEVEL ready (storage driver $STORAGE_DRIVER)"
  step "run dockerd" run_until_dockerd_ends                         # awaits dockerd
}

# The container lives as long as its engine does.
run_until_dockerd_ends() {
  local status=0
  await_job dockerd || status=$?
  fail "dockerd exited with status $status"
}

# Sourced by the tests (INCEPTION_INIT_SOURCED=1), which run single steps on fake trees.
[ "${INCEPTION_INIT_SOURCED:-}" = 1 ] || main "$@"
