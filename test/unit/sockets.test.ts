import {existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {LABEL, SOCKET_DIR} from '../../src/nesting/contract.js'
import {SocketFolderUnusable, SocketsNeedALocalEngine, UsageError} from '../../src/nesting/errors.js'
import {Nests} from '../../src/nesting/nest.js'
import {parseUpRequest, type UpInput} from '../../src/nesting/request.js'
import {defaultSocketBase, parseSockets, planSockets, socketGroup} from '../../src/nesting/sockets.js'
import {FakeEngine} from '../support/fake-engine.js'
import {thrown} from '../support/thrown.js'

const dir = mkdtempSync(join(tmpdir(), 'inception-sockets-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const request = (extra: UpInput = {}) => parseUpRequest({image: 'inception:test', depth: 2, timeoutSeconds: 1, sockets: {base: dir}, ...extra})
const boardReady = (_id: string, cmd: string[]) => ({
  code: 0,
  stdout: cmd[0] === 'sh' ? 'state 1 ready overlay2\nstate 2 ready overlay2\ninfo 2 id=l2\nalive 2 yes\n' : '',
})

describe('--sockets', () => {
  it('is auto, none or an absolute folder short enough for a socket path', () => {
    expect(parseSockets('auto')).toBe('auto')
    expect(parseSockets('none')).toBe('none')
    expect(parseSockets('/srv/nests')).toEqual({base: '/srv/nests'})
    expect(thrown(() => parseSockets('nests'))).toBeInstanceOf(UsageError)
    expect(thrown(() => parseSockets(`/${'x'.repeat(60)}`))?.message).toMatch(/too long for a unix socket path/)
  })

  it("defaults to /run/inception for root, the user's runtime folder otherwise, none without one", () => {
    expect(defaultSocketBase({}, 0)).toBe('/run/inception')
    expect(defaultSocketBase({XDG_RUNTIME_DIR: '/run/user/1000'}, 1000)).toBe('/run/user/1000/inception')
    expect(defaultSocketBase({}, 1000)).toBeUndefined()
  })

  it("puts the sockets in this machine's docker group, else root's", () => {
    const groups = join(dir, 'group')
    writeFileSync(groups, 'root:x:0:\nusers:x:100:\ndocker:x:998:alice\n')
    expect(socketGroup(groups)).toBe(998)
    writeFileSync(groups, 'root:x:0:\n')
    expect(socketGroup(groups)).toBe(0)
    expect(socketGroup(join(dir, 'no-such-file'))).toBe(0)
  })

  it('means none on a remote engine, refuses a folder asked for there, and follows INCEPTION_SOCKETS for auto', () => {
    expect(planSockets('auto', 'n', 'tcp://10.0.0.5:2376', {})).toBeUndefined()
    expect(thrown(() => planSockets({base: dir}, 'n', 'ssh://root@host', {}))).toBeInstanceOf(SocketsNeedALocalEngine)
    expect(planSockets('auto', 'n', 'unix:///var/run/docker.sock', {INCEPTION_SOCKETS: 'none'})).toBeUndefined()
    expect(planSockets('auto', 'n', 'unix:///var/run/docker.sock', {INCEPTION_SOCKETS: dir})?.folder).toBe(join(dir, 'n'))
  })

  it('refuses a folder that cannot be made, before anything is made', () => {
    const file = join(dir, 'a-file')
    writeFileSync(file, '')
    const error = thrown(() => planSockets({base: join(file, 'below')}, 'n', 'unix:///var/run/docker.sock', {}))
    expect(error).toBeInstanceOf(SocketFolderUnusable)
    expect(error?.message).toContain(`${file} is not a folder`)
    expect(existsSync(join(file, 'below'))).toBe(false)
  })
})

describe('a nest with sockets, on a fake engine', () => {
  it('mounts the folder into level 1, passes it down, has every dockerd listen there, records it, and down removes it', async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardReady
    const nests = new Nests(engine)
    const status = await nests.up(request({name: 'sock'}))
    const folder = join(dir, 'sock')
    expect(statSync(folder).mode & 0o777).toBe(0o750)
    const levelOne = [...engine.containers.values()].find((c) => c.name === 'sock-l1')!
    expect(levelOne.spec.host.binds).toContain(`${folder}:${SOCKET_DIR}`)
    expect(levelOne.labels[LABEL.sockets]).toBe(folder)
    const env = Object.fromEntries(levelOne.spec.env!.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])) as Record<string, string>
    expect(env.INCEPTION_DOCKERD_OPTIONS).toContain(`--host=unix://${SOCKET_DIR}/level-1.sock`)
    expect(env.INCEPTION_DOCKERD_OPTIONS).toMatch(/--group=\d+/)
    // Level 2's container, as level 1 runs it: the folder passed on, and its own socket.
    expect(env.INCEPTION_PLAN).toContain(`--volume\n${SOCKET_DIR}:${SOCKET_DIR}\n`)
    expect(env.INCEPTION_PLAN).toContain(`--host=unix://${SOCKET_DIR}/level-2.sock`)
    expect(status.levels.map((l) => l.endpoint)).toEqual([`unix://${folder}/level-1.sock`, `unix://${folder}/level-2.sock`])
    await nests.down('sock')
    expect(existsSync(folder)).toBe(false)
  })

  it('down removes the default folder of a nest whose level 1 is gone (no label names it)', async () => {
    const folder = join(dir, 'orphan')
    mkdirSync(folder)
    process.env.INCEPTION_SOCKETS = dir
    try {
      await new Nests(new FakeEngine()).down('orphan')
    } finally {
      process.env.INCEPTION_SOCKETS = 'none'
    }
    expect(existsSync(folder)).toBe(false)
  })

  it('removes the folder when the up fails, level 1 made or not', async () => {
    for (const step of ['createContainer', 'startContainer'] as const) {
      const engine = new FakeEngine()
      engine.execAnswer = boardReady
      engine[step] = async () => {
        throw new Error(`the engine failed to ${step}`)
      }
      await expect(new Nests(engine).up(request({name: 'failing'}))).rejects.toThrow(`the engine failed to ${step}`)
      expect(existsSync(join(dir, 'failing'))).toBe(false)
    }
  })

  it("goes without sockets, and says why, where the engine does not see this machine's folder; refuses when they were asked for", async () => {
    const engine = new FakeEngine()
    engine.execAnswer = boardReady
    // An engine in a container of its own: a bind mount whose source must exist is refused.
    engine.probeAnswer = (spec) =>
      spec.host.mounts
        ? {ok: false, output: '', error: `invalid mount config for type "bind": bind source path does not exist: ${spec.host.mounts[0]!.source}`}
        : {ok: true, output: ''}
    const nests = new Nests(engine)
    // auto, with this suite's default of none moved to the test's folder.
    process.env.INCEPTION_SOCKETS = dir
    try {
      const prepared = await nests.prepare(request({name: 'elsewhere', sockets: 'auto'}))
      expect(prepared.request.sockets).toBe('none')
      expect(prepared.notes?.join('\n')).toMatch(/no level sockets: the engine at unix:\/\/\/fake.sock does not see this machine's files/)
    } finally {
      process.env.INCEPTION_SOCKETS = 'none'
    }
    await expect(nests.prepare(request({name: 'elsewhere'}))).rejects.toBeInstanceOf(SocketsNeedALocalEngine)
    expect(existsSync(join(dir, 'elsewhere'))).toBe(false)
  })
})
