import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Readable} from 'node:stream'
import {afterAll, describe, expect, it} from 'vitest'

import '../../src/nesting/lazy-dependencies.js'

// Modules as dockerode and docker-modem require them, from their own folders.
const fromDockerode = createRequire(createRequire(import.meta.url).resolve('dockerode'))
const fromModem = createRequire(fromDockerode.resolve('docker-modem'))
const cached = (from: NodeJS.Require, name: string) => from.cache[from.resolve(name)]?.exports as Record<string, unknown> | undefined

describe('the dependencies dockerode loads for features inception does not use', () => {
  const folder = mkdtempSync(join(tmpdir(), 'inception-lazy-'))
  afterAll(() => rmSync(folder, {recursive: true, force: true}))

  it('are stand-ins until used, so loading dockerode does not load them', () => {
    fromDockerode('dockerode')
    // A stand-in has none of the real module's names: the real tar-fs exports pack and extract,
    // the real uuid v1..v7, the real grpc-js Server.
    expect(Object.keys(cached(fromDockerode, 'tar-fs') ?? {pack: 1})).toEqual([])
    expect(Object.keys(cached(fromDockerode, 'uuid') ?? {v1: 1})).toEqual(['v4'])
    expect(Object.keys(cached(fromDockerode, '@grpc/grpc-js') ?? {Server: 1})).toEqual([])
    expect(Object.keys(cached(fromModem, 'ssh2') ?? {Server: 1})).toEqual(['Client'])
  })

  it('load the real module on first use: uuid makes a random UUID', () => {
    const {v4} = fromDockerode('uuid') as {v4: () => string}
    expect(v4()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(Object.keys(cached(fromDockerode, 'uuid') ?? {})).toContain('v1')
  })

  it('load the real module on first use: tar-fs packs a folder as `inception build` has dockerode do', async () => {
    writeFileSync(join(folder, 'Dockerfile'), 'FROM scratch\n')
    const tar = fromDockerode('tar-fs') as {pack: (dir: string) => Readable}
    const chunks: Buffer[] = []
    for await (const chunk of tar.pack(folder)) chunks.push(chunk as Buffer)
    const archive = Buffer.concat(chunks)
    // A tar header holds the member's name, ended by a NUL, at its start.
    expect(archive.toString('latin1')).toContain('Dockerfile\0')
    expect(archive.toString('latin1')).toContain('FROM scratch')
  })
})
