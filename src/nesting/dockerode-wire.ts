import type Docker from 'dockerode'
import type {Duplex, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import tarStream from 'tar-stream'

import type {ExecIo, HostSettings} from './engine.js'

/*
 * The engine API's side of the dockerode adapter: request bounds, the host settings as the API
 * spells them, and the stream formats it speaks. (Its error shapes: dockerode-errors.ts.)
 */

/** What each part of the dockerode adapter works with: the client, and a bound on every request. */
export interface DockerodeApi {
  readonly docker: Docker
  /** The engine's address, as the user would write it: errors name it. */
  readonly address: string
  /** Runs one request within `timeoutMs`; a connection that fails or hangs is EngineUnreachable. */
  call<T>(what: string, action: () => Promise<T>, timeoutMs?: number): Promise<T>
}

/** How long one engine request may take, unless the request says otherwise (a build, a probe). */
export const ENGINE_CALL_TIMEOUT_MS = 60_000

export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} took longer than ${timeoutMs} ms`), {code: 'ETIMEDOUT'})), timeoutMs)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** The container-spec vocabulary's host settings, as the engine API names them. */
export function hostConfig(host: HostSettings): Docker.HostConfig {
  // CgroupnsMode is in the engine API since 1.41; the type definitions lag behind.
  return {
    Privileged: host.privileged,
    CapAdd: host.capAdd,
    CapDrop: host.capDrop,
    SecurityOpt: host.securityOpt,
    DeviceCgroupRules: host.deviceCgroupRules,
    CgroupnsMode: host.cgroupnsMode,
    Binds: host.binds,
    Mounts: host.mounts?.map((m) => ({Type: 'bind', Source: m.source, Target: m.target})),
    PortBindings: host.portBindings,
    PidMode: host.pidMode,
    AutoRemove: host.autoRemove,
    MaskedPaths: host.maskedPaths,
    ReadonlyPaths: host.readonlyPaths,
    Tmpfs: host.tmpfs,
    NetworkMode: host.networkMode,
    Ulimits: host.ulimits?.map((u) => ({Name: u.name, Soft: u.soft, Hard: u.hard})),
    Memory: host.memory,
    MemorySwap: host.memorySwap,
    NanoCpus: host.nanoCpus,
    CpusetCpus: host.cpusetCpus,
    PidsLimit: host.pidsLimit,
    Devices: host.devices?.map((device) => ({PathOnHost: device, PathInContainer: device, CgroupPermissions: 'rwm'})),
  } as Docker.HostConfig
}

/** A tar stream of one directory holding `files`, for the engine's archive upload. */
export function tarOfFiles(directory: string, files: Record<string, {content: string; mode: number}>): tarStream.Pack {
  const pack = tarStream.pack()
  const name = directory.replace(/^\/+/, '')
  pack.entry({name, type: 'directory', mode: 0o700})
  for (const [file, {content, mode}] of Object.entries(files)) pack.entry({name: `${name}/${file}`, mode}, content)
  pack.finalize()
  return pack
}

/** Splits a non-TTY log buffer (8-byte frame headers) into stdout and stderr. */
export function demuxBuffer(buffer: Buffer, out: Writable, err: Writable): void {
  let offset = 0
  while (offset + 8 <= buffer.length) {
    const streamType = buffer[offset]
    const length = buffer.readUInt32BE(offset + 4)
    const payload = buffer.subarray(offset + 8, offset + 8 + length)
    ;(streamType === 2 ? err : out).write(payload)
    offset += 8 + length
  }
}

/** The events of a progress stream (pull, import), once it ends; they may carry an error. */
export function progressEvents(modem: Docker['modem'], stream: NodeJS.ReadableStream): Promise<Array<{error?: string; errorDetail?: {message?: string}}>> {
  return new Promise((resolve, reject) =>
    modem.followProgress(stream, (error: Error | null, output: Array<{error?: string}>) => (error ? reject(error) : resolve(output))),
  )
}

/** Connects an exec's hijacked stream to the caller's streams; resolves when the command's output ends. */
export function attachStreams(modem: Docker['modem'], stream: Duplex, io: ExecIo): Promise<void> {
  const finished = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve)
    stream.on('close', resolve)
    stream.on('error', reject)
  })
  if (io.tty) stream.pipe(io.stdout, {end: false})
  else modem.demuxStream(stream, io.stdout, io.stderr)
  if (io.stdin && io.tty) {
    // With a terminal, the engine closes the command's output once its input is closed (a
    // terminal has no end of input): a command given a terminal and a stdin at its end printed
    // nothing. So the connection stays open, and the end of stdin is the terminal's end-of-file
    // character, which the command reads as EOF, as if ^D had been typed. A terminal takes ^D as
    // EOF only at the start of a line: after a partial line, the first ^D only sends that line.
    let lastByte: number | undefined
    io.stdin.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      if (bytes.length > 0) lastByte = bytes[bytes.length - 1]
    })
    io.stdin.pipe(stream, {end: false})
    io.stdin.on('end', () => stream.write(lastByte === undefined || lastByte === 0x0a ? '\x04' : '\x04\x04'))
  } else if (io.stdin) {
    io.stdin.pipe(stream)
    // The hijacked connection is half-closed when stdin ends, which the engine passes on as EOF.
    io.stdin.on('end', () => stream.end())
  }
  return finished
}

/** A stream read to its end, whole (an archive the engine sends: a few MB at most). */
export async function buffered(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks)
}

/**
 * The regular files of the engine's archive of one directory, by name, as text: the archive
 * names them "DIR/FILE" (the directory's base name first), and subdirectories are skipped.
 */
export async function filesOfArchive(archive: NodeJS.ReadableStream): Promise<Record<string, string>> {
  const files: Record<string, string> = {}
  const extract = tarStream.extract()
  const read = (async () => {
    for await (const entry of extract) {
      const relative = entry.header.name.split('/').slice(1).join('/')
      if (entry.header.type !== 'file' || relative === '' || relative.includes('/')) {
        entry.resume()
        continue
      }
      const chunks: Buffer[] = []
      for await (const chunk of entry) chunks.push(chunk as Buffer)
      files[relative] = Buffer.concat(chunks).toString()
    }
  })()
  // pipeline, not pipe: a response cut short (level 1 removed meanwhile) fails the read at once
  // and closes both streams, instead of hanging until the request's timeout.
  await Promise.all([pipeline(archive, extract), read])
  return files
}
