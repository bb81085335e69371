import type {ContainerSpec} from './engine.js'
import {UsageError} from './errors.js'
import {LABEL, type Labels, levelName} from './labels.js'
import {daemonInnerPort, DAEMON_INNER_PORT_BASE, portsForInit, portsToLabel, targetLevel} from './ports.js'
import {hostSettingsFor, type PrivilegeDecision} from './privilege.js'
import type {UpRequest} from './request.js'
import {dataRootForInit, describeDataRoot, loopSizesByLevel} from './storage.js'
import {allocatePools, allocateSubnets, bridgeAddress, type Cidr, formatCidr, parseCidr, POOL_NETWORK_PREFIX} from './subnets.js'
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

/** The subnets other nests hold (bridges and network pools), from their level-1 labels. */
export function subnetsFromLabels(labels: Labels[]): Cidr[] {
  return labels.flatMap((l) =>
    `${l[LABEL.subnets] ?? ''} ${l[LABEL.pools] ?? ''}`
      .split(' ')
      .map((text) => parseCidr(text))
      .filter((c): c is Cidr => c !== undefined),
  )
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

export function nestLabels(plan: NestPlan, decision: PrivilegeDecision): Labels {
  const {request} = plan
  return {
    [LABEL.nest]: request.name,
    [LABEL.level]: '1',
    [LABEL.depth]: String(request.depth),
    [LABEL.version]: VERSION,
    [LABEL.privilege]: request.privilege === 'auto' ? `auto:${decision.mode}` : decision.mode,
    [LABEL.storageDriver]: request.storage.driver,
    [LABEL.dataRoot]: describeDataRoot(request.storage.dataRoot),
    [LABEL.subnets]: plan.levels.map((l) => formatCidr(l.subnet)).join(' '),
    [LABEL.pools]: plan.levels.map((l) => formatCidr(l.pool)).join(' '),
    ...(request.network ? {[LABEL.network]: request.network} : {}),
    ...(request.mtu ? {[LABEL.mtu]: String(request.mtu)} : {}),
    [LABEL.ports]: portsToLabel(request.ports, request.depth),
    [LABEL.bind]: request.bind,
    [LABEL.daemons]: request.exposeDaemons ? 'on' : 'off',
    [LABEL.suite]: request.suite,
  }
}

/** What the in-image init reads; each level passes it on to the next. */
export function initEnvironment(plan: NestPlan): Record<string, string> {
  const {request} = plan
  return {
    INCEPTION_NEST: request.name,
    INCEPTION_LEVEL: '1',
    INCEPTION_DEPTH: String(request.depth),
    INCEPTION_VERSION: VERSION,
    INCEPTION_PRIVILEGE: request.privilege,
    INCEPTION_STORAGE_DRIVER: request.storage.driver,
    INCEPTION_DATA_ROOT: dataRootForInit(request.storage.dataRoot),
    INCEPTION_BRIDGES: plan.levels.map((l) => l.bridge).join(' '),
    INCEPTION_POOLS: plan.levels.map((l) => formatCidr(l.pool)).join(' '),
    INCEPTION_POOL_NETWORK_PREFIX: String(POOL_NETWORK_PREFIX),
    INCEPTION_MTU: request.mtu === undefined ? '' : String(request.mtu),
    INCEPTION_PORTS: [portsForInit(request.ports, request.depth), ...daemonChain(request)].filter((s) => s.length > 0).join(' '),
    INCEPTION_EXPOSE_DAEMONS: request.exposeDaemons ? '1' : '',
    INCEPTION_DAEMON_PORT_BASE: String(DAEMON_INNER_PORT_BASE),
    INCEPTION_READY_TIMEOUT: String(request.readyTimeoutSeconds),
    INCEPTION_DOCKERD_ARGS: request.dockerdArgs.join(' '),
    INCEPTION_LOOP_SIZES: request.storage.dataRoot.kind === 'loop' ? loopSizesByLevel(request.storage.dataRoot.bytes, request.depth).join(' ') : '',
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
    request.ports
      .filter((p) => targetLevel(p, request.depth) >= 1)
      .map((p) => [`${p.innerPort}/tcp`, [{HostIp: request.bind, HostPort: String(p.hostPort)}]]),
  )
  if (request.exposeDaemons) {
    for (let level = 1; level <= request.depth; level++) {
      const hostPort = request.daemonHostPortBase === undefined ? '' : String(request.daemonHostPortBase + level - 1)
      portBindings[`${daemonInnerPort(level)}/tcp`] = [{HostIp: request.bind, HostPort: hostPort}]
    }
  }
  return {
    name,
    image: request.image,
    env: Object.entries({
      ...initEnvironment(plan),
      INCEPTION_PRIVILEGE_USED: decision.mode,
      INCEPTION_CAPS: (decision.capAdd ?? []).join(' '),
      INCEPTION_SECURITY: (decision.security ?? []).join(' '),
    }).map(([k, v]) => `${k}=${v}`),
    labels: nestLabels(plan, decision),
    exposedPorts: Object.keys(portBindings),
    host: {
      ...hostSettingsFor(decision),
      binds: [`${name}:/var/lib/docker`],
      portBindings,
      ...(request.network ? {networkMode: request.network} : {}),
    },
  }
}
