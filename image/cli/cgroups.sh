# What the CLI's scripts in level 1 (board-read.sh, shortcut.sh) know of the levels below: where
# each level's cgroup is, which processes are in it, which of them is the level's init. They come
# after the contract's shell half and this file, in one `sh -c` (src/nesting/level-scripts.ts),
# and run in the board's directory (BOARD_DIR).
# shellcheck shell=sh

# The cgroup and proc file systems; INCEPTION_CGROUP_ROOT and INCEPTION_PROC move them, as they do
# the init's, so that tests can run these scripts on fake trees.
CGROUP_ROOT=${INCEPTION_CGROUP_ROOT:-/sys/fs/cgroup}
PROC=${INCEPTION_PROC:-/proc}

# Prints "K CGROUP" for every level K from 2 on (up to level $1 when given): its cgroup, seen from
# level 1's private cgroup namespace, is /docker/ID2/docker/ID3/.../docker/IDK, because each
# level's engine puts its containers under /docker of its own namespace, and the ids are on the
# board. Stops at the first level whose id is not there (a level on its way up, or none deeper).
level_cgroups() {
  k=2 cgroup=""
  while [ -z "${1:-}" ] || [ "$k" -le "$1" ]; do
    id=$(sed -n 's/^id=//p' "$BOARD_INFO_PREFIX$k" 2>/dev/null)
    [ -n "$id" ] || return 0
    cgroup="$cgroup/docker/$id"
    echo "$k $cgroup"
    k=$((k + 1))
  done
}

# The processes of the level whose cgroup is $1, one a line. cgroup v1: its pids hierarchy; v2:
# its init cgroup, where the level's init moves its processes (the level's cgroup itself is then
# empty), then its own.
level_processes() {
  for procs in "$CGROUP_ROOT/pids$1/cgroup.procs" "$CGROUP_ROOT$1/init/cgroup.procs" "$CGROUP_ROOT$1/cgroup.procs"; do
    cat "$procs" 2>/dev/null
  done
}

# The init of level $2, whose cgroup is $1: the one process there that is PID 1 of a PID namespace
# $2 deep, not a process at that level that made a namespace of its own.
level_init() {
  for p in $(level_processes "$1"); do
    if [ "$(awk '/^NSpid:/ { print NF - 1, $NF }' "$PROC/$p/status" 2>/dev/null)" = "$2 1" ]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# Moves this shell into the cgroups of the level whose cgroup is $1, as docker exec would: what
# runs there counts there, and shows there. v1: every hierarchy; v2: the level's init cgroup,
# where its init moved its processes.
join_level_cgroup() {
  for procs in "$CGROUP_ROOT"/*"$1"/cgroup.procs "$CGROUP_ROOT$1/init/cgroup.procs"; do
    [ -f "$procs" ] && echo "$$" 2>/dev/null >"$procs"
  done
}
