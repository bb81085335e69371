import type {Nests} from './nesting/nest.js'
import {bothEndsAreTerminals, withTerminal} from './terminal.js'

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
