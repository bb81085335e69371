import {AddressUnavailable, type ContainerStep, CreateRefused, EngineRefusal, NameInUse, PortInUse, StartRefused} from './engine.js'
import {EngineUnreachable} from './errors.js'

/*
 * dockerode's error shapes, read here and nowhere else: a failed request is an Error with the
 * HTTP `statusCode` and the engine's answer in `json` ({"message": "..."}); a failed connection
 * is a Node error with a `code` (ECONNREFUSED...). What the domain needs of them becomes the
 * seam's typed errors (engine.ts).
 */

/** A failure's first line, or its Node error code (ECONNREFUSED...) when it has one. */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code
    return code ? code : error.message.split('\n')[0]!
  }
  return String(error)
}

export function isConnectionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return ['ECONNREFUSED', 'ENOENT', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'EPIPE', 'ENOTFOUND'].includes(code ?? '')
}

/**
 * What the engine said: its JSON body's message, else the error's own message (which dockerode
 * makes "(HTTP code 500) server error - MESSAGE "), else the error as text.
 */
export function engineMessage(error: unknown): string {
  const said = (error as {json?: {message?: unknown} | null} | undefined)?.json?.message
  if (typeof said === 'string' && said.trim() !== '') return said
  return error instanceof Error ? error.message : String(error)
}

export function statusCode(error: unknown): number | undefined {
  return (error as {statusCode?: number} | undefined)?.statusCode
}

/** The engine's message on one line: its first non-empty line, trimmed. */
export function oneLine(message: string): string {
  return (
    message
      .split('\n')
      .map((line) => line.trim())
      .find((line) => line !== '') ?? 'no reason given'
  )
}

/*
 * A host ADDRESS:PORT in an engine's message: IPv4, IPv6 in brackets, or nothing before the colon
 * ("listen tcp4 :8080", Podman). It must start a word, so "container_linux.go:380" is no port.
 * The engines' words for a taken port, seen so far:
 *   Docker 20-28, another container: "Bind for 127.0.0.1:8080 failed: port is already allocated"
 *   Docker 20-26, another process: "Error starting userland proxy: listen tcp4 127.0.0.1:8080: bind: address already in use"
 *   Docker 28, another process: "failed to bind host port for 127.0.0.1:8080:172.17.0.2:80/tcp: address already in use"
 *   Podman: "rootlessport listen tcp 127.0.0.1:8080: bind: address already in use"
 * and for an address the host lacks, the same forms ending "cannot assign requested address".
 */
const HOST_PORT = String.raw`(?:^|[\s(])(\[[\da-fA-F:.]*\]|\d{1,3}(?:\.\d{1,3}){3})?:(\d{1,5})(?!\d)`
const PORT_TAKEN = new RegExp(`${HOST_PORT}.*?(?:already allocated|address already in use)`)
const ADDRESS_MISSING = new RegExp(`${HOST_PORT}.*?cannot assign requested address`)
const NAME_TAKEN = /name .* is already in use/

/**
 * The seam's error for an engine's refusal to create or start a container. A connection that
 * failed is EngineUnreachable already (the adapter's request bound turns it into one) and is
 * passed through, as is anything already translated.
 */
export function refusal(step: ContainerStep, error: unknown, containerName?: string): EngineRefusal | EngineUnreachable {
  if (error instanceof EngineUnreachable || error instanceof EngineRefusal) return error
  const message = engineMessage(error)
  const says = oneLine(message)
  // 409 on create: another container has the name (Podman may answer 500 with the same words).
  if (step === 'create' && (statusCode(error) === 409 || NAME_TAKEN.test(message))) return new NameInUse(containerName, says)
  const taken = PORT_TAKEN.exec(message)
  if (taken) return new PortInUse(step, hostAddress(taken[1]), Number(taken[2]), says)
  if (message.includes('cannot assign requested address')) return new AddressUnavailable(step, hostAddress(ADDRESS_MISSING.exec(message)?.[1]), says)
  return step === 'create' ? new CreateRefused(says) : new StartRefused(says)
}

/** "[::1]" -> "::1"; no address -> undefined. */
function hostAddress(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined
  return text.replace(/^\[(.*)\]$/, '$1')
}
