import {describe, expect, it} from 'vitest'

import {dockerdError, levelFailure, UsageError} from '../../src/nesting/errors.js'
import {imageReferenceProblem, parseImageReference} from '../../src/nesting/image.js'
import {isImageIdOf, namesToSave} from '../../src/nesting/load.js'
import {planNest} from '../../src/nesting/plan.js'
import {levelOneSpec} from '../../src/nesting/render.js'
import {OWNED_DOCKERD_OPTIONS, parseDockerdArg} from '../../src/nesting/dockerd-options.js'
import {bindWarning, checkBindAddress, parseUpRequest} from '../../src/nesting/request.js'
import {interfaceAddresses, parseSubnetPool} from '../../src/nesting/subnets.js'

const capsDecision = {mode: 'caps' as const, capDrop: ['SYS_RESOURCE'], reason: 'test'}

/** The UsageError FN throws (a TypeError or a plain Error fails the test). */
function usageError(fn: () => unknown): UsageError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError)
    return error as UsageError
  }
  throw new Error('accepted')
}

describe('--dockerd-arg refuses the options inception sets itself', () => {
  it.each([
    ['--tlsverify=false', /inception sets --tlsverify/, /--expose-daemons/],
    ['--tls', /inception sets --tls\b/, /--expose-daemons/],
    ['--host=tcp://0.0.0.0:2375', /inception sets --host/, /--expose-daemons/],
    ['-Htcp://0.0.0.0:2375', /inception sets --host/, /--expose-daemons/],
    ['-DH=tcp://0.0.0.0:2375', /inception sets --host/, /--expose-daemons/],
    ['--bip=10.9.9.1/24', /inception sets --bip/, /--subnet-pool/],
    ['--default-address-pool=base=10.0.0.0/8,size=24', /inception sets --default-address-pool/, /--subnet-pool/],
    ['--data-root=/tmp/x', /inception sets --data-root/, /--data-root volume\|tmpfs\|loop:SIZE/],
    ['--storage-driver=vfs', /inception sets --storage-driver/, /use --storage-driver/],
    ['-s', /inception sets --storage-driver/, /use --storage-driver/],
    ['--mtu=1400', /inception sets --mtu/, /use --mtu/],
    ['--default-network-opt=bridge=com.docker.network.driver.mtu=1400', /inception sets --mtu/, /use --mtu/],
    ['--pidfile=/tmp/p', /inception sets --pidfile/, /leave it out/],
    ['--exec-root=/tmp/e', /inception sets --exec-root/, /leave it out/],
    ['--iptables=false', /inception sets --iptables/, /port chain/],
    ['--config-file=/etc/docker/daemon.json', /inception sets --config-file/, /its own --dockerd-arg/],
    ['--exec-opt=native.cgroupdriver=systemd', /inception sets --cgroup-parent/, /cgroups/],
    ['-v', /inception sets --version/, /inception ps/],
  ])('%s', (arg, what, instead) => {
    const error = usageError(() => parseDockerdArg(arg))
    expect(error.message).toMatch(/^--dockerd-arg /)
    expect(error.message).toMatch(what)
    expect(error.hint).toMatch(instead)
  })

  it.each([
    '--debug',
    '-D',
    '--log-level=warn',
    '-ldebug',
    '--default-network-opt=bridge=com.docker.network.bridge.enable_icc=false',
    '--max-concurrent-downloads=6',
  ])('lets %s through', (arg) => {
    expect(parseDockerdArg(arg)).toBe(arg)
  })

  it('names, for every owned option, what to do instead', () => {
    for (const owned of OWNED_DOCKERD_OPTIONS) {
      expect(owned.instead.length, owned.option).toBeGreaterThan(10)
      expect(() => parseDockerdArg(`${owned.option}=x`), owned.option).toThrow(UsageError)
    }
  })
})

