#!/bin/sh
# inception-init: runs one level of a nest.
#
# It prepares the container for a Docker engine (descriptors, cgroups, devices, data root,
# storage driver), starts dockerd with its output on the container's stdout so `docker logs`
# shows it, reports readiness on the nest's status board, and, when the plan goes deeper,
# starts the next level with the same image, privilege, storage and ports.
#
# It stays PID 1 as a small supervisor rather than exec'ing dockerd, for two reasons: on
# SIGTERM it must collapse the level below before its own engine stops (so a nest is taken
# down innermost first, leaving nothing in any engine), and the container must still end when
# dockerd ends, which `wait` on dockerd gives us.
#
# Everything comes in through INCEPTION_* variables, set by the CLI for level 1 and by each
# level for the next. What they mean, and every other fact the CLI and this init share (board
# files, labels, names, stop timeouts, privilege options), is owned by src/nesting/contract.ts,
# whose shell half (contract.sh) is sourced here.
set -eu

INCEPTION_LIB=${INCEPTION_LIB:-/usr/local/lib/inception}
# shellcheck source=image/contract.sh
. "$INCEPTION_LIB/contract.sh"

: "${INCEPTION_LEVEL:=1}"
: "${INCEPTION_DEPTH:=$INCEPTION_LEVEL}"
: "${INCEPTION_NEST:=inception}"
: "${INCEPTION_VERSION:=dev}"
: "${INCEPTION_PRIVILEGE:=auto}"
: "${INCEPTION_STORAGE_DRIVER:=overlay2}"
: "${INCEPTION_DATA_ROOT:=volume}"
: "${INCEPTION_BRIDGES:=}"
# Each level's pool for the networks users create there (dockerd --default-address-pool), outermost first.
: "${INCEPTION_POOLS:=}"
# An MTU for every level's networks; empty: each level takes its own uplink's.
: "${INCEPTION_MTU:=}"
# legacy or nft, decided at level 1 and followed by every level (they share one kernel).
: "${INCEPTION_IPTABLES:=}"
# For loop data roots: each level's file size, outermost first (see loopSizesByLevel in plan).
: "${INCEPTION_LOOP_SIZES:=}"
: "${INCEPTION_PORTS:=}"
: "${INCEPTION_DOCKERD_ARGS:=}"
: "${INCEPTION_READY_TIMEOUT:=60}"
: "${INCEPTION_EXPOSE_DAEMONS:=}"
# For --privilege minimal: the capabilities and security options every level gets, no more.
: "${INCEPTION_CAPS:=}"
: "${INCEPTION_SECURITY:=}"
: "${INCEPTION_PRIVILEGE_USED:=unknown}"

# The status board (BOARD_DIR): a directory shared by every level of the nest. Level 1 owns it;
# each level bind-mounts it into the next, so one read in level 1 shows the state of every level.
# The daemons' TLS material (TLS_DIR) is put into level 1 by the CLI and passed down read-only;
# the CA's key never enters the nest.
LEVEL_IMAGE_TAR=/usr/local/lib/inception/level-rootfs.tar
BUSYBOX_IMAGE_TAR=/usr/local/lib/inception/busybox-rootfs.tar
LEVEL_IMAGE=inception-level:$INCEPTION_VERSION
NEXT_LEVEL=$((INCEPTION_LEVEL + 1))
NEXT_NAME=$INCEPTION_NEST$LEVEL_NAME_INFIX$NEXT_LEVEL
DOCKERD_PID=
CONTAINERD_PID=
DOCKERD_VERSION=
DOCKERD_MAJOR=0
COLLAPSING=

log() { printf 'inception-init[level %s]: %s\n' "$INCEPTION_LEVEL" "$*" >&2; }

report() {
  # One line per level: STATE [detail]. Written whole then renamed, so a reader never sees half.
  mkdir -p "$BOARD_DIR"
  printf '%s\n' "$*" >"$BOARD_DIR/.$BOARD_STATE_PREFIX$INCEPTION_LEVEL.tmp"
  mv -f "$BOARD_DIR/.$BOARD_STATE_PREFIX$INCEPTION_LEVEL.tmp" "$BOARD_DIR/$BOARD_STATE_PREFIX$INCEPTION_LEVEL"
}

