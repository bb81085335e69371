// First: it keeps dockerode from loading what inception never uses (see the module).
import './lazy-dependencies.js'

import Docker from 'dockerode'
import {readdirSync} from 'node:fs'
import {type Readable, Writable} from 'node:stream'

import {dockerodeOptions, type EngineEndpoint, resolveEndpoint} from './endpoint.js'
import {
  Capture,
  type ContainerDetails,
  type ContainerSpec,
  type ContainerSummary,
  type Engine,
  type EngineInfo,
  engineMessage,
  type ExecIo,
  type ImageDetails,
  type ProbeOutcome,
  type PullOutcome,
  statusCode,
  type VolumeSummary,
} from './engine.js'
import {
  attachStreams,
  buffered,
  demuxBuffer,
  ENGINE_CALL_TIMEOUT_MS,
  errorText,
  filesOfArchive,
  hostConfig,
  isConnectionError,
  progressEvents,
  tarOfFiles,
  withTimeout,
} from './dockerode-wire.js'
import {EngineUnreachable} from './errors.js'
import type {Labels} from './contract.js'

/*
 * The Engine seam implemented with dockerode: one engine reached through its API, every request
 * bounded in time, and the engine's errors turned into the domain's.
 */

/**
 * Connects to the engine named by --context or the environment (as the docker CLI chooses it)
 * and checks that it answers, within a bound: a dead TCP address must fail fast, not hang.
 */
export async function connectEngine(env: NodeJS.ProcessEnv = process.env, timeoutMs = 5000, context?: string): Promise<Engine> {
  return connectEndpoint(resolveEndpoint(context, env), timeoutMs)
}

export async function connectEndpoint(endpoint: EngineEndpoint, timeoutMs = 5000): Promise<Engine> {
  let docker: Docker
  try {
    docker = new Docker(dockerodeOptions(endpoint))
  } catch (error) {
    throw new EngineUnreachable(endpoint.address, errorText(error))
  }
  const engine = new DockerodeEngine(docker, endpoint.address)
  await engine.ping(timeoutMs)
  return engine
}

export class DockerodeEngine implements Engine {
  constructor(
    private readonly docker: Docker,
    readonly address: string,
  ) {}

  async ping(timeoutMs: number): Promise<void> {
    try {
      await withTimeout(this.docker.ping(), timeoutMs, 'ping')
    } catch (error) {
      throw new EngineUnreachable(this.address, errorText(error))
    }
  }

  /**
   * Every request to the engine is bounded: an engine that accepts the connection and then says
   * nothing must give an error, not a hang. Streams (exec output, logs -f, builds) are bounded by
   * their callers instead.
   */
  private async call<T>(what: string, action: () => Promise<T>, timeoutMs = ENGINE_CALL_TIMEOUT_MS): Promise<T> {
    try {
      return await withTimeout(action(), timeoutMs, what)
    } catch (error) {
      if (isConnectionError(error)) throw new EngineUnreachable(this.address, `${what}: ${errorText(error)}`)
      throw error
    }
  }

  async info(): Promise<EngineInfo> {
    // dockerode types the answer as any: these are the fields read, each of which an engine may leave out.
    const info = (await this.call('info', () => this.docker.info())) as {
      ID?: string
      ServerVersion?: string
      MemTotal?: number
      NCPU?: number
      Driver?: string
      CgroupVersion?: string
      KernelVersion?: string
      OperatingSystem?: string
      CgroupDriver?: string
      DefaultRuntime?: string
      SecurityOptions?: string[] | null
    }
    return {
      id: String(info.ID ?? ''),
      serverVersion: String(info.ServerVersion ?? ''),
      memTotalBytes: Number(info.MemTotal ?? 0),
      cpus: Number(info.NCPU ?? 0),
      storageDriver: String(info.Driver ?? ''),
      cgroupVersion: String(info.CgroupVersion ?? '1'),
      kernelVersion: String(info.KernelVersion ?? ''),
      operatingSystem: String(info.OperatingSystem ?? ''),
      cgroupDriver: String(info.CgroupDriver ?? ''),
      defaultRuntime: String(info.DefaultRuntime ?? ''),
      securityOptions: (info.SecurityOptions ?? []).map(String),
    }
  }

  async imageExists(reference: string): Promise<boolean> {
    return (await this.inspectImage(reference)) !== undefined
  }

  async inspectImage(reference: string): Promise<ImageDetails | undefined> {
    try {
      const image = await this.call('image inspect', () => this.docker.getImage(reference).inspect())
      return {id: image.Id, sizeBytes: Number(image.Size ?? 0), tags: image.RepoTags ?? [], labels: image.Config?.Labels ?? {}}
    } catch (error) {
      if (statusCode(error) === 404) return undefined
      throw error
    }
  }

  async removeImage(reference: string): Promise<boolean> {
    try {
      await this.call('remove image', () => this.docker.getImage(reference).remove())
      return true
    } catch (error) {
      // 409: a container uses it; 404: gone already.
      if (statusCode(error) === 409 || statusCode(error) === 404) return false
      throw error
    }
  }

