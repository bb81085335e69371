#!/bin/sh
# inception-load: loads an image archive (what `docker save` writes), read once from standard
# input, into this level's engine and every level below it down to LAST. `inception load
# --all-levels` runs it in level 1. Each level keeps a copy of the stream for its own engine
# (tee into a FIFO) and passes the stream on to the next level, so the data crosses each level
# boundary once and is never saved again on the way down.
# Usage: inception-load LAST
# It runs in a level container, which has INCEPTION_LEVEL and INCEPTION_NEST in its environment.
set -eu

last=$1
level=${INCEPTION_LEVEL:?inception-load runs inside a level of a nest}
next="${INCEPTION_NEST:?}-l$((level + 1))"

# docker load's own lines, marked with the level; its exit status is kept (sh has no pipefail).
load_here() {
  status_file=$1
  { docker load || echo $? >"$status_file"; } | sed "s/^/level $level: /"
}

status_file=$(mktemp /tmp/inception-load.status.XXXXXX)
trap 'rm -f "$status_file" "${fifo:-}"' EXIT

if [ "$level" -ge "$last" ]; then
  load_here "$status_file"
else
  fifo=$(mktemp -u /tmp/inception-load.fifo.XXXXXX)
  mkfifo "$fifo"
  load_here "$status_file" <"$fifo" &
  loader=$!
  passed=0
  tee "$fifo" | docker exec -i "$next" inception-load "$last" || passed=$?
  wait "$loader" || :
  [ "$passed" -eq 0 ] || { echo "level $level: passing the images to level $((level + 1)) failed" >&2; exit "$passed"; }
fi
if [ -s "$status_file" ]; then
  echo "level $level: docker load failed" >&2
  exit "$(cat "$status_file")"
fi
