import {createServer} from 'node:net'
import {networkInterfaces} from 'node:os'
import type {Writable} from 'node:stream'
import {setTimeout as sleep} from 'node:timers/promises'

import {BOARD_READ_SCRIPT, firstFailure, type LevelReport, parseBoard, readyDepth} from './board.js'
import {connectEndpoint} from './dockerode-engine.js'
import {Capture, type ContainerSummary, type Engine, engineMessage, type ExecIo, statusCode} from './engine.js'
import {DaemonsNotExposed, ImageMissing, NetworkMissing, InceptionError, Interrupted, LevelFailed, LevelOutOfRange, NestExists, NestNotFound, PortTaken} from './errors.js'
import {LABEL, levelName} from './labels.js'
import {checkMemory, levelOneSpec, planNest, subnetsFromLabels} from './plan.js'
import type {UpRequest} from './request.js'
import {certificateFolder, clientFolderExists, issueNestCertificates, type NestCertificates, readClientMaterial, removeClientFolder, serverFiles, writeClientFolder} from './tls.js'
import {daemonInnerPort, formatPortMapping, portsFromLabel} from './ports.js'
import {capabilitiesInMask, decidePrivilege, type PrivilegeDecision} from './privilege.js'
import {type Cidr, parseCidr} from './subnets.js'
import {imageForSuite} from './suites.js'

/** What `prepare` checked and decided; the subnets are chosen again, under the lock, by `launch`. */
export interface PreparedNest {
  request: UpRequest
  decision: PrivilegeDecision
  certificates?: NestCertificates
}

/** How the host reaches one level's engine directly (with --expose-daemons). */
export interface DaemonEndpoint {
  level: number
  host: string
  certPath: string
}

/** What `up` reports as it goes, for a progress display. */
export interface UpEvents {
  levelState?(level: number, state: LevelReport['state'], elapsedMs: number): void
}

export interface LevelStatus {
  level: number
  name: string
  containerId: string
  hostname: string
  /** running | exited | unreachable | starting | stopping | failed */
  state: string
  dockerdReady: boolean
  dockerdVersion: string
  storageDriver: string
  privilege: string
  /** CapEff of the level's PID 1, and the same by name. */
  capEff: string
  capabilities: string[]
  bridge: string
  /** The MTU of the level's networks, as its init chose it. */
  mtu?: number
  ports: string[]
  memoryBytes?: number
  detail: string
  /** tcp://127.0.0.1:PORT of this level's engine, when the nest exposes its daemons. */
  endpoint?: string
}

export interface NestStatus {
  name: string
  depth: number
  version: string
  requestedPrivilege: string
  storageDriver: string
  dataRoot: string
  /** The Debian suite of the level image (which decides every level's Docker). */
  suite: string
  subnets: string[]
  /** Each level's pool for the networks users create there. */
  pools: string[]
  /** The host network level 1 joined, when not the default bridge. */
  network?: string
  ports: string[]
  levels: LevelStatus[]
}

export interface DownReport {
  name: string
  removedContainers: number
  removedVolumes: number
  seconds: number
}

/** Where level 1 holds the daemons' TLS material (the init reads it there and passes it down). */
const TLS_DIR = '/run/inception/tls'
const SUBNET_LOCK = 'inception-subnet-lock'
const SUBNET_LOCK_WAIT_MS = 30_000
const SUBNET_LOCK_STALE_MS = 60_000

/** Level 1's stop timeout: each level gives the one below this long to collapse. */
const STOP_SECONDS_PER_LEVEL = 5
const BOARD_POLL_MS = 50

const hasLabel = (key: string, value?: string) => (value === undefined ? key : `${key}=${value}`)

export class Nests {
  private engineId?: string

  constructor(private readonly engine: Engine) {}

  /** Where this engine's nests keep their client certificates on this machine. */
  private async certificateFolder(name: string): Promise<string> {
    this.engineId ??= (await this.engine.info()).id
    return certificateFolder(this.engineId, name)
  }