fail() {
  log "error: $*"
  report "failed $*"
  exit 1
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

# On cgroup v1 a container that is not --privileged gets every hierarchy mounted read-only, and
# dockerd cannot create its own cgroups ("mkdir /sys/fs/cgroup/cpuset/docker: read-only file
# system"). Mounting each hierarchy again inside the container's own cgroup namespace makes it
# writable, and keeps the level's children inside the level's cgroup. The read-only mount is
# detached lazily (umount -l): a plain unmount failed now and then with "umount:
# /sys/fs/cgroup/memory: target is busy", and the kernel refuses a second mount on top.
setup_cgroup_v1() {
  if ! mountpoint -q /sys/fs/cgroup; then
    mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup /sys/fs/cgroup
  elif ! touch /sys/fs/cgroup/.inception-rw 2>/dev/null; then
    mount -o remount,rw /sys/fs/cgroup
  fi
  rm -f /sys/fs/cgroup/.inception-rw
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
  }' /proc/self/mounts)
  printf '%s\n' "$read_only_hierarchies" | while read -r dir subsystems; do
    [ -n "$dir" ] || continue
    # Errors are checked by hand: this runs as `setup_cgroups || fail`, where set -e is off.
    umount -l "$dir" || exit 1
    mount -t cgroup -o "$subsystems" cgroup "$dir" || exit 1
  done || return 1
  read_only=$(awk '$3 == "cgroup" && ("," $4 ",") ~ /,ro,/ { print $2 }' /proc/self/mounts)
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
# The root comes from INCEPTION_CGROUP_ROOT so that tests can run this step on a fake tree.
setup_cgroup_v2() {
  root=${INCEPTION_CGROUP_ROOT:-/sys/fs/cgroup}
  if ! touch "$root/.inception-rw" 2>/dev/null; then
    mount -o remount,rw "$root" || return 1
  fi
  rm -f "$root/.inception-rw"
  mkdir -p "$root/init" || return 1
  # Read whole first: moving processes changes the list under a reader.
  pids=$(cat "$root/cgroup.procs") || return 1
  for pid in $pids; do
    # A process that ended since the list was read needs no moving.
    echo "$pid" >>"$root/init/cgroup.procs" 2>/dev/null || [ ! -d "/proc/$pid" ] || {
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
  if [ -f "${INCEPTION_CGROUP_ROOT:-/sys/fs/cgroup}/cgroup.controllers" ]; then
    setup_cgroup_v2
  else
    setup_cgroup_v1
  fi
}

# Without --privileged, /dev holds only Docker's defaults; the device cgroup rule allows the
# rest, but the nodes must be made. Loop devices are host-wide: make a node for each one the
# kernel has, plus room for new ones.
ensure_device() {
  [ -e "$1" ] || mknod "$1" "$2" "$3" "$4"
}

setup_devices() {
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

# Where this level's engine keeps its data. Never the container's own layered root: overlay2
# cannot stack on overlayfs. "volume" is the volume the parent mounted at /var/lib/docker;
# "tmpfs" is memory; "loop:SIZE" is an ext4 file system in a file on that volume.
setup_data_root() {
  case "$INCEPTION_DATA_ROOT" in
    volume) ;;
    tmpfs)
      mount -t tmpfs -o mode=0711 inception-data-root /var/lib/docker
      ;;
    loop:*)
      size=$(nth_for_level "$INCEPTION_LOOP_SIZES")
      [ -n "$size" ] || size=${INCEPTION_DATA_ROOT#loop:}
      disk=/var/lib/docker/inception-disk.ext4
      if [ ! -f "$disk" ]; then
        truncate -s "$size" "$disk"
        mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$disk"
      fi
      # The loop device is released by the kernel when this mount goes away (autoclear).
      mount -o loop "$disk" /var/lib/docker || fail "cannot mount the loop data root $disk"
      ;;
    *) fail "unknown data root '$INCEPTION_DATA_ROOT' (use volume, tmpfs or loop:SIZE)" ;;
  esac
}

