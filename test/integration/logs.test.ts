import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cli, type HostSnapshot, integrationEngine, shAt, snapshot, upFresh} from '../support/integration.js'

/**
 * `logs --tail N` and `logs -f` at level 2 of a nest. A line is added to level 2's output by
 * writing to its init's standard output (/proc/1/fd/1 at that level), which is what its parent's
 * engine keeps as the level's log.
 */
const engine = await integrationEngine()
const NEST = 'itest-logs'

/** Writes one line into level 2's log. */
async function logLine(text: string): Promise<void> {
  const written = await shAt(NEST, 2, `echo ${text} > /proc/1/fd/1`)
  expect(written.exitCode, written.stderr).toBe(0)
}

/** Both streams' lines, as `logs` prints them. */
const linesOf = (result: {stdout: string; stderr: string}) => [...result.stdout.split('\n'), ...result.stderr.split('\n')].filter((l) => l.length > 0)

describe.skipIf(!engine)('logs of a level', () => {
  let before: HostSnapshot

  beforeAll(async () => {
    before = await upFresh(NEST, ['--depth', '2'])
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it('--tail N shows exactly the last N lines', async () => {
    await logLine('itest-tail-mark')
    const all = await cli(['logs', '--name', NEST, '--level', '2'])
    expect(all.exitCode, all.stderr).toBe(0)
    // Without --tail there are many more lines: the init's and dockerd's start.
    expect(linesOf(all).length).toBeGreaterThan(10)
    const three = await cli(['logs', '--name', NEST, '--level', '2', '--tail', '3'])
    expect(three.exitCode, three.stderr).toBe(0)
    expect(linesOf(three)).toHaveLength(3)
    const one = await cli(['logs', '--name', NEST, '--level', '2', '--tail', '1'])
    expect(linesOf(one)).toEqual(['itest-tail-mark'])
  })

  it('-f keeps following: a line written after it started shows up, until it is stopped', async () => {
    const follower = execa('node', ['bin/run.js', 'logs', '--name', NEST, '--level', '2', '-f', '--tail', '1'], {reject: false, all: true, env: {CI: 'true'}})
    let seen = ''
    const shows = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (seen.includes(text)) resolve()
        }
        follower.all.on('data', (chunk: Buffer) => {
          seen += chunk.toString()
          check()
        })
        check()
      })
    // The tail it starts with, then a line written once it follows.
    await shows('itest-tail-mark')
    await logLine('itest-follow-mark')
    await shows('itest-follow-mark')
    // Still running: following does not end by itself.
    expect(follower.exitCode).toBeNull()
    follower.kill('SIGTERM')
    await follower
    expect(seen).toContain('itest-follow-mark')
  })

  it('down leaves the host as before', async () => {
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  })
})
