import {existsSync} from 'node:fs'
import {dirname} from 'node:path'

import {firstFailure, type LevelReport, readyDepth} from './board.js'
import {LABEL, type LevelState, levelName, TLS_DIR} from './contract.js'
import type {NestDirectory} from './directory.js'
import {isThisMachine} from './endpoint.js'
import {AddressUnavailable, type ContainerSpec, EngineRefusal, NameInUse, PortInUse} from './engine.js'
import {
  BindAddressUnavailable,
  ContainerNameTaken,
  ImageMissing,
  Interrupted,
  LevelFailed,
  levelFailure,
  LevelOneRefused,
  NestExists,
  NestRemoved,
  NetworkMissing,
  NotALevelImage,
  PortTaken,
  VolumeInTheWay,
} from './errors.js'
import {checkContextsFree, contextEndpoints, writeContexts} from './contexts.js'
import {checkFuse, fitBudgetsToEngine} from './budgets.js'
import {checkMemory, type NestPlan, planNest, takenSubnets} from './plan.js'
import type {UpRequest} from './request.js'
import {type Clock, pollUntil, systemClock} from './poll.js'
import type {PrivilegeDecision} from './privilege.js'
import {decidePrivilegeOnce, type PrivilegeCache, type PrivilegeKey} from './privilege-cache.js'
import {initError, type LevelAccess} from './level-access.js'
import {checkHostPortsFree} from './ports.js'
import {effectiveRegistrySettings, localEngineFiles} from './registry-settings.js'
import {nestRecord} from './record.js'
import {levelOneSpec} from './render.js'
import type {NestStatus, NestStatusReader} from './status.js'
import {madeSockets, planSockets, prepareSockets, removeSockets} from './sockets.js'
import {SubnetLock} from './subnet-lock.js'
import {imageForSuite} from './suites.js'
import type {NestTeardown} from './teardown.js'
import {issueNestCertificates, makePrivateFolder, type NestCertificates, serverFiles, writeClientFolder} from './tls.js'

/** What `prepare` checked and decided; the subnets are chosen again, under the lock, by `launch`. */
export interface PreparedNest {
  request: UpRequest
  decision: PrivilegeDecision
  /** Where the decision is cached: dropped when the engine refuses level 1 with it. */
  privilegeKey?: PrivilegeKey
  certificates?: NestCertificates
  /** What `up` tells the user besides its progress (something of an earlier nest it removes). */
  notes?: string[]
}

/** What `up` reports as it goes, for a progress display. */
export interface UpEvents {
  levelState?(level: number, state: LevelState, elapsedMs: number): void
}

// How often `up` looks at the board its watch keeps (no engine call): the wait after the last level is ready is half of this.
const BOARD_POLL_MS = 20
/** Level 1's container is inspected every this many looks (and whenever the watch ended). */
const INSPECT_EVERY = 10
const WATCH_RESTART_MS = 250

/** Brings nests up: checks first, then level 1 on this engine; each level's init starts the next. */
export class NestLauncher {
  constructor(
    private readonly directory: NestDirectory,
    private readonly reach: LevelAccess,
    private readonly statusReader: NestStatusReader,
    private readonly teardown: NestTeardown,
    private readonly privilegeCache: PrivilegeCache,
    /** What the wait for the levels reads the time from: tests pass their own. */
    private readonly clock: Clock = systemClock,
  ) {}

  private get engine() {
    return this.directory.engine
  }