# Tries the mount a storage driver needs, on the data root's own file system, in a scratch
# directory, so an unusable driver is caught before dockerd refuses to start.
storage_driver_works() {
  probe=/var/lib/docker/.inception-probe
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
  for driver in "$INCEPTION_STORAGE_DRIVER" overlay2 fuse-overlayfs vfs; do
    if storage_driver_works "$driver"; then
      if [ "$driver" != "$INCEPTION_STORAGE_DRIVER" ]; then
        backing=$(stat -f -c %T /var/lib/docker)
        log "warning: storage driver $INCEPTION_STORAGE_DRIVER does not work on $backing here; using $driver"
      fi
      STORAGE_DRIVER=$driver
      return 0
    fi
  done
  fail "no storage driver works on $(stat -f -c %T /var/lib/docker)"
}

# Debian's iptables defaults to the nf_tables backend; some kernels only have the legacy one.
# Each level has its own network namespace, so each level may choose for itself. /etc is the
# level's own (not the shared read-only /usr), so the alternatives link can be switched.
# Which iptables backend the levels use. Every level shares one kernel, so level 1 decides, as
# the official dind entrypoint does: legacy when the kernel already holds legacy tables (rules
# made through the two backends would not see each other), else nf_tables when it works, else
# legacy. Deeper levels get the decision in INCEPTION_IPTABLES (passed on with every INCEPTION_
# variable). /etc is the level's own (not the shared read-only /usr), so the alternatives link
# can be switched.
PROC_NET=${INCEPTION_PROC_NET:-/proc/net}

legacy_tables_loaded() {
  for table in "$PROC_NET/ip_tables_names" "$PROC_NET/ip6_tables_names" "$PROC_NET/arp_tables_names"; do
    [ -s "$table" ] && return 0
  done
  return 1
}

decide_iptables() {
  if legacy_tables_loaded; then echo legacy
  elif iptables-nft -nL >/dev/null 2>&1; then echo nft
  else echo legacy
  fi
}

choose_iptables() {
  if [ -z "$INCEPTION_IPTABLES" ]; then
    INCEPTION_IPTABLES=$(decide_iptables)
    export INCEPTION_IPTABLES
    log "iptables: the $INCEPTION_IPTABLES backend, for every level"
  fi
  update-alternatives --quiet --set iptables "/usr/sbin/iptables-$INCEPTION_IPTABLES"
  update-alternatives --quiet --set ip6tables "/usr/sbin/ip6tables-$INCEPTION_IPTABLES" 2>/dev/null || :
  # Engines from 27 on manage IPv6 rules too and will not start without a working ip6tables;
  # where the kernel offers none, the level starts without them and says so.
  IP6TABLES_OPTION=
  if ! ip6tables -nL >/dev/null 2>&1; then
    log "ip6tables does not work here: this level's dockerd runs without IPv6 rules"
    IP6TABLES_OPTION=--ip6tables=false
  fi
}

# The MTU of this level's networks: the one asked for, else the uplink's (the interface of the
# default route). A level on a 1400 network whose dockerd assumed 1500 would lose every packet
# larger than 1400 beyond it; each level's uplink is its parent's bridge, so the MTU found at
# level 1 goes down the whole nest.
SYS_NET=${INCEPTION_SYS_NET:-/sys/class/net}

