import {BOARD_DIR, BOARD_FILE, LEVEL_STATES, type LevelState} from './contract.js'

/**
 * Reading the nest's status board (see contract.ts): each level's init writes its state
 * ("starting", "ready DRIVER", "failed REASON", "stopping") and, once ready, its details
 * (key=value lines). One exec into level 1 reads the whole nest, however deep: no chain of execs
 * to poll.
 */

export interface LevelReport {
  level: number
  state: LevelState
  detail: string
  info: Record<string, string>
  memoryBytes?: number
  /** Whether the level's processes still exist (its cgroup has members), seen from level 1. */
  alive?: boolean
  /** The level's data root is mounted read-only: its file system failed under it (ext4 went read-only). */
  dataRootReadOnly?: boolean
}

/**
 * Run in level 1: prints "state K LINE", "info K KEY=VALUE", "memory K BYTES", "alive K yes|no" and,
 * for a level whose data root is mounted read-only (seen in the mount table of one of its
 * processes), "readonly K".
 * Level K's cgroup, seen from level 1's private cgroup namespace, is /docker/ID2/docker/ID3/...,
 * because each level's engine puts its containers under /docker of its own namespace.
 */
export const BOARD_READ_SCRIPT = `
cd ${BOARD_DIR} 2>/dev/null || exit 0
for f in ${BOARD_FILE.statePrefix}*; do [ -f "$f" ] && printf 'state %s %s\\n' "\${f#${BOARD_FILE.statePrefix}}" "$(cat "$f")"; done
for f in ${BOARD_FILE.infoPrefix}*; do [ -f "$f" ] && sed "s/^/info \${f#${BOARD_FILE.infoPrefix}} /" "$f"; done
memory_file() {
  for candidate in "/sys/fs/cgroup/memory$1/memory.usage_in_bytes" "/sys/fs/cgroup$1/memory.current"; do
    [ -f "$candidate" ] && { cat "$candidate"; return 0; }
  done
  return 1
}
# cgroup v1: the pids hierarchy; v2: the level's own cgroup and its init cgroup, where the level's
# init moves its processes (the level's cgroup itself is then empty).
has_processes() {
  for candidate in "/sys/fs/cgroup/pids$1/cgroup.procs" "/sys/fs/cgroup$1/cgroup.procs" "/sys/fs/cgroup$1/init/cgroup.procs"; do
    [ -n "$(cat "$candidate" 2>/dev/null)" ] && return 0
  done
  return 1
}
# The data root's mount as the process sees it: the last mount on that path is the one in use.
# ext4 that aborted its journal shows emergency_ro (kernel 6.x) or ro.
read_only_data_root() {
  awk '$2 == "/var/lib/docker" { ro = $4 ~ /^ro(,|$)|(^|,)emergency_ro(,|$)/ } END { exit !ro }' "/proc/$1/mounts" 2>/dev/null
}
first_process() {
  for candidate in "/sys/fs/cgroup/pids$1/cgroup.procs" "/sys/fs/cgroup$1/init/cgroup.procs" "/sys/fs/cgroup$1/cgroup.procs"; do
    p=$(head -n 1 "$candidate" 2>/dev/null) && [ -n "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}
m=$(memory_file "") && echo "memory 1 $m"
read_only_data_root self && echo "readonly 1"
path=""
k=2
while [ -f "${BOARD_FILE.infoPrefix}$k" ]; do
  id=$(sed -n 's/^id=//p' "${BOARD_FILE.infoPrefix}$k")
  path="$path/docker/$id"
  m=$(memory_file "$path") && echo "memory $k $m"
  has_processes "$path" && echo "alive $k yes" || echo "alive $k no"
  p=$(first_process "$path") && read_only_data_root "$p" && echo "readonly $k"
  k=$((k + 1))
done
`

export function parseBoard(output: string, depth: number): LevelReport[] {
  const reports: LevelReport[] = Array.from({length: depth}, (_, i) => ({level: i + 1, state: 'absent', detail: '', info: {}}))
  for (const line of output.split('\n')) {
    const match = /^(state|info|memory|alive|readonly) (\d+) ?(.*)$/.exec(line.trim())
    if (!match) continue
    const [, kind, levelText, rest] = match
    const report = reports[Number(levelText) - 1]
    if (!report) continue
    if (kind === 'state') {
      const [word = '', ...detail] = rest!.split(' ')
      report.state = (LEVEL_STATES as readonly string[]).includes(word) ? (word as LevelState) : 'absent'
      report.detail = detail.join(' ')
    } else if (kind === 'info') {
      const eq = rest!.indexOf('=')
      if (eq > 0) report.info[rest!.slice(0, eq)] = rest!.slice(eq + 1)
    } else if (kind === 'readonly') {
      report.dataRootReadOnly = true
    } else if (kind === 'memory') {
      report.memoryBytes = Number(rest)
    } else {
      report.alive = rest === 'yes'
    }
  }
  return reports
}

/**
 * The same reports from the board's files as they are (name -> content), read without running
 * anything in level 1: states and details only, no memory or liveness (those come from cgroups).
 */
export function boardFromFiles(files: Record<string, string>, depth: number): LevelReport[] {
  const lines: string[] = []
  for (const [name, content] of Object.entries(files)) {
    if (name.startsWith(BOARD_FILE.statePrefix)) lines.push(`state ${name.slice(BOARD_FILE.statePrefix.length)} ${content.trim()}`)
    else if (name.startsWith(BOARD_FILE.infoPrefix)) {
      const level = name.slice(BOARD_FILE.infoPrefix.length)
      for (const line of content.split('\n')) if (line.trim()) lines.push(`info ${level} ${line}`)
    }
  }
  return parseBoard(lines.join('\n'), depth)
}

/** How many levels, counted from the top, are ready without a gap. */
export function readyDepth(reports: LevelReport[]): number {
  let depth = 0
  for (const report of reports) {
    if (report.state !== 'ready') break
    depth = report.level
  }
  return depth
}

export function firstFailure(reports: LevelReport[]): LevelReport | undefined {
  return reports.find((r) => r.state === 'failed')
}
