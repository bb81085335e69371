import {createServer} from 'node:net'

import {isThisMachine} from './endpoint.js'
import {PortTaken, UsageError} from './errors.js'

/**
 * `-p HOST:INNER[@LEVEL]`: INNER of level LEVEL (default: the innermost) published on the host's
 * HOST, bound to 127.0.0.1 unless --bind says otherwise. Every level from 1 to LEVEL publishes
 * INNER to its parent, so the chain is host:HOST -> l1:INNER -> l2:INNER -> ... -> lLEVEL:INNER.
 */
export interface PortMapping {
  hostPort: number
  innerPort: number
  /** Undefined means the innermost level, whatever the depth. */
  level?: number
}

const PORT_FORM = /^(\d+):(\d+)(?:@(\d+))?$/

function parsePortNumber(text: string, spec: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new UsageError(`port ${text} in -p ${spec} is out of range`, 'ports go from 1 to 65535')
  }
  return port
}

export function parsePortMapping(spec: string): PortMapping {
  const match = PORT_FORM.exec(spec.trim())
  if (!match) {
    throw new UsageError(`-p ${spec} is not HOST:INNER or HOST:INNER@LEVEL`, 'write it like -p 8080:80 or -p 8080:80@2')
  }
  const [, host, inner, level] = match
  const mapping: PortMapping = {hostPort: parsePortNumber(host!, spec), innerPort: parsePortNumber(inner!, spec)}
  if (level !== undefined) {
    mapping.level = Number(level)
    if (mapping.level < 1) throw new UsageError(`-p ${spec} targets level 0`, 'levels are numbered from 1')
  }
  return mapping
}

/** Checks a set of mappings against a depth: levels in range, no host port or inner chain used twice. */
export function checkPortMappings(mappings: PortMapping[], depth: number): void {
  const hostPorts = new Set<number>()
  const innerPorts = new Set<number>()
  for (const mapping of mappings) {
    if (mapping.level !== undefined && mapping.level > depth) {
      throw new UsageError(
        `-p ${mapping.hostPort}:${mapping.innerPort}@${mapping.level} targets a level deeper than --depth ${depth}`,
        `target a level from 1 to ${depth}`,
      )
    }
    if (hostPorts.has(mapping.hostPort)) {
      throw new UsageError(`host port ${mapping.hostPort} is given twice in -p`, 'give each -p its own host port')
    }
    // Every level publishes INNER on INNER, so two chains cannot share an inner port.
    if (innerPorts.has(mapping.innerPort)) {
      throw new UsageError(`inner port ${mapping.innerPort} is given twice in -p`, 'give each -p its own inner port')
    }
    hostPorts.add(mapping.hostPort)
    innerPorts.add(mapping.innerPort)
  }
}

export function targetLevel(mapping: PortMapping, depth: number): number {
  return mapping.level ?? depth
}

export function formatPortMapping(m: PortMapping, depth: number, bind: string): string {
  return `${bind}:${m.hostPort}->${m.innerPort}@l${targetLevel(m, depth)}`
}

/** The label form, read back by `ps`: "HOST:INNER@LEVEL,...". */
export function portsToLabel(mappings: PortMapping[], depth: number): string {
  return mappings.map((m) => `${m.hostPort}:${m.innerPort}@${targetLevel(m, depth)}`).join(',')
}

export function portsFromLabel(label: string | undefined): PortMapping[] {
  if (!label) return []
  return label.split(',').map((spec) => parsePortMapping(spec))
}

/** Whether something on this machine holds ADDRESS:PORT; returns who, as far as we can tell. */
export async function hostPortHolder(address: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code === 'EADDRINUSE' ? 'another process listens there' : error.code === 'EACCES' ? 'a privileged port this user cannot bind' : undefined)
    })
    server.listen({host: address, port, exclusive: true}, () => server.close(() => resolve(undefined)))
  })
}

/** Refuses -p host ports that something on this machine holds (when the engine is this machine's: its ports are). */
export async function checkHostPortsFree(request: {ports: PortMapping[]; bind: string}, engineAddress: string): Promise<void> {
  if (!isThisMachine(engineAddress)) return
  for (const mapping of request.ports) {
    const holder = await hostPortHolder(request.bind, mapping.hostPort)
    if (holder) throw new PortTaken(request.bind, mapping.hostPort, holder)
  }
}
