import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {
  cli,
  describeEvent,
  engineChanges,
  engineEventsDuring,
  expectNestIn,
  type HostSnapshot,
  integrationEngine,
  psLevels,
  snapshot,
  shAt,
  upFresh,
} from '../support/integration.js'

const engine = await integrationEngine()

async function ps(name: string) {
  return (await psLevels(name)).levels
}

async function httpAnswer(port: number, limitMs = 10_000): Promise<string> {
  const deadline = Date.now() + limitMs
  let last = ''
  while (Date.now() < deadline) {
    const result = await execa('curl', ['-s', '-m', '2', `http://127.0.0.1:${port}/`], {reject: false})
    if (result.exitCode === 0 && result.stdout) return result.stdout
    last = `curl exit ${result.exitCode}`
    await new Promise((r) => setTimeout(r, 200))
  }
  return last
}

describe.skipIf(!engine)('a depth-4 nest', () => {
  const NEST = 'itest-deep'
  let before: HostSnapshot

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    before = await snapshot()
    // Plain `inception --depth 4` is `inception up --depth 4`.
    const up = await cli(['--depth', '4', '--name', NEST, '-p', '18080:8080', '-p', '18082:9090@2'])
    expect(up.exitCode, up.stderr).toBe(0)
    await expectNestIn(await snapshot(), NEST)
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it('answers on the host from a server at level 4, through every level', async () => {
    const serve = await shAt(NEST, 4, 'mkdir -p /tmp/www && echo "level 4 is $(hostname)" > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www')
    expect(serve.exitCode).toBe(0)
    const levels = await ps(NEST)
    expect(await httpAnswer(18080)).toBe(`level 4 is ${levels[3]!.hostname}`)
  })

  it('chains a port to the level it targets with @LEVEL', async () => {
    const serve = await shAt(NEST, 2, 'mkdir -p /tmp/w2 && echo "level 2 is $(hostname)" > /tmp/w2/index.html && busybox httpd -p 9090 -h /tmp/w2')
    expect(serve.exitCode).toBe(0)
    const levels = await ps(NEST)
    expect(await httpAnswer(18082)).toBe(`level 2 is ${levels[1]!.hostname}`)
  })

  it('publishes on 127.0.0.1 only', async () => {
    const listening = await execa('ss', ['-Hltn', 'sport = :18080'])
    expect(listening.stdout).toContain('127.0.0.1:18080')
    expect(listening.stdout).not.toMatch(/0\.0\.0\.0:18080|\*:18080|\[::\]:18080/)
  })

  it('runs every level as its own container, each with its own subnet', async () => {
    const hostnames = []
    for (const level of [1, 2, 3, 4]) hostnames.push((await cli(['exec', '--name', NEST, '--level', String(level), '--', 'hostname'])).stdout)
    expect(new Set(hostnames).size).toBe(4)
    const levels = await ps(NEST)
    expect(levels.map((l) => l.hostname)).toEqual(hostnames)
    expect(levels.map((l) => l.state)).toEqual(['running', 'running', 'running', 'running'])
    expect(new Set(levels.map((l) => l.bridge)).size).toBe(4)
    // ps shows each level's bridge as that level's kernel has it.
    for (const [index, level] of levels.entries()) {
      const real = await cli([
        'exec',
        '--name',
        NEST,
        '--level',
        String(index + 1),
        '--',
        'sh',
        '-c',
        `busybox ip -4 addr show docker0 | awk '$1 == "inet" { print $2 }'`,
      ])
      expect(real.stdout).toMatch(/^\d+\.\d+\.\d+\.\d+\/24$/)
      expect(level.bridge).toBe(real.stdout)
    }
    // Level 1's cgroup holds every level below it (private cgroup namespaces).
    expect(levels[0]!.memoryBytes!).toBeGreaterThan(levels[1]!.memoryBytes!)
  })

  it('streams stdin to level 4 and passes its exit status back', async () => {
    expect((await cli(['exec', '--name', NEST, '--level', '4', '--', 'cat'], {input: 'hi\n'})).stdout).toBe('hi')
    expect((await shAt(NEST, 4, 'exit 3')).exitCode).toBe(3)
  })

  it('runs overlay2 at level 4, and containers there', async () => {
    expect((await cli(['exec', '--name', NEST, '--level', '4', '--', 'docker', 'info', '--format', '{{.Driver}}'])).stdout).toBe('overlay2')
    expect((await cli(['exec', '--name', NEST, '--level', '4', '--', 'docker', 'run', '--rm', 'busybox', 'echo', 'ok'])).stdout).toBe('ok')
  })

  it("shows each level's own output in logs", async () => {
    const logs = await cli(['logs', '--name', NEST, '--level', '3'])
    expect(logs.exitCode).toBe(0)
    expect(`${logs.stdout}${logs.stderr}`).toContain('inception-init[level 3]: level 3 ready')
    expect(`${logs.stdout}${logs.stderr}`).not.toContain('inception-init[level 2]')
  })

  it('down removes it all: the host is as before', async () => {
    const down = await cli(['down', '--name', NEST])
    expect(down.exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  })
})

describe.skipIf(!engine)('storage drivers', () => {
  it('runs vfs at level 4 when asked, and leaves nothing', async () => {
    const NEST = 'itest-vfs'
    const before = await upFresh(NEST, ['--depth', '4', '--storage-driver', 'vfs'])
    expect((await cli(['exec', '--name', NEST, '--level', '4', '--', 'docker', 'info', '--format', '{{.Driver}}'])).stdout).toBe('vfs')
    expect((await ps(NEST)).map((l) => l.storageDriver)).toEqual(['vfs', 'vfs', 'vfs', 'vfs'])
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  })
})

describe.skipIf(!engine)('nests side by side', () => {
  it('keep to themselves, and down --name removes only its own', async () => {
    await cli(['down', '--name', 'itest-a'])
    await cli(['down', '--name', 'itest-b'])
    const before = await snapshot()
    const [a, b] = await Promise.all([cli(['up', '--name', 'itest-a', '--depth', '2']), cli(['up', '--name', 'itest-b', '--depth', '2'])])
    expect(a.exitCode, a.stderr).toBe(0)
    expect(b.exitCode, b.stderr).toBe(0)
    const during = await snapshot()
    await expectNestIn(during, 'itest-a')
    await expectNestIn(during, 'itest-b')
    const bridges = [...(await ps('itest-a')), ...(await ps('itest-b'))].map((l) => l.bridge)
    expect(new Set(bridges).size).toBe(4)

    const again = await cli(['up', '--name', 'itest-a', '--depth', '3'])
    expect(again.exitCode).toBe(6)
    expect(again.stderr).toMatch(/already exists; remove it with `inception down --name itest-a`/)
    expect((await ps('itest-a')).length).toBe(2)

    expect((await cli(['down', '--name', 'itest-a'])).exitCode).toBe(0)
    expect((await cli(['ps', '--name', 'itest-a'])).exitCode).toBe(4)
    expect((await cli(['exec', '--name', 'itest-b', '--level', '2', '--', 'docker', 'ps', '-q'])).exitCode).toBe(0)
    expect((await cli(['down', '--name', 'itest-b'])).exitCode).toBe(0)
    expect(await snapshot()).toEqual(before)
  })
})

describe.skipIf(!engine)('a level that fails', () => {
  it('shows its log tail and rolls the whole nest back', async () => {
    const NEST = 'itest-fail'
    await cli(['down', '--name', NEST])
    const before = await snapshot()
    const {result, events} = await engineEventsDuring(() => cli(['up', '--name', NEST, '--depth', '2', '--dockerd-arg=--no-such-option']))
    expect(result.exitCode).toBe(5)
    // The end states below are equal because level 1 was made and removed, as the engine tells.
    const changes = engineChanges(events).map(describeEvent)
    for (const change of ['container create', 'container destroy', 'volume create', 'volume destroy']) expect(changes).toContain(`${change} ${NEST}-l1`)
    expect(result.stderr).toMatch(/^inception: level 1 failed: dockerd exited while starting/m)
    expect(result.stderr).toContain('unknown flag: --no-such-option')
    expect(await snapshot()).toEqual(before)
  })
})

describe.skipIf(!engine)('interrupting up', () => {
  // The second row keeps its privilege decision, which loads the cache's lock (and with it the
  // signal-exit module): a Ctrl-C handler registered with once let that module re-raise the
  // signal and kill the CLI before it rolled back.
  it.each([
    ['the privilege cache off', {}],
    ['a privilege decision kept under the lock', {INCEPTION_PRIVILEGE_CACHE: 'refresh'}],
  ])('SIGINT in the middle rolls back everything (%s)', async (_, cacheEnv: Record<string, string>) => {
    const NEST = 'itest-sigint'
    const stateHome = mkdtempSync(join(tmpdir(), 'inception-sigint-state-'))
    await cli(['down', '--name', NEST])
    const before = await snapshot()
    const child = execa('node', ['bin/run.js', 'up', '--name', NEST, '--depth', '4'], {
      reject: false,
      all: true,
      env: {CI: 'true', XDG_STATE_HOME: stateHome, ...cacheEnv},
    })
    // Wait until level 1 is up and deeper levels are on their way, then press Ctrl-C.
    await new Promise<void>((resolve) => {
      child.all.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('Level 1: ready')) resolve()
      })
    })
    child.kill('SIGINT')
    const result = await child
    try {
      expect(result.exitCode).toBe(130)
      expect(String(result.all)).toMatch(/interrupted: up of nest "itest-sigint" was rolled back/)
      if (cacheEnv.INCEPTION_PRIVILEGE_CACHE) expect(readdirSync(stateHome)).toEqual(['inception'])
      expect(await snapshot()).toEqual(before)
    } finally {
      rmSync(stateHome, {recursive: true, force: true})
    }
  })
})
