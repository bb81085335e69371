import {execa} from 'execa'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {bootstrappedBaseForSuite, DEFAULT_IMAGE, DEFAULT_SUITE} from '../../src/nesting/suites.js'
import {issueNestCertificates} from '../../src/nesting/tls.js'
import {cli, type HostSnapshot, integrationEngine, psLevels, shAt, snapshot} from '../support/integration.js'

/**
 * The host's registry settings reaching every level, against real parts on a network the test
 * makes, which level 1 joins (--network): Debian's distribution registry (plain, and behind TLS
 * from a CA the test makes), squid, and dnsmasq, each in a container of an image built here
 * from the project's own bootstrapped base (apt reaches Debian's packages). Levels below the first
 * reach what level 1 reaches through each level's NAT; names that only Docker's embedded DNS of
 * that network knows resolve at level 1 alone, so the parts are given by address.
 */
const engine = await integrationEngine()
const SERVICES = 'inception-itest-services:1'
const NETWORK = 'itest-reg-net'
const PARTS = ['itest-registry', 'itest-registry-tls', 'itest-proxy', 'itest-dns']
const NESTS = ['itest-reg', 'itest-reg-ca', 'itest-reg-noca']
const REGISTRY_PORT = 5000
const PUSH_PORT = 18_500

const docker = (args: string[], options: {input?: string} = {}) => execa('docker', args, {reject: false, ...options})
/** The network's subnet, clear of the nests' pool (172.31.0.0/16), and each part's address in it. */
const SUBNET = '10.213.50.0/24'
const [registry, secure, proxy, dns] = ['10.213.50.10', '10.213.50.11', '10.213.50.12', '10.213.50.13']

