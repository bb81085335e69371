import {LABEL, ROOT_SOCKET_BASE, SOCKET_DIR} from './contract.js'
import {parsePortMapping, type PortMapping, portsFromLabel, portsToLabel, targetLevel} from './ports.js'
import {parseDockerdArg} from './dockerd-options.js'
import {parseMtu, type UpRequest} from './request.js'
import {madeSockets, type NestSockets, parseSockets, type SocketsChoice, socketOptions} from './sockets.js'
import {
  type DataRoot,
  DEFAULT_DATA_ROOT,
  DEFAULT_STORAGE_DRIVER,
  describeDataRoot,
  loopSizesByLevel,
  parseDataRoot,
  STORAGE_DRIVERS,
  type StorageDriver,
} from './storage.js'

/**
 * The settings every level of a nest honours, one entry each: the flag a user gives it with, its
 * default, how its text is parsed, how level 1's label records it (so `ps` shows the nest as it
 * was made), and what each level receives of it. The flags (src/flags.ts), the labels
 * (contract.ts) and the renderer of every level's container (render.ts) read this table and
 * nothing else about a setting: a new setting is an entry here, the code that uses its value,
 * and its test.
 */

/** Where a level stands in its nest, for what it receives of a setting. */
export interface LevelPosition {
  level: number
  depth: number
  /** The host address level 1 publishes on (--bind). */
  bind: string
}

/** A port a level's container publishes to its parent: INNER on HOST_PORT (the same port below level 1). */
export interface Publish {
  innerPort: number
  hostPort?: number
  hostIp?: string
}

/** What one level receives of a setting: init variables, options for its dockerd, ports to publish, folders to mount (SOURCE:TARGET). */
export interface LevelPart {
  env?: Record<string, string>
  dockerd?: string[]
  publish?: Publish[]
  binds?: string[]
}

/** T: the value `up` uses; Each: what one flag gives (one -p of many); Recorded: what `ps` reads back from the label. */
export interface Setting<T, Each = T, Recorded = T> {
  /** The long flag of `up`, without dashes. */
  flag: string
  char?: 'p'
  helpValue: string
  /** For a flag whose values are a closed list (oclif shows and checks them). */
  options?: readonly string[]
  multiple?: boolean
  /** What `up` uses when the flag is left out; help shows `defaultHelp` when given. */
  default: T
  defaultHelp?: string
  description: string
  parse(text: string): Each
  /** The value in a request that `parseUpRequest` made. */
  of(request: UpRequest): T
  /** How level 1's labels record it; left out when the label would say nothing (no value). */
  label?: {key: string; encode(value: T, depth: number): string | undefined; decode(text: string | undefined): Recorded}
  /** What level `position.level` receives of it. */
  level(value: T, position: LevelPosition): LevelPart
}

const setting = <T, Each = T, Recorded = T>(entry: Setting<T, Each, Recorded>): Setting<T, Each, Recorded> => entry

export const STORAGE_DRIVER = setting<StorageDriver, StorageDriver, string>({
  flag: 'storage-driver',
  helpValue: '<driver>',
  options: STORAGE_DRIVERS,
  default: DEFAULT_STORAGE_DRIVER,
  description: "each level's storage driver",
  parse: (text) => text as StorageDriver,
  of: (request) => request.storage.driver,
  label: {key: LABEL.storageDriver, encode: (driver) => driver, decode: (text) => text ?? ''},
  // Asked for, not promised: the init falls back to a driver that works on its data root and says so.
  level: (driver) => ({env: {INCEPTION_STORAGE_DRIVER: driver}}),
})

export const DATA_ROOT = setting<DataRoot, DataRoot, string>({
  flag: 'data-root',
  helpValue: 'volume|tmpfs|loop:SIZE',
  default: DEFAULT_DATA_ROOT,
  defaultHelp: describeDataRoot(DEFAULT_DATA_ROOT),
  description: "where each level's /var/lib/docker lives",
  parse: parseDataRoot,
  of: (request) => request.storage.dataRoot,
  // Read back by `ps` as written ("loop:1024M"), never parsed again.
  label: {key: LABEL.dataRoot, encode: describeDataRoot, decode: (text) => text ?? ''},
  // A loop file holds the levels below it: each level is told its own file's size.
  level: (root, {level, depth}) => ({
    env: {INCEPTION_DATA_ROOT: root.kind === 'loop' ? `loop:${loopSizesByLevel(root.bytes, depth)[level - 1]}` : root.kind},
  }),
})

