# The init's cgroup steps: make this level's cgroup hierarchies usable by its dockerd, on cgroup
# v1 (each read-only hierarchy mounted again, writable) and on cgroup v2 (processes moved out of
# the root cgroup, controllers enabled for the children). Each failure fails the level, saying
# why. Sourced by init.sh.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

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
  local read_only_hierarchies read_only dir subsystems
  if ! mountpoint -q "$CGROUP_ROOT"; then
    mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup "$CGROUP_ROOT" || fail "cannot mount a tmpfs on $CGROUP_ROOT"
  elif ! touch "$CGROUP_ROOT/.inception-rw" 2>/dev/null; then
    mount -o remount,rw "$CGROUP_ROOT" || fail "cannot make $CGROUP_ROOT writable"
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
  # A here-document, not a pipe: the loop runs in this shell, so that fail ends the init.
  while read -r dir subsystems; do
    [ -n "$dir" ] || continue
    umount -l "$dir" || fail "cannot unmount the read-only cgroup hierarchy $dir"
    mount -t cgroup -o "$subsystems" cgroup "$dir" || fail "cannot mount the cgroup hierarchy $dir ($subsystems) again"
  done <<EOF
$read_only_hierarchies
EOF
  read_only=$(awk '$3 == "cgroup" && ("," $4 ",") ~ /,ro,/ { printf "%s%s", sep, $2; sep = " " }' "$PROC/self/mounts")
  [ -z "$read_only" ] || fail "cgroup hierarchies still read-only: $read_only"
}

# cgroup v2 (moby hack/dind): move every process out of the root cgroup into "init", so that
# controllers can be enabled for the children dockerd will create. Every level runs it in its
# own cgroup namespace, where its cgroup is the root, so it is the same step at every depth, and
# running it twice changes nothing. What it writes is checked: a process that cannot be moved
# (and still exists) or a refused controller is an error. An empty controller list is not (a
# hierarchy may have none, as the controller-less cgroup2 beside v1 controllers); nothing is
# written then, since the kernel refuses a lone "+".
setup_cgroup_v2() {
  local root="$CGROUP_ROOT" pids pid controllers
  if ! touch "$root/.inception-rw" 2>/dev/null; then
    mount -o remount,rw "$root" || fail "cannot make $root writable"
  fi
  rm -f "$root/.inception-rw"
  mkdir -p "$root/init" || fail "cannot make the cgroup $root/init"
  # Read whole first: moving processes changes the list under a reader.
  pids=$(cat "$root/cgroup.procs") || fail "cannot read $root/cgroup.procs"
  for pid in $pids; do
    # A process that ended since the list was read needs no moving.
    echo "$pid" >>"$root/init/cgroup.procs" 2>/dev/null || [ ! -d "$PROC/$pid" ] ||
      fail "cannot move process $pid into $root/init"
  done
  controllers=$(cat "$root/cgroup.controllers") || fail "cannot read $root/cgroup.controllers"
  if [ -z "$controllers" ]; then
    log "cgroup v2 without controllers: levels run, but limits on containers cannot be set"
    return 0
  fi
  # shellcheck disable=SC2086 # one word per controller
  printf '+%s ' $controllers >"$root/cgroup.subtree_control" ||
    fail "cannot enable the controllers $controllers in $root/cgroup.subtree_control"
}

setup_cgroups() {
  if [ -f "$CGROUP_ROOT/cgroup.controllers" ]; then
    setup_cgroup_v2
  else
    setup_cgroup_v1
  fi
}