  async saveImages(references: string[]): Promise<Readable> {
    // GET /images/get?names=...: dockerode has it (getImages), its type definitions do not.
    const docker = this.docker as unknown as {getImages(options: {names: string[]}): Promise<Readable>}
    return this.call('save images', () => docker.getImages({names: references}))
  }

  /**
   * Some engines (Podman's compatible API) answer a failed pull with 200 and put the failure in
   * the progress stream: an event with an `error` field. Such a pull has failed too.
   */
  async pullImage(reference: string, timeoutMs: number): Promise<PullOutcome> {
    try {
      const stream = await withTimeout(
        this.call('pull', () => this.docker.pull(reference)),
        timeoutMs,
        'pull',
      )
      const events = await withTimeout(progressEvents(this.docker.modem, stream), timeoutMs, 'pull')
      const failed = events.find((event) => event.error ?? event.errorDetail?.message)
      if (failed) return {ok: false, error: failed.error ?? failed.errorDetail?.message}
      return {ok: true}
    } catch (error) {
      if (error instanceof EngineUnreachable) throw error
      return {ok: false, error: engineMessage(error).split('\n')[0]}
    }
  }

  async importImage(tarPath: string, reference: string): Promise<void> {
    // The whole reference as `repo` (the API allows a tag in it): Podman ignores a separate `tag`
    // and would name the image REPO:latest.
    const stream = await this.call('import', () => this.docker.importImage(tarPath, {repo: reference}), 600_000)
    await progressEvents(this.docker.modem, stream)
  }