  /** Level-1 containers of every nest, or of one. */
  private async levelOnes(name?: string): Promise<ContainerSummary[]> {
    const filters = [hasLabel(LABEL.level, '1'), name === undefined ? hasLabel(LABEL.nest) : hasLabel(LABEL.nest, name)]
    return this.engine.listContainers(filters)
  }

  async names(): Promise<string[]> {
    const found = await this.levelOnes()
    return [...new Set(found.map((c) => c.labels[LABEL.nest]!))].sort()
  }

  private async requireNest(name: string): Promise<ContainerSummary> {
    const [levelOne] = await this.levelOnes(name)
    if (!levelOne) throw new NestNotFound(name)
    return levelOne
  }

  /** Every subnet the new nest must stay clear of: the engine's networks, other nests, this host's interfaces. */
  private async takenSubnets(): Promise<Cidr[]> {
    const engineSubnets = (await this.engine.listNetworkSubnets()).map((s) => parseCidr(s)).filter((c): c is Cidr => c !== undefined)
    const nests = subnetsFromLabels((await this.levelOnes()).map((c) => c.labels))
    // The engine's host is this machine when it is reached through a local socket.
    const local = this.engine.address.startsWith('unix://')
      ? Object.values(networkInterfaces())
          .flat()
          .filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
          .map((i) => parseCidr(i!.cidr ?? ''))
          .filter((c): c is Cidr => c !== undefined)
      : []
    return [...engineSubnets, ...nests, ...local]
  }

  private async checkHostPortsFree(request: UpRequest): Promise<void> {
    if (!this.engine.address.startsWith('unix://')) return
    for (const mapping of request.ports) {
      const holder = await portHolder(request.bind, mapping.hostPort)
      if (holder) throw new PortTaken(request.bind, mapping.hostPort, holder)
    }
  }

  /**
   * Everything `up` checks before it creates anything: the name is free, the image is there, the
   * engine's memory holds the depth, subnets and host ports are free, and how level 1 may run.
   */
  async prepare(request: UpRequest): Promise<PreparedNest> {
    if ((await this.levelOnes(request.name)).length > 0) throw new NestExists(request.name)
    if (request.network && !(await this.engine.networkExists(request.network))) throw new NetworkMissing(request.network)
    if (!(await this.engine.imageExists(request.image))) {
      throw new ImageMissing(request.image, request.image === imageForSuite(request.suite) ? `inception build --suite ${request.suite}` : `inception build --suite ${request.suite} --tag ${request.image}`)
    }
    checkMemory(request.depth, (await this.engine.info()).memTotalBytes)
    // Planned here only to refuse a pool that cannot hold the nest before anything is made.
    planNest(request, await this.takenSubnets())
    await this.checkHostPortsFree(request)
    const decision = await decidePrivilege(this.engine, request.image, request.privilege)
    const addresses = [...new Set(['127.0.0.1', request.bind].filter((a) => a !== '0.0.0.0'))]
    const certificates = request.exposeDaemons ? await issueNestCertificates(request.name, addresses) : undefined
    return {request, decision, certificates}
  }

  /**
   * Choosing subnets and creating level 1 (whose labels record them) must not interleave with
   * another `up` on the same engine, or two nests get the same subnets. The engine is the lock:
   * container names are unique, so creating a never-started container with a fixed name
   * succeeds for one caller at a time. A lock left by a killed CLI expires.
   */
  private async withSubnetLock<T>(image: string, critical: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + SUBNET_LOCK_WAIT_MS
    let lockId: string | undefined
    while (!lockId) {
      try {
        // Never started; the tmpfs keeps it from making an anonymous volume for /var/lib/docker.
        lockId = await this.engine.createContainer({name: SUBNET_LOCK, image, entrypoint: ['true'], labels: {[LABEL.lock]: 'subnets'}, host: {tmpfs: {'/var/lib/docker': ''}}})
      } catch (error) {
        if (statusCode(error) !== 409) throw error
        const holder = await this.engine.inspectContainer(SUBNET_LOCK)
        if (holder && Date.now() - holder.createdMs > SUBNET_LOCK_STALE_MS) await this.engine.removeContainer(holder.id)
        else if (Date.now() > deadline) throw new LevelFailed(1, 'another `inception up` on this engine held the subnet lock for too long')
        else await sleep(100)
      }
    }
    try {
      return await critical()
    } finally {
      await this.engine.removeContainer(lockId).catch(() => undefined)
    }
  }

