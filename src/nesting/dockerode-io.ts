import type {Writable} from 'node:stream'

import {statusCode} from './dockerode-errors.js'
import {attachStreams, demuxBuffer, type DockerodeApi, filesOfArchive, tarOfFiles, withTimeout} from './dockerode-wire.js'
import type {ExecIo} from './engine.js'

/*
 * The dockerode adapter's traffic with containers that exist: commands run in them, their logs,
 * and files written into or read out of them through the archive API.
 */

export async function putFiles(api: DockerodeApi, id: string, directory: string, files: Record<string, {content: string; mode: number}>): Promise<void> {
  const pack = tarOfFiles(directory, files)
  await api.call('put files', () => api.docker.getContainer(id).putArchive(pack as unknown as NodeJS.ReadableStream, {path: '/'}))
}

export async function readFiles(api: DockerodeApi, id: string, directory: string): Promise<Record<string, string> | undefined> {
  try {
    return await api.call('read files', async () => filesOfArchive(await api.docker.getContainer(id).getArchive({path: directory})))
  } catch (error) {
    if (statusCode(error) === 404) return undefined
    throw error
  }
}

export async function exec(api: DockerodeApi, id: string, cmd: string[], io: ExecIo): Promise<number> {
  const container = api.docker.getContainer(id)
  const exec = await api.call('exec', () =>
    container.exec({
      Cmd: cmd,
      Env: io.env,
      AttachStdin: io.stdin !== undefined,
      AttachStdout: true,
      AttachStderr: true,
      Tty: io.tty ?? false,
    }),
  )
  const stream = await api.call('exec start', () => exec.start({hijack: true, stdin: io.stdin !== undefined, Tty: io.tty ?? false}))
  if (io.tty && io.size) {
    await exec.resize({h: io.size.rows, w: io.size.columns}).catch(() => undefined)
  }
  const finished = attachStreams(api.docker.modem, stream, io)
  const timeout = io.timeoutMs
  await (timeout === undefined ? finished : withTimeout(finished, timeout, `exec ${cmd.join(' ')}`))
  if (io.stdin) io.stdin.unpipe(stream)
  const result = await api.call('exec inspect', () => exec.inspect())
  return result.ExitCode ?? 0
}

export async function logs(api: DockerodeApi, id: string, options: {follow: boolean; tail?: number}, out: Writable, err: Writable): Promise<void> {
  const container = api.docker.getContainer(id)
  const tail = options.tail
  if (options.follow) {
    const stream = await api.call('logs', () => container.logs({follow: true, stdout: true, stderr: true, tail}))
    api.docker.modem.demuxStream(stream, out, err)
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve)
      stream.on('error', reject)
    })
    return
  }
  const buffer = await api.call('logs', () => container.logs({follow: false, stdout: true, stderr: true, tail}))
  demuxBuffer(buffer, out, err)
}
