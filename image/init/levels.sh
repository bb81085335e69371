# The init's steps towards the next level: the images every level needs, seeding its engine,
# starting it from the plan and watching it, collapsing the nest on SIGTERM, and publishing this
# level's details on the board. Sourced by init.sh.
# shellcheck shell=sh

LEVEL_IMAGE_TAR=/usr/local/lib/inception/level-rootfs.tar
BUSYBOX_IMAGE_TAR=/usr/local/lib/inception/busybox-rootfs.tar
LEVEL_IMAGE=$INNER_IMAGE_REPOSITORY:$INCEPTION_VERSION
# The image seed: the data root of a throwaway level that imported both images, one tar per
# storage driver, written by `inception build` (see write_image_seed). Inside /usr, so it
# travels down with /usr and every level can unpack it.
SEED_DIR=$INCEPTION_LIB/$SEED_DIR_NAME
SEED_PID=
SEED_LAYERS_PID=
NEXT_LEVEL=$((INCEPTION_LEVEL + 1))
# The next level's data root: a directory in this one, bind-mounted at its /var/lib/docker. Not a
# volume of this engine: a directory can be made and filled before this engine answers, a
# volume only after (and `docker volume create` is one more docker CLI run a level). It goes
# with this level's data root, as a volume would, and the host's engine removes level 1's.
NEXT_DATA_ROOT=$DATA_DIR/$CHILD_DATA_ROOT_PREFIX$NEXT_LEVEL
PREPARE_PID=
PREPARED=
COLLAPSING=

# Capabilities "--cap-add ALL" would ask for that this level cannot pass on, among those dockerd
# 20.10 can name (DOCKER_20_CAPABILITIES, by bit): the one part of the next level's container only
# this level knows, at run time (the plan marks its place: CAP_DROP_MARKER). Only dockerd 20.10
# (the bookworm suite) needs them dropped: from 23 on, ALL means what the bounding set holds, and
# dropping a capability that is not there is refused ("invalid CapDrop: capability not supported
# by your kernel or not available in the current environment").
capabilities_to_drop() {
  [ "$DOCKERD_MAJOR" -lt 23 ] || return 0
  bounding=$(awk '/^CapBnd:/ { print $2 }' "$PROC/self/status")
  bit=0
  for name in $DOCKER_20_CAPABILITIES; do
    if [ $(((0x$bounding >> bit) & 1)) -eq 0 ]; then
      printf '%s\n' "$name"
    fi
    bit=$((bit + 1))
  done
}

# Whether this engine's store names TAG, read from the store's own tag file: no docker CLI run
# (about 50 ms, paid twice a level), and it works before the engine answers.
store_has_image() {
  grep -q "\"$1\"" "$DATA_DIR/image/$STORAGE_DRIVER/repositories.json" 2>/dev/null
}

# Whether this engine has TAG: the store's tag file, else the engine's answer.
engine_has_image() {
  store_has_image "$1" || docker image inspect "$1" >/dev/null 2>&1
}

# Imports a root file system tar as TAG unless this engine has it already (seeded).
# Usage: import_image TAG TAR CHANGE
import_image() {
  engine_has_image "$1" && return 0
  docker import --change "$3" "$2" "$1" >/dev/null
}

# Every level has a small image to run without a registry: `docker run --rm busybox ...`.
import_busybox_image() {
  import_image busybox:latest "$BUSYBOX_IMAGE_TAR" 'CMD ["sh"]'
}

import_level_image() {
  import_image "$LEVEL_IMAGE" "$LEVEL_IMAGE_TAR" 'ENTRYPOINT ["/usr/local/bin/inception-init"]'
}

# The images every level needs in its own engine: the level image (to start the next level)
# and busybox. Normally unpacked from the image seed before dockerd starts; imported here
# otherwise, in parallel: an import costs about half a second on a volume, mostly dockerd's
# fsyncs, whatever its size.
ensure_images() {
  finish_image_seed_layers
  if [ "$INCEPTION_LEVEL" -lt "$INCEPTION_DEPTH" ] || [ "$INCEPTION_MAKE_SEED" = 1 ]; then
    import_level_image &
    level_import=$!
  fi
  import_busybox_image || fail "cannot import the busybox image from $BUSYBOX_IMAGE_TAR"
  if [ -n "${level_import:-}" ]; then
    wait "$level_import" || fail "cannot import the level image from $LEVEL_IMAGE_TAR"
  fi
}

