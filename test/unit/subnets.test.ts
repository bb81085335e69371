import {describe, expect, it} from 'vitest'

import {allocateSubnets, bridgeAddress, formatCidr, overlaps, parseCidr, parseSubnetPool} from '../../src/nesting/subnets.js'

describe('subnets', () => {
  it('parses and normalises CIDRs', () => {
    expect(formatCidr(parseCidr('172.31.5.1/16')!)).toBe('172.31.0.0/16')
    expect(parseCidr('300.1.1.1/8')).toBeUndefined()
    expect(parseCidr('10.0.0.0')).toBeUndefined()
    expect(parseCidr('10.0.0.0/33')).toBeUndefined()
  })

  it('detects overlap in both directions', () => {
    expect(overlaps(parseCidr('172.16.0.0/12')!, parseCidr('172.31.3.0/24')!)).toBe(true)
    expect(overlaps(parseCidr('172.31.3.0/24')!, parseCidr('172.16.0.0/12')!)).toBe(true)
    expect(overlaps(parseCidr('172.17.0.0/16')!, parseCidr('172.31.0.0/16')!)).toBe(false)
  })

  it('allocates /24s in order around those taken', () => {
    const taken = [parseCidr('10.9.0.0/24')!, parseCidr('10.9.2.0/23')!]
    const chosen = allocateSubnets(parseSubnetPool('10.9.0.0/16'), 3, taken).map(formatCidr)
    expect(chosen).toEqual(['10.9.1.0/24', '10.9.4.0/24', '10.9.5.0/24'])
    expect(bridgeAddress(parseCidr('10.9.4.0/24')!)).toBe('10.9.4.1/24')
  })

  it('refuses a pool too small for the depth, naming what is in the way', () => {
    expect(() => allocateSubnets(parseSubnetPool('10.9.0.0/23'), 3, [])).toThrow(/has 2 free \/24 subnets, the nest needs 3/)
    expect(() => allocateSubnets(parseSubnetPool('172.17.0.0/16'), 1, [parseCidr('172.17.0.0/16')!])).toThrow(/in use: 172\.17\.0\.0\/16/)
  })
})
