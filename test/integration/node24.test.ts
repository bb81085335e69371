import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {cli, expectNestIn, type HostSnapshot, integrationEngine, ROOT, snapshot} from '../support/integration.js'
import {exerciseHost} from '../support/lanes.js'

/**
 * The CLI under Node 24 (active LTS), while the machine's own Node (20) stays supported: the
 * unit tests, and a real nest driven by the CLI run with Node 24's binary.
 */
const engine = await integrationEngine()
const NEST = 'itest-node24'
const PORT = 18_124

describe.skipIf(!engine)('under Node 24', () => {
  let node24 = ''

  beforeAll(async () => {
    node24 = (await execa('sh', [`${ROOT}scripts/node.sh`, '24'], {timeout: 300_000})).stdout.trim()
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

  it('runs the host lane: a depth-2 nest, a container and stdin at level 2, the -p chain, ps, and down leaving nothing', async () => {
    await exerciseHost({env: {}, node: node24, state: snapshot, expectNest: (state, name) => expectNestIn(state as HostSnapshot, name)}, NEST, PORT)
  })
})
