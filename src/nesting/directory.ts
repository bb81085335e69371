import {daemonInnerPort, LABEL, levelName} from './contract.js'
import {type NestRecord, nestRecord} from './record.js'
import type {Engine} from './engine.js'
import {LevelFailed, LevelOutOfRange, NestNotFound} from './errors.js'
import {levelSocketPath} from './sockets.js'
import {certificateFolder} from './tls.js'

/** How a client on this machine reaches a level's engine: `host` (its socket, or its TLS port when `tls`); `tlsHost` when the nest exposes its daemons. */
export interface LevelEndpoint {
  host: string
  tls: boolean
  tlsHost?: string
}

/** An engine's label filter: the key alone, or key=value. */
export const hasLabel = (key: string, value?: string) => (value === undefined ? key : `${key}=${value}`)

/**
 * Finds nests on an engine. Everything known about a nest is on its level-1 container's labels
 * (read through the contract's `nestRecord`), so this is the only lookup there is.
 */
export class NestDirectory {
  private engineId?: string

  constructor(readonly engine: Engine) {}

  /** Every nest on the engine, or the one named. */
  async records(name?: string): Promise<NestRecord[]> {
    const filters = [hasLabel(LABEL.level, '1'), name === undefined ? hasLabel(LABEL.nest) : hasLabel(LABEL.nest, name)]
    return (await this.engine.listContainers(filters)).map(nestRecord)
  }

  async names(): Promise<string[]> {
    return [...new Set((await this.records()).map((r) => r.name))].sort()
  }

  async find(name: string): Promise<NestRecord> {
    const [record] = await this.records(name)
    if (!record) throw new NestNotFound(name)
    return record
  }

  /** The nest, once `level` is known to be one of its levels. */
  async findLevel(name: string, level: number): Promise<NestRecord> {
    const record = await this.find(name)
    if (level < 1 || level > record.depth) throw new LevelOutOfRange(name, level, record.depth)
    return record
  }

  /** The nest, once its level 1 is known to run (what a command that reaches its levels needs). */
  async findRunning(name: string, level = 1): Promise<NestRecord> {
    const record = await this.findLevel(name, level)
    if (record.levelOne.state !== 'running') {
      throw new LevelFailed(1, `level 1 is ${record.levelOne.state}`, '', `see \`inception ps\`; remove the nest with \`inception down --name ${name}\``)
    }
    return record
  }

  /**
   * What stands where level 1's volume would be made: nothing, the volume of an earlier nest of
   * this name whose level 1 is gone (inception's label, and no level 1: `up` removes it), or a
   * volume inception did not make for this nest (never adopted: the engine would hand it over as
   * if new, and `down` would leave it).
   */
  async levelOneVolume(name: string): Promise<{state: 'free'} | {state: 'orphan'; volume: string} | {state: 'foreign'; volume: string; owner: string}> {
    const volume = levelName(name, 1)
    const found = (await this.engine.listVolumes([])).find((v) => v.name === volume)
    if (!found) return {state: 'free'}
    const nest = found.labels[LABEL.nest]
    if (nest !== name) return {state: 'foreign', volume, owner: nest === undefined ? 'not made by inception' : `made by inception for nest "${nest}"`}
    return (await this.records(name)).length > 0 ? {state: 'foreign', volume, owner: `nest "${name}" uses it`} : {state: 'orphan', volume}
  }

  /** The engine's own ID: what this machine keeps of its nests (certificates, contexts) is keyed by it. */
  async engineIdentity(): Promise<string> {
    this.engineId ??= (await this.engine.info()).id
    return this.engineId
  }

  /** Where this engine's nests keep their client certificates on this machine. */
  async certificateFolder(name: string): Promise<string> {
    return certificateFolder(await this.engineIdentity(), name)
  }

  /**
   * Where a client on this machine reaches each level's engine: its socket when the nest has
   * them (no hop at all), else its mutual TLS port when the nest exposes its daemons.
   */
  async levelEndpoints(record: NestRecord): Promise<Map<number, LevelEndpoint>> {
    const found = new Map<number, LevelEndpoint>()
    const tls = await this.daemonAddresses(record)
    for (let level = 1; level <= record.depth; level++) {
      const tlsHost = tls.get(level)
      if (record.sockets) found.set(level, {host: `unix://${levelSocketPath(record.sockets, level)}`, tls: false, tlsHost})
      else if (tlsHost) found.set(level, {host: tlsHost, tls: true, tlsHost})
    }
    return found
  }

  /** The host addresses of each level's engine port, as the engine published them. */
  async daemonAddresses(record: NestRecord): Promise<Map<number, string>> {
    const found = new Map<number, string>()
    if (!record.daemonsExposed || record.levelOne.state !== 'running') return found
    const details = await this.engine.inspectContainer(record.levelOne.id)
    for (let level = 1; level <= record.depth; level++) {
      const binding = details?.ports[`${daemonInnerPort(level)}/tcp`]?.[0]
      if (!binding?.HostPort) continue
      const host = binding.HostIp === '' || binding.HostIp === '0.0.0.0' ? '127.0.0.1' : binding.HostIp
      found.set(level, `tcp://${host}:${binding.HostPort}`)
    }
    return found
  }
}