describe('--subnet-pool takes private ranges only', () => {
  it.each([
    ['127.0.0.0/16', /overlaps 127\.0\.0\.0\/8, the loopback range/],
    ['224.1.0.0/16', /overlaps 224\.0\.0\.0\/4, the multicast range/],
    ['169.254.0.0/16', /overlaps 169\.254\.0\.0\/16, the link-local range/],
    ['0.0.0.0/0', /is wider than a \/8/],
    ['10.0.0.0/7', /is wider than a \/8/],
    ['8.8.0.0/16', /is not inside a private range/],
    ['172.15.0.0/16', /is not inside a private range/],
    ['240.0.0.0/16', /the reserved range/],
  ])('refuses %s', (pool, pattern) => {
    const error = usageError(() => parseSubnetPool(pool))
    expect(error.message).toMatch(pattern)
    expect(error.hint).toMatch(/10\.0\.0\.0\/8, 172\.16\.0\.0\/12 or 192\.168\.0\.0\/16/)
  })

  it.each(['172.31.0.0/16', '10.213.0.0/16', '192.168.77.0/24', '10.0.0.0/8', '172.16.0.0/12'])('takes %s', (pool) => {
    expect(() => parseSubnetPool(pool)).not.toThrow()
  })

  it("reads this machine's interfaces from `ip -o -4 addr`, those that are down included", () => {
    const listed = [
      '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
      '4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever',
      // A dummy interface that is down: libuv (Node's networkInterfaces) leaves it out.
      '7: spare0    inet 10.213.5.1/24 scope global spare0\\       valid_lft forever preferred_lft forever',
    ].join('\n')
    expect(interfaceAddresses(listed)).toEqual(['192.0.2.2/24', '10.213.5.1/24'])
  })
})

describe('--bind', () => {
  it('warns on stderr for an address other machines can reach, not for loopback', () => {
    expect(bindWarning('0.0.0.0')).toMatch(/^inception: warning: --bind 0\.0\.0\.0 makes the published ports reachable from other machines.*; /)
    expect(bindWarning('192.0.2.2')).toMatch(/reachable from other machines/)
    expect(bindWarning('127.0.0.1')).toBeUndefined()
    expect(bindWarning('127.0.0.2')).toBeUndefined()
  })

  it('refuses an address this machine does not have, before anything is made', () => {
    expect(() => checkBindAddress('192.0.2.77', ['192.0.2.2/24'])).toThrow(/--bind 192\.0\.2\.77 is not an address of this machine/)
    expect(() => checkBindAddress('192.0.2.2', ['192.0.2.2/24'])).not.toThrow()
    expect(() => checkBindAddress('0.0.0.0', [])).not.toThrow()
    expect(() => checkBindAddress('127.0.0.5', [])).not.toThrow()
  })

  it("keeps the engines' TLS ports on 127.0.0.1 whatever --bind says (ps and env print that)", () => {
    const request = parseUpRequest({depth: 2, bind: '0.0.0.0', exposeDaemons: true, ports: [{hostPort: 18080, innerPort: 80}]})
    const spec = levelOneSpec(planNest(request, []), capsDecision)
    const bindings = spec.host.portBindings!
    expect(bindings['80/tcp']).toEqual([{HostIp: '0.0.0.0', HostPort: '18080'}])
    const daemonPorts = Object.entries(bindings).filter(([port]) => port !== '80/tcp')
    expect(daemonPorts).toHaveLength(2)
    for (const [, [binding]] of daemonPorts) expect(binding!.HostIp).toBe('127.0.0.1')
  })
})

describe('--network none', () => {
  it('refuses -p and --expose-daemons, which nothing could reach', () => {
    expect(usageError(() => parseUpRequest({network: 'none', ports: [{hostPort: 18082, innerPort: 8080}]})).message).toMatch(
      /-p 18082:8080 cannot reach a nest on --network none/,
    )
    expect(usageError(() => parseUpRequest({network: 'none', exposeDaemons: true})).message).toMatch(/--expose-daemons cannot reach a nest on --network none/)
    expect(parseUpRequest({network: 'none'}).network).toBe('none')
  })
})

