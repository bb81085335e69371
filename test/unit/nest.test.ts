import {describe, expect, it} from 'vitest'

import {LABEL} from '../../src/nesting/contract.js'
import {Capture} from '../../src/nesting/engine.js'
import {Interrupted, LevelFailed, LevelOutOfRange, NestExists, NestNotFound} from '../../src/nesting/errors.js'
import {Nests} from '../../src/nesting/nest.js'
import type {Clock} from '../../src/nesting/poll.js'
import {chainCommand, initError} from '../../src/nesting/level-access.js'
import {parseUpRequest, type UpInput} from '../../src/nesting/request.js'
import {FakeEngine} from '../support/fake-engine.js'

const request = (extra: UpInput = {}) => parseUpRequest({image: 'inception:test', depth: 2, timeoutSeconds: 1, ...extra})

/** A clock whose sleeps pass at once, moving its time on by what was asked. */
function fakeClock(): Clock {
  let now = 0
  return {now: () => now, sleep: async (ms) => void (now += ms)}
}

/** Resolves once the engine has refused to create a container named `name` (taken) `times` times. */
function refusals(engine: FakeEngine, name: string, times: number): Promise<void> {
  const create = engine.createContainer.bind(engine)
  let refused = 0
  return new Promise((resolve) => {
    engine.createContainer = async (spec) => {
      try {
        return await create(spec)
      } catch (error) {
        if (spec.name === name && ++refused === times) resolve()
        throw error
      }
    }
  })
}

function boardSaying(lines: string): (id: string, cmd: string[]) => {code: number; stdout: string} {
  return (_id, cmd) => ({code: 0, stdout: cmd[0] === 'sh' ? lines : cmd.includes('logs') ? `log of ${cmd.at(-1)}\n` : ''})
}

describe('failure reasons', () => {
  it("takes the init's last error line from a log tail", () => {
    const tail =
      'inception-init[level 1]: starting dockerd\nStatus: unknown flag\ninception-init[level 1]: error: dockerd exited while starting (see the log above)\n'
    expect(initError(tail)).toBe('dockerd exited while starting (see the log above)')
    expect(initError('no init lines')).toBeUndefined()
  })
})

describe('chained exec', () => {
  it('runs at level 1 directly and deeper through docker exec at each hop', () => {
    expect(chainCommand('n', 1, ['hostname'], {interactive: false, tty: false})).toEqual(['hostname'])
    expect(chainCommand('n', 3, ['cat'], {interactive: true, tty: false})).toEqual(['docker', 'exec', '-i', 'n-l2', 'docker', 'exec', '-i', 'n-l3', 'cat'])
    expect(chainCommand('n', 2, ['sh'], {interactive: true, tty: true})).toEqual(['docker', 'exec', '-i', '-t', 'n-l2', 'sh'])
  })
})

