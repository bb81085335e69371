import {isIP} from 'node:net'

import {BindAddressUnavailable, UsageError} from './errors.js'
import {DAEMON_INNER_PORT_BASE} from './contract.js'
import {checkPortMappings, type PortMapping} from './ports.js'
import {DEFAULT_PRIVILEGE, type PrivilegeRequest} from './privilege.js'
import {
  type DataRoot,
  DEFAULT_DATA_ROOT,
  DEFAULT_STORAGE_DRIVER,
  formatSize,
  loopSizesByLevel,
  MAX_LOOP_BYTES,
  type StorageChoice,
  type StorageDriver,
} from './storage.js'
import {type BudgetInput, type LevelBudget, splitBudgets} from './budgets.js'
import {effectiveRegistrySettings, type RegistryInput, type RegistrySettings} from './registry-settings.js'
import type {NestSockets, SocketsChoice} from './sockets.js'
import {type Cidr, DEFAULT_SUBNET_POOL, parseSubnetPool} from './subnets.js'
import {DEFAULT_SUITE, imageForSuite, type Suite} from './suites.js'

// What a user asks of `up` (and `demo`), checked before anything touches an engine. Each value
// is parsed on its own first, by its flag (src/flags.ts calls the parse functions here and in
// ports.ts, storage.ts, subnets.ts); parseUpRequest then checks them against each other. Bad
// input creates nothing.

export const DEFAULT_NEST = 'inception'
export const DEFAULT_MAX_DEPTH = 16
export const DEFAULT_READY_TIMEOUT_SECONDS = 60
export const DEFAULT_BIND = '127.0.0.1'

/** Names become container and volume names in every level's engine: keep them to what both accept. */
export const NEST_NAME = /^[a-z0-9][a-z0-9_.-]{0,39}$/

export function parseNestName(name: string): string {
  if (!NEST_NAME.test(name)) {
    throw new UsageError(
      `nest name "${name.length > 60 ? `${name.slice(0, 57)}...` : name}" is not allowed`,
      'use 1 to 40 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
    )
  }
  return name
}

/** A whole number (negative ones too, so that the range check can say what is wrong). */
function parseWholeNumber(text: string, flag: string, hint: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${flag} "${text}" is not a whole number`, hint)
  return Number(text.trim())
}

/** Only a whole number: whether it is in range depends on --max-depth, so parseUpRequest checks that. */
export function parseDepth(text: string): number {
  return parseWholeNumber(text, '--depth', `give a whole number of levels, from 1 to --max-depth (${DEFAULT_MAX_DEPTH} unless raised)`)
}

export function parseLevel(text: string): number {
  const level = parseWholeNumber(text, '--level', 'levels are numbered from 1 (the outermost)')
  if (level < 1) throw new UsageError(`--level ${level} does not exist`, 'levels are numbered from 1 (the outermost)')
  return level
}

export function parseTimeout(text: string): number {
  const seconds = parseWholeNumber(text, '--timeout', 'give seconds, e.g. --timeout 120')
  if (seconds < 1 || seconds > 3600) throw new UsageError(`--timeout ${seconds} is out of range`, 'give 1 to 3600 seconds')
  return seconds
}

/** `flag` is the one the port came from (--daemon-ports, the demo's --port), for the message. */
export function parseHostPort(text: string, flag: string): number {
  const port = parseWholeNumber(text, flag, 'give a port from 1 to 65535')
  if (port < 1 || port > 65_535) throw new UsageError(`${flag} ${port} is out of range`, 'give a port from 1 to 65535')
  return port
}

export function parseBind(text: string): string {
  if (isIP(text) !== 4) throw new UsageError(`--bind ${text} is not an IPv4 address`, `use ${DEFAULT_BIND} (the default) or 0.0.0.0 for every interface`)
  return text
}

/** Below 576 IPv4 itself breaks; above 9216 no network carries it. */
export const MTU_RANGE = {min: 576, max: 9216}

export function parseMtu(text: string): number {
  const mtu = parseWholeNumber(text, '--mtu', `give a whole number from ${MTU_RANGE.min} to ${MTU_RANGE.max}, e.g. --mtu 1400`)
  if (mtu < MTU_RANGE.min || mtu > MTU_RANGE.max) {
    throw new UsageError(`--mtu ${mtu} is out of range`, `give ${MTU_RANGE.min} to ${MTU_RANGE.max}, e.g. --mtu 1400 (leave it out to take the host network's)`)
  }
  return mtu
}

