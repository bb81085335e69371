# The init's steps for a nest with budgets (src/nesting/budgets.ts): the kernel enforces them
# (level 1's container is bounded by the host's engine, each deeper one by its parent's); what is
# left to a level is to tell the truth about them. Sourced by init.sh.
# - Level 1 runs lxcfs and mounts its files over its own /proc, so that free, top and dockerd
#   (docker info's MemTotal) read the level's budget rather than the host's memory; each level
#   below gets the same files over its /proc from its parent (the plan mounts them), and lxcfs
#   answers each reader with the figures of its own cgroup. nproc and docker info's NCPU count the
#   CPUs a process may run on, which the plan's CPU list sets.
# - On cgroup v1, a level with a memory budget counts the OOM kills at it (oom-count.pl).
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

: "${INCEPTION_PROC_VIEW:=}"
: "${INCEPTION_OOM_COUNT:=}"

# How long lxcfs has to show its files (it took 14 ms, measured).
LXCFS_WAIT_TENTHS=50

# lxcfs reads the real /proc/meminfo, /proc/stat... to compute its own: it runs in a mount
# namespace of its own, where /proc stays as it is when the init puts lxcfs's files over this
# level's (seen: in the same namespace, lxcfs read its own files and every reader hung). Its
# mount point is shared between the two namespaces, so its file system shows in this one.
start_proc_view() {
  [ "$INCEPTION_PROC_VIEW" = serve ] || return 0
  [ -c /dev/fuse ] || fail "no /dev/fuse, which lxcfs needs to show this level its budget"
  mkdir -p "$LXCFS_DIR" || fail "cannot make $LXCFS_DIR"
  mount --bind "$LXCFS_DIR" "$LXCFS_DIR" || fail "cannot make $LXCFS_DIR a mount point"
  mount --make-shared "$LXCFS_DIR" || fail "cannot make $LXCFS_DIR a shared mount point"
  # Its messages go to the level's log, beside dockerd's.
  # shellcheck disable=SC2016 # expanded by the shell in lxcfs's namespace, from its arguments
  start_job lxcfs unshare --mount --propagation unchanged sh -c 'mount --make-rprivate "$1" && exec lxcfs "$2"' lxcfs "$PROC" "$LXCFS_DIR"
}

# Puts lxcfs's files over this level's /proc, once it shows them (before dockerd starts, which
# reads them, and before the next level, which mounts them from here).
mount_proc_view() {
  local tenths=0 file
  [ "$INCEPTION_PROC_VIEW" = serve ] || return 0
  until [ -f "$LXCFS_DIR/proc/meminfo" ]; do
    job_running lxcfs || fail "lxcfs ended before it showed its files (see the log above)"
    [ "$tenths" -lt "$LXCFS_WAIT_TENTHS" ] || fail "lxcfs did not show its files in $((LXCFS_WAIT_TENTHS / 10)) s"
    sleep 0.1
    tenths=$((tenths + 1))
  done
  for file in $LXCFS_PROC_FILES; do
    mount --bind "$LXCFS_DIR/proc/$file" "$PROC/$file" || fail "cannot mount lxcfs's $file over $PROC/$file"
  done
}

# cgroup v1 only: v2 counts the kills in the level's own memory.events, which ps reads.
start_oom_count() {
  [ "$INCEPTION_OOM_COUNT" = 1 ] && [ -f "$CGROUP_ROOT/memory/memory.oom_control" ] || return 0
  start_job oom_count perl "$INCEPTION_LIB/init/oom-count.pl" "$CGROUP_ROOT/memory" "$BOARD_DIR/$BOARD_OOM_PREFIX$INCEPTION_LEVEL"
}
