import {describe, expect, it} from 'vitest'

import {BOARD_READ_SCRIPT} from '../../src/nesting/board.js'
import {HostImageMissing, LevelOutOfRange, NestNotFound} from '../../src/nesting/errors.js'
import {ImageBuilder} from '../../src/nesting/image.js'
import {ImageLoader} from '../../src/nesting/load.js'
import {Nests} from '../../src/nesting/nest.js'
import {parseUpRequest} from '../../src/nesting/request.js'
import {bootstrappedBaseForSuite, DEFAULT_SUITE, imageForSuite} from '../../src/nesting/suites.js'
import {SHORTCUT_SCRIPT} from '../../src/nesting/nsenter-path.js'
import {FakeEngine} from '../support/fake-engine.js'

describe('suites', () => {
  // An unknown suite is refused by the --suite flag (flags.test.ts).
  it('tags each suite apart, and takes the image of the suite asked', () => {
    expect(DEFAULT_SUITE).toBe('trixie')
    expect(imageForSuite('forky')).toMatch(/^inception:\d+\.\d+\.\d+-forky$/)
    expect(parseUpRequest({suite: 'forky'}).image).toBe(imageForSuite('forky'))
    expect(parseUpRequest({suite: 'forky', image: 'mine:1'}).image).toBe('mine:1')
  })
})

describe('the base image', () => {
  it("takes the suite's bootstrapped base when the engine has it, without pulling", async () => {
    const engine = new FakeEngine()
    engine.images.add(bootstrappedBaseForSuite('forky'))
    const base = await new ImageBuilder(engine).ensureBase('forky', undefined, () => undefined)
    expect(base).toEqual({reference: 'inception-base:forky', source: 'present'})
    expect(engine.calls.filter((c) => c.startsWith('pull'))).toEqual([])
  })

  it('pulls the Debian image of the suite when a registry gives it', async () => {
    const engine = new FakeEngine()
    engine.pullAnswer = {ok: true}
    const base = await new ImageBuilder(engine).ensureBase('trixie', undefined, () => undefined)
    expect(base).toEqual({reference: 'debian:trixie-slim', source: 'pulled'})
  })

  it("reports a failed pull with the engine's reason, and refuses a user's base it cannot get", async () => {
    const engine = new FakeEngine()
    engine.pullAnswer = {ok: false, error: 'manifest unknown'}
    const lines: string[] = []
    await expect(new ImageBuilder(engine).ensureBase('trixie', 'mine/debian:13', (line) => lines.push(line))).rejects.toThrow(
      /mine\/debian:13 is not in the engine and cannot be pulled \(manifest unknown\)/,
    )
    expect(lines).toEqual(['pulling mine/debian:13'])
  })
})

describe('inception load against a fake engine', () => {
  async function nestOfDepth(engine: FakeEngine, depth: number): Promise<Nests> {
    engine.execAnswer = (_id, cmd) => ({
      code: 0,
      stdout: cmd[0] === 'sh' && cmd[2] === BOARD_READ_SCRIPT ? Array.from({length: depth}, (_, i) => `state ${i + 1} ready overlay2\n`).join('') : '',
    })
    const nests = new Nests(engine)
    await nests.up(parseUpRequest({image: 'inception:test', depth, timeoutSeconds: 1}))
    return nests
  }

  it('checks the nest, the level and every image before a byte moves', async () => {
    const engine = new FakeEngine()
    const loader = new ImageLoader(engine, await nestOfDepth(engine, 3))
    engine.images.add('app:1')
    const before = engine.calls.length
    await expect(loader.load('inception', ['app:1'], {kind: 'level', level: 9})).rejects.toBeInstanceOf(LevelOutOfRange)
    await expect(loader.load('inception', ['app:1', 'missing:2'], {kind: 'innermost'})).rejects.toBeInstanceOf(HostImageMissing)
    await expect(loader.load('other', ['app:1'], {kind: 'innermost'})).rejects.toBeInstanceOf(NestNotFound)
    expect(engine.calls.slice(before).filter((c) => c.startsWith('save') || c.startsWith('exec docker load'))).toEqual([])
  })

  it('streams straight into level 1 when only level 1 wants the images', async () => {
    const engine = new FakeEngine()
    const loader = new ImageLoader(engine, await nestOfDepth(engine, 2))
    engine.images.add('app:1')
    const before = engine.calls.length
    const report = await loader.load('inception', ['app:1'], {kind: 'level', level: 1})
    expect(engine.calls.slice(before)).toEqual(['save app:1', 'exec docker load'])
    expect(report).toMatchObject({levels: [1], bytes: 1000, images: [{reference: 'app:1'}]})
  })

  it('spools once on the shared board, loads at every level, and removes the spool', async () => {
    const engine = new FakeEngine()
    const loader = new ImageLoader(engine, await nestOfDepth(engine, 3))
    engine.images.add('app:1')
    const before = engine.execs.length
    const report = await loader.load('inception', ['app:1'], {kind: 'all'})
    // Levels below the first are entered by the shortcut (LEVEL HOP_FLAGS NAMES -- CMD): shown here as "LEVEL: CMD".
    const shown = (cmd: string[]) => (cmd[0] === 'sh' && cmd[2] === SHORTCUT_SCRIPT ? [`${cmd[4]}:`, ...cmd.slice(8)] : cmd)
    const execs = engine.execs.slice(before).map((cmd) =>
      shown(cmd)
        .join(' ')
        .replace(/load-[0-9a-f-]+\.tar/, 'load-ID.tar'),
    )
    const spool = '/run/inception/board/spool/load-ID.tar'
    expect(execs[0]).toBe(`sh -c mkdir -p "$(dirname "$1")" && cat >"$1" spool ${spool}`)
    expect(execs.slice(1, 4).sort()).toEqual([`2: docker load -i ${spool}`, `3: docker load -i ${spool}`, `docker load -i ${spool}`])
    expect(execs[4]).toBe(`rm -f ${spool}`)
    expect(engine.calls.filter((c) => c.startsWith('save'))).toEqual(['save app:1'])
    expect(engine.stdinBytes).toBe(1000)
    expect(report.levels).toEqual([1, 2, 3])
  })
})
