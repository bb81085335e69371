import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cli, integrationEngine, psLevels, ROOT, snapshot, type HostSnapshot} from '../support/integration.js'

/**
 * The CLI under Node 24 (active LTS), while the machine's own Node (20) stays supported: the
 * unit tests, and a real nest driven by the CLI run with Node 24's binary.
 */
const engine = await integrationEngine()
const NEST = 'itest-node24'
const PORT = 18_124

describe.skipIf(!engine)('under Node 24', () => {
  let node24 = ''
  let before: HostSnapshot
  const cli24 = (args: string[], input?: string) => cli(args, {node: node24, input})

  beforeAll(async () => {
    node24 = (await execa('sh', [`${ROOT}scripts/node.sh`, '24'], {timeout: 300_000})).stdout.trim()
    await cli(['down', '--name', NEST])
    before = await snapshot()
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it('is Node 24', async () => {
    expect((await execa(node24, ['--version'])).stdout).toMatch(/^v24\./)
  })

  it('passes the unit tests', async () => {
    const result = await execa(node24, [`${ROOT}node_modules/vitest/vitest.mjs`, 'run', '--project', 'unit'], {
      cwd: ROOT,
      reject: false,
      all: true,
      env: {CI: 'true'},
    })
    expect(result.exitCode, result.all).toBe(0)
    // eslint-disable-next-line no-control-regex -- strips ANSI colour codes
    expect(String(result.all).replace(/\x1b\[[0-9;]*m/g, '')).toMatch(/Tests\s+\d+ passed/)
  })

  it('brings a depth-2 nest up, runs a container at level 2, answers through the chain, and takes it down', async () => {
    const up = await cli24(['up', '--name', NEST, '--depth', '2', '-p', `${PORT}:8080`])
    expect(up.exitCode, up.stderr).toBe(0)
    expect((await cli24(['exec', '--name', NEST, '--level', '2', '--', 'docker', 'run', '--rm', 'busybox', 'echo', 'ok'])).stdout).toBe('ok')
    const piped = await cli24(['exec', '--name', NEST, '--level', '2', '--', 'sh', '-c', 'cat; exit 7'], 'through stdin\n')
    expect(piped.stdout).toBe('through stdin')
    expect(piped.exitCode).toBe(7)
    const serve = await cli24([
      'exec',
      '--name',
      NEST,
      '--level',
      '2',
      '--',
      'sh',
      '-c',
      'mkdir -p /tmp/w && echo node24 > /tmp/w/index.html && busybox httpd -p 8080 -h /tmp/w',
    ])
    expect(serve.exitCode).toBe(0)
    let answer = ''
    for (let i = 0; i < 40 && answer !== 'node24'; i++) {
      answer = (await execa('curl', ['-s', '-m', '2', `http://127.0.0.1:${PORT}/`], {reject: false})).stdout.trim()
      if (answer !== 'node24') await new Promise((r) => setTimeout(r, 250))
    }
    expect(answer).toBe('node24')
    expect((await psLevels(NEST)).levels.map((l) => l.state)).toEqual(['running', 'running'])
    expect((await cli24(['down', '--name', NEST])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  })
})
