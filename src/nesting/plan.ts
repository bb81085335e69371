import type {ContainerSpec} from './engine.js'
import {UsageError} from './errors.js'
import {daemonInnerPort, initEnvironment, type LevelOneInit, levelName, type NestFacts, nestLabels} from './contract.js'
import {portsForInit, targetLevel} from './ports.js'
import {hostSettingsFor, type PrivilegeDecision} from './privilege.js'
import {DEFAULT_BIND, type UpRequest} from './request.js'
import {dataRootForInit, describeDataRoot, loopSizesByLevel} from './storage.js'
import {allocatePools, allocateSubnets, bridgeAddress, type Cidr, formatCidr, parseCidr} from './subnets.js'
import {VERSION} from './version.js'

/**
 * What one level costs in memory, measured: a level's dockerd and containerd with an empty
 * engine come to 50-70 MB (page cache included). Used to refuse a depth the engine cannot hold.
 */
export const LEVEL_MEMORY_BYTES = 80 * 2 ** 20

/** Refuses a nest the engine's memory cannot hold, with the arithmetic in the message. */
export function checkMemory(depth: number, memTotalBytes: number): void {
  if (memTotalBytes <= 0) return
  const needed = depth * LEVEL_MEMORY_BYTES
  const usable = memTotalBytes * 0.8
  if (needed > usable) {
    const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`
    throw new UsageError(
      `--depth ${depth} needs about ${mb(needed)} (${mb(LEVEL_MEMORY_BYTES)} a level), more than the engine's ${mb(usable)} (80% of its memory)`,
      `use --depth ${Math.max(1, Math.floor(usable / LEVEL_MEMORY_BYTES))} or less`,
    )
  }
}

export interface LevelPlan {
  level: number
  name: string
  subnet: Cidr
  /** The --bip of this level's dockerd. */
  bridge: string
  /** The default address pool of this level's dockerd, for the networks users create there. */
  pool: Cidr
}

export interface NestPlan {
  request: UpRequest
  levels: LevelPlan[]
}

/** The subnets other nests hold (bridges and network pools), as their level-1 labels record them. */
export function subnetsOfNests(records: NestFacts[]): Cidr[] {
  return records.flatMap((r) => [...r.subnets, ...r.pools].map((text) => parseCidr(text)).filter((c): c is Cidr => c !== undefined))
}

/** Every level's bridge (a /24) and network pool (a /21), disjoint from each other and from `takenSubnets`. */
export function planNest(request: UpRequest, takenSubnets: Cidr[]): NestPlan {
  const subnets = allocateSubnets(request.subnetPool, request.depth, takenSubnets)
  const pools = allocatePools(request.subnetPool, request.depth, [...takenSubnets, ...subnets])
  return {
    request,
    levels: subnets.map((subnet, index) => ({
      level: index + 1,
      name: levelName(request.name, index + 1),
      subnet,
      bridge: bridgeAddress(subnet),
      pool: pools[index]!,
    })),
  }
}

/** What level 1's labels record of the nest (the contract encodes them). */
export function nestFacts(plan: NestPlan, decision: PrivilegeDecision): NestFacts {
  const {request} = plan
  return {
    name: request.name,
    depth: request.depth,
    version: VERSION,
    privilege: request.privilege === 'auto' ? `auto:${decision.mode}` : decision.mode,
    storageDriver: request.storage.driver,
    dataRoot: describeDataRoot(request.storage.dataRoot),
    suite: request.suite,
    subnets: plan.levels.map((l) => formatCidr(l.subnet)),
    pools: plan.levels.map((l) => formatCidr(l.pool)),
    network: request.network,
    mtu: request.mtu,
    ports: request.ports,
    bind: request.bind,
    daemonsExposed: request.exposeDaemons,
  }
}

/** What level 1's init is told (the contract encodes it); each level passes it on to the next. */
export function levelOneInit(plan: NestPlan, decision: PrivilegeDecision): LevelOneInit {
  const {request} = plan
  const root = request.storage.dataRoot
  return {
    nest: request.name,
    depth: request.depth,
    version: VERSION,
    privilege: request.privilege,
    privilegeUsed: decision.mode,
    capabilities: decision.mode === 'minimal' ? decision.capAdd : [],
    security: decision.mode === 'minimal' ? decision.security : [],
    storageDriver: request.storage.driver,
    dataRoot: dataRootForInit(root),
    loopSizes: root.kind === 'loop' ? loopSizesByLevel(root.bytes, request.depth) : [],
    bridges: plan.levels.map((l) => l.bridge),
    pools: plan.levels.map((l) => formatCidr(l.pool)),
    mtu: request.mtu,
    ports: [portsForInit(request.ports, request.depth), ...daemonChain(request)].filter((s) => s.length > 0),
    exposeDaemons: request.exposeDaemons,
    readyTimeoutSeconds: request.readyTimeoutSeconds,
    dockerdArgs: request.dockerdArgs,
  }
}

/** Each level's engine port, chained down to its level like a -p port ("INNER@LEVEL"). */
function daemonChain(request: UpRequest): string[] {
  if (!request.exposeDaemons) return []
  return Array.from({length: request.depth}, (_, i) => `${daemonInnerPort(i + 1)}@${i + 1}`)
}

/** Level 1's container on the host engine. Deeper levels are started by the init from the same environment. */
export function levelOneSpec(plan: NestPlan, decision: PrivilegeDecision): ContainerSpec {
  const {request} = plan
  const name = levelName(request.name, 1)
  const portBindings = Object.fromEntries(
    request.ports.filter((p) => targetLevel(p, request.depth) >= 1).map((p) => [`${p.innerPort}/tcp`, [{HostIp: request.bind, HostPort: String(p.hostPort)}]]),
  )
  if (request.exposeDaemons) {
    // The engines' ports are root on every level: they stay on this machine's loopback whatever
    // --bind says (it is for the -p ports), as `ps` and `env` print them.
    for (let level = 1; level <= request.depth; level++) {
      const hostPort = request.daemonHostPortBase === undefined ? '' : String(request.daemonHostPortBase + level - 1)
      portBindings[`${daemonInnerPort(level)}/tcp`] = [{HostIp: DEFAULT_BIND, HostPort: hostPort}]
    }
  }
  return {
    name,
    image: request.image,
    env: Object.entries(initEnvironment(levelOneInit(plan, decision))).map(([k, v]) => `${k}=${v}`),
    labels: nestLabels(nestFacts(plan, decision)),
    exposedPorts: Object.keys(portBindings),
    host: {
      ...hostSettingsFor(decision),
      binds: [`${name}:/var/lib/docker`],
      portBindings,
      ...(request.network ? {networkMode: request.network} : {}),
    },
  }
}