describe('nest orchestration against a fake engine', () => {
  it('brings a nest up: one volume, one labelled container, then waits for every level on the board', async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardSaying('state 1 ready overlay2\nstate 2 ready overlay2\ninfo 2 id=l2\nalive 2 yes\n')
    const status = await new Nests(engine).up(request())
    expect(status.levels.map((l) => l.state)).toEqual(['running', 'running'])
    // Subnets are chosen and level 1 created under the engine-wide subnet lock, released after.
    expect(engine.calls.filter((c) => c.startsWith('create'))).toEqual([
      'createContainer inception-subnet-lock',
      'createVolume inception-l1',
      'createContainer inception-l1',
    ])
    expect([...engine.containers.values()].map((c) => c.name)).toEqual(['inception-l1'])
  })

  it('refuses a second nest with the same name and creates nothing', async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardSaying('state 1 ready overlay2\nstate 2 ready overlay2\n')
    const nests = new Nests(engine)
    await nests.up(request())
    const before = engine.calls.length
    await expect(nests.up(request())).rejects.toBeInstanceOf(NestExists)
    expect(engine.calls.slice(before).filter((c) => c.startsWith('create'))).toEqual([])
  })

  it('loses a race for the same name without touching the winner', async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardSaying('state 1 ready overlay2\nstate 2 ready overlay2\n')
    const nests = new Nests(engine)
    // Both pass the early check; the second finds the first under the lock.
    const prepared = await Promise.all([nests.prepare(request()), nests.prepare(request())])
    const results = await Promise.allSettled(prepared.map((p) => nests.launch(p)))
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected'])
    expect(results.find((r) => r.status === 'rejected')!.reason).toBeInstanceOf(NestExists)
    expect([...engine.containers.values()].map((c) => c.name)).toEqual(['inception-l1'])
    expect(engine.volumes.size).toBe(1)
  })

  it('rolls everything back when a level reports a failure, and carries its log tail', async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardSaying('state 1 ready overlay2\nstate 2 failed dockerd exited\n')
    const error = await new Nests(engine).up(request()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LevelFailed)
    expect((error as LevelFailed).level).toBe(2)
    expect((error as LevelFailed).logTail).toContain('log of inception-l2')
    expect(engine.containers.size).toBe(0)
    expect(engine.volumes.size).toBe(0)
  })

  it('rolls back when aborted (Ctrl-C) while waiting', async () => {
    const engine = new FakeEngine()
    const controller = new AbortController()
    // Ctrl-C as the board is first read: level 1 is made and started, and up is waiting.
    engine.execAnswer = (id, cmd) => {
      controller.abort()
      return boardSaying('state 1 starting\n')(id, cmd)
    }
    const error = await new Nests(engine).up(request(), {}, controller.signal).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Interrupted)
    expect((error as Interrupted).message).toBe('interrupted: up of nest "inception" was rolled back')
    expect(engine.calls).toContain('createContainer inception-l1')
    expect(engine.containers.size).toBe(0)
    expect(engine.volumes.size).toBe(0)
  })

  it.each([1, 30])('gives up on a level that shows no progress for --timeout %i seconds (and a margin), naming it, and rolls back', async (timeoutSeconds) => {
    const engine = new FakeEngine()
    engine.execAnswer = boardSaying('state 1 ready overlay2\nstate 2 starting\n')
    const error = await new Nests(engine, undefined, fakeClock()).up(request({timeoutSeconds})).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LevelFailed)
    expect((error as LevelFailed).message).toBe(`level 2 failed: no progress for ${timeoutSeconds + 15}s`)
    expect(engine.containers.size).toBe(0)
    expect(engine.volumes.size).toBe(0)
  })

  it.each([1, 30])('waits for a level that gets ready within --timeout %i seconds (and a margin) of the last progress', async (timeoutSeconds) => {
    const engine = new FakeEngine()
    const clock = fakeClock()
    // On the wait's own clock, level 2 is ready a second before the bound: an `up` that gave up sooner fails here.
    const readyAtMs = (timeoutSeconds + 14) * 1000
    engine.execAnswer = (id, cmd) => boardSaying(`state 1 ready overlay2\nstate 2 ${clock.now() >= readyAtMs ? 'ready overlay2' : 'starting'}\n`)(id, cmd)
    const status = await new Nests(engine, undefined, clock).up(request({timeoutSeconds}))
    expect(status.levels.map((l) => l.state)).toEqual(['running', 'running'])
  })

  it('waits for the subnet lock held by another up, then plans around that nest', async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardSaying('state 1 ready overlay2\nstate 2 ready overlay2\n')
    const nests = new Nests(engine)
    const lock = await engine.createContainer({name: 'inception-subnet-lock', image: 'x', host: {}})
    const held = refusals(engine, 'inception-subnet-lock', 2)
    const first = nests.up(request({name: 'first'}))
    // Found held, waited, tried again, found held again: nothing of the nest made meanwhile.
    await held
    expect(engine.calls.some((c) => c.includes('first-l1'))).toBe(false)
    await engine.removeContainer(lock)
    await first
    const second = await nests.up(request({name: 'second'}))
    const firstSubnets = (await nests.status('first')).subnets
    expect(firstSubnets).toHaveLength(2)
    expect(second.subnets).toHaveLength(2)
    expect(second.subnets.some((subnet) => firstSubnets.includes(subnet))).toBe(false)
  })

  it('refuses a level outside the nest and an unknown nest', async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardSaying('state 1 ready overlay2\nstate 2 ready overlay2\n')
    const nests = new Nests(engine)
    await nests.up(request())
    const io = {stdout: new Capture(), stderr: new Capture()}
    await expect(nests.exec('inception', 3, ['true'], io)).rejects.toBeInstanceOf(LevelOutOfRange)
    await expect(nests.exec('other', 1, ['true'], io)).rejects.toBeInstanceOf(NestNotFound)
  })

  it('down removes the nest container and every volume with its label', async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardSaying('state 1 ready overlay2\nstate 2 ready overlay2\n')
    const nests = new Nests(engine)
    await nests.up(request())
    await engine.createVolume('stray', {'io.inception.nest': 'inception'})
    const report = await nests.down('inception')
    expect(report).toMatchObject({removedContainers: 1, removedVolumes: 2})
    expect(engine.containers.size).toBe(0)
    expect(engine.volumes.size).toBe(0)
  })
})

describe('down --all', () => {
  it('finds what removed nests left behind: a volume without its container, a deeper container without level 1', async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardSaying('state 1 ready overlay2\nstate 2 ready overlay2\n')
    const nests = new Nests(engine)
    await nests.up(request({name: 'alive'}))
    // A CLI killed between creating level 1's volume and its container leaves the volume alone.
    await engine.createVolume('orphan-l1', {[LABEL.nest]: 'orphan'})
    await engine.createVolume('unrelated', {})
    const reports = await nests.downAll()
    expect(reports.map((r) => [r.name, r.removedContainers, r.removedVolumes])).toEqual([
      ['alive', 1, 1],
      ['orphan', 0, 1],
    ])
    expect([...engine.volumes.keys()]).toEqual(['unrelated'])
    expect(engine.containers.size).toBe(0)
  })
})
