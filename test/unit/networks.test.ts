import {describe, expect, it} from 'vitest'

import {NetworkMissing, UsageError} from '../../src/nesting/errors.js'
import {LABEL} from '../../src/nesting/contract.js'
import {Nests} from '../../src/nesting/nest.js'
import {planNest} from '../../src/nesting/plan.js'
import {levelOneLabels, nestRecord, subnetsOfNests} from '../../src/nesting/record.js'
import {levelOneSpec} from '../../src/nesting/render.js'
import {parseMtu, parseUpRequest} from '../../src/nesting/request.js'
import {minimalDecision} from '../../src/nesting/privilege.js'
import {allocatePools, type Cidr, formatCidr, overlaps, parseCidr, parseSubnetPool, POOL_NETWORK_PREFIX} from '../../src/nesting/subnets.js'
import {FakeEngine} from '../support/fake-engine.js'

const cidr = (text: string) => parseCidr(text)!

describe('network pools', () => {
  it('gives every level a bridge and a pool, all disjoint, and clear of what is taken', () => {
    const taken = [cidr('172.31.8.0/22'), cidr('172.31.0.0/24')]
    const plan = planNest(parseUpRequest({depth: 4}), taken)
    const all: Cidr[] = plan.levels.flatMap((l) => [l.subnet, l.pool])
    expect(plan.levels.map((l) => l.pool.prefix)).toEqual([21, 21, 21, 21])
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) expect(overlaps(a, b), `${formatCidr(a)} ${formatCidr(b)}`).toBe(false)
      for (const t of taken) expect(overlaps(a, t)).toBe(false)
    }
    expect(formatCidr(plan.levels[0]!.subnet)).toBe('172.31.1.0/24')
    expect(formatCidr(plan.levels[0]!.pool)).toBe('172.31.16.0/21')
  })

  it('records the pools on the labels, and other nests plan around them', () => {
    const first = planNest(parseUpRequest({depth: 2}), [])
    const labels = levelOneLabels(first, minimalDecision())
    expect(labels[LABEL.pools]).toBe('172.31.8.0/21 172.31.16.0/21')
    const taken = subnetsOfNests([nestRecord({id: 'x', name: 'x', state: 'running', labels})])
    expect(taken.map(formatCidr)).toEqual(['172.31.0.0/24', '172.31.1.0/24', '172.31.8.0/21', '172.31.16.0/21'])
    const second = planNest(parseUpRequest({depth: 2, name: 'other'}), taken)
    expect(second.levels.flatMap((l) => [l.subnet, l.pool]).some((c) => taken.some((t) => overlaps(c, t)))).toBe(false)
  })

  it('says when the pool is too small for the depth', () => {
    expect(() => allocatePools(parseSubnetPool('10.9.0.0/20'), 3, [cidr('10.9.0.0/24')])).toThrow(
      /has room for 1 free \/21 network pools besides the bridges, the nest needs 3 \(one a level, 32 networks of \/26 each\)/,
    )
    expect(() => planNest(parseUpRequest({depth: 3, subnetPool: parseSubnetPool('10.9.0.0/20')}), [])).toThrow(UsageError)
  })

  it("gives each level's engine its pool and network size, and the MTU to its init", () => {
    const envOf = (plan: ReturnType<typeof planNest>): Record<string, string> =>
      Object.fromEntries(levelOneSpec(plan, minimalDecision()).env!.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
    const env = envOf(planNest(parseUpRequest({depth: 2, mtu: parseMtu('1400')}), []))
    expect(env.INCEPTION_DOCKERD_OPTIONS!.split(' ')).toContain(`--default-address-pool=base=172.31.8.0/21,size=${POOL_NETWORK_PREFIX}`)
    expect(env.INCEPTION_MTU).toBe('1400')
    expect(envOf(planNest(parseUpRequest({}), [])).INCEPTION_MTU).toBe('')
  })
})

describe('--mtu and --network', () => {
  it.each([['100'], ['abc'], ['1400.5'], ['70000']])('refuses --mtu %s', (mtu) => {
    expect(() => parseMtu(mtu)).toThrow(UsageError)
  })

  it('puts level 1 on the network asked, and refuses one the engine does not have before creating anything', async () => {
    const spec = levelOneSpec(planNest(parseUpRequest({network: 'ci_default'}), []), minimalDecision())
    expect(spec.host.networkMode).toBe('ci_default')
    const engine = new FakeEngine()
    await expect(new Nests(engine).up(parseUpRequest({image: 'inception:test', network: 'no-such-network'}))).rejects.toBeInstanceOf(NetworkMissing)
    expect(engine.calls.filter((c) => c.startsWith('create') || c.startsWith('probe'))).toEqual([])
  })
})
