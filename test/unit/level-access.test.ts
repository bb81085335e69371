import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {daemonInnerPort} from '../../src/nesting/contract.js'
import {Capture, type EngineConnector} from '../../src/nesting/engine.js'
import type {EngineEndpoint} from '../../src/nesting/endpoint.js'
import {EngineUnreachable} from '../../src/nesting/errors.js'
import {Nests} from '../../src/nesting/nest.js'
import {parseUpRequest} from '../../src/nesting/request.js'
import {certificateFolder} from '../../src/nesting/tls.js'
import {FakeEngine} from '../support/fake-engine.js'

/*
 * A nest that exposes its levels' engines is reached one hop at a time: level K through level
 * K-1's engine, dialled with the connector the nests were given (here the test's own).
 */

let stateHome: string
let saved: string | undefined
beforeEach(() => {
  saved = process.env.XDG_STATE_HOME
  stateHome = mkdtempSync(join(tmpdir(), 'inception-reach-'))
  // Where `up --expose-daemons` keeps the nest's client certificate, and reach reads it back.
  process.env.XDG_STATE_HOME = stateHome
})
afterEach(() => {
  if (saved === undefined) delete process.env.XDG_STATE_HOME
  else process.env.XDG_STATE_HOME = saved
  rmSync(stateHome, {recursive: true, force: true})
})

const LEVEL_ONE_ENGINE_PORT = 23_999

/** An engine holding a nest of depth 2 that exposes its daemons; level 1's engine published on LEVEL_ONE_ENGINE_PORT. */
async function exposedNest(connect: EngineConnector): Promise<{engine: FakeEngine; nests: Nests}> {
  const engine = new FakeEngine()
  engine.execAnswer = (_id, cmd) => ({code: 0, stdout: cmd[0] === 'sh' ? 'state 1 ready overlay2\nstate 2 ready overlay2\n' : ''})
  const inspect = engine.inspectContainer.bind(engine)
  engine.inspectContainer = async (id) => {
    const details = await inspect(id)
    return details && {...details, ports: {[`${daemonInnerPort(1)}/tcp`]: [{HostIp: '127.0.0.1', HostPort: String(LEVEL_ONE_ENGINE_PORT)}]}}
  }
  const nests = new Nests(engine, undefined, undefined, connect)
  await nests.up(parseUpRequest({image: 'inception:test', depth: 2, timeoutSeconds: 1, exposeDaemons: true}))
  engine.execs.length = 0
  return {engine, nests}
}

describe("reaching a level through its parent's engine", () => {
  it('dials level 1 with the connector given, its address and the client certificate, and runs the command there', {timeout: 20_000}, async () => {
    const dialled: EngineEndpoint[] = []
    const levelOne = new FakeEngine()
    const {engine, nests} = await exposedNest(async (endpoint) => {
      dialled.push(endpoint)
      return levelOne
    })
    expect(await nests.exec('inception', 2, ['hostname'], {stdout: new Capture(), stderr: new Capture()})).toBe(0)
    const folder = certificateFolder((await engine.info()).id, 'inception')
    expect(dialled).toEqual([
      {
        address: `tcp://127.0.0.1:${LEVEL_ONE_ENGINE_PORT}`,
        source: 'level 1 of nest inception',
        tls: {
          ca: readFileSync(join(folder, 'ca.pem'), 'utf8'),
          cert: readFileSync(join(folder, 'cert.pem'), 'utf8'),
          key: readFileSync(join(folder, 'key.pem'), 'utf8'),
          verify: true,
        },
      },
    ])
    expect(levelOne.execs.map((cmd) => cmd.join(' '))).toEqual(['hostname'])
    expect(levelOne.calls).toContain('exec hostname')
    // Nothing went through the chain of `docker exec`s in level 1.
    expect(engine.execs).toEqual([])
  })

  it('goes through level 1 in one step when that engine cannot be dialled', {timeout: 20_000}, async () => {
    const {engine, nests} = await exposedNest(async (endpoint) => {
      throw new EngineUnreachable(endpoint.address, 'ECONNREFUSED')
    })
    expect(await nests.exec('inception', 2, ['hostname'], {stdout: new Capture(), stderr: new Capture()})).toBe(0)
    expect(engine.execs).toHaveLength(1)
    expect(engine.execs[0]!.join(' ')).toContain('hostname')
  })
})
