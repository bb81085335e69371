/**
 * inception as a library, for test suites: a nest started from code, each level's engine an
 * endpoint for dockerode (or any client), commands and images into any level, and everything
 * gone when the nest is disposed.
 *
 *     import Docker from 'dockerode'
 *     import {up} from 'inception'
 *
 *     await using nest = await up({depth: 2})
 *     const docker = new Docker(nest.level(2).dockerode)
 *
 * The same domain as the CLI (src/nesting), through the same checks: bad options throw the
 * typed errors the CLI maps to its exit codes (`error.exitCode`), before anything is created.
 * Nothing is written under the user's home until a nest is started; unlike the CLI, `up` writes
 * no docker contexts unless asked (`contexts: true`): a test suite's nests come and go.
 */
import {readFileSync} from 'node:fs'
import {Readable} from 'node:stream'

import {connectEngine} from './nesting/dockerode-engine.js'
import {Capture, type Engine} from './nesting/engine.js'
import type {DaemonEndpoint} from './nesting/level-access.js'
import {clientVariables} from './nesting/client-variables.js'
import {ImageLoader, type LoadReport} from './nesting/load.js'
import {Nests} from './nesting/nest.js'
import {parsePortMapping} from './nesting/ports.js'
import type {PrivilegeRequest} from './nesting/privilege.js'
import {parseUpRequest} from './nesting/request.js'
import {parseBudget} from './nesting/budgets.js'
import {parseSockets} from './nesting/sockets.js'
import {parseDataRoot, type StorageDriver} from './nesting/storage.js'
import type {Suite} from './nesting/suites.js'

export {
  BindAddressUnavailable,
  ContextTaken,
  DaemonsNotExposed,
  EngineUnreachable,
  ExitCode,
  ImageMissing,
  InceptionError,
  Interrupted,
  LevelFailed,
  LevelOutOfRange,
  NestExists,
  NestNotFound,
  PortTaken,
  SocketFolderUnusable,
  SocketsNeedALocalEngine,
  UsageError,
} from './nesting/errors.js'
export type {LoadReport} from './nesting/load.js'
export type {NestStatus, LevelStatus} from './nesting/status.js'

/** What `up` takes: the CLI's flags, as values. Left out: the CLI's defaults (but `contexts`). */
export interface UpOptions {
  /** Default "inception". */
  name?: string
  depth?: number
  /** As `-p`: "HOST:INNER" or "HOST:INNER@LEVEL". */
  ports?: string[]
  privilege?: PrivilegeRequest
  storageDriver?: StorageDriver
  /** "volume", "tmpfs" or "loop:SIZE". */
  dataRoot?: string
  suite?: Suite
  image?: string
  dockerdArgs?: string[]
  mtu?: number
  network?: string
  timeoutSeconds?: number
  exposeDaemons?: boolean
  /** "auto" (default), "none" or a folder, as `--sockets`. */
  sockets?: string
  /** Docker contexts for the levels, as the CLI writes them; default false here. */
  contexts?: boolean
  /** The docker context of the engine to use (default: DOCKER_HOST, else the current context). */
  context?: string
  /** As `--memory`, `--cpus`, `--pids`: "1g", "512m@3"; "1.5"; "512". */
  memory?: string[]
  cpus?: string[]
  pids?: string[]
}

/** dockerode's constructor options for one level's engine. */
export type DockerodeOptions = {socketPath: string} | {protocol: 'https'; host: string; port: number; ca: string; cert: string; key: string}

/** How a client reaches one level's engine. */
export interface LevelEndpoint {
  level: number
  /** DOCKER_HOST: unix:///.../level-K.sock, or tcp://127.0.0.1:PORT with mutual TLS. */
  dockerHost: string
  /** The variables `inception env --level K --json` prints: for the docker CLI, compose, testcontainers. */
  env: Record<string, string>
  dockerode: DockerodeOptions
}

export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** A nest that runs: its levels' endpoints, commands and images into them, and its end. */
export class StartedNest implements AsyncDisposable {
  private constructor(
    private readonly nests: Nests,
    private readonly engine: Engine,
    readonly name: string,
    readonly depth: number,
    private readonly endpoints: Map<number, LevelEndpoint | Error>,
  ) {}

