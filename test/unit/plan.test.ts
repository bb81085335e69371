import {describe, expect, it} from 'vitest'

import {UsageError} from '../../src/nesting/errors.js'
import {daemonInnerPort, LABEL} from '../../src/nesting/contract.js'
import {nestRecord, subnetsOfNests} from '../../src/nesting/record.js'
import {levelOneSpec} from '../../src/nesting/render.js'
import {checkMemory, LEVEL_MEMORY_BYTES, planNest} from '../../src/nesting/plan.js'
import {parsePortMapping} from '../../src/nesting/ports.js'
import {parseBind, parseDepth, parseHostPort, parseLevel, parseNestName, parseTimeout, parseUpRequest, type UpInput} from '../../src/nesting/request.js'
import {parseDockerdArg} from '../../src/nesting/dockerd-options.js'
import {parseDataRoot} from '../../src/nesting/storage.js'
import {formatCidr, parseCidr, parseSubnetPool} from '../../src/nesting/subnets.js'
import {thrown} from '../support/thrown.js'

const capsDecision = {mode: 'caps' as const, capDrop: ['SYS_RESOURCE'], reason: 'test'}

describe('depth and level validation', () => {
  it.each(['2.5', 'abc', ''])('refuses --depth %j as not a whole number', (text) => {
    expect(() => parseDepth(text)).toThrow(/is not a whole number/)
  })

  it.each([0, -1, 17, 10_000])('refuses --depth %i as out of range', (depth) => {
    expect(() => parseUpRequest({depth})).toThrow(/out of range/)
  })

  it('accepts 1 to the maximum depth', () => {
    expect(parseDepth('16')).toBe(16)
    expect(parseUpRequest({depth: 1}).depth).toBe(1)
    expect(parseUpRequest({depth: 16}).depth).toBe(16)
    expect(parseUpRequest({depth: 20, maxDepth: 20}).depth).toBe(20)
  })

  it('says how to go deeper when the depth exceeds --max-depth', () => {
    expect(thrown(() => parseUpRequest({depth: 10_000})).hint).toMatch(/--max-depth 16/)
  })

  it.each(['0', '-2', 'x', '1.5'])('refuses --level %s', (text) => {
    expect(() => parseLevel(text)).toThrow(UsageError)
  })
})

describe('nest names', () => {
  it.each(['a/b', 'has space', 'x'.repeat(300), 'Upper', '-lead', ''])('refuses %j', (name) => {
    expect(() => parseNestName(name)).toThrow(UsageError)
  })

  it.each(['inception', 'ci-1', 'a.b_c'])('accepts %j', (name) => {
    expect(parseNestName(name)).toBe(name)
  })
})

