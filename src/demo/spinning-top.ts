import {hostname} from 'node:os'

import {BOARD_FILE} from '../nesting/contract.js'
import {Capture, type Engine} from '../nesting/engine.js'
import type {DownReport, Nests} from '../nesting/nest.js'
import {pollUntil, systemClock} from '../nesting/poll.js'

/**
 * The spinning-top demo lives here (this file and shell.ts), with its page and CGI in image/demo/
 * (they ship in the level image, so every level can serve them) and its command in
 * src/commands/demo.ts. The page reads the nest's status board; this file writes to the board
 * only through the nest's own API.
 */

/** The page and its CGI ship in the image under /usr, so every level has them. */
export const DEMO_ROOT = '/usr/local/share/inception/demo'
export const DEMO_INNER_PORT = 8080
export const DEMO_NEST = 'demo'
/** The least time between two steps of the collapse, so that a viewer sees each one. */
const COLLAPSE_PAUSE_MS = 900
/**
 * How long a step waits for an open page to show it (its CGI acknowledges on the board what it
 * served). Without a page, a step takes the pause only; with one, the collapse goes at the page's
 * pace, up to this long a step, so a page that was closed meanwhile holds nothing up for long.
 */
const PAGE_WAIT_MS = 8000
const PAGE_POLL_MS = 100

/** What the page was last served, from its acknowledgement on the board ("COLLAPSING GOING"). */
export interface PageSeen {
  collapsing: boolean
  going: number
}

export function parsePageSeen(text: string | undefined): PageSeen | undefined {
  const match = /^([01]) (\d+)\s*$/.exec(text ?? '')
  return match ? {collapsing: match[1] === '1', going: Number(match[2])} : undefined
}

const quiet = () => ({stdout: new Capture(), stderr: new Capture()})

/**
 * The spinning-top demo: a web server in the innermost level, its port chained to the host,
 * serving a page that reads the nest's status board live.
 */
export class SpinningTop {
  constructor(
    private readonly nests: Nests,
    private readonly engine: Engine,
  ) {}

  /** Writes what the page shows of the host onto the board (level 1 owns it). */
  async describeHost(name: string): Promise<void> {
    const engine = (await this.engine.info()).serverVersion
    await this.nests.writeBoard(name, BOARD_FILE.host, `name=${hostname()}\nengine=${engine}\n`)
  }

  /** Starts busybox httpd (from the image's own tools) in the innermost level. */
  async serve(name: string, depth: number): Promise<void> {
    const code = await this.nests.exec(name, depth, ['busybox', 'httpd', '-p', String(DEMO_INNER_PORT), '-h', DEMO_ROOT], quiet())
    if (code !== 0) throw new Error(`the demo web server did not start at level ${depth} (exit ${code})`)
  }

  /**
   * Wakes up: the board says the dream is collapsing and marks each level going, outermost
   * first; then the nest is removed for real, as `down` does. Each step waits at least
   * COLLAPSE_PAUSE_MS and, when a page is open (it has acknowledged an answer on the board), until
   * the page has shown it: on a slow machine the page's answers lag, and a collapse on a fixed
   * beat was over before the page had shown a single level going.
   */
  async collapse(name: string, depth: number, onLevel: (level: number) => void = () => undefined, hurry?: AbortSignal): Promise<DownReport> {
    // Paced by a page only while one answers: a page that was closed (its last acknowledgement
    // stays on the board) costs one step's wait, not every step's.
    let watched = parsePageSeen(await this.nests.readBoardFile(name, BOARD_FILE.pageSeen).catch(() => undefined)) !== undefined
    const step = async (write: () => Promise<void>, shown: (seen: PageSeen) => boolean) => {
      if (hurry?.aborted) return
      const started = Date.now()
      await write().catch(() => undefined)
      if (watched) watched = await this.untilThePageShows(name, shown, hurry)
      const left = COLLAPSE_PAUSE_MS - (Date.now() - started)
      if (left > 0) await systemClock.sleep(left, hurry)
    }
    await step(
      () => this.nests.writeBoard(name, BOARD_FILE.collapsing, ''),
      (seen) => seen.collapsing,
    )
    for (let level = 1; level <= depth; level++) {
      onLevel(level)
      await step(
        () => this.nests.writeBoard(name, `${BOARD_FILE.statePrefix}${level}`, 'stopping\n'),
        (seen) => seen.going >= level,
      )
    }
    return this.nests.down(name)
  }

  /** Whether the page showed the step in time (false: no page is watching any more, or hurried). */
  private async untilThePageShows(name: string, shown: (seen: PageSeen) => boolean, hurry?: AbortSignal): Promise<boolean> {
    return pollUntil(
      async () => {
        if (hurry?.aborted) return false
        const seen = parsePageSeen(await this.nests.readBoardFile(name, BOARD_FILE.pageSeen).catch(() => undefined))
        return seen && shown(seen) ? true : undefined
      },
      {intervalMs: PAGE_POLL_MS, timeoutMs: PAGE_WAIT_MS, signal: hurry},
    ).catch(() => false)
  }
}
