// First: it keeps dockerode from loading what inception never uses (see the module).
import './lazy-dependencies.js'

import Docker from 'dockerode'
import type {Readable, Writable} from 'node:stream'

import type {Labels} from './contract.js'
import {errorText, isConnectionError, refusal, statusCode} from './dockerode-errors.js'
import * as images from './dockerode-images.js'
import * as io from './dockerode-io.js'
import * as probes from './dockerode-probes.js'
import {type DockerodeApi, ENGINE_CALL_TIMEOUT_MS, hostConfig, withTimeout} from './dockerode-wire.js'
import {dockerodeOptions, type EngineEndpoint, resolveEndpoint} from './endpoint.js'
import type {
  ContainerDetails,
  ContainerSpec,
  ContainerSummary,
  Engine,
  EngineInfo,
  ExecIo,
  ImageDetails,
  ProbeOutcome,
  PullOutcome,
  VolumeSummary,
} from './engine.js'
import {EngineUnreachable} from './errors.js'

/*
 * The Engine seam implemented with dockerode: one engine reached through its API, every request
 * bounded in time, and the engine's errors turned into the seam's (dockerode-errors.ts). This
 * file holds the containers' lifecycle, volumes and networks; images, the traffic with running
 * containers, and throwaway probes have their own files.
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

export class DockerodeEngine implements Engine, DockerodeApi {
  constructor(
    readonly docker: Docker,
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
  async call<T>(what: string, action: () => Promise<T>, timeoutMs = ENGINE_CALL_TIMEOUT_MS): Promise<T> {
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
      MemoryLimit?: boolean
      CpuCfsQuota?: boolean
      CPUSet?: boolean
      PidsLimit?: boolean
      KernelVersion?: string
      OperatingSystem?: string
      CgroupDriver?: string
      DefaultRuntime?: string
      SecurityOptions?: string[] | null
      RegistryConfig?: {Mirrors?: string[] | null; InsecureRegistryCIDRs?: string[] | null; IndexConfigs?: Record<string, {Secure?: boolean}> | null}
      HttpProxy?: string
      HttpsProxy?: string
      NoProxy?: string
    }
    const registries = info.RegistryConfig ?? {}
    return {
      id: String(info.ID ?? ''),
      serverVersion: String(info.ServerVersion ?? ''),
      memTotalBytes: Number(info.MemTotal ?? 0),
      cpus: Number(info.NCPU ?? 0),
      storageDriver: String(info.Driver ?? ''),
      cgroupVersion: String(info.CgroupVersion ?? '1'),
      limits: {memory: info.MemoryLimit === true, cpuQuota: info.CpuCfsQuota === true, cpuset: info.CPUSet === true, pids: info.PidsLimit === true},
      kernelVersion: String(info.KernelVersion ?? ''),
      operatingSystem: String(info.OperatingSystem ?? ''),
      cgroupDriver: String(info.CgroupDriver ?? ''),
      defaultRuntime: String(info.DefaultRuntime ?? ''),
      registry: {
        mirrors: registries.Mirrors ?? [],
        // Every engine counts 127.0.0.0/8 insecure by itself, and so does every level's.
        insecure: [
          ...(registries.InsecureRegistryCIDRs ?? []).filter((cidr) => cidr !== '127.0.0.0/8'),
          ...Object.entries(registries.IndexConfigs ?? {})
            .filter(([, index]) => index.Secure === false)
            .map(([name]) => name),
        ],
        httpProxy: info.HttpProxy ?? '',
        httpsProxy: info.HttpsProxy ?? '',
        noProxy: info.NoProxy ?? '',
      },
      securityOptions: (info.SecurityOptions ?? []).map(String),
    }
  }

  async imageExists(reference: string): Promise<boolean> {
    return (await this.inspectImage(reference)) !== undefined
  }

  inspectImage(reference: string): Promise<ImageDetails | undefined> {
    return images.inspect(this, reference)
  }

  removeImage(reference: string): Promise<boolean> {
    return images.remove(this, reference)
  }

  saveImages(references: string[]): Promise<Readable> {
    return images.save(this, references)
  }

  pullImage(reference: string, timeoutMs: number): Promise<PullOutcome> {
    return images.pull(this, reference, timeoutMs)
  }

  importImage(tarPath: string, reference: string): Promise<void> {
    return images.importTar(this, tarPath, reference)
  }

  buildImage(contextDir: string, tag: string, buildArgs: Record<string, string>, onLine: (line: string) => void): Promise<void> {
    return images.build(this, contextDir, tag, buildArgs, onLine)
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
    try {
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
    } catch (error) {
      throw refusal('create', error, spec.name)
    }
  }

  putFiles(id: string, directory: string, files: Record<string, {content: string; mode: number}>): Promise<void> {
    return io.putFiles(this, id, directory, files)
  }

  readFiles(id: string, directory: string): Promise<Record<string, string> | undefined> {
    return io.readFiles(this, id, directory)
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.call('start container', () => this.docker.getContainer(id).start())
    } catch (error) {
      throw refusal('start', error)
    }
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
        addresses: Object.values(c.NetworkSettings?.Networks ?? {})
          .map((network) => network.IPAddress)
          .filter((address) => address !== ''),
      }
    } catch (error) {
      if (statusCode(error) === 404) return undefined
      throw error
    }
  }

  exec(id: string, cmd: string[], execIo: ExecIo): Promise<number> {
    return io.exec(this, id, cmd, execIo)
  }

  logs(id: string, options: {follow: boolean; tail?: number}, out: Writable, err: Writable): Promise<void> {
    return io.logs(this, id, options, out, err)
  }

  check(spec: ContainerSpec): Promise<ProbeOutcome> {
    return probes.check(this, spec)
  }

  probe(spec: ContainerSpec, timeoutMs: number, copyOut?: string): Promise<ProbeOutcome> {
    return probes.probe(this, spec, timeoutMs, copyOut)
  }
}
