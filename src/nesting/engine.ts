import {type Readable, Writable} from 'node:stream'

import type {Labels} from './contract.js'
import type {EngineEndpoint} from './endpoint.js'
import type {EngineRegistrySettings} from './registry-settings.js'

/**
 * The seam between the domain and a Docker engine. Planning and orchestration talk only to this
 * interface: unit tests pass a fake, everything else uses the dockerode implementation (dockerode-engine.ts).
 */
export interface Engine {
  /** Where the engine is, as a user would write it (unix:///var/run/docker.sock, tcp://...). */
  readonly address: string
  info(): Promise<EngineInfo>
  imageExists(reference: string): Promise<boolean>
  /** Pulls an image; not ok, with the reason, when no registry provides it within the bound. */
  pullImage(reference: string, timeoutMs: number): Promise<PullOutcome>
  /** An image's ID, size, tags and labels, or undefined when the engine does not have it. */
  inspectImage(reference: string): Promise<ImageDetails | undefined>
  /** What `docker save` writes for these images: one tar stream, read as it is produced. */
  saveImages(references: string[]): Promise<Readable>
  /** Removes an image unless a container uses it; false when it stays. */
  removeImage(reference: string): Promise<boolean>
  /** Imports a root file system tar file as an image. */
  importImage(tarPath: string, reference: string): Promise<void>
  /** Builds an image from a directory through the engine API; progress lines go to onLine. */
  buildImage(contextDir: string, tag: string, buildArgs: Record<string, string>, onLine: (line: string) => void): Promise<void>
  listContainers(labelFilters: string[]): Promise<ContainerSummary[]>
  listNetworkSubnets(): Promise<string[]>
  /** Whether the engine has a network of this name. */
  networkExists(name: string): Promise<boolean>
  createVolume(name: string, labels: Labels): Promise<void>
  removeVolume(name: string): Promise<void>
  listVolumes(labelFilters: string[]): Promise<VolumeSummary[]>
  /** Refusals are EngineRefusal: NameInUse, PortInUse, AddressUnavailable or CreateRefused. */
  createContainer(spec: ContainerSpec): Promise<string>
  /** Refusals are EngineRefusal: PortInUse, AddressUnavailable or StartRefused. */
  startContainer(id: string): Promise<void>
  /** Writes files into a created container, before it starts. */
  putFiles(id: string, directory: string, files: Record<string, {content: string; mode: number}>): Promise<void>
  /**
   * The files directly in a container's directory, by name, read through the engine's archive
   * API: no process runs in the container, but the engine may start one of its own per read
   * (dockerd re-executes itself to write the tar), so it is for a few reads, not for polling.
   * Undefined when the directory is not there.
   */
  readFiles(id: string, directory: string): Promise<Record<string, string> | undefined>
  /** SIGTERM, then SIGKILL after `timeoutSeconds`; a container stopped or gone already is no error. */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>
  removeContainer(id: string): Promise<void>
  inspectContainer(id: string): Promise<ContainerDetails | undefined>
  /** Runs a command in a running container, streaming; resolves with its exit code. */
  exec(id: string, cmd: string[], io: ExecIo): Promise<number>
  logs(id: string, options: {follow: boolean; tail?: number}, out: Writable, err: Writable): Promise<void>
  /** Creates and removes a container without starting it: does the engine accept this spec? */
  check(spec: ContainerSpec): Promise<ProbeOutcome>
  /**
   * Creates, runs and removes a throwaway container; reports how it went rather than throwing.
   * With `copyOut`, the path's contents as the engine archives them (a tar), read once it has ended.
   */
  probe(spec: ContainerSpec, timeoutMs: number, copyOut?: string): Promise<ProbeOutcome>
}

export interface EngineInfo {
  /** The engine's own ID: it keys what the CLI keeps per engine (the nests' client certificates). */
  id: string
  serverVersion: string
  memTotalBytes: number
  cpus: number
  storageDriver: string
  cgroupVersion: string
  /** Which limits the engine's cgroups can enforce on a container (docker info's MemoryLimit, CpuCfsQuota, CPUSet, PidsLimit). */
  limits: {memory: boolean; cpuQuota: boolean; cpuset: boolean; pids: boolean}
  /**
   * What the engine runs on and how it isolates containers: with the ID and version, they tell
   * when the engine or its host changed (a cached privilege decision is then made again).
   */
  kernelVersion: string
  operatingSystem: string
  cgroupDriver: string
  defaultRuntime: string
  /** "name=seccomp,profile=builtin", "name=rootless", ... as the engine lists them. */
  securityOptions: string[]
  /** Its own registry mirrors, insecure registries and proxies, which a nest inherits (registry-settings.ts). */
  registry: EngineRegistrySettings
}

export interface ImageDetails {
  id: string
  sizeBytes: number
  tags: string[]
  labels: Labels
}

export interface VolumeSummary {
  name: string
  labels: Labels
}

export interface ContainerSummary {
  id: string
  name: string
  state: string
  labels: Labels
}

