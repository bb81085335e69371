import {Writable} from 'node:stream'

import {NestDirectory} from './directory.js'
import {connectEndpoint} from './dockerode-engine.js'
import type {Engine, EngineConnector, ExecIo} from './engine.js'
import {InceptionError, LevelStopped, NestRemoved} from './errors.js'
import {NestLauncher, type PreparedNest, type UpEvents} from './launch.js'
import type {Clock} from './poll.js'
import {type PrivilegeCache, privilegeCacheFrom} from './privilege-cache.js'
import type {UpRequest} from './request.js'
import {type DaemonEndpoint, LevelAccess} from './level-access.js'
import {type NestStatus, NestStatusReader} from './status.js'
import {type DownReport, NestTeardown} from './teardown.js'

export type {PreparedNest, UpEvents} from './launch.js'
export type {DaemonEndpoint} from './level-access.js'
export type {LevelRunState, LevelStatus, NestStatus} from './status.js'
export type {DownReport} from './teardown.js'

/**
 * Nests on one engine: what the commands use. Each job has its own module: finding nests
 * (directory.ts), bringing them up (launch.ts), reading their state (status.ts), reaching into
 * their levels (level-access.ts) and taking them down (teardown.ts).
 */
export class Nests {
  private readonly directory: NestDirectory
  private readonly reach: LevelAccess
  private readonly statusReader: NestStatusReader
  private readonly teardown: NestTeardown
  private readonly launcher: NestLauncher

  /**
   * The privilege cache defaults to what INCEPTION_PRIVILEGE_CACHE asks for (a file per engine
   * unless off); the clock, which `up` waits for the levels by, to the system's; the way the
   * levels' own engines are dialled (with --expose-daemons) to the dockerode adapter's.
   */
  constructor(engine: Engine, privilegeCache: PrivilegeCache = privilegeCacheFrom(), clock?: Clock, connect: EngineConnector = connectEndpoint) {
    this.directory = new NestDirectory(engine)
    this.reach = new LevelAccess(this.directory, connect)
    this.statusReader = new NestStatusReader(this.directory, this.reach)
    this.teardown = new NestTeardown(this.directory)
    this.launcher = new NestLauncher(this.directory, this.reach, this.statusReader, this.teardown, privilegeCache, clock)
  }

  prepare(request: UpRequest): Promise<PreparedNest> {
    return this.launcher.prepare(request)
  }

  launch(prepared: PreparedNest, events?: UpEvents, signal?: AbortSignal): Promise<NestStatus> {
    return this.launcher.launch(prepared, events, signal)
  }

  async up(request: UpRequest, events?: UpEvents, signal?: AbortSignal): Promise<NestStatus> {
    return this.launch(await this.prepare(request), events, signal)
  }

  names(): Promise<string[]> {
    return this.directory.names()
  }

  status(name: string): Promise<NestStatus> {
    return this.statusReader.status(name)
  }

  statusAll(): Promise<NestStatus[]> {
    return this.statusReader.statusAll()
  }

  /** The depth of a nest whose level 1 runs (what a command that reaches its levels needs). */
  async runningDepth(name: string): Promise<number> {
    return (await this.directory.findRunning(name)).depth
  }

  /**
   * Runs CMD at level K; its exit status, or, when the command did not end well because the nest
   * or a level under it went away meanwhile (a `down`, a dead dockerd), an error that says so
   * rather than a 137 or Docker's own "is not running" passed off as the command's. The nest is
   * looked at only after such an ending: a command that succeeds costs nothing more.
   */
  async exec(name: string, level: number, cmd: string[], io: ExecIo): Promise<number> {
    // The docker CLI's own complaint about a stopped level is held back until it is known whose it is.
    const stderr = io.tty ? undefined : new HeldBackNotRunning(io.stderr)
    let code: number
    try {
      code = await this.reach.exec(name, level, cmd, stderr ? {...io, stderr} : io)
    } catch (error) {
      if (!(error instanceof InceptionError)) await this.explainLostLevel(name, level, ...execLoss(cmd, level))
      throw error
    }
    if (code !== 0) {
      // Killed (137, 143): by a `down`, whose stop of level 1 ends every process there before the container is seen to stop.
      if (code === 137 || code === 143) await this.waitForLevelOneToGo(name)
      await this.explainLostLevel(name, level, ...execLoss(cmd, level))
    }
    stderr?.release()
    return code
  }