  /**
   * Brings a prepared nest up: level 1 on this engine, the rest started by each level's init.
   * Resolves when every level's engine answers. Any failure, or an abort, removes everything
   * this call created.
   */
  async launch({request, decision, certificates}: PreparedNest, events: UpEvents = {}, signal?: AbortSignal): Promise<NestStatus> {
    throwIfAborted(signal, request.name)
    const started = Date.now()
    // Rollback removes what carries this nest's name: only once this call has made something.
    let created = false
    try {
      const id = await this.withSubnetLock(request.image, async () => {
        // Checked again under the lock: another `up` of the same name may have won the race,
        // and its nest is not ours to roll back.
        if ((await this.levelOnes(request.name)).length > 0) throw new NestExists(request.name)
        // Planned again under the lock: another nest may have taken subnets since `prepare`.
        const lockedPlan = planNest(request, await this.takenSubnets())
        const spec = levelOneSpec(lockedPlan, decision)
        created = true
        await this.engine.createVolume(spec.name!, {[LABEL.nest]: request.name})
        return this.engine.createContainer(spec)
      })
      if (certificates) {
        const files = Object.fromEntries(Object.entries(serverFiles(certificates)).map(([file, content]) => [file, {content, mode: file.endsWith('key.pem') ? 0o600 : 0o644}]))
        await this.engine.putFiles(id, TLS_DIR, files)
        writeClientFolder(await this.certificateFolder(request.name), certificates)
      }
      try {
        await this.engine.startContainer(id)
      } catch (error) {
        const message = engineMessage(error)
        const port = /(?:0\.0\.0\.0|127\.0\.0\.1|[\d.]+):(\d+).*(?:already allocated|address already in use)/.exec(message)
        if (port) throw new PortTaken(request.bind, Number(port[1]), 'another container or process')
        throw error
      }
      await this.waitUntilReady(id, request, events, started, signal)
      return await this.status(request.name)
    } catch (error) {
      if (created) await this.down(request.name).catch(() => undefined)
      if (signal?.aborted && !(error instanceof Interrupted)) throw new Interrupted(`up of nest "${request.name}" was rolled back`)
      throw error
    }
  }

  async up(request: UpRequest, events: UpEvents = {}, signal?: AbortSignal): Promise<NestStatus> {
    return this.launch(await this.prepare(request), events, signal)
  }

  private async readBoard(levelOneId: string, depth: number, timeoutMs = 5000): Promise<LevelReport[]> {
    const out = new Capture()
    await this.engine.exec(levelOneId, ['sh', '-c', BOARD_READ_SCRIPT], {stdout: out, stderr: new Capture(), timeoutMs})
    return parseBoard(out.text(), depth)
  }

  private async waitUntilReady(id: string, request: UpRequest, events: UpEvents, started: number, signal?: AbortSignal): Promise<void> {
    const seen = new Map<number, string>()
    let lastProgress = Date.now()
    // A level has readyTimeoutSeconds to answer once the one above it is ready; its init enforces
    // the same bound from the inside and reports the failure on the board.
    const stallLimitMs = (request.readyTimeoutSeconds + 15) * 1000
    for (;;) {
      throwIfAborted(signal, request.name)
      const details = await this.engine.inspectContainer(id)
      if (!details?.running) {
        const tail = await this.logTail(request.name, 1)
        const reason = initError(tail) ?? `its container ${details ? `exited with status ${details.exitCode}` : 'disappeared'}`
        throw new LevelFailed(1, reason, tail)
      }
      let reports: LevelReport[] = []
      try {
        reports = await this.readBoard(id, request.depth)
      } catch (error) {
        if (error instanceof InceptionError) throw error
        // The container may be between start and its first process: try again.
      }
      for (const report of reports) {
        if (report.state !== 'absent' && seen.get(report.level) !== report.state) {
          seen.set(report.level, report.state)
          lastProgress = Date.now()
          events.levelState?.(report.level, report.state, Date.now() - started)
        }
      }
      const failure = firstFailure(reports)
      if (failure) {
        throw new LevelFailed(failure.level, failure.detail || 'its init failed', await this.logTail(request.name, failure.level))
      }
      if (readyDepth(reports) === request.depth) return
      if (Date.now() - lastProgress > stallLimitMs) {
        const stuck = readyDepth(reports) + 1
        throw new LevelFailed(stuck, `no progress for ${Math.round(stallLimitMs / 1000)}s`, await this.logTail(request.name, stuck))
      }
      await sleep(BOARD_POLL_MS, undefined, {signal}).catch(() => undefined)
    }
  }