export const PUBLISH = setting<PortMapping[], PortMapping>({
  flag: 'publish',
  char: 'p',
  helpValue: 'HOST:INNER[@LEVEL]',
  multiple: true,
  default: [],
  description: 'publish INNER of the innermost level (or LEVEL) on the host',
  parse: parsePortMapping,
  of: (request) => request.ports,
  label: {key: LABEL.ports, encode: portsToLabel, decode: portsFromLabel},
  // The chain: host:HOST -> l1:INNER -> l2:INNER -> ... down to the level the port targets.
  level: (ports, {level, depth, bind}) => ({
    publish: ports
      .filter((port) => targetLevel(port, depth) >= level)
      .map((port) => ({innerPort: port.innerPort, ...(level === 1 ? {hostPort: port.hostPort, hostIp: bind} : {hostPort: port.innerPort})})),
  }),
})

export const MTU = setting<number | undefined>({
  flag: 'mtu',
  helpValue: '<bytes>',
  default: undefined,
  description: "MTU of every level's networks (default: each level takes its uplink's, so the host network's goes all the way down)",
  parse: parseMtu,
  of: (request) => request.mtu,
  label: {key: LABEL.mtu, encode: (mtu) => (mtu === undefined ? undefined : String(mtu)), decode: (text) => (text ? Number(text) : undefined)},
  // Empty: the level takes its uplink's, which only it can read (contract: a run-time decision).
  level: (mtu) => ({env: {INCEPTION_MTU: mtu === undefined ? '' : String(mtu)}}),
})

export const DOCKERD_ARG = setting<string[], string>({
  flag: 'dockerd-arg',
  helpValue: '<option>',
  multiple: true,
  default: [],
  description: "an extra option for every level's dockerd, e.g. --dockerd-arg=--debug; repeatable",
  parse: parseDockerdArg,
  of: (request) => request.dockerdArgs,
  // After inception's own options: dockerd reads them in order (the ones inception owns are refused at parse).
  level: (args) => ({dockerd: args}),
})

/** As asked (auto, none, a folder), then as `up` made it (planSockets): the folder on this machine and the group. */
export const SOCKETS = setting<SocketsChoice | NestSockets, SocketsChoice, string | undefined>({
  flag: 'sockets',
  helpValue: 'auto|none|FOLDER',
  default: 'auto',
  description: `a unix socket on this machine for each level's engine, FOLDER/NAME/level-K.sock (auto: ${ROOT_SOCKET_BASE} as root, on a local engine)`,
  parse: parseSockets,
  of: (request) => request.sockets,
  label: {key: LABEL.sockets, encode: (sockets) => madeSockets(sockets)?.folder, decode: (text) => text || undefined},
  // Level 1 mounts the folder of this machine; each level passes it on to the next, as the board.
  level: (asked, {level}) => {
    const sockets = madeSockets(asked)
    return sockets ? {dockerd: socketOptions(sockets.group, level), binds: [`${level === 1 ? sockets.folder : SOCKET_DIR}:${SOCKET_DIR}`]} : {}
  },
})

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a table of settings of every value type
type AnySetting = Setting<any, unknown, unknown>

/** Every setting a level receives, in the order its parts are rendered. */
export const LEVEL_SETTINGS: readonly AnySetting[] = [STORAGE_DRIVER, DATA_ROOT, MTU, PUBLISH, SOCKETS, DOCKERD_ARG]

/** What level `position.level` receives of every setting, merged in table order. */
export function levelParts(request: UpRequest, position: LevelPosition): Required<LevelPart> {
  const merged: Required<LevelPart> = {env: {}, dockerd: [], publish: [], binds: []}
  for (const entry of LEVEL_SETTINGS) {
    const part = entry.level(entry.of(request), position)
    Object.assign(merged.env, part.env)
    merged.dockerd.push(...(part.dockerd ?? []))
    merged.publish.push(...(part.publish ?? []))
    merged.binds.push(...(part.binds ?? []))
  }
  return merged
}

/** The labels the settings give level 1 (those with a value). */
export function settingLabels(request: UpRequest): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const entry of LEVEL_SETTINGS) {
    const text = entry.label?.encode(entry.of(request), request.depth)
    if (entry.label && text !== undefined) labels[entry.label.key] = text
  }
  return labels
}
