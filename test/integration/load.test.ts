import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cli, integrationEngine, shAt} from '../support/integration.js'

const engine = await integrationEngine()
const NEST = 'itest-load'

describe.skipIf(!engine)('load at the bottom of a depth-4 nest', () => {
  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    {
      const up = await cli(['up', '--name', NEST, '--depth', '4'])
      expect(up.exitCode, up.stderr).toBe(0)
    }
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it('runs 100 containers, 4 at a time, all of them successfully', async () => {
    const script = 'seq 100 | xargs -P 4 -I{} sh -c "docker run --rm busybox echo ok-{} || echo FAILED-{}"'
    const result = await shAt(NEST, 4, script, {timeout: 600_000})
    expect(result.exitCode, result.stderr).toBe(0)
    const lines = result.stdout.split('\n')
    expect(lines.filter((l) => l.startsWith('FAILED'))).toEqual([])
    expect(new Set(lines.filter((l) => /^ok-\d+$/.test(l))).size).toBe(100)
    expect((await cli(['exec', '--name', NEST, '--level', '4', '--', 'docker', 'ps', '-aq'])).stdout).toBe('')
  }, 600_000)

  it('completes a 1 GB write at level 4, readable afterwards through exec', async () => {
    const write = 'docker run --rm -v load-data:/data busybox sh -c "dd if=/dev/zero bs=1M count=1024 2>/dev/null | tr \\"\\\\000\\" x > /data/blob && sync"'
    expect((await shAt(NEST, 4, write, {timeout: 600_000})).exitCode).toBe(0)
    const read = await shAt(NEST, 4, 'docker run --rm -v load-data:/data busybox sh -c "wc -c < /data/blob; head -c 16 /data/blob; tail -c 16 /data/blob"')
    expect(read.stdout.split('\n')).toEqual(['1073741824', 'x'.repeat(16) + 'x'.repeat(16)])
  }, 600_000)
})
