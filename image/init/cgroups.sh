# The init's cgroup steps: make this level's cgroup hierarchies usable by its dockerd, on cgroup
# v1 (each read-only hierarchy mounted again, writable) and on cgroup v2 (processes moved out of
# the root cgroup, controllers enabled for the children). Sourced by init.sh.
# shellcheck shell=sh

# The cgroup file system; INCEPTION_CGROUP_ROOT moves it, so that tests can run these steps on a
# fake tree (with a fake mount table, $PROC/self/mounts, for cgroup v1).
CGROUP_ROOT=${INCEPTION_CGROUP_ROOT:-/sys/fs/cgroup}

# On cgroup v1 a container that is not --privileged gets every hierarchy mounted read-only, and
# dockerd cannot create its own cgroups ("mkdir /sys/fs/cgroup/cpuset/docker: read-only file
# system"). Mounting each hierarchy again inside the container's own cgroup namespace makes it
# writable, and keeps the level's children inside the level's cgroup. The read-only mount is
# detached lazily (umount -l): a plain unmount failed now and then with "umount:
# /sys/fs/cgroup/memory: target is busy", and the kernel refuses a second mount on top.
setup_cgroup_v1() {
  if ! mountpoint -q "$CGROUP_ROOT"; then
    mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup "$CGROUP_ROOT"
  elif ! touch "$CGROUP_ROOT/.inception-rw" 2>/dev/null; then
    mount -o remount,rw "$CGROUP_ROOT"
  fi
  rm -f "$CGROUP_ROOT/.inception-rw"
  # /proc/self/mounts lines: "cgroup /sys/fs/cgroup/cpu cgroup ro,nosuid,...,cpu 0 0". One awk
  # prints "DIR SUBSYSTEMS" for each read-only hierarchy (this runs at every level: keep it cheap).
  # The list is read whole before anything is remounted: a remount moves its entry to the end
  # of the mount table, and a reader still walking the table can then skip the next entry
  # (seen: memory left read-only now and then, and runc failing to create the next level).
  read_only_hierarchies=$(awk '$3 == "cgroup" && ("," $4 ",") ~ /,ro,/ {
    n = split($4, opts, ","); subsystems = ""
    for (i = 1; i <= n; i++)
      if (opts[i] !~ /^(ro|rw|nosuid|nodev|noexec|relatime|noatime|nodiratime|clone_children)$/)
        subsystems = subsystems (subsystems == "" ? "" : ",") opts[i]
    print $2, subsystems
  }' "$PROC/self/mounts")
  printf '%s\n' "$read_only_hierarchies" | while read -r dir subsystems; do
    [ -n "$dir" ] || continue
    # Errors are checked by hand: this runs as `setup_cgroups || fail`, where set -e is off.
    umount -l "$dir" || exit 1
    mount -t cgroup -o "$subsystems" cgroup "$dir" || exit 1
  done || return 1
  read_only=$(awk '$3 == "cgroup" && ("," $4 ",") ~ /,ro,/ { print $2 }' "$PROC/self/mounts")
  if [ -n "$read_only" ]; then
    log "cgroup hierarchies still read-only: $read_only"
    return 1
  fi
}

# cgroup v2 (moby hack/dind): move every process out of the root cgroup into "init", so that
# controllers can be enabled for the children dockerd will create. Every level runs it in its
# own cgroup namespace, where its cgroup is the root, so it is the same step at every depth, and
# running it twice changes nothing. What it writes is checked: a process that cannot be moved
# (and still exists) or a refused controller is an error. An empty controller list is not (a
# hierarchy may have none, as the controller-less cgroup2 beside v1 controllers); nothing is
# written then, since the kernel refuses a lone "+".
setup_cgroup_v2() {
  root=$CGROUP_ROOT
  if ! touch "$root/.inception-rw" 2>/dev/null; then
    mount -o remount,rw "$root" || return 1
  fi
  rm -f "$root/.inception-rw"
  mkdir -p "$root/init" || return 1
  # Read whole first: moving processes changes the list under a reader.
  pids=$(cat "$root/cgroup.procs") || return 1
  for pid in $pids; do
    # A process that ended since the list was read needs no moving.
    echo "$pid" >>"$root/init/cgroup.procs" 2>/dev/null || [ ! -d "$PROC/$pid" ] || {
      log "cannot move process $pid into $root/init"
      return 1
    }
  done
  controllers=$(cat "$root/cgroup.controllers")
  if [ -z "$controllers" ]; then
    log "cgroup v2 without controllers: levels run, but limits on containers cannot be set"
    return 0
  fi
  # shellcheck disable=SC2086 # one word per controller
  printf '+%s ' $controllers >"$root/cgroup.subtree_control" || {
    log "cannot enable the controllers $controllers in $root/cgroup.subtree_control"
    return 1
  }
}

setup_cgroups() {
  if [ -f "$CGROUP_ROOT/cgroup.controllers" ]; then
    setup_cgroup_v2
  else
    setup_cgroup_v1
  fi
}
