import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {dockerodeOptions, resolveEndpoint} from '../../src/nesting/endpoint.js'
import {UsageError} from '../../src/nesting/errors.js'
import {thrown} from '../support/thrown.js'

/** A docker CLI config folder with one context, as `docker context create` writes it. */
function configWithContext(name: string, host: string, withTls: boolean): string {
  const config = mkdtempSync(join(tmpdir(), 'inception-docker-config-'))
  const id = createHash('sha256').update(name).digest('hex')
  mkdirSync(join(config, 'contexts', 'meta', id), {recursive: true})
  writeFileSync(join(config, 'contexts', 'meta', id, 'meta.json'), JSON.stringify({Name: name, Endpoints: {docker: {Host: host, SkipTLSVerify: false}}}))
  if (withTls) {
    const tls = join(config, 'contexts', 'tls', id, 'docker')
    mkdirSync(tls, {recursive: true})
    for (const file of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(tls, file), `${file} of ${name}`)
  }
  return config
}

describe('engine endpoint', () => {
  it('defaults to the local socket', () => {
    const endpoint = resolveEndpoint(undefined, {DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'empty-'))})
    expect(endpoint.address).toBe('unix:///var/run/docker.sock')
    expect(dockerodeOptions(endpoint)).toEqual({socketPath: '/var/run/docker.sock'})
  })

  it('reads DOCKER_HOST with TLS from DOCKER_CERT_PATH', () => {
    const certs = mkdtempSync(join(tmpdir(), 'certs-'))
    for (const file of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(certs, file), file)
    const endpoint = resolveEndpoint(undefined, {DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs})
    expect(dockerodeOptions(endpoint)).toEqual({protocol: 'https', host: '127.0.0.1', port: '2376', ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem'})
  })

  it('says which file of DOCKER_CERT_PATH it cannot read', () => {
    const error = thrown(() =>
      resolveEndpoint(undefined, {DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nonexistent/certs'}),
    )
    expect(error).toBeInstanceOf(UsageError)
    expect(error.message).toBe('DOCKER_CERT_PATH /nonexistent/certs: /nonexistent/certs/ca.pem is missing (ENOENT)')
  })

  it('reads a context from the docker CLI store, explicitly or as DOCKER_CONTEXT', () => {
    const config = configWithContext('far', 'tcp://10.0.0.9:2376', true)
    for (const endpoint of [resolveEndpoint('far', {DOCKER_CONFIG: config}), resolveEndpoint(undefined, {DOCKER_CONFIG: config, DOCKER_CONTEXT: 'far'})]) {
      expect(endpoint).toMatchObject({address: 'tcp://10.0.0.9:2376', source: 'context far', tls: {ca: 'ca.pem of far', verify: true}})
    }
  })

  it('lets an explicit --context win over DOCKER_HOST, and DOCKER_HOST over DOCKER_CONTEXT', () => {
    const config = configWithContext('far', 'tcp://10.0.0.9:2376', false)
    expect(resolveEndpoint('far', {DOCKER_CONFIG: config, DOCKER_HOST: 'unix:///other.sock'}).address).toBe('tcp://10.0.0.9:2376')
    expect(resolveEndpoint(undefined, {DOCKER_CONFIG: config, DOCKER_HOST: 'unix:///other.sock', DOCKER_CONTEXT: 'far'}).address).toBe('unix:///other.sock')
  })

  it("follows the docker CLI's current context (config.json), below DOCKER_CONTEXT and DOCKER_HOST", () => {
    const config = configWithContext('far', 'tcp://10.0.0.9:2376', true)
    writeFileSync(join(config, 'config.json'), JSON.stringify({auths: {}, currentContext: 'far'}))
    expect(resolveEndpoint(undefined, {DOCKER_CONFIG: config})).toMatchObject({
      address: 'tcp://10.0.0.9:2376',
      source: 'context far',
      tls: {key: 'key.pem of far'},
    })
    // DOCKER_CONTEXT names another context: it wins, as in the docker CLI.
    const near = createHash('sha256').update('near').digest('hex')
    mkdirSync(join(config, 'contexts', 'meta', near), {recursive: true})
    writeFileSync(join(config, 'contexts', 'meta', near, 'meta.json'), JSON.stringify({Name: 'near', Endpoints: {docker: {Host: 'unix:///near.sock'}}}))
    expect(resolveEndpoint(undefined, {DOCKER_CONFIG: config, DOCKER_CONTEXT: 'near'})).toMatchObject({address: 'unix:///near.sock', source: 'context near'})
    // DOCKER_CONTEXT=default, or DOCKER_HOST, is the default context whatever config.json says.
    expect(resolveEndpoint(undefined, {DOCKER_CONFIG: config, DOCKER_CONTEXT: 'default'})).toEqual({
      address: 'unix:///var/run/docker.sock',
      source: 'the default socket',
    })
    expect(resolveEndpoint(undefined, {DOCKER_CONFIG: config, DOCKER_HOST: 'unix:///other.sock'})).toEqual({
      address: 'unix:///other.sock',
      source: 'DOCKER_HOST',
      tls: undefined,
    })
  })

  it('takes the local socket when the current context is "default" or config.json names none', () => {
    const config = configWithContext('far', 'tcp://10.0.0.9:2376', false)
    writeFileSync(join(config, 'config.json'), JSON.stringify({currentContext: 'default'}))
    expect(resolveEndpoint(undefined, {DOCKER_CONFIG: config})).toEqual({address: 'unix:///var/run/docker.sock', source: 'the default socket'})
    writeFileSync(join(config, 'config.json'), JSON.stringify({auths: {}}))
    expect(resolveEndpoint(undefined, {DOCKER_CONFIG: config})).toEqual({address: 'unix:///var/run/docker.sock', source: 'the default socket'})
  })

  it('refuses a current context that is not in the store, naming it', () => {
    const config = mkdtempSync(join(tmpdir(), 'inception-docker-config-'))
    writeFileSync(join(config, 'config.json'), JSON.stringify({currentContext: 'gone'}))
    const error = thrown(() => resolveEndpoint(undefined, {DOCKER_CONFIG: config}))
    expect(error).toBeInstanceOf(UsageError)
    expect(error.message).toBe('unknown docker context "gone"')
  })

  it('refuses an unknown context with what to do', () => {
    const error = thrown(() => resolveEndpoint('nope', {DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'empty-'))}))
    expect(error.message).toBe('unknown docker context "nope"')
    expect(error.hint).toMatch(/docker context ls/)
  })

  it('turns ssh:// into an ssh connection through the agent', () => {
    expect(dockerodeOptions({address: 'ssh://ops@build-host:2222', source: 'DOCKER_HOST'})).toMatchObject({
      protocol: 'ssh',
      host: 'build-host',
      port: '2222',
      username: 'ops',
    })
  })

  it('refuses an address it cannot use', () => {
    expect(() => dockerodeOptions({address: 'npipe:////./pipe/docker_engine', source: 'DOCKER_HOST'})).toThrow(/not unix:\/\/, tcp:\/\/ or ssh:\/\//)
  })
})
