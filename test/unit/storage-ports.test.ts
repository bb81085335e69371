import {describe, expect, it} from 'vitest'

import {UsageError} from '../../src/nesting/errors.js'
import {checkPortMappings, parsePortMapping, portsFromLabel, portsToLabel} from '../../src/nesting/ports.js'
import {thrown} from '../support/thrown.js'
import {formatSize, LOOP_HEADROOM_BYTES, loopSizesByLevel, parseDataRoot, parseSize} from '../../src/nesting/storage.js'

describe('storage choice', () => {
  it('parses data roots and sizes', () => {
    expect(parseDataRoot('tmpfs')).toEqual({kind: 'tmpfs'})
    expect(parseDataRoot('loop:2G')).toEqual({kind: 'loop', bytes: 2 * 2 ** 30})
    expect(parseSize('1GiB')).toBe(2 ** 30)
    expect(() => parseSize('lots')).toThrow(/not a size/)
    expect(() => parseDataRoot('disk')).toThrow(/unknown data root/)
    expect(thrown(() => parseDataRoot('loop:100M')).hint).toMatch(/256M to 16T/)
  })

  it('writes a size back the way a user would', () => {
    expect(formatSize(parseSize('4G'))).toBe('4G')
    expect(formatSize(parseSize('1536M'))).toBe('1536M')
    expect(formatSize(16 * 2 ** 40)).toBe('16T')
  })
})

describe('nested loop data roots', () => {
  it('give each outer level room for the level below and headroom of its own', () => {
    const sizes = loopSizesByLevel(256 * 2 ** 20, 3)
    expect(sizes[2]).toBe(256 * 2 ** 20)
    for (let k = 0; k < 2; k++) expect(sizes[k]!).toBeGreaterThanOrEqual(sizes[k + 1]! * 1.06 + LOOP_HEADROOM_BYTES)
    expect(loopSizesByLevel(2 ** 30, 1)).toEqual([2 ** 30])
  })
})

describe('port mappings', () => {
  it('parses HOST:INNER and HOST:INNER@LEVEL', () => {
    expect(parsePortMapping('8080:80')).toEqual({hostPort: 8080, innerPort: 80})
    expect(parsePortMapping('8080:80@2')).toEqual({hostPort: 8080, innerPort: 80, level: 2})
  })

  it.each([
    ['8080', 'is not HOST:INNER or HOST:INNER@LEVEL'],
    ['8080:', 'is not HOST:INNER or HOST:INNER@LEVEL'],
    [':80', 'is not HOST:INNER or HOST:INNER@LEVEL'],
    ['a:b', 'is not HOST:INNER or HOST:INNER@LEVEL'],
    ['8080:80@0', 'targets level 0'],
    ['8080:80@', 'is not HOST:INNER or HOST:INNER@LEVEL'],
    ['1:2:3', 'is not HOST:INNER or HOST:INNER@LEVEL'],
  ])('refuses -p %s: %s', (spec, why) => {
    const error = thrown(() => parsePortMapping(spec))
    expect(error).toBeInstanceOf(UsageError)
    expect(error.message).toBe(`-p ${spec} ${why}`)
  })

  it.each([
    ['0:80', 0],
    ['80:65536', 65_536],
  ])('refuses -p %s: port %i is out of range', (spec, port) => {
    expect(thrown(() => parsePortMapping(spec)).message).toBe(`port ${port} in -p ${spec} is out of range`)
  })

  it('refuses two chains through the same inner port', () => {
    expect(() => checkPortMappings([parsePortMapping('1:80'), parsePortMapping('2:80@1')], 2)).toThrow(/inner port 80 is given twice/)
  })

  it('round-trips through the label', () => {
    const mappings = [parsePortMapping('18080:8080'), parsePortMapping('19000:9000@2')]
    expect(portsFromLabel(portsToLabel(mappings, 4))).toEqual([
      {hostPort: 18080, innerPort: 8080, level: 4},
      {hostPort: 19000, innerPort: 9000, level: 2},
    ])
  })
})
