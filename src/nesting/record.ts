import {LABEL, type Labels} from './contract.js'
import type {ContainerSummary} from './engine.js'
import type {NestPlan} from './plan.js'
import type {PortMapping} from './ports.js'
import type {PrivilegeDecision} from './privilege.js'
import {DATA_ROOT, MTU, PUBLISH, settingLabels, SOCKETS, STORAGE_DRIVER} from './settings.js'
import {type Cidr, formatCidr, parseCidr} from './subnets.js'
import {VERSION} from './version.js'

/**
 * A nest's record: what its level-1 labels say of it, written once by `up` (levelOneLabels) and
 * read back by `ps`, `exec`, `env` and `down` (nestRecord). There is no state file to lose.
 * The settings of the table (settings.ts) encode and decode their own labels.
 */

/** What a nest's level-1 labels record: the nest as `up` made it. */
export interface NestFacts {
  name: string
  depth: number
  version: string
  /** As asked, with what auto chose: "auto:caps", or the mode asked for. */
  privilege: string
  storageDriver: string
  dataRoot: string
  suite: string
  /** Each level's bridge subnet and its pool for users' networks, outermost first. */
  subnets: string[]
  pools: string[]
  network?: string
  mtu?: number
  ports: PortMapping[]
  bind: string
  daemonsExposed: boolean
  /** The folder of this machine with each level's socket (level-K.sock), when the nest has them. */
  sockets?: string
}

/** A nest found on an engine: its facts and its level-1 container. */
export interface NestRecord extends NestFacts {
  levelOne: {id: string; state: string}
}

const words = (text: string | undefined) => (text ?? '').split(' ').filter((w) => w.length > 0)

/** Level 1's labels: the nest's own facts, then what the settings record of themselves. */
export function levelOneLabels(plan: NestPlan, decision: PrivilegeDecision): Labels {
  const {request} = plan
  return {
    [LABEL.nest]: request.name,
    [LABEL.level]: '1',
    [LABEL.depth]: String(request.depth),
    [LABEL.version]: VERSION,
    [LABEL.privilege]: request.privilege === 'auto' ? `auto:${decision.mode}` : decision.mode,
    [LABEL.subnets]: plan.levels.map((l) => formatCidr(l.subnet)).join(' '),
    [LABEL.pools]: plan.levels.map((l) => formatCidr(l.pool)).join(' '),
    ...(request.network ? {[LABEL.network]: request.network} : {}),
    [LABEL.bind]: request.bind,
    [LABEL.daemons]: request.exposeDaemons ? 'on' : 'off',
    [LABEL.suite]: request.suite,
    ...settingLabels(request),
  }
}

/** The one place a level-1 container's labels are read back. */
export function nestRecord(levelOne: ContainerSummary): NestRecord {
  const labels = levelOne.labels
  const read = <R>(entry: {label?: {key: string; decode(text: string | undefined): R}}) => entry.label!.decode(labels[entry.label!.key])
  return {
    name: labels[LABEL.nest] ?? '',
    depth: Number(labels[LABEL.depth] ?? 1),
    version: labels[LABEL.version] ?? '',
    privilege: labels[LABEL.privilege] ?? '',
    storageDriver: read(STORAGE_DRIVER),
    dataRoot: read(DATA_ROOT),
    suite: labels[LABEL.suite] ?? '',
    subnets: words(labels[LABEL.subnets]),
    pools: words(labels[LABEL.pools]),
    network: labels[LABEL.network],
    mtu: read(MTU),
    ports: read(PUBLISH),
    bind: labels[LABEL.bind] ?? '127.0.0.1',
    daemonsExposed: labels[LABEL.daemons] === 'on',
    sockets: read(SOCKETS),
    levelOne: {id: levelOne.id, state: levelOne.state},
  }
}

/** The subnets other nests hold (bridges and network pools), as their level-1 labels record them. */
export function subnetsOfNests(records: NestFacts[]): Cidr[] {
  return records.flatMap((r) => [...r.subnets, ...r.pools].map((text) => parseCidr(text)).filter((c): c is Cidr => c !== undefined))
}