  /**
   * Everything `up` checks before it creates anything: the name is free, the image is there, the
   * engine's memory holds the depth, subnets and host ports are free, and how level 1 may run.
   */
  async prepare(request: UpRequest): Promise<PreparedNest> {
    if ((await this.directory.records(request.name)).length > 0) throw new NestExists(request.name)
    const volume = await this.directory.levelOneVolume(request.name)
    if (volume.state === 'foreign') throw new VolumeInTheWay(volume.volume, volume.owner)
    if (request.network && !(await this.engine.networkExists(request.network))) throw new NetworkMissing(request.network)
    // Read once: the image check, the memory check and the privilege decision's key all use them.
    const [info, image, namesake] = await Promise.all([
      this.engine.info(),
      this.engine.inspectImage(request.image),
      this.engine.inspectContainer(levelName(request.name, 1)),
    ])
    const own = request.image === imageForSuite(request.suite)
    const buildCommand = `inception build --suite ${request.suite}${own ? '' : ` --tag ${request.image}`}`
    if (!image) throw new ImageMissing(request.image, buildCommand)
    // Level 1 would run something else's entrypoint, and fail in a way that blames the privilege probe.
    if (image.labels[LABEL.context] === undefined) throw new NotALevelImage(request.image, `inception build --suite ${request.suite}`)
    // Not a nest (records() found none): someone's own container holds level 1's name.
    if (namesake) throw new ContainerNameTaken(namesake.name, request.name)
    checkMemory(request.depth, info.memTotalBytes)
    // Budgets the engine can enforce, within what it has; each level with CPUs gets its own (budgets.ts).
    request = {...request, budgets: fitBudgetsToEngine(request.budgets, info, request.name)}
    if (isThisMachine(this.engine.address)) checkFuse(request.budgets, () => existsSync('/dev/fuse'))
    // What the engine's own settings give every level, unless flags say otherwise (registry-settings.ts).
    const local = isThisMachine(this.engine.address) ? localEngineFiles() : undefined
    request = {...request, registry: effectiveRegistrySettings(request.registryInput, info.registry, local)}
    if (request.contexts) checkContextsFree(request.name, request.depth, info.id)
    // Checked with the rest, before the privilege probes make anything; the folder is made last.
    const sockets = planSockets(request.sockets, request.name, this.engine.address)
    // Planned here only to refuse a pool that cannot hold the nest before anything is made.
    planNest(request, await takenSubnets(this.engine, await this.directory.records()))
    await checkHostPortsFree(request, this.engine.address)
    // The client's certificates need a folder here: one that cannot be made refuses the `up` before the
    // probes make anything. (The engine's folder only: the nest's own comes with its certificates.)
    if (request.exposeDaemons) makePrivateFolder(dirname(dirname(await this.directory.certificateFolder(request.name))))
    const {decision, key} = await decidePrivilegeOnce(this.engine, request.image, request.privilege, this.privilegeCache, {info, imageId: image.id})
    const addresses = [...new Set(['127.0.0.1', request.bind].filter((a) => a !== '0.0.0.0'))]
    const certificates = request.exposeDaemons ? await issueNestCertificates(request.name, addresses) : undefined
    const notes = volume.state === 'orphan' ? [`removed the volume ${volume.volume} left by an earlier nest "${request.name}" (its level 1 was gone)`] : []
    // Last: it makes the sockets' folder on this machine, which `launch` removes if it fails.
    const {made, note} = await prepareSockets(sockets, request.sockets === 'auto', this.engine, request.image)
    return {request: {...request, sockets: made ?? 'none'}, decision, privilegeKey: key, certificates, notes: note ? [...notes, note] : notes}
  }

  /**
   * Brings a prepared nest up: level 1 on this engine, the rest started by each level's init.
   * Resolves when every level's engine answers. Any failure, or an abort, removes everything
   * this call created.
   */
  async launch({request, decision, privilegeKey, certificates}: PreparedNest, events: UpEvents = {}, signal?: AbortSignal): Promise<NestStatus> {
    throwIfAborted(signal, request.name)
    const started = Date.now()
    // Rollback removes what carries this nest's name: only once this call has made something.
    let created = false
    try {
      const {id, spec} = await new SubnetLock(this.engine).hold(request.image, async () => {
        // Checked again under the lock: another `up` of the same name may have won the race,
        // and its nest is not ours to roll back.
        if ((await this.directory.records(request.name)).length > 0) throw new NestExists(request.name)
        // Planned again under the lock: another nest may have taken subnets since `prepare`.
        const plan: NestPlan = planNest(request, await takenSubnets(this.engine, await this.directory.records()))
        const spec = levelOneSpec(plan, decision)
        // Never adopted: the engine answers a create of an existing volume with that volume.
        const volume = await this.directory.levelOneVolume(request.name)
        if (volume.state === 'foreign') throw new VolumeInTheWay(volume.volume, volume.owner)
        // An earlier nest's data root, left when its level 1 was removed by hand: level 1 would
        // start on its old state (the next level's container still in its engine).
        if (volume.state === 'orphan') await this.engine.removeVolume(volume.volume)
        created = true
        await this.engine.createVolume(spec.name!, {[LABEL.nest]: request.name})
        return {id: await this.forgetPrivilegeIfRefused(privilegeKey, () => this.create(spec, request)), spec}
      })
      if (certificates) {
        const files = Object.fromEntries(
          Object.entries(serverFiles(certificates)).map(([file, content]) => [file, {content, mode: file.endsWith('key.pem') ? 0o600 : 0o644}]),
        )
        await this.engine.putFiles(id, TLS_DIR, files)
        writeClientFolder(await this.directory.certificateFolder(request.name), certificates)
      }
      await this.forgetPrivilegeIfRefused(privilegeKey, () => this.start(id, request))
      const board = await this.waitUntilReady(id, request, events, started, signal)
      // A `down` that began while the last level came up must not be answered with "is up".
      if (!(await this.engine.inspectContainer(id))?.running) throw new NestRemoved(request.name, 'it was coming up')
      // The board was just read whole to see the nest ready: the status is made from it.
      const status = await this.statusReader.describe(nestRecord({id, name: spec.name!, state: 'running', labels: spec.labels!}), board)
      if (request.contexts) {
        writeContexts(request.name, await this.directory.engineIdentity(), contextEndpoints(status, await this.directory.certificateFolder(request.name)))
      }
      return status
    } catch (error) {
      if (created) await this.teardown.down(request.name).catch(() => undefined)
      removeSockets(madeSockets(request.sockets)?.folder)
      if (signal?.aborted && !(error instanceof Interrupted)) throw new Interrupted(`up of nest "${request.name}" was rolled back`)
      throw error
    }
  }