describe('up request', () => {
  it('has the documented defaults', () => {
    const request = parseUpRequest({})
    expect(request).toMatchObject({
      name: 'inception',
      depth: 1,
      privilege: 'auto',
      storage: {driver: 'overlay2', dataRoot: {kind: 'volume'}},
      bind: '127.0.0.1',
      readyTimeoutSeconds: 60,
    })
  })

  it('exposes the engines when --daemon-ports is given, even with --expose-daemons left at false', () => {
    expect(parseUpRequest({exposeDaemons: false, daemonPortBase: 30_000})).toMatchObject({exposeDaemons: true, daemonHostPortBase: 30_000})
    expect(parseUpRequest({exposeDaemons: false}).exposeDaemons).toBe(false)
  })

  // Each value on its own is refused by its flag's parser, before the request is put together.
  it.each([
    ['--data-root loop:0', () => parseDataRoot('loop:0'), /out of range/],
    ['--data-root loop:1PB', () => parseDataRoot('loop:1PB'), /out of range/],
    ['-p 8080', () => parsePortMapping('8080'), /not HOST:INNER/],
    ['-p 0:80', () => parsePortMapping('0:80'), /out of range/],
    ['-p 70000:80', () => parsePortMapping('70000:80'), /out of range/],
    ['--bind localhost:1', () => parseBind('localhost:1'), /not an IPv4 address/],
    ['--subnet-pool 172.31.0.0/25', () => parseSubnetPool('172.31.0.0/25'), /smaller than one/],
    ['--timeout 0', () => parseTimeout('0'), /out of range/],
    ['--daemon-ports 70000', () => parseHostPort('70000', '--daemon-ports'), /--daemon-ports 70000 is out of range/],
    ['--dockerd-arg "--debug --tls"', () => parseDockerdArg('--debug --tls'), /is not one dockerd option/],
    ['--dockerd-arg debug', () => parseDockerdArg('debug'), /is not one dockerd option/],
  ])('refuses %s', (_flag, parse, message) => {
    expect(parse).toThrow(message)
  })

  // What only the values together can tell.
  it.each([
    ['-p 8080:80@3 at --depth 2', {depth: 2, ports: [{hostPort: 8080, innerPort: 80, level: 3}]}, /deeper than --depth 2/],
    [
      '-p 8080:80 -p 8080:81',
      {
        ports: [
          {hostPort: 8080, innerPort: 80},
          {hostPort: 8080, innerPort: 81},
        ],
      },
      /given twice/,
    ],
    [
      '-p on the inner port of an engine',
      {exposeDaemons: true, depth: 2, ports: [{hostPort: 8080, innerPort: 23_752}]},
      /inner port 23752 is where a level's engine listens/,
    ],
    [
      '-p on a daemon host port',
      {daemonPortBase: 30_000, depth: 3, ports: [{hostPort: 30_002, innerPort: 80}]},
      /host port 30002 is both a -p port and a daemon port/,
    ],
    ['--daemon-ports too high for the depth', {daemonPortBase: 65_535, depth: 2}, /--daemon-ports 65535 leaves no room for 2 levels/],
    ['--data-root loop:16T at --depth 2', {depth: 2, dataRoot: parseDataRoot('loop:16T')}, /--data-root loop:16T at --depth 2 needs a 17T file at level 1/],
  ] satisfies Array<[string, UpInput, RegExp]>)('refuses %s', (_case, input, message) => {
    expect(() => parseUpRequest(input)).toThrow(message)
  })
})