  /** The nest called NAME on the engine, as it runs now. */
  static async of(nests: Nests, engine: Engine, name: string): Promise<StartedNest> {
    const depth = await nests.runningDepth(name)
    const endpoints = new Map<number, LevelEndpoint | Error>()
    for (let level = 1; level <= depth; level++) {
      endpoints.set(level, await nests.daemonEndpoint(name, level).then(levelEndpoint, (error: unknown) => error as Error))
    }
    return new StartedNest(nests, engine, name, depth, endpoints)
  }

  /** Level K's endpoint; throws the reason when the nest has none for it (a remote engine without exposeDaemons). */
  level(level: number): LevelEndpoint {
    const endpoint = this.endpoints.get(level)
    if (endpoint === undefined) throw new RangeError(`level ${level} is outside nest "${this.name}", which has levels 1 to ${this.depth}`)
    if (endpoint instanceof Error) throw endpoint
    return endpoint
  }

  /** Runs ARGV at LEVEL (as `inception exec`); its exit code and output. */
  async exec(level: number, argv: string[], options: {stdin?: string | Buffer; timeoutMs?: number} = {}): Promise<ExecResult> {
    const stdout = new Capture()
    const stderr = new Capture()
    const stdin = options.stdin === undefined ? undefined : Readable.from([options.stdin])
    const exitCode = await this.nests.exec(this.name, level, argv, {stdin, stdout, stderr, timeoutMs: options.timeoutMs})
    return {exitCode, stdout: stdout.text(), stderr: stderr.text()}
  }

  /** Host images into one level (default: the innermost) or every level, as `inception load`. */
  load(images: string[], target: {level?: number; allLevels?: boolean} = {}): Promise<LoadReport> {
    const where = target.allLevels
      ? {kind: 'all' as const}
      : target.level === undefined
        ? {kind: 'innermost' as const}
        : {kind: 'level' as const, level: target.level}
    return new ImageLoader(this.engine, this.nests).load(this.name, images, where)
  }

  /** Removes the nest: every level, its volume, sockets and contexts. */
  async down(): Promise<void> {
    await this.nests.down(this.name)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down()
  }
}

function levelEndpoint(endpoint: DaemonEndpoint): LevelEndpoint {
  const dockerode: DockerodeOptions =
    endpoint.certPath === undefined
      ? {socketPath: endpoint.host.slice('unix://'.length)}
      : ({
          protocol: 'https',
          host: new URL(endpoint.host).hostname,
          port: Number(new URL(endpoint.host).port),
          ...Object.fromEntries((['ca', 'cert', 'key'] as const).map((file) => [file, readFileSync(`${endpoint.certPath}/${file}.pem`, 'utf8')])),
        } as DockerodeOptions)
  return {level: endpoint.level, dockerHost: endpoint.host, env: clientVariables(endpoint).set, dockerode}
}

/** Starts a nest, as `inception up`, and resolves once every level's engine answers. */
export async function up(options: UpOptions = {}): Promise<StartedNest> {
  const request = parseUpRequest({
    name: options.name,
    depth: options.depth,
    ports: options.ports?.map((text) => parsePortMapping(text)),
    privilege: options.privilege,
    storageDriver: options.storageDriver,
    dataRoot: options.dataRoot === undefined ? undefined : parseDataRoot(options.dataRoot),
    suite: options.suite,
    image: options.image,
    dockerdArgs: options.dockerdArgs,
    mtu: options.mtu,
    network: options.network,
    timeoutSeconds: options.timeoutSeconds,
    exposeDaemons: options.exposeDaemons,
    sockets: options.sockets === undefined ? undefined : parseSockets(options.sockets),
    contexts: options.contexts ?? false,
    budgets: {
      memory: options.memory?.map((text) => parseBudget('memory', text)),
      cpus: options.cpus?.map((text) => parseBudget('cpus', text)),
      pids: options.pids?.map((text) => parseBudget('pids', text)),
    },
  })
  const engine = await connectEngine(process.env, 5000, options.context)
  const nests = new Nests(engine)
  await nests.up(request)
  try {
    return await StartedNest.of(nests, engine, request.name)
  } catch (error) {
    await nests.down(request.name)
    throw error
  }
}

/** A nest that runs already (started by the CLI, or by another process). */
export async function attach(name: string, options: {context?: string} = {}): Promise<StartedNest> {
  const engine = await connectEngine(process.env, 5000, options.context)
  return StartedNest.of(new Nests(engine), engine, name)
}
