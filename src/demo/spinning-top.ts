import {hostname} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'

import {BOARD_FILE} from '../nesting/contract.js'
import {Capture, type Engine} from '../nesting/engine.js'
import type {DownReport, Nests} from '../nesting/nest.js'

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
/** Long enough between levels for the page (it polls every 0.7 s) to show each one going. */
const COLLAPSE_PAUSE_MS = 900

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
   * first with a pause between, so the page (served from the innermost level) shows them go;
   * then the nest is removed for real, as `down` does.
   */
  async collapse(name: string, depth: number, onLevel: (level: number) => void = () => undefined): Promise<DownReport> {
    await this.nests.writeBoard(name, BOARD_FILE.collapsing, '').catch(() => undefined)
    for (let level = 1; level <= depth; level++) {
      await sleep(COLLAPSE_PAUSE_MS)
      onLevel(level)
      await this.nests.writeBoard(name, `${BOARD_FILE.statePrefix}${level}`, 'stopping\n').catch(() => undefined)
    }
    return this.nests.down(name)
  }
}