/** Docker's own rule for network names. */
export function parseNetworkName(text: string): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(text))
    throw new UsageError(`--network "${text}" is not a network name`, 'give the name of a network of this engine (see `docker network ls`)')
  return text
}

/** What `up` is asked, each value already parsed on its own (see above); what is left out takes its default. */
export interface UpInput {
  name?: string
  depth?: number
  maxDepth?: number
  privilege?: PrivilegeRequest
  storageDriver?: StorageDriver
  dataRoot?: DataRoot
  ports?: PortMapping[]
  bind?: string
  subnetPool?: Cidr
  timeoutSeconds?: number
  suite?: Suite
  image?: string
  dockerdArgs?: string[]
  exposeDaemons?: boolean
  /** Host port of level 1's engine; giving it exposes the engines. */
  daemonPortBase?: number
  mtu?: number
  network?: string
  sockets?: SocketsChoice
  /** Write a docker context for each level (default true). */
  contexts?: boolean
  /** Registry mirrors, insecure registries, proxy, DNS, CA certificates given by flag, and whether to inherit the engine's. */
  registry?: RegistryInput
  /** --memory, --cpus, --pids as given: the nest's, and levels' (@LEVEL). */
  budgets?: BudgetInput
}

export interface UpRequest {
  name: string
  depth: number
  privilege: PrivilegeRequest
  storage: StorageChoice
  ports: PortMapping[]
  bind: string
  subnetPool: Cidr
  readyTimeoutSeconds: number
  /** The Debian suite of the level image (its Docker); `image` is that suite's unless given. */
  suite: Suite
  image: string
  /** Extra options for every level's dockerd (the classic dind's DOCKER_DAEMON_ARGS). */
  dockerdArgs: string[]
  /** Every level's engine reachable from the host over mutual TLS (`inception env`). */
  exposeDaemons: boolean
  /** Host port of level 1's engine (level K's is this + K - 1); undefined: the engine picks free ones. */
  daemonHostPortBase?: number
  /** The MTU of every level's networks; undefined: each level takes its own uplink's. */
  mtu?: number
  /** A network of the host engine for level 1 to join instead of the default bridge. */
  network?: string
  /** Each level's unix socket on this machine: as asked, until `up` has made the folder (sockets.ts). */
  sockets: SocketsChoice | NestSockets
  /** A docker context for each level, in the docker CLI's configuration (contexts.ts). */
  contexts: boolean
  /** The registry settings as asked (flags, and whether to inherit the engine's). */
  registryInput: RegistryInput
  /** What every level's engine gets: what was given by flag, until `up` adds what it inherits from the engine (registry-settings.ts). */
  registry: RegistrySettings
  /** Every level's budget (index: level - 1), split down the nest (budgets.ts); `up` gives those with CPUs theirs. */
  budgets: LevelBudget[]
}

/**
 * The one place the values of `up` are checked against each other (each was parsed alone by
 * its flag): the depth against --max-depth, -p against the depth and each other, the daemon
 * ports against -p, a loop data root against the depth. Fills in the defaults.
 */
export function parseUpRequest(input: UpInput): UpRequest {
  const depth = input.depth ?? 1
  checkDepth(depth, input.maxDepth ?? DEFAULT_MAX_DEPTH)
  const ports = input.ports ?? []
  checkPortMappings(ports, depth)
  const suite = input.suite ?? DEFAULT_SUITE
  const request: UpRequest = {
    name: input.name ?? DEFAULT_NEST,
    depth,
    privilege: input.privilege ?? DEFAULT_PRIVILEGE,
    storage: {driver: input.storageDriver ?? DEFAULT_STORAGE_DRIVER, dataRoot: input.dataRoot ?? DEFAULT_DATA_ROOT},
    ports,
    bind: input.bind ?? DEFAULT_BIND,
    subnetPool: input.subnetPool ?? parseSubnetPool(DEFAULT_SUBNET_POOL),
    readyTimeoutSeconds: input.timeoutSeconds ?? DEFAULT_READY_TIMEOUT_SECONDS,
    suite,
    image: input.image ?? imageForSuite(suite),
    dockerdArgs: input.dockerdArgs ?? [],
    // `up` always passes its --expose-daemons (false unless given): --daemon-ports must turn it on regardless.
    exposeDaemons: input.exposeDaemons === true || input.daemonPortBase !== undefined,
    daemonHostPortBase: input.daemonPortBase,
    mtu: input.mtu,
    network: input.network,
    sockets: input.sockets ?? 'auto',
    contexts: input.contexts ?? true,
    registryInput: input.registry ?? {},
    registry: effectiveRegistrySettings({...input.registry, inherit: false}, {mirrors: [], insecure: [], httpProxy: '', httpsProxy: '', noProxy: ''}),
    budgets: splitBudgets(input.budgets ?? {}, depth),
  }
  checkDaemonPorts(request)
  checkLoopSize(request.storage.dataRoot, depth)
  checkIsolatedNetwork(request)
  return request
}