uplink_mtu() {
  uplink=$(busybox ip route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
  [ -n "$uplink" ] && cat "$SYS_NET/$uplink/mtu" 2>/dev/null
}

choose_mtu() {
  MTU=${INCEPTION_MTU:-$(uplink_mtu || :)}
  [ -n "$MTU" ] || MTU=1500
}

# The daemon options for this level's networks: its bridge, its pool for users' networks, and
# the MTU of both. dockerd 20.10 has no default network options, so there networks that users
# create keep 1500 (the bookworm suite only).
network_options() {
  bip=$(bridge_for_level)
  [ -n "$bip" ] && echo "--bip=$bip"
  pool=$(nth_for_level "$INCEPTION_POOLS")
  [ -n "$pool" ] && echo "--default-address-pool=base=$pool,size=$POOL_NETWORK_PREFIX"
  echo "--mtu=$MTU"
  if [ "$DOCKERD_MAJOR" -ge 24 ]; then
    echo "--default-network-opt=bridge=com.docker.network.driver.mtu=$MTU"
  fi
  [ -z "$IP6TABLES_OPTION" ] || echo "$IP6TABLES_OPTION"
}

# This level's entry in a space-separated list with one entry per level, outermost first.
nth_for_level() {
  # shellcheck disable=SC2086 # the list is space-separated
  set -- $1
  shift $((INCEPTION_LEVEL - 1)) 2>/dev/null || return 0
  printf '%s' "${1:-}"
}

# The bridge this level's engine uses, from the plan (one per level, all different): every
# dockerd otherwise picks the first free /16 it can see, so levels collide and a chained port
# routes its replies to the wrong bridge.
bridge_for_level() {
  nth_for_level "$INCEPTION_BRIDGES"
}

# With --expose-daemons, each level's engine also listens on its own TCP port (base + level),
# with mutual TLS: the port is chained to the host like any -p port, so the host's docker
# CLI can talk to this level directly. Without a client certificate from the nest's CA, the
# connection is refused.
daemon_tcp_options() {
  [ "$INCEPTION_EXPOSE_DAEMONS" = 1 ] || return 0
  [ -f "$TLS_DIR/server-key.pem" ] || fail "--expose-daemons, but no TLS material in $TLS_DIR"
  printf '%s\n' "--host=tcp://0.0.0.0:$((DAEMON_INNER_PORT_BASE + INCEPTION_LEVEL))" --tlsverify \
    "--tlscacert=$TLS_DIR/ca.pem" "--tlscert=$TLS_DIR/server-cert.pem" "--tlskey=$TLS_DIR/server-key.pem"
}

# dockerd 26 and later dial the containerd they start before its socket exists, and gRPC's
# reconnect backoff then holds them for a second (measured: 0.9 s of every level's start). So
# the init starts containerd itself, with the settings dockerd would give it (its data on the
# data root, the CRI plugin off), and hands dockerd the socket once it is there.
CONTAINERD_SOCKET=/var/run/docker/containerd/containerd.sock

start_containerd() {
  # dockerd 20.10 waits for its own containerd without that backoff: there, a handover would
  # only put containerd's start before dockerd's instead of beside it (0.3 s a level, measured).
  [ "$DOCKERD_MAJOR" -ge 23 ] || return 0
  mkdir -p /var/run/docker/containerd
  printf '%s\n' 'version = 2' 'root = "/var/lib/docker/containerd/daemon"' \
    'state = "/var/run/docker/containerd/daemon"' 'disabled_plugins = ["io.containerd.grpc.v1.cri"]' \
    '[grpc]' "  address = \"$CONTAINERD_SOCKET\"" >"$STATE_DIR/containerd.toml"
  containerd --config "$STATE_DIR/containerd.toml" &
  CONTAINERD_PID=$!
  ticks=$((INCEPTION_READY_TIMEOUT * 50))
  until [ -S "$CONTAINERD_SOCKET" ]; do
    kill -0 "$CONTAINERD_PID" 2>/dev/null || fail "containerd exited while starting (see the log above)"
    ticks=$((ticks - 1))
    [ "$ticks" -gt 0 ] || fail "containerd did not listen within ${INCEPTION_READY_TIMEOUT}s"
    sleep 0.02
  done
}

start_dockerd() {
  set -- --host=unix:///var/run/docker.sock --storage-driver="$STORAGE_DRIVER"
  [ -z "$CONTAINERD_PID" ] || set -- "$@" --containerd="$CONTAINERD_SOCKET"
  # shellcheck disable=SC2046 # one option per line, none with spaces
  set -- "$@" $(network_options)
  tcp_options=$(daemon_tcp_options)
  # shellcheck disable=SC2086 # one option per line, none with spaces
  set -- "$@" $tcp_options
  # shellcheck disable=SC2086 # extra daemon options are a space-separated list
  set -- "$@" $INCEPTION_DOCKERD_ARGS
  rm -f /var/run/docker.pid
  # Where /proc/sys is read-only (the minimal privilege mode leaves it masked), dockerd 26 and
  # later cannot turn IPv6 off on a new container's interface and refuse to start it ("failed to
  # disable IPv6 on container's interface eth0"). This lets them go on: such interfaces keep
  # their IPv6 link-local address, nothing more.
  if awk '$2 == "/proc/sys" && ("," $4 ",") ~ /,ro,/ { found = 1 } END { exit !found }' /proc/self/mounts; then
    export DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1
  fi
  log "starting dockerd $*"
  dockerd "$@" &
  DOCKERD_PID=$!
  printf '%s\n' "$DOCKERD_PID" >"$STATE_DIR/dockerd.pid"
}

wait_for_dockerd() {
  # Twentieths of a second, so the wait ends as soon as the engine answers (each level waits
  # here, so every tick is paid once per level); the socket is checked first, as it is cheap.
  ticks=$((INCEPTION_READY_TIMEOUT * 20))
  until [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1; do
    kill -0 "$DOCKERD_PID" 2>/dev/null || fail "dockerd exited while starting (see the log above)"
    ticks=$((ticks - 1))
    [ "$ticks" -gt 0 ] || fail "dockerd did not answer within ${INCEPTION_READY_TIMEOUT}s"
    sleep 0.05
  done
}

# Privilege of the next level. "auto" decides here, from this level's own bounding set: when it
# holds every capability the kernel knows, --privileged works; when it lacks some (as when the
# host itself withholds one), runc fails to apply --privileged and "caps" grants the rest.
bounding_set_is_full() {
  bounding=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
  last=$(cat /proc/sys/kernel/cap_last_cap)
  [ $((0x$bounding)) -eq $(((1 << (last + 1)) - 1)) ]
}

# Capabilities "--cap-add ALL" would ask for that this level cannot pass on, among those dockerd
# 20.10 can name (DOCKER_20_CAPABILITIES, by bit). Only dockerd 20.10 (the bookworm suite) needs
# them dropped: from 23 on, ALL means what the bounding set holds, and
# dropping a capability that is not there is refused ("invalid CapDrop: capability not supported
# by your kernel or not available in the current environment").
capabilities_to_drop() {
  [ "$DOCKERD_MAJOR" -lt 23 ] || return 0
  bounding=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
  bit=0
  for name in $DOCKER_20_CAPABILITIES; do
    if [ $(((0x$bounding >> bit) & 1)) -eq 0 ]; then
      printf '%s\n' "$name"
    fi
    bit=$((bit + 1))
  done
}

effective_privilege() {
  case "$INCEPTION_PRIVILEGE" in
    auto)
      if bounding_set_is_full; then echo privileged; else echo caps; fi
      ;;
    *) echo "$INCEPTION_PRIVILEGE" ;;
  esac
}

