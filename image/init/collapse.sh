# The init's end on SIGTERM (a `docker stop` of this level, or its engine stopping): the nest
# below ends at once, as `inception down` ends a nest, and so does this level. Sourced by init.sh.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

COLLAPSING=

# See end_nested_levels.
# shellcheck disable=SC2317 # reached through the trap in main
collapse() {
  [ -n "$COLLAPSING" ] && return 0
  COLLAPSING=1
  : >"$STATE_DIR/collapse-started"
  rm -f "$BOARD_DIR/$BOARD_STATE_PREFIX$INCEPTION_LEVEL" "$BOARD_DIR/$BOARD_INFO_PREFIX$INCEPTION_LEVEL" "$BOARD_DIR/$BOARD_OOM_PREFIX$INCEPTION_LEVEL"
  end_nested_levels
  log "level $INCEPTION_LEVEL collapsed"
  exit 0
}

# This level's engine removes every container it runs, the next level included (killed: its
# init is PID 1 of a namespace that holds every level below it), and with each its cgroups,
# wherever its layout puts them: under this level's own cgroup with a cgroup namespace of its
# own, at the top of the host's hierarchy without one (as under Podman here). Then the folder it
# kept them in goes too when it is this level's own. Leaving the levels below to the kernel (PID 1
# exiting) left their cgroups behind where they were not under this level's, and the host's engine,
# stopping, left level 1's behind (with that empty folder in it) in about one restart in five.
# shellcheck disable=SC2317 # reached through collapse
end_nested_levels() {
  local ids dir
  if job_started dockerd; then
    ids=$(docker ps -aq 2>/dev/null || :)
    # shellcheck disable=SC2086 # container IDs: hexadecimal
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || :
  fi
  own_cgroup_namespace || return 0
  for dir in "$CGROUP_ROOT"/*/docker "$CGROUP_ROOT"/docker; do
    if [ -d "$dir" ]; then rmdir "$dir" 2>/dev/null || :; fi
  done
}

# Whether this level sees its own cgroup as the root of every hierarchy (cgroup v2: its init
# moved into init/), as in a private cgroup namespace.
own_cgroup_namespace() {
  awk -F: '$3 != "/" && $3 != "/init" { found = 1 } END { exit found }' "$PROC/self/cgroup"
}
