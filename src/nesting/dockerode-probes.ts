import type {IncomingMessage} from 'node:http'

import {engineMessage} from './dockerode-errors.js'
import {buffered, type DockerodeApi, withTimeout} from './dockerode-wire.js'
import {Capture, type ContainerSpec, type Engine, EngineRefusal, type ProbeOutcome} from './engine.js'
import {EngineUnreachable} from './errors.js'

/*
 * The dockerode adapter's throwaway containers: made to learn what the engine allows, and
 * removed whatever happened. They report how it went rather than throwing.
 */

/** What a probe needs of the engine besides its API: the container steps, with their errors translated. */
type ProbeEngine = DockerodeApi & Pick<Engine, 'createContainer' | 'startContainer' | 'removeContainer'>

export async function check(engine: ProbeEngine, spec: ContainerSpec): Promise<ProbeOutcome> {
  let id: string | undefined
  try {
    id = await engine.createContainer(spec)
    return {ok: true, output: ''}
  } catch (error) {
    if (error instanceof EngineUnreachable) throw error
    return {ok: false, output: '', error: refusalText(error)}
  } finally {
    if (id) await engine.removeContainer(id).catch(() => undefined)
  }
}

export async function probe(engine: ProbeEngine, spec: ContainerSpec, timeoutMs: number, copyOut?: string): Promise<ProbeOutcome> {
  let id: string | undefined
  // Ends the wait for the container's exit when it will not come (the start refused, the bound
  // passed): an engine may keep that request open after the container is gone.
  const waitEnd = new AbortController()
  try {
    id = await engine.createContainer(spec)
    const container = engine.docker.getContainer(id)
    // The output is read from the container's own streams, attached before it starts, as
    // `docker run` does: the log file may still be empty when the wait returns (seen under
    // load: a probe that printed its host's bounding set read back as nothing, twice running).
    const out = new Capture()
    const stream = await engine.call('attach', () => container.attach({stream: true, stdout: true, stderr: true}))
    const ended = new Promise<void>((resolve) => {
      stream.on('end', resolve)
      stream.on('close', resolve)
      stream.on('error', () => resolve())
    })
    engine.docker.modem.demuxStream(stream, out, out)
    const {exited} = await nextExit(engine, id, waitEnd.signal)
    await engine.startContainer(id)
    const StatusCode = await withTimeout(exited, timeoutMs, 'probe')
    await withTimeout(ended, 5000, 'probe output')
    if (StatusCode !== 0 || copyOut === undefined) return {ok: StatusCode === 0, exitCode: StatusCode, output: out.text()}
    const archive = await engine.call('copy out', async () => buffered(await container.getArchive({path: copyOut})))
    return {ok: true, exitCode: StatusCode, output: out.text(), archive}
  } catch (error) {
    if (error instanceof EngineUnreachable) throw error
    return {ok: false, output: '', error: refusalText(error)}
  } finally {
    waitEnd.abort()
    if (id) await engine.removeContainer(id).catch(() => undefined)
  }
}

/**
 * The exit status of the container's next exit, waited for as `docker run` waits: with the
 * condition "next-exit", set up before the container starts. The API's default condition,
 * "not-running", is met at once by a container that is only created: that wait answers at once,
 * with status 0, before the container has run (a probe whose command failed would pass).
 * Resolves once the engine has taken the wait on (it sends the answer's headers then, and the
 * status when the container exits), so that a container that exits at once is not missed.
 */
async function nextExit(api: DockerodeApi, id: string, signal: AbortSignal): Promise<{exited: Promise<number>}> {
  const answer = await api.call(
    'wait',
    () =>
      new Promise<IncomingMessage>((resolve, reject) => {
        api.docker.modem.dial(
          {
            path: `/containers/${id}/wait?`,
            method: 'POST',
            options: {condition: 'next-exit'},
            isStream: true,
            abortSignal: signal,
            statusCodes: {200: true, 400: 'bad parameter', 404: 'no such container', 500: 'server error'},
          },
          (error, response) => (error ? reject(error) : resolve(response as IncomingMessage)),
        )
      }),
  )
  const exited = buffered(answer).then((body) => {
    const status = JSON.parse(body.toString()) as {StatusCode?: number; Error?: {Message?: string} | null}
    if (status.Error?.Message) throw new Error(status.Error.Message)
    return Number(status.StatusCode ?? -1)
  })
  // Read only after the start: a start that fails leaves it to be aborted, unread.
  exited.catch(() => undefined)
  return {exited}
}

/** Why a probe failed, in the engine's words. */
function refusalText(error: unknown): string {
  return error instanceof EngineRefusal ? error.engineSays : engineMessage(error)
}
