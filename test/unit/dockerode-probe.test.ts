import Docker from 'dockerode'
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {DockerodeEngine} from '../../src/nesting/dockerode-engine.js'

/*
 * The adapter's probe against an engine API played on a socket: it answers a wait as dockerd
 * does (the default condition, "not-running", at once for a container not started yet; any other
 * when the container exits), and lets the container exit with status 3 just after its start.
 */

interface Played {
  /** What the adapter asked, in order: "wait CONDITION", "start", "remove". */
  requests: string[]
  /** Whether a wait request still pending was closed by the adapter. */
  waitClosed: boolean
}

let server: Server | undefined
let folder: string | undefined
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  if (folder) rmSync(folder, {recursive: true, force: true})
})

async function playedEngine(start: 'exits-with-3' | 'refused'): Promise<{engine: DockerodeEngine; played: Played}> {
  folder = mkdtempSync(join(tmpdir(), 'inception-api-'))
  const socketPath = join(folder, 'docker.sock')
  const played: Played = {requests: [], waitClosed: false}
  let started = false
  const onExit: Array<(code: number) => void> = []
  const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, {'Content-Type': 'application/json'}).end(JSON.stringify(body))
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://engine')
    const path = url.pathname
    if (path === '/containers/create') return json(res, 201, {Id: 'probe1', Warnings: []})
    if (path.endsWith('/attach')) {
      res.writeHead(200, {'Content-Type': 'application/vnd.docker.raw-stream'})
      res.flushHeaders()
      onExit.push(() => res.end())
      return
    }
    if (path.endsWith('/wait')) {
      const condition = url.searchParams.get('condition') ?? 'not-running'
      played.requests.push(`wait ${condition}`)
      if (condition === 'not-running' && !started) return json(res, 200, {StatusCode: 0, Error: null})
      res.writeHead(200, {'Content-Type': 'application/json'})
      res.flushHeaders()
      res.on('close', () => (played.waitClosed = !res.writableEnded))
      onExit.push((code) => res.end(JSON.stringify({StatusCode: code, Error: null})))
      return
    }
    if (path.endsWith('/start')) {
      played.requests.push('start')
      if (start === 'refused') return json(res, 500, {message: 'OCI runtime create failed: unable to apply caps: operation not permitted: unknown'})
      started = true
      res.writeHead(204).end()
      setTimeout(() => onExit.splice(0).forEach((exit) => exit(3)), 20)
      return
    }
    if (req.method === 'DELETE') {
      played.requests.push('remove')
      return res.writeHead(204).end()
    }
    json(res, 404, {message: `not played: ${req.method} ${path}`})
  })
  await new Promise<void>((resolve) => server!.listen(socketPath, resolve))
  return {engine: new DockerodeEngine(new Docker({socketPath}), `unix://${socketPath}`), played}
}

const spec = {image: 'inception:test', entrypoint: ['false'], host: {}}

describe('a probe', () => {
  it("reports the exit status of its container's run, waited for before the start", async () => {
    const {engine, played} = await playedEngine('exits-with-3')
    const outcome = await engine.probe(spec, 5000)
    expect(outcome).toMatchObject({ok: false, exitCode: 3})
    expect(played.requests).toEqual(['wait next-exit', 'start', 'remove'])
  })

  it("that the engine refuses to start says the engine's words, and leaves no wait open", async () => {
    const {engine, played} = await playedEngine('refused')
    const outcome = await engine.probe(spec, 5000)
    expect(outcome).toEqual({ok: false, output: '', error: 'OCI runtime create failed: unable to apply caps: operation not permitted: unknown'})
    expect(played.requests).toEqual(['wait next-exit', 'start', 'remove'])
    await expect.poll(() => played.waitClosed).toBe(true)
  })
})
