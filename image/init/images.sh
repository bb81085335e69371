# The init's image steps: the images every level needs in its own engine (the level image, to
# start the next level, and busybox), unpacked from the image seed before dockerd starts or
# imported once it answers; and the writing of that seed by `inception build`. Sourced by init.sh.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

LEVEL_IMAGE_TAR=/usr/local/lib/inception/level-rootfs.tar
BUSYBOX_IMAGE_TAR=/usr/local/lib/inception/busybox-rootfs.tar
LEVEL_IMAGE=$INNER_IMAGE_REPOSITORY:$INCEPTION_VERSION
# The image seed: the data root of a throwaway level that imported both images, one tar per
# storage driver, written by `inception build` (see write_image_seed). Inside /usr, so it
# travels down with /usr and every level can unpack it.
SEED_DIR=$INCEPTION_LIB/$SEED_DIR_NAME

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
# otherwise, in parallel (the job level_image): an import costs about half a second on a volume,
# mostly dockerd's fsyncs, whatever its size.
ensure_images() {
  finish_image_seed_layers
  if [ "$INCEPTION_LEVEL" -lt "$INCEPTION_DEPTH" ] || [ "$INCEPTION_MAKE_SEED" = 1 ]; then
    start_job level_image import_level_image
  fi
  import_busybox_image || fail "cannot import the busybox image from $BUSYBOX_IMAGE_TAR"
  await_job level_image || fail "cannot import the level image from $LEVEL_IMAGE_TAR"
}

# Gives this level's engine its images before it starts: the image seed for this storage driver
# is unpacked into an empty data root instead of importing once dockerd answers (0.4 s for
# busybox alone, 1.1 s for both, measured). In two jobs: seed_store, the store's metadata (some
# 100 entries), which dockerd reads as it starts, so finish_image_seed awaits it before dockerd
# is started; and seed_layers, the layers' contents (some 800 files and links, 0.2 to 1 s of
# system time here), which nothing reads until a container is made from them, so
# finish_image_seed_layers awaits them before this level starts the next or reports ready.
# A data root that has a store already (a level restarted, or seeded by its parent) is left as it is.
start_image_seed() {
  local seed="$SEED_DIR/$STORAGE_DRIVER"
  [ -f "$seed.tar" ] && [ -f "$seed.layers.tar" ] && [ ! -e "$DATA_DIR/image" ] || return 0
  start_job seed_store tar --numeric-owner -C "$DATA_DIR" -xf "$seed.tar"
  # At low priority: dockerd, starting meanwhile, needs the processor more.
  start_job seed_layers nice -n 10 tar --numeric-owner -C "$DATA_DIR" -xf "$seed.layers.tar"
}

finish_image_seed() {
  await_job seed_store && return 0
  log "warning: could not unpack the image seed; importing the images instead"
  discard_job seed_layers
  rm -rf "${DATA_DIR:?}/image" "${DATA_DIR:?}/$STORAGE_DRIVER"
}

finish_image_seed_layers() {
  await_job seed_layers && return 0
  # The engine has the images but not all of their files: it forgets them, and they are imported.
  log "warning: could not unpack the image seed's layers; importing the images instead"
  docker image rm --force "$LEVEL_IMAGE" busybox:latest >/dev/null 2>&1 || :
}

# `inception build` runs a throwaway level with INCEPTION_MAKE_SEED=1: once both images are
# imported, it stops its engine, so the store is at rest, writes the store as the seed for its
# storage driver (the layers' contents, ID/diff, apart: see start_image_seed), and ends. The CLI
# copies the seed into the level image.
write_image_seed() {
  stop_job dockerd
  stop_job containerd
  mkdir -p "$SEED_DIR" || fail "cannot make $SEED_DIR"
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
  local layers
  tar --numeric-owner -cf "$SEED_DIR/$STORAGE_DRIVER.tar" --exclude="$STORAGE_DRIVER/*/diff/*" image "$STORAGE_DRIVER" || return 1
  layers=$(ls -d "$STORAGE_DRIVER"/*/diff) || return 1
  # shellcheck disable=SC2046,SC2086 # layer IDs: hexadecimal, no spaces
  tar --numeric-owner -cf "$SEED_DIR/$STORAGE_DRIVER.layers.tar" \
    --no-recursion "$STORAGE_DRIVER" $(printf '%s\n' $layers | sed 's|/diff$||') --recursion $layers
}
