import {execFile} from 'node:child_process'
import {networkInterfaces} from 'node:os'

import {UsageError} from './errors.js'

/**
 * Each level's dockerd gets its own bridge subnet. Left alone, every dockerd picks the first free
 * /16 it can see from its own namespace, so level 2 reuses the host's 172.17.0.0/16 and a port
 * chained through the levels routes its replies to the wrong bridge. The plan hands out one /24
 * per level from a pool, skipping every subnet already in use on the engine's host, by the
 * engine's networks and by other nests.
 */
export interface Cidr {
  address: number
  prefix: number
}

export const DEFAULT_SUBNET_POOL = '172.31.0.0/16'
export const LEVEL_PREFIX = 24

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined
    value = value * 256 + Number(part)
  }
  return value
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.')
}

function blockSize(prefix: number): number {
  return 2 ** (32 - prefix)
}

export function parseCidr(text: string): Cidr | undefined {
  const [addressText, prefixText, ...rest] = text.trim().split('/')
  if (rest.length > 0 || addressText === undefined || prefixText === undefined || !/^\d{1,2}$/.test(prefixText)) return undefined
  const address = parseIpv4(addressText)
  const prefix = Number(prefixText)
  if (address === undefined || prefix > 32) return undefined
  // Normalise to the network address: 172.31.5.1/16 is the pool 172.31.0.0/16.
  return {address: address - (address % blockSize(prefix)), prefix}
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.address)}/${cidr.prefix}`
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.address < b.address + blockSize(b.prefix) && b.address < a.address + blockSize(a.prefix)
}

export function parseSubnetPool(text: string): Cidr {
  const pool = parseCidr(text)
  if (!pool) throw new UsageError(`--subnet-pool ${text} is not an IPv4 CIDR`, 'write it like 172.31.0.0/16')
  if (pool.prefix > LEVEL_PREFIX) {
    throw new UsageError(`--subnet-pool ${text} is smaller than one /${LEVEL_PREFIX}`, 'give a pool of /24 or larger, e.g. 172.31.0.0/16')
  }
  if (pool.prefix < 8) {
    throw new UsageError(`--subnet-pool ${text} is wider than a /8: it takes in addresses that are not private`, PRIVATE_POOL_HINT)
  }
  const unsuitable = UNSUITABLE_RANGES.find(({range}) => overlaps(range, pool))
  if (unsuitable) {
    throw new UsageError(`--subnet-pool ${text} overlaps ${formatCidr(unsuitable.range)}, ${unsuitable.what}`, PRIVATE_POOL_HINT)
  }
  if (!PRIVATE_RANGES.some((range) => contains(range, pool))) {
    throw new UsageError(
      `--subnet-pool ${text} is not inside a private range: its addresses belong to machines on the internet, which the levels could no longer reach`,
      PRIVATE_POOL_HINT,
    )
  }
  return pool
}

/**
 * Where bridges may go: the private ranges of RFC 1918, which no machine on the internet uses.
 * Anything else shadows real addresses for every level (a bridge on 8.8.8.0/24 cuts the nest off
 * from that DNS server), and the ranges below are not networks a bridge can be at all.
 */
const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map((text) => parseCidr(text)!)

/** Named for the message: a pool overlapping one of these is refused whatever its size. */
const UNSUITABLE_RANGES = [
  {range: '0.0.0.0/8', what: '"this network", which no interface can be addressed in'},
  {range: '127.0.0.0/8', what: "the loopback range, which every level's own lo answers"},
  {range: '169.254.0.0/16', what: 'the link-local range, which clouds use for their metadata services'},
  {range: '224.0.0.0/4', what: 'the multicast range, which no interface can be addressed in'},
  {range: '240.0.0.0/4', what: 'the reserved range and the broadcast address'},
].map(({range, what}) => ({range: parseCidr(range)!, what}))

const PRIVATE_POOL_HINT = 'give a pool inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, e.g. 172.31.0.0/16 (the default) or 10.213.0.0/16'

function contains(outer: Cidr, inner: Cidr): boolean {
  return outer.prefix <= inner.prefix && inner.address >= outer.address && inner.address < outer.address + blockSize(outer.prefix)
}

/**
 * Picks `count` free /24 subnets from `pool`, in order, none overlapping `taken`.
 * Throws a usage error naming what was in the way when the pool cannot hold them.
 */
export function allocateSubnets(pool: Cidr, count: number, taken: Cidr[]): Cidr[] {
  const chosen: Cidr[] = []
  const step = blockSize(LEVEL_PREFIX)
  const end = pool.address + blockSize(pool.prefix)
  for (let address = pool.address; address < end && chosen.length < count; address += step) {
    const candidate = {address, prefix: LEVEL_PREFIX}
    if (!taken.some((t) => overlaps(t, candidate))) chosen.push(candidate)
  }
  if (chosen.length < count) {
    const inTheWay = taken.filter((t) => overlaps(t, pool)).map(formatCidr)
    throw new UsageError(
      `--subnet-pool ${formatCidr(pool)} has ${chosen.length} free /${LEVEL_PREFIX} subnets, the nest needs ${count}` +
        (inTheWay.length > 0 ? ` (in use: ${inTheWay.slice(0, 4).join(', ')}${inTheWay.length > 4 ? ', ...' : ''})` : ''),
      'give a larger or unused pool with --subnet-pool, e.g. 10.213.0.0/16',
    )
  }
  return chosen
}

/**
 * Each level's pool for the networks users create there: an aligned /21 handed to that level's
 * dockerd as its default address pool, carved into /26 networks (32 of them, 62 addresses
 * each). Left alone, every level's dockerd carves user networks from the same built-in pools
 * (172.17-31.0.0/16, then 192.168.0.0/16 in /20s), blind to the other levels and to the host's
 * networks, so a network made at level 3 can shadow the subnet level 1 sits on.
 */
export const POOL_PREFIX = 21
export const POOL_NETWORK_PREFIX = 26

/**
 * Picks `count` free aligned /21 pools from `pool`, none overlapping `taken`. Throws a usage
 * error that says how many the pool has room for.
 */
export function allocatePools(pool: Cidr, count: number, taken: Cidr[]): Cidr[] {
  const chosen: Cidr[] = []
  const step = blockSize(POOL_PREFIX)
  const end = pool.address + blockSize(pool.prefix)
  const first = pool.address - (pool.address % step)
  for (let address = first; address + step <= end && chosen.length < count; address += step) {
    const candidate = {address, prefix: POOL_PREFIX}
    if (address >= pool.address && !taken.some((t) => overlaps(t, candidate))) chosen.push(candidate)
  }
  if (chosen.length < count) {
    throw new UsageError(
      `--subnet-pool ${formatCidr(pool)} has room for ${chosen.length} free /${POOL_PREFIX} network pools besides the bridges, ` +
        `the nest needs ${count} (one a level, ${2 ** (POOL_NETWORK_PREFIX - POOL_PREFIX)} networks of /${POOL_NETWORK_PREFIX} each)`,
      `give a larger or unused pool with --subnet-pool (a level needs a /${LEVEL_PREFIX} and a /${POOL_PREFIX}), e.g. 10.213.0.0/16, or a smaller --depth`,
    )
  }
  return chosen
}

/** The dockerd --bip for a level's subnet: its first host address, with the subnet's prefix. */
export function bridgeAddress(subnet: Cidr): string {
  return `${formatIpv4(subnet.address + 1)}/${subnet.prefix}`
}

/**
 * The IPv4 subnets of this machine's interfaces, those that are down included: a bridge put on
 * the subnet of an interface that is down today shadows it the day it comes up (Node's own list,
 * from libuv, leaves out every interface that is not up and running). Read from `ip -o -4 addr`,
 * else, where `ip` is missing, from Node's list.
 */
export async function hostInterfaceSubnets(): Promise<Cidr[]> {
  return (await hostInterfaceAddresses()).map((text) => parseCidr(text)).filter((c): c is Cidr => c !== undefined)
}

/** This machine's IPv4 addresses as "a.b.c.d/prefix", loopback left out, interfaces that are down included (see above). */
export async function hostInterfaceAddresses(): Promise<string[]> {
  const listed = await new Promise<string | undefined>((resolve) => {
    execFile('ip', ['-o', '-4', 'addr', 'show'], {timeout: 5000}, (error, stdout) => resolve(error ? undefined : stdout))
  })
  return listed === undefined
    ? Object.values(networkInterfaces())
        .flat()
        .filter((i) => i?.family === 'IPv4' && !i.internal)
        .map((i) => i!.cidr ?? '')
    : interfaceAddresses(listed)
}

/** The "inet ADDRESS/PREFIX" of each line of `ip -o -4 addr`, loopback left out. */
export function interfaceAddresses(ipOutput: string): string[] {
  return [...ipOutput.matchAll(/^\d+:\s+(\S+)\s+inet\s+(\S+)/gm)].filter((m) => m[1] !== 'lo').map((m) => m[2]!)
}
