# Reads the nest's status board in level 1 (src/nesting/board.ts, BOARD_READ_SCRIPT): one exec
# reads the whole nest, however deep. Prints "state K LINE", "info K KEY=VALUE", "memory K BYTES",
# "resource K KEY=VALUE", "alive K yes|no" and, for a level whose data root is mounted read-only (seen in the mount table
# of one of its processes), "readonly K". The contract's shell half and cgroups.sh come first.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

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

# Prints "resource K KEY=VALUE" for level $1, whose cgroup is $2, from the kernel: its bounds
# (memory_max, cpu_quota_us, cpu_period_us, cpuset, pids_max; "max" or -1 when unbounded), what
# it uses (cpu_usec, pids) and, with a memory budget, its OOM kills at it (cgroup v1: its counter's
# file on the board; v2: its memory.events, which count every kill under it). Builtins only (read,
# not cat): this runs for every level at every `ps`. Its callers silence it: a file that is not
# there (no counter without a memory budget) is a figure not shown.
show_resource() { [ -z "$2" ] || echo "resource $1 $2"; }

level_resources() {
  local value key quota period
  if [ -f "$CGROUP_ROOT/cgroup.controllers" ]; then
    value=; read -r value <"$CGROUP_ROOT$2/memory.max" 2>/dev/null; show_resource "$1" "${value:+memory_max=$value}"
    read -r quota period <"$CGROUP_ROOT$2/cpu.max" 2>/dev/null && show_resource "$1" "cpu_quota_us=$quota" && show_resource "$1" "cpu_period_us=$period"
    value=; read -r value <"$CGROUP_ROOT$2/cpuset.cpus.effective" 2>/dev/null; show_resource "$1" "${value:+cpuset=$value}"
    value=; read -r value <"$CGROUP_ROOT$2/pids.max" 2>/dev/null; show_resource "$1" "${value:+pids_max=$value}"
    value=; read -r value <"$CGROUP_ROOT$2/pids.current" 2>/dev/null; show_resource "$1" "${value:+pids=$value}"
    while read -r key value; do [ "$key" = usage_usec ] && show_resource "$1" "cpu_usec=$value"; done <"$CGROUP_ROOT$2/cpu.stat" 2>/dev/null
    while read -r key value; do [ "$key" = oom_kill ] && show_resource "$1" "oom_kills=$value"; done <"$CGROUP_ROOT$2/memory.events" 2>/dev/null
    return 0
  fi
  value=; read -r value <"$CGROUP_ROOT/memory$2/memory.limit_in_bytes" 2>/dev/null; show_resource "$1" "${value:+memory_max=$value}"
  value=; read -r value <"$CGROUP_ROOT/cpu$2/cpu.cfs_quota_us" 2>/dev/null; show_resource "$1" "${value:+cpu_quota_us=$value}"
  value=; read -r value <"$CGROUP_ROOT/cpu$2/cpu.cfs_period_us" 2>/dev/null; show_resource "$1" "${value:+cpu_period_us=$value}"
  value=; read -r value <"$CGROUP_ROOT/cpuset$2/cpuset.cpus" 2>/dev/null; show_resource "$1" "${value:+cpuset=$value}"
  value=; read -r value <"$CGROUP_ROOT/pids$2/pids.max" 2>/dev/null; show_resource "$1" "${value:+pids_max=$value}"
  value=; read -r value <"$CGROUP_ROOT/pids$2/pids.current" 2>/dev/null; show_resource "$1" "${value:+pids=$value}"
  value=; read -r value <"$CGROUP_ROOT/cpuacct$2/cpuacct.usage" 2>/dev/null; show_resource "$1" "${value:+cpu_usec=$((value / 1000))}"
  value=; read -r value <"$BOARD_OOM_PREFIX$1" 2>/dev/null; show_resource "$1" "${value:+oom_kills=$value}"
}

# The data root's mount as the process sees it: the last mount on that path is the one in use.
# ext4 that aborted its journal shows emergency_ro (kernel 6.x) or ro.
read_only_data_root() {
  awk '$2 == "/var/lib/docker" { ro = $4 ~ /^ro(,|$)|(^|,)emergency_ro(,|$)/ } END { exit !ro }' "$PROC/$1/mounts" 2>/dev/null
}

m=$(memory_file "") && echo "memory 1 $m"
level_resources 1 "" 2>/dev/null
read_only_data_root self && echo "readonly 1"
level_cgroups | while read -r k cgroup; do
  m=$(memory_file "$cgroup") && echo "memory $k $m"
  level_resources "$k" "$cgroup" 2>/dev/null
  processes=$(level_processes "$cgroup")
  if [ -n "$processes" ]; then echo "alive $k yes"; else echo "alive $k no"; fi
  # Its first process's mount table.
  for p in $processes; do
    read_only_data_root "$p" && echo "readonly $k"
    break
  done
done
