import type {Writable} from 'node:stream'

import {NestDirectory} from './directory.js'
import type {Engine, ExecIo} from './engine.js'
import {NestLauncher, type PreparedNest, type UpEvents} from './launch.js'
import type {Clock} from './poll.js'
import {type PrivilegeCache, privilegeCacheFrom} from './privilege-cache.js'
import type {UpRequest} from './request.js'
import {type DaemonEndpoint, NestReach} from './reach.js'
import {type NestStatus, NestStatusReader} from './status.js'
import {type DownReport, NestTeardown} from './teardown.js'

export type {PreparedNest, UpEvents} from './launch.js'
export type {DaemonEndpoint} from './reach.js'
export type {LevelRunState, LevelStatus, NestStatus} from './status.js'
export type {DownReport} from './teardown.js'

/**
 * Nests on one engine: what the commands use. Each job has its own module: finding nests
 * (directory.ts), bringing them up (launch.ts), reading their state (status.ts), reaching into
 * their levels (reach.ts) and taking them down (teardown.ts).
 */
export class Nests {
  private readonly directory: NestDirectory
  private readonly reach: NestReach
  private readonly statusReader: NestStatusReader
  private readonly teardown: NestTeardown
  private readonly launcher: NestLauncher

  /**
   * The privilege cache defaults to what INCEPTION_PRIVILEGE_CACHE asks for (a file per engine
   * unless off); the clock, which `up` waits for the levels by, to the system's.
   */
  constructor(engine: Engine, privilegeCache: PrivilegeCache = privilegeCacheFrom(), clock?: Clock) {
    this.directory = new NestDirectory(engine)
    this.reach = new NestReach(this.directory)
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

  exec(name: string, level: number, cmd: string[], io: ExecIo): Promise<number> {
    return this.reach.exec(name, level, cmd, io)
  }

  logs(name: string, level: number, options: {follow: boolean; tail?: number}, out: Writable, err: Writable, timeoutMs?: number): Promise<void> {
    return this.reach.logs(name, level, options, out, err, timeoutMs)
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

  daemonEndpoint(name: string, level: number): Promise<DaemonEndpoint> {
    return this.reach.daemonEndpoint(name, level)
  }

  down(name: string): Promise<DownReport> {
    return this.teardown.down(name)
  }

  downAll(): Promise<DownReport[]> {
    return this.teardown.downAll()
  }
}
