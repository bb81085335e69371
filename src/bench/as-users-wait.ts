/**
 * What users wait for, timed as they run it (the CLI as a new process: Node's start, the
 * checks, the nest), beside the physical limit measured in the same run (physical-limit.ts): a
 * bare level, a container of the same image with the same privileges whose only job is an
 * answering engine.
 */
import {execa} from 'execa'
import {request as httpRequest} from 'node:http'

import {pollUntil} from '../nesting/poll.js'

const BIN = new URL('../../bin/run.js', import.meta.url).pathname
export const NEST = 'bench'
const PORT = 18_181
const INNER_PORT = 8080

export const seconds = (ms: number) => Math.round(ms / 10) / 100

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** The CLI as a user runs it; its wall-clock milliseconds. Fails loudly: a figure of a failed run is no figure. */
export async function timedCli(args: string[]): Promise<number> {
  const started = performance.now()
  const result = await execa('node', [BIN, ...args], {reject: false, env: {CI: 'true'}})
  if (result.exitCode !== 0) throw new Error(`inception ${args.join(' ')} failed (${result.exitCode}): ${String(result.stderr).trim()}`)
  return performance.now() - started
}

function answers(options: {port?: number; socketPath?: string; path: string}): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({host: '127.0.0.1', ...options, timeout: 1000}, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode === 200))
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

export async function untilAnswering(options: {port?: number; socketPath?: string; path: string}, what: string): Promise<void> {
  await pollUntil(async () => ((await answers(options)) ? true : undefined), {
    intervalMs: 10,
    timeoutMs: 60_000,
    onTimeout: () => new Error(`${what} did not answer within 60 s`),
  })
}

export interface DepthRun {
  /** `up --depth N` until it returns (every level's engine answers). */
  upMs: number
  /** From the start of `up` until a server at level N answers on the host through the -p chain. */
  chainMs: number
  /** `exec --level N -- true`, median of three. */
  execMs: number
  downMs: number
  /** Level 1's memory once the chain answers (every level below is inside it). */
  levelOneMemoryMB?: number
}

/** One nest of depth N, timed from the CLI: up, the chain answering, exec at the bottom, down. */
export async function depthRun(depth: number): Promise<DepthRun> {
  await execa('node', [BIN, 'down', '--name', NEST], {reject: false})
  const started = performance.now()
  const upMs = await timedCli(['up', '--name', NEST, '--depth', String(depth), '-p', `${PORT}:${INNER_PORT}`, '--max-depth', String(Math.max(16, depth))])
  const serve = ['busybox', 'httpd', '-p', String(INNER_PORT), '-h', '/usr/local/share/inception/demo']
  await timedCli(['exec', '--name', NEST, '--level', String(depth), '--', ...serve])
  await untilAnswering({port: PORT, path: '/'}, `the chain from level ${depth}`)
  const chainMs = performance.now() - started
  const ps = await execa('node', [BIN, 'ps', '--name', NEST, '--json'])
  const levelOneBytes = (JSON.parse(String(ps.stdout)) as Array<{levels: Array<{memoryBytes?: number}>}>)[0]?.levels[0]?.memoryBytes
  const execs: number[] = []
  for (let i = 0; i < 3; i++) execs.push(await timedCli(['exec', '--name', NEST, '--level', String(depth), '--', 'true']))
  const downMs = await timedCli(['down', '--name', NEST])
  return {upMs, chainMs, execMs: median(execs), downMs, levelOneMemoryMB: levelOneBytes === undefined ? undefined : Math.round(levelOneBytes / 2 ** 20)}
}
