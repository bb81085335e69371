import {describe, expect, it} from 'vitest'

import {UsageError} from '../../src/nesting/errors.js'
import {LABEL} from '../../src/nesting/labels.js'
import {checkMemory, LEVEL_MEMORY_BYTES, levelOneSpec, planNest, subnetsFromLabels} from '../../src/nesting/plan.js'
import {parseDepth, parseLevel, parseNestName, parseUpRequest} from '../../src/nesting/request.js'
import {parseCidr} from '../../src/nesting/subnets.js'
import {thrown} from '../support/thrown.js'

const capsDecision = {mode: 'caps' as const, capDrop: ['SYS_RESOURCE'], reason: 'test'}

describe('depth and level validation', () => {
  it.each(['0', '-1', '2.5', 'abc', '', '10000', '17'])('refuses --depth %s with a usage error', (text) => {
    expect(() => parseDepth(text)).toThrow(UsageError)
  })

  it('accepts 1 to the maximum depth', () => {
    expect(parseDepth('1')).toBe(1)
    expect(parseDepth('16')).toBe(16)
    expect(parseDepth('20', 20)).toBe(20)
  })

  it('says how to go deeper when the depth exceeds --max-depth', () => {
    expect(thrown(() => parseDepth('10000')).hint).toMatch(/--max-depth 16/)
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
    expect(parseUpRequest({exposeDaemons: false, daemonPorts: '30000'})).toMatchObject({exposeDaemons: true, daemonHostPortBase: 30_000})
    expect(parseUpRequest({exposeDaemons: false}).exposeDaemons).toBe(false)
  })

  it.each([
    [{storageDriver: 'nope'}, /unknown storage driver "nope"/],
    [{dataRoot: 'loop:0'}, /out of range/],
    [{dataRoot: 'loop:1PB'}, /out of range/],
    [{privilege: 'root'}, /unknown privilege mode/],
    [{ports: ['8080']}, /not HOST:INNER/],
    [{ports: ['0:80']}, /out of range/],
    [{ports: ['70000:80']}, /out of range/],
    [{depth: '2', ports: ['8080:80@3']}, /deeper than --depth 2/],
    [{ports: ['8080:80', '8080:81']}, /given twice/],
    [{bind: 'localhost:1'}, /not an IPv4 address/],
    [{subnetPool: '172.31.0.0/25'}, /smaller than one/],
    [{timeout: '0'}, /out of range/],
    [{dockerdArgs: ['--debug --tls']}, /is not one dockerd option/],
    [{dockerdArgs: ['debug']}, /is not one dockerd option/],
  ])('refuses %j', (input, message) => {
    expect(() => parseUpRequest(input)).toThrow(message)
  })
})

describe('the plan', () => {
  it('gives every level its own /24, skipping subnets in use', () => {
    const request = parseUpRequest({depth: '4'})
    const plan = planNest(request, [parseCidr('172.31.1.0/24')!])
    expect(plan.levels.map((l) => l.bridge)).toEqual(['172.31.0.1/24', '172.31.2.1/24', '172.31.3.1/24', '172.31.4.1/24'])
    expect(plan.levels.map((l) => l.name)).toEqual(['inception-l1', 'inception-l2', 'inception-l3', 'inception-l4'])
  })

  it('keeps a second nest clear of the first one, read back from its labels', () => {
    const first = planNest(parseUpRequest({depth: '3'}), [])
    const firstLabels = levelOneSpec(first, capsDecision).labels!
    const second = planNest(parseUpRequest({name: 'other', depth: '3'}), subnetsFromLabels([firstLabels]))
    const firstSubnets = first.levels.map((l) => l.bridge)
    for (const level of second.levels) expect(firstSubnets).not.toContain(level.bridge)
  })

  it('describes level 1 for the engine: labels, init environment, loopback-only ports, its volume', () => {
    const plan = planNest(parseUpRequest({name: 'n', depth: '3', ports: ['18080:8080', '19090:9090@2']}), [])
    const spec = levelOneSpec(plan, capsDecision)
    expect(spec.name).toBe('n-l1')
    expect(spec.labels).toMatchObject({[LABEL.nest]: 'n', [LABEL.level]: '1', [LABEL.depth]: '3', [LABEL.privilege]: 'auto:caps', [LABEL.bind]: '127.0.0.1'})
    expect(spec.env).toContain('INCEPTION_PORTS=8080@3 9090@2')
    expect(spec.env).toContain('INCEPTION_BRIDGES=172.31.0.1/24 172.31.1.1/24 172.31.2.1/24')
    expect(spec.host.portBindings).toEqual({
      '8080/tcp': [{HostIp: '127.0.0.1', HostPort: '18080'}],
      '9090/tcp': [{HostIp: '127.0.0.1', HostPort: '19090'}],
    })
    expect(spec.host.binds).toEqual(['n-l1:/var/lib/docker'])
    expect(spec.host.capDrop).toEqual(['SYS_RESOURCE'])
    expect(spec.host.cgroupnsMode).toBe('private')
    expect(spec.host.privileged).toBeUndefined()
  })

  it('refuses a depth the engine memory cannot hold, and says how deep it can go', () => {
    const memory = 10 * LEVEL_MEMORY_BYTES
    expect(() => checkMemory(8, memory)).not.toThrow()
    const error = thrown(() => checkMemory(11, memory))
    expect(error.message).toMatch(/--depth 11 needs about 880 MB/)
    expect(error.hint).toBe('use --depth 8 or less')
  })
})
