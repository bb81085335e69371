# A bare level: the least a container of the level image does to run an engine. Its cgroups are
# made writable, containerd is started, then dockerd is handed containerd's socket, and nothing
# else happens (no storage or network choices, no images, no board, no next level). The bench
# times it from `docker run` until its engine answers: the physical limit of one level.
#
# It reads no INCEPTION_* variable of the init's contract, so it measures the same thing whatever
# the contract becomes; of the init it runs only the cgroup step. Passed as the
# container's command: `--entrypoint sh IMAGE -c "$(cat bare-level.sh)" bare-level DIR`; dockerd
# listens on DIR/docker.sock and logs to DIR/bare.log (DIR is bind-mounted from the starter).
# shellcheck shell=sh
set -eu

dir=$1
containerd_socket=/run/bare-containerd.sock

# Its cgroups made writable by the init's own step (image/init/cgroups.sh, in the image's /usr,
# which levels pass down), so that a bare level pays what a level pays for them: the one step of
# the init it takes, and that step reads none of the contract's variables. `lib` (the image's
# folder of the init) is set by the bench ahead of this text.
# shellcheck disable=SC2034 # PROC: read by the cgroup step
PROC=/proc
log() { :; }
fail() {
  echo "bare level: $*" >&2
  exit 1
}
# shellcheck source=image/init/cgroups.sh
. "${lib:?set by the bench}/init/cgroups.sh"
setup_cgroups

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
