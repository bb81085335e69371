import {describe, expect, it} from 'vitest'

import {LABEL} from '../../src/nesting/contract.js'
import {type ContainerSpec, type Engine, NameInUse} from '../../src/nesting/engine.js'
import {LevelFailed} from '../../src/nesting/errors.js'
import type {Clock} from '../../src/nesting/poll.js'
import {
  formatHolder,
  holderGone,
  type LockHolder,
  parseHolder,
  procView,
  type ProcessView,
  startTimeFromStat,
  SUBNET_LOCK,
  SubnetLock,
} from '../../src/nesting/subnet-lock.js'

/** Who holds the subnet lock, and when its holder is certainly gone (then `up` takes the lock over at once). */
const self: LockHolder = {pid: 100, start: '5000', boot: 'boot-a', pidns: 'pid:[4026531836]', uid: 1000, host: 'here'}

function view(processes: Record<number, string>): ProcessView {
  return {self, startOf: (pid) => processes[pid]}
}

describe('the subnet lock holder', () => {
  it('is recorded and read back whole', () => {
    const holder = {pid: 4242, start: '777', boot: 'boot-a', pidns: 'pid:[4026531836]', uid: 1000, host: 'ci-7'}
    expect(parseHolder(formatHolder(holder))).toEqual(holder)
    expect(parseHolder(undefined)).toBeUndefined()
    expect(parseHolder('pid=x start=1 boot=b pidns=n')).toBeUndefined()
  })

  it('is gone when no process of its PID and start time is in this boot and PID namespace', () => {
    const holder = {...self, pid: 4242, start: '777'}
    expect(holderGone(holder, view({}))).toBe(true)
    // Its PID reused by another process: that process started at another time.
    expect(holderGone(holder, view({4242: '9999'}))).toBe(true)
    expect(holderGone(holder, view({4242: '777'}))).toBe(false)
  })

  it('cannot be judged from another boot, another PID namespace, or without a record', () => {
    const holder = {...self, pid: 4242, start: '777'}
    expect(holderGone({...holder, boot: 'boot-b'}, view({}))).toBeUndefined()
    expect(holderGone({...holder, pidns: 'pid:[4026532000]'}, view({}))).toBeUndefined()
    expect(holderGone(undefined, view({}))).toBeUndefined()
  })

  it("cannot be judged by another user, whose /proc may hide the holder (hidepid); root can judge anyone's", () => {
    const holder = {...self, pid: 4242, start: '777', uid: 1001}
    expect(holderGone(holder, view({}))).toBeUndefined()
    expect(holderGone(holder, {self: {...self, uid: 0}, startOf: () => undefined})).toBe(true)
    // A label written before holders carried their user cannot be judged either.
    expect(parseHolder('pid=4242 start=777 boot=boot-a pidns=n host=h')).toBeUndefined()
  })

  it('is read from this machine: this process is alive, and a start time is read past a name with spaces', () => {
    const here = procView()
    expect(here.self.pid).toBe(process.pid)
    expect(here.self.boot).toMatch(/^[0-9a-f-]{36}$/)
    expect(here.self.pidns).toMatch(/^pid:\[\d+\]$/)
    expect(here.self.start).toMatch(/^\d+$/)
    expect(holderGone(here.self, here)).toBe(false)
    expect(holderGone({...here.self, start: `${here.self.start}1`}, here)).toBe(true)
    expect(startTimeFromStat('42 (a b) c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 100 2')).toBe('123456')
  })
})

/** An engine that holds one container by name, enough for the lock: create (409 when taken), inspect, remove. */
function lockEngine() {
  const held = new Map<string, {id: string; labels: Record<string, string>; createdMs: number}>()
  const calls: string[] = []
  const engine = {
    async createContainer(spec: ContainerSpec) {
      calls.push('create')
      if (held.has(spec.name!)) throw new NameInUse(spec.name, 'Conflict')
      held.set(spec.name!, {id: `id-${calls.length}`, labels: spec.labels ?? {}, createdMs: Date.now()})
      return `id-${calls.length}`
    },
    async inspectContainer(name: string) {
      const found = held.get(name)
      return found && {...found, name, running: false, status: 'created', exitCode: 0, pid: 0, ports: {}}
    },
    async removeContainer(id: string) {
      calls.push('remove')
      for (const [name, c] of held) if (c.id === id) held.delete(name)
    },
  } as unknown as Engine
  return {engine, held, calls}
}

/** A clock that moves on when asked to sleep: a wait of any length ends at once. */
function fastClock(): Clock {
  let now = 0
  return {now: () => now, sleep: async (ms) => void (now += ms)}
}

describe('the subnet lock', () => {
  const here = procView()

  it('takes over a lock whose holder is gone, at once', async () => {
    const {engine, held, calls} = lockEngine()
    held.set(SUBNET_LOCK, {id: 'old', labels: {[LABEL.lockHolder]: formatHolder({...here.self, start: `${here.self.start}1`})}, createdMs: Date.now()})
    expect(await new SubnetLock(engine, here, {clock: fastClock()}).hold('img', async () => 'done')).toBe('done')
    expect(calls).toEqual(['create', 'remove', 'create', 'remove'])
    expect(held.size).toBe(0)
  })

  it('waits for a live holder, then names it in one line', async () => {
    const {engine, held} = lockEngine()
    held.set(SUBNET_LOCK, {id: 'live', labels: {[LABEL.lockHolder]: formatHolder(here.self)}, createdMs: Date.now()})
    const waited = new SubnetLock(engine, here, {clock: fastClock(), waitMs: 1000}).hold('img', async () => 'done')
    await expect(waited).rejects.toBeInstanceOf(LevelFailed)
    await expect(waited).rejects.toThrow(new RegExp(`held by \`inception up\` \\(process ${process.pid} on `))
    expect(held.get(SUBNET_LOCK)?.id).toBe('live')
  })

  it('a holder it cannot check (no record) is waited for until the lock is old', async () => {
    const {engine, held} = lockEngine()
    held.set(SUBNET_LOCK, {id: 'unknown', labels: {}, createdMs: Date.now()})
    await expect(new SubnetLock(engine, here, {clock: fastClock(), waitMs: 1000}).hold('img', async () => 'done')).rejects.toThrow(/did not say who it is/)
    held.set(SUBNET_LOCK, {id: 'unknown', labels: {}, createdMs: Date.now() - 120_000})
    expect(await new SubnetLock(engine, here, {clock: fastClock(), waitMs: 1000}).hold('img', async () => 'done')).toBe('done')
  })
})