# Imports a root file system tar as TAG unless this engine has it already (seeded from above).
# Usage: import_image TAG TAR CHANGE
import_image() {
  docker image inspect "$1" >/dev/null 2>&1 && return 0
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
# and busybox. Imported once, at level 1, in parallel: an import costs about half a second on a
# volume, mostly dockerd's fsyncs, whatever its size. Deeper levels get them by seeding.
ensure_images() {
  if [ "$INCEPTION_LEVEL" -lt "$INCEPTION_DEPTH" ]; then
    import_level_image &
    level_import=$!
  fi
  import_busybox_image || fail "cannot import the busybox image from $BUSYBOX_IMAGE_TAR"
  if [ -n "${level_import:-}" ]; then
    wait "$level_import" || fail "cannot import the level image from $LEVEL_IMAGE_TAR"
  fi
}

# Gives the next level's engine this engine's images before it starts: this engine's image store
# (image metadata and the storage driver's layers) is copied into the next level's empty
# volume, which becomes that engine's data root. Nothing else is in the store yet (no container
# exists before the next level's), so the copy is consistent. Hard links, because the volume is
# on this data root's file system and a real copy of some 850 small files costs 0.7 s here
# against 0.07 s: image layers are never written after they are committed, and dockerd replaces
# its metadata files by renaming, so sharing their inodes is safe. It only fits when the next
# level keeps its data root on that volume with the same driver; otherwise that level finds no
# images and imports them itself.
seed_next_level() {
  [ "$INCEPTION_DATA_ROOT" = volume ] || return 0
  [ -d "/var/lib/docker/image/$STORAGE_DRIVER" ] || return 0
  target=$(docker volume inspect --format '{{.Mountpoint}}' "$NEXT_NAME")
  set -- /var/lib/docker/image "/var/lib/docker/$STORAGE_DRIVER"
  cp -al "$@" "$target/" 2>/dev/null && return 0
  rm -rf "${target:?}/image" "${target:?}/$STORAGE_DRIVER"
  cp -a "$@" "$target/" && return 0
  log "warning: could not seed level $NEXT_LEVEL's images; it will import them"
  rm -rf "${target:?}/image" "${target:?}/$STORAGE_DRIVER"
}

launch_next_level() {
  privilege=$(effective_privilege)
  env | grep '^INCEPTION_' | grep -v -e '^INCEPTION_LEVEL=' -e '^INCEPTION_PRIVILEGE_USED=' >"$STATE_DIR/next-level.env"
  printf 'INCEPTION_LEVEL=%s\nINCEPTION_PRIVILEGE_USED=%s\n' "$NEXT_LEVEL" "$privilege" \
    >>"$STATE_DIR/next-level.env"

  set -- --detach --name "$NEXT_NAME" --cgroupns private \
    --label "$LABEL_NEST=$INCEPTION_NEST" --label "$LABEL_LEVEL=$NEXT_LEVEL" \
    --label "$LABEL_VERSION=$INCEPTION_VERSION" \
    --env-file "$STATE_DIR/next-level.env" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --volume /usr:/usr:ro \
    --volume "$NEXT_NAME:/var/lib/docker" \
    --volume "$BOARD_DIR:$BOARD_DIR"
  [ -d "$TLS_DIR" ] && set -- "$@" --volume "$TLS_DIR:$TLS_DIR:ro"
  case "$privilege" in
    privileged) set -- "$@" --privileged ;;
    caps)
      set -- "$@" --cap-add ALL
      for cap in $(capabilities_to_drop); do set -- "$@" --cap-drop "$cap"; done
      security=$CAPS_SECURITY
      ;;
    minimal)
      # The same set this level got, passed on as it is: a level never grants more than it has.
      set -- "$@" --cap-drop ALL
      for cap in $INCEPTION_CAPS; do set -- "$@" --cap-add "$cap"; done
      security=$INCEPTION_SECURITY
      ;;
    *) fail "unknown privilege mode '$privilege'" ;;
  esac
  for option in ${security:-}; do
    case "$option" in
      devices=all) set -- "$@" --device-cgroup-rule 'a *:* rwm' ;;
      *) set -- "$@" --security-opt "$option" ;;
    esac
  done
  # A port goes through every level down to the one it targets ("PORT@LEVEL").
  for entry in $INCEPTION_PORTS; do
    if [ "${entry#*@}" -ge "$NEXT_LEVEL" ]; then
      set -- "$@" --publish "${entry%@*}:${entry%@*}"
    fi
  done

  docker volume create --label "$LABEL_NEST=$INCEPTION_NEST" "$NEXT_NAME" >/dev/null ||
    fail "cannot create the volume $NEXT_NAME"
  seed_next_level
  log "starting level $NEXT_LEVEL ($privilege)"
  docker run "$@" "$LEVEL_IMAGE" >/dev/null || fail "cannot start level $NEXT_LEVEL"
  watch_next_level &
}

