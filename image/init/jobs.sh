# The init's background jobs, by name: what runs beside the steps (containerd, the image seed's
# unpacking, the next level's data root, dockerd, an image import, the watch on the next level).
# A step starts one with start_job and a later step awaits it with await_job, so that main shows
# what overlaps what: these overlaps are what makes a level start fast. Sourced by init.sh.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

# Job NAME's pid is in JOB_PID_NAME until it is awaited, its exit status in JOB_STATUS_NAME after.
# Variables, not files: only this shell can wait for its children, so no other process could use
# them (dockerd's pid is written to the state folder apart, for what runs inside the level).
# NAME: letters, digits and underscores.

# Usage: start_job NAME COMMAND [ARG...]; COMMAND may be a function (it runs in a subshell).
start_job() {
  local name="$1"
  shift
  "$@" &
  eval "JOB_PID_$name=\$! JOB_STATUS_$name="
}

# Whether job NAME was started, whether or not it has been awaited since.
job_started() {
  local pid status
  eval "pid=\${JOB_PID_$1:-} status=\${JOB_STATUS_$1:-}"
  [ -n "$pid$status" ]
}

# Whether job NAME (a daemon, which must not end) is still running.
job_running() {
  local pid
  eval "pid=\${JOB_PID_$1:-}"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Prints job NAME's pid (empty once it was awaited).
job_pid() {
  eval "printf '%s' \"\${JOB_PID_$1:-}\""
}

# Waits for job NAME and returns its exit status, logging a failure under its name: 0 for a job
# never started, the recorded status for one awaited before. `wait` also returns when a trapped
# signal arrives (status above 128) with the job still running: it is then waited for again.
await_job() {
  local pid status
  eval "pid=\${JOB_PID_$1:-} status=\${JOB_STATUS_$1:-0}"
  [ -n "$pid" ] || return "$status"
  status=0
  wait "$pid" || status=$?
  while [ "$status" -gt 128 ] && kill -0 "$pid" 2>/dev/null; do
    status=0
    wait "$pid" || status=$?
  done
  eval "JOB_PID_$1= JOB_STATUS_$1=$status"
  [ "$status" -eq 0 ] || log "job $1 ended with status $status"
  return "$status"
}

# Awaits job NAME, if it was started, and forgets how it ended: a later await_job returns 0.
discard_job() {
  await_job "$1" || :
  eval "JOB_STATUS_$1="
}

# Ends job NAME (a daemon) and waits for it; its status after SIGTERM says nothing worth failing on.
stop_job() {
  local pid
  eval "pid=\${JOB_PID_$1:-}"
  [ -n "$pid" ] || return 0
  if kill "$pid"; then wait "$pid" || :; fi
  eval "JOB_PID_$1= JOB_STATUS_$1=0"
}
