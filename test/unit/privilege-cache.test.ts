import {chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {refusal} from '../../src/nesting/dockerode-errors.js'
import {PortTaken, StateFolderUnusable} from '../../src/nesting/errors.js'
import {Nests} from '../../src/nesting/nest.js'
import {
  decidePrivilegeOnce,
  FilePrivilegeCache,
  MemoryPrivilegeCache,
  PRIVILEGE_CACHE_FORMAT,
  type PrivilegeCache,
  privilegeCacheFrom,
} from '../../src/nesting/privilege-cache.js'
import {parseUpRequest} from '../../src/nesting/request.js'
import {dockerodeError, FakeEngine} from '../support/fake-engine.js'

const IMAGE = 'inception:test'
const HOST_STATUS = 'Name:\tinit\nCapBnd:\t000001fffeffffff\n40\nMax open files            20000                20000                files\n'

let stateHome: string
let env: NodeJS.ProcessEnv

beforeEach(() => {
  stateHome = mkdtempSync(join(tmpdir(), 'inception-privilege-cache-'))
  env = {XDG_STATE_HOME: stateHome}
})

afterEach(() => {
  rmSync(stateHome, {recursive: true, force: true})
})

const probes = (engine: FakeEngine) => engine.calls.filter((call) => call.startsWith('probe')).length

/** An engine whose probes read a bounding set and limits, so decisions carry everything the cache keeps. */
function engine(): FakeEngine {
  const fake = new FakeEngine()
  fake.probeAnswer = (spec) => (spec.host.pidMode === 'host' ? {ok: true, output: HOST_STATUS} : {ok: true, output: ''})
  return fake
}

const cacheFile = (fake: FakeEngine) => new FilePrivilegeCache(env).file(fake.identity.id)

describe('privilege decided once per engine and host', () => {
  it('reuses a decision with the same key without a probe, and says it was decided earlier', async () => {
    const fake = engine()
    const cache = new FilePrivilegeCache(env)
    const first = await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)
    expect(first.cached).toBe(false)
    const probed = probes(fake)
    expect(probed).toBeGreaterThan(0)

    const second = await decidePrivilegeOnce(fake, IMAGE, 'auto', new FilePrivilegeCache(env))
    expect(probes(fake)).toBe(probed)
    expect(second.cached).toBe(true)
    expect(second.decision).toEqual({...first.decision, reason: `decided earlier on this engine: ${first.decision.reason}`})
    // What to keep elsewhere (the build keeps it for the seeded image) is the decision as made.
    expect(second.asDecided).toEqual(first.decision)
    // The runtime's limits are part of the decision, and come back with it.
    expect(second.decision.ulimits).toEqual([{name: 'nofile', soft: 20000, hard: 20000}])
  })

  const changes: Array<[string, (fake: FakeEngine) => void]> = [
    ['engine id', (fake) => (fake.identity.id = 'OTHER:ENGINE')],
    ['server version', (fake) => (fake.identity.serverVersion = 'fake-2')],
    ['kernel', (fake) => (fake.identity.kernelVersion = '6.12.0-fake')],
    ['security options', (fake) => fake.identity.securityOptions.push('name=rootless')],
    ['operating system', (fake) => (fake.identity.operatingSystem = 'Other Linux')],
    ['cgroup driver', (fake) => (fake.identity.cgroupDriver = 'systemd')],
    ['default runtime', (fake) => (fake.identity.defaultRuntime = 'crun')],
    ['image id (a rebuilt image)', (fake) => fake.imageIds.set(IMAGE, `sha256:${'b'.repeat(64)}`)],
  ]
  it.each(changes)('probes again when the %s changed', async (_, change) => {
    const fake = engine()
    await decidePrivilegeOnce(fake, IMAGE, 'auto', new FilePrivilegeCache(env))
    const probed = probes(fake)
    change(fake)
    const again = await decidePrivilegeOnce(fake, IMAGE, 'auto', new FilePrivilegeCache(env))
    expect(again.cached).toBe(false)
    expect(probes(fake)).toBeGreaterThan(probed)
    // The new decision is the one kept.
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', new FilePrivilegeCache(env))).cached).toBe(true)
  })

  it('probes again for another request, and keeps both', async () => {
    const fake = engine()
    const cache = new FilePrivilegeCache(env)
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)).decision.mode).toBe('privileged')
    const caps = await decidePrivilegeOnce(fake, IMAGE, 'caps', cache)
    expect(caps).toMatchObject({cached: false, decision: {mode: 'caps', capDrop: ['SYS_RESOURCE']}})
    const probed = probes(fake)
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)).cached).toBe(true)
    expect((await decidePrivilegeOnce(fake, IMAGE, 'caps', cache)).cached).toBe(true)
    expect(probes(fake)).toBe(probed)
  })

  it('two ups deciding at once both keep their decision (the file is locked while it is rewritten)', async () => {
    // Each `up` is its own process with its own cache object: two read the file, then both
    // write. Without a lock, the second writer drops what the first one kept.
    const requests = ['auto', 'caps', 'minimal', 'privileged'] as const
    const fake = engine()
    await Promise.all(requests.map((request) => decidePrivilegeOnce(fake, IMAGE, request, new FilePrivilegeCache(env))))
    const kept = JSON.parse(readFileSync(cacheFile(fake), 'utf8')) as {entries: Array<{key: {request: string}}>}
    expect(kept.entries.map((entry) => entry.key.request).sort()).toEqual([...requests].sort())
    const probed = probes(fake)
    for (const request of requests) expect((await decidePrivilegeOnce(fake, IMAGE, request, new FilePrivilegeCache(env))).cached).toBe(true)
    expect(probes(fake)).toBe(probed)
    // The lock is gone once the writers are done.
    expect(readdirSync(dirname(cacheFile(fake))).sort()).toEqual(['_privilege.json'])
  })

  it('drops every entry of an engine or host that changed', async () => {
    const fake = engine()
    const cache = new MemoryPrivilegeCache()
    await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)
    await decidePrivilegeOnce(fake, IMAGE, 'caps', cache)
    expect(cache.entries).toHaveLength(2)
    fake.identity.kernelVersion = '6.12.0-fake'
    await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)
    expect(cache.entries.map((entry) => [entry.key.request, entry.key.kernelVersion])).toEqual([['auto', '6.12.0-fake']])
  })

  it('keeps no failed decision', async () => {
    const fake = engine()
    fake.probeAnswer = () => ({ok: false, output: '', error: 'unable to apply caps: operation not permitted'})
    const cache = new MemoryPrivilegeCache()
    await expect(decidePrivilegeOnce(fake, IMAGE, 'privileged', cache)).rejects.toThrow(/refuses --privileged/)
    expect(cache.entries).toEqual([])
  })

  it('forget makes the next decision probe', async () => {
    const fake = engine()
    const cache = new FilePrivilegeCache(env)
    const {key} = await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)
    await cache.forget(key!)
    const probed = probes(fake)
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)).cached).toBe(false)
    expect(probes(fake)).toBeGreaterThan(probed)
  })

  it('keeps the file 0600 in a 0700 folder under XDG_STATE_HOME, with nothing else left there', async () => {
    const fake = engine()
    const file = cacheFile(fake)
    // A folder made before, open to others, is closed.
    mkdirSync(dirname(file), {recursive: true, mode: 0o755})
    chmodSync(dirname(file), 0o755)
    await decidePrivilegeOnce(fake, IMAGE, 'auto', new FilePrivilegeCache(env))
    expect(file).toBe(join(stateHome, 'inception', 'FAKEENGINE', '_privilege.json'))
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700)
    expect(readdirSync(dirname(file))).toEqual(['_privilege.json'])
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({format: PRIVILEGE_CACHE_FORMAT, entries: [{decision: {mode: 'privileged'}}]})
  })

  const corrupt: Array<[string, (text: string) => string]> = [
    ['not JSON', () => '{"format": 1, "entr'],
    ['of another format', (text) => text.replace(`"format": ${PRIVILEGE_CACHE_FORMAT}`, '"format": 999')],
    ['with a decision of an unknown mode', (text) => text.replace('"mode": "privileged"', '"mode": "root"')],
    ['with limits of an unknown kind', (text) => text.replace('"name": "nofile"', '"name": "core"')],
  ]
  it.each(corrupt)('ignores a file %s, decides again and writes a good one', async (_, spoil) => {
    const fake = engine()
    await decidePrivilegeOnce(fake, IMAGE, 'auto', new FilePrivilegeCache(env))
    const file = cacheFile(fake)
    writeFileSync(file, spoil(readFileSync(file, 'utf8')))
    const probed = probes(fake)
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', new FilePrivilegeCache(env))).cached).toBe(false)
    expect(probes(fake)).toBeGreaterThan(probed)
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', new FilePrivilegeCache(env))).cached).toBe(true)
  })

  it('carries on when the file cannot be written', async () => {
    const fake = engine()
    // A folder where the file should be: writing fails, deciding does not.
    mkdirSync(cacheFile(fake), {recursive: true})
    const cache = new FilePrivilegeCache(env)
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)).decision.mode).toBe('privileged')
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)).cached).toBe(false)
    expect(readdirSync(dirname(cacheFile(fake)))).toEqual(['_privilege.json'])
  })
})

