import type {Nests} from './nesting/nest.js'

/**
 * `inception demo --shell`: a shell at the innermost level; each `exit` climbs one level, the
 * prompt naming the level and its container. Ends back on the host.
 */
export async function climbOut(nests: Nests, name: string, depth: number, log: (line: string) => void): Promise<void> {
  const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY)
  for (let level = depth; level >= 1; level--) {
    log(`-- level ${level} of ${depth}: type exit to climb up --`)
    const prompt = `[inception L${level} \\h] \\w # `
    if (tty) process.stdin.setRawMode(true)
    try {
      await nests.exec(name, level, ['env', `PS1=${prompt}`, 'bash', '--norc', '-i'], {
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
        tty,
        size: tty ? {columns: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24} : undefined,
      })
    } finally {
      if (tty) process.stdin.setRawMode(false)
    }
  }
  process.stdin.pause()
  log('-- back on the host --')
}
