import type {EngineRegistrySettings} from '../../src/nesting/registry-settings.js'
import {Readable, type Writable} from 'node:stream'

import {
  type ContainerDetails,
  type ContainerSpec,
  type ContainerSummary,
  type Engine,
  type EngineInfo,
  type ExecIo,
  type ImageDetails,
  NameInUse,
  type ProbeOutcome,
  type PullOutcome,
  type VolumeSummary,
} from '../../src/nesting/engine.js'
import {BOARD_READ_SCRIPT, BOARD_WATCH_SCRIPT} from '../../src/nesting/board.js'
import {BOARD_DIR, BOARD_FILE, LABEL, type Labels} from '../../src/nesting/contract.js'

/**
 * An error as dockerode makes it of an engine's answer (docker-modem's buildPayload): what the
 * adapter's translation (dockerode-errors.ts) reads.
 */
export function dockerodeError(statusCode: number, message: string, reason = 'server error'): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) ${reason} - ${message} `), {reason, statusCode, json: {message}})
}

/**
 * An in-memory engine for unit tests of planning and orchestration: it records what is asked
 * of it and answers probes and execs from scripts the test sets.
 */
export class FakeEngine implements Engine {
  readonly address = 'unix:///fake.sock'
  readonly containers = new Map<string, ContainerSummary & {spec: ContainerSpec}>()
  readonly volumes = new Map<string, Labels>()
  readonly calls: string[] = []
  images = new Set(['inception:test'])
  networkSubnets = ['172.17.0.0/16']
  memTotalBytes = 24 * 2 ** 30
  probeAnswer: (spec: ContainerSpec) => ProbeOutcome = () => ({ok: true, output: ''})
  /** The engine's own registry settings, as its info tells them. */
  registry: EngineRegistrySettings = {mirrors: [], insecure: [], httpProxy: '', httpsProxy: '', noProxy: ''}
  limits: EngineInfo['limits'] = {memory: true, cpuQuota: true, cpuset: true, pids: true}
  execAnswer: (id: string, cmd: string[]) => {code: number; stdout?: string} = () => ({code: 0})
  private nextId = 1

  /** What identifies the engine and its host; a test changes a field to play an upgrade or another host. */
  identity = {
    id: 'FAKE:ENGINE',
    serverVersion: 'fake',
    kernelVersion: '6.1.0-fake',
    operatingSystem: 'Fake Linux',
    cgroupDriver: 'cgroupfs',
    defaultRuntime: 'runc',
    securityOptions: ['name=seccomp,profile=builtin'],
  }

  async info(): Promise<EngineInfo> {
    return {
      ...this.identity,
      memTotalBytes: this.memTotalBytes,
      cpus: 2,
      storageDriver: 'overlay2',
      cgroupVersion: '1',
      limits: this.limits,
      registry: this.registry,
    }
  }

  async imageExists(reference: string): Promise<boolean> {
    return this.images.has(reference)
  }

  /** What a pull answers; by default no registry is reachable. */
  pullAnswer: PullOutcome = {ok: false, error: 'no registry'}

  async pullImage(reference: string): Promise<PullOutcome> {
    this.calls.push(`pull ${reference}`)
    if (this.pullAnswer.ok) this.images.add(reference)
    return this.pullAnswer
  }

  /** Image IDs other than the one made up from the reference: a test sets one to play a rebuilt image. */
  readonly imageIds = new Map<string, string>()

  /** Images that `inception build` did not make (no context label): a test adds one to play a plain image. */
  readonly plainImages = new Set<string>()

  async inspectImage(reference: string): Promise<ImageDetails | undefined> {
    return this.images.has(reference)
      ? {
          id: this.imageIds.get(reference) ?? `sha256:${reference.length.toString(16).padStart(64, '0')}`,
          sizeBytes: 1000,
          tags: [reference],
          labels: this.plainImages.has(reference) ? {} : {[LABEL.context]: 'fake'},
        }
      : undefined
  }

  async removeImage(reference: string): Promise<boolean> {
    this.calls.push(`removeImage ${reference}`)
    return this.images.delete(reference)
  }

  async saveImages(references: string[]): Promise<Readable> {
    this.calls.push(`save ${references.join(' ')}`)
    return Readable.from([Buffer.alloc(1000)])
  }

  async importImage(_tar: string, reference: string): Promise<void> {
    this.images.add(reference)
  }

  async buildImage(_dir: string, tag: string): Promise<void> {
    this.images.add(tag)
  }

  private matches(labels: Labels, filters: string[]): boolean {
    return filters.every((f) => {
      const [key = '', value] = f.split('=')
      return value === undefined ? key in labels : labels[key] === value
    })
  }

  async listContainers(filters: string[]): Promise<ContainerSummary[]> {
    return [...this.containers.values()].filter((c) => this.matches(c.labels, filters))
  }

  async listNetworkSubnets(): Promise<string[]> {
    return this.networkSubnets
  }

  networks = new Set(['bridge', 'host', 'none'])

  async networkExists(name: string): Promise<boolean> {
    return this.networks.has(name)
  }

  async createVolume(name: string, labels: Labels): Promise<void> {
    this.calls.push(`createVolume ${name}`)
    this.volumes.set(name, labels)
  }

  async removeVolume(name: string): Promise<void> {
    this.calls.push(`removeVolume ${name}`)
    this.volumes.delete(name)
  }

  async listVolumes(filters: string[]): Promise<VolumeSummary[]> {
    return [...this.volumes.entries()].filter(([, labels]) => this.matches(labels, filters)).map(([name, labels]) => ({name, labels}))
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    if ([...this.containers.values()].some((c) => c.name === spec.name)) {
      throw new NameInUse(spec.name, `Conflict. The container name "/${spec.name}" is already in use`)
    }
    const id = `c${this.nextId++}`.padEnd(64, '0')
    this.calls.push(`createContainer ${spec.name}`)
    this.containers.set(id, {id, name: spec.name ?? id, state: 'created', labels: spec.labels ?? {}, spec})
    return id
  }

  readonly files = new Map<string, string>()
  stdinBytes = 0
  /** Every exec's whole command, in order. */
  readonly execs: string[][] = []

  async putFiles(id: string, directory: string, files: Record<string, {content: string; mode: number}>): Promise<void> {
    for (const [name, {content}] of Object.entries(files)) this.files.set(`${id.slice(0, 2)}:${directory}/${name}`, content)
  }

  /** The board's files as the board script's answer (execAnswer) describes them: one answer for both ways of reading it. */
  async readFiles(id: string, directory: string): Promise<Record<string, string> | undefined> {
    this.calls.push(`readFiles ${directory}`)
    if (directory !== BOARD_DIR) return undefined
    const files: Record<string, string> = {}
    for (const line of (this.execAnswer(id, ['sh', '-c', BOARD_READ_SCRIPT]).stdout ?? '').split('\n')) {
      const match = /^(state|info) (\d+) (.*)$/.exec(line)
      if (!match) continue
      const file = `${match[1] === 'state' ? BOARD_FILE.statePrefix : BOARD_FILE.infoPrefix}${match[2]}`
      files[file] = match[1] === 'state' ? `${match[3]}\n` : `${files[file] ?? ''}${match[3]}\n`
    }
    return files
  }

  async startContainer(id: string): Promise<void> {
    this.calls.push(`startContainer ${id.slice(0, 2)}`)
    this.containers.get(id)!.state = 'running'
  }

  async stopContainer(id: string): Promise<void> {
    this.calls.push(`stopContainer ${id.slice(0, 2)}`)
    const c = this.containers.get(id)
    if (c) c.state = 'exited'
  }

  async removeContainer(id: string): Promise<void> {
    this.calls.push(`removeContainer ${id.slice(0, 2)}`)
    this.containers.delete(id)
  }

  async inspectContainer(id: string): Promise<ContainerDetails | undefined> {
    const c = this.containers.get(id)
    if (!c) return undefined
    return {
      id,
      name: c.name,
      createdMs: Date.now(),
      ports: {},
      addresses: ['172.17.0.2'],
      running: c.state === 'running',
      status: c.state,
      exitCode: 0,
      pid: 1,
      labels: c.labels,
    }
  }

  async exec(id: string, cmd: string[], io: ExecIo): Promise<number> {
    this.calls.push(`exec ${cmd.join(' ').slice(0, 60)}`)
    this.execs.push(cmd)
    // Reads what is sent, as a real command would, so a sender's stream flows to its end.
    if (io.stdin) for await (const chunk of io.stdin) this.stdinBytes += (chunk as Buffer).length
    // The board's watch prints the board as the board script's answer describes it, once, and ends.
    if (cmd[2] === BOARD_WATCH_SCRIPT) {
      const board = (this.execAnswer(id, ['sh', '-c', BOARD_READ_SCRIPT]).stdout ?? '').split('\n').filter((line) => /^(state|info) /.test(line))
      io.stdout.write(`${board.join('\n')}\n\n`)
      return 0
    }
    const answer = this.execAnswer(id, cmd)
    if (answer.stdout) io.stdout.write(answer.stdout)
    return answer.code
  }

  async logs(_id: string, _options: {follow: boolean}, out: Writable): Promise<void> {
    out.write('fake log line\n')
  }

  async check(spec: ContainerSpec): Promise<ProbeOutcome> {
    return this.probe(spec)
  }

  async probe(spec: ContainerSpec): Promise<ProbeOutcome> {
    this.calls.push(`probe ${spec.host.privileged ? 'privileged' : spec.host.pidMode === 'host' ? 'bounding' : 'caps'}`)
    return this.probeAnswer(spec)
  }
}
