import type {ExecIo} from './nesting/engine.js'

/**
 * Runs an exec wired to this process's terminal: standard streams, the terminal's size, and raw
 * mode while it runs (so keys such as Ctrl-C reach the command, not this process), restored after.
 */
export async function withTerminal<T>(options: {tty: boolean; attachStdin: boolean}, run: (io: ExecIo) => Promise<T>): Promise<T> {
  const raw = options.tty && Boolean(process.stdin.isTTY)
  if (raw) process.stdin.setRawMode(true)
  try {
    return await run({
      stdin: options.attachStdin ? process.stdin : undefined,
      stdout: process.stdout,
      stderr: process.stderr,
      tty: options.tty,
      size: options.tty ? {columns: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24} : undefined,
    })
  } finally {
    if (raw) process.stdin.setRawMode(false)
  }
}

/** A terminal on both ends: what docker's `-it` would be. */
export function bothEndsAreTerminals(): boolean {
  return Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY)
}
