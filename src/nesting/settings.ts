import {MEMORY, CPUS, PIDS, procView} from './budgets.js'
import {LABEL, ROOT_SOCKET_BASE, SOCKET_DIR} from './contract.js'
import {parsePortMapping, type PortMapping, portsFromLabel, portsToLabel, targetLevel} from './ports.js'
import {parseDockerdArg} from './dockerd-options.js'
import {parseMtu, type UpRequest} from './request.js'
import {parseCaCert, parseDns, parseInsecureRegistry, parseNoProxy, parseProxy, parseRegistryMirror, withoutCredentials} from './registry-settings.js'
import {type LevelPart, type LevelPosition, type LevelResources, type Setting, setting} from './setting.js'
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

export type {LevelPart, LevelPosition, LevelResources, Publish, Setting} from './setting.js'
export {CPUS, MEMORY, PIDS}

/**
 * The settings every level of a nest honours, one entry each (setting.ts says what an entry is).
 * The flags (src/flags.ts), the labels (contract.ts) and the renderer of every level's container
 * (render.ts) read this table and nothing else about a setting: a new setting is an entry, the
 * code that uses its value, and its test.
 */

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

// The host's registry settings (registry-settings.ts): `of` reads what the nest gets, inherited or given.
const words = {encode: (values: string[]) => (values.length > 0 ? values.join(' ') : undefined), decode: (text?: string) => (text ? text.split(' ') : [])}

export const REGISTRY_MIRROR = setting<string[], string>({
  flag: 'registry-mirror',
  helpValue: '<url>',
  multiple: true,
  default: [],
  defaultHelp: "the engine's own",
  description: "a registry mirror for every level's engine; repeatable",
  parse: parseRegistryMirror,
  of: (request) => request.registry.mirrors,
  label: {key: LABEL.registryMirrors, ...words},
  level: (mirrors) => ({dockerd: mirrors.map((mirror) => `--registry-mirror=${mirror}`)}),
})

export const INSECURE_REGISTRY = setting<string[], string>({
  flag: 'insecure-registry',
  helpValue: '<host[:port]>',
  multiple: true,
  default: [],
  defaultHelp: "the engine's own",
  description: "a registry every level's engine reaches over plain HTTP or unverified TLS; repeatable",
  parse: parseInsecureRegistry,
  of: (request) => request.registry.insecure,
  label: {key: LABEL.insecureRegistries, ...words},
  level: (registries) => ({dockerd: registries.map((registry) => `--insecure-registry=${registry}`)}),
})

export const PROXY = setting<string | undefined>({
  flag: 'proxy',
  helpValue: '<url>',
  default: undefined,
  defaultHelp: "the engine's own",
  description: "the HTTP(S) proxy of every level's engine (pulls, pushes, builds) and of the containers started there",
  parse: parseProxy,
  of: (request) => request.registry.proxy,
  // Without the credentials a proxy URL may carry: labels are read by anyone who can read the engine.
  label: {key: LABEL.proxy, encode: (proxy) => (proxy ? withoutCredentials(proxy) : undefined), decode: (text) => text || undefined},
  level: (proxy) => ({env: {INCEPTION_HTTP_PROXY: proxy ?? ''}}),
})

export const NO_PROXY = setting<string | undefined>({
  flag: 'no-proxy',
  helpValue: '<list>',
  default: undefined,
  defaultHelp: "the engine's own",
  description: 'hosts, domains and CIDRs reached without the proxy, comma-separated',
  parse: parseNoProxy,
  of: (request) => request.registry.noProxy,
  label: {key: LABEL.noProxy, encode: (list) => list, decode: (text) => text || undefined},
  level: (list) => ({env: {INCEPTION_NO_PROXY: list ?? ''}}),
})

export const DNS = setting<string[], string>({
  flag: 'dns',
  helpValue: '<address>',
  multiple: true,
  default: [],
  defaultHelp: "the engine's own (on this machine's engine)",
  description: "a DNS server for every level's engine and the containers started there; repeatable",
  parse: parseDns,
  of: (request) => request.registry.dns,
  label: {key: LABEL.dns, ...words},
  level: (servers) => ({dockerd: servers.map((server) => `--dns=${server}`)}),
})

export const CA_CERT = setting<Array<{file: string; pem: string}>, {file: string; pem: string}, string[]>({
  flag: 'ca-cert',
  helpValue: '<file>',
  multiple: true,
  default: [],
  defaultHelp: "/etc/docker/certs.d's (on this machine's engine)",
  description: "a CA certificate (PEM) every level's engine trusts, for registries and proxies; repeatable",
  parse: parseCaCert,
  of: (request) => request.registry.caCerts,
  label: {key: LABEL.caCerts, encode: (certs) => words.encode(certs.map((c) => c.file)), decode: words.decode},
  // One line of the plan: base64, which has no newline.
  level: (certs) => ({env: {INCEPTION_CA_CERTS: certs.length > 0 ? Buffer.from(certs.map((c) => c.pem).join('')).toString('base64') : ''}}),
})

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a table of settings of every value type
type AnySetting = Setting<any, unknown, unknown>

/** Every setting a level receives, in the order its parts are rendered. */
export const LEVEL_SETTINGS: readonly AnySetting[] = [
  STORAGE_DRIVER,
  DATA_ROOT,
  MTU,
  PUBLISH,
  SOCKETS,
  REGISTRY_MIRROR,
  INSECURE_REGISTRY,
  PROXY,
  NO_PROXY,
  DNS,
  CA_CERT,
  MEMORY,
  CPUS,
  PIDS,
  DOCKERD_ARG,
]

/** What level `position.level` receives of every setting, merged in table order. */
export function levelParts(request: UpRequest, position: LevelPosition): Required<LevelPart> {
  const merged: Required<LevelPart> = {env: {INCEPTION_PROC_VIEW: ''}, dockerd: [], publish: [], binds: [], resources: {}}
  const parts = [...LEVEL_SETTINGS.map((entry) => entry.level(entry.of(request), position)), procView(request.budgets, position.level)]
  for (const part of parts) {
    Object.assign(merged.env, part.env)
    merged.dockerd.push(...(part.dockerd ?? []))
    merged.publish.push(...(part.publish ?? []))
    merged.binds.push(...(part.binds ?? []))
    for (const [key, value] of Object.entries(part.resources ?? {}) as Array<[keyof LevelResources, unknown]>) {
      if (value !== undefined) Object.assign(merged.resources, {[key]: value})
    }
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