# A level that ends on its own (its dockerd died, its init failed) is reported on the board,
# unless this level is collapsing the nest on purpose.
watch_next_level() {
  code=$(docker wait "$NEXT_NAME" 2>/dev/null) || return 0
  [ -f "$STATE_DIR/collapse-started" ] && return 0
  state=$(cat "$BOARD_DIR/$BOARD_STATE_PREFIX$NEXT_LEVEL" 2>/dev/null || :)
  case "$state" in
    failed*) ;;
    *) printf 'failed level %s exited with status %s\n' "$NEXT_LEVEL" "$code" \
         >"$BOARD_DIR/$BOARD_STATE_PREFIX$NEXT_LEVEL" ;;
  esac
}

# SIGTERM (docker stop, inception down): the nest collapses innermost first. This level removes
# the level below (which does the same first), with its volume, through this level's engine, so
# that engine takes down the child's network endpoints, cgroups and mounts. Then the init exits
# without waiting for its own dockerd to shut down: PID 1 ending kills every process of the
# level, and its data root is deleted with its volume by the level above, so a clean shutdown of
# this engine would only cost time (about a second per level, measured).
# shellcheck disable=SC2317 # reached through the trap in main
collapse() {
  [ -n "$COLLAPSING" ] && return 0
  COLLAPSING=1
  : >"$STATE_DIR/collapse-started"
  report "stopping"
  if [ -n "$DOCKERD_PID" ] && docker container inspect "$NEXT_NAME" >/dev/null 2>&1; then
    docker stop --time $(((INCEPTION_DEPTH - INCEPTION_LEVEL) * STOP_SECONDS_PER_LEVEL)) "$NEXT_NAME" >/dev/null 2>&1 || :
    docker rm --force --volumes "$NEXT_NAME" >/dev/null 2>&1 || :
    docker volume rm --force "$NEXT_NAME" >/dev/null 2>&1 || :
  fi
  rm -f "$BOARD_DIR/$BOARD_STATE_PREFIX$INCEPTION_LEVEL" "$BOARD_DIR/$BOARD_INFO_PREFIX$INCEPTION_LEVEL"
  log "level $INCEPTION_LEVEL collapsed"
  exit 0
}

