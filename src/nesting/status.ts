import type {LevelReport} from './board.js'
import {levelName} from './contract.js'
import type {NestFacts, NestRecord} from './record.js'
import type {NestDirectory} from './directory.js'
import {formatPortMapping} from './ports.js'
import {capabilitiesInMask} from './privilege.js'
import type {LevelAccess} from './level-access.js'

/**
 * How `ps` sees a level: running (its engine answers), on its way (starting, stopping), failed or
 * exited, unreachable (a level above it is not running, so nothing can be read), or, for level 1
 * only, whatever its container's state is on the host engine (created, paused, restarting, dead).
 */
export type LevelRunState =
  'running' | 'starting' | 'stopping' | 'failed' | 'exited' | 'unreachable' | 'created' | 'paused' | 'restarting' | 'removing' | 'dead'

export interface LevelStatus {
  level: number
  name: string
  containerId: string
  hostname: string
  state: LevelRunState
  dockerdReady: boolean
  dockerdVersion: string
  storageDriver: string
  privilege: string
  /** CapEff of the level's PID 1, and the same by name. */
  capEff: string
  capabilities: string[]
  /** As the level's kernel has it (its init reads docker0), never the plan: '' when unknown. */
  bridge: string
  /** The MTU of the level's networks, as its init chose it. */
  mtu?: number
  ports: string[]
  memoryBytes?: number
  /** Its budget and what it uses of it, as the kernel has them (cgroups), when any of it is bounded. */
  budget?: LevelBudgetStatus
  /** The registry settings as this level's engine reports them (docker info), when the nest has any. */
  registry?: {mirrors: string[]; insecure: string[]; proxy?: string; noProxy?: string; dns: string[]; caCerts: number}
  detail: string
  /** Where a client on this machine reaches this level's engine: its socket (unix://...), else its TLS port. */
  endpoint?: string
  /** tcp://127.0.0.1:PORT of this level's engine, when the nest exposes its daemons (mutual TLS). */
  tlsEndpoint?: string
}

/** A level's bounds (undefined: unbounded) and use, read from its cgroups. */
export interface LevelBudgetStatus {
  memoryBytes?: number
  cpus?: number
  /** The CPUs it may run on, as the kernel lists them ("0", "0-1"). */
  cpuset?: string
  pids?: number
  /** Tasks (processes and threads) in it now. */
  pidsUsed?: number
  cpuSeconds?: number
  /** The kernel's OOM kills at its memory budget since it started (cgroup v1; on v2, every kill under it). */
  oomKills?: number
}

/** A nest as `ps` shows it: what its labels record, and every level as it is now. */
export interface NestStatus extends Pick<NestFacts, 'name' | 'depth' | 'version' | 'storageDriver' | 'dataRoot' | 'suite' | 'subnets' | 'pools' | 'network'> {
  /** As asked, with what auto chose ("auto:caps"). */
  requestedPrivilege: string
  /** HOST:INNER as published on the bind address, with the level each goes down to. */
  ports: string[]
  levels: LevelStatus[]
}

const DATA_ROOT_READ_ONLY = 'its data root is read-only: its file system failed under it (full, or I/O errors); what is written there is lost'

const CONTAINER_STATES: readonly LevelRunState[] = ['running', 'created', 'paused', 'restarting', 'removing', 'exited', 'dead']

/** What `ps` shows: each nest's record with every level's state as its board has it. */
export class NestStatusReader {
  constructor(
    private readonly directory: NestDirectory,
    private readonly reach: LevelAccess,
  ) {}

  async status(name: string): Promise<NestStatus> {
    return this.describe(await this.directory.find(name))
  }

  async statusAll(): Promise<NestStatus[]> {
    return Promise.all((await this.directory.records()).map((record) => this.describe(record)))
  }

