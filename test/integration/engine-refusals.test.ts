import {mkdtempSync, rmSync} from 'node:fs'
import type {Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {engineProxy} from '../support/engine-proxy.js'
import {cli, integrationEngine, snapshot} from '../support/integration.js'

/**
 * An engine that refuses to start level 1, for a reason inception has no name for: the user gets
 * the engine's own words on one line (never a stack trace), exit 5, and nothing is left behind.
 * The refusal is played by a proxy in front of the engine's socket, which answers the start of
 * the container named NEST-l1 as dockerd answers a start its runtime failed, and passes on the
 * rest; so every engine refuses the same way, whatever it would allow.
 */
const engine = await integrationEngine()
const NEST = 'itest-refused'
const REFUSAL =
  'failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: ' +
  'unable to start container process: error during container init: unable to apply caps: operation not permitted: unknown'

const HINT =
  'the nest was rolled back; if the engine names a setting, change the option that gives it (--privilege, --storage-driver, --data-root, --network, -p)'

afterAll(async () => {
  await cli(['down', '--name', NEST])
})

/** A proxy to the engine at `socket` that refuses to start the container named `name`. */
async function refusingStart(socket: string, name: string): Promise<Server> {
  let id: string | undefined
  return engineProxy(socket, () => {
    let creating = false
    return {
      request(chunk, client) {
        const request = chunk.toString('latin1').split('\r\n')[0] ?? ''
        if (id && request.startsWith('POST ') && request.includes(`/containers/${id}/start`)) {
          const body = JSON.stringify({message: REFUSAL})
          client.write(`HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
          return false
        }
        creating = request.includes(`/containers/create?name=${name} `) || request.includes(`/containers/create?name=${name}&`)
        return true
      },
      answer(chunk) {
        const made = creating ? /"Id":"([0-9a-f]{64})"/.exec(chunk.toString('latin1')) : null
        if (made) id = made[1]
        return true
      },
    }
  })
}

describe.skipIf(!engine)('an engine that refuses level 1', () => {
  it("gives the engine's words on one line, exit 5, and leaves nothing", async () => {
    await cli(['down', '--name', NEST])
    const dir = mkdtempSync(join(tmpdir(), 'itest-refused-'))
    const socket = join(dir, 'docker.sock')
    const proxy = await refusingStart(socket, `${NEST}-l1`)
    try {
      const before = await snapshot()
      const up = await cli(['up', '--name', NEST, '--depth', '1'], {env: {CI: 'true', DOCKER_HOST: `unix://${socket}`}})
      expect(up.exitCode, up.stderr).toBe(5)
      // The progress display marks the step that failed (its own line); the error is one line, last, with no stack trace.
      const lines = up.stderr.trim().split('\n')
      expect(
        lines.filter((line) => line.startsWith('inception:')),
        up.stderr,
      ).toHaveLength(1)
      expect(up.stderr).not.toMatch(/^\s+at /m)
      expect(lines.at(-1)).toBe(`inception: level 1 failed: the engine refused to start its container: ${REFUSAL}; ${HINT}`)
      expect(await snapshot()).toEqual(before)
    } finally {
      proxy.close()
      rmSync(dir, {recursive: true, force: true})
    }
  }, 300_000)
})