  /**
   * A bounded wait (3 s) after a command was killed, for level 1 to go: a `down` stops level 1 and
   * then removes it, and a look in between (seen under load) would blame a level that was only
   * being taken down. A level 1 that stopped on its own stays, and is reported once the wait ends.
   */
  private async waitForLevelOneToGo(name: string): Promise<void> {
    for (let tries = 0; tries < 30; tries++) {
      const [record] = await this.directory.records(name)
      if (!record || record.levelOne.state === 'removing') return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  async logs(name: string, level: number, options: {follow: boolean; tail?: number}, out: Writable, err: Writable, timeoutMs?: number): Promise<void> {
    try {
      await this.reach.logs(name, level, options, out, err, timeoutMs)
    } catch (error) {
      // Levels below 1 are read through level 1's engine: it answers with a bare 409 once level 1 has stopped.
      if (!(error instanceof InceptionError)) await this.explainLostLevel(name, level, `level ${level}'s output cannot be read`, `its output was read`)
      throw error
    }
  }

  /**
   * Throws what became of the nest, if level 1 or a level from 1 to LEVEL no longer runs; returns
   * when all do. `lost`: what the user did not get; `during`: what was going on.
   */
  private async explainLostLevel(name: string, level: number, lost: string, during: string): Promise<void> {
    const [record] = await this.directory.records(name)
    // Being removed is as good as gone: `down` has it.
    if (!record || record.levelOne.state === 'removing') throw new NestRemoved(name, during)
    if (record.levelOne.state !== 'running') throw new LevelStopped(name, 1, `${record.levelOne.state} (and every level below it with it)`, lost)
    if (level === 1) return
    const status = await this.statusReader.status(name).catch(() => undefined)
    const stopped = status?.levels.find((l) => l.level <= level && l.state !== 'running')
    if (stopped) throw new LevelStopped(name, stopped.level, stopped.detail ? `${stopped.state} (${stopped.detail})` : stopped.state, lost)
  }

  logTail(name: string, level: number, lines?: number): Promise<string> {
    return this.reach.logTail(name, level, lines)
  }

  /** Writes one file on the nest's status board, which every level (and the demo's page) reads. */
  writeBoard(name: string, file: string, content: string): Promise<void> {
    return this.reach.writeBoard(name, file, content)
  }

  /** One file of the nest's status board, or undefined when it is not there. */
  readBoardFile(name: string, file: string): Promise<string | undefined> {
    return this.reach.readBoardFile(name, file)
  }

  /** How a client on this machine reaches level K's engine: its socket, else (or with `tls`) its mutual TLS port. */
  daemonEndpoint(name: string, level: number, options: {tls?: boolean} = {}): Promise<DaemonEndpoint> {
    return this.reach.daemonEndpoint(name, level, options)
  }

  down(name: string): Promise<DownReport> {
    return this.teardown.down(name)
  }

  downAll(): Promise<DownReport[]> {
    return this.teardown.downAll()
  }
}

/**
 * Passes a command's error output through, but for the docker CLI's "Error response from daemon:
 * container ... is not running", written when a level on the way has stopped: held until `release`
 * (dropped when the exec turns out to have been cut off by a stopped level, which is said instead).
 */
class HeldBackNotRunning extends Writable {
  private held: Buffer[] = []

  constructor(private readonly target: Writable) {
    super()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (/^Error response from daemon: [Cc]ontainer [0-9a-f]+ is not running\s*$/.test(chunk.toString())) {
      this.held.push(Buffer.from(chunk))
      callback()
      return
    }
    this.target.write(chunk, callback)
  }

  release(): void {
    for (const chunk of this.held) this.target.write(chunk)
    this.held = []
  }
}

/** For an exec that ended badly: what the user did not get, and what was going on. */
function execLoss(cmd: string[], level: number): [string, string] {
  const command = `\`${cmd.join(' ')}\``
  return [`${command} at level ${level} got no answer or was cut off`, `${command} ran at level ${level}`]
}