  /** The last lines of a level's output (its init and dockerd), or '' when they cannot be read. */
  async logTail(name: string, level: number, lines = 20): Promise<string> {
    const out = new Capture()
    try {
      await this.logs(name, level, {follow: false, tail: lines}, out, out, 5000)
    } catch {
      return ''
    }
    return out.text()
  }

  /** Removes a nest: level 1 collapses the levels below it innermost first, then goes with its volume. */
  async down(name: string): Promise<DownReport> {
    const started = Date.now()
    const containers = await this.engine.listContainers([hasLabel(LABEL.nest, name)])
    const depth = Math.max(1, ...containers.map((c) => Number(c.labels[LABEL.depth] ?? 1)))
    await Promise.all(
      containers.map(async (c) => {
        await this.engine.stopContainer(c.id, depth * STOP_SECONDS_PER_LEVEL)
        await this.engine.removeContainer(c.id)
      }),
    )
    const volumes = await this.engine.listVolumes([hasLabel(LABEL.nest, name)])
    await Promise.all(volumes.map((v) => this.engine.removeVolume(v)))
    removeClientFolder(await this.certificateFolder(name))
    return {name, removedContainers: containers.length, removedVolumes: volumes.length, seconds: (Date.now() - started) / 1000}
  }

  async downAll(): Promise<DownReport[]> {
    const names = new Set([
      ...(await this.names()),
      // Volumes of a nest whose container is already gone (a CLI killed between the two creations).
      ...(await this.engine.listContainers([hasLabel(LABEL.nest)])).map((c) => c.labels[LABEL.nest]!),
    ])
    const reports: DownReport[] = []
    for (const name of names) reports.push(await this.down(name))
    return reports
  }

  async status(name: string): Promise<NestStatus> {
    return this.describe(await this.requireNest(name))
  }

  async statusAll(): Promise<NestStatus[]> {
    return Promise.all((await this.levelOnes()).map((c) => this.describe(c)))
  }

