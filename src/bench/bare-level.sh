# A bare level: the least a container of the level image does to run an engine. Its cgroups are
# made writable, containerd is started, then dockerd is handed containerd's socket, and nothing
# else happens (no storage or network choices, no images, no board, no next level). The bench
# times it from `docker run` until its engine answers: the physical limit of one level.
#
# It is self-contained on purpose: it reads no INCEPTION_* variable and sources nothing of the
# init, so it measures the same thing whatever the init's contract becomes. Passed as the
# container's command: `--entrypoint sh IMAGE -c "$(cat bare-level.sh)" bare-level DIR`; dockerd
# listens on DIR/docker.sock and logs to DIR/bare.log (DIR is bind-mounted from the starter).
# shellcheck shell=sh
set -eu

dir=$1
cgroup=/sys/fs/cgroup
containerd_socket=/run/bare-containerd.sock

# cgroup v1 (the init's way, inlined): a container that is not --privileged gets every hierarchy
# read-only. Each is detached lazily and mounted again inside the container's own cgroup
# namespace, writable. The list is read whole first: a remount moves its line in the mount table.
writable_cgroup_v1() {
  touch "$cgroup/.bare-rw" 2>/dev/null || mount -o remount,rw "$cgroup"
  rm -f "$cgroup/.bare-rw"
  hierarchies=$(awk '$3 == "cgroup" && ("," $4 ",") ~ /,ro,/ {
    n = split($4, opts, ","); subsystems = ""
    for (i = 1; i <= n; i++)
      if (opts[i] !~ /^(ro|rw|nosuid|nodev|noexec|relatime|noatime|nodiratime|clone_children)$/)
        subsystems = subsystems (subsystems == "" ? "" : ",") opts[i]
    print $2, subsystems
  }' /proc/self/mounts)
  printf '%s\n' "$hierarchies" | while read -r mountpoint subsystems; do
    [ -n "$mountpoint" ] || continue
    umount -l "$mountpoint"
    mount -t cgroup -o "$subsystems" cgroup "$mountpoint"
  done
}

# cgroup v2 (moby's hack/dind): every process leaves the root cgroup, so that the controllers
# can be enabled for the cgroups dockerd makes. The kernel refuses a lone "+" (no controllers).
writable_cgroup_v2() {
  touch "$cgroup/.bare-rw" 2>/dev/null || mount -o remount,rw "$cgroup"
  rm -f "$cgroup/.bare-rw"
  mkdir -p "$cgroup/init"
  # Read whole first: moving processes changes the list under a reader. One that ended meanwhile stays behind.
  pids=$(cat "$cgroup/cgroup.procs")
  for pid in $pids; do
    echo "$pid" >>"$cgroup/init/cgroup.procs" 2>/dev/null || :
  done
  controllers=$(cat "$cgroup/cgroup.controllers")
  # shellcheck disable=SC2086 # one word per controller
  [ -z "$controllers" ] || printf '+%s ' $controllers >"$cgroup/cgroup.subtree_control"
}

if [ -f "$cgroup/cgroup.controllers" ]; then writable_cgroup_v2; else writable_cgroup_v1; fi

# containerd first, with the settings dockerd would give it (its data on the data root, the CRI
# plugin off): dockerd 26 and later dial a containerd they start themselves before its socket
# exists, and gRPC's backoff then holds them for a second.
printf '%s\n' 'version = 2' 'root = "/var/lib/docker/containerd/daemon"' 'state = "/run/bare-containerd"' \
  'disabled_plugins = ["io.containerd.grpc.v1.cri"]' '[grpc]' "  address = \"$containerd_socket\"" >/run/bare-containerd.toml
containerd --config /run/bare-containerd.toml >>"$dir/bare.log" 2>&1 &
containerd_pid=$!
until [ -S "$containerd_socket" ]; do
  kill -0 "$containerd_pid" 2>/dev/null || exit 1
  sleep 0.01
done
exec dockerd "--host=unix://$dir/docker.sock" "--containerd=$containerd_socket" >>"$dir/bare.log" 2>&1
