# Follows the nest's status board in level 1 while `up` waits for the levels (src/nesting/launch.ts,
# BOARD_WATCH_SCRIPT): prints the board, as board-read.sh's "state K LINE" and "info K KEY=VALUE"
# lines followed by an empty line, at once and then each time a level's state changes; and ends when
# every level is ready, when one has failed, or after DEADLINE seconds.
#
# One exec for the whole wait, because every other way to read the board costs the machine what
# the levels need: a read through the engine's archive API makes dockerd re-execute itself to
# write the tar (about 60 ms of a processor each, measured on a 2-core machine: a whole core at
# the 20 ms a read `up` needs), and an exec per read starts a process through the runtime each
# time. Here a tick reads the state files with the shell's own `read`; only the pause forks.
# Usage: sh -c SCRIPT board-watch DEPTH DEADLINE_SECONDS
# shellcheck shell=sh

depth=$1
ticks=$(($2 * 50))
cd "$BOARD_DIR" 2>/dev/null || exit 1

shown=
while [ "$ticks" -gt 0 ]; do
  states='' ready=0 failed=''
  k=1
  while [ "$k" -le "$depth" ]; do
    state=
    { [ -f "$BOARD_STATE_PREFIX$k" ] && read -r state <"$BOARD_STATE_PREFIX$k"; } 2>/dev/null || :
    states="$states$k $state
"
    case "$state" in
      ready*) ready=$((ready + 1)) ;;
      failed*) failed=1 ;;
    esac
    k=$((k + 1))
  done
  if [ "$states" != "$shown" ]; then
    printf '%s' "$states" | while read -r k state; do
      [ -z "$state" ] || printf 'state %s %s\n' "$k" "$state"
    done
    for f in "$BOARD_INFO_PREFIX"*; do [ -f "$f" ] && sed "s/^/info ${f#"$BOARD_INFO_PREFIX"} /" "$f"; done
    echo
    shown=$states
  fi
  if [ "$ready" -eq "$depth" ] || [ -n "$failed" ]; then exit 0; fi
  sleep 0.02
  ticks=$((ticks - 1))
done
exit 0
