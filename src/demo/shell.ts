import {setTimeout as sleep} from 'node:timers/promises'

import type {Nests} from '../nesting/nest.js'
import {bothEndsAreTerminals, withTerminal} from '../terminal.js'

/**
 * `inception demo --shell`: a shell at the innermost level; each `exit` climbs one level, the
 * prompt naming the level and its container. Ends back on the host.
 */
export async function climbOut(nests: Nests, name: string, depth: number, log: (line: string) => void): Promise<void> {
  const tty = bothEndsAreTerminals()
  for (let level = depth; level >= 1; level--) {
    log(`-- level ${level} of ${depth}: type exit to climb up --`)
    const prompt = `[inception L${level} \\h] \\w # `
    await withTerminal({tty, attachStdin: true}, (io) => nests.exec(name, level, ['env', `PS1=${prompt}`, 'bash', '--norc', '-i'], io))
  }
  process.stdin.pause()
  log('-- back on the host --')
}

/** The top, drawn with a body whose stripes turn: one frame per quarter turn. */
const STRIPES = ['\\\\\\', '|||', '///', '---']

function topFrame(frame: number, lean: number): string[] {
  const pad = ' '.repeat(4 + lean)
  return [`${pad}  |`, `${pad} /_\\`, `${pad}(${STRIPES[frame % STRIPES.length]})`, `${pad}  V`, '   ~~~~~~~~~~~']
}

/**
 * The end of the dream, in the terminal: the top spins, wobbles, and may or may not fall.
 * Drawn in place with cursor moves when the output is a terminal; one still frame otherwise.
 */
export async function spinTheTop(write: (text: string) => void, isTerminal: boolean): Promise<void> {
  if (!isTerminal) {
    write(`${topFrame(0, 0).join('\n')}\n`)
    return
  }
  const height = topFrame(0, 0).length
  const wobble = [0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 2, 1, 2, 1, 0, 1, 0, 0, 0]
  for (const [frame, lean] of wobble.entries()) {
    if (frame > 0) write(`\x1b[${height}A`)
    write(
      `${topFrame(frame, lean)
        .map((line) => `${line}\x1b[K`)
        .join('\n')}\n`,
    )
    await sleep(110)
  }
}
