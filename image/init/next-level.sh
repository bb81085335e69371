# The init's steps towards the next level: its data root (this engine's images, given before it
# starts), its start from the plan's file for it, and the watch on it. Sourced by init.sh.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

NEXT_LEVEL=$((INCEPTION_LEVEL + 1))
# The next level's data root: a directory in this one, bind-mounted at its /var/lib/docker. Not a
# volume of this engine: a directory can be made and filled before this engine answers, a
# volume only after (and `docker volume create` is one more docker CLI run a level). It goes
# with this level's data root, as a volume would, and the host's engine removes level 1's.
NEXT_DATA_ROOT=$DATA_DIR/$CHILD_DATA_ROOT_PREFIX$NEXT_LEVEL

# Capabilities "--cap-add ALL" would ask for that this level cannot pass on, among those dockerd
# 20.10 can name (DOCKER_20_CAPABILITIES, by bit): the one part of the next level's container only
# this level knows, at run time (the plan marks its place: CAP_DROP_MARKER). Only dockerd 20.10
# (the bookworm suite) needs them dropped: from 23 on, ALL means what the bounding set holds, and
# dropping a capability that is not there is refused ("invalid CapDrop: capability not supported
# by your kernel or not available in the current environment").
capabilities_to_drop() {
  local bounding bit=0 name
  [ "$DOCKERD_MAJOR" -lt 23 ] || return 0
  bounding=$(awk '/^CapBnd:/ { print $2 }' "$PROC/self/status")
  for name in $DOCKER_20_CAPABILITIES; do
    if [ $(((0x$bounding >> bit) & 1)) -eq 0 ]; then
      printf '%s\n' "$name"
    fi
    bit=$((bit + 1))
  done
}

# Gives the next level's engine this engine's images before it starts: this engine's image store
# (image metadata and the storage driver's layers) is copied into the next level's data root.
# Nothing else is in the store yet (no container exists before the next level's), so the copy is
# consistent. Hard links, because that directory is on this data root's file system and a real
# copy of some 850 small files costs 0.7 s here against 0.07 s: image layers are never written
# after they are committed, and dockerd replaces its metadata files by renaming, so sharing their
# inodes is safe. Cheaper than the next level unpacking the image seed itself, which creates every
# file anew (measured: depth 4 took 1.5 s longer that way). It only fits when the next level
# keeps its data root there with the same driver (a tmpfs or loop data root is mounted over it);
# otherwise that level unpacks the seed or imports.
prepare_next_data_root() {
  mkdir -p "$NEXT_DATA_ROOT" || return 1
  [ "$INCEPTION_DATA_ROOT" = volume ] || return 0
  [ -d "$DATA_DIR/image/$STORAGE_DRIVER" ] || return 0
  set -- "$DATA_DIR/image" "$DATA_DIR/$STORAGE_DRIVER"
  cp -al "$@" "$NEXT_DATA_ROOT/" 2>/dev/null && return 0
  rm -rf "${NEXT_DATA_ROOT:?}/image" "${NEXT_DATA_ROOT:?}/$STORAGE_DRIVER"
  cp -a "$@" "$NEXT_DATA_ROOT/" && return 0
  log "warning: could not seed level $NEXT_LEVEL's images; it will import them"
  rm -rf "${NEXT_DATA_ROOT:?}/image" "${NEXT_DATA_ROOT:?}/$STORAGE_DRIVER"
}

# With this level's store complete before its engine starts (seeded by the parent), the next
# level's data root is prepared while containerd starts (the job next_data_root), and is ready
# before dockerd starts: dockerd uses the driver's folder as scratch space as it starts (its
# overlay support checks make and remove folders there), which a copy running beside it would
# trip over. Otherwise (level 1, whose images come in once its engine answers, with the seed's
# layers still unpacking now) launch_next_level prepares it.
start_preparing_next_level() {
  [ "$INCEPTION_LEVEL" -lt "$INCEPTION_DEPTH" ] || return 0
  ! job_started seed_layers || return 0
  store_has_image "$LEVEL_IMAGE" || return 0
  start_job next_data_root prepare_next_data_root
}

# Before dockerd starts: waits for the preparation started above, if any.
await_next_data_root() {
  await_job next_data_root || fail "cannot make level $NEXT_LEVEL's data root $NEXT_DATA_ROOT"
}

# Level 1 is given the plan in its environment (INCEPTION_PLAN: the files for levels 2..N in order,
# each followed by an empty line) and writes it where every level reads it; the levels below
# have it from their parent, read-only, and an empty INCEPTION_PLAN.
write_plan() {
  mkdir -p "$PLAN_DIR" || return 1
  printf '%s' "$INCEPTION_PLAN" | awk -v dir="$PLAN_DIR" -v prefix="$PLAN_FILE_PREFIX" -v suffix="$PLAN_FILE_SUFFIX" '
    BEGIN { level = 2 }
    /^$/ { close(dir "/" prefix level suffix); level++; next }
    { print > (dir "/" prefix level suffix) }
  '
}

# Starts the next level from its file in the plan, one `docker run` argument a line, as the CLI
# rendered it: nothing is added but the capabilities to drop where the plan marks them. The job
# next_level_watch then waits for it to end.
launch_next_level() {
  local plan argument cap next_id
  plan=$PLAN_DIR/$PLAN_FILE_PREFIX$NEXT_LEVEL$PLAN_FILE_SUFFIX
  if [ -n "$INCEPTION_PLAN" ]; then
    write_plan || fail "cannot write the plan to $PLAN_DIR"
  fi
  [ -r "$plan" ] || fail "the plan has no level $NEXT_LEVEL ($plan is missing)"
  set --
  while IFS= read -r argument; do
    if [ "$argument" = "$CAP_DROP_MARKER" ]; then
      for cap in $(capabilities_to_drop); do set -- "$@" --cap-drop "$cap"; done
    else
      set -- "$@" "$argument"
    fi
  done <"$plan"
  if ! job_started next_data_root; then
    prepare_next_data_root || fail "cannot make level $NEXT_LEVEL's data root $NEXT_DATA_ROOT"
  fi
  log "starting level $NEXT_LEVEL"
  next_id=$(docker run "$@") || fail "cannot start level $NEXT_LEVEL"
  start_job next_level_watch watch_next_level "$next_id"
}

# A level that ends on its own (its dockerd died, its init failed) is reported on the board,
# unless this level is collapsing the nest on purpose.
watch_next_level() {
  local code state
  code=$(docker wait "$1" 2>/dev/null) || return 0
  [ -f "$STATE_DIR/collapse-started" ] && return 0
  state=$(cat "$BOARD_DIR/$BOARD_STATE_PREFIX$NEXT_LEVEL" 2>/dev/null || :)
  case "$state" in
    failed*) ;;
    *) printf 'failed level %s exited with status %s\n' "$NEXT_LEVEL" "$code" \
         >"$BOARD_DIR/$BOARD_STATE_PREFIX$NEXT_LEVEL" ;;
  esac
}
