# The init's engine steps: containerd, dockerd with its options (those rendered by the CLI, and
# the few only this level can decide), and the wait until it answers. Sourced by init.sh.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

DOCKERD_VERSION=
DOCKERD_MAJOR=0

# This image's dockerd version ("Docker version 26.1.5+dfsg1, build ..."): some steps depend on
# its major version, and the board shows it. The image build writes it down once, so that a
# level does not start a Go binary to ask (about 50 ms a level); the binary is asked otherwise.
read_dockerd_version() {
  local version
  version=$(cat "$INCEPTION_LIB/dockerd-version" 2>/dev/null || dockerd --version)
  DOCKERD_VERSION=$(printf '%s\n' "$version" | sed -n 's/^Docker version \([^,]*\),.*/\1/p')
  DOCKERD_MAJOR=${DOCKERD_VERSION%%.*}
  [ -n "$DOCKERD_MAJOR" ] || DOCKERD_MAJOR=0
}

# dockerd 26 and later dial the containerd they start before its socket exists, and gRPC's
# reconnect backoff then holds them for a second (measured: 0.9 s of every level's start). So
# the init starts containerd itself, with the settings dockerd would give it (its data on the
# data root, the CRI plugin off), and hands dockerd the socket once it is there. It starts as soon
# as the data root is there, and the init's other steps (storage driver, iptables, MTU) run while
# it comes up: the job containerd, which start_dockerd hands to dockerd.
CONTAINERD_SOCKET=/var/run/docker/containerd/containerd.sock
# dockerd's pid file: a level restarted keeps the one its last dockerd left, which dockerd refuses
# to start over. A variable, so that the init's tests move it off the machine's own.
DOCKERD_PID_FILE=/var/run/docker.pid

start_containerd() {
  # dockerd 20.10 waits for its own containerd without that backoff: there, a handover would
  # only put containerd's start before dockerd's instead of beside it (0.3 s a level, measured).
  [ "$DOCKERD_MAJOR" -ge 23 ] || return 0
  mkdir -p /var/run/docker/containerd || fail "cannot make /var/run/docker/containerd"
  printf '%s\n' 'version = 2' 'root = "/var/lib/docker/containerd/daemon"' \
    'state = "/var/run/docker/containerd/daemon"' 'disabled_plugins = ["io.containerd.grpc.v1.cri"]' \
    '[grpc]' "  address = \"$CONTAINERD_SOCKET\"" >"$STATE_DIR/containerd.toml" ||
    fail "cannot write containerd's settings to $STATE_DIR/containerd.toml"
  start_job containerd containerd --config "$STATE_DIR/containerd.toml"
}

wait_for_containerd() {
  local ticks
  job_started containerd || return 0
  ticks=$((INCEPTION_READY_TIMEOUT * 50))
  until [ -S "$CONTAINERD_SOCKET" ]; do
    job_running containerd || fail "containerd exited while starting (see the log above)"
    ticks=$((ticks - 1))
    [ "$ticks" -gt 0 ] || fail "containerd did not listen within ${INCEPTION_READY_TIMEOUT}s"
    sleep 0.02
  done
}

# The proxy and CA certificates the CLI passed (the host engine's, or up's flags): in dockerd's
# environment, for its pulls, pushes and builds (BuildKit runs inside it). Go reads SSL_CERT_DIR
# besides the system's bundle file.
registry_environment() {
  if [ -n "$INCEPTION_HTTP_PROXY" ]; then
    export HTTP_PROXY="$INCEPTION_HTTP_PROXY" HTTPS_PROXY="$INCEPTION_HTTP_PROXY"
    export http_proxy="$INCEPTION_HTTP_PROXY" https_proxy="$INCEPTION_HTTP_PROXY"
  fi
  if [ -n "$INCEPTION_NO_PROXY" ]; then
    export NO_PROXY="$INCEPTION_NO_PROXY" no_proxy="$INCEPTION_NO_PROXY"
  fi
  [ -n "$INCEPTION_CA_CERTS" ] || return 0
  mkdir -p "$STATE_DIR/ca-certs" || fail "cannot make $STATE_DIR/ca-certs"
  printf '%s' "$INCEPTION_CA_CERTS" | base64 -d >"$STATE_DIR/ca-certs/inception.pem" ||
    fail "cannot write the CA certificates to $STATE_DIR/ca-certs"
  export SSL_CERT_DIR="/etc/ssl/certs:$STATE_DIR/ca-certs"
}

# The level's docker CLI gives containers started here the proxy (its config's "proxies"), as
# Docker documents for a client behind one. Written once the next level runs: the next level's
# container is the plan's, verbatim, and the CLI would add the proxy to it too.
# A variable, so that the init's tests move it off the machine's own.
CLIENT_CONFIG_DIR=/root/.docker

write_client_config() {
  [ -n "$INCEPTION_HTTP_PROXY$INCEPTION_NO_PROXY" ] || return 0
  mkdir -p "$CLIENT_CONFIG_DIR" || fail "cannot make $CLIENT_CONFIG_DIR"
  printf '{"proxies": {"default": {"httpProxy": "%s", "httpsProxy": "%s", "noProxy": "%s"}}}\n' \
    "$INCEPTION_HTTP_PROXY" "$INCEPTION_HTTP_PROXY" "$INCEPTION_NO_PROXY" >"$CLIENT_CONFIG_DIR/config.json" ||
    fail "cannot write the docker CLI's settings to $CLIENT_CONFIG_DIR/config.json"
}

start_dockerd() {
  registry_environment
  set -- --host=unix:///var/run/docker.sock --storage-driver="$STORAGE_DRIVER"
  if job_started containerd; then set -- "$@" --containerd="$CONTAINERD_SOCKET"; fi
  # shellcheck disable=SC2046 # one option per line, none with spaces
  set -- "$@" $(network_options)
  # shellcheck disable=SC2086 # the rendered options are a space-separated list, none with spaces
  set -- "$@" $INCEPTION_DOCKERD_OPTIONS
  rm -f "$DOCKERD_PID_FILE"
  # Where /proc/sys is read-only (the minimal privilege mode leaves it masked), dockerd 26 and
  # later cannot turn IPv6 off on a new container's interface and refuse to start it ("failed to
  # disable IPv6 on container's interface eth0"). This lets them go on: such interfaces keep
  # their IPv6 link-local address, nothing more.
  if awk '$2 == "/proc/sys" && ("," $4 ",") ~ /,ro,/ { found = 1 } END { exit !found }' "$PROC/self/mounts"; then
    export DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1
  fi
  log "starting dockerd $*"
  start_job dockerd dockerd "$@"
  printf '%s\n' "$(job_pid dockerd)" >"$STATE_DIR/dockerd.pid" || fail "cannot write dockerd's pid to $STATE_DIR/dockerd.pid"
}

wait_for_dockerd() {
  local ticks
  # Twentieths of a second, so the wait ends as soon as the engine answers (each level waits
  # here, so every tick is paid once per level); the socket is checked first, as it is cheap.
  ticks=$((INCEPTION_READY_TIMEOUT * 20))
  until [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1; do
    job_running dockerd || fail "dockerd exited while starting (see the log above)"
    ticks=$((ticks - 1))
    [ "$ticks" -gt 0 ] || fail "dockerd did not answer within ${INCEPTION_READY_TIMEOUT}s"
    sleep 0.05
  done
}