describe('INCEPTION_PRIVILEGE_CACHE', () => {
  const twice = async (cache: () => PrivilegeCache) => {
    const fake = engine()
    await decidePrivilegeOnce(fake, IMAGE, 'auto', cache())
    const probed = probes(fake)
    const second = await decidePrivilegeOnce(fake, IMAGE, 'auto', cache())
    return {fake, cached: second.cached, probedAgain: probes(fake) > probed}
  }

  it('on by default', async () => {
    expect(await twice(() => privilegeCacheFrom(env))).toMatchObject({cached: true, probedAgain: false})
  })

  it('off: probes every time and writes nothing', async () => {
    const off = {...env, INCEPTION_PRIVILEGE_CACHE: 'off'}
    expect(await twice(() => privilegeCacheFrom(off))).toMatchObject({cached: false, probedAgain: true})
    expect(readdirSync(stateHome)).toEqual([])
  })

  it('refresh: probes every time and keeps the new decision for the next `up`', async () => {
    const refresh = {...env, INCEPTION_PRIVILEGE_CACHE: 'refresh'}
    const {fake, cached, probedAgain} = await twice(() => privilegeCacheFrom(refresh))
    expect({cached, probedAgain}).toEqual({cached: false, probedAgain: true})
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', privilegeCacheFrom(env))).cached).toBe(true)
  })
})

