import {readdirSync} from 'node:fs'
import type {Readable} from 'node:stream'

import {engineMessage, statusCode} from './dockerode-errors.js'
import {type DockerodeApi, progressEvents, withTimeout} from './dockerode-wire.js'
import type {ImageDetails, PullOutcome} from './engine.js'
import {EngineUnreachable} from './errors.js'

/* The dockerode adapter's images: what the engine has, and what goes in and out of it. */

export async function inspect(api: DockerodeApi, reference: string): Promise<ImageDetails | undefined> {
  try {
    const image = await api.call('image inspect', () => api.docker.getImage(reference).inspect())
    return {id: image.Id, sizeBytes: Number(image.Size ?? 0), tags: image.RepoTags ?? [], labels: image.Config?.Labels ?? {}}
  } catch (error) {
    if (statusCode(error) === 404) return undefined
    throw error
  }
}

export async function remove(api: DockerodeApi, reference: string): Promise<boolean> {
  try {
    await api.call('remove image', () => api.docker.getImage(reference).remove())
    return true
  } catch (error) {
    // 409: a container uses it; 404: gone already.
    if (statusCode(error) === 409 || statusCode(error) === 404) return false
    throw error
  }
}

export async function save(api: DockerodeApi, references: string[]): Promise<Readable> {
  // GET /images/get?names=...: dockerode has it (getImages), its type definitions do not.
  const docker = api.docker as unknown as {getImages(options: {names: string[]}): Promise<Readable>}
  return api.call('save images', () => docker.getImages({names: references}))
}

/**
 * Some engines (Podman's compatible API) answer a failed pull with 200 and put the failure in
 * the progress stream: an event with an `error` field. Such a pull has failed too.
 */
export async function pull(api: DockerodeApi, reference: string, timeoutMs: number): Promise<PullOutcome> {
  try {
    const stream = await withTimeout(
      api.call('pull', () => api.docker.pull(reference)),
      timeoutMs,
      'pull',
    )
    const events = await withTimeout(progressEvents(api.docker.modem, stream), timeoutMs, 'pull')
    const failed = events.find((event) => event.error ?? event.errorDetail?.message)
    if (failed) return {ok: false, error: failed.error ?? failed.errorDetail?.message}
    return {ok: true}
  } catch (error) {
    if (error instanceof EngineUnreachable) throw error
    return {ok: false, error: engineMessage(error).split('\n')[0]}
  }
}

export async function importTar(api: DockerodeApi, tarPath: string, reference: string): Promise<void> {
  // The whole reference as `repo` (the API allows a tag in it): Podman ignores a separate `tag`
  // and would name the image REPO:latest.
  const stream = await api.call('import', () => api.docker.importImage(tarPath, {repo: reference}), 600_000)
  await progressEvents(api.docker.modem, stream)
}

export async function build(
  api: DockerodeApi,
  contextDir: string,
  tag: string,
  buildArgs: Record<string, string>,
  onLine: (line: string) => void,
): Promise<void> {
  const src = readdirSync(contextDir)
  const stream = await api.call(
    'build',
    () => api.docker.buildImage({context: contextDir, src}, {t: tag, buildargs: buildArgs, rm: true, forcerm: true}),
    600_000,
  )
  await new Promise<void>((resolve, reject) => {
    api.docker.modem.followProgress(
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
