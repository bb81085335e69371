import {levelName} from './contract.js'
import {isThisMachine} from './endpoint.js'
import type {Engine} from './engine.js'
import {UsageError} from './errors.js'
import {type NestFacts, subnetsOfNests} from './record.js'
import type {UpRequest} from './request.js'
import {allocatePools, allocateSubnets, bridgeAddress, type Cidr, hostInterfaceSubnets, parseCidr} from './subnets.js'

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

/**
 * Every subnet a new nest must stay clear of: the engine's networks, other nests (their records),
 * and this machine's interfaces when the engine is this machine's.
 */
export async function takenSubnets(engine: Engine, nests: NestFacts[]): Promise<Cidr[]> {
  const cidrs = (texts: string[]) => texts.map((text) => parseCidr(text)).filter((c): c is Cidr => c !== undefined)
  const local = isThisMachine(engine.address) ? await hostInterfaceSubnets() : []
  return [...cidrs(await engine.listNetworkSubnets()), ...subnetsOfNests(nests), ...local]
}
