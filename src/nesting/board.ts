import {BOARD_FILE, LEVEL_STATES, type LevelState} from './contract.js'
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
  /** Whether the level's processes still exist (its cgroup has members), seen from level 1. */
  alive?: boolean
  /** The level's data root is mounted read-only: its file system failed under it (ext4 went read-only). */
  dataRootReadOnly?: boolean
}

/**
 * Run in level 1: prints "state K LINE", "info K KEY=VALUE", "memory K BYTES", "alive K yes|no" and
 * "readonly K" (a level whose data root is mounted read-only), which parseBoard reads. The script
 * is image/cli/board-read.sh; where each level's cgroup is comes from image/cli/cgroups.sh.
 */
export const BOARD_READ_SCRIPT = levelScript('board-read.sh')

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
