import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {checkContextsFree, contextName, removeContexts, writeContexts} from '../../src/nesting/contexts.js'
import {ContextsUnwritable, ContextTaken} from '../../src/nesting/errors.js'
import {thrown} from '../support/thrown.js'

const dir = mkdtempSync(join(tmpdir(), 'inception-contexts-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
const id = (name: string) => createHash('sha256').update(name).digest('hex')

/** A docker configuration folder of its own for each test. */
function config(name: string): NodeJS.ProcessEnv {
  return {DOCKER_CONFIG: join(dir, name)}
}

describe("docker contexts, in the docker CLI's own store", () => {
  it('writes meta/<sha256 of the name>/meta.json, and for TLS the client files 0600 in 0700 folders', () => {
    const env = config('write')
    const certs = join(dir, 'certs')
    mkdirSync(certs)
    for (const file of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(certs, file), `${file} content`)
    writeContexts(
      'demo',
      'ENGINE',
      [
        {level: 1, host: 'unix:///run/inception/demo/level-1.sock'},
        {level: 2, host: 'tcp://127.0.0.1:23000', certPath: certs},
      ],
      env,
    )
    const name = contextName('demo', 2)
    expect(name).toBe('inception-demo-l2')
    const meta = JSON.parse(readFileSync(join(dir, 'write', 'contexts', 'meta', id(name), 'meta.json'), 'utf8')) as unknown
    expect(meta).toEqual({
      Name: name,
      Metadata: {Description: 'level 2 of inception nest "demo"', inception: {nest: 'demo', level: 2, engine: 'ENGINE'}},
      Endpoints: {docker: {Host: 'tcp://127.0.0.1:23000', SkipTLSVerify: false}},
    })
    const tls = join(dir, 'write', 'contexts', 'tls', id(name))
    expect(statSync(tls).mode & 0o777).toBe(0o700)
    expect(statSync(join(tls, 'docker')).mode & 0o777).toBe(0o700)
    expect(statSync(join(tls, 'docker', 'key.pem')).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(tls, 'docker', 'ca.pem'), 'utf8')).toBe('ca.pem content')
    expect(existsSync(join(dir, 'write', 'contexts', 'tls', id(contextName('demo', 1))))).toBe(false)
  })

  it("refuses a name someone else's context holds, or a store that cannot be written; replaces one of its own", () => {
    const env = config('taken')
    const theirs = join(dir, 'taken', 'contexts', 'meta', id('inception-n-l2'))
    mkdirSync(theirs, {recursive: true})
    writeFileSync(join(theirs, 'meta.json'), JSON.stringify({Name: 'inception-n-l2', Metadata: {}, Endpoints: {docker: {Host: 'unix:///x'}}}))
    expect(thrown(() => checkContextsFree('n', 3, 'ENGINE', env))).toBeInstanceOf(ContextTaken)
    checkContextsFree('n', 1, 'ENGINE', env)
    writeContexts('m', 'ENGINE', [{level: 1, host: 'unix:///y'}], env)
    checkContextsFree('m', 1, 'ENGINE', env)
    // The same name, written for a nest of another engine.
    expect(thrown(() => checkContextsFree('m', 1, 'OTHER', env))).toBeInstanceOf(ContextTaken)
    writeFileSync(join(dir, 'a-file'), '')
    expect(thrown(() => checkContextsFree('n', 1, 'ENGINE', {DOCKER_CONFIG: join(dir, 'a-file', 'config')}))).toBeInstanceOf(ContextsUnwritable)
  })

  it("removes a nest's own only, and moves the current context off them", () => {
    const env = config('remove')
    writeContexts(
      'a',
      'ENGINE',
      [
        {level: 1, host: 'unix:///a1'},
        {level: 2, host: 'unix:///a2'},
      ],
      env,
    )
    writeContexts('b', 'ENGINE', [{level: 1, host: 'unix:///b1'}], env)
    writeContexts('a', 'OTHER', [{level: 3, host: 'unix:///a3'}], env)
    writeFileSync(join(dir, 'remove', 'config.json'), JSON.stringify({currentContext: 'inception-a-l2', auths: {}}))
    expect(removeContexts('a', 'ENGINE', env).sort()).toEqual(['inception-a-l1', 'inception-a-l2'])
    expect(JSON.parse(readFileSync(join(dir, 'remove', 'config.json'), 'utf8'))).toEqual({auths: {}})
    writeFileSync(join(dir, 'remove', 'config.json'), JSON.stringify({currentContext: 'inception-b-l1'}))
    expect(removeContexts('b', 'OTHER', env)).toEqual([])
    expect(JSON.parse(readFileSync(join(dir, 'remove', 'config.json'), 'utf8'))).toEqual({currentContext: 'inception-b-l1'})
    expect(existsSync(join(dir, 'remove', 'contexts', 'meta', id('inception-a-l3')))).toBe(true)
  })
})