# Gives this level's engine its images before it starts: the image seed for this storage driver
# is unpacked into an empty data root instead of importing once dockerd answers (0.4 s for
# busybox alone, 1.1 s for both, measured). In two parts, both in the background: the store's
# metadata (some 100 entries), which dockerd reads as it starts, so finish_image_seed waits for
# it before dockerd is started; and the layers' contents (some 800 files and links, 0.2 to 1 s of
# system time here), which nothing reads until a container is made from them, so
# finish_image_seed_layers waits for them before this level starts the next or reports ready.
# A data root that has a store already (a level restarted, or seeded by its parent) is left as it is.
start_image_seed() {
  seed=$SEED_DIR/$STORAGE_DRIVER
  [ -f "$seed.tar" ] && [ -f "$seed.layers.tar" ] && [ ! -e "$DATA_DIR/image" ] || return 0
  tar --numeric-owner -C "$DATA_DIR" -xf "$seed.tar" &
  SEED_PID=$!
  # At low priority: dockerd, starting meanwhile, needs the processor more.
  nice -n 10 tar --numeric-owner -C "$DATA_DIR" -xf "$seed.layers.tar" &
  SEED_LAYERS_PID=$!
}

finish_image_seed() {
  [ -n "$SEED_PID" ] || return 0
  wait "$SEED_PID" && return 0
  log "warning: could not unpack the image seed; importing the images instead"
  wait "$SEED_LAYERS_PID" || :
  SEED_LAYERS_PID=
  rm -rf "${DATA_DIR:?}/image" "${DATA_DIR:?}/$STORAGE_DRIVER"
}

finish_image_seed_layers() {
  [ -n "$SEED_LAYERS_PID" ] || return 0
  wait "$SEED_LAYERS_PID" && return 0
  # The engine has the images but not all of their files: it forgets them, and they are imported.
  log "warning: could not unpack the image seed's layers; importing the images instead"
  docker image rm --force "$LEVEL_IMAGE" busybox:latest >/dev/null 2>&1 || :
}

# `inception build` runs a throwaway level with INCEPTION_MAKE_SEED=1: once both images are
# imported, it stops its engine, so the store is at rest, writes the store as the seed for its
# storage driver (the layers' contents, ID/diff, apart: see start_image_seed), and ends. The CLI
# copies the seed into the level image.
write_image_seed() {
  # The engines' exit statuses after SIGTERM say nothing worth failing on.
  for pid in "$DOCKERD_PID" $CONTAINERD_PID; do
    if kill "$pid"; then wait "$pid" || :; fi
  done
  mkdir -p "$SEED_DIR"
  cd "$DATA_DIR" || fail "cannot enter $DATA_DIR"
  pack_image_seed || fail "cannot write the image seed"
  log "image seed for $STORAGE_DRIVER written"
  exit 0
}