/**
 * Level 1 on `--network none` has no way in from the host: the engine accepts -p there and
 * publishes nothing (ps would list a port nothing answers on), and --expose-daemons likewise.
 */
function checkIsolatedNetwork(request: UpRequest): void {
  if (request.network !== 'none') return
  if (request.ports.length > 0) {
    const [first] = request.ports
    throw new UsageError(
      `-p ${first!.hostPort}:${first!.innerPort} cannot reach a nest on --network none (it has no network to publish on)`,
      'leave -p out, or --network out (the default bridge) or give a network the host can reach',
    )
  }
  if (request.exposeDaemons) {
    throw new UsageError(
      '--expose-daemons cannot reach a nest on --network none (it has no network to publish on)',
      'leave one of them out; `inception exec` works either way',
    )
  }
}

/** Every address in 127.0.0.0/8 is this machine's own, on its loopback interface. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.')
}

/** What `up` says on stderr when --bind opens the published ports to other machines; undefined for loopback. */
export function bindWarning(bind: string): string | undefined {
  if (isLoopback(bind)) return undefined
  return (
    `inception: warning: --bind ${bind} makes the published ports reachable from other machines, unauthenticated; ` +
    `leave --bind out to keep them on ${DEFAULT_BIND} (the engines' ports stay there either way)`
  )
}

/**
 * Refuses a --bind address that is none of ADDRESSES (this machine's, as "a.b.c.d/prefix" or
 * bare): the engine would create level 1 and then fail to start it with a bare HTTP 500.
 */
export function checkBindAddress(bind: string, addresses: string[], where = 'this machine'): void {
  if (bind === '0.0.0.0' || isLoopback(bind)) return
  if (!addresses.some((address) => address.split('/')[0] === bind)) throw new BindAddressUnavailable(bind, where)
}

function checkDepth(depth: number, maxDepth: number): void {
  if (depth < 1 || depth > maxDepth) {
    throw new UsageError(
      `--depth ${depth} is out of range`,
      depth < 1 ? 'a nest has at least one level: --depth 1' : `the limit is --max-depth ${maxDepth}; raise it to go deeper`,
    )
  }
}

function checkDaemonPorts(request: UpRequest): void {
  if (!request.exposeDaemons) return
  for (const mapping of request.ports) {
    if (mapping.innerPort > DAEMON_INNER_PORT_BASE && mapping.innerPort <= DAEMON_INNER_PORT_BASE + request.depth) {
      throw new UsageError(
        `inner port ${mapping.innerPort} is where a level's engine listens with --expose-daemons`,
        `use an inner port outside ${DAEMON_INNER_PORT_BASE + 1}-${DAEMON_INNER_PORT_BASE + request.depth}`,
      )
    }
    const base = request.daemonHostPortBase
    if (base !== undefined && mapping.hostPort >= base && mapping.hostPort < base + request.depth) {
      throw new UsageError(`host port ${mapping.hostPort} is both a -p port and a daemon port`, 'move --daemon-ports or the -p port')
    }
  }
  if (request.daemonHostPortBase !== undefined && request.daemonHostPortBase + request.depth - 1 > 65_535) {
    throw new UsageError(
      `--daemon-ports ${request.daemonHostPortBase} leaves no room for ${request.depth} levels`,
      `give a first port up to ${65_536 - request.depth}`,
    )
  }
}

/** Each level's loop file holds the ones below it: level 1's must still fit MAX_LOOP_BYTES. */
function checkLoopSize(root: DataRoot, depth: number): void {
  if (root.kind !== 'loop') return
  const outermost = loopSizesByLevel(root.bytes, depth)[0]!
  if (outermost > MAX_LOOP_BYTES) {
    throw new UsageError(
      `--data-root loop:${formatSize(root.bytes)} at --depth ${depth} needs a ${Math.round(outermost / 2 ** 40)}T file at level 1 ` +
        '(each level holds the ones below it)',
      'give a smaller size or a smaller depth',
    )
  }
}
