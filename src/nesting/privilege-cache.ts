import {randomBytes} from 'node:crypto'
import {chmod, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'

import type {Engine, EngineInfo, Ulimit} from './engine.js'
import {decidePrivilege, PRIVILEGE_REQUESTS, type PrivilegeDecision, type PrivilegeRequest} from './privilege.js'
import {engineStateFolder, makePrivateFolder} from './tls.js'
import {VERSION} from './version.js'

/**
 * Deciding level 1's privilege runs throwaway probe containers (most of a second of every `up`),
 * yet the outcome only changes when the engine or its host does. So it is decided once per
 * engine, host, level image and request, and reused. A level 1 that the engine then refuses to
 * create or start drops the entry (`forget`), and the next `up` probes again.
 */
export interface PrivilegeCache {
  get(key: PrivilegeKey): Promise<PrivilegeDecision | undefined>
  put(key: PrivilegeKey, decision: PrivilegeDecision): Promise<void>
  forget(key: PrivilegeKey): Promise<void>
}

/**
 * Everything the decision depends on that this machine can see. The probes read the host's
 * capability bounding set and the runtime's limits, and try --privileged: those follow the
 * engine (ID, version, default runtime, security options such as rootless or user namespaces,
 * cgroup setup) and its host (kernel, OS). The image is what the probes run; the CLI's version
 * covers a newer inception deciding differently (another minimal set, other probes).
 */
export interface PrivilegeKey {
  cli: string
  engineId: string
  serverVersion: string
  kernelVersion: string
  operatingSystem: string
  cgroup: string
  runtime: string
  securityOptions: string
  imageId: string
  request: PrivilegeRequest
}

/** The fields that say which engine and host: entries that differ in them are stale. */
const HOST_FIELDS = ['cli', 'engineId', 'serverVersion', 'kernelVersion', 'operatingSystem', 'cgroup', 'runtime', 'securityOptions'] as const
const KEY_FIELDS = [...HOST_FIELDS, 'imageId', 'request'] as const

export function privilegeKey(info: EngineInfo, imageId: string, request: PrivilegeRequest): PrivilegeKey {
  return {
    cli: VERSION,
    engineId: info.id,
    serverVersion: info.serverVersion,
    kernelVersion: info.kernelVersion,
    operatingSystem: info.operatingSystem,
    cgroup: `${info.cgroupVersion}/${info.cgroupDriver}`,
    runtime: info.defaultRuntime,
    securityOptions: [...info.securityOptions].sort().join(' '),
    imageId,
    request,
  }
}

const sameFields = (a: PrivilegeKey, b: PrivilegeKey, fields: ReadonlyArray<keyof PrivilegeKey>) => fields.every((field) => a[field] === b[field])

/** How the decision was reached: `cached` when it was taken from the cache, with a reason that says so. */
export interface PrivilegeChoice {
  decision: PrivilegeDecision
  cached: boolean
  /** Where the decision is kept; undefined when the image has no ID to key it by. */
  key?: PrivilegeKey
  /** The decision as it was made, without the note that it was taken from the cache: what to keep under another key. */
  asDecided: PrivilegeDecision
}

/**
 * `decidePrivilege`, probing only when this engine, host, image and request have no decision yet.
 * `known`: the engine's info and the image's ID when the caller has read them already (`up` has).
 */
export async function decidePrivilegeOnce(
  engine: Engine,
  image: string,
  request: PrivilegeRequest,
  cache: PrivilegeCache,
  known?: {info: EngineInfo; imageId?: string},
): Promise<PrivilegeChoice> {
  const {info, imageId} = known ?? (await readFacts(engine, image))
  const key = imageId ? privilegeKey(info, imageId, request) : undefined
  const kept = key && (await cache.get(key))
  if (kept) return {decision: {...kept, reason: `decided earlier on this engine: ${kept.reason}`}, cached: true, key, asDecided: kept}
  const decision = await decidePrivilege(engine, image, request)
  if (key) await cache.put(key, decision)
  return {decision, cached: false, key, asDecided: decision}
}

async function readFacts(engine: Engine, image: string): Promise<{info: EngineInfo; imageId?: string}> {
  const [info, details] = await Promise.all([engine.info(), engine.inspectImage(image)])
  return {info, imageId: details?.id}
}

/** Entries held in memory: the tests' cache, and the file cache's working copy of its file. */
export class MemoryPrivilegeCache implements PrivilegeCache {
  entries: Array<{key: PrivilegeKey; decision: PrivilegeDecision}> = []

  async get(key: PrivilegeKey): Promise<PrivilegeDecision | undefined> {
    return this.entries.find((entry) => sameFields(entry.key, key, KEY_FIELDS))?.decision
  }

  async put(key: PrivilegeKey, decision: PrivilegeDecision): Promise<void> {
    // Another engine or host state makes every entry stale; other images and requests stay,
    // so that switching between suites does not probe each time. Newest first, a few at most.
    const kept = this.entries.filter((entry) => sameFields(entry.key, key, HOST_FIELDS) && !sameFields(entry.key, key, KEY_FIELDS))
    this.entries = [{key, decision}, ...kept].slice(0, MAX_ENTRIES)
  }

  async forget(key: PrivilegeKey): Promise<void> {
    this.entries = this.entries.filter((entry) => !sameFields(entry.key, key, KEY_FIELDS))
  }
}

const MAX_ENTRIES = 8

/** Bumped whenever an entry's shape changes: an entry of another format is ignored. */
export const PRIVILEGE_CACHE_FORMAT = 1
/** Not a possible nest name (those start with a letter or digit), so never a nest's folder. */
export const PRIVILEGE_CACHE_FILE = '_privilege.json'
/** off: always probe, keep nothing; refresh: probe and keep the new decision; anything else: on. */
export const PRIVILEGE_CACHE_ENV = 'INCEPTION_PRIVILEGE_CACHE'

/** The cache as the environment asks for it. */
export function privilegeCacheFrom(env: NodeJS.ProcessEnv = process.env): PrivilegeCache {
  const setting = (env[PRIVILEGE_CACHE_ENV] ?? '').trim().toLowerCase()
  if (['off', '0', 'false', 'no'].includes(setting)) return NO_CACHE
  return new FilePrivilegeCache(env, {reuse: setting !== 'refresh'})
}

const NO_CACHE: PrivilegeCache = {
  get: async () => undefined,
  put: async () => undefined,
  forget: async () => undefined,
}

/**
 * One small JSON file per engine, next to its nests' client certificates
 * ($XDG_STATE_HOME/inception/ENGINE/_privilege.json): 0600 in a 0700 folder, written whole to
 * a temporary file and renamed, so a reader never sees half of it. It is only a shortcut: a file
 * that cannot be read, parsed or written, or a state folder that cannot be made, costs the probes,
 * never the `up`, and says nothing: a plain `up` needs no state folder, and what a missing cache
 * costs (a second of probes) is no reason to stop or to warn at every `up`.
 */
/** A lock older than this is a dead writer's (proper-lockfile refreshes a live one's meanwhile). */
const LOCK_STALE_MS = 10_000

export class FilePrivilegeCache implements PrivilegeCache {
  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly options: {reuse: boolean} = {reuse: true},
  ) {}

  file(engineId: string): string {
    return join(engineStateFolder(engineId, this.env), PRIVILEGE_CACHE_FILE)
  }

  async get(key: PrivilegeKey): Promise<PrivilegeDecision | undefined> {
    if (!this.options.reuse) return undefined
    return (await this.read(key.engineId)).get(key)
  }

  async put(key: PrivilegeKey, decision: PrivilegeDecision): Promise<void> {
    await this.whileLocked(key.engineId, async () => {
      const memory = await this.read(key.engineId)
      await memory.put(key, decision)
      await this.write(key.engineId, memory)
    })
  }

  async forget(key: PrivilegeKey): Promise<void> {
    await this.whileLocked(key.engineId, async () => {
      const memory = await this.read(key.engineId)
      const before = memory.entries.length
      await memory.forget(key)
      if (memory.entries.length !== before) await this.write(key.engineId, memory)
    })
  }

  /**
   * Read, change and write the file under a lock (proper-lockfile: a `.lock` folder beside it,
   * taken over when stale), so that two `up`s deciding at once both keep their decision: without
   * it the second writer dropped what the first had kept. A lock that cannot be had in about a
   * second leaves the file as it is; a cache miss costs only the probes.
   */
  private async whileLocked(engineId: string, change: () => Promise<void>): Promise<void> {
    const file = this.file(engineId)
    let release: (() => Promise<void>) | undefined
    try {
      makePrivateFolder(dirname(file))
      // Loaded here, when a decision is kept, not with every command: it hooks the process's exit signals.
      const {default: lockfile} = await import('proper-lockfile')
      release = await lockfile.lock(file, {realpath: false, stale: LOCK_STALE_MS, retries: {retries: 25, minTimeout: 10, maxTimeout: 100}})
    } catch {
      return
    }
    try {
      await change()
    } finally {
      await release().catch(() => undefined)
    }
  }

  private async read(engineId: string): Promise<MemoryPrivilegeCache> {
    const memory = new MemoryPrivilegeCache()
    try {
      const parsed = JSON.parse(await readFile(this.file(engineId), 'utf8')) as unknown
      if (!isRecord(parsed) || parsed.format !== PRIVILEGE_CACHE_FORMAT || !Array.isArray(parsed.entries)) return memory
      for (const entry of parsed.entries as unknown[]) {
        if (isRecord(entry) && isKey(entry.key) && isDecision(entry.decision)) memory.entries.push({key: entry.key, decision: entry.decision})
      }
    } catch {
      // Missing, unreadable or not JSON: as if nothing were known.
    }
    return memory
  }

  private async write(engineId: string, memory: MemoryPrivilegeCache): Promise<void> {
    const file = this.file(engineId)
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    try {
      // Made step by step (makePrivateFolder): a folder that cannot be made fails here, once.
      makePrivateFolder(dirname(file))
      await chmod(dirname(file), 0o700)
      await writeFile(temporary, `${JSON.stringify({format: PRIVILEGE_CACHE_FORMAT, entries: memory.entries}, null, 2)}\n`, {mode: 0o600})
      await rename(temporary, file)
    } catch {
      // Not kept: the next `up` probes again, which is all a cache miss costs.
      await rm(temporary, {force: true}).catch(() => undefined)
    }
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string')

function isKey(value: unknown): value is PrivilegeKey {
  return isRecord(value) && KEY_FIELDS.every((field) => typeof value[field] === 'string') && (PRIVILEGE_REQUESTS as readonly unknown[]).includes(value.request)
}

function isUlimit(value: unknown): value is Ulimit {
  return isRecord(value) && (value.name === 'nofile' || value.name === 'nproc') && Number.isInteger(value.soft) && Number.isInteger(value.hard)
}

/** Only a decision of a known shape is used: its settings go straight into level 1's container. */
function isDecision(value: unknown): value is PrivilegeDecision {
  if (!isRecord(value) || typeof value.reason !== 'string') return false
  if (value.ulimits !== undefined && !(Array.isArray(value.ulimits) && value.ulimits.every(isUlimit))) return false
  switch (value.mode) {
    case 'privileged':
      return true
    case 'caps':
      return isStrings(value.capDrop)
    case 'minimal':
      return isStrings(value.capAdd) && isStrings(value.security)
    default:
      return false
  }
}