  private async describe(levelOne: ContainerSummary): Promise<NestStatus> {
    const labels = levelOne.labels
    const name = labels[LABEL.nest]!
    const depth = Number(labels[LABEL.depth] ?? 1)
    const bind = labels[LABEL.bind] ?? '127.0.0.1'
    const ports = portsFromLabel(labels[LABEL.ports])
    const running = levelOne.state === 'running'
    let reports: LevelReport[] = Array.from({length: depth}, (_, i) => ({level: i + 1, state: 'absent' as const, detail: '', info: {}}))
    if (running) {
      try {
        reports = await this.readBoard(levelOne.id, depth)
      } catch {
        // Level 1 runs but does not answer an exec: every level is shown unreachable below.
      }
    }
    const subnets = (labels[LABEL.subnets] ?? '').split(' ').filter((s) => s.length > 0)
    const endpoints = labels[LABEL.daemons] === 'on' && running ? await this.endpoints(levelOne.id, depth) : new Map<number, string>()
    let above = running
    const levels = reports.map((report): LevelStatus => {
      const level = report.level
      let state: string
      if (level === 1) state = running ? (report.state === 'ready' ? 'running' : report.state) : levelOne.state
      else if (!above) state = 'unreachable'
      else if (report.alive === false) state = report.state === 'stopping' ? 'stopping' : 'exited'
      else state = report.state === 'ready' ? 'running' : report.state === 'absent' ? 'unreachable' : report.state
      above = above && state === 'running'
      return {
        level,
        name: levelName(name, level),
        containerId: level === 1 ? levelOne.id : report.info.id ?? '',
        hostname: report.info.hostname ?? (level === 1 ? levelOne.id.slice(0, 12) : ''),
        state,
        dockerdReady: state === 'running',
        dockerdVersion: report.info.dockerd ?? '',
        storageDriver: report.info.storage ?? '',
        privilege: report.info.privilege ?? '',
        capEff: report.info.capeff ?? '',
        capabilities: report.info.capeff ? capabilitiesInMask(report.info.capeff) : [],
        // As the level's kernel has it (its init reads docker0), never the plan: '' when unknown.
        bridge: report.info.bridge ?? '',
        mtu: report.info.mtu ? Number(report.info.mtu) : undefined,
        ports: ports.filter((p) => (p.level ?? depth) >= level).map((p) => formatPortMapping(p, depth, bind)),
        memoryBytes: report.memoryBytes,
        detail: report.detail,
        endpoint: endpoints.get(level),
      }
    })
    return {
      name,
      depth,
      version: labels[LABEL.version] ?? '',
      requestedPrivilege: labels[LABEL.privilege] ?? '',
      storageDriver: labels[LABEL.storageDriver] ?? '',
      dataRoot: labels[LABEL.dataRoot] ?? '',
      suite: labels[LABEL.suite] ?? '',
      subnets,
      pools: (labels[LABEL.pools] ?? '').split(' ').filter((s) => s.length > 0),
      network: labels[LABEL.network],
      ports: ports.map((p) => formatPortMapping(p, depth, bind)),
      levels,
    }
  }

  /** The host addresses of each level's engine port, as the engine published them. */
  private async endpoints(levelOneId: string, depth: number): Promise<Map<number, string>> {
    const details = await this.engine.inspectContainer(levelOneId)
    const found = new Map<number, string>()
    for (let level = 1; level <= depth; level++) {
      const binding = details?.ports[`${daemonInnerPort(level)}/tcp`]?.[0]
      if (!binding?.HostPort) continue
      const host = binding.HostIp === '' || binding.HostIp === '0.0.0.0' ? '127.0.0.1' : binding.HostIp
      found.set(level, `tcp://${host}:${binding.HostPort}`)
    }
    return found
  }

  /** What `inception env --level K` prints: level K's engine address and the client certificate folder. */
  async daemonEndpoint(name: string, level: number): Promise<DaemonEndpoint> {
    const {levelOne, depth} = await this.nestLevel(name, level)
    if (levelOne.labels[LABEL.daemons] !== 'on') throw new DaemonsNotExposed(name)
    const host = (await this.endpoints(levelOne.id, depth)).get(level)
    const certPath = await this.certificateFolder(name)
    if (!host) throw new LevelFailed(level, "its engine port is not published (is level 1 running?)")
    if (!clientFolderExists(certPath)) throw new LevelFailed(level, `the client certificate is missing from ${certPath} (the nest was started on another machine?)`)
    return {level, host, certPath}
  }

  /** The depth of a nest whose level 1 runs (what a command that reaches its levels needs). */
  async runningDepth(name: string): Promise<number> {
    const levelOne = await this.requireNest(name)
    if (levelOne.state !== 'running') throw new LevelFailed(1, `level 1 is ${levelOne.state}`, '', `see \`inception ps\`; remove the nest with \`inception down --name ${name}\``)
    return Number(levelOne.labels[LABEL.depth] ?? 1)
  }

  /** The nest's level 1 and depth, once `level` is known to be one of its levels. */
  private async nestLevel(name: string, level: number): Promise<{levelOne: ContainerSummary; depth: number}> {
    const levelOne = await this.requireNest(name)
    const depth = Number(levelOne.labels[LABEL.depth] ?? 1)
    if (level < 1 || level > depth) throw new LevelOutOfRange(name, level, depth)
    return {levelOne, depth}
  }

