# Reads the nest's status board in level 1 (src/nesting/board.ts, BOARD_READ_SCRIPT): one exec
# reads the whole nest, however deep. Prints "state K LINE", "info K KEY=VALUE", "memory K BYTES",
# "alive K yes|no" and, for a level whose data root is mounted read-only (seen in the mount table
# of one of its processes), "readonly K". The contract's shell half and cgroups.sh come first.
# shellcheck shell=sh

cd "$BOARD_DIR" 2>/dev/null || exit 0
for f in "$BOARD_STATE_PREFIX"*; do [ -f "$f" ] && printf 'state %s %s\n' "${f#"$BOARD_STATE_PREFIX"}" "$(cat "$f")"; done
for f in "$BOARD_INFO_PREFIX"*; do [ -f "$f" ] && sed "s/^/info ${f#"$BOARD_INFO_PREFIX"} /" "$f"; done

memory_file() {
  for candidate in "$CGROUP_ROOT/memory$1/memory.usage_in_bytes" "$CGROUP_ROOT$1/memory.current"; do
    [ -f "$candidate" ] && {
      cat "$candidate"
      return 0
    }
  done
  return 1
}

# The data root's mount as the process sees it: the last mount on that path is the one in use.
# ext4 that aborted its journal shows emergency_ro (kernel 6.x) or ro.
read_only_data_root() {
  awk '$2 == "/var/lib/docker" { ro = $4 ~ /^ro(,|$)|(^|,)emergency_ro(,|$)/ } END { exit !ro }' "$PROC/$1/mounts" 2>/dev/null
}

m=$(memory_file "") && echo "memory 1 $m"
read_only_data_root self && echo "readonly 1"
level_cgroups | while read -r k cgroup; do
  m=$(memory_file "$cgroup") && echo "memory $k $m"
  processes=$(level_processes "$cgroup")
  if [ -n "$processes" ]; then echo "alive $k yes"; else echo "alive $k no"; fi
  # Its first process's mount table.
  for p in $processes; do
    read_only_data_root "$p" && echo "readonly $k"
    break
  done
done