describe('up with a cached privilege decision', () => {
  const request = () => parseUpRequest({image: IMAGE, depth: 1, timeoutSeconds: 1})
  const refusingStart = (fake: FakeEngine, message: string) => {
    const start = fake.startContainer.bind(fake)
    fake.startContainer = async (id) => {
      // As the adapter hands it on: the engine's answer, translated.
      if (fake.containers.get(id)?.name === 'inception-l1') throw refusal('start', dockerodeError(500, message))
      return start(id)
    }
  }

  it('a decision taken from the cache probes nothing, and says so', async () => {
    const fake = engine()
    const nests = new Nests(fake, new MemoryPrivilegeCache())
    expect((await nests.prepare(request())).decision.reason).toBe('the engine allows --privileged')
    expect(probes(fake)).toBeGreaterThan(0)
    fake.calls.length = 0
    const prepared = await nests.prepare(request())
    expect(probes(fake)).toBe(0)
    expect(prepared.decision.reason).toBe('decided earlier on this engine: the engine allows --privileged')
  })

  it('drops the decision when the engine refuses to start level 1 with it', async () => {
    const fake = engine()
    const cache = new MemoryPrivilegeCache()
    const nests = new Nests(fake, cache)
    refusingStart(fake, 'OCI runtime create failed: unable to apply caps: operation not permitted')
    await expect(nests.up(request())).rejects.toThrow(/unable to apply caps/)
    expect(cache.entries).toEqual([])
    expect(fake.containers.size).toBe(0)
    fake.calls.length = 0
    await nests.prepare(request())
    expect(probes(fake)).toBeGreaterThan(0)
  })

  it('keeps it when level 1 only found its port taken', async () => {
    const fake = engine()
    const cache = new MemoryPrivilegeCache()
    const nests = new Nests(fake, cache)
    refusingStart(fake, 'Bind for 127.0.0.1:18080 failed: port is already allocated')
    await expect(nests.up(request())).rejects.toBeInstanceOf(PortTaken)
    expect(cache.entries).toHaveLength(1)
  })
})

describe('a state folder that cannot be made', () => {
  // /proc refuses new folders with ENOENT; Node's recursive mkdir then retries the parent and the
  // child forever (a CLI spinning, deaf to signals). A bound on each test keeps a regression from
  // hanging the run; it is no claim about speed.
  const unmakeable = {XDG_STATE_HOME: '/proc/inception-no-such-folder'}

  it('the cache carries on without it: the decision is made and nothing is kept', {timeout: 20_000}, async () => {
    const fake = engine()
    const cache = new FilePrivilegeCache(unmakeable)
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)).decision.mode).toBe('privileged')
    expect((await decidePrivilegeOnce(fake, IMAGE, 'auto', cache)).cached).toBe(false)
  })

  it('up --expose-daemons refuses in one line before it creates anything, naming the folder', {timeout: 20_000}, async () => {
    const fake = engine()
    const saved = process.env.XDG_STATE_HOME
    process.env.XDG_STATE_HOME = unmakeable.XDG_STATE_HOME
    try {
      const nests = new Nests(fake, new MemoryPrivilegeCache())
      const refused = nests.prepare(parseUpRequest({image: IMAGE, depth: 1, timeoutSeconds: 1, exposeDaemons: true}))
      await expect(refused).rejects.toBeInstanceOf(StateFolderUnusable)
      await expect(refused).rejects.toThrow(/cannot make the state folder \/proc\/inception-no-such-folder\/inception\/\S+ \(ENOENT/)
      expect(fake.calls.filter((call) => /^create|^start/.test(call))).toEqual([])
      // Not even the privilege probes' throwaway containers.
      expect(probes(fake)).toBe(0)
    } finally {
      if (saved === undefined) delete process.env.XDG_STATE_HOME
      else process.env.XDG_STATE_HOME = saved
    }
  })

  it('a plain up is prepared without the folder (the cache is only a shortcut)', {timeout: 20_000}, async () => {
    const fake = engine()
    const nests = new Nests(fake, new FilePrivilegeCache(unmakeable))
    const prepared = await nests.prepare(parseUpRequest({image: IMAGE, depth: 1, timeoutSeconds: 1}))
    expect(prepared).toMatchObject({decision: {mode: 'privileged', reason: 'the engine allows --privileged'}})
  })
})