export interface ContainerDetails {
  id: string
  name: string
  createdMs: number
  running: boolean
  status: string
  exitCode: number
  pid: number
  labels: Labels
  /** Published ports: "23751/tcp" -> [{HostIp, HostPort}], as the engine chose them. */
  ports: Record<string, Array<{HostIp: string; HostPort: string}>>
  /** Its IPv4 addresses on the engine's networks (none on --network none). */
  addresses: string[]
}

export interface HostSettings {
  privileged?: boolean
  capAdd?: string[]
  capDrop?: string[]
  securityOpt?: string[]
  deviceCgroupRules?: string[]
  cgroupnsMode?: 'private' | 'host'
  binds?: string[]
  /** Bind mounts whose source must exist on the engine's host (a `binds` source it would make, empty). */
  mounts?: Array<{source: string; target: string}>
  portBindings?: Record<string, Array<{HostIp: string; HostPort: string}>>
  pidMode?: string
  autoRemove?: boolean
  /** [] unmasks /proc and /sys paths (the docker CLI's `--security-opt systempaths=unconfined`). */
  maskedPaths?: string[]
  readonlyPaths?: string[]
  /** Paths mounted as tmpfs: "/var/lib/docker" -> "" (default options). */
  tmpfs?: Record<string, string>
  /** The network the container joins instead of the default bridge. */
  networkMode?: string
  /** Resource limits set explicitly rather than left to the engine's defaults. */
  ulimits?: Ulimit[]
  /** Bounds (budgets.ts): bytes, bytes of memory and swap together, billionths of CPUs, a CPU list, tasks. */
  memory?: number
  memorySwap?: number
  nanoCpus?: number
  cpusetCpus?: string
  pidsLimit?: number
  /** Host devices the container gets, each at the same path. */
  devices?: string[]
}

export interface Ulimit {
  name: 'nofile' | 'nproc'
  soft: number
  hard: number
}

export interface ContainerSpec {
  name?: string
  image: string
  entrypoint?: string[]
  cmd?: string[]
  env?: string[]
  labels?: Labels
  exposedPorts?: string[]
  host: HostSettings
}

export interface ExecIo {
  stdin?: Readable
  stdout: Writable
  stderr: Writable
  tty?: boolean
  /** Terminal size for a TTY exec. */
  size?: {columns: number; rows: number}
  timeoutMs?: number
  /** Variables set for the command besides the container's (NAME=VALUE). */
  env?: string[]
}

export interface PullOutcome {
  ok: boolean
  error?: string
}

export interface ProbeOutcome {
  ok: boolean
  exitCode?: number
  output: string
  error?: string
  /** The tar of `copyOut`, when asked for and the container ended well. */
  archive?: Buffer
}

/*
 * How an engine refuses to create or start a container, in the seam's own words: the adapter
 * turns its client's error shapes (status codes, message texts) into these, so nothing above the
 * seam reads them. An engine that cannot be reached at all is EngineUnreachable (errors.ts).
 */

/** What was asked of the engine when it refused. */
export type ContainerStep = 'create' | 'start'

/** The engine refused to create or start a container; `engineSays` is its own message, on one line. */
export class EngineRefusal extends Error {
  constructor(
    readonly step: ContainerStep,
    readonly engineSays: string,
  ) {
    super(`the engine refused to ${step} the container: ${engineSays}`)
    this.name = new.target.name
  }
}

/** Another container has the name asked for. */
export class NameInUse extends EngineRefusal {
  constructor(
    readonly containerName: string | undefined,
    engineSays: string,
  ) {
    super('create', engineSays)
  }
}

/**
 * A host port the container publishes is held by another container or process. `address` is
 * the host address the engine named (undefined when it named none, as in "listen tcp4 :8080").
 */
export class PortInUse extends EngineRefusal {
  constructor(
    step: ContainerStep,
    readonly address: string | undefined,
    readonly port: number,
    engineSays: string,
  ) {
    super(step, engineSays)
  }
}

/** A host address a port is published on is not an address of the engine's host. */
export class AddressUnavailable extends EngineRefusal {
  constructor(
    step: ContainerStep,
    readonly address: string | undefined,
    engineSays: string,
  ) {
    super(step, engineSays)
  }
}

/** Any other refusal to create a container (a bad setting, an image gone meanwhile...). */
export class CreateRefused extends EngineRefusal {
  constructor(engineSays: string) {
    super('create', engineSays)
  }
}

/** Any other refusal to start a created container (its runtime failed, a mount is missing...). */
export class StartRefused extends EngineRefusal {
  constructor(engineSays: string) {
    super('start', engineSays)
  }
}

/** Dials an engine at an endpoint and checks that it answers: how the domain reaches engines other than its own. */
export type EngineConnector = (endpoint: EngineEndpoint) => Promise<Engine>

/** A Writable that keeps what is written, for captured exec output. */
export class Capture extends Writable {
  private readonly chunks: Buffer[] = []
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk))
    callback()
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8')
  }
}