describe.skipIf(!engine)('the host registry settings, at every level', () => {
  const work = mkdtempSync(join(tmpdir(), 'inception-registry-'))
  let before: HostSnapshot
  const caFile = join(work, 'ca.pem')

  const cleanUp = async () => {
    for (const nest of NESTS) await cli(['down', '--name', nest])
    await docker(['rm', '-f', '-v', ...PARTS])
    await docker(['network', 'rm', NETWORK])
  }

  beforeAll(async () => {
    await cleanUp()
    before = await snapshot()
    // The parts' image, built once (its tag is kept between runs; `docker build` reuses its layers).
    const dockerfile = [
      `FROM ${bootstrappedBaseForSuite(DEFAULT_SUITE)}`,
      'RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\',
      '    docker-registry squid dnsmasq >/dev/null && rm -rf /var/lib/apt/lists/*',
      'RUN printf "version: 0.1\\nstorage:\\n  filesystem:\\n    rootdirectory: /var/lib/registry\\nhttp:\\n  addr: :5000\\n" > /etc/docker/registry/test.yml',
      'RUN cp /etc/docker/registry/test.yml /etc/docker/registry/tls.yml && \\',
      '    printf "  tls:\\n    certificate: /tls/cert.pem\\n    key: /tls/key.pem\\n" >> /etc/docker/registry/tls.yml',
      // squid, not tinyproxy: tinyproxy keeps one of the several Accept headers a docker pull sends, and
      // the registry then answers with the old manifest format, which Docker 26 refuses.
      'RUN printf "http_port 3128\\nhttp_access allow all\\ncache deny all\\npid_filename none\\n" > /etc/squid/test.conf && \\',
      '    echo "access_log stdio:/var/log/squid/test-access.log" >> /etc/squid/test.conf',
      '',
    ].join('\n')
    const build = await docker(['build', '-q', '-t', SERVICES, '-'], {input: dockerfile})
    expect(build.exitCode, build.stderr).toBe(0)
    expect((await docker(['network', 'create', '--subnet', SUBNET, NETWORK])).exitCode).toBe(0)
    const run = async (name: string, address: string, args: string[]) => {
      const started = await docker(['run', '-d', '--name', name, '--network', NETWORK, '--ip', address, ...args])
      expect(started.exitCode, started.stderr).toBe(0)
    }
    await run('itest-registry', registry, [
      '-p',
      `127.0.0.1:${PUSH_PORT}:${REGISTRY_PORT}`,
      SERVICES,
      'docker-registry',
      'serve',
      '/etc/docker/registry/test.yml',
    ])
    await run('itest-proxy', proxy, [SERVICES, 'squid', '-N', '-f', '/etc/squid/test.conf'])
    await run('itest-dns', dns, [SERVICES, 'dnsmasq', '--no-daemon', '--no-resolv', '--address=/made-up.inception.test/10.99.0.7', '--log-queries'])
    // The TLS registry: a CA of the test's, and a server certificate for its address, signed by it.
    const certs = await issueNestCertificates('itest-registry', [secure])
    writeFileSync(caFile, certs.caCert)
    const tls = join(work, 'tls')
    mkdirSync(tls)
    writeFileSync(join(tls, 'cert.pem'), certs.serverCert)
    writeFileSync(join(tls, 'key.pem'), certs.serverKey)
    await run('itest-registry-tls', secure, ['-v', `${tls}:/tls:ro`, SERVICES, 'docker-registry', 'serve', '/etc/docker/registry/tls.yml'])
    // busybox, as the level image carries it, pushed as library/busybox:mirrored (a name only the mirror has) and as app:1.
    const busybox = `docker run --rm --entrypoint cat ${DEFAULT_IMAGE} /usr/local/lib/inception/busybox-rootfs.tar`
    const pushed = `127.0.0.1:${PUSH_PORT}`
    const script = [
      `${busybox} | docker import -c 'CMD ["sh"]' - ${pushed}/library/busybox:mirrored >/dev/null`,
      `docker tag ${pushed}/library/busybox:mirrored ${pushed}/app:1`,
      `docker push -q ${pushed}/library/busybox:mirrored`,
      `docker push -q ${pushed}/app:1`,
    ].join(' && ')
    const push = await execa('sh', ['-c', script], {reject: false})
    expect(push.exitCode, push.stderr).toBe(0)
    await docker(['rmi', `${pushed}/library/busybox:mirrored`, `${pushed}/app:1`])
    // The same images in the TLS registry: the plain one's storage, copied over.
    const unpack = "sh -c 'mkdir -p /var/lib/registry && tar -C /var/lib/registry -xf -'"
    const copy = await execa('sh', ['-c', `docker exec itest-registry tar -C /var/lib/registry -cf - . | docker exec -i itest-registry-tls ${unpack}`], {
      reject: false,
    })
    expect(copy.exitCode, copy.stderr).toBe(0)
  }, 600_000)

  afterAll(async () => {
    await cleanUp()
    rmSync(work, {recursive: true, force: true})
  })

  it('pulls through the mirror at level 4, and from an insecure registry at level 3, with docker pull and docker buildx', async () => {
    const up = await cli([
      'up',
      '--name',
      'itest-reg',
      '--depth',
      '4',
      '--network',
      NETWORK,
      '--registry-mirror',
      `http://${registry}:${REGISTRY_PORT}`,
      '--insecure-registry',
      `${registry}:${REGISTRY_PORT}`,
      '--proxy',
      `http://${proxy}:3128`,
      '--no-proxy',
      'deb.debian.org.invalid',
      '--dns',
      dns,
      '--no-inherit',
    ])
    expect(up.exitCode, up.stderr).toBe(0)
    // A name that exists only in the mirror.
    const mirrored = await shAt('itest-reg', 4, 'docker pull -q busybox:mirrored && docker run --rm busybox:mirrored echo mirrored')
    expect(mirrored.stdout.trim().split('\n').at(-1), mirrored.stderr).toBe('mirrored')
    const insecure = await shAt('itest-reg', 3, `docker pull -q ${registry}:${REGISTRY_PORT}/app:1`)
    expect(insecure.exitCode, insecure.stderr).toBe(0)
    const build = await shAt(
      'itest-reg',
      3,
      `printf 'FROM ${registry}:${REGISTRY_PORT}/app:1\\nRUN echo built > /built\\n' | docker buildx build -q -t itest-built -`,
    )
    expect(build.exitCode, build.stderr).toBe(0)
    expect((await shAt('itest-reg', 3, 'docker run --rm itest-built cat /built')).stdout.trim()).toBe('built')
  })

  it("sends level 3's pulls and its containers' requests through the proxy, as its log shows", async () => {
    const pulled = await shAt(
      'itest-reg',
      3,
      `docker rmi -f ${registry}:${REGISTRY_PORT}/app:1 >/dev/null 2>&1; docker pull -q ${registry}:${REGISTRY_PORT}/app:1`,
    )
    expect(pulled.exitCode, pulled.stderr).toBe(0)
    const load = await cli(['load', bootstrappedBaseForSuite(DEFAULT_SUITE), '--name', 'itest-reg', '--level', '3'])
    expect(load.exitCode, load.stderr).toBe(0)
    const apt = await shAt('itest-reg', 3, `docker run --rm ${bootstrappedBaseForSuite(DEFAULT_SUITE)} apt-get update -qq`)
    expect(apt.exitCode, apt.stderr).toBe(0)
    const log = (await docker(['exec', 'itest-proxy', 'cat', '/var/log/squid/test-access.log'])).stdout
    expect(log).toContain(`${registry}:${REGISTRY_PORT}`)
    // apt's requests for the suite's index files (CONNECT host:443 for an https mirror).
    expect(log).toMatch(/dists\/|:443/)
  })

  it('resolves a made-up name at level 3 through --dns, and ps shows each level its engine reports', async () => {
    const resolved = await shAt('itest-reg', 3, 'docker run --rm busybox nslookup made-up.inception.test')
    expect(resolved.stdout, resolved.stderr).toContain('10.99.0.7')
    const {levels} = await psLevels('itest-reg')
    for (const level of levels) {
      expect(level.registry, `level ${level.level}`).toEqual({
        mirrors: [`http://${registry}:${REGISTRY_PORT}/`],
        insecure: [`${registry}:${REGISTRY_PORT}`],
        proxy: `http://${proxy}:3128`,
        noProxy: 'deb.debian.org.invalid',
        dns: [dns],
        caCerts: 0,
      })
    }
    expect((await cli(['down', '--name', 'itest-reg'])).exitCode).toBe(0)
  })

  it("trusts a private CA's registry at level 3 with --ca-cert, and refuses it with a certificate error without", async () => {
    const image = `${secure}:${REGISTRY_PORT}/app:1`
    expect((await cli(['up', '--name', 'itest-reg-noca', '--depth', '3', '--network', NETWORK, '--no-inherit'])).exitCode).toBe(0)
    const refused = await shAt('itest-reg-noca', 3, `docker pull -q ${image}`)
    expect(refused.exitCode).not.toBe(0)
    expect(refused.stderr).toMatch(/x509|certificate/)
    expect((await cli(['down', '--name', 'itest-reg-noca'])).exitCode).toBe(0)
    expect((await cli(['up', '--name', 'itest-reg-ca', '--depth', '3', '--network', NETWORK, '--no-inherit', '--ca-cert', caFile])).exitCode).toBe(0)
    const trusted = await shAt('itest-reg-ca', 3, `docker pull -q ${image}`)
    expect(trusted.exitCode, trusted.stderr).toBe(0)
    expect((await psLevels('itest-reg-ca')).levels.map((level) => level.registry?.caCerts)).toEqual([1, 1, 1])
    expect((await cli(['down', '--name', 'itest-reg-ca'])).exitCode).toBe(0)
  })

  it('leaves the host as it was, the test parts removed', async () => {
    await cleanUp()
    const after = await snapshot()
    const withoutParts = (shot: HostSnapshot) => ({...shot, images: shot.images.filter((i) => !i.startsWith(SERVICES.split(':')[0]!))})
    expect(withoutParts(after)).toEqual(withoutParts(before))
  })
})
