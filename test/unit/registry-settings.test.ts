import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {LABEL} from '../../src/nesting/contract.js'
import {UsageError} from '../../src/nesting/errors.js'
import {Nests} from '../../src/nesting/nest.js'
import {planNest} from '../../src/nesting/plan.js'
import {
  effectiveRegistrySettings,
  localEngineFiles,
  parseCaCert,
  parseDns,
  parseInsecureRegistry,
  parseNoProxy,
  parseProxy,
  parseRegistryMirror,
} from '../../src/nesting/registry-settings.js'
import {planFiles, renderLevel} from '../../src/nesting/render.js'
import {parseUpRequest, type UpInput} from '../../src/nesting/request.js'
import {FakeEngine} from '../support/fake-engine.js'
import {initSandboxes} from '../support/init-shell.js'
import {thrown} from '../support/thrown.js'

const dir = mkdtempSync(join(tmpdir(), 'inception-registry-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----'
const caFile = join(dir, 'ca.pem')
writeFileSync(caFile, `some text before\n${PEM}\n`)
const noEngineSettings = {mirrors: [], insecure: [], httpProxy: '', httpsProxy: '', noProxy: ''}

describe('the registry flags', () => {
  it('take URLs, hosts, addresses and PEM files, and refuse what no level can use, in one line', () => {
    expect(parseRegistryMirror('http://mirror.lan:5000/')).toBe('http://mirror.lan:5000')
    expect(parseProxy('http://user:secret@proxy.lan:3128')).toBe('http://user:secret@proxy.lan:3128')
    expect(parseInsecureRegistry('registry.lan:5000')).toBe('registry.lan:5000')
    expect(parseInsecureRegistry('10.0.0.0/8')).toBe('10.0.0.0/8')
    expect(parseDns('10.1.2.3')).toBe('10.1.2.3')
    expect(parseNoProxy('localhost,.lan,10.0.0.0/8')).toBe('localhost,.lan,10.0.0.0/8')
    expect(parseCaCert(caFile).pem).toBe(`${PEM}\n`)
    const refusals: Array<[() => unknown, RegExp]> = [
      [() => parseRegistryMirror('mirror.lan:5000'), /is not a URL|is not an http/],
      [() => parseRegistryMirror('ftp://mirror.lan'), /is not an http:\/\/ or https:\/\/ URL/],
      [() => parseRegistryMirror('http://127.0.0.1:5000'), /is on this machine's loopback/],
      [() => parseProxy('http://localhost:3128'), /is on this machine's loopback/],
      [() => parseInsecureRegistry('not a host'), /is not a host\[:port\] or a CIDR/],
      [() => parseDns('abc'), /--dns abc is not an IP address/],
      [() => parseDns('127.0.0.53'), /is on this machine's loopback/],
      [() => parseCaCert(join(dir, 'missing.pem')), /--ca-cert .*missing.pem cannot be read \(ENOENT\)/],
      [() => parseCaCert(join(dir, 'ca.pem') + '.none'), /cannot be read/],
    ]
    for (const [parse, message] of refusals) {
      const error = thrown(parse)
      expect(error).toBeInstanceOf(UsageError)
      expect(error.message).toMatch(message)
      expect(error.message).not.toContain('\n')
    }
    writeFileSync(join(dir, 'empty.pem'), 'no certificate here')
    expect(thrown(() => parseCaCert(join(dir, 'empty.pem'))).message).toMatch(/holds no PEM certificate/)
  })
})

describe('what a nest gets', () => {
  const engine = {
    mirrors: ['http://mirror.lan:5000/', 'http://127.0.0.1:5001/'],
    insecure: ['reg.lan:5000'],
    httpProxy: 'http://proxy.lan:3128',
    httpsProxy: '',
    noProxy: '.lan',
  }

  it("inherits the engine's settings, but what no level reaches; a flag replaces its setting; --no-inherit starts clean", () => {
    expect(effectiveRegistrySettings({}, engine, {caCerts: [{file: caFile, pem: PEM}], dns: ['10.0.0.2']})).toEqual({
      mirrors: ['http://mirror.lan:5000'],
      insecure: ['reg.lan:5000'],
      proxy: 'http://proxy.lan:3128',
      noProxy: '.lan',
      dns: ['10.0.0.2'],
      caCerts: [{file: caFile, pem: PEM}],
    })
    const given = effectiveRegistrySettings({mirrors: ['http://other.lan'], dns: ['10.9.9.9']}, engine)
    expect([given.mirrors, given.dns, given.insecure]).toEqual([['http://other.lan'], ['10.9.9.9'], ['reg.lan:5000']])
    expect(effectiveRegistrySettings({inherit: false, insecure: ['x.lan:1']}, engine)).toEqual({mirrors: [], insecure: ['x.lan:1'], dns: [], caCerts: []})
  })

  it("reads this machine's engine files: certs.d's certificates and daemon.json's DNS", () => {
    const docker = join(dir, 'etc-docker')
    mkdirSync(join(docker, 'certs.d', 'reg.lan:5000'), {recursive: true})
    writeFileSync(join(docker, 'certs.d', 'reg.lan:5000', 'ca.crt'), PEM)
    writeFileSync(join(docker, 'daemon.json'), JSON.stringify({dns: ['10.0.0.2', 'not-an-address']}))
    const files = localEngineFiles(docker)
    expect(files.dns).toEqual(['10.0.0.2'])
    expect(files.caCerts.map((c) => c.file)).toEqual([join(docker, 'certs.d', 'reg.lan:5000', 'ca.crt')])
    expect(localEngineFiles(join(dir, 'no-such-folder'))).toEqual({caCerts: [], dns: []})
  })

  it('renders them for every level: dockerd options, the proxy and CA certificates for its init, labels without credentials', () => {
    const input: UpInput = {
      depth: 3,
      registry: {
        mirrors: ['http://mirror.lan:5000'],
        insecure: ['reg.lan:5000'],
        proxy: 'http://u:p@proxy.lan:3128',
        noProxy: '.lan',
        dns: ['10.0.0.2'],
        caCerts: [{file: caFile, pem: PEM}],
      },
    }
    const plan = planNest(parseUpRequest(input), [])
    const decision = {mode: 'privileged' as const, reason: 'test'}
    const levelOne = renderLevel(plan, decision, 1).spec
    for (const spec of [levelOne, ...[2, 3].map((level) => renderLevel(plan, decision, level).spec)]) {
      const env = Object.fromEntries(spec.env!.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])) as Record<string, string>
      expect(env.INCEPTION_DOCKERD_OPTIONS).toContain('--registry-mirror=http://mirror.lan:5000 --insecure-registry=reg.lan:5000 --dns=10.0.0.2')
      expect([env.INCEPTION_HTTP_PROXY, env.INCEPTION_NO_PROXY]).toEqual(['http://u:p@proxy.lan:3128', '.lan'])
      expect(Buffer.from(env.INCEPTION_CA_CERTS!, 'base64').toString()).toBe(PEM)
    }
    expect(levelOne.labels![LABEL.proxy]).toBe('http://proxy.lan:3128')
    expect(levelOne.labels![LABEL.registryMirrors]).toBe('http://mirror.lan:5000')
    // One argument a line: the certificates travel as one line of base64.
    expect(
      planFiles(plan, decision)
        ['level-2.args']!.content.split('\n')
        .filter((line) => line.startsWith('INCEPTION_CA_CERTS=')).length,
    ).toBe(1)
  })

  it("merges in what the engine's info gives when up prepares", async () => {
    const fake = new FakeEngine()
    fake.registry = {...noEngineSettings, mirrors: ['http://mirror.lan:5000']}
    const prepared = await new Nests(fake).prepare(parseUpRequest({image: 'inception:test', depth: 1}))
    expect(prepared.request.registry.mirrors).toEqual(['http://mirror.lan:5000'])
    const clean = await new Nests(fake).prepare(parseUpRequest({image: 'inception:test', depth: 1, registry: {inherit: false}}))
    expect(clean.request.registry.mirrors).toEqual([])
  })
})

describe("the init's part", () => {
  const sandbox = initSandboxes()
  const fakes = {dockerd: 'env >"$SANDBOX/dockerd.env"; printf "%s\\n" "$@" >"$SANDBOX/dockerd.args"'}
  const step = 'mkdir -p "$STATE_DIR"; STORAGE_DRIVER=overlay2; DOCKERD_MAJOR=26; IP6TABLES_OPTION=; choose_mtu; start_dockerd; wait; write_client_config'

  it("gives dockerd the proxy and the CA certificates, and the level's docker CLI the proxy for its containers", async () => {
    const box = sandbox(fakes)
    const result = await box.run(step, {
      INCEPTION_HTTP_PROXY: 'http://proxy.lan:3128',
      INCEPTION_NO_PROXY: '.lan',
      INCEPTION_CA_CERTS: Buffer.from(PEM).toString('base64'),
    })
    expect(result.exitCode, result.stderr).toBe(0)
    const env = readFileSync(box.path('dockerd.env'), 'utf8')
    for (const line of [
      'HTTP_PROXY=http://proxy.lan:3128',
      'HTTPS_PROXY=http://proxy.lan:3128',
      'NO_PROXY=.lan',
      `SSL_CERT_DIR=/etc/ssl/certs:${box.path('state')}/ca-certs`,
    ])
      expect(env.split('\n')).toContain(line)
    expect(readFileSync(box.path('state/ca-certs/inception.pem'), 'utf8')).toBe(PEM)
    expect(JSON.parse(readFileSync(box.path('client-config/config.json'), 'utf8'))).toEqual({
      proxies: {default: {httpProxy: 'http://proxy.lan:3128', httpsProxy: 'http://proxy.lan:3128', noProxy: '.lan'}},
    })
  })

  it('changes nothing without them', async () => {
    const box = sandbox(fakes)
    const result = await box.run(step, {})
    expect(result.exitCode, result.stderr).toBe(0)
    expect(readFileSync(box.path('dockerd.env'), 'utf8')).not.toMatch(/^(HTTP_PROXY|SSL_CERT_DIR)=/m)
    expect(() => readFileSync(box.path('client-config/config.json'))).toThrow()
  })
})