  async buildImage(contextDir: string, tag: string, buildArgs: Record<string, string>, onLine: (line: string) => void): Promise<void> {
    const src = readdirSync(contextDir)
    const stream = await this.call(
      'build',
      () => this.docker.buildImage({context: contextDir, src}, {t: tag, buildargs: buildArgs, rm: true, forcerm: true}),
      600_000,
    )
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (error, output: Array<{error?: string}>) => {
          const failed = error ?? output.find((o) => o.error)?.error
          if (failed) reject(new Error(typeof failed === 'string' ? failed : failed.message))
          else resolve()
        },
        (event: {stream?: string; status?: string}) => {
          for (const line of (event.stream ?? event.status ?? '').split('\n')) if (line.trim()) onLine(line.trim())
        },
      )
    })
  }

  async listContainers(labelFilters: string[]): Promise<ContainerSummary[]> {
    const containers = await this.call('list containers', () => this.docker.listContainers({all: true, filters: JSON.stringify({label: labelFilters})}))
    return containers.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      state: c.State,
      labels: c.Labels ?? {},
    }))
  }

  async listNetworkSubnets(): Promise<string[]> {
    const networks = await this.call('list networks', () => this.docker.listNetworks())
    return networks.flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s.length > 0))
  }

  async networkExists(name: string): Promise<boolean> {
    try {
      await this.call('inspect network', () => this.docker.getNetwork(name).inspect())
      return true
    } catch (error) {
      if (statusCode(error) === 404) return false
      throw error
    }
  }

  async createVolume(name: string, labels: Labels): Promise<void> {
    await this.call('create volume', () => this.docker.createVolume({Name: name, Labels: labels}))
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.call('remove volume', () => this.docker.getVolume(name).remove({force: true}))
    } catch (error) {
      if (statusCode(error) !== 404) throw error
    }
  }

  async listVolumes(labelFilters: string[]): Promise<VolumeSummary[]> {
    const result = await this.call('list volumes', () => this.docker.listVolumes({filters: JSON.stringify({label: labelFilters})}))
    return (result.Volumes ?? []).map((v) => ({name: v.Name, labels: v.Labels ?? {}}))
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    const container = await this.call('create container', () =>
      this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Entrypoint: spec.entrypoint,
        Cmd: spec.cmd,
        Env: spec.env,
        Labels: spec.labels,
        ExposedPorts: Object.fromEntries((spec.exposedPorts ?? []).map((p) => [p, {}])),
        HostConfig: hostConfig(spec.host),
      }),
    )
    return container.id
  }

  async putFiles(id: string, directory: string, files: Record<string, {content: string; mode: number}>): Promise<void> {
    const pack = tarOfFiles(directory, files)
    await this.call('put files', () => this.docker.getContainer(id).putArchive(pack as unknown as NodeJS.ReadableStream, {path: '/'}))
  }

  async readFiles(id: string, directory: string): Promise<Record<string, string> | undefined> {
    try {
      return await this.call('read files', async () => filesOfArchive(await this.docker.getContainer(id).getArchive({path: directory})))
    } catch (error) {
      if (statusCode(error) === 404) return undefined
      throw error
    }
  }

  async startContainer(id: string): Promise<void> {
    await this.call('start container', () => this.docker.getContainer(id).start())
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await this.call('stop container', () => this.docker.getContainer(id).stop({t: timeoutSeconds}), (timeoutSeconds + 30) * 1000)
    } catch (error) {
      // 304: already stopped; 404: already gone. Both are the state asked for.
      if (statusCode(error) !== 304 && statusCode(error) !== 404) throw error
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.call('remove container', () => this.docker.getContainer(id).remove({force: true, v: true}))
    } catch (error) {
      // 404: gone already; 409: removal already in progress (AutoRemove).
      if (statusCode(error) !== 404 && statusCode(error) !== 409) throw error
    }
  }

  async inspectContainer(id: string): Promise<ContainerDetails | undefined> {
    try {
      const c = await this.call('inspect container', () => this.docker.getContainer(id).inspect())
      return {
        id: c.Id,
        name: c.Name.replace(/^\//, ''),
        createdMs: Date.parse(c.Created),
        running: c.State.Running,
        status: c.State.Status,
        exitCode: c.State.ExitCode,
        pid: c.State.Pid,
        labels: c.Config.Labels ?? {},
        ports: c.NetworkSettings?.Ports ?? {},
      }
    } catch (error) {
      if (statusCode(error) === 404) return undefined
      throw error
    }
  }

  async exec(id: string, cmd: string[], io: ExecIo): Promise<number> {
    const container = this.docker.getContainer(id)
    const exec = await this.call('exec', () =>
      container.exec({
        Cmd: cmd,
        Env: io.env,
        AttachStdin: io.stdin !== undefined,
        AttachStdout: true,
        AttachStderr: true,
        Tty: io.tty ?? false,
      }),
    )
    const stream = await this.call('exec start', () => exec.start({hijack: true, stdin: io.stdin !== undefined, Tty: io.tty ?? false}))
    if (io.tty && io.size) {
      await exec.resize({h: io.size.rows, w: io.size.columns}).catch(() => undefined)
    }
    const finished = attachStreams(this.docker.modem, stream, io)
    const timeout = io.timeoutMs
    await (timeout === undefined ? finished : withTimeout(finished, timeout, `exec ${cmd.join(' ')}`))
    if (io.stdin) io.stdin.unpipe(stream)
    const result = await this.call('exec inspect', () => exec.inspect())
    return result.ExitCode ?? 0
  }

  async logs(id: string, options: {follow: boolean; tail?: number}, out: Writable, err: Writable): Promise<void> {
    const container = this.docker.getContainer(id)
    const tail = options.tail
    if (options.follow) {
      const stream = await this.call('logs', () => container.logs({follow: true, stdout: true, stderr: true, tail}))
      this.docker.modem.demuxStream(stream, out, err)
      await new Promise<void>((resolve, reject) => {
        stream.on('end', resolve)
        stream.on('error', reject)
      })
      return
    }
    const buffer = await this.call('logs', () => container.logs({follow: false, stdout: true, stderr: true, tail}))
    demuxBuffer(buffer, out, err)
  }

  async check(spec: ContainerSpec): Promise<ProbeOutcome> {
    let id: string | undefined
    try {
      id = await this.createContainer(spec)
      return {ok: true, output: ''}
    } catch (error) {
      if (error instanceof EngineUnreachable) throw error
      return {ok: false, output: '', error: engineMessage(error)}
    } finally {
      if (id) await this.removeContainer(id).catch(() => undefined)
    }
  }

  async probe(spec: ContainerSpec, timeoutMs: number, copyOut?: string): Promise<ProbeOutcome> {
    let id: string | undefined
    try {
      id = await this.createContainer(spec)
      const container = this.docker.getContainer(id)
      // The output is read from the container's own streams, attached before it starts, as
      // `docker run` does: the log file may still be empty when the wait returns (seen under
      // load: a probe that printed its host's bounding set read back as nothing, twice running).
      const out = new Capture()
      const stream = await this.call('attach', () => container.attach({stream: true, stdout: true, stderr: true}))
      const ended = new Promise<void>((resolve) => {
        stream.on('end', resolve)
        stream.on('close', resolve)
        stream.on('error', () => resolve())
      })
      this.docker.modem.demuxStream(stream, out, out)
      const waited = container.wait() as Promise<{StatusCode: number}>
      await this.startContainer(id)
      const {StatusCode} = await withTimeout(waited, timeoutMs, 'probe')
      await withTimeout(ended, 5000, 'probe output')
      if (StatusCode !== 0 || copyOut === undefined) return {ok: StatusCode === 0, exitCode: StatusCode, output: out.text()}
      const archive = await this.call('copy out', async () => buffered(await container.getArchive({path: copyOut})))
      return {ok: true, exitCode: StatusCode, output: out.text(), archive}
    } catch (error) {
      if (error instanceof EngineUnreachable) throw error
      return {ok: false, output: '', error: engineMessage(error)}
    } finally {
      if (id) await this.removeContainer(id).catch(() => undefined)
    }
  }
}