  /** `reports`: the board as just read (by `up`, which has read it to see the nest ready); else it is read here. */
  async describe(record: NestRecord, boardJustRead?: LevelReport[]): Promise<NestStatus> {
    const {name, depth, bind, ports} = record
    const running = record.levelOne.state === 'running'
    let reports: LevelReport[] = boardJustRead ?? Array.from({length: depth}, (_, i) => ({level: i + 1, state: 'absent' as const, detail: '', info: {}}))
    if (running && !boardJustRead) {
      try {
        reports = await this.reach.readBoard(record.levelOne.id, depth)
      } catch {
        // Level 1 runs but does not answer an exec: every level is shown unreachable below.
      }
    }
    const endpoints = await this.directory.levelEndpoints(record)
    let above = running
    const levels = reports.map((report): LevelStatus => {
      const level = report.level
      let state = level === 1 ? levelOneState(record.levelOne.state, report) : above ? deeperLevelState(report) : 'unreachable'
      // Its engine may still answer, but what is written there is refused or lost: not running.
      const readOnly = state === 'running' && report.dataRootReadOnly === true
      if (readOnly) state = 'failed'
      above = above && state === 'running'
      return {
        level,
        name: levelName(name, level),
        containerId: level === 1 ? record.levelOne.id : (report.info.id ?? ''),
        hostname: report.info.hostname ?? (level === 1 ? record.levelOne.id.slice(0, 12) : ''),
        state,
        dockerdReady: state === 'running',
        dockerdVersion: report.info.dockerd ?? '',
        storageDriver: report.info.storage ?? '',
        privilege: report.info.privilege ?? '',
        capEff: report.info.capeff ?? '',
        capabilities: report.info.capeff ? capabilitiesInMask(report.info.capeff) : [],
        bridge: report.info.bridge ?? '',
        mtu: report.info.mtu ? Number(report.info.mtu) : undefined,
        ports: ports.filter((p) => (p.level ?? depth) >= level).map((p) => formatPortMapping(p, depth, bind)),
        memoryBytes: report.memoryBytes,
        budget: budgetOf(report.resources),
        registry: registryOf(report.info),
        detail: readOnly ? DATA_ROOT_READ_ONLY : report.detail,
        // From the moment the level answers (its socket is there) until it stops.
        endpoint: state === 'running' ? endpoints.get(level)?.host : undefined,
        tlsEndpoint: state === 'running' ? endpoints.get(level)?.tlsHost : undefined,
      }
    })
    const {version, storageDriver, dataRoot, suite, subnets, pools, network} = record
    return {
      name,
      depth,
      version,
      requestedPrivilege: record.privilege,
      storageDriver,
      dataRoot,
      suite,
      subnets,
      pools,
      network,
      ports: ports.map((p) => formatPortMapping(p, depth, bind)),
      levels,
    }
  }
}

/** Level 1: its container's state on the host engine, refined by the board while it runs. */
function levelOneState(containerState: string, report: LevelReport): LevelRunState {
  if (containerState !== 'running') return CONTAINER_STATES.find((s) => s === containerState) ?? 'exited'
  // No line on the board: level 1 did not answer the read.
  return report.state === 'ready' ? 'running' : report.state === 'absent' ? 'unreachable' : report.state
}

/** A deeper level, seen from a running level above it. */
function deeperLevelState(report: LevelReport): LevelRunState {
  if (report.alive === false) return report.state === 'stopping' ? 'stopping' : 'exited'
  return report.state === 'ready' ? 'running' : report.state === 'absent' ? 'unreachable' : report.state
}

/** What the level's init read back from its engine (board.sh), when it read anything. */
function registryOf(info: LevelReport['info']): LevelStatus['registry'] {
  if (info.mirrors === undefined && info.insecure === undefined && info.proxy === undefined) return undefined
  const words = (text?: string) => (text ?? '').split(' ').filter((word) => word.length > 0)
  return {
    mirrors: words(info.mirrors),
    insecure: words(info.insecure),
    proxy: info.proxy || undefined,
    noProxy: info.noproxy || undefined,
    dns: words(info.dns),
    caCerts: Number(info.cacerts ?? 0),
  }
}

/** Past this, a cgroup v1 memory limit means none (the kernel's "unlimited" is 2^63 rounded down to a page). */
const UNBOUNDED_BYTES = 2 ** 60

/** The level's resource lines (board-read.sh) as a budget; undefined when nothing bounds it. */
export function budgetOf(resources: Record<string, string> | undefined): LevelBudgetStatus | undefined {
  if (!resources) return undefined
  const number = (key: string) =>
    resources[key] === undefined || resources[key] === 'max' || !/^-?\d+$/.test(resources[key]) ? undefined : Number(resources[key])
  const memory = number('memory_max')
  const quota = number('cpu_quota_us')
  const period = number('cpu_period_us')
  const pids = number('pids_max')
  const budget: LevelBudgetStatus = {
    memoryBytes: memory !== undefined && memory < UNBOUNDED_BYTES ? memory : undefined,
    cpus: quota !== undefined && quota > 0 && period ? Math.round((quota / period) * 100) / 100 : undefined,
    pids,
  }
  if (budget.memoryBytes === undefined && budget.cpus === undefined && budget.pids === undefined) return undefined
  const usec = number('cpu_usec')
  return {
    ...budget,
    cpuset: resources.cpuset,
    pidsUsed: number('pids'),
    cpuSeconds: usec === undefined ? undefined : Math.round(usec / 1e4) / 100,
    oomKills: number('oom_kills'),
  }
}