# Writes the seed's two tars from the store in the current folder (a data root at rest). They are
# unpacked at the same time, into the same folders (start_image_seed), so the layers' tar names
# every folder above each layer's contents (the driver's folder and each layer's) before them.
# GNU tar makes a missing parent folder of a member on its own, and fails ("Unexpected
# inconsistency when making directory") when the other tar makes it between its check and its
# mkdir: the level then forgot its images and imported them again (4 times in 1400 unpackings of
# a two-layer seed with both cores busy). A folder that is a member of its own may exist already.
pack_image_seed() {
  tar --numeric-owner -cf "$SEED_DIR/$STORAGE_DRIVER.tar" --exclude="$STORAGE_DRIVER/*/diff/*" image "$STORAGE_DRIVER" || return 1
  layers=$(ls -d "$STORAGE_DRIVER"/*/diff) || return 1
  # shellcheck disable=SC2046,SC2086 # layer IDs: hexadecimal, no spaces
  tar --numeric-owner -cf "$SEED_DIR/$STORAGE_DRIVER.layers.tar" \
    --no-recursion "$STORAGE_DRIVER" $(printf '%s\n' $layers | sed 's|/diff$||') --recursion $layers
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
# level's data root is prepared while containerd starts, and is ready before dockerd starts:
# dockerd uses the driver's folder as scratch space as it starts (its overlay support checks
# make and remove folders there), which a copy running beside it would trip over. Otherwise
# (level 1, whose images come in once its engine answers) launch_next_level prepares it.
start_preparing_next_level() {
  [ "$INCEPTION_LEVEL" -lt "$INCEPTION_DEPTH" ] && [ -z "$SEED_LAYERS_PID" ] || return 0
  store_has_image "$LEVEL_IMAGE" || return 0
  prepare_next_data_root &
  PREPARE_PID=$!
}

# Before dockerd starts: waits for the preparation started above, if any.
wait_for_next_level_preparation() {
  [ -n "$PREPARE_PID" ] || return 0
  if wait "$PREPARE_PID"; then PREPARED=yes; else PREPARED=failed; fi
  PREPARE_PID=
}

finish_preparing_next_level() {
  wait_for_next_level_preparation
  case "$PREPARED" in
    yes) return 0 ;;
    failed) fail "cannot make level $NEXT_LEVEL's data root $NEXT_DATA_ROOT" ;;
  esac
  prepare_next_data_root || fail "cannot make level $NEXT_LEVEL's data root $NEXT_DATA_ROOT"
}

# Starts the next level from its file in the plan, one `docker run` argument a line, as the CLI
# rendered it: nothing is added but the capabilities to drop where the plan marks them.
launch_next_level() {
  plan=$PLAN_DIR/$PLAN_FILE_PREFIX$NEXT_LEVEL$PLAN_FILE_SUFFIX
  [ -r "$plan" ] || fail "the plan has no level $NEXT_LEVEL ($plan is missing)"
  set --
  while IFS= read -r argument; do
    if [ "$argument" = "$CAP_DROP_MARKER" ]; then
      for cap in $(capabilities_to_drop); do set -- "$@" --cap-drop "$cap"; done
    else
      set -- "$@" "$argument"
    fi
  done <"$plan"
  finish_preparing_next_level
  log "starting level $NEXT_LEVEL"
  next_id=$(docker run "$@") || fail "cannot start level $NEXT_LEVEL"
  watch_next_level "$next_id" &
}

# A level that ends on its own (its dockerd died, its init failed) is reported on the board,
# unless this level is collapsing the nest on purpose.
watch_next_level() {
  code=$(docker wait "$1" 2>/dev/null) || return 0
  [ -f "$STATE_DIR/collapse-started" ] && return 0
  state=$(cat "$BOARD_DIR/$BOARD_STATE_PREFIX$NEXT_LEVEL" 2>/dev/null || :)
  case "$state" in
    failed*) ;;
    *) printf 'failed level %s exited with status %s\n' "$NEXT_LEVEL" "$code" \
         >"$BOARD_DIR/$BOARD_STATE_PREFIX$NEXT_LEVEL" ;;
  esac
}

# SIGTERM (a `docker stop` of this level, or its engine stopping): the nest below ends at once,
# as `inception down` ends a nest, and so does this level. See end_nested_levels.
# shellcheck disable=SC2317 # reached through the trap in main
collapse() {
  [ -n "$COLLAPSING" ] && return 0
  COLLAPSING=1
  : >"$STATE_DIR/collapse-started"
  rm -f "$BOARD_DIR/$BOARD_STATE_PREFIX$INCEPTION_LEVEL" "$BOARD_DIR/$BOARD_INFO_PREFIX$INCEPTION_LEVEL"
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
  if [ -n "$DOCKERD_PID" ]; then
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

# What `inception ps` shows of this level, on the board next to its state: key=value lines.
publish_level_info() {
  id=$(grep -o 'containers/[0-9a-f]\{64\}' "$PROC/self/mountinfo" | head -n 1 | cut -d/ -f2)
  {
    printf 'id=%s\n' "$id"
    printf 'hostname=%s\n' "$(hostname)"
    printf 'dockerd=%s\n' "$DOCKERD_VERSION"
    printf 'storage=%s\n' "$STORAGE_DRIVER"
    printf 'privilege=%s\n' "$INCEPTION_PRIVILEGE_USED"
    # The bridge as the kernel has it, not as planned: ps shows what is, and a difference shows.
    printf 'bridge=%s\n' "$(busybox ip -4 addr show docker0 2>/dev/null | awk '$1 == "inet" { print $2; exit }')"
    printf 'mtu=%s\n' "$MTU"
    printf 'iptables=%s\n' "$IPTABLES"
    printf 'capeff=%s\n' "$(awk '/^CapEff:/ { print $2 }' "$PROC/1/status")"
  } >"$BOARD_DIR/.$BOARD_INFO_PREFIX$INCEPTION_LEVEL.tmp"
  mv -f "$BOARD_DIR/.$BOARD_INFO_PREFIX$INCEPTION_LEVEL.tmp" "$BOARD_DIR/$BOARD_INFO_PREFIX$INCEPTION_LEVEL"
}
