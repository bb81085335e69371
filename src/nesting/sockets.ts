import {chmodSync, chownSync, mkdirSync, readFileSync, rmSync} from 'node:fs'
import {dirname, isAbsolute, join} from 'node:path'

import {levelSocketFile, ROOT_SOCKET_BASE, SOCKET_DIR} from './contract.js'
import {isThisMachine} from './endpoint.js'
import type {Engine} from './engine.js'
import {SocketFolderUnusable, SocketsNeedALocalEngine, UsageError} from './errors.js'
import {whyCannotMake} from './folders.js'

/**
 * A unix socket per level, on this machine. Every level's dockerd listens, besides its own
 * /var/run/docker.sock, on SOCKET_DIR/level-K.sock inside the nest: a folder that level 1
 * bind-mounts from this machine (FOLDER/NEST) and every level passes down to the next, as it
 * passes the board. So level K's engine is a file here, from the moment it answers until `down`
 * removes the folder, with no process in between: a client talks to level K's dockerd itself.
 *
 * Each dockerd makes its socket root-owned, mode 0660, in the group it is given: the docker
 * group of this machine where there is one (its number: the levels' /etc/group is not this
 * machine's), else root's. A level can reach the engines of the levels above it through the
 * folder, as it reaches their board: it runs with their privilege already.
 */

/** What `up` is asked (--sockets): auto (on a local engine, the default folder), none, or a folder. */
export type SocketsChoice = 'auto' | 'none' | {base: string}

/** Where a nest's sockets are on this machine, and the group that may use them. */
export interface NestSockets {
  /** FOLDER/NEST: level K's socket is level-K.sock in it. */
  folder: string
  group: number
}

/** The sockets `up` made, or undefined while they are only asked for (or none). */
export const madeSockets = (sockets: SocketsChoice | NestSockets): NestSockets | undefined =>
  typeof sockets === 'object' && 'folder' in sockets ? sockets : undefined

/** A unix socket's path must fit sun_path (108 bytes, with its ending zero). */
const SOCKET_PATH_MAX = 107
/** The longest level socket name a nest can need: level-99.sock (depth is at most --max-depth, far below). */
const LONGEST_SOCKET_NAME = levelSocketFile(99).length

/**
 * What auto means for a whole environment (a test suite, a CI job), when set: none, or a folder.
 * The unit tests set it to none: their fake engine is "local", and nothing of theirs belongs in /run.
 */
export const SOCKETS_ENV = 'INCEPTION_SOCKETS'

export function parseSockets(text: string): SocketsChoice {
  if (text === 'auto' || text === 'none') return text
  if (!isAbsolute(text)) throw new UsageError(`--sockets ${text} is not an absolute path`, 'give auto, none, or the absolute path of a folder for the sockets')
  // FOLDER/NEST/level-K.sock, with the longest nest name (40).
  if (text.length + 1 + 40 + 1 + LONGEST_SOCKET_NAME > SOCKET_PATH_MAX)
    throw new UsageError(
      `--sockets ${text} is too long for a unix socket path`,
      `give a folder of at most ${SOCKET_PATH_MAX - 42 - LONGEST_SOCKET_NAME} characters`,
    )
  return {base: text}
}

/**
 * The default folder: ROOT_SOCKET_BASE for root (where the levels' sockets sit beside the
 * engine's own), the user's runtime folder otherwise ($XDG_RUNTIME_DIR/inception); none when a
 * user has no runtime folder.
 */
export function defaultSocketBase(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string | undefined {
  if (uid === 0) return ROOT_SOCKET_BASE
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'inception') : undefined
}

/** Where `up` puts a nest's sockets by default, when there is a default place. */
export function defaultSocketFolder(nest: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const base = env[SOCKETS_ENV] && env[SOCKETS_ENV] !== 'auto' ? (env[SOCKETS_ENV] === 'none' ? undefined : env[SOCKETS_ENV]) : defaultSocketBase(env)
  return base === undefined ? undefined : join(base, nest)
}

/** The socket of level K of a nest whose sockets are in FOLDER. */
export const levelSocketPath = (folder: string, level: number) => join(folder, levelSocketFile(level))

/** The docker group's number on this machine, from its group file; root's (0) when it has none. */
export function socketGroup(groupFile = '/etc/group'): number {
  let text = ''
  try {
    text = readFileSync(groupFile, 'utf8')
  } catch {
    return 0
  }
  const docker = text.split('\n').find((line) => line.startsWith('docker:'))
  const gid = Number(docker?.split(':')[2])
  return Number.isInteger(gid) ? gid : 0
}