describe('image references are checked with the docker grammar before the engine sees them', () => {
  it.each([
    ['', /it is empty/],
    ['a b', /contains a space/],
    ['Foo', /repository names are lowercase/],
    ['myapp:1.0 ', /contains a space/],
    ['-x', /starts with "-"/],
    ['my app:latest', /contains a space/],
    ['app:', /NAME\[:TAG\]\[@DIGEST\]/],
    ['app::1', /NAME\[:TAG\]\[@DIGEST\]/],
    ['a//b', /NAME\[:TAG\]\[@DIGEST\]/],
    [`${'a'.repeat(256)}:1`, /longer than 255/],
  ])('refuses %j', (reference, problem) => {
    expect(imageReferenceProblem(reference)).toMatch(problem)
    const error = usageError(() => parseImageReference(reference, '--image'))
    expect(error.message).toMatch(/^--image ".*" is not an image reference: /)
  })

  it.each([
    'busybox',
    'busybox:latest',
    'inception:0.1.0-trixie',
    'library/busybox:1.36',
    'Registry.Example:5000/team/app:2',
    'localhost/app',
    '[::1]:5000/app:v1',
    'app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    'a1ff29b03e65',
    'sha256:a1ff29b03e65a1ff29b03e65a1ff29b03e65a1ff29b03e65a1ff29b03e65abcd',
    'my_app-x.y__z:V1.0-rc_1',
  ])('takes %j', (reference) => {
    expect(imageReferenceProblem(reference)).toBeUndefined()
  })
})

describe('load by image ID', () => {
  const id = 'sha256:a1ff29b03e65' + '0'.repeat(52)
  const image = (reference: string, tags: string[]) => ({reference, details: {id, sizeBytes: 1, tags, labels: {}}})

  it('saves an image given by ID by its tags, so that it arrives with them (docker save by ID drops them)', () => {
    expect(isImageIdOf('a1ff29b03e65', id)).toBe(true)
    expect(isImageIdOf('myapp', id)).toBe(false)
    expect(namesToSave([image('a1ff29b03e65', ['myapp:1', 'myapp:latest'])])).toEqual(['myapp:1', 'myapp:latest'])
    expect(namesToSave([image(id, ['myapp:1'])])).toEqual(['myapp:1'])
  })

  it('saves by name what was given by name, and an untagged image by its ID', () => {
    expect(namesToSave([image('myapp:1', ['myapp:1', 'myapp:latest'])])).toEqual(['myapp:1'])
    expect(namesToSave([image('a1ff29b03e65', [])])).toEqual(['a1ff29b03e65'])
  })
})

describe("a level whose dockerd refused to start says dockerd's own words", () => {
  const tail = (said: string[]) =>
    [
      'time="2026-12-02T00:07:10.762035172Z" level=info msg=serving... address=/var/run/docker/containerd/containerd.sock',
      'inception-init[level 1]: starting dockerd --host=unix:///var/run/docker.sock --foo',
      ...said,
      'inception-init[level 1]: error: dockerd exited while starting (see the log above)',
    ].join('\n')

  it.each([
    [['Status: unknown flag: --foo', "See 'dockerd --help'., Code: 125"], 'unknown flag: --foo'],
    [['invalid logging level: nope'], 'invalid logging level: nope'],
    [
      ['time="2026-12-02T00:07:17Z" level=warning msg="something"', 'failed to start daemon: error initializing graphdriver: driver not supported'],
      'failed to start daemon: error initializing graphdriver: driver not supported',
    ],
    [['time="2026-12-02T00:07:17Z" level=fatal msg="Error starting daemon: \\"x\\" is bad"'], 'Error starting daemon: "x" is bad'],
  ])('%j', (said, line) => {
    expect(dockerdError(tail(said))).toBe(line)
    const failure = levelFailure(1, 'dockerd exited while starting (see the log above)', tail(said))
    expect(failure.message).toBe(`level 1 failed: dockerd exited while starting: ${line}`)
    expect(failure.hint).not.toMatch(/--timeout/)
    expect(failure.hint).toMatch(/--dockerd-arg/)
  })

  it('leaves other failures, and a timeout, as they were', () => {
    expect(levelFailure(2, 'dockerd did not answer within 60s', tail([])).hint).toMatch(/--timeout/)
  })
})
