# The init's storage steps: the device nodes the data root needs, the data root itself (volume,
# tmpfs or a loop file), and a storage driver that works on it. Sourced by init.sh.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

# Without --privileged, /dev holds only Docker's defaults; the device cgroup rule allows the
# rest, but the nodes must be made. Loop devices are host-wide: make a node for each one the
# kernel has, plus room for new ones.
ensure_device() {
  [ -e "$1" ] || mknod "$1" "$2" "$3" "$4"
}

setup_devices() {
  local loops i
  # Only what the data root needs: every node is a few processes, at every level. (/dev/fuse is
  # made where fuse-overlayfs is tried.)
  case "$INCEPTION_DATA_ROOT" in
    loop:*)
      ensure_device /dev/loop-control c 10 237 2>/dev/null || :
      loops=$(find /sys/block -maxdepth 1 -name 'loop*' | wc -l)
      i=0
      while [ "$i" -lt $((loops + 8)) ]; do
        ensure_device "/dev/loop$i" b 7 "$i" 2>/dev/null || :
        i=$((i + 1))
      done
      ;;
  esac
}

# The loop file's space, taken now rather than promised: a sparse file grows as the level writes,
# and when the file system under it (the level above's) fills up first, the writes fail under
# ext4, which aborts its journal and goes read-only while what the level's containers wrote is
# lost, though their writes reported success. Where it is not there, the level fails here, saying
# so. A file system that cannot allocate ahead gets a sparse file, and a warning.
allocate_loop_file() {
  local error free
  if ! error=$(fallocate -l "$2" "$1" 2>&1); then
    rm -f "$1"
    case "$error" in
      *"not supported"* | *"not implemented"*)
        log "warning: cannot reserve the loop data root's $(($2 / 1048576))M here (${error##*: }); it takes the space as it is written"
        truncate -s "$2" "$1" || fail "cannot make the loop data root's file $1"
        ;;
      *"No space left"* | *"Disk quota exceeded"*)
        free=$(df -Pk "$(dirname "$1")" | awk 'NR == 2 { print int($4 / 1024) }')
        fail "no room for the loop data root: $(($2 / 1048576))M asked for, ${free}M free where it goes ($(dirname "$1"))"
        ;;
      *)
        fail "cannot reserve the loop data root's $(($2 / 1048576))M in $(dirname "$1"): ${error##*: }"
        ;;
    esac
  fi
}

# Where this level's engine keeps its data. Never the container's own layered root: overlay2
# cannot stack on overlayfs. "volume" is what the parent mounted at /var/lib/docker (a volume at
# level 1, a directory of the parent's data root below); "tmpfs" is memory; "loop:SIZE" is an
# ext4 file system in a file there.
setup_data_root() {
  local size disk
  case "$INCEPTION_DATA_ROOT" in
    volume) ;;
    tmpfs)
      mount -t tmpfs -o mode=0711 inception-data-root "$DATA_DIR" || fail "cannot mount a tmpfs on $DATA_DIR"
      ;;
    loop:*)
      # This level's own size: each level's file holds the ones below it (loopSizesByLevel).
      size=${INCEPTION_DATA_ROOT#loop:}
      disk=$DATA_DIR/inception-disk.ext4
      if [ ! -f "$disk" ]; then
        allocate_loop_file "$disk" "$size"
        # nodiscard: mkfs would otherwise punch the allocated blocks back out of the file.
        # A file without a file system is not left for the next start to mount.
        mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1,nodiscard "$disk" || {
          rm -f "$disk"
          fail "cannot make an ext4 file system in $disk"
        }
      fi
      # The loop device is released by the kernel when this mount goes away (autoclear).
      mount -o loop "$disk" "$DATA_DIR" || fail "cannot mount the loop data root $disk"
      ;;
    *) fail "unknown data root '$INCEPTION_DATA_ROOT' (use volume, tmpfs or loop:SIZE)" ;;
  esac
}

# Tries the mount a storage driver needs, on the data root's own file system, in a scratch
# directory, so an unusable driver is caught before dockerd refuses to start.
storage_driver_works() {
  local probe status
  probe=$DATA_DIR/.inception-probe
  rm -rf "$probe"
  mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  status=0
  case "$1" in
    overlay2)
      mount -t overlay overlay \
        -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" \
        2>/dev/null || status=1
      ;;
    fuse-overlayfs)
      ensure_device /dev/fuse c 10 229 2>/dev/null || :
      [ -c /dev/fuse ] && command -v fuse-overlayfs >/dev/null &&
        fuse-overlayfs -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
          "$probe/merged" 2>/dev/null || status=1
      ;;
    vfs) ;;
    *) status=1 ;;
  esac
  umount "$probe/merged" 2>/dev/null || :
  rm -rf "$probe"
  return "$status"
}

choose_storage_driver() {
  local driver backing
  for driver in "$INCEPTION_STORAGE_DRIVER" overlay2 fuse-overlayfs vfs; do
    if storage_driver_works "$driver"; then
      if [ "$driver" != "$INCEPTION_STORAGE_DRIVER" ]; then
        backing=$(stat -f -c %T "$DATA_DIR")
        log "warning: storage driver $INCEPTION_STORAGE_DRIVER does not work on $backing here; using $driver"
      fi
      # shellcheck disable=SC2034 # read by the engine, image and next-level steps
      STORAGE_DRIVER=$driver
      return 0
    fi
  done
  fail "no storage driver works on $(stat -f -c %T "$DATA_DIR")"
}
