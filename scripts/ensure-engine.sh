#!/bin/sh
# Makes sure a Docker engine answers, for the tests, the benchmark and the demo.
# Does nothing when one already answers. Otherwise, as root on Debian, installs the engine from
# Debian's packages and starts dockerd in the background (log: /var/log/inception-dockerd.log).
# Anywhere else it says how to install Docker and exits non-zero.
set -eu

ENGINE_WAIT_SECONDS=${ENGINE_WAIT_SECONDS:-60}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/inception-dockerd.log}

say() { printf 'ensure-engine: %s\n' "$*" >&2; }

engine_answers() {
  command -v docker >/dev/null 2>&1 && docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

is_debian_root() {
  [ "$(id -u)" -eq 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1
}

install_packages() {
  missing=""
  command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
  command -v iptables >/dev/null 2>&1 || missing="$missing iptables"
  command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
  [ -z "$missing" ] && return 0
  say "installing$missing from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

start_dockerd() {
  # A session that ended may have left its pid file behind; dockerd refuses to start over it.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    say "removing stale /var/run/docker.pid"
    rm -f /var/run/docker.pid
  fi
  if [ -f /var/run/docker/containerd/containerd.pid ] &&
     ! kill -0 "$(cat /var/run/docker/containerd/containerd.pid)" 2>/dev/null; then
    rm -f /var/run/docker/containerd/containerd.pid
  fi
  say "starting dockerd (log: $DOCKERD_LOG)"
  # setsid: the daemon must outlive the shell that started it. Descriptors 3-9 are closed: the
  # daemon would hold whatever the caller had open for as long as it runs (a lock held with
  # flock was never released, as the classic dind's wrapdocker found for its own children).
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
}

wait_for_engine() {
  waited=0
  while ! engine_answers; do
    if [ "$waited" -ge "$ENGINE_WAIT_SECONDS" ]; then
      say "dockerd did not answer within ${ENGINE_WAIT_SECONDS}s; last lines of $DOCKERD_LOG:"
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "engine ready ($(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}'))"
}

main() {
  if engine_answers; then
    return 0
  fi
  if ! is_debian_root; then
    say "no Docker engine answers and this is not Debian as root."
    say "Install Docker (https://docs.docker.com/engine/install/) and start it, or set DOCKER_HOST."
    exit 1
  fi
  install_packages
  start_dockerd
  wait_for_engine
}

main "$@"
