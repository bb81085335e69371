/**
 * A nest's state lives on its containers as labels: `ps`, `exec` and `down` find a nest by them.
 * There is no state file to lose or corrupt.
 */
export const LABEL = {
  nest: 'io.inception.nest',
  level: 'io.inception.level',
  depth: 'io.inception.depth',
  version: 'io.inception.version',
  privilege: 'io.inception.privilege',
  storageDriver: 'io.inception.storage-driver',
  dataRoot: 'io.inception.data-root',
  subnets: 'io.inception.subnets',
  /** Each level's pool for the networks users create there. */
  pools: 'io.inception.pools',
  /** The host network level 1 joined (--network), when not the default bridge. */
  network: 'io.inception.network',
  /** The MTU asked for every level (--mtu); absent: each level takes its uplink's. */
  mtu: 'io.inception.mtu',
  ports: 'io.inception.ports',
  /** The host address the published ports are bound to. */
  bind: 'io.inception.bind',
  /** "on" when every level's engine listens with mutual TLS on a port chained to the host. */
  daemons: 'io.inception.daemons',
  /** The Debian suite of the level image, which decides the Docker every level runs. */
  suite: 'io.inception.suite',
  /** On the short-lived container that serialises subnet choice between concurrent `up`s. */
  lock: 'io.inception.lock',
} as const

export type Labels = Record<string, string>

/** The name of level K's container (and of its volume), in the engine of level K-1. */
export function levelName(nest: string, level: number): string {
  return `${nest}-l${level}`
}