  /**
   * The engine that runs level K's container (level K-1's), reached directly over its TLS port
   * when the nest exposes its daemons: one hop instead of K-1 chained execs (measured at level 3:
   * 2.5 ms for an API call against some 200 ms for `docker ps` through the chain).
   */
  private async parentEngine(name: string, level: number, levelOne: ContainerSummary, depth: number): Promise<Engine | undefined> {
    if (level < 2 || levelOne.labels[LABEL.daemons] !== 'on') return undefined
    const host = (await this.endpoints(levelOne.id, depth)).get(level - 1)
    const certPath = await this.certificateFolder(name)
    if (!host || !clientFolderExists(certPath)) return undefined
    const material = readClientMaterial(certPath)
    return connectEndpoint({address: host, source: `level ${level - 1} of nest ${name}`, tls: {...material, verify: true}}).catch(() => undefined)
  }

  /** Runs CMD at level K: directly through level K-1's engine when exposed, else an exec into level 1 that runs `docker exec` down the chain. */
  async exec(name: string, level: number, cmd: string[], io: ExecIo): Promise<number> {
    const {levelOne, depth} = await this.nestLevel(name, level)
    if (levelOne.state !== 'running') throw new LevelFailed(1, `level 1 is ${levelOne.state}`, '', `see \`inception ps\`; remove the nest with \`inception down --name ${name}\``)
    const parent = await this.parentEngine(name, level, levelOne, depth)
    try {
      if (parent) return await parent.exec(levelName(name, level), cmd, io)
      return await this.engine.exec(levelOne.id, chainCommand(name, level, cmd, {interactive: io.stdin !== undefined, tty: io.tty ?? false}), io)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ETIMEDOUT' || io.timeoutMs === undefined) throw error
      throw new LevelFailed(level, `\`${cmd.join(' ')}\` did not finish within ${io.timeoutMs / 1000}s`, await this.logTail(name, level, 10), 'the nest is still up; give more --timeout, or look at the level with `inception logs`')
    }
  }

  /** Level K's output: its init's and its dockerd's, as its parent's engine keeps them. */
  async logs(name: string, level: number, options: {follow: boolean; tail?: number}, out: Writable, err: Writable, timeoutMs?: number): Promise<void> {
    const {levelOne, depth} = await this.nestLevel(name, level)
    if (level === 1) return this.engine.logs(levelOne.id, options, out, err)
    const parent = await this.parentEngine(name, level, levelOne, depth)
    if (parent) return parent.logs(levelName(name, level), options, out, err)
    const logsCmd = ['docker', 'logs', ...(options.follow ? ['--follow'] : []), ...(options.tail ? ['--tail', String(options.tail)] : []), levelName(name, level)]
    await this.engine.exec(levelOne.id, chainCommand(name, level - 1, logsCmd, {interactive: false, tty: false}), {stdout: out, stderr: err, timeoutMs})
  }
}

/**
 * The command that level 1 runs to reach level K: `docker exec` into level 2, which runs
 * `docker exec` into level 3, and so on. -i and -t are passed at every hop so stdin and the
 * terminal reach the innermost command.
 */
export function chainCommand(name: string, level: number, cmd: string[], mode: {interactive: boolean; tty: boolean}): string[] {
  const hop = ['docker', 'exec', ...(mode.interactive ? ['-i'] : []), ...(mode.tty ? ['-t'] : [])]
  const chain: string[] = []
  for (let k = 2; k <= level; k++) chain.push(...hop, levelName(name, k))
  return [...chain, ...cmd]
}

/** The init's own last word on why a level failed ("inception-init[level K]: error: ..."). */
export function initError(logTail: string): string | undefined {
  const errors = [...logTail.matchAll(/inception-init\[level \d+\]: error: (.+)/g)]
  return errors.at(-1)?.[1]?.trim()
}

function throwIfAborted(signal: AbortSignal | undefined, name: string): void {
  if (signal?.aborted) throw new Interrupted(`up of nest "${name}" was rolled back`)
}

/** Whether something on this machine holds ADDRESS:PORT; returns who, as far as we can tell. */
async function portHolder(address: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code === 'EADDRINUSE' ? 'another process listens there' : error.code === 'EACCES' ? 'a privileged port this user cannot bind' : undefined)
    })
    server.listen({host: address, port, exclusive: true}, () => server.close(() => resolve(undefined)))
  })
}