/**
 * The nest's sockets as `up` will make them, or undefined for none. On an engine reached other
 * than through a local socket (tcp://, ssh://), the engine's files are not this machine's:
 * auto means none there (the mutual TLS route, --expose-daemons, reaches such levels), and a
 * folder asked for is refused. Checks that the folder can be made; makes nothing.
 */
export function planSockets(
  choice: SocketsChoice | NestSockets,
  nest: string,
  engineAddress: string,
  env: NodeJS.ProcessEnv = process.env,
): NestSockets | undefined {
  if (choice === 'auto' && env[SOCKETS_ENV]) choice = parseSockets(env[SOCKETS_ENV])
  if (choice === 'none') return undefined
  // Planned already: as it is.
  if (typeof choice === 'object' && 'folder' in choice) return choice
  if (!isThisMachine(engineAddress)) {
    if (choice === 'auto') return undefined
    throw new SocketsNeedALocalEngine(engineAddress, engineAddress.startsWith('unix://') ? 'it runs in a level of a nest, whose files are its own' : undefined)
  }
  const base = choice === 'auto' ? defaultSocketBase(env) : choice.base
  if (base === undefined) {
    throw new SocketFolderUnusable('(none: this user has no XDG_RUNTIME_DIR)', 'give a folder with --sockets FOLDER, or --sockets none')
  }
  const folder = join(base, nest)
  checkCanMake(folder)
  return {folder, group: socketGroup()}
}

/** Refuses a folder that cannot be made. */
function checkCanMake(folder: string): void {
  const why = whyCannotMake(folder)
  if (why) throw new SocketFolderUnusable(folder, 'give another folder with --sockets FOLDER, or --sockets none', why)
}

/**
 * Makes the sockets planned for an `up` on ENGINE (planSockets), and checks them with the engine;
 * `made` is undefined for none (with a note that says why, for a default that could not be kept).
 * A local socket does not prove a local engine: an engine in a container of its own, reached
 * through a socket of this machine, sees its own files. So the folder is made, and the engine
 * must accept a container that mounts it with a bind mount that requires its source (the engine
 * would make a missing -v source on its side, empty). Called last in `up`'s checks; undone by
 * removeSockets.
 */
export async function prepareSockets(
  planned: NestSockets | undefined,
  byDefault: boolean,
  engine: Engine,
  image: string,
): Promise<{made?: NestSockets; note?: string}> {
  if (!planned) return {}
  makeSocketFolder(planned)
  const seen = await engine.check({image, entrypoint: ['true'], host: {mounts: [{source: planned.folder, target: SOCKET_DIR}]}}).catch((error: unknown) => {
    removeSockets(planned.folder)
    throw error
  })
  if (seen.ok) return {made: planned}
  removeSockets(planned.folder)
  const why = "does not see this machine's files: it runs in a container, or elsewhere"
  if (!byDefault) throw new SocketsNeedALocalEngine(engine.address, `it ${why}`)
  return {note: `no level sockets: the engine at ${engine.address} ${why}; reach the levels with inception exec, or --expose-daemons`}
}

/**
 * Makes the nest's folder: mode 0750 in the socket group, so that the group's members reach
 * the sockets (0660) and nobody else lists them. Its parent is made world-searchable (0755), as
 * /run is. Undone by removeSockets.
 */
export function makeSocketFolder({folder, group}: NestSockets): void {
  try {
    mkdirSync(dirname(folder), {recursive: true, mode: 0o755})
    mkdirSync(folder, {recursive: true, mode: 0o750})
    // A user who is not root keeps the folder their own (chown to another group is refused): the sockets' group still reaches them.
    if (process.getuid?.() === 0) chownSync(folder, 0, group)
    chmodSync(folder, 0o750)
  } catch (error) {
    throw new SocketFolderUnusable(folder, 'give another folder with --sockets FOLDER, or --sockets none', (error as Error).message)
  }
}

/** Removes a nest's socket folder and whatever is left in it (a level's dockerd removes its socket as it ends). */
export function removeSockets(folder: string | undefined): void {
  if (folder) rmSync(folder, {recursive: true, force: true})
}

/** What level K's dockerd is given: its socket in the nest's folder, in the group of this machine's. */
export function socketOptions(group: number, level: number): string[] {
  return [`--host=unix://${SOCKET_DIR}/${levelSocketFile(level)}`, `--group=${group}`]
}
