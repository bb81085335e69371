import {LEVEL_STATES, type LevelState} from './contract.js'
import {levelScript} from './level-scripts.js'

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
  /** The level's bounds and use as its cgroups have them (board-read.sh's resource lines): memory_max, cpu_quota_us, pids, oom_kills... */
  resources?: Record<string, string>
  /** Whether the level's processes still exist (its cgroup has members), seen from level 1. */
  alive?: boolean
  /** The level's data root is mounted read-only: its file system failed under it (ext4 went read-only). */
  dataRootReadOnly?: boolean
}

/**
 * Run in level 1: prints "state K LINE", "info K KEY=VALUE", "memory K BYTES", "resource K KEY=VALUE", "alive K yes|no" and
 * "readonly K" (a level whose data root is mounted read-only), which parseBoard reads. The script
 * is image/cli/board-read.sh; where each level's cgroup is comes from image/cli/cgroups.sh.
 */
export const BOARD_READ_SCRIPT = levelScript('board-read.sh')

/**
 * Run in level 1 while `up` waits: prints the board (state and info lines, as above) at once and
 * on each change of a level's state, each time followed by an empty line; ends once every level
 * is ready, one has failed, or the deadline passed. The script is image/cli/board-watch.sh.
 */
export const BOARD_WATCH_SCRIPT = levelScript('board-watch.sh')

/** The boards a watch printed so far, each parsed when its empty line arrives; `rest` keeps a board not yet ended. */
export function boardsOfWatch(output: string, depth: number): {boards: LevelReport[][]; rest: string} {
  const parts = output.split('\n\n')
  const rest = parts.pop() ?? ''
  return {boards: parts.map((part) => parseBoard(part, depth)), rest}
}

export function parseBoard(output: string, depth: number): LevelReport[] {
  const reports: LevelReport[] = Array.from({length: depth}, (_, i) => ({level: i + 1, state: 'absent', detail: '', info: {}}))
  for (const line of output.split('\n')) {
    const match = /^(state|info|memory|resource|alive|readonly) (\d+) ?(.*)$/.exec(line.trim())
    if (!match) continue
    const [, kind, levelText, rest] = match
    const report = reports[Number(levelText) - 1]
    if (!report) continue
    if (kind === 'state') {
      const [word = '', ...detail] = rest!.split(' ')
      report.state = (LEVEL_STATES as readonly string[]).includes(word) ? (word as LevelState) : 'absent'
      report.detail = detail.join(' ')
    } else if (kind === 'info' || kind === 'resource') {
      const eq = rest!.indexOf('=')
      const into = kind === 'info' ? report.info : (report.resources ??= {})
      if (eq > 0) into[rest!.slice(0, eq)] = rest!.slice(eq + 1)
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
