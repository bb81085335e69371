import {isIP} from 'node:net'

import {UsageError} from './errors.js'
import {checkPortMappings, DAEMON_INNER_PORT_BASE, parsePortMapping, type PortMapping} from './ports.js'
import {parsePrivilege, type PrivilegeRequest} from './privilege.js'
import {loopSizesByLevel, MAX_LOOP_BYTES, parseDataRoot, parseStorageDriver, type StorageChoice} from './storage.js'
import {type Cidr, DEFAULT_SUBNET_POOL, parseSubnetPool} from './subnets.js'
import {DEFAULT_SUITE, imageForSuite, parseSuite, type Suite} from './suites.js'

// What a user asks of `up` (and `demo`), checked before anything touches an engine: each value
// on its own, then against each other. Bad input creates nothing.

export const DEFAULT_NEST = 'inception'
export const DEFAULT_MAX_DEPTH = 16
export const DEFAULT_READY_TIMEOUT_SECONDS = 60

/** Names become container and volume names in every level's engine: keep them to what both accept. */
const NEST_NAME = /^[a-z0-9][a-z0-9_.-]{0,39}$/

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
function parsePositiveInteger(text: string, flag: string, hint: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${flag} "${text}" is not a whole number`, hint)
  return Number(text.trim())
}

export function parseDepth(text: string, maxDepth = DEFAULT_MAX_DEPTH): number {
  const depth = parsePositiveInteger(text, '--depth', `give a whole number from 1 to ${maxDepth}`)
  if (depth < 1 || depth > maxDepth) {
    throw new UsageError(
      `--depth ${depth} is out of range`,
      depth < 1 ? 'a nest has at least one level: --depth 1' : `the limit is --max-depth ${maxDepth}; raise it to go deeper`,
    )
  }
  return depth
}

export function parseLevel(text: string): number {
  const level = parsePositiveInteger(text, '--level', 'levels are numbered from 1 (the outermost)')
  if (level < 1) throw new UsageError(`--level ${level} does not exist`, 'levels are numbered from 1 (the outermost)')
  return level
}

export function parseTimeout(text: string): number {
  const seconds = parsePositiveInteger(text, '--timeout', 'give seconds, e.g. --timeout 120')
  if (seconds < 1 || seconds > 3600) throw new UsageError(`--timeout ${seconds} is out of range`, 'give 1 to 3600 seconds')
  return seconds
}

export function parseBind(text: string): string {
  if (isIP(text) !== 4) throw new UsageError(`--bind ${text} is not an IPv4 address`, 'use 127.0.0.1 (the default) or 0.0.0.0 for every interface')
  return text
}

export interface UpInput {
  name?: string
  depth?: string
  maxDepth?: string
  privilege?: string
  storageDriver?: string
  dataRoot?: string
  ports?: string[]
  bind?: string
  subnetPool?: string
  timeout?: string
  suite?: string
  image?: string
  dockerdArgs?: string[]
  exposeDaemons?: boolean
  daemonPorts?: string
  mtu?: string
  network?: string
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
}

/** Below 576 IPv4 itself breaks; above 9216 no network carries it. */
export const MTU_RANGE = {min: 576, max: 9216}

export function parseMtu(text: string): number {
  const mtu = parsePositiveInteger(text, '--mtu', `give a whole number from ${MTU_RANGE.min} to ${MTU_RANGE.max}, e.g. --mtu 1400`)
  if (mtu < MTU_RANGE.min || mtu > MTU_RANGE.max) {
    throw new UsageError(`--mtu ${mtu} is out of range`, `give ${MTU_RANGE.min} to ${MTU_RANGE.max}, e.g. --mtu 1400 (leave it out to take the host network's)`)
  }
  return mtu
}

/** Docker's own rule for network names. */
export function parseNetworkName(text: string): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(text)) throw new UsageError(`--network "${text}" is not a network name`, 'give the name of a network of this engine (see `docker network ls`)')
  return text
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
    throw new UsageError(`--daemon-ports ${request.daemonHostPortBase} leaves no room for ${request.depth} levels`, `give a first port up to ${65_536 - request.depth}`)
  }
}

export function parseDockerdArgs(args: string[]): string[] {
  for (const arg of args) {
    // The init splits the list on spaces: one option per flag, no spaces inside.
    if (!/^--?[a-z0-9][\w.=:,/-]*$/i.test(arg)) {
      throw new UsageError(`--dockerd-arg ${JSON.stringify(arg)} is not one dockerd option`, 'give one option per flag, like --dockerd-arg=--debug or --dockerd-arg=--mtu=1400')
    }
  }
  return args
}

/** Checks every flag of `up` before anything touches an engine: bad input creates nothing. */
export function parseUpRequest(input: UpInput): UpRequest {
  const maxDepth = input.maxDepth === undefined ? DEFAULT_MAX_DEPTH : parsePositiveInteger(input.maxDepth, '--max-depth', 'give a whole number, e.g. 16')
  const depth = parseDepth(input.depth ?? '1', maxDepth)
  const ports = (input.ports ?? []).map(parsePortMapping)
  const suite = parseSuite(input.suite ?? DEFAULT_SUITE)
  checkPortMappings(ports, depth)
  const request: UpRequest = {
    name: parseNestName(input.name ?? DEFAULT_NEST),
    depth,
    privilege: parsePrivilege(input.privilege ?? 'auto'),
    storage: {
      driver: parseStorageDriver(input.storageDriver ?? 'overlay2'),
      dataRoot: parseDataRoot(input.dataRoot ?? 'volume'),
    },
    ports,
    bind: parseBind(input.bind ?? '127.0.0.1'),
    subnetPool: parseSubnetPool(input.subnetPool ?? DEFAULT_SUBNET_POOL),
    readyTimeoutSeconds: input.timeout === undefined ? DEFAULT_READY_TIMEOUT_SECONDS : parseTimeout(input.timeout),
    suite,
    image: input.image ?? imageForSuite(suite),
    dockerdArgs: parseDockerdArgs(input.dockerdArgs ?? []),
    // `up` always passes its --expose-daemons (false unless given): --daemon-ports must turn it on regardless.
    exposeDaemons: input.exposeDaemons === true || input.daemonPorts !== undefined,
    daemonHostPortBase: input.daemonPorts === undefined ? undefined : parseHostPort(input.daemonPorts, '--daemon-ports'),
    mtu: input.mtu === undefined ? undefined : parseMtu(input.mtu),
    network: input.network === undefined ? undefined : parseNetworkName(input.network),
  }
  checkDaemonPorts(request)
  const root = request.storage.dataRoot
  if (root.kind === 'loop' && loopSizesByLevel(root.bytes, depth)[0]! > MAX_LOOP_BYTES) {
    throw new UsageError(
      `--data-root loop:${input.dataRoot?.slice(5)} at --depth ${depth} needs a ${Math.round(loopSizesByLevel(root.bytes, depth)[0]! / 2 ** 40)}T file at level 1 (each level holds the ones below it)`,
      'give a smaller size or a smaller depth',
    )
  }
  return request
}

function parseHostPort(text: string, flag: string): number {
  const port = parsePositiveInteger(text, flag, 'give a port from 1 to 65535')
  if (port < 1 || port > 65_535) throw new UsageError(`${flag} ${port} is out of range`, 'give a port from 1 to 65535')
  return port
}