# What `inception ps` shows of this level, on the board next to its state: key=value lines.
publish_level_info() {
  id=$(grep -o 'containers/[0-9a-f]\{64\}' /proc/self/mountinfo | head -n 1 | cut -d/ -f2)
  {
    printf 'id=%s\n' "$id"
    printf 'hostname=%s\n' "$(hostname)"
    printf 'dockerd=%s\n' "$DOCKERD_VERSION"
    printf 'storage=%s\n' "$STORAGE_DRIVER"
    printf 'privilege=%s\n' "$INCEPTION_PRIVILEGE_USED"
    # The bridge as the kernel has it, not as planned: ps shows what is, and a difference shows.
    printf 'bridge=%s\n' "$(busybox ip -4 addr show docker0 2>/dev/null | awk '$1 == "inet" { print $2; exit }')"
    printf 'mtu=%s\n' "$MTU"
    printf 'iptables=%s\n' "$INCEPTION_IPTABLES"
    printf 'capeff=%s\n' "$(awk '/^CapEff:/ { print $2 }' /proc/1/status)"
  } >"$BOARD_DIR/.$BOARD_INFO_PREFIX$INCEPTION_LEVEL.tmp"
  mv -f "$BOARD_DIR/.$BOARD_INFO_PREFIX$INCEPTION_LEVEL.tmp" "$BOARD_DIR/$BOARD_INFO_PREFIX$INCEPTION_LEVEL"
}

main() {
  close_inherited_descriptors "$@"
  trap collapse TERM INT
  mkdir -p "$STATE_DIR" "$BOARD_DIR"
  report "starting"
  setup_cgroups || fail "cannot make the cgroup hierarchies writable"
  setup_devices
  setup_data_root
  choose_storage_driver
  choose_iptables
  choose_mtu
  # This image's dockerd version, read once from the binary ("Docker version 26.1.5+dfsg1, build
  # ..."): some steps depend on its major version, and the board shows it.
  DOCKERD_VERSION=$(dockerd --version | sed -n 's/^Docker version \([^,]*\),.*/\1/p')
  DOCKERD_MAJOR=${DOCKERD_VERSION%%.*}
  [ -n "$DOCKERD_MAJOR" ] || DOCKERD_MAJOR=0
  start_containerd
  start_dockerd
  wait_for_dockerd
  log "dockerd $DOCKERD_VERSION answers"
  ensure_images
  if [ "$INCEPTION_LEVEL" -lt "$INCEPTION_DEPTH" ]; then
    launch_next_level
  fi
  publish_level_info
  report "ready $STORAGE_DRIVER"
  log "level $INCEPTION_LEVEL ready (storage driver $STORAGE_DRIVER)"
  # The container lives as long as its engine does. `wait` returns early when a trapped signal
  # arrives, so loop until dockerd has really gone.
  while kill -0 "$DOCKERD_PID" 2>/dev/null; do
    wait "$DOCKERD_PID" || :
  done
  report "failed dockerd exited"
  exit 1
}

# Sourced by the tests (INCEPTION_INIT_SOURCED=1), which run single steps on fake trees.
[ "${INCEPTION_INIT_SOURCED:-}" = 1 ] || main "$@"