describe('the plan', () => {
  it('gives every level its own /24, skipping subnets in use', () => {
    const request = parseUpRequest({depth: 4})
    const plan = planNest(request, [parseCidr('172.31.1.0/24')!])
    expect(plan.levels.map((l) => l.bridge)).toEqual(['172.31.0.1/24', '172.31.2.1/24', '172.31.3.1/24', '172.31.4.1/24'])
    expect(plan.levels.map((l) => l.name)).toEqual(['inception-l1', 'inception-l2', 'inception-l3', 'inception-l4'])
  })

  it('keeps a second nest clear of the first one, read back from its labels', () => {
    const first = planNest(parseUpRequest({depth: 3}), [])
    const firstLabels = levelOneSpec(first, capsDecision).labels!
    const second = planNest(
      parseUpRequest({name: 'other', depth: 3}),
      subnetsOfNests([nestRecord({id: 'l1', name: 'inception-l1', state: 'running', labels: firstLabels})]),
    )
    const firstSubnets = first.levels.map((l) => l.bridge)
    for (const level of second.levels) expect(firstSubnets).not.toContain(level.bridge)
  })

  it('describes level 1 for the engine: labels, init environment, loopback-only ports, its volume', () => {
    const plan = planNest(parseUpRequest({name: 'n', depth: 3, ports: [parsePortMapping('18080:8080'), parsePortMapping('19090:9090@2')]}), [])
    const spec = levelOneSpec(plan, capsDecision)
    expect(spec.name).toBe('n-l1')
    expect(spec.labels).toMatchObject({[LABEL.nest]: 'n', [LABEL.level]: '1', [LABEL.depth]: '3', [LABEL.privilege]: 'auto:caps', [LABEL.bind]: '127.0.0.1'})
    expect(spec.env!.find((e) => e.startsWith('INCEPTION_DOCKERD_OPTIONS='))).toMatch(/^INCEPTION_DOCKERD_OPTIONS=--bip=172\.31\.0\.1\/24 /)
    expect(spec.host.portBindings).toEqual({
      '8080/tcp': [{HostIp: '127.0.0.1', HostPort: '18080'}],
      '9090/tcp': [{HostIp: '127.0.0.1', HostPort: '19090'}],
    })
    expect(spec.host.binds).toEqual(['n-l1:/var/lib/docker'])
    expect(spec.host.capDrop).toEqual(['SYS_RESOURCE'])
    expect(spec.host.cgroupnsMode).toBe('private')
    expect(spec.host.privileged).toBeUndefined()
  })

  it("--daemon-ports FIRST: level K's engine answers on host port FIRST+K-1, on the bind address only", () => {
    const spec = levelOneSpec(planNest(parseUpRequest({depth: 3, daemonPortBase: 30_100}), []), capsDecision)
    expect(spec.host.portBindings).toEqual({
      [`${daemonInnerPort(1)}/tcp`]: [{HostIp: '127.0.0.1', HostPort: '30100'}],
      [`${daemonInnerPort(2)}/tcp`]: [{HostIp: '127.0.0.1', HostPort: '30101'}],
      [`${daemonInnerPort(3)}/tcp`]: [{HostIp: '127.0.0.1', HostPort: '30102'}],
    })
    // --expose-daemons alone: the engine picks free host ports.
    const free = levelOneSpec(planNest(parseUpRequest({depth: 2, exposeDaemons: true}), []), capsDecision)
    expect(Object.values(free.host.portBindings ?? {})).toEqual([[{HostIp: '127.0.0.1', HostPort: ''}], [{HostIp: '127.0.0.1', HostPort: ''}]])
  })

  it("--subnet-pool: every level's bridge and network pool come from it, and level 1's init is told so", () => {
    const plan = planNest(parseUpRequest({depth: 3, subnetPool: parseSubnetPool('10.77.0.0/16')}), [parseCidr('10.77.0.0/24')!])
    const subnets = plan.levels.flatMap((level) => [level.subnet, level.pool]).map(formatCidr)
    expect(subnets).toHaveLength(6)
    for (const subnet of subnets) expect(subnet).toMatch(/^10\.77\./)
    expect(plan.levels.map((level) => level.bridge)).toEqual(['10.77.1.1/24', '10.77.2.1/24', '10.77.3.1/24'])
    const options = levelOneSpec(plan, capsDecision)
      .env!.find((entry) => entry.startsWith('INCEPTION_DOCKERD_OPTIONS='))!
      .split(' ')
    expect(options[0]).toBe('INCEPTION_DOCKERD_OPTIONS=--bip=10.77.1.1/24')
    expect(options[1]).toMatch(/^--default-address-pool=base=10\.77\.\S+,size=26$/)
  })

  it("--timeout: level 1's init is told how long each level's engine has", () => {
    expect(levelOneSpec(planNest(parseUpRequest({timeoutSeconds: 7}), []), capsDecision).env).toContain('INCEPTION_READY_TIMEOUT=7')
    expect(levelOneSpec(planNest(parseUpRequest({}), []), capsDecision).env).toContain('INCEPTION_READY_TIMEOUT=60')
  })

  it('refuses a depth the engine memory cannot hold, and says how deep it can go', () => {
    const memory = 10 * LEVEL_MEMORY_BYTES
    expect(() => checkMemory(8, memory)).not.toThrow()
    const error = thrown(() => checkMemory(11, memory))
    expect(error.message).toMatch(/--depth 11 needs about 880 MB/)
    expect(error.hint).toBe('use --depth 8 or less')
  })
})