  /**
   * The engine refusing to create or start level 1 may mean the decision no longer fits it (a
   * change the cache key cannot see, such as dockerd restarted with fewer capabilities): the
   * next `up` probes again. A taken port says nothing about privilege.
   */
  private async forgetPrivilegeIfRefused<T>(key: PrivilegeKey | undefined, step: () => Promise<T>): Promise<T> {
    try {
      return await step()
    } catch (error) {
      if (key && !(error instanceof PortTaken)) await this.privilegeCache.forget(key).catch(() => undefined)
      throw error
    }
  }

  private async create(spec: ContainerSpec, request: UpRequest): Promise<string> {
    try {
      return await this.engine.createContainer(spec)
    } catch (error) {
      throw this.refused(error, request)
    }
  }

  private async start(id: string, request: UpRequest): Promise<void> {
    try {
      await this.engine.startContainer(id)
    } catch (error) {
      throw this.refused(error, request)
    }
  }

  /** The engine's refusal of level 1, as an error that tells the user what to change, on one line. */
  private refused(error: unknown, request: UpRequest): unknown {
    if (error instanceof NameInUse) return new ContainerNameTaken(error.containerName ?? levelName(request.name, 1), request.name)
    // The engine names the address: --bind's for -p ports, 127.0.0.1 for the levels' engines.
    if (error instanceof PortInUse) return new PortTaken(error.address ?? request.bind, error.port, 'another container or process')
    // A remote engine's host, checked only here: the engine cannot bind what its host does not have.
    if (error instanceof AddressUnavailable) return new BindAddressUnavailable(request.bind, `the engine's host (${this.engine.address})`)
    if (error instanceof EngineRefusal) return new LevelOneRefused(error.step, error.engineSays)
    return error
  }

  /** Resolves with the board as it was when every level was ready. */
  private async waitUntilReady(id: string, request: UpRequest, events: UpEvents, started: number, signal?: AbortSignal): Promise<LevelReport[]> {
    const seen = new Map<number, LevelState>()
    let lastProgress = this.clock.now()
    // A level has readyTimeoutSeconds to answer once the one above it is ready; its init enforces
    // the same bound from the inside and reports the failure on the board.
    const stallLimitMs = (request.readyTimeoutSeconds + 15) * 1000
    // The board comes from a watch in level 1, which hands over each change (LevelAccess.watchBoard).
    // A watch that ends before the nest is up (level 1 between its start and its first process,
    // or gone) is started again, no sooner than WATCH_RESTART_MS after the last.
    let board: LevelReport[] = []
    let watching = false
    let watchStarted = -Infinity
    let tick = 0
    // Long enough for every level to use its whole bound: the watch is only started again when it ends early.
    const watchDeadlineSeconds = request.depth * (request.readyTimeoutSeconds + 15)
    const watch = () => {
      watching = true
      watchStarted = this.clock.now()
      this.reach
        .watchBoard(id, request.depth, watchDeadlineSeconds, (reports) => {
          board = reports
        })
        .catch(() => undefined)
        .finally(() => {
          watching = false
        })
    }
    return pollUntil(
      async () => {
        throwIfAborted(signal, request.name)
        // Level 1's container, whenever the watch has ended (it ends with level 1) and every INSPECT_EVERY ticks besides.
        if (!watching || tick++ % INSPECT_EVERY === 0) {
          const details = await this.engine.inspectContainer(id)
          if (!details?.running) {
            const tail = await this.reach.logTail(request.name, 1)
            const said = initError(tail)
            // Gone, or ended well with nothing to say: stopped (the init ends with 0 on SIGTERM) or removed, by `down` most likely.
            if (!details || (details.exitCode === 0 && said === undefined)) throw new NestRemoved(request.name, 'it was coming up')
            throw levelFailure(1, said ?? `its container exited with status ${details.exitCode}`, tail)
          }
        }
        for (const report of board) {
          if (report.state !== 'absent' && seen.get(report.level) !== report.state) {
            seen.set(report.level, report.state)
            lastProgress = this.clock.now()
            events.levelState?.(report.level, report.state, Date.now() - started)
          }
        }
        const failure = firstFailure(board)
        if (failure) throw levelFailure(failure.level, failure.detail || 'its init failed', await this.reach.logTail(request.name, failure.level))
        if (readyDepth(board) === request.depth) return board
        if (this.clock.now() - lastProgress > stallLimitMs) {
          const stuck = readyDepth(board) + 1
          throw new LevelFailed(stuck, `no progress for ${Math.round(stallLimitMs / 1000)}s`, await this.reach.logTail(request.name, stuck))
        }
        if (!watching && this.clock.now() - watchStarted >= WATCH_RESTART_MS) watch()
        return undefined
      },
      {intervalMs: BOARD_POLL_MS, signal, clock: this.clock},
    )
  }
}

function throwIfAborted(signal: AbortSignal | undefined, name: string): void {
  if (signal?.aborted) throw new Interrupted(`up of nest "${name}" was rolled back`)
}
